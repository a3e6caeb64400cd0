//! Calendar API: insert, validation, recurrence expansion, instance edits, deletes, paging and
//! sync tokens.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

const EVENTS_PATH: &str = "/calendar/v3/calendars/primary/events";

async fn insert(world: &TestWorld, token: &str, event: Value) -> Value {
    let (status, body) = world
        .call(Method::POST, EVENTS_PATH, Some(token), Some(event))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn weekly_viewing() -> Value {
    json!({
        "summary": "Weekly viewing",
        "start": {"dateTime": "2025-03-03T09:00:00", "timeZone": "America/New_York"},
        "end": {"dateTime": "2025-03-03T10:00:00", "timeZone": "America/New_York"},
        "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4"],
    })
}

#[tokio::test]
async fn insert_returns_event_resource() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CALENDAR_EVENTS]).await;

    let event = insert(
        &world,
        &token,
        json!({
            "summary": "Closing",
            "location": "12 Elm St",
            "start": {"dateTime": "2025-05-01T15:00:00Z"},
            "end": {"dateTime": "2025-05-01T16:00:00Z"},
            "attendees": [{"email": "client@elsewhere.example"}],
        }),
    )
    .await;

    assert_eq!(event["kind"], json!("calendar#event"));
    assert_eq!(event["status"], json!("confirmed"));
    assert_eq!(event["organizer"]["email"], json!(USER));
    assert_eq!(
        event["attendees"][0]["responseStatus"],
        json!("needsAction")
    );
    assert_eq!(event["reminders"], json!({"useDefault": true}));
    assert_eq!(event["sequence"], json!(0));
    let id = event["id"].as_str().unwrap();
    assert_eq!(event["iCalUID"], json!(format!("{id}@google.com")));
    assert!(event["etag"].as_str().unwrap().starts_with('"'));
}

#[tokio::test]
async fn end_before_start_is_time_range_empty() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CALENDAR_EVENTS]).await;

    let (status, body) = world
        .call(
            Method::POST,
            EVENTS_PATH,
            Some(&token),
            Some(json!({
                "start": {"dateTime": "2025-05-01T16:00:00Z"},
                "end": {"dateTime": "2025-05-01T15:00:00Z"},
            })),
        )
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_google_error(&body, 400, None, Some("timeRangeEmpty"));
    assert_eq!(
        body["error"]["message"],
        json!("The specified time range is empty.")
    );
}

#[tokio::test]
async fn missing_end_is_required() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CALENDAR_EVENTS]).await;

    let (status, body) = world
        .call(
            Method::POST,
            EVENTS_PATH,
            Some(&token),
            Some(json!({"start": {"date": "2025-05-01"}})),
        )
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_google_error(&body, 400, None, Some("required"));
}

#[tokio::test]
async fn calendar_needs_calendar_scope() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CONTACTS]).await;

    let (status, body) = world
        .call(Method::GET, EVENTS_PATH, Some(&token), None)
        .await;

    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_google_error(
        &body,
        403,
        Some("PERMISSION_DENIED"),
        Some("insufficientPermissions"),
    );
}

#[tokio::test]
async fn single_events_expands_recurrence_in_window() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CALENDAR_EVENTS]).await;
    let series = insert(&world, &token, weekly_viewing()).await;
    let series_id = series["id"].as_str().unwrap();
    insert(
        &world,
        &token,
        json!({
            "summary": "Open house",
            "start": {"date": "2025-03-12"},
            "end": {"date": "2025-03-13"},
        }),
    )
    .await;

    let path = format!(
        "{EVENTS_PATH}?singleEvents=true&orderBy=startTime&timeMin=2025-03-05T00:00:00Z&timeMax=2025-03-20T00:00:00Z"
    );
    let (status, body) = world.call(Method::GET, &path, Some(&token), None).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kind"], json!("calendar#events"));
    let items = body["items"].as_array().unwrap();
    let ids: Vec<&str> = items
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(ids[0], format!("{series_id}_20250310T130000Z"));
    assert_eq!(items[1]["summary"], json!("Open house"));
    assert_eq!(ids[2], format!("{series_id}_20250317T130000Z"));
    assert_eq!(items[0]["recurringEventId"], json!(series_id));
    assert_eq!(
        items[0]["start"],
        json!({"dateTime": "2025-03-10T09:00:00-04:00", "timeZone": "America/New_York"})
    );
    assert_eq!(items[0]["originalStartTime"], items[0]["start"]);
    assert!(items[0].get("recurrence").is_none());
    assert!(body["nextSyncToken"].is_string());
}

#[tokio::test]
async fn without_single_events_series_is_one_item() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CALENDAR_EVENTS]).await;
    insert(&world, &token, weekly_viewing()).await;

    let (status, body) = world
        .call(Method::GET, EVENTS_PATH, Some(&token), None)
        .await;

    assert_eq!(status, StatusCode::OK);
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["recurrence"], json!(["RRULE:FREQ=WEEKLY;COUNT=4"]));
}

