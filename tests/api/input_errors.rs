//! Bad input: each case gets a 4xx problem with a stable code and stores nothing.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::db_tests;
use crate::helpers::{assert_problem, TestApp};

db_tests!(
    http_errors_are_problems,
    bad_keys_are_rejected,
    unknown_brokerage_is_404,
    users_outside_domains_rejected,
    malformed_json_rejected,
    invalid_brokerage_fields_rejected
);

/// Key files of every wrong kind, each with the code it must produce.
fn bad_key_files(good: &Value) -> Vec<(&'static str, Value, &'static str)> {
    let pem = good["private_key"].as_str().unwrap().to_owned();
    let mut cases = Vec::new();

    cases.push(("OAuth installed client", json!({ "installed": { "client_id": "123.apps.googleusercontent.com", "client_secret": "x" } }), "oauth_client_file"));
    cases.push((
        "OAuth web client",
        json!({ "web": { "client_id": "123.apps.googleusercontent.com" } }),
        "oauth_client_file",
    ));
    cases.push(("user credential", json!({ "type": "authorized_user", "client_id": "1", "client_secret": "x", "refresh_token": "y" }), "authorized_user_file"));

    let mut api_key = good.clone();
    api_key["private_key"] = json!("AIzaSyD-0123456789abcdefghijklmnopqrstu");
    cases.push(("API key as private key", api_key, "api_key_not_private_key"));

    let mut garbage = good.clone();
    garbage["private_key"] = json!("not a key at all");
    cases.push(("text as private key", garbage, "invalid_private_key"));

    let mut truncated = good.clone();
    truncated["private_key"] =
        json!(pem[..pem.len() / 2].to_owned() + "\n-----END PRIVATE KEY-----\n");
    cases.push(("truncated private key", truncated, "invalid_private_key"));

    for field in ["client_email", "client_id", "private_key_id", "token_uri"] {
        let mut missing = good.clone();
        missing.as_object_mut().unwrap().remove(field);
        cases.push(("missing field", missing, "invalid_key_file"));
    }

    let mut wrong_type = good.clone();
    wrong_type["type"] = json!("user");
    cases.push(("wrong type", wrong_type, "invalid_key_file"));

    let mut foreign_endpoint = good.clone();
    foreign_endpoint["token_uri"] = json!("http://10.0.0.1/internal/token");
    cases.push((
        "token endpoint outside the allowlist",
        foreign_endpoint,
        "token_uri_not_allowed",
    ));

    let mut not_numeric = good.clone();
    not_numeric["client_id"] = json!("abc");
    cases.push(("non-numeric client ID", not_numeric, "invalid_key_file"));

    cases.push(("not an object", json!(["a"]), "invalid_key_file"));
    cases
}

async fn bad_keys_are_rejected(app: TestApp) {
    let workspace = app.workspace("acme", &crate::helpers::ALL_SCOPES);
    app.create_brokerage(&workspace).await;

    for (name, body, code) in bad_key_files(&workspace.key_json) {
        let response = app.put("/v1/brokerages/acme/credentials", body).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, code).await;
        assert!(
            problem["detail"].as_str().unwrap().len() > 20,
            "{name}: detail explains the fix"
        );
    }

    let credentials: Value = app
        .get("/v1/brokerages/acme/credentials")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        credentials["active"].is_null(),
        "nothing stored: {credentials}"
    );
    assert_eq!(credentials["credential_status"], "none");
}

async fn unknown_brokerage_is_404(app: TestApp) {
    for (method, path) in [
        (Method::GET, "/v1/brokerages/nobody"),
        (Method::GET, "/v1/brokerages/nobody/credentials"),
        (
            Method::PUT,
            "/v1/brokerages/nobody/users/agent@nobody.example",
        ),
        (
            Method::GET,
            "/v1/brokerages/nobody/users/agent@nobody.example/contacts",
        ),
        (Method::DELETE, "/v1/brokerages/nobody"),
    ] {
        let response = app.request(method, path, None).await;
        assert_problem(response, StatusCode::NOT_FOUND, "brokerage_not_found").await;
    }

    let response = app
        .put(
            "/v1/brokerages/nobody/credentials",
            json!({ "type": "service_account" }),
        )
        .await;
    assert_problem(response, StatusCode::NOT_FOUND, "brokerage_not_found").await;
}

