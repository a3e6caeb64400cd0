//! Unit tests of event validation and of the mapping to and from
//! google-calendar3.

use chrono::{NaiveDate, TimeZone, Utc};
use google_calendar3::api as google;

use super::mapping::{
    apply_patch, changes_kind, event_from_google, new_event_to_google, patch_to_google,
    time_from_google, time_to_google,
};
use super::model::{
    Attendee, EventPatch, EventStatus, EventTime, ListQuery, NewEvent, ReminderMethod,
    ReminderOverride, Reminders, ResponseStatus, SendUpdates,
};
use super::service::derive_event_id;
use super::validation::{
    normalize_etag, parse_event_time, parse_send_updates, validate_attendees, validate_event_id,
    validate_idempotency_key, validate_list_query, validate_new_event, validate_patch,
    validate_recurrence, validate_reminders, ParsedTime,
};
use crate::error::ApiError;

fn all_day(date: &str) -> EventTime {
    EventTime {
        date: Some(date.to_owned()),
        ..Default::default()
    }
}

fn timed(date_time: &str, time_zone: Option<&str>) -> EventTime {
    EventTime {
        date: None,
        date_time: Some(date_time.to_owned()),
        time_zone: time_zone.map(str::to_owned),
    }
}

fn new_event(start: EventTime, end: EventTime) -> NewEvent {
    NewEvent {
        summary: Some("Showing".to_owned()),
        start,
        end,
        ..Default::default()
    }
}

fn attendee(email: &str) -> Attendee {
    Attendee {
        email: email.to_owned(),
        display_name: None,
        optional: false,
        response_status: None,
    }
}

fn reminder(method: ReminderMethod, minutes: i32) -> ReminderOverride {
    ReminderOverride { method, minutes }
}

/// Returns the problem's code and field.
fn problem_of(error: ApiError) -> (String, Option<String>) {
    let problem = error.problem();
    assert_eq!(problem.status, 400, "expected a 400, got {problem:?}");
    (problem.code, problem.field)
}

fn rejected_field(result: Result<impl std::fmt::Debug, ApiError>) -> String {
    let error = result.expect_err("input should be rejected");
    problem_of(error).1.unwrap_or_default()
}

fn list_query(from: Option<&str>, to: Option<&str>) -> ListQuery {
    ListQuery {
        from: from.map(str::to_owned),
        to: to.map(str::to_owned),
        ..Default::default()
    }
}

// ---- event ids ----

#[test]
fn event_id_accepts_google_ids() {
    let ids = [
        "abcde",
        "4k2d9l3q8v0rjo5hc7u1e6pt0s",
        "4k2d9l3q8v0rjo5hc7u1e6pt0s_20261224T150000Z",
        "4k2d9l3q8v0rjo5hc7u1e6pt0s_20261224",
        "_60q30c1g60o30e1i60o4ac1g60rj8gpl88rj2c1h84s34h9g",
    ];
    for id in ids {
        assert!(validate_event_id(id).is_ok(), "{id:?} should be accepted");
    }
    assert!(validate_event_id(&"a".repeat(1024)).is_ok());
}

#[test]
fn event_id_rejects_other_characters() {
    let long = "a".repeat(1025);
    let ids = [
        "",
        "abcd",
        "ABCDEF",
        "abcdwxyz",
        "abc-def",
        "abc.def",
        "../../calendars",
        "abcde%2f",
        "abcde_2026122T150000Z",
        "abcd_20261224T150000Z",
        long.as_str(),
    ];
    for id in ids {
        let field = rejected_field(validate_event_id(id));
        assert_eq!(field, "event_id", "{id:?}");
    }
}

// ---- list window ----

#[test]
fn list_window_parses_offsets_to_utc() {
    let query = list_query(
        Some("2026-12-01T00:00:00-05:00"),
        Some("2027-01-01T00:00:00Z"),
    );
    let window = validate_list_query(&query).expect("valid window");

    assert_eq!(
        window.from,
        Utc.with_ymd_and_hms(2026, 12, 1, 5, 0, 0).unwrap()
    );
    assert_eq!(
        window.to,
        Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
    );
    assert_eq!(window.page_size, 250);
    assert_eq!(window.cursor, None);
}

