//! Calendar events over HTTP: recurring and all-day events, paging, input
//! problems, etags, idempotent creates, and the problems that Google failures
//! and missing access map to.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::db_tests;
use crate::helpers::{assert_problem, TestApp, Workspace, ALL_SCOPES};

db_tests!(
    recurring_instances_listed,
    recurring_series_crosses_dst,
    all_day_round_trip,
    reminders_at_limits_accepted,
    list_pages_with_cursor,
    invalid_input_rejected,
    deleted_event_not_found,
    patch_checks_etag,
    patch_switches_kind,
    patch_clears_description,
    idempotent_create,
    invalid_send_updates_rejected,
    unenrolled_user_not_found,
    revoked_credentials_conflict,
    undelegated_scope_forbidden,
    rate_limit_retried,
    outage_is_bad_gateway,
);

/// Zone of the timed events below. It is UTC-05:00 in January and UTC-04:00
/// from 14 March 2027, when daylight saving time starts.
const ZONE: &str = "America/New_York";

/// Window that contains every event the tests create.
const WIDE_WINDOW: [(&str, &str); 2] = [
    ("from", "2026-06-01T00:00:00Z"),
    ("to", "2027-06-01T00:00:00Z"),
];

// ---- helpers ----

/// Sends a request with the admin key and extra headers.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Response {
    let url = format!("{}{path}", app.address);
    let mut request = app.client.request(method, url).bearer_auth(&app.admin_key);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request reaches the gateway")
}

/// Reads a JSON body after checking the status, naming `context` on failure.
async fn read_json(response: Response, expected: StatusCode, context: &str) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, expected, "{context}: {body}");
    body
}

fn events_path(workspace: &Workspace) -> String {
    format!("{}/events", workspace.agent_path())
}

fn event_path(workspace: &Workspace, event_id: &str) -> String {
    format!("{}/events/{event_id}", workspace.agent_path())
}

/// Lists the agent's events with the query pairs URL-encoded.
async fn list(app: &TestApp, workspace: &Workspace, query: &[(&str, &str)]) -> Response {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    app.get(&format!("{}?{query}", events_path(workspace)))
        .await
}

/// Lists one page and checks that the request succeeded.
async fn list_page(app: &TestApp, workspace: &Workspace, query: &[(&str, &str)]) -> Value {
    read_json(
        list(app, workspace, query).await,
        StatusCode::OK,
        "event list",
    )
    .await
}

/// Ids of the events on a page, in page order.
fn item_ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items array")
        .iter()
        .map(|item| item["id"].as_str().expect("event id").to_owned())
        .collect()
}

/// Ids of every event in `WIDE_WINDOW`.
async fn all_event_ids(app: &TestApp, workspace: &Workspace) -> Vec<String> {
    item_ids(&list_page(app, workspace, &WIDE_WINDOW).await)
}

/// Creates an event for the agent and checks for 201.
async fn create(app: &TestApp, workspace: &Workspace, body: Value) -> Value {
    let response = app.post(&events_path(workspace), body).await;
    read_json(response, StatusCode::CREATED, "event created").await
}

fn id_of(event: &Value) -> String {
    event["id"].as_str().expect("event id").to_owned()
}

fn etag_of(event: &Value) -> String {
    event["etag"].as_str().expect("event etag").to_owned()
}

/// Builds a timed event whose wall-clock times are read in `ZONE`.
fn timed_event(summary: &str, start: &str, end: &str) -> Value {
    json!({
        "summary": summary,
        "start": { "date_time": start, "time_zone": ZONE },
        "end": { "date_time": end, "time_zone": ZONE },
    })
}

/// Builds an all-day event, whose `end` is the day after the last day.
fn all_day_event(summary: &str, start: &str, end: &str) -> Value {
    json!({ "summary": summary, "start": { "date": start }, "end": { "date": end } })
}

/// Makes the agent's next `times` Calendar API calls fail with `status`.
async fn inject_calendar_fault(app: &TestApp, workspace: &Workspace, status: u16, times: u32) {
    let url = format!("{}/emulator/faults", app.emulator.base_url());
    let rule =
        json!({ "api": "calendar", "user": workspace.agent, "status": status, "times": times });
    let response = app
        .client
        .post(url)
        .json(&rule)
        .send()
        .await
        .expect("emulator reachable");
    assert_eq!(response.status(), StatusCode::CREATED, "fault injected");
}