async fn users_outside_domains_rejected(app: TestApp) {
    let workspace = app.onboard("acme").await;

    let response = app
        .request(
            Method::PUT,
            "/v1/brokerages/acme/users/agent@other-brokerage.example",
            None,
        )
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST, "user_outside_domains").await;

    let response = app
        .request(
            Method::PUT,
            "/v1/brokerages/acme/users/not-an-address",
            None,
        )
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_email").await;

    let response = app
        .get("/v1/brokerages/acme/users/other@acme.example/contacts")
        .await;
    assert_problem(response, StatusCode::NOT_FOUND, "user_not_found").await;

    let users: Value = app
        .get("/v1/brokerages/acme/users")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        users["items"].as_array().unwrap().len(),
        1,
        "only the agent is enrolled: {users}"
    );
    assert_eq!(users["items"][0]["email"], workspace.agent.as_str());
}

async fn malformed_json_rejected(app: TestApp) {
    let response = app
        .client
        .put(format!("{}/v1/brokerages/acme", app.address))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/json")
        .body("{\"display_name\": ")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST, "malformed_json").await;

    let response = app
        .put("/v1/brokerages/acme", json!({ "display_name": 5 }))
        .await;
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;

    assert_problem(
        app.get("/v1/brokerages/acme").await,
        StatusCode::NOT_FOUND,
        "brokerage_not_found",
    )
    .await;
}

async fn invalid_brokerage_fields_rejected(app: TestApp) {
    let cases = [
        (
            "/v1/brokerages/Bad_Id",
            json!({ "display_name": "A", "domains": ["a.example"], "test_user": "t@a.example" }),
            "invalid_brokerage_id",
        ),
        (
            "/v1/brokerages/acme",
            json!({ "display_name": " ", "domains": ["a.example"], "test_user": "t@a.example" }),
            "invalid_display_name",
        ),
        (
            "/v1/brokerages/acme",
            json!({ "display_name": "A", "domains": [], "test_user": "t@a.example" }),
            "invalid_domains",
        ),
        (
            "/v1/brokerages/acme",
            json!({ "display_name": "A", "domains": ["not a domain"], "test_user": "t@a.example" }),
            "invalid_domains",
        ),
        (
            "/v1/brokerages/acme",
            json!({ "display_name": "A", "domains": ["a.example"], "test_user": "t@b.example" }),
            "user_outside_domains",
        ),
        (
            "/v1/brokerages/acme",
            json!({ "display_name": "A", "domains": ["a.example"], "test_user": "t@a.example", "contacts_scope": "https://example.com/scope" }),
            "invalid_contacts_scope",
        ),
    ];
    for (path, body, code) in cases {
        assert_problem(app.put(path, body).await, StatusCode::BAD_REQUEST, code).await;
    }

    let listed: Value = app.get("/v1/brokerages").await.json().await.unwrap();
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        0,
        "nothing stored: {listed}"
    );
}

async fn http_errors_are_problems(app: TestApp) {
    let problem = assert_problem(
        app.get("/v1/brokerages?page_size=abc").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    assert_eq!(problem["field"], "page_size");

    let response = app
        .request(Method::POST, "/v1/brokerages", Some(json!({})))
        .await;
    assert!(
        response.headers().contains_key("allow"),
        "405 keeps the Allow header"
    );
    assert_problem(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;

    assert_problem(
        app.get("/no/such/route").await,
        StatusCode::NOT_FOUND,
        "route_not_found",
    )
    .await;

    let response = app
        .client
        .get(format!("{}/v1/brokerages", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .and_then(|value| value.to_str().ok()),
        Some("Bearer")
    );
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let lowercase = app
        .client
        .get(format!("{}/v1/brokerages", app.address))
        .header("authorization", format!("bearer {}", app.admin_key))
        .send()
        .await
        .unwrap();
    assert_eq!(
        lowercase.status(),
        StatusCode::OK,
        "the bearer scheme is case-insensitive"
    );

    let long_name = "x".repeat(2_000_000);
    let response = app
        .put("/v1/brokerages/acme", json!({ "display_name": long_name, "domains": ["acme.example"], "test_user": "t@acme.example" }))
        .await;
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;

    let too_large = app
        .client
        .put(format!("{}/v1/brokerages/acme", app.address))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/json")
        .header("content-length", "60000000")
        .body(vec![b' '; 1024])
        .send()
        .await;
    if let Ok(response) = too_large {
        assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;
    }
}