#[test]
fn list_window_requires_both_bounds() {
    let missing_from = validate_list_query(&list_query(None, Some("2027-01-01T00:00:00Z")));
    assert_eq!(rejected_field(missing_from), "from");

    let missing_to = validate_list_query(&list_query(Some("2026-12-01T00:00:00Z"), None));
    assert_eq!(rejected_field(missing_to), "to");

    let empty_to = validate_list_query(&list_query(Some("2026-12-01T00:00:00Z"), Some("")));
    assert_eq!(rejected_field(empty_to), "to");
}

#[test]
fn list_window_rejects_bad_times() {
    let cases = [
        ("2026-12-01", "2027-01-01T00:00:00Z", "from"),
        ("2026-12-01T00:00:00", "2027-01-01T00:00:00Z", "from"),
        ("2026-12-01T00:00:00Z", "tomorrow", "to"),
        ("2026-12-01T00:00:00Z", "2026-12-01T00:00:00Z", "to"),
        ("2026-12-02T00:00:00Z", "2026-12-01T00:00:00Z", "to"),
        ("2026-01-01T00:00:00Z", "2027-01-02T00:00:01Z", "to"),
    ];
    for (from, to, field) in cases {
        let result = validate_list_query(&list_query(Some(from), Some(to)));
        assert_eq!(rejected_field(result), field, "from={from} to={to}");
    }
}

#[test]
fn list_window_allows_a_leap_year() {
    let query = list_query(Some("2028-01-01T00:00:00Z"), Some("2029-01-01T00:00:00Z"));
    assert!(validate_list_query(&query).is_ok());
}

#[test]
fn list_page_size_and_cursor() {
    let mut query = list_query(Some("2026-12-01T00:00:00Z"), Some("2027-01-01T00:00:00Z"));
    query.page_size = Some("2500".to_owned());
    query.cursor = Some("CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA".to_owned());
    let window = validate_list_query(&query).expect("valid query");
    assert_eq!(window.page_size, 2500);
    assert_eq!(
        window.cursor.as_deref(),
        Some("CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA")
    );

    for size in ["0", "2501", "-1", "ten"] {
        query.page_size = Some(size.to_owned());
        assert_eq!(
            rejected_field(validate_list_query(&query)),
            "page_size",
            "{size}"
        );
    }

    query.page_size = None;
    query.cursor = Some("has space".to_owned());
    assert_eq!(rejected_field(validate_list_query(&query)), "cursor");
}

// ---- query and header options ----

#[test]
fn send_updates_values() {
    assert_eq!(parse_send_updates(None).unwrap(), SendUpdates::None);
    assert_eq!(parse_send_updates(Some("none")).unwrap(), SendUpdates::None);
    assert_eq!(parse_send_updates(Some("all")).unwrap(), SendUpdates::All);
    assert_eq!(
        parse_send_updates(Some("external_only")).unwrap(),
        SendUpdates::ExternalOnly
    );
    assert_eq!(
        rejected_field(parse_send_updates(Some("externalOnly"))),
        "send_updates"
    );
}

#[test]
fn idempotency_key_rules() {
    assert!(validate_idempotency_key("7f0c2a4e-0b8e-4b51-9a0e-6f1c2d3e4f50").is_ok());
    assert!(validate_idempotency_key("").is_err());
    assert!(validate_idempotency_key("has space").is_err());
    assert!(validate_idempotency_key(&"k".repeat(256)).is_err());
}

#[test]
fn derived_event_id_is_a_valid_stable_id() {
    let id = derive_event_id("acme", "jane@acme.com", "key-1");

    assert_eq!(id.len(), 52);
    assert!(validate_event_id(&id).is_ok(), "{id}");
    assert_eq!(id, derive_event_id("acme", "jane@acme.com", "key-1"));
    assert_ne!(id, derive_event_id("acme", "john@acme.com", "key-1"));
    assert_ne!(id, derive_event_id("acme", "jane@acme.com", "key-2"));
    assert_ne!(
        derive_event_id("ab", "c", "d"),
        derive_event_id("a", "bc", "d"),
        "parts must not run into each other"
    );
}

