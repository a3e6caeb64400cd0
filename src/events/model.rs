//! JSON model of the events API: the event we return, the bodies we accept and
//! the query strings. Fields are snake_case; values that Google spells in
//! camelCase (`needsAction`, `externalOnly`) are snake_case here as well.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A calendar event of the user's primary calendar.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Event {
    /// Google event id; instances of a recurring event have ids of the form
    /// `<recurring_event_id>_<start timestamp>`.
    #[schema(example = "4k2d9l3q8v0rjo5hc7u1e6pt0s")]
    pub id: String,
    /// Version tag; send it as `If-Match` (or `etag` in a PATCH body) to
    /// update only that version.
    #[schema(example = "\"3181161784712000\"")]
    pub etag: Option<String>,
    /// Status of the event.
    pub status: Option<EventStatus>,
    /// Title.
    pub summary: Option<String>,
    /// Description, which may contain HTML.
    pub description: Option<String>,
    /// Free-form location.
    pub location: Option<String>,
    /// Start; absent only on cancelled events.
    pub start: Option<EventTime>,
    /// End (exclusive); absent only on cancelled events.
    pub end: Option<EventTime>,
    /// Guests of the event.
    pub attendees: Vec<Attendee>,
    /// RFC 5545 RRULE, EXRULE, RDATE and EXDATE lines of a recurring event;
    /// empty for single events and for instances.
    pub recurrence: Vec<String>,
    /// For an instance of a recurring event, the id of the recurring event.
    pub recurring_event_id: Option<String>,
    /// Reminders for the user.
    pub reminders: Option<Reminders>,
    /// Link to the event in the Google Calendar web UI.
    pub html_link: Option<String>,
    /// Creation time.
    pub created: Option<DateTime<Utc>>,
    /// Last modification time.
    pub updated: Option<DateTime<Utc>>,
}

/// Start or end of an event: either `date` (an all-day event, whose end date
/// is exclusive) or `date_time` with an optional `time_zone`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventTime {
    /// Date of an all-day event, `YYYY-MM-DD`. An event on 24 December has
    /// start `2026-12-24` and end `2026-12-25`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = Date, example = "2026-12-24")]
    pub date: Option<String>,
    /// RFC 3339 time of a timed event. On input the UTC offset may be left
    /// out when `time_zone` is given; the time is then read in that zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "2026-12-24T10:00:00-05:00")]
    pub date_time: Option<String>,
    /// IANA time zone of a timed event, such as `America/New_York`; required
    /// for recurring timed events because recurrences expand in this zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "America/New_York")]
    pub time_zone: Option<String>,
}

/// Status of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// The event takes place.
    Confirmed,
    /// The event is tentatively confirmed.
    Tentative,
    /// The event was cancelled (deleted).
    Cancelled,
}

/// A guest of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attendee {
    /// Email address of the guest.
    #[schema(example = "buyer@example.com")]
    pub email: String,
    /// Name of the guest.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Whether the guest is optional.
    #[serde(default)]
    pub optional: bool,
    /// Reply of the guest; `needs_action` when omitted on input.
    #[serde(default)]
    pub response_status: Option<ResponseStatus>,
}

/// Reply of a guest to an invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResponseStatus {
    /// The guest has not replied.
    NeedsAction,
    /// The guest declined.
    Declined,
    /// The guest tentatively accepted.
    Tentative,
    /// The guest accepted.
    Accepted,
}

/// Reminders of an event for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reminders {
    /// Whether the calendar's default reminders apply; must be false when
    /// `overrides` is not empty.
    pub use_default: bool,
    /// Reminders that replace the defaults, at most 5.
    #[serde(default)]
    pub overrides: Vec<ReminderOverride>,
}

/// One reminder of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderOverride {
    /// How the user is reminded.
    pub method: ReminderMethod,
    /// Minutes before the start, 0 to 40320 (four weeks).
    #[schema(minimum = 0, maximum = 40320, example = 30)]
    pub minutes: i32,
}

/// How a reminder reaches the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReminderMethod {
    /// An email to the user.
    Email,
    /// A notification in the Google Calendar UI or app.
    Popup,
}

/// Body of `POST .../events`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    /// Title.
    #[schema(example = "Showing: 12 Elm Street")]
    pub summary: Option<String>,
    /// Description, which may contain HTML.
    pub description: Option<String>,
    /// Free-form location.
    pub location: Option<String>,
    /// Status; `confirmed` when omitted. `cancelled` is not accepted: delete
    /// the event instead.
    pub status: Option<EventStatus>,
    /// Start.
    pub start: EventTime,
    /// End (exclusive): later than `start`, and at least one day later for an
    /// all-day event.
    pub end: EventTime,
    /// Guests; they are emailed only when `send_updates` asks for it.
    #[serde(default)]
    pub attendees: Vec<Attendee>,
    /// RFC 5545 RRULE, EXRULE, RDATE and EXDATE lines, such as
    /// `RRULE:FREQ=WEEKLY;COUNT=4`.
    #[serde(default)]
    #[schema(example = json!(["RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=4"]))]
    pub recurrence: Vec<String>,
    /// Reminders; the calendar's defaults when omitted.
    pub reminders: Option<Reminders>,
}

/// Body of `PATCH .../events/{event_id}`: only the fields present change.
/// An empty string clears `summary`, `description` or `location`, and an
/// empty list clears `attendees` or `recurrence`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventPatch {
    /// Version the change applies to; the same as an `If-Match` header.
    pub etag: Option<String>,
    /// Title.
    pub summary: Option<String>,
    /// Description, which may contain HTML.
    pub description: Option<String>,
    /// Free-form location.
    pub location: Option<String>,
    /// Status: `confirmed` or `tentative`.
    pub status: Option<EventStatus>,
    /// Start; give `end` with it.
    pub start: Option<EventTime>,
    /// End (exclusive); give `start` with it.
    pub end: Option<EventTime>,
    /// Guests; replaces the whole list.
    pub attendees: Option<Vec<Attendee>>,
    /// Recurrence lines; replaces the whole list.
    pub recurrence: Option<Vec<String>>,
    /// Reminders; replaces them as a whole.
    pub reminders: Option<Reminders>,
}

/// A page of events ordered by start time.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventPage {
    /// Events and instances of recurring events in the window.
    pub items: Vec<Event>,
    /// Cursor for the next page, to be sent with the same `from` and `to`;
    /// absent on the last page.
    pub next_cursor: Option<String>,
}

/// Query of the event list. The values are read as text and checked by the
/// handler, so a bad value gets a problem that names the parameter.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Start of the window (RFC 3339 with offset): events that end after it.
    #[param(required = true, example = "2026-12-01T00:00:00Z")]
    pub from: Option<String>,
    /// End of the window (RFC 3339 with offset): events that start before it.
    /// At most 366 days after `from`.
    #[param(required = true, example = "2027-01-01T00:00:00Z")]
    pub to: Option<String>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 2500 (default 250). A page may hold fewer events even
    /// when more follow.
    pub page_size: Option<String>,
}

/// Query of the calls that change an event.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WriteQuery {
    /// Who Google emails about the change: `all`, `external_only` (guests
    /// outside Google Calendar) or `none` (default).
    #[param(value_type = Option<SendUpdates>)]
    pub send_updates: Option<String>,
}

/// Which guests Google notifies about a change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SendUpdates {
    /// Every guest.
    All,
    /// Guests who do not use Google Calendar.
    ExternalOnly,
    /// Nobody.
    #[default]
    None,
}
