//! Conversion between our event model and `google_calendar3::api::Event`.
//!
//! google-calendar3 keeps `dateTime` as a UTC instant and drops the offset
//! Google sent, so a timed event is rendered back in its `timeZone` when it
//! has one, and in UTC otherwise. The instant is the same either way.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use google_calendar3::api as google;

use super::model::{
    Attendee, Event, EventStatus, EventTime, ReminderMethod, ReminderOverride, Reminders,
    ResponseStatus,
};
use super::validation::{ParsedTime, ValidEvent, ValidPatch};
use crate::error::{ApiError, ApiResult};

/// Builds the Google request body of a create; `id` is set when the caller
/// gave an `Idempotency-Key`.
pub fn new_event_to_google(event: &ValidEvent, id: Option<String>) -> google::Event {
    google::Event {
        id,
        summary: event.summary.clone(),
        description: event.description.clone(),
        location: event.location.clone(),
        status: event.status.map(status_to_google),
        start: Some(time_to_google(&event.start)),
        end: Some(time_to_google(&event.end)),
        attendees: (!event.attendees.is_empty()).then(|| attendees_to_google(&event.attendees)),
        recurrence: (!event.recurrence.is_empty()).then(|| event.recurrence.clone()),
        reminders: event.reminders.as_ref().map(reminders_to_google),
        ..Default::default()
    }
}

/// Builds the Google request body of a patch: only the fields to change.
pub fn patch_to_google(patch: &ValidPatch) -> google::Event {
    let mut event = google::Event::default();
    apply_patch(&mut event, patch);
    event
}

/// Writes the fields of `patch` into `event`, replacing what was there.
///
/// google-apis-common drops JSON nulls from request bodies, so a field can be
/// cleared only with an empty value: an empty string or an empty list.
pub fn apply_patch(event: &mut google::Event, patch: &ValidPatch) {
    if let Some(summary) = &patch.summary {
        event.summary = Some(summary.clone());
    }
    if let Some(description) = &patch.description {
        event.description = Some(description.clone());
    }
    if let Some(location) = &patch.location {
        event.location = Some(location.clone());
    }
    if let Some(status) = patch.status {
        event.status = Some(status_to_google(status));
    }

    if let Some((start, end)) = &patch.times {
        event.start = Some(time_to_google(start));
        event.end = Some(time_to_google(end));
    }
    if let Some(attendees) = &patch.attendees {
        event.attendees = Some(attendees_to_google(attendees));
    }
    if let Some(recurrence) = &patch.recurrence {
        event.recurrence = Some(recurrence.clone());
    }
    if let Some(reminders) = &patch.reminders {
        event.reminders = Some(reminders_to_patch(reminders));
    }
}

/// Converts a validated start or end.
pub fn time_to_google(time: &ParsedTime) -> google::EventDateTime {
    match time {
        ParsedTime::AllDay(date) => google::EventDateTime {
            date: Some(*date),
            ..Default::default()
        },
        ParsedTime::Timed { instant, time_zone } => google::EventDateTime {
            date_time: Some(*instant),
            time_zone: time_zone.map(|zone| zone.name().to_owned()),
            ..Default::default()
        },
    }
}

/// Whether `time` and Google's `current` differ in kind (all-day or timed).
/// A patch cannot switch the kind, because Google merges the new start into
/// the old one and would keep both `date` and `dateTime`.
pub fn changes_kind(time: &ParsedTime, current: Option<&google::EventDateTime>) -> bool {
    let current_all_day = current.is_some_and(|current| current.date.is_some());
    matches!(time, ParsedTime::AllDay(_)) != current_all_day
}

fn status_to_google(status: EventStatus) -> String {
    let value = match status {
        EventStatus::Confirmed => "confirmed",
        EventStatus::Tentative => "tentative",
        EventStatus::Cancelled => "cancelled",
    };
    value.to_owned()
}

fn attendees_to_google(attendees: &[Attendee]) -> Vec<google::EventAttendee> {
    attendees
        .iter()
        .map(|attendee| google::EventAttendee {
            email: Some(attendee.email.clone()),
            display_name: attendee.display_name.clone(),
            optional: Some(attendee.optional),
            response_status: attendee.response_status.map(response_status_to_google),
            ..Default::default()
        })
        .collect()
}

fn response_status_to_google(status: ResponseStatus) -> String {
    let value = match status {
        ResponseStatus::NeedsAction => "needsAction",
        ResponseStatus::Declined => "declined",
        ResponseStatus::Tentative => "tentative",
        ResponseStatus::Accepted => "accepted",
    };
    value.to_owned()
}