// ---- event times ----

#[test]
fn all_day_event_needs_exclusive_end() {
    let one_day = validate_new_event(new_event(all_day("2026-12-24"), all_day("2026-12-25")));
    let event = one_day.expect("one-day event");
    assert_eq!(
        event.start,
        ParsedTime::AllDay(NaiveDate::from_ymd_opt(2026, 12, 24).unwrap())
    );
    assert_eq!(
        event.end,
        ParsedTime::AllDay(NaiveDate::from_ymd_opt(2026, 12, 25).unwrap())
    );

    let same_day = validate_new_event(new_event(all_day("2026-12-24"), all_day("2026-12-24")));
    let error = same_day.expect_err("an all-day end on the start date is empty");
    assert_eq!(error.problem().field.as_deref(), Some("end.date"));
    assert!(error.detail().contains("2026-12-25"), "{}", error.detail());

    let backwards = validate_new_event(new_event(all_day("2026-12-24"), all_day("2026-12-23")));
    assert_eq!(rejected_field(backwards), "end.date");
}

#[test]
fn event_time_needs_exactly_one_kind() {
    let both = EventTime {
        date: Some("2026-12-24".to_owned()),
        date_time: Some("2026-12-24T10:00:00Z".to_owned()),
        time_zone: None,
    };
    assert_eq!(rejected_field(parse_event_time("start", &both)), "start");
    assert_eq!(
        rejected_field(parse_event_time("end", &EventTime::default())),
        "end"
    );

    let zoned_date = EventTime {
        date: Some("2026-12-24".to_owned()),
        date_time: None,
        time_zone: Some("Europe/Zurich".to_owned()),
    };
    assert_eq!(
        rejected_field(parse_event_time("start", &zoned_date)),
        "start.time_zone"
    );
}

#[test]
fn event_time_rejects_mixed_kinds() {
    let mixed = new_event(all_day("2026-12-24"), timed("2026-12-24T10:00:00Z", None));
    let (code, field) = problem_of(validate_new_event(mixed).expect_err("mixed kinds"));
    assert_eq!(code, "invalid_event_time");
    assert_eq!(field.as_deref(), Some("end"));
}

#[test]
fn timed_event_end_after_start() {
    let equal = new_event(
        timed("2026-12-24T10:00:00-05:00", None),
        timed("2026-12-24T15:00:00Z", None),
    );
    assert_eq!(rejected_field(validate_new_event(equal)), "end.date_time");

    let later = new_event(
        timed("2026-12-24T10:00:00-05:00", None),
        timed("2026-12-24T15:30:00Z", None),
    );
    assert!(validate_new_event(later).is_ok());
}

#[test]
fn event_time_rejects_bad_dates() {
    for raw in ["2026-02-30", "24.12.2026", "2026-12-24T00:00:00Z"] {
        let field = rejected_field(parse_event_time("start", &all_day(raw)));
        assert_eq!(field, "start.date", "{raw}");
    }
}

#[test]
fn time_zone_must_be_iana() {
    for zone in ["EST5", "Mars/Olympus", "", "america/new_york"] {
        let time = timed("2026-12-24T10:00:00-05:00", Some(zone));
        assert_eq!(
            rejected_field(parse_event_time("start", &time)),
            "start.time_zone",
            "{zone:?}"
        );
    }

    let time = timed("2026-12-24T10:00:00-05:00", Some("America/New_York"));
    let parsed = parse_event_time("start", &time).expect("valid zone");
    assert_eq!(
        parsed,
        ParsedTime::Timed {
            instant: Utc.with_ymd_and_hms(2026, 12, 24, 15, 0, 0).unwrap(),
            time_zone: Some(chrono_tz::America::New_York),
        }
    );
}

