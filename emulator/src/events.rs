//! Calendar event storage: validation of Event JSON, start and end times, and rendering in the
//! shape `www.googleapis.com/calendar/v3` returns.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use rand::Rng;
use serde_json::{json, Map, Value};

use crate::errors::GoogleError;
use crate::recurrence;

/// Fields the server sets; values a client sends for them are ignored.
const SERVER_FIELDS: &[&str] = &[
    "kind",
    "etag",
    "id",
    "htmlLink",
    "created",
    "updated",
    "creator",
    "organizer",
    "iCalUID",
    "sequence",
    "recurringEventId",
    "originalStartTime",
    "status",
];

/// A user's primary calendar.
#[derive(Debug, Default)]
pub struct Calendar {
    /// Events by id, instance exceptions (`<id>_<start>`) included.
    pub events: BTreeMap<String, StoredEvent>,
    /// Raised to invalidate every sync token issued before.
    pub sync_epoch: u64,
}

/// A stored event, a recurring series, or an exception to one instance of a series.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Event id (base32hex), or `<series id>_<original start>` for an exception.
    pub id: String,
    /// Client-writable fields.
    pub body: Map<String, Value>,
    /// `confirmed`, `tentative` or `cancelled`.
    pub status: String,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Time of the last change.
    pub updated: DateTime<Utc>,
    /// Change sequence number of the last change.
    pub seq: u64,
    /// iCalendar SEQUENCE, raised by every update.
    pub sequence: i64,
    /// Quoted numeric etag.
    pub etag: String,
    /// iCalendar UID.
    pub ical_uid: String,
    /// For an exception: the series it belongs to.
    pub recurring_event_id: Option<String>,
    /// For an exception: the instance's start before it was changed.
    pub original_start: Option<Value>,
}

impl StoredEvent {
    /// Records a change: new etag, time and sequence number.
    pub fn touch(&mut self, now: DateTime<Utc>, seq: u64) {
        self.updated = now;
        self.seq = seq;
        self.etag = new_etag(now);
    }

    /// Parses the stored start time.
    pub fn start(&self) -> Option<EventTime> {
        EventTime::parse(self.body.get("start")?, "start").ok()
    }

    /// Parses the stored end time.
    pub fn end(&self) -> Option<EventTime> {
        EventTime::parse(self.body.get("end")?, "end").ok()
    }

    /// Returns the RRULE/EXRULE/RDATE/EXDATE lines; empty for a single event.
    pub fn recurrence(&self) -> Vec<String> {
        self.body
            .get("recurrence")
            .and_then(Value::as_array)
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Renders the full Event resource.
    pub fn render(&self, calendar_owner: &str) -> Value {
        let mut event = Map::new();
        event.insert("kind".into(), json!("calendar#event"));
        event.insert("etag".into(), json!(self.etag));
        event.insert("id".into(), json!(self.id));
        event.insert("status".into(), json!(self.status));
        event.insert(
            "htmlLink".into(),
            json!(html_link(&self.id, calendar_owner)),
        );
        event.insert("created".into(), json!(timestamp(self.created)));
        event.insert("updated".into(), json!(timestamp(self.updated)));

        for (key, value) in &self.body {
            event.insert(key.clone(), value.clone());
        }
        let person = json!({"email": calendar_owner, "self": true});
        event.insert("creator".into(), person.clone());
        event.insert("organizer".into(), person);
        if let Some(recurring) = &self.recurring_event_id {
            event.insert("recurringEventId".into(), json!(recurring));
        }
        if let Some(original) = &self.original_start {
            event.insert("originalStartTime".into(), original.clone());
        }
        event.insert("iCalUID".into(), json!(self.ical_uid));
        event.insert("sequence".into(), json!(self.sequence));
        event
            .entry("reminders")
            .or_insert_with(|| json!({"useDefault": true}));
        event.entry("eventType").or_insert_with(|| json!("default"));
        if let Some(attendees) = event.get_mut("attendees") {
            decorate_attendees(attendees, calendar_owner);
        }
        Value::Object(event)
    }

    /// Renders a cancelled event as incremental results carry it: identity fields only.
    pub fn render_cancelled(&self) -> Value {
        let mut event = json!({
            "kind": "calendar#event",
            "etag": self.etag,
            "id": self.id,
            "status": "cancelled",
        });
        if let Some(recurring) = &self.recurring_event_id {
            event["recurringEventId"] = json!(recurring);
        }
        if let Some(original) = &self.original_start {
            event["originalStartTime"] = original.clone();
        }
        event
    }
}

fn decorate_attendees(attendees: &mut Value, owner: &str) {
    let Some(list) = attendees.as_array_mut() else {
        return;
    };
    for attendee in list.iter_mut().filter_map(Value::as_object_mut) {
        attendee
            .entry("responseStatus")
            .or_insert_with(|| json!("needsAction"));
        let is_owner = attendee
            .get("email")
            .and_then(Value::as_str)
            .is_some_and(|email| email.eq_ignore_ascii_case(owner));
        if is_owner {
            attendee.insert("self".into(), json!(true));
            attendee.insert("organizer".into(), json!(true));
        }
    }
}

/// RFC 3339 with milliseconds in UTC, as Calendar writes `created` and `updated`.
pub fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn new_etag(now: DateTime<Utc>) -> String {
    let micros = now.timestamp_micros().max(0);
    let jitter: u32 = rand::thread_rng().gen_range(0..1000);
    format!("\"{}{:03}\"", micros, jitter)
}

fn html_link(id: &str, owner: &str) -> String {
    let eid = STANDARD_NO_PAD.encode(format!("{id} {owner}"));
    format!("https://www.google.com/calendar/event?eid={eid}")
}

/// Generates an event id: 26 characters of base32hex, as Google's are.
pub fn new_event_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuv";
    let mut rng = rand::thread_rng();
    (0..26)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// Checks a client-chosen event id: base32hex characters, 5 to 1024 of them.
pub fn valid_client_id(id: &str) -> bool {
    (5..=1024).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='v').contains(&c))
}