/// Returns how many injected failures the emulator has not served yet.
async fn pending_fault_calls(app: &TestApp) -> u64 {
    let url = format!("{}/emulator/faults", app.emulator.base_url());
    let response = app
        .client
        .get(url)
        .send()
        .await
        .expect("emulator reachable");
    let body: Value = response.json().await.expect("faults JSON");
    body["faults"]
        .as_array()
        .expect("faults array")
        .iter()
        .map(|rule| rule["times"].as_u64().unwrap_or_default())
        .sum()
}

async fn clear_faults(app: &TestApp) {
    let url = format!("{}/emulator/faults", app.emulator.base_url());
    let response = app
        .client
        .delete(url)
        .send()
        .await
        .expect("emulator reachable");
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "faults cleared");
}

// ---- recurring and all-day events ----

async fn recurring_instances_listed(app: TestApp) {
    let workspace = app.onboard("acme").await;

    let mut weekly = timed_event("Team meeting", "2027-01-05T10:00:00", "2027-01-05T11:00:00");
    weekly["recurrence"] = json!(["RRULE:FREQ=WEEKLY;COUNT=3"]);
    let series = create(&app, &workspace, weekly).await;
    let series_id = id_of(&series);
    assert_eq!(series["recurrence"], json!(["RRULE:FREQ=WEEKLY;COUNT=3"]));
    assert_eq!(series["start"]["date_time"], "2027-01-05T10:00:00-05:00");
    assert_eq!(series["start"]["time_zone"], ZONE);
    assert!(
        series["recurring_event_id"].is_null(),
        "a series is no instance: {series}"
    );

    // A time with an offset and no zone comes back in UTC.
    let showing = json!({
        "summary": "Showing",
        "start": { "date_time": "2027-01-08T09:00:00-05:00" },
        "end": { "date_time": "2027-01-08T10:00:00-05:00" },
    });
    let single = create(&app, &workspace, showing).await;
    assert_eq!(single["start"]["date_time"], "2027-01-08T14:00:00Z");
    let outside = timed_event("Closing", "2027-02-10T10:00:00", "2027-02-10T11:00:00");
    create(&app, &workspace, outside).await;

    let window = [
        ("from", "2027-01-01T00:00:00Z"),
        ("to", "2027-02-01T00:00:00Z"),
    ];
    let page = list_page(&app, &workspace, &window).await;
    let expected = vec![
        format!("{series_id}_20270105T150000Z"),
        id_of(&single),
        format!("{series_id}_20270112T150000Z"),
        format!("{series_id}_20270119T150000Z"),
    ];
    assert_eq!(
        item_ids(&page),
        expected,
        "instances and the single event by start"
    );
    assert!(page["next_cursor"].is_null(), "one page: {page}");

    let items = page["items"].as_array().expect("items array");
    for (item, day) in [(&items[0], "05"), (&items[2], "12"), (&items[3], "19")] {
        assert_eq!(
            item["recurring_event_id"],
            series_id.as_str(),
            "series of {item}"
        );
        assert_eq!(item["summary"], "Team meeting");
        assert_eq!(
            item["recurrence"],
            json!([]),
            "instances carry no recurrence"
        );
        assert_eq!(
            item["start"]["date_time"],
            format!("2027-01-{day}T10:00:00-05:00")
        );
        assert_eq!(
            item["end"]["date_time"],
            format!("2027-01-{day}T11:00:00-05:00")
        );
        assert_eq!(item["start"]["time_zone"], ZONE);
    }
    assert!(
        items[1]["recurring_event_id"].is_null(),
        "single event: {}",
        items[1]
    );

    let later = [
        ("from", "2027-01-10T00:00:00-05:00"),
        ("to", "2027-02-01T00:00:00Z"),
    ];
    let page = list_page(&app, &workspace, &later).await;
    assert_eq!(
        item_ids(&page),
        expected[2..],
        "window that starts inside the series"
    );

    let response = app.get(&event_path(&workspace, &expected[2])).await;
    let instance = read_json(response, StatusCode::OK, "instance").await;
    assert_eq!(instance["recurring_event_id"], series_id.as_str());
    assert_eq!(instance["start"]["date_time"], "2027-01-12T10:00:00-05:00");
}