#[test]
fn local_time_is_read_in_time_zone() {
    let winter = timed("2026-12-24T10:00:00", Some("America/New_York"));
    let summer = timed("2026-07-01T10:00:00", Some("America/New_York"));

    let ParsedTime::Timed { instant, .. } = parse_event_time("start", &winter).unwrap() else {
        panic!("timed expected");
    };
    assert_eq!(
        instant,
        Utc.with_ymd_and_hms(2026, 12, 24, 15, 0, 0).unwrap()
    );

    let ParsedTime::Timed { instant, .. } = parse_event_time("start", &summer).unwrap() else {
        panic!("timed expected");
    };
    assert_eq!(instant, Utc.with_ymd_and_hms(2026, 7, 1, 14, 0, 0).unwrap());
}

#[test]
fn local_time_needs_time_zone() {
    let time = timed("2026-12-24T10:00:00", None);
    assert_eq!(
        rejected_field(parse_event_time("start", &time)),
        "start.date_time"
    );
}

#[test]
fn local_time_in_dst_gap_is_rejected() {
    // Clocks in New York skip from 02:00 to 03:00 on 8 March 2026.
    let gap = timed("2026-03-08T02:30:00", Some("America/New_York"));
    let (code, field) = problem_of(parse_event_time("start", &gap).expect_err("no such time"));
    assert_eq!(code, "nonexistent_local_time");
    assert_eq!(field.as_deref(), Some("start.date_time"));
}

#[test]
fn local_time_in_dst_overlap_takes_earlier() {
    // Clocks in New York go back from 02:00 to 01:00 on 1 November 2026,
    // so 01:30 happens first at UTC-4 and then at UTC-5.
    let overlap = timed("2026-11-01T01:30:00", Some("America/New_York"));
    let ParsedTime::Timed { instant, .. } = parse_event_time("start", &overlap).unwrap() else {
        panic!("timed expected");
    };
    assert_eq!(
        instant,
        Utc.with_ymd_and_hms(2026, 11, 1, 5, 30, 0).unwrap()
    );
}

// ---- recurrence ----

#[test]
fn recurrence_accepts_rfc5545_lines() {
    let lines = vec![
        "RRULE:FREQ=WEEKLY;BYDAY=TU,TH;COUNT=10".to_owned(),
        " EXDATE;TZID=America/New_York:20261229T100000 ".to_owned(),
        "RDATE;VALUE=DATE:20270105".to_owned(),
        "EXRULE:FREQ=MONTHLY;BYMONTHDAY=1".to_owned(),
    ];
    let valid = validate_recurrence(lines).expect("valid lines");
    assert_eq!(valid[1], "EXDATE;TZID=America/New_York:20261229T100000");
}

#[test]
fn recurrence_rejects_other_lines() {
    let cases = [
        "DTSTART:20261224T100000Z",
        "FREQ=WEEKLY",
        "RRULEX:FREQ=WEEKLY",
        "RRULE:",
        "RRULE:FREQ=WEEKLY\r\nATTENDEE:mailto:x@example.com",
    ];
    for line in cases {
        let lines = vec!["RRULE:FREQ=DAILY;COUNT=2".to_owned(), line.to_owned()];
        let (code, field) = problem_of(validate_recurrence(lines).expect_err(line));
        assert_eq!(code, "invalid_recurrence", "{line:?}");
        assert_eq!(field.as_deref(), Some("recurrence[1]"), "{line:?}");
    }
}

#[test]
fn recurring_timed_event_needs_time_zone() {
    let mut event = new_event(
        timed("2026-12-24T10:00:00-05:00", None),
        timed("2026-12-24T11:00:00-05:00", None),
    );
    event.recurrence = vec!["RRULE:FREQ=WEEKLY;COUNT=4".to_owned()];
    assert_eq!(
        rejected_field(validate_new_event(event.clone())),
        "start.time_zone"
    );

    event.start.time_zone = Some("America/New_York".to_owned());
    assert_eq!(
        rejected_field(validate_new_event(event.clone())),
        "end.time_zone"
    );

    event.end.time_zone = Some("America/New_York".to_owned());
    assert!(validate_new_event(event).is_ok());
}