/// A start or end time of an event.
#[derive(Debug, Clone, PartialEq)]
pub enum EventTime {
    /// All-day: a date, in the calendar's time zone (UTC here).
    Date(NaiveDate),
    /// A point in time, with the zone it is displayed in when one was given.
    DateTime {
        /// The instant.
        instant: DateTime<Utc>,
        /// IANA zone from `timeZone`.
        zone: Option<Tz>,
    },
}

impl EventTime {
    /// Parses `{"date"}` or `{"dateTime", "timeZone"}`. `which` is `start` or `end`, used in
    /// error messages.
    pub fn parse(value: &Value, which: &str) -> Result<Self, GoogleError> {
        let zone = match value.get("timeZone").and_then(Value::as_str) {
            Some(name) => Some(name.parse::<Tz>().map_err(|_| {
                calendar_error(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    &format!("Invalid time zone definition for {which} time."),
                )
            })?),
            None => None,
        };

        let date = value.get("date").and_then(Value::as_str);
        let date_time = value.get("dateTime").and_then(Value::as_str);
        match (date, date_time) {
            (Some(date), None) => NaiveDate::parse_from_str(date, "%Y-%m-%d")
                .map(EventTime::Date)
                .map_err(|_| invalid_time(which)),
            (None, Some(text)) => parse_date_time(text, zone, which),
            (None, None) => Err(calendar_error(
                StatusCode::BAD_REQUEST,
                "required",
                &format!("Missing {which} time."),
            )),
            (Some(_), Some(_)) => Err(invalid_time(which)),
        }
    }

    /// Returns the instant the time stands for; a date is midnight UTC.
    pub fn instant(&self) -> DateTime<Utc> {
        match self {
            EventTime::Date(date) => date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
            EventTime::DateTime { instant, .. } => *instant,
        }
    }

    /// Returns the zone of a timed event.
    pub fn zone(&self) -> Option<Tz> {
        match self {
            EventTime::DateTime { zone, .. } => *zone,
            EventTime::Date(_) => None,
        }
    }

    /// Renders as `{"date"}` or `{"dateTime", "timeZone"}`, the time in its zone's offset.
    pub fn to_json(&self) -> Value {
        match self {
            EventTime::Date(date) => json!({"date": date.format("%Y-%m-%d").to_string()}),
            EventTime::DateTime {
                instant,
                zone: Some(zone),
            } => json!({
                "dateTime": instant.with_timezone(zone).to_rfc3339_opts(SecondsFormat::Secs, true),
                "timeZone": zone.name(),
            }),
            EventTime::DateTime {
                instant,
                zone: None,
            } => {
                json!({"dateTime": instant.to_rfc3339_opts(SecondsFormat::Secs, true)})
            }
        }
    }

    /// Returns the suffix of an instance id: `YYYYMMDD` or `YYYYMMDDTHHMMSSZ` (UTC).
    pub fn instance_suffix(&self) -> String {
        match self {
            EventTime::Date(date) => date.format("%Y%m%d").to_string(),
            EventTime::DateTime { instant, .. } => instant.format("%Y%m%dT%H%M%SZ").to_string(),
        }
    }

    /// Shifts by a duration, keeping the kind and zone.
    pub fn shifted(&self, delta: chrono::Duration) -> EventTime {
        match self {
            EventTime::Date(date) => EventTime::Date(*date + delta),
            EventTime::DateTime { instant, zone } => EventTime::DateTime {
                instant: *instant + delta,
                zone: *zone,
            },
        }
    }
}

