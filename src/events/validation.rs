//! Checks of everything a caller sends to the events API. Each check returns
//! a 400 problem that names the field and says how to fix it, so a bad request
//! never reaches Google.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::model::{
    Attendee, EventPatch, EventStatus, EventTime, ListQuery, NewEvent, Reminders, SendUpdates,
};
use crate::error::{ApiError, ApiResult};

/// Largest list window; a year plus a leap day keeps a full year of events on
/// one query while bounding how many recurring instances Google expands.
pub const MAX_WINDOW_DAYS: i64 = 366;
/// Page size of the event list when the caller gives none (Google's default).
pub const DEFAULT_PAGE_SIZE: i32 = 250;
/// Largest page size Google's `events.list` accepts.
pub const MAX_PAGE_SIZE: i32 = 2500;
/// Largest reminder lead time Google accepts: four weeks in minutes.
pub const MAX_REMINDER_MINUTES: i32 = 40_320;
/// Most reminder overrides Google accepts on one event.
pub const MAX_REMINDER_OVERRIDES: usize = 5;
/// Most recurrence lines we accept on one event.
pub const MAX_RECURRENCE_LINES: usize = 100;
/// Longest opaque cursor (a Google page token) we pass on.
const MAX_CURSOR_LEN: usize = 2048;
/// Longest `Idempotency-Key` header value.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
/// RFC 5545 properties allowed in `recurrence`; Google rejects DTSTART and
/// DTEND there because start and end have their own fields.
const RECURRENCE_PROPERTIES: [&str; 4] = ["RRULE", "EXRULE", "RDATE", "EXDATE"];

/// Start or end of an event after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedTime {
    /// All-day event date; an end date is exclusive.
    AllDay(NaiveDate),
    /// A point in time, with the IANA zone the caller gave, if any.
    Timed {
        /// The instant.
        instant: DateTime<Utc>,
        /// Zone Google shows the event in and expands recurrences in.
        time_zone: Option<Tz>,
    },
}

/// Validated list query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListWindow {
    /// Events ending after this instant are listed.
    pub from: DateTime<Utc>,
    /// Events starting before this instant are listed.
    pub to: DateTime<Utc>,
    /// Google page token.
    pub cursor: Option<String>,
    /// Page size for Google's `maxResults`.
    pub page_size: i32,
}

/// Validated body of a create request.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidEvent {
    /// Title.
    pub summary: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Location.
    pub location: Option<String>,
    /// `confirmed` or `tentative`.
    pub status: Option<EventStatus>,
    /// Start.
    pub start: ParsedTime,
    /// End, after `start`.
    pub end: ParsedTime,
    /// Guests with normalized addresses.
    pub attendees: Vec<Attendee>,
    /// Recurrence lines.
    pub recurrence: Vec<String>,
    /// Reminders.
    pub reminders: Option<Reminders>,
}

/// Validated body of a patch request; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValidPatch {
    /// Version the change applies to, from `If-Match` or the body.
    pub etag: Option<String>,
    /// Title; empty clears it.
    pub summary: Option<String>,
    /// Description; empty clears it.
    pub description: Option<String>,
    /// Location; empty clears it.
    pub location: Option<String>,
    /// `confirmed` or `tentative`.
    pub status: Option<EventStatus>,
    /// New start and end, always changed together.
    pub times: Option<(ParsedTime, ParsedTime)>,
    /// Guests, replacing the list.
    pub attendees: Option<Vec<Attendee>>,
    /// Recurrence lines, replacing the list.
    pub recurrence: Option<Vec<String>>,
    /// Reminders, replacing them.
    pub reminders: Option<Reminders>,
}

impl ValidPatch {
    /// Whether the patch changes nothing on the event.
    pub fn is_empty(&self) -> bool {
        self.summary.is_none()
            && self.description.is_none()
            && self.location.is_none()
            && self.status.is_none()
            && self.times.is_none()
            && self.attendees.is_none()
            && self.recurrence.is_none()
            && self.reminders.is_none()
    }
}