#[test]
fn recurring_all_day_event_needs_no_time_zone() {
    let mut event = new_event(all_day("2026-12-24"), all_day("2026-12-25"));
    event.recurrence = vec!["RRULE:FREQ=YEARLY".to_owned()];
    assert!(validate_new_event(event).is_ok());
}

// ---- attendees and reminders ----

#[test]
fn attendees_are_normalized() {
    let valid = validate_attendees(vec![attendee(" Buyer@Example.COM ")]).unwrap();
    assert_eq!(valid[0].email, "buyer@example.com");
}

#[test]
fn attendees_reject_bad_and_duplicate_emails() {
    let bad = validate_attendees(vec![
        attendee("buyer@example.com"),
        attendee("not-an-email"),
    ]);
    assert_eq!(rejected_field(bad), "attendees[1].email");

    let duplicate = validate_attendees(vec![attendee("a@example.com"), attendee("A@example.com")]);
    let (code, field) = problem_of(duplicate.expect_err("duplicate"));
    assert_eq!(code, "duplicate_attendee");
    assert_eq!(field.as_deref(), Some("attendees[1].email"));
}

#[test]
fn reminders_limits() {
    let ok = Reminders {
        use_default: false,
        overrides: vec![
            reminder(ReminderMethod::Email, 0),
            reminder(ReminderMethod::Popup, 40_320),
        ],
    };
    assert!(validate_reminders(&ok).is_ok());

    let too_long = Reminders {
        use_default: false,
        overrides: vec![reminder(ReminderMethod::Popup, 40_321)],
    };
    assert_eq!(
        rejected_field(validate_reminders(&too_long)),
        "reminders.overrides[0].minutes"
    );

    let negative = Reminders {
        use_default: false,
        overrides: vec![
            reminder(ReminderMethod::Popup, 10),
            reminder(ReminderMethod::Popup, -1),
        ],
    };
    assert_eq!(
        rejected_field(validate_reminders(&negative)),
        "reminders.overrides[1].minutes"
    );

    let six = Reminders {
        use_default: false,
        overrides: (0..6)
            .map(|i| reminder(ReminderMethod::Popup, i * 10))
            .collect(),
    };
    assert_eq!(
        rejected_field(validate_reminders(&six)),
        "reminders.overrides"
    );

    let default_and_overrides = Reminders {
        use_default: true,
        overrides: vec![reminder(ReminderMethod::Popup, 10)],
    };
    assert_eq!(
        rejected_field(validate_reminders(&default_and_overrides)),
        "reminders.overrides"
    );
}

#[test]
fn create_rejects_cancelled_status() {
    let mut event = new_event(all_day("2026-12-24"), all_day("2026-12-25"));
    event.status = Some(EventStatus::Cancelled);
    assert_eq!(rejected_field(validate_new_event(event)), "status");
}

// ---- patches ----

#[test]
fn patch_needs_start_and_end_together() {
    let patch = EventPatch {
        start: Some(timed("2026-12-24T10:00:00Z", None)),
        ..Default::default()
    };
    let (code, field) = problem_of(validate_patch(patch, None).expect_err("start alone"));
    assert_eq!(code, "start_end_together");
    assert_eq!(field.as_deref(), Some("end"));
}

#[test]
fn patch_must_change_something() {
    let patch = EventPatch {
        etag: Some("\"1\"".to_owned()),
        ..Default::default()
    };
    let (code, _) = problem_of(validate_patch(patch, None).expect_err("empty"));
    assert_eq!(code, "empty_patch");
}

#[test]
fn patch_etag_from_header_or_body() {
    let body = || EventPatch {
        summary: Some("New title".to_owned()),
        ..Default::default()
    };

    let from_header = validate_patch(body(), Some("\"42\"")).unwrap();
    assert_eq!(from_header.etag.as_deref(), Some("\"42\""));

    let mut with_etag = body();
    with_etag.etag = Some("\"42\"".to_owned());
    let from_body = validate_patch(with_etag.clone(), None).unwrap();
    assert_eq!(from_body.etag.as_deref(), Some("\"42\""));

    assert!(validate_patch(with_etag.clone(), Some("W/\"42\"")).is_ok());
    let conflict = validate_patch(with_etag, Some("\"43\""));
    assert_eq!(rejected_field(conflict), "etag");
}