fn parse_date_time(text: &str, zone: Option<Tz>, which: &str) -> Result<EventTime, GoogleError> {
    if let Ok(parsed) = DateTime::parse_from_rfc3339(text) {
        return Ok(EventTime::DateTime {
            instant: parsed.with_timezone(&Utc),
            zone,
        });
    }
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
        .map_err(|_| invalid_time(which))?;
    let Some(zone) = zone else {
        return Err(calendar_error(
            StatusCode::BAD_REQUEST,
            "required",
            &format!("Missing time zone definition for {which} time."),
        ));
    };
    let instant = zone
        .from_local_datetime(&local)
        .earliest()
        .ok_or_else(|| invalid_time(which))?
        .with_timezone(&Utc);
    Ok(EventTime::DateTime {
        instant,
        zone: Some(zone),
    })
}

fn invalid_time(which: &str) -> GoogleError {
    calendar_error(
        StatusCode::BAD_REQUEST,
        "invalid",
        &format!("Invalid {which} time."),
    )
}

/// Builds a Calendar-style error: `errors[]` with domain `global` and no canonical status.
pub fn calendar_error(status: StatusCode, reason: &str, message: &str) -> GoogleError {
    GoogleError::new(status, message).reason("global", reason)
}

/// Calendar's 404.
pub fn calendar_not_found() -> GoogleError {
    calendar_error(StatusCode::NOT_FOUND, "notFound", "Not Found")
}

/// Validated event content ready to store.
#[derive(Debug)]
pub struct ValidEvent {
    /// Client-writable fields with normalized start and end.
    pub body: Map<String, Value>,
    /// `confirmed` or `tentative` (or `cancelled` when a client restores or cancels by update).
    pub status: String,
}

/// Validates a full Event body (after a patch is merged, for updates).
pub fn validate_event(event: &Map<String, Value>) -> Result<ValidEvent, GoogleError> {
    let start_value = event.get("start").ok_or_else(|| {
        calendar_error(StatusCode::BAD_REQUEST, "required", "Missing start time.")
    })?;
    let end_value = event
        .get("end")
        .ok_or_else(|| calendar_error(StatusCode::BAD_REQUEST, "required", "Missing end time."))?;
    let start = EventTime::parse(start_value, "start")?;
    let end = EventTime::parse(end_value, "end")?;
    check_time_range(&start, &end)?;

    let recurrence = recurrence_lines(event)?;
    if !recurrence.is_empty() {
        if let EventTime::DateTime { zone: None, .. } = start {
            return Err(calendar_error(
                StatusCode::BAD_REQUEST,
                "required",
                "Missing time zone definition for start time.",
            ));
        }
        recurrence::validate(&start, &recurrence).map_err(|_| {
            calendar_error(
                StatusCode::BAD_REQUEST,
                "invalid",
                "Invalid recurrence rule.",
            )
        })?;
    }

    let status = match event.get("status").and_then(Value::as_str) {
        None => "confirmed".to_string(),
        Some(status @ ("confirmed" | "tentative" | "cancelled")) => status.to_string(),
        Some(_) => {
            return Err(calendar_error(
                StatusCode::BAD_REQUEST,
                "invalid",
                "Invalid value for: status",
            ))
        }
    };

    let mut body: Map<String, Value> = event
        .iter()
        .filter(|(key, _)| !SERVER_FIELDS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    body.retain(|_, value| !value.is_null());
    body.insert("start".into(), start.to_json());
    body.insert("end".into(), end.to_json());
    Ok(ValidEvent { body, status })
}

fn check_time_range(start: &EventTime, end: &EventTime) -> Result<(), GoogleError> {
    let same_kind = matches!(
        (start, end),
        (EventTime::Date(_), EventTime::Date(_))
            | (EventTime::DateTime { .. }, EventTime::DateTime { .. })
    );
    if !same_kind {
        return Err(calendar_error(
            StatusCode::BAD_REQUEST,
            "invalid",
            "Start and end times must either both be date or both be dateTime.",
        ));
    }
    let empty = match (start, end) {
        (EventTime::Date(start), EventTime::Date(end)) => end <= start,
        _ => end.instant() < start.instant(),
    };
    if empty {
        return Err(calendar_error(
            StatusCode::BAD_REQUEST,
            "timeRangeEmpty",
            "The specified time range is empty.",
        ));
    }
    Ok(())
}

fn recurrence_lines(event: &Map<String, Value>) -> Result<Vec<String>, GoogleError> {
    let invalid = || {
        calendar_error(
            StatusCode::BAD_REQUEST,
            "invalid",
            "Invalid recurrence rule.",
        )
    };
    match event.get("recurrence") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(lines)) => lines
            .iter()
            .map(|line| line.as_str().map(str::to_string).ok_or_else(invalid))
            .collect(),
        Some(_) => Err(invalid()),
    }
}

/// Merges a PATCH body into an event: objects merge recursively, other values replace, and
/// `null` removes a field.
pub fn merge_patch(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match (target.get_mut(key), value) {
            (_, Value::Null) => {
                target.remove(key);
            }
            (Some(Value::Object(existing)), Value::Object(update))
                if key != "start" && key != "end" && key != "originalStartTime" =>
            {
                merge_patch(existing, update);
            }
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}