/// Checks an event id from the path.
///
/// Google ids are 5 to 1024 base32hex characters (`a`-`v`, `0`-`9`). Ids of
/// instances of a recurring event append `_` and the instance start, as in
/// `abc123_20261224T150000Z` or `abc123_20261224`.
// NOTE: `_` is also accepted inside the base id, because events that reach a
// calendar through invitations from other systems can carry ids with `_`.
pub fn validate_event_id(raw: &str) -> ApiResult<&str> {
    let base = match raw.rsplit_once('_') {
        Some((base, suffix)) if is_instance_suffix(suffix) => base,
        _ => raw,
    };

    let valid_chars = base
        .chars()
        .all(|c| matches!(c, 'a'..='v' | '0'..='9' | '_'));
    if valid_chars && (5..=1024).contains(&base.len()) {
        return Ok(raw);
    }

    Err(ApiError::invalid(
        "invalid_event_id",
        "event_id",
        "An event id is 5 to 1024 characters of a-v and 0-9, optionally followed by an instance suffix such as _20261224T150000Z; use the id returned by the events API.",
    ))
}

/// Whether `suffix` is the start of an instance: `YYYYMMDD` or `YYYYMMDDTHHMMSSZ`.
fn is_instance_suffix(suffix: &str) -> bool {
    let bytes = suffix.as_bytes();
    let all_digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);

    match bytes.len() {
        8 => all_digits(0..8),
        16 => all_digits(0..8) && bytes[8] == b'T' && all_digits(9..15) && bytes[15] == b'Z',
        _ => false,
    }
}

/// Checks the list query: the window, cursor and page size.
pub fn validate_list_query(query: &ListQuery) -> ApiResult<ListWindow> {
    let from = parse_window_bound("from", query.from.as_deref())?;
    let to = parse_window_bound("to", query.to.as_deref())?;

    if to <= from {
        return Err(ApiError::invalid(
            "invalid_time_window",
            "to",
            "`to` must be later than `from`.",
        ));
    }
    if to - from > Duration::days(MAX_WINDOW_DAYS) {
        return Err(ApiError::invalid(
            "time_window_too_large",
            "to",
            format!("The window from `from` to `to` may span at most {MAX_WINDOW_DAYS} days; list a longer period in several windows."),
        ));
    }

    let cursor = validate_cursor(query.cursor.as_deref())?;
    let page_size = parse_page_size(query.page_size.as_deref())?;
    Ok(ListWindow {
        from,
        to,
        cursor,
        page_size,
    })
}

fn parse_window_bound(field: &'static str, raw: Option<&str>) -> ApiResult<DateTime<Utc>> {
    let Some(raw) = raw.filter(|value| !value.is_empty()) else {
        return Err(ApiError::invalid(
            "missing_time_window",
            field,
            format!("The query parameter `{field}` is required: give an RFC 3339 time such as 2026-12-01T00:00:00Z."),
        ));
    };

    DateTime::parse_from_rfc3339(raw)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::invalid(
                "invalid_time_window",
                field,
                format!("{raw:?} is not an RFC 3339 time with a UTC offset, such as 2026-12-01T00:00:00Z or 2026-12-01T00:00:00-05:00."),
            )
        })
}

fn validate_cursor(raw: Option<&str>) -> ApiResult<Option<String>> {
    let Some(cursor) = raw.filter(|value| !value.is_empty()) else {
        return Ok(None);
    };

    if cursor.len() > MAX_CURSOR_LEN || !cursor.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            "invalid_cursor",
            "cursor",
            "The cursor is not one the gateway returned; pass `next_cursor` from the previous page unchanged.",
        ));
    }
    Ok(Some(cursor.to_owned()))
}

fn parse_page_size(raw: Option<&str>) -> ApiResult<i32> {
    let Some(raw) = raw.filter(|value| !value.is_empty()) else {
        return Ok(DEFAULT_PAGE_SIZE);
    };

    match raw.parse::<i32>() {
        Ok(size) if (1..=MAX_PAGE_SIZE).contains(&size) => Ok(size),
        _ => Err(ApiError::invalid(
            "invalid_page_size",
            "page_size",
            format!("Use a page size from 1 to {MAX_PAGE_SIZE}."),
        )),
    }
}

/// Checks the `send_updates` query parameter; `none` when absent.
pub fn parse_send_updates(raw: Option<&str>) -> ApiResult<SendUpdates> {
    match raw {
        None | Some("") | Some("none") => Ok(SendUpdates::None),
        Some("all") => Ok(SendUpdates::All),
        Some("external_only") => Ok(SendUpdates::ExternalOnly),
        Some(other) => Err(ApiError::invalid(
            "invalid_send_updates",
            "send_updates",
            format!("{other:?} is not a send_updates value; use all, external_only or none."),
        )),
    }
}