#[test]
fn etags_compare_without_quotes() {
    assert_eq!(normalize_etag("\"3181161784712000\""), "3181161784712000");
    assert_eq!(normalize_etag("W/\"3181161784712000\""), "3181161784712000");
    assert_eq!(normalize_etag("3181161784712000"), "3181161784712000");
}

#[test]
fn patch_body_holds_only_given_fields() {
    let patch = EventPatch {
        description: Some(String::new()),
        attendees: Some(Vec::new()),
        ..Default::default()
    };
    let valid = validate_patch(patch, None).unwrap();
    let body = serde_json::to_value(patch_to_google(&valid)).unwrap();

    let mut sent = body;
    google_apis_common::remove_json_null_values(&mut sent);
    assert_eq!(
        sent,
        serde_json::json!({ "description": "", "attendees": [] })
    );
}

#[test]
fn patch_to_default_reminders_clears_overrides() {
    let patch = EventPatch {
        reminders: Some(Reminders {
            use_default: true,
            overrides: Vec::new(),
        }),
        ..Default::default()
    };
    let valid = validate_patch(patch, None).unwrap();
    let mut sent = serde_json::to_value(patch_to_google(&valid)).unwrap();
    google_apis_common::remove_json_null_values(&mut sent);
    assert_eq!(
        sent,
        serde_json::json!({ "reminders": { "useDefault": true, "overrides": [] } })
    );
}

#[test]
fn kind_switch_is_detected() {
    let date = google::EventDateTime {
        date: NaiveDate::from_ymd_opt(2026, 12, 24),
        ..Default::default()
    };
    let instant = google::EventDateTime {
        date_time: Some(Utc.with_ymd_and_hms(2026, 12, 24, 15, 0, 0).unwrap()),
        ..Default::default()
    };
    let new_all_day = ParsedTime::AllDay(NaiveDate::from_ymd_opt(2026, 12, 26).unwrap());
    let new_timed = ParsedTime::Timed {
        instant: Utc.with_ymd_and_hms(2026, 12, 26, 15, 0, 0).unwrap(),
        time_zone: None,
    };

    assert!(!changes_kind(&new_all_day, Some(&date)));
    assert!(changes_kind(&new_timed, Some(&date)));
    assert!(changes_kind(&new_all_day, Some(&instant)));
    assert!(!changes_kind(&new_timed, Some(&instant)));
}

#[test]
fn apply_patch_replaces_start_kind() {
    let mut current = google::Event {
        summary: Some("Open house".to_owned()),
        start: Some(google::EventDateTime {
            date: NaiveDate::from_ymd_opt(2026, 12, 24),
            ..Default::default()
        }),
        end: Some(google::EventDateTime {
            date: NaiveDate::from_ymd_opt(2026, 12, 25),
            ..Default::default()
        }),
        ..Default::default()
    };
    let patch = EventPatch {
        start: Some(timed("2026-12-24T10:00:00", Some("America/New_York"))),
        end: Some(timed("2026-12-24T11:00:00", Some("America/New_York"))),
        ..Default::default()
    };
    let valid = validate_patch(patch, None).unwrap();
    apply_patch(&mut current, &valid);

    let start = current.start.expect("start");
    assert_eq!(start.date, None);
    assert_eq!(
        start.date_time,
        Some(Utc.with_ymd_and_hms(2026, 12, 24, 15, 0, 0).unwrap())
    );
    assert_eq!(start.time_zone.as_deref(), Some("America/New_York"));
    assert_eq!(current.summary.as_deref(), Some("Open house"));
}

// ---- mapping to Google ----