async fn recurring_series_crosses_dst(app: TestApp) {
    let workspace = app.onboard("acme").await;

    let mut weekly = timed_event("Office hours", "2027-03-02T10:00:00", "2027-03-02T11:00:00");
    weekly["recurrence"] = json!(["RRULE:FREQ=WEEKLY;COUNT=3"]);
    let series_id = id_of(&create(&app, &workspace, weekly).await);

    let window = [
        ("from", "2027-03-01T00:00:00Z"),
        ("to", "2027-04-01T00:00:00Z"),
    ];
    let page = list_page(&app, &workspace, &window).await;
    let expected = vec![
        format!("{series_id}_20270302T150000Z"),
        format!("{series_id}_20270309T150000Z"),
        format!("{series_id}_20270316T140000Z"),
    ];
    assert_eq!(
        item_ids(&page),
        expected,
        "10:00 local is 14:00 UTC after 14 March"
    );

    let starts: Vec<&Value> = page["items"]
        .as_array()
        .expect("items array")
        .iter()
        .map(|item| &item["start"]["date_time"])
        .collect();
    assert_eq!(starts[0], "2027-03-02T10:00:00-05:00");
    assert_eq!(starts[1], "2027-03-09T10:00:00-05:00");
    assert_eq!(starts[2], "2027-03-16T10:00:00-04:00");
}

async fn all_day_round_trip(app: TestApp) {
    let workspace = app.onboard("acme").await;

    let created = create(
        &app,
        &workspace,
        all_day_event("Open house", "2026-12-24", "2026-12-25"),
    )
    .await;
    assert_eq!(
        created["start"],
        json!({ "date": "2026-12-24" }),
        "no time or zone"
    );
    assert_eq!(
        created["end"],
        json!({ "date": "2026-12-25" }),
        "exclusive end"
    );

    let response = app.get(&event_path(&workspace, &id_of(&created))).await;
    let etag_header = response
        .headers()
        .get("etag")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let fetched = read_json(response, StatusCode::OK, "all-day event").await;
    assert_eq!(fetched["id"], created["id"]);
    assert_eq!(fetched["summary"], "Open house");
    assert_eq!(fetched["start"], json!({ "date": "2026-12-24" }));
    assert_eq!(fetched["end"], json!({ "date": "2026-12-25" }));
    assert_eq!(
        etag_header.as_deref(),
        fetched["etag"].as_str(),
        "ETag header"
    );

    let day = [
        ("from", "2026-12-24T00:00:00Z"),
        ("to", "2026-12-25T00:00:00Z"),
    ];
    assert_eq!(
        item_ids(&list_page(&app, &workspace, &day).await),
        vec![id_of(&created)]
    );
    let next_day = [
        ("from", "2026-12-25T00:00:00Z"),
        ("to", "2026-12-26T00:00:00Z"),
    ];
    let page = list_page(&app, &workspace, &next_day).await;
    assert!(
        item_ids(&page).is_empty(),
        "the end date is exclusive: {page}"
    );
}

async fn reminders_at_limits_accepted(app: TestApp) {
    let workspace = app.onboard("acme").await;

    let overrides = json!([
        { "method": "popup", "minutes": 0 },
        { "method": "popup", "minutes": 10 },
        { "method": "email", "minutes": 60 },
        { "method": "email", "minutes": 1440 },
        { "method": "email", "minutes": 40320 },
    ]);
    let mut body = timed_event(
        "Listing expires",
        "2027-01-20T09:00:00",
        "2027-01-20T09:30:00",
    );
    body["reminders"] = json!({ "use_default": false, "overrides": overrides });
    let created = create(&app, &workspace, body).await;
    assert_eq!(
        created["reminders"],
        json!({ "use_default": false, "overrides": overrides })
    );

    let response = app.get(&event_path(&workspace, &id_of(&created))).await;
    let fetched = read_json(response, StatusCode::OK, "event with reminders").await;
    assert_eq!(fetched["reminders"]["overrides"], overrides);
}

// ---- listing ----

async fn list_pages_with_cursor(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let mut created = Vec::new();
    for day in 1..=5 {
        let start = format!("2027-01-0{day}T09:00:00");
        let end = format!("2027-01-0{day}T10:00:00");
        created.push(id_of(
            &create(&app, &workspace, timed_event("Showing", &start, &end)).await,
        ));
    }

    let window = [
        ("from", "2027-01-01T00:00:00Z"),
        ("to", "2027-02-01T00:00:00Z"),
    ];
    let mut seen = Vec::new();
    let mut page_sizes = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut query = window.to_vec();
        query.push(("page_size", "2"));
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor));
        }
        let page = list_page(&app, &workspace, &query).await;
        page_sizes.push(item_ids(&page).len());
        seen.extend(item_ids(&page));

        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen, created,
        "every event once, by start, over pages {page_sizes:?}"
    );
    assert!(
        page_sizes.iter().all(|size| *size <= 2),
        "pages {page_sizes:?} hold at most 2"
    );

    let mut query = window.to_vec();
    query.push(("cursor", "garbage"));
    let problem = assert_problem(
        list(&app, &workspace, &query).await,
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    )
    .await;
    assert_eq!(problem["field"], "cursor");

    let calls = app.emulator.api_calls();
    let mut query = window.to_vec();
    query.push(("cursor", "not a cursor"));
    let problem = assert_problem(
        list(&app, &workspace, &query).await,
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    )
    .await;
    assert_eq!(problem["field"], "cursor");
    assert_eq!(
        app.emulator.api_calls(),
        calls,
        "a cursor with spaces never reaches Google"
    );
}