#[tokio::test]
async fn order_by_start_time_requires_single_events() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CALENDAR_EVENTS]).await;

    let path = format!("{EVENTS_PATH}?orderBy=startTime");
    let (status, _) = world.call(Method::GET, &path, Some(&token), None).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn patch_instance_creates_exception() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CALENDAR_EVENTS]).await;
    let series = insert(&world, &token, weekly_viewing()).await;
    let instance_id = format!("{}_20250310T130000Z", series["id"].as_str().unwrap());

    let path = format!("{EVENTS_PATH}/{instance_id}");
    let (status, patched) = world
        .call(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"summary": "Moved viewing"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["id"], json!(instance_id));

    let list = format!("{EVENTS_PATH}?singleEvents=true&orderBy=startTime");
    let (_, body) = world.call(Method::GET, &list, Some(&token), None).await;
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[1]["summary"], json!("Moved viewing"));
    assert_eq!(items[0]["summary"], json!("Weekly viewing"));
}

#[tokio::test]
async fn delete_then_gone_or_not_found() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CALENDAR_EVENTS]).await;
    let event = insert(
        &world,
        &token,
        json!({"start": {"date": "2025-05-01"}, "end": {"date": "2025-05-02"}}),
    )
    .await;
    let path = format!("{EVENTS_PATH}/{}", event["id"].as_str().unwrap());

    let (status, _) = world.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, body) = world.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::GONE);
    assert_google_error(&body, 410, None, Some("deleted"));

    let (status, fetched) = world.call(Method::GET, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["status"], json!("cancelled"));

    let (status, body) = world
        .call(
            Method::DELETE,
            &format!("{EVENTS_PATH}/abcdefghij"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_google_error(&body, 404, None, Some("notFound"));
}

#[tokio::test]
async fn pages_then_incremental_sync() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CALENDAR_EVENTS]).await;
    let mut ids = Vec::new();
    for day in 1..=3 {
        let event = insert(
            &world,
            &token,
            json!({
                "summary": format!("Day {day}"),
                "start": {"date": format!("2025-06-0{day}")},
                "end": {"date": format!("2025-06-0{}", day + 1)},
            }),
        )
        .await;
        ids.push(event["id"].as_str().unwrap().to_string());
    }

    let (_, first) = world
        .call(
            Method::GET,
            &format!("{EVENTS_PATH}?maxResults=2"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert!(first.get("nextSyncToken").is_none());
    let page_token = first["nextPageToken"].as_str().unwrap();
    let (_, second) = world
        .call(
            Method::GET,
            &format!("{EVENTS_PATH}?maxResults=2&pageToken={page_token}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    let sync_token = second["nextSyncToken"].as_str().unwrap().to_string();

    let path = format!("{EVENTS_PATH}/{}", ids[0]);
    world.call(Method::DELETE, &path, Some(&token), None).await;
    let path = format!("{EVENTS_PATH}/{}", ids[1]);
    world
        .call(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"summary": "Renamed"})),
        )
        .await;

    let (status, changes) = world
        .call(
            Method::GET,
            &format!("{EVENTS_PATH}?syncToken={sync_token}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changes}");
    let items = changes["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{changes}");
    let cancelled = items
        .iter()
        .find(|item| item["id"] == json!(ids[0]))
        .unwrap();
    assert_eq!(cancelled["status"], json!("cancelled"));
    let renamed = items
        .iter()
        .find(|item| item["id"] == json!(ids[1]))
        .unwrap();
    assert_eq!(renamed["summary"], json!("Renamed"));
    assert_eq!(renamed["sequence"], json!(1));
}

#[tokio::test]
async fn invalid_sync_token_is_gone() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CALENDAR_EVENTS]).await;
    let (_, body) = world
        .call(Method::GET, EVENTS_PATH, Some(&token), None)
        .await;
    let sync_token = body["nextSyncToken"].as_str().unwrap().to_string();
    world.emulator.expire_sync_tokens(USER).unwrap();

    for candidate in [sync_token.as_str(), "garbage"] {
        let path = format!("{EVENTS_PATH}?syncToken={candidate}");
        let (status, body) = world.call(Method::GET, &path, Some(&token), None).await;
        assert_eq!(status, StatusCode::GONE);
        assert_google_error(&body, 410, None, Some("fullSyncRequired"));
    }
}

#[tokio::test]
async fn sync_token_with_time_min_is_rejected() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CALENDAR_EVENTS]).await;
    let (_, body) = world
        .call(Method::GET, EVENTS_PATH, Some(&token), None)
        .await;
    let sync_token = body["nextSyncToken"].as_str().unwrap();

    let path = format!("{EVENTS_PATH}?syncToken={sync_token}&timeMin=2025-01-01T00:00:00Z");
    let (status, _) = world.call(Method::GET, &path, Some(&token), None).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn other_calendar_is_not_found() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CALENDAR_EVENTS]).await;

    let path = format!("/calendar/v3/calendars/{OTHER_USER}/events");
    let (status, _) = world.call(Method::GET, &path, Some(&token), None).await;

    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn if_match_mismatch_is_precondition_failed() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CALENDAR_EVENTS]).await;
    let event = insert(
        &world,
        &token,
        json!({"start": {"date": "2025-05-01"}, "end": {"date": "2025-05-02"}}),
    )
    .await;
    let url = format!(
        "{}{EVENTS_PATH}/{}",
        world.emulator.base_url(),
        event["id"].as_str().unwrap()
    );

    let response = world
        .http
        .patch(url)
        .bearer_auth(&token)
        .header("if-match", "\"1\"")
        .json(&json!({"summary": "x"}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
}