#[test]
fn new_event_maps_to_google_json() {
    let mut event = new_event(
        timed("2026-12-24T10:00:00", Some("America/New_York")),
        timed("2026-12-24T11:00:00", Some("America/New_York")),
    );
    event.location = Some("12 Elm Street".to_owned());
    event.attendees = vec![Attendee {
        email: "Buyer@Example.com".to_owned(),
        display_name: Some("Pat Buyer".to_owned()),
        optional: true,
        response_status: Some(ResponseStatus::NeedsAction),
    }];
    event.recurrence = vec!["RRULE:FREQ=WEEKLY;COUNT=4".to_owned()];
    event.reminders = Some(Reminders {
        use_default: false,
        overrides: vec![reminder(ReminderMethod::Popup, 30)],
    });
    let valid = validate_new_event(event).unwrap();

    let mut sent =
        serde_json::to_value(new_event_to_google(&valid, Some("abcde12345".to_owned()))).unwrap();
    google_apis_common::remove_json_null_values(&mut sent);
    assert_eq!(
        sent,
        serde_json::json!({
            "id": "abcde12345",
            "summary": "Showing",
            "location": "12 Elm Street",
            "start": { "dateTime": "2026-12-24T15:00:00Z", "timeZone": "America/New_York" },
            "end": { "dateTime": "2026-12-24T16:00:00Z", "timeZone": "America/New_York" },
            "attendees": [{
                "email": "buyer@example.com",
                "displayName": "Pat Buyer",
                "optional": true,
                "responseStatus": "needsAction"
            }],
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4"],
            "reminders": { "useDefault": false, "overrides": [{ "method": "popup", "minutes": 30 }] }
        })
    );
}

#[test]
fn all_day_maps_to_google_date() {
    let date = ParsedTime::AllDay(NaiveDate::from_ymd_opt(2026, 12, 25).unwrap());
    let mut sent = serde_json::to_value(time_to_google(&date)).unwrap();
    google_apis_common::remove_json_null_values(&mut sent);
    assert_eq!(sent, serde_json::json!({ "date": "2026-12-25" }));
}

// ---- mapping from Google ----

fn google_event(json: serde_json::Value) -> google::Event {
    serde_json::from_value(json).expect("valid Google event JSON")
}

#[test]
fn timed_event_renders_in_its_time_zone() {
    let event = google_event(serde_json::json!({
        "id": "abcde12345",
        "etag": "\"3181161784712000\"",
        "status": "confirmed",
        "start": { "dateTime": "2026-12-24T10:00:00-05:00", "timeZone": "America/New_York" },
        "end": { "dateTime": "2026-07-01T10:00:00-04:00", "timeZone": "America/New_York" }
    }));
    let event = event_from_google(event).unwrap();

    let start = event.start.expect("start");
    assert_eq!(
        start.date_time.as_deref(),
        Some("2026-12-24T10:00:00-05:00")
    );
    assert_eq!(start.time_zone.as_deref(), Some("America/New_York"));
    let end = event.end.expect("end");
    assert_eq!(end.date_time.as_deref(), Some("2026-07-01T10:00:00-04:00"));
    assert_eq!(event.status, Some(EventStatus::Confirmed));
    assert_eq!(event.etag.as_deref(), Some("\"3181161784712000\""));
}

#[test]
fn timed_event_without_zone_renders_in_utc() {
    let time = google::EventDateTime {
        date_time: Some(Utc.with_ymd_and_hms(2026, 12, 24, 15, 0, 0).unwrap()),
        ..Default::default()
    };
    let rendered = time_from_google(&time).unwrap();
    assert_eq!(rendered.date_time.as_deref(), Some("2026-12-24T15:00:00Z"));
    assert_eq!(rendered.time_zone, None);

    let unknown_zone = google::EventDateTime {
        time_zone: Some("Not/AZone".to_owned()),
        ..time
    };
    let rendered = time_from_google(&unknown_zone).unwrap();
    assert_eq!(rendered.date_time.as_deref(), Some("2026-12-24T15:00:00Z"));
    assert_eq!(rendered.time_zone.as_deref(), Some("Not/AZone"));
}