// ---- input problems ----

/// Query parameters of a list request, as name and value pairs.
type Query = Vec<(&'static str, &'static str)>;

/// List queries that are rejected, with the problem code and field.
fn bad_list_queries() -> Vec<(Query, &'static str, &'static str)> {
    let from = ("from", "2027-01-01T00:00:00Z");
    let to = ("to", "2027-02-01T00:00:00Z");
    vec![
        (vec![], "missing_time_window", "from"),
        (vec![to], "missing_time_window", "from"),
        (vec![from], "missing_time_window", "to"),
        (
            vec![("from", "yesterday"), to],
            "invalid_time_window",
            "from",
        ),
        (
            vec![from, ("to", "2027-02-01T00:00:00")],
            "invalid_time_window",
            "to",
        ),
        (
            vec![
                ("from", "2027-02-01T00:00:00Z"),
                ("to", "2027-01-01T00:00:00Z"),
            ],
            "invalid_time_window",
            "to",
        ),
        (
            vec![from, ("to", "2027-01-01T00:00:00Z")],
            "invalid_time_window",
            "to",
        ),
        (
            vec![from, ("to", "2028-01-03T00:00:00Z")],
            "time_window_too_large",
            "to",
        ),
        (
            vec![from, to, ("page_size", "0")],
            "invalid_page_size",
            "page_size",
        ),
        (
            vec![from, to, ("page_size", "2501")],
            "invalid_page_size",
            "page_size",
        ),
        (
            vec![from, to, ("page_size", "ten")],
            "invalid_page_size",
            "page_size",
        ),
    ]
}

/// Create bodies that are rejected, with a name, the problem code and field.
fn bad_create_bodies() -> Vec<(&'static str, Value, &'static str, &'static str)> {
    let base = || timed_event("Showing", "2027-01-05T10:00:00", "2027-01-05T11:00:00");
    let mut cases = Vec::new();

    let mut zone = base();
    zone["start"]["time_zone"] = json!("Mars/Olympus_Mons");
    cases.push(("unknown zone", zone, "invalid_time_zone", "start.time_zone"));

    let mut dtstart = base();
    dtstart["recurrence"] = json!(["DTSTART:20270105T100000", "RRULE:FREQ=WEEKLY;COUNT=3"]);
    cases.push((
        "DTSTART line",
        dtstart,
        "invalid_recurrence",
        "recurrence[0]",
    ));

    let mut six = base();
    let overrides: Vec<Value> = (1..=6)
        .map(|minutes| json!({ "method": "popup", "minutes": minutes }))
        .collect();
    six["reminders"] = json!({ "use_default": false, "overrides": overrides });
    cases.push((
        "six reminders",
        six,
        "invalid_reminders",
        "reminders.overrides",
    ));

    let mut too_early = base();
    too_early["reminders"] =
        json!({ "use_default": false, "overrides": [{ "method": "email", "minutes": 40321 }] });
    cases.push((
        "40321 minutes",
        too_early,
        "invalid_reminders",
        "reminders.overrides[0].minutes",
    ));

    let mut email = base();
    email["attendees"] = json!([{ "email": "buyer@example.com" }, { "email": "not-an-email" }]);
    cases.push(("bad attendee", email, "invalid_email", "attendees[1].email"));

    let mut twice = base();
    twice["attendees"] =
        json!([{ "email": "buyer@example.com" }, { "email": "Buyer@Example.com" }]);
    cases.push((
        "attendee twice",
        twice,
        "duplicate_attendee",
        "attendees[1].email",
    ));

    let mut no_zone = json!({
        "start": { "date_time": "2027-01-05T10:00:00-05:00" },
        "end": { "date_time": "2027-01-05T11:00:00-05:00" },
    });
    no_zone["recurrence"] = json!(["RRULE:FREQ=DAILY;COUNT=2"]);
    cases.push((
        "recurring without zone",
        no_zone,
        "missing_time_zone",
        "start.time_zone",
    ));

    let gap = timed_event("Showing", "2027-03-14T02:30:00", "2027-03-14T04:00:00");
    cases.push((
        "skipped local time",
        gap,
        "nonexistent_local_time",
        "start.date_time",
    ));

    let reversed = timed_event("Showing", "2027-01-05T11:00:00", "2027-01-05T10:00:00");
    cases.push((
        "end before start",
        reversed,
        "invalid_event_time",
        "end.date_time",
    ));

    let same_day = all_day_event("Open house", "2027-01-05", "2027-01-05");
    cases.push((
        "all-day end equals start",
        same_day,
        "invalid_event_time",
        "end.date",
    ));

    let mut cancelled = base();
    cancelled["status"] = json!("cancelled");
    cases.push(("cancelled status", cancelled, "invalid_status", "status"));
    cases
}

