//! Control API over HTTP: setup, seeding, faults, clock, sent mail and stats.

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use workspace_emulator::Emulator;

use crate::helpers::*;

async fn control(
    http: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = http.request(method, format!("{base}{path}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("control request");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn setup_through_http_yields_working_key() {
    let emulator = Emulator::start().await.unwrap();
    let base = emulator.base_url();
    let http = reqwest::Client::new();

    let (status, _) = control(
        &http,
        &base,
        Method::POST,
        "/emulator/domains",
        Some(json!({"domain": "brokerage.example", "users": ["a@brokerage.example"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = control(
        &http,
        &base,
        Method::POST,
        "/emulator/domains/brokerage.example/users",
        Some(json!({"email": "b@brokerage.example"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, account) = control(
        &http,
        &base,
        Method::POST,
        "/emulator/service-accounts",
        Some(json!({"project_id": "demo"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let key = &account["key"];
    for field in [
        "type",
        "project_id",
        "private_key_id",
        "private_key",
        "client_email",
        "client_id",
        "auth_uri",
        "token_uri",
        "auth_provider_x509_cert_url",
        "client_x509_cert_url",
        "universe_domain",
    ] {
        assert!(
            key[field].is_string(),
            "key file lacks {field}: {}",
            key["client_email"]
        );
    }
    assert_eq!(key["type"], json!("service_account"));
    assert_eq!(key["token_uri"], json!(emulator.token_uri()));
    let client_id = key["client_id"].as_str().unwrap();
    assert_eq!(client_id.len(), 21);
    assert!(client_id.chars().all(|c| c.is_ascii_digit()));
    assert!(key["private_key"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----\n"));

    let path = format!("/emulator/domains/brokerage.example/delegations/{client_id}");
    let (status, _) = control(
        &http,
        &base,
        Method::PUT,
        &path,
        Some(json!({"scopes": [CONTACTS]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: Some("b@brokerage.example"),
        scope: CONTACTS,
        iat: now,
        exp: now + 3600,
        aud: emulator.token_uri(),
    };
    let assertion = sign_with_pem(
        key["private_key"].as_str().unwrap(),
        key["client_email"].as_str().unwrap(),
        &claims,
    );
    let response = http
        .post(emulator.token_uri())
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let (status, _) = control(&http, &base, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn unknown_user_in_control_api_is_problem_json() {
    let emulator = Emulator::start().await.unwrap();
    let http = reqwest::Client::new();

    let response = http
        .patch(format!(
            "{}/emulator/users/ghost@nowhere.example",
            emulator.base_url()
        ))
        .json(&json!({"suspended": true}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], json!("not_found"));
}

#[tokio::test]
async fn injected_rate_limit_then_recovery() {
    let world = setup(ALL_SCOPES).await;
    let base = world.emulator.base_url();
    let token = world.token(USER, &[CONTACTS]).await;
    let (status, _) = control(
        &world.http,
        &base,
        Method::POST,
        "/emulator/faults",
        Some(json!({"user": USER, "api": "people", "status": 429, "times": 2, "retry_after": 2})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let url = format!("{base}/v1/people/me/connections?personFields=names");

    for _ in 0..2 {
        let response = world
            .http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "2");
        let body: Value = response.json().await.unwrap();
        assert_google_error(
            &body,
            429,
            Some("RESOURCE_EXHAUSTED"),
            Some("rateLimitExceeded"),
        );
    }
    let response = world
        .http
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn injected_fault_matches_api_and_user() {
    let world = setup(ALL_SCOPES).await;
    let base = world.emulator.base_url();
    control(
        &world.http,
        &base,
        Method::POST,
        "/emulator/faults",
        Some(json!({"user": USER, "api": "calendar", "status": 503})),
    )
    .await;
    let other = world.token(OTHER_USER, &[CALENDAR_EVENTS]).await;
    let token = world.token(USER, &[CALENDAR_EVENTS, CONTACTS]).await;
    let events = "/calendar/v3/calendars/primary/events";

    let (status, _) = world.call(Method::GET, events, Some(&other), None).await;
    assert_eq!(status, StatusCode::OK, "another user is not affected");
    let (status, _) = world
        .call(
            Method::GET,
            "/v1/people/me/connections?personFields=names",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "another API is not affected");
    let (status, body) = world.call(Method::GET, events, Some(&token), None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_google_error(&body, 503, Some("UNAVAILABLE"), Some("backendError"));
}

#[tokio::test]
async fn invalid_fault_is_rejected() {
    let world = setup(ALL_SCOPES).await;

    let (status, body) = control(
        &world.http,
        &world.emulator.base_url(),
        Method::POST,
        "/emulator/faults",
        Some(json!({"api": "drive", "status": 429})),
    )
    .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], json!("invalid_request"));
}

#[tokio::test]
async fn api_switch_and_clock_over_http() {
    let world = setup(ALL_SCOPES).await;
    let base = world.emulator.base_url();
    let token = world.token(USER, &[CONTACTS]).await;

    let path = format!("/emulator/projects/{PROJECT}/apis/people.googleapis.com");
    let (status, switched) = control(
        &world.http,
        &base,
        Method::PUT,
        &path,
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let number = switched["project_number"].as_str().unwrap().to_string();
    let (status, body) = world
        .call(
            Method::GET,
            "/v1/people/me/connections?personFields=names",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "People API has not been used in project {number} before or it is disabled."
        )),
        "{message}"
    );

    let (status, clock) = control(
        &world.http,
        &base,
        Method::PUT,
        "/emulator/clock",
        Some(json!({"offset_seconds": -900})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(clock["offset_seconds"], json!(-900));
    let (status, body) = world
        .exchange(&world.sign(&world.claims(USER, CONTACTS)))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "an iat 15 minutes ahead of the emulator is rejected: {body}"
    );
}

#[tokio::test]
async fn seeded_data_is_visible_through_apis() {
    let world = setup(ALL_SCOPES).await;
    let base = world.emulator.base_url();
    let (status, person) = control(
        &world.http,
        &base,
        Method::POST,
        &format!("/emulator/users/{USER}/contacts"),
        Some(json!({"names": [{"givenName": "Seeded"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{person}");
    let (status, event) = control(
        &world.http,
        &base,
        Method::POST,
        &format!("/emulator/users/{USER}/events"),
        Some(json!({"summary": "Seeded", "start": {"date": "2025-01-01"}, "end": {"date": "2025-01-02"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{event}");

    let token = world.token(USER, &[CONTACTS, CALENDAR_EVENTS]).await;
    let (_, contacts) = world
        .call(
            Method::GET,
            "/v1/people/me/connections?personFields=names",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        contacts["connections"][0]["resourceName"],
        person["resourceName"]
    );
    let (_, events) = world
        .call(
            Method::GET,
            "/calendar/v3/calendars/primary/events",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(events["items"][0]["id"], event["id"]);
}

#[tokio::test]
async fn sent_listing_and_stats() {
    let world = setup(ALL_SCOPES).await;
    let base = world.emulator.base_url();
    let token = world.token(USER, &[GMAIL_SEND]).await;
    let raw = "To: c@x.example\r\nSubject: Files\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached\r\n--b\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=\"list.csv\"\r\n\r\na,b\r\n--b--\r\n";
    world
        .call(
            Method::POST,
            "/gmail/v1/users/me/messages/send",
            Some(&token),
            Some(json!({"raw": URL_SAFE.encode(raw)})),
        )
        .await;

    let (status, sent) = control(
        &world.http,
        &base,
        Method::GET,
        &format!("/emulator/users/{USER}/sent"),
        None,
    )
    .await;

    assert_eq!(status, StatusCode::OK);
    let message = &sent["messages"][0];
    assert_eq!(message["parsed"]["subject"], json!("Files"));
    assert_eq!(message["parsed"]["to"], json!(["c@x.example"]));
    let attachment = &message["parsed"]["attachments"][0];
    assert_eq!(attachment["filename"], json!("list.csv"));
    assert_eq!(attachment["content_type"], json!("text/csv"));
    assert_eq!(
        STANDARD
            .decode(attachment["data_base64"].as_str().unwrap())
            .unwrap(),
        b"a,b"
    );

    let (_, stats) = control(&world.http, &base, Method::GET, "/emulator/stats", None).await;
    assert_eq!(stats["token_exchanges"], json!(1));
    assert_eq!(stats["api_calls"], json!(1));
}