/// Checks an `Idempotency-Key` header value: 1 to 255 visible ASCII characters.
pub fn validate_idempotency_key(raw: &str) -> ApiResult<&str> {
    let valid = !raw.is_empty()
        && raw.len() <= MAX_IDEMPOTENCY_KEY_LEN
        && raw.chars().all(|c| c.is_ascii_graphic());
    if valid {
        return Ok(raw);
    }

    Err(ApiError::invalid(
        "invalid_idempotency_key",
        "Idempotency-Key",
        format!("The Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters, such as a UUID."),
    ))
}

/// Checks a create request.
pub fn validate_new_event(event: NewEvent) -> ApiResult<ValidEvent> {
    let start = parse_event_time("start", &event.start)?;
    let end = parse_event_time("end", &event.end)?;
    check_span(&start, &end)?;

    validate_status(event.status)?;
    let recurrence = validate_recurrence(event.recurrence)?;
    check_recurrence_time_zone(&recurrence, &start, &end)?;
    let attendees = validate_attendees(event.attendees)?;
    if let Some(reminders) = &event.reminders {
        validate_reminders(reminders)?;
    }

    Ok(ValidEvent {
        summary: event.summary,
        description: event.description,
        location: event.location,
        status: event.status,
        start,
        end,
        attendees,
        recurrence,
        reminders: event.reminders,
    })
}

/// Checks a patch request. `if_match` is the `If-Match` header, which must
/// agree with an `etag` in the body when both are given.
pub fn validate_patch(patch: EventPatch, if_match: Option<&str>) -> ApiResult<ValidPatch> {
    let etag = merge_etags(if_match, patch.etag.as_deref())?;
    let times = validate_patch_times(patch.start.as_ref(), patch.end.as_ref())?;

    validate_status(patch.status)?;
    let recurrence = patch.recurrence.map(validate_recurrence).transpose()?;
    if let (Some(lines), Some((start, end))) = (&recurrence, &times) {
        check_recurrence_time_zone(lines, start, end)?;
    }
    let attendees = patch.attendees.map(validate_attendees).transpose()?;
    if let Some(reminders) = &patch.reminders {
        validate_reminders(reminders)?;
    }

    let valid = ValidPatch {
        etag,
        summary: patch.summary,
        description: patch.description,
        location: patch.location,
        status: patch.status,
        times,
        attendees,
        recurrence,
        reminders: patch.reminders,
    };
    if valid.is_empty() {
        return Err(ApiError::invalid(
            "empty_patch",
            "body",
            "The patch changes nothing; give at least one of summary, description, location, status, start and end, attendees, recurrence or reminders.",
        ));
    }
    Ok(valid)
}

fn merge_etags(header: Option<&str>, body: Option<&str>) -> ApiResult<Option<String>> {
    let header = header.map(str::trim).filter(|etag| !etag.is_empty());
    let body = body.map(str::trim).filter(|etag| !etag.is_empty());

    if let (Some(header), Some(body)) = (header, body) {
        if normalize_etag(header) != normalize_etag(body) {
            return Err(ApiError::invalid(
                "etag_conflict",
                "etag",
                "The If-Match header and the etag in the body differ; send one of them.",
            ));
        }
    }
    Ok(header.or(body).map(str::to_owned))
}

/// Strips a weak marker and the quotes, so `W/"1"`, `"1"` and `1` compare equal.
pub fn normalize_etag(etag: &str) -> &str {
    let etag = etag.trim();
    let etag = etag.strip_prefix("W/").unwrap_or(etag);
    etag.trim_matches('"')
}

fn validate_patch_times(
    start: Option<&EventTime>,
    end: Option<&EventTime>,
) -> ApiResult<Option<(ParsedTime, ParsedTime)>> {
    match (start, end) {
        (None, None) => Ok(None),
        (Some(start), Some(end)) => {
            let start = parse_event_time("start", start)?;
            let end = parse_event_time("end", end)?;
            check_span(&start, &end)?;
            Ok(Some((start, end)))
        }
        (Some(_), None) | (None, Some(_)) => Err(ApiError::invalid(
            "start_end_together",
            if start.is_some() { "end" } else { "start" },
            "Give start and end together when moving an event, so the gateway can check that the end is after the start.",
        )),
    }
}

fn validate_status(status: Option<EventStatus>) -> ApiResult<()> {
    if status == Some(EventStatus::Cancelled) {
        return Err(ApiError::invalid(
            "invalid_status",
            "status",
            "Set status to confirmed or tentative; to cancel an event, DELETE it.",
        ));
    }
    Ok(())
}