async fn invalid_input_rejected(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let calls = app.emulator.api_calls();

    for (query, code, field) in bad_list_queries() {
        let response = list(&app, &workspace, &query).await;
        let problem = assert_problem(response, StatusCode::BAD_REQUEST, code).await;
        assert_eq!(problem["field"], field, "field for query {query:?}");
    }

    for (name, body, code, field) in bad_create_bodies() {
        let response = app.post(&events_path(&workspace), body).await;
        let problem = assert_problem(response, StatusCode::BAD_REQUEST, code).await;
        assert_eq!(problem["field"], field, "field for {name}");
    }

    let patch = json!({ "summary": "Moved" });
    for event_id in ["abc", "wxyz12345", "ABCDEF123", "abcdef-123"] {
        let path = event_path(&workspace, event_id);
        for (method, body) in [
            (Method::GET, None),
            (Method::PATCH, Some(patch.clone())),
            (Method::DELETE, None),
        ] {
            let response = app.request(method.clone(), &path, body).await;
            let status = response.status();
            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {event_id}");
            let problem =
                assert_problem(response, StatusCode::BAD_REQUEST, "invalid_event_id").await;
            assert_eq!(problem["field"], "event_id", "{method} {event_id}");
        }
    }

    let path = event_path(&workspace, "abcdef0123456789");
    for body in [json!({}), json!({ "etag": "\"1\"" })] {
        let problem = assert_problem(
            app.patch(&path, body).await,
            StatusCode::BAD_REQUEST,
            "empty_patch",
        )
        .await;
        assert_eq!(problem["field"], "body");
    }
    assert_eq!(
        app.emulator.api_calls(),
        calls,
        "no rejected request reached Google"
    );

    // The largest window and page size are accepted.
    let limits = [
        ("from", "2027-01-01T00:00:00Z"),
        ("to", "2028-01-02T00:00:00Z"),
        ("page_size", "2500"),
    ];
    assert!(item_ids(&list_page(&app, &workspace, &limits).await).is_empty());
    assert!(
        all_event_ids(&app, &workspace).await.is_empty(),
        "nothing was created"
    );
}

// ---- deletion ----

async fn deleted_event_not_found(app: TestApp) {
    let workspace = app.onboard("acme").await;

    let unknown = event_path(&workspace, "abcdef0123456789");
    let problem = assert_problem(
        app.get(&unknown).await,
        StatusCode::NOT_FOUND,
        "event_not_found",
    )
    .await;
    assert_eq!(problem["field"], "event_id");
    let response = app.patch(&unknown, json!({ "summary": "Moved" })).await;
    assert_problem(response, StatusCode::NOT_FOUND, "event_not_found").await;
    assert_problem(
        app.delete(&unknown).await,
        StatusCode::NOT_FOUND,
        "event_not_found",
    )
    .await;

    let created = create(
        &app,
        &workspace,
        timed_event("Showing", "2027-01-05T10:00:00", "2027-01-05T11:00:00"),
    )
    .await;
    let path = event_path(&workspace, &id_of(&created));
    assert_eq!(
        app.delete(&path).await.status(),
        StatusCode::NO_CONTENT,
        "event deleted"
    );

    assert_problem(
        app.get(&path).await,
        StatusCode::NOT_FOUND,
        "event_not_found",
    )
    .await;
    assert_problem(
        app.delete(&path).await,
        StatusCode::NOT_FOUND,
        "event_not_found",
    )
    .await;
    assert!(
        all_event_ids(&app, &workspace).await.is_empty(),
        "a deleted event is not listed"
    );
}

// ---- changes ----