#[test]
fn all_day_event_keeps_exclusive_end() {
    let event = google_event(serde_json::json!({
        "id": "abcde12345",
        "start": { "date": "2026-12-24" },
        "end": { "date": "2026-12-25" }
    }));
    let event = event_from_google(event).unwrap();

    assert_eq!(event.start, Some(all_day("2026-12-24")));
    assert_eq!(event.end, Some(all_day("2026-12-25")));
    let json = serde_json::to_value(&event.start).unwrap();
    assert_eq!(json, serde_json::json!({ "date": "2026-12-24" }));
}

#[test]
fn recurring_instance_and_details_map() {
    let event = google_event(serde_json::json!({
        "id": "abcde12345_20261229T150000Z",
        "recurringEventId": "abcde12345",
        "summary": "Team sync",
        "htmlLink": "https://www.google.com/calendar/event?eid=abc",
        "created": "2026-12-01T08:00:00.000Z",
        "updated": "2026-12-02T08:00:00.000Z",
        "start": { "dateTime": "2026-12-29T10:00:00-05:00", "timeZone": "America/New_York" },
        "end": { "dateTime": "2026-12-29T11:00:00-05:00", "timeZone": "America/New_York" },
        "attendees": [
            { "email": "buyer@example.com", "displayName": "Pat", "responseStatus": "accepted" },
            { "email": "room@resource.calendar.google.com", "resource": true, "responseStatus": "unknownValue" },
            { "displayName": "No address" }
        ],
        "reminders": { "useDefault": false, "overrides": [
            { "method": "email", "minutes": 1440 },
            { "method": "sms", "minutes": 10 }
        ] }
    }));
    let event = event_from_google(event).unwrap();

    assert_eq!(event.recurring_event_id.as_deref(), Some("abcde12345"));
    assert!(event.recurrence.is_empty());
    assert_eq!(event.attendees.len(), 2);
    assert_eq!(
        event.attendees[0].response_status,
        Some(ResponseStatus::Accepted)
    );
    assert_eq!(event.attendees[0].display_name.as_deref(), Some("Pat"));
    assert!(!event.attendees[0].optional);
    assert_eq!(event.attendees[1].response_status, None);
    assert_eq!(
        event.reminders,
        Some(Reminders {
            use_default: false,
            overrides: vec![reminder(ReminderMethod::Email, 1440)],
        })
    );
    assert_eq!(
        event.created,
        Some(Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap())
    );
    assert_eq!(
        event.html_link.as_deref(),
        Some("https://www.google.com/calendar/event?eid=abc")
    );
}

#[test]
fn recurring_event_keeps_recurrence_lines() {
    let event = google_event(serde_json::json!({
        "id": "abcde12345",
        "recurrence": ["RRULE:FREQ=WEEKLY;BYDAY=TU", "EXDATE;TZID=America/New_York:20261229T100000"],
        "start": { "dateTime": "2026-12-22T10:00:00-05:00", "timeZone": "America/New_York" },
        "end": { "dateTime": "2026-12-22T11:00:00-05:00", "timeZone": "America/New_York" }
    }));
    let event = event_from_google(event).unwrap();
    assert_eq!(
        event.recurrence,
        vec![
            "RRULE:FREQ=WEEKLY;BYDAY=TU",
            "EXDATE;TZID=America/New_York:20261229T100000"
        ]
    );
}

#[test]
fn event_without_id_is_an_error() {
    let event = google_event(serde_json::json!({ "summary": "no id" }));
    let error = event_from_google(event).expect_err("id is required");
    assert_eq!(error.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn round_trip_keeps_the_instant() {
    let event = new_event(
        timed("2026-03-29T09:00:00+02:00", Some("Europe/Zurich")),
        timed("2026-03-29T10:00:00+02:00", Some("Europe/Zurich")),
    );
    let valid = validate_new_event(event).unwrap();
    let google = new_event_to_google(&valid, None);
    let back = time_from_google(google.start.as_ref().unwrap()).unwrap();

    assert_eq!(back.date_time.as_deref(), Some("2026-03-29T09:00:00+02:00"));
    assert_eq!(back.time_zone.as_deref(), Some("Europe/Zurich"));
}