fn reminders_to_google(reminders: &Reminders) -> google::EventReminders {
    let overrides = reminders
        .overrides
        .iter()
        .map(|reminder| google::EventReminder {
            method: Some(reminder_method_to_google(reminder.method).to_owned()),
            minutes: Some(reminder.minutes),
        })
        .collect::<Vec<_>>();

    google::EventReminders {
        use_default: Some(reminders.use_default),
        overrides: (!overrides.is_empty()).then_some(overrides),
    }
}

/// Reminders of a patch always carry `overrides`, so switching to the
/// defaults also clears the overrides Google would otherwise merge back in.
fn reminders_to_patch(reminders: &Reminders) -> google::EventReminders {
    let mut google = reminders_to_google(reminders);
    google.overrides.get_or_insert_with(Vec::new);
    google
}

fn reminder_method_to_google(method: ReminderMethod) -> &'static str {
    match method {
        ReminderMethod::Email => "email",
        ReminderMethod::Popup => "popup",
    }
}

/// Converts an event Google returned.
pub fn event_from_google(event: google::Event) -> ApiResult<Event> {
    let Some(id) = event.id else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "Google Calendar returned an event without an id"
        )));
    };

    Ok(Event {
        id,
        etag: event.etag,
        status: event.status.as_deref().and_then(status_from_google),
        summary: event.summary,
        description: event.description,
        location: event.location,
        start: event.start.as_ref().and_then(time_from_google),
        end: event.end.as_ref().and_then(time_from_google),
        attendees: attendees_from_google(event.attendees.unwrap_or_default()),
        recurrence: event.recurrence.unwrap_or_default(),
        recurring_event_id: event.recurring_event_id,
        reminders: event.reminders.map(reminders_from_google),
        html_link: event.html_link,
        created: event.created,
        updated: event.updated,
    })
}

fn status_from_google(status: &str) -> Option<EventStatus> {
    match status {
        "confirmed" => Some(EventStatus::Confirmed),
        "tentative" => Some(EventStatus::Tentative),
        "cancelled" => Some(EventStatus::Cancelled),
        _ => None,
    }
}

/// Converts a start or end; `None` when Google sent neither a date nor a time.
pub fn time_from_google(time: &google::EventDateTime) -> Option<EventTime> {
    if let Some(date) = time.date {
        return Some(EventTime {
            date: Some(date.format("%Y-%m-%d").to_string()),
            ..Default::default()
        });
    }

    let instant = time.date_time?;
    Some(EventTime {
        date: None,
        date_time: Some(format_instant(instant, time.time_zone.as_deref())),
        time_zone: time.time_zone.clone(),
    })
}

/// Formats `instant` with the UTC offset it has in `time_zone`, or in UTC
/// when the zone is absent or not an IANA name chrono-tz knows.
fn format_instant(instant: DateTime<Utc>, time_zone: Option<&str>) -> String {
    match time_zone.and_then(|zone| zone.parse::<Tz>().ok()) {
        Some(zone) => instant
            .with_timezone(&zone)
            .to_rfc3339_opts(SecondsFormat::Secs, true),
        None => instant.to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}

fn attendees_from_google(attendees: Vec<google::EventAttendee>) -> Vec<Attendee> {
    attendees
        .into_iter()
        .filter_map(|attendee| {
            Some(Attendee {
                email: attendee.email?,
                display_name: attendee.display_name,
                optional: attendee.optional.unwrap_or(false),
                response_status: attendee
                    .response_status
                    .as_deref()
                    .and_then(response_status_from_google),
            })
        })
        .collect()
}

fn response_status_from_google(status: &str) -> Option<ResponseStatus> {
    match status {
        "needsAction" => Some(ResponseStatus::NeedsAction),
        "declined" => Some(ResponseStatus::Declined),
        "tentative" => Some(ResponseStatus::Tentative),
        "accepted" => Some(ResponseStatus::Accepted),
        _ => None,
    }
}

/// Converts reminders; methods other than email and popup (Google once had
/// `sms`) are left out.
fn reminders_from_google(reminders: google::EventReminders) -> Reminders {
    let overrides = reminders
        .overrides
        .unwrap_or_default()
        .into_iter()
        .filter_map(|reminder| {
            let method = match reminder.method.as_deref()? {
                "email" => ReminderMethod::Email,
                "popup" => ReminderMethod::Popup,
                _ => return None,
            };
            Some(ReminderOverride {
                method,
                minutes: reminder.minutes?,
            })
        })
        .collect();

    Reminders {
        use_default: reminders.use_default.unwrap_or(false),
        overrides,
    }
}