async fn patch_checks_etag(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let created = create(
        &app,
        &workspace,
        timed_event("Showing", "2027-01-05T10:00:00", "2027-01-05T11:00:00"),
    )
    .await;
    let path = event_path(&workspace, &id_of(&created));
    let first_etag = etag_of(&created);

    let renamed = read_json(
        app.patch(&path, json!({ "summary": "Second showing" }))
            .await,
        StatusCode::OK,
        "patch",
    )
    .await;
    let current_etag = etag_of(&renamed);
    assert_ne!(current_etag, first_etag, "a change makes a new etag");

    let stale = [("If-Match", first_etag.as_str())];
    let response = send(
        &app,
        Method::PATCH,
        &path,
        Some(json!({ "summary": "Lost" })),
        &stale,
    )
    .await;
    let problem = assert_problem(response, StatusCode::PRECONDITION_FAILED, "etag_mismatch").await;
    assert_eq!(problem["field"], "If-Match");
    let response = app
        .patch(&path, json!({ "summary": "Lost", "etag": first_etag }))
        .await;
    assert_problem(response, StatusCode::PRECONDITION_FAILED, "etag_mismatch").await;
    let response = send(
        &app,
        Method::PATCH,
        &path,
        Some(json!({ "summary": "Lost", "etag": current_etag })),
        &stale,
    )
    .await;
    assert_problem(response, StatusCode::BAD_REQUEST, "etag_conflict").await;
    let unchanged = read_json(app.get(&path).await, StatusCode::OK, "event").await;
    assert_eq!(
        unchanged["summary"], "Second showing",
        "rejected patches change nothing"
    );

    let current = [("If-Match", current_etag.as_str())];
    let response = send(
        &app,
        Method::PATCH,
        &path,
        Some(json!({ "summary": "Final showing" })),
        &current,
    )
    .await;
    let patched = read_json(response, StatusCode::OK, "patch with the current etag").await;
    assert_eq!(patched["summary"], "Final showing");
    assert_eq!(patched["start"], created["start"], "fields left out stay");

    let response = send(&app, Method::DELETE, &path, None, &stale).await;
    assert_problem(response, StatusCode::PRECONDITION_FAILED, "etag_mismatch").await;
    let latest = [("If-Match", patched["etag"].as_str().expect("etag"))];
    let response = send(&app, Method::DELETE, &path, None, &latest).await;
    assert_eq!(
        response.status(),
        StatusCode::NO_CONTENT,
        "delete with the current etag"
    );
}

async fn patch_switches_kind(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let mut body = all_day_event("Inspection", "2027-01-15", "2027-01-16");
    body["description"] = json!("Bring the keys");
    let created = create(&app, &workspace, body).await;
    let path = event_path(&workspace, &id_of(&created));

    let to_timed = json!({
        "start": { "date_time": "2027-01-15T14:00:00", "time_zone": ZONE },
        "end": { "date_time": "2027-01-15T15:00:00", "time_zone": ZONE },
    });
    let timed = read_json(
        app.patch(&path, to_timed).await,
        StatusCode::OK,
        "all-day to timed",
    )
    .await;
    assert_eq!(
        timed["start"],
        json!({ "date_time": "2027-01-15T14:00:00-05:00", "time_zone": ZONE })
    );
    assert_eq!(
        timed["end"],
        json!({ "date_time": "2027-01-15T15:00:00-05:00", "time_zone": ZONE })
    );
    assert_eq!(timed["summary"], "Inspection", "other fields stay");
    assert_eq!(timed["description"], "Bring the keys");

    let fetched = read_json(app.get(&path).await, StatusCode::OK, "timed event").await;
    assert_eq!(
        fetched["start"], timed["start"],
        "no date left on the start"
    );
    assert_eq!(fetched["end"], timed["end"]);

    let to_all_day = json!({ "start": { "date": "2027-01-16" }, "end": { "date": "2027-01-17" } });
    let all_day = read_json(
        app.patch(&path, to_all_day).await,
        StatusCode::OK,
        "timed to all-day",
    )
    .await;
    assert_eq!(all_day["start"], json!({ "date": "2027-01-16" }));
    assert_eq!(all_day["end"], json!({ "date": "2027-01-17" }));

    let response = app
        .patch(&path, json!({ "start": { "date": "2027-01-18" } }))
        .await;
    let problem = assert_problem(response, StatusCode::BAD_REQUEST, "start_end_together").await;
    assert_eq!(problem["field"], "end");
}

async fn patch_clears_description(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let mut body = timed_event("Showing", "2027-01-05T10:00:00", "2027-01-05T11:00:00");
    body["description"] = json!("Bring the keys");
    body["location"] = json!("12 Elm Street");
    let created = create(&app, &workspace, body).await;
    let path = event_path(&workspace, &id_of(&created));

    let patched = read_json(
        app.patch(&path, json!({ "description": "" })).await,
        StatusCode::OK,
        "clear",
    )
    .await;
    let cleared = |event: &Value| event["description"].as_str().unwrap_or_default().is_empty();
    assert!(cleared(&patched), "description cleared: {patched}");
    assert_eq!(patched["location"], "12 Elm Street", "location stays");
    assert_eq!(patched["summary"], "Showing", "summary stays");

    let fetched = read_json(app.get(&path).await, StatusCode::OK, "event").await;
    assert!(cleared(&fetched), "description stays cleared: {fetched}");
    assert_eq!(fetched["location"], "12 Elm Street");
}