/// Parses a start or end; `field` is `start` or `end`.
pub fn parse_event_time(field: &str, time: &EventTime) -> ApiResult<ParsedTime> {
    let time_zone = time
        .time_zone
        .as_deref()
        .map(|zone| parse_time_zone(field, zone))
        .transpose()?;

    match (&time.date, &time.date_time) {
        (Some(date), None) => {
            if time_zone.is_some() {
                return Err(ApiError::invalid(
                    "invalid_event_time",
                    format!("{field}.time_zone"),
                    "An all-day event has no time zone; remove time_zone or give date_time instead of date.",
                ));
            }
            parse_date(field, date).map(ParsedTime::AllDay)
        }
        (None, Some(date_time)) => {
            let instant = parse_date_time(field, date_time, time_zone)?;
            Ok(ParsedTime::Timed { instant, time_zone })
        }
        _ => Err(ApiError::invalid(
            "invalid_event_time",
            field,
            format!("Give exactly one of {field}.date (all-day event, such as 2026-12-24) and {field}.date_time (such as 2026-12-24T10:00:00-05:00)."),
        )),
    }
}

fn parse_time_zone(field: &str, zone: &str) -> ApiResult<Tz> {
    zone.parse::<Tz>().map_err(|_| {
        ApiError::invalid(
            "invalid_time_zone",
            format!("{field}.time_zone"),
            format!("{zone:?} is not an IANA time zone name; use one such as America/New_York or Europe/Zurich."),
        )
    })
}

fn parse_date(field: &str, raw: &str) -> ApiResult<NaiveDate> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
        ApiError::invalid(
            "invalid_event_time",
            format!("{field}.date"),
            format!("{raw:?} is not a date in the form YYYY-MM-DD, such as 2026-12-24."),
        )
    })
}

/// Parses an RFC 3339 time, or a local time without offset read in `time_zone`.
fn parse_date_time(field: &str, raw: &str, time_zone: Option<Tz>) -> ApiResult<DateTime<Utc>> {
    let field = format!("{field}.date_time");
    if let Ok(time) = DateTime::parse_from_rfc3339(raw) {
        return Ok(time.with_timezone(&Utc));
    }

    let Some(zone) = time_zone else {
        return Err(ApiError::invalid(
            "invalid_event_time",
            field,
            format!("{raw:?} is not an RFC 3339 time with a UTC offset, such as 2026-12-24T10:00:00-05:00; an offset may be left out only when time_zone is given."),
        ));
    };

    let local = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f").map_err(|_| {
        ApiError::invalid(
            "invalid_event_time",
            field.clone(),
            format!(
                "{raw:?} is not a time such as 2026-12-24T10:00:00 or 2026-12-24T10:00:00-05:00."
            ),
        )
    })?;
    resolve_local_time(&field, local, zone)
}

/// Reads a wall-clock time in `zone`. In the repeated hour when clocks go
/// back, the earlier of the two instants is taken, as most calendar apps do.
fn resolve_local_time(field: &str, local: NaiveDateTime, zone: Tz) -> ApiResult<DateTime<Utc>> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(time) | LocalResult::Ambiguous(time, _) => Ok(time.with_timezone(&Utc)),
        LocalResult::None => Err(ApiError::invalid(
            "nonexistent_local_time",
            field,
            format!("{local} does not exist in {zone} because clocks skip it (daylight saving time starts); give a time outside the gap or an explicit UTC offset."),
        )),
    }
}

/// Checks that start and end are the same kind and that the end is later.
pub fn check_span(start: &ParsedTime, end: &ParsedTime) -> ApiResult<()> {
    match (start, end) {
        (ParsedTime::AllDay(start), ParsedTime::AllDay(end)) if end <= start => Err(ApiError::invalid(
            "invalid_event_time",
            "end.date",
            format!("The end date of an all-day event is exclusive and must be after the start: an event on {start} alone ends on {}.", start.succ_opt().unwrap_or(*start)),
        )),
        (ParsedTime::Timed { instant: start, .. }, ParsedTime::Timed { instant: end, .. })
            if end <= start =>
        {
            Err(ApiError::invalid(
                "invalid_event_time",
                "end.date_time",
                "The end must be later than the start.",
            ))
        }
        (ParsedTime::AllDay(_), ParsedTime::Timed { .. })
        | (ParsedTime::Timed { .. }, ParsedTime::AllDay(_)) => Err(ApiError::invalid(
            "invalid_event_time",
            "end",
            "Start and end must both use date (all-day event) or both use date_time.",
        )),
        _ => Ok(()),
    }
}