// ---- idempotency and notifications ----

async fn idempotent_create(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let body = timed_event("Showing", "2027-01-05T10:00:00", "2027-01-05T11:00:00");
    let key = [("Idempotency-Key", "5c0d2f9e-3b7a-4e61-9f0c-showing-1")];
    let path = events_path(&workspace);

    let response = send(&app, Method::POST, &path, Some(body.clone()), &key).await;
    let first = read_json(response, StatusCode::CREATED, "first create").await;
    let response = send(&app, Method::POST, &path, Some(body.clone()), &key).await;
    let second = read_json(response, StatusCode::OK, "repeated create").await;
    assert_eq!(
        second["id"], first["id"],
        "the repeat returns the first event"
    );
    assert_eq!(
        all_event_ids(&app, &workspace).await,
        vec![id_of(&first)],
        "one event"
    );

    let other = timed_event("Closing", "2027-01-06T10:00:00", "2027-01-06T11:00:00");
    let response = send(&app, Method::POST, &path, Some(other), &key).await;
    let problem = assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(problem["field"], "Idempotency-Key");
    assert_eq!(
        all_event_ids(&app, &workspace).await,
        vec![id_of(&first)],
        "still one event"
    );

    let deleted = app.delete(&event_path(&workspace, &id_of(&first))).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT, "event deleted");
    let response = send(&app, Method::POST, &path, Some(body.clone()), &key).await;
    let problem = assert_problem(response, StatusCode::CONFLICT, "idempotency_key_reused").await;
    assert_eq!(problem["field"], "Idempotency-Key");

    let bad_key = [("Idempotency-Key", "has a space")];
    let response = send(&app, Method::POST, &path, Some(body), &bad_key).await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_idempotency_key").await;
    assert!(
        all_event_ids(&app, &workspace).await.is_empty(),
        "nothing recreated"
    );
}

async fn invalid_send_updates_rejected(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let body = timed_event("Showing", "2027-01-05T10:00:00", "2027-01-05T11:00:00");

    let response = app
        .post(
            &format!("{}?send_updates=everyone", events_path(&workspace)),
            body.clone(),
        )
        .await;
    let problem = assert_problem(response, StatusCode::BAD_REQUEST, "invalid_send_updates").await;
    assert_eq!(problem["field"], "send_updates");
    assert!(
        all_event_ids(&app, &workspace).await.is_empty(),
        "nothing created"
    );

    let response = app
        .post(
            &format!("{}?send_updates=external_only", events_path(&workspace)),
            body,
        )
        .await;
    let created = read_json(response, StatusCode::CREATED, "create with external_only").await;
    let path = event_path(&workspace, &id_of(&created));

    let response = app
        .patch(
            &format!("{path}?send_updates=bogus"),
            json!({ "summary": "Moved" }),
        )
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_send_updates").await;
    let response = app.delete(&format!("{path}?send_updates=ALL")).await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_send_updates").await;

    let fetched = read_json(app.get(&path).await, StatusCode::OK, "event").await;
    assert_eq!(
        fetched["summary"], "Showing",
        "the rejected patch and delete changed nothing"
    );
}

// ---- access ----

async fn unenrolled_user_not_found(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let body = timed_event("Showing", "2027-01-05T10:00:00", "2027-01-05T11:00:00");

    for user in [workspace.test_user.as_str(), "nobody@acme.example"] {
        let path = format!("/v1/brokerages/acme/users/{user}/events");
        let query = "from=2027-01-01T00:00:00Z&to=2027-02-01T00:00:00Z";
        let response = app.get(&format!("{path}?{query}")).await;
        assert_problem(response, StatusCode::NOT_FOUND, "user_not_found").await;
        assert_problem(
            app.post(&path, body.clone()).await,
            StatusCode::NOT_FOUND,
            "user_not_found",
        )
        .await;
        let response = app.get(&format!("{path}/abcdef0123456789")).await;
        assert_problem(response, StatusCode::NOT_FOUND, "user_not_found").await;
    }

    let response = app.delete(&workspace.agent_path()).await;
    assert!(
        response.status().is_success(),
        "agent unenrolled: {}",
        response.status()
    );
    let response = list(&app, &workspace, &WIDE_WINDOW).await;
    assert_problem(response, StatusCode::NOT_FOUND, "user_not_found").await;
}

async fn revoked_credentials_conflict(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let created = create(
        &app,
        &workspace,
        timed_event("Showing", "2027-01-05T10:00:00", "2027-01-05T11:00:00"),
    )
    .await;

    let response = app.delete("/v1/brokerages/acme/credentials").await;
    assert_eq!(
        response.status(),
        StatusCode::NO_CONTENT,
        "credentials revoked"
    );
    let calls = app.emulator.api_calls();

    let response = list(&app, &workspace, &WIDE_WINDOW).await;
    assert_problem(response, StatusCode::CONFLICT, "credentials_revoked").await;
    let response = app.get(&event_path(&workspace, &id_of(&created))).await;
    assert_problem(response, StatusCode::CONFLICT, "credentials_revoked").await;
    let body = timed_event(
        "Second showing",
        "2027-01-06T10:00:00",
        "2027-01-06T11:00:00",
    );
    let response = app.post(&events_path(&workspace), body).await;
    assert_problem(response, StatusCode::CONFLICT, "credentials_revoked").await;
    assert_eq!(
        app.emulator.api_calls(),
        calls,
        "no Google call after the revocation"
    );
}

async fn undelegated_scope_forbidden(app: TestApp) {
    let contacts_and_gmail = [ALL_SCOPES[0], ALL_SCOPES[2]];
    let workspace = app.workspace("acme", &contacts_and_gmail);
    app.create_brokerage(&workspace).await;
    app.upload_key("acme", &workspace.key_json).await;
    app.enroll("acme", &workspace.agent).await;

    let response = list(&app, &workspace, &WIDE_WINDOW).await;
    let problem =
        assert_problem(response, StatusCode::FORBIDDEN, "delegation_not_authorized").await;
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&workspace.client_id),
        "detail names the client ID: {detail}"
    );
    assert!(
        detail.contains("https://www.googleapis.com/auth/calendar"),
        "detail names the scope: {detail}"
    );

    let body = timed_event("Showing", "2027-01-05T10:00:00", "2027-01-05T11:00:00");
    let response = app.post(&events_path(&workspace), body).await;
    assert_problem(response, StatusCode::FORBIDDEN, "delegation_not_authorized").await;
}

// ---- Google failures ----

async fn rate_limit_retried(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let created = create(
        &app,
        &workspace,
        timed_event("Showing", "2027-01-05T10:00:00", "2027-01-05T11:00:00"),
    )
    .await;
    let path = event_path(&workspace, &id_of(&created));

    inject_calendar_fault(&app, &workspace, 429, 1).await;
    let fetched = read_json(app.get(&path).await, StatusCode::OK, "read after one 429").await;
    assert_eq!(fetched["id"], created["id"]);
    assert_eq!(
        pending_fault_calls(&app).await,
        0,
        "the 429 was served, so the read was retried"
    );

    inject_calendar_fault(&app, &workspace, 429, 1).await;
    assert_eq!(
        all_event_ids(&app, &workspace).await,
        vec![id_of(&created)],
        "list after one 429"
    );
    assert_eq!(pending_fault_calls(&app).await, 0, "the 429 was served");
}

async fn outage_is_bad_gateway(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let created = create(
        &app,
        &workspace,
        timed_event("Showing", "2027-01-05T10:00:00", "2027-01-05T11:00:00"),
    )
    .await;

    inject_calendar_fault(&app, &workspace, 503, 20).await;
    let response = app.get(&event_path(&workspace, &id_of(&created))).await;
    let problem = assert_problem(response, StatusCode::BAD_GATEWAY, "google_unavailable").await;
    assert!(
        problem["retry_after"].as_u64().is_some(),
        "retry_after in {problem}"
    );
    let attempts = 20 - pending_fault_calls(&app).await;
    assert!(
        (2..=5).contains(&attempts),
        "a read is retried at most 4 times, made {attempts} attempts"
    );
    clear_faults(&app).await;

    // A create without an Idempotency-Key is sent once, so it is not retried.
    inject_calendar_fault(&app, &workspace, 503, 1).await;
    let body = timed_event(
        "Second showing",
        "2027-01-06T10:00:00",
        "2027-01-06T11:00:00",
    );
    let response = app.post(&events_path(&workspace), body).await;
    assert_problem(response, StatusCode::BAD_GATEWAY, "google_unavailable").await;
    assert_eq!(
        all_event_ids(&app, &workspace).await,
        vec![id_of(&created)],
        "no event created"
    );
}