/// Checks recurrence lines and removes surrounding white space.
pub fn validate_recurrence(lines: Vec<String>) -> ApiResult<Vec<String>> {
    if lines.len() > MAX_RECURRENCE_LINES {
        return Err(ApiError::invalid(
            "invalid_recurrence",
            "recurrence",
            format!("Give at most {MAX_RECURRENCE_LINES} recurrence lines."),
        ));
    }

    lines
        .into_iter()
        .enumerate()
        .map(|(index, line)| validate_recurrence_line(index, line))
        .collect()
}

fn validate_recurrence_line(index: usize, line: String) -> ApiResult<String> {
    let line = line.trim().to_owned();
    let invalid = |detail: String| {
        ApiError::invalid("invalid_recurrence", format!("recurrence[{index}]"), detail)
    };

    if line.chars().any(char::is_control) {
        return Err(invalid(
            "A recurrence line is one line: remove line breaks and control characters.".to_owned(),
        ));
    }

    // A line is `NAME[;PARAM=VALUE...]:VALUE`, as in `EXDATE;TZID=Europe/Zurich:20261224T100000`.
    let (head, value) = line.split_once(':').unwrap_or((line.as_str(), ""));
    let name = head.split(';').next().unwrap_or_default();
    if !RECURRENCE_PROPERTIES
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(name))
    {
        return Err(invalid(format!("{line:?} must start with RRULE:, EXRULE:, RDATE: or EXDATE:, such as RRULE:FREQ=WEEKLY;COUNT=4. Start and end are set in start and end, not with DTSTART or DTEND.")));
    }
    if value.trim().is_empty() {
        return Err(invalid(format!(
            "{line:?} has no value after the colon, such as RRULE:FREQ=WEEKLY;COUNT=4."
        )));
    }
    Ok(line)
}

/// Google expands a recurring timed event in its time zone and rejects one
/// without a zone.
fn check_recurrence_time_zone(
    recurrence: &[String],
    start: &ParsedTime,
    end: &ParsedTime,
) -> ApiResult<()> {
    if recurrence.is_empty() {
        return Ok(());
    }

    for (field, time) in [("start.time_zone", start), ("end.time_zone", end)] {
        if matches!(
            time,
            ParsedTime::Timed {
                time_zone: None,
                ..
            }
        ) {
            return Err(ApiError::invalid(
                "missing_time_zone",
                field,
                "A recurring event with date_time needs start.time_zone and end.time_zone (such as America/New_York), the zone its recurrences are expanded in.",
            ));
        }
    }
    Ok(())
}

/// Checks and normalizes guest addresses; rejects a guest listed twice.
pub fn validate_attendees(attendees: Vec<Attendee>) -> ApiResult<Vec<Attendee>> {
    let mut valid: Vec<Attendee> = Vec::with_capacity(attendees.len());

    for (index, mut attendee) in attendees.into_iter().enumerate() {
        let field = format!("attendees[{index}].email");
        let Some(email) = crate::validate::normalize_email(&attendee.email) else {
            return Err(ApiError::invalid(
                "invalid_email",
                field,
                format!(
                    "{:?} is not a plain email address such as buyer@example.com.",
                    attendee.email
                ),
            ));
        };
        if valid.iter().any(|other| other.email == email) {
            return Err(ApiError::invalid(
                "duplicate_attendee",
                field,
                format!("{email} is listed more than once; list each guest once."),
            ));
        }

        attendee.email = email;
        valid.push(attendee);
    }
    Ok(valid)
}

/// Checks reminder overrides: at most five, each 0 to 40320 minutes, and none
/// when the calendar's defaults are used.
pub fn validate_reminders(reminders: &Reminders) -> ApiResult<()> {
    if reminders.use_default && !reminders.overrides.is_empty() {
        return Err(ApiError::invalid(
            "invalid_reminders",
            "reminders.overrides",
            "Set use_default to false to give overrides, or remove the overrides to use the calendar's default reminders.",
        ));
    }
    if reminders.overrides.len() > MAX_REMINDER_OVERRIDES {
        return Err(ApiError::invalid(
            "invalid_reminders",
            "reminders.overrides",
            format!("Give at most {MAX_REMINDER_OVERRIDES} reminder overrides."),
        ));
    }

    for (index, reminder) in reminders.overrides.iter().enumerate() {
        if !(0..=MAX_REMINDER_MINUTES).contains(&reminder.minutes) {
            return Err(ApiError::invalid(
                "invalid_reminders",
                format!("reminders.overrides[{index}].minutes"),
                format!("Reminder minutes must be from 0 to {MAX_REMINDER_MINUTES} (four weeks)."),
            ));
        }
    }
    Ok(())
}
