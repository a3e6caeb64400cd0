//! No private key, access token or API key appears in a response, a log line
//! or a database column in clear.

use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::{Column, Row};

use crate::db_tests;
use crate::helpers::{captured_logs, TestApp};

db_tests!(secrets_never_leak);

/// Returns the base64 lines of a PEM private key, its distinctive middle.
fn pem_fragments(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|line| !line.starts_with("-----") && line.len() >= 40)
        .map(str::to_owned)
        .collect()
}

async fn dump_database(app: &TestApp) -> String {
    let mut dump = String::new();
    for table in [
        "brokerages",
        "credentials",
        "users",
        "api_keys",
        "messages",
        "contact_creations",
        "verifications",
        "audit_log",
    ] {
        let rows = sqlx::query(&format!("SELECT * FROM {table}"))
            .fetch_all(app.state.db.pool())
            .await
            .expect("table reads");
        for row in rows {
            for column in row.columns() {
                let index = column.ordinal();
                if let Ok(Some(text)) = row.try_get::<Option<String>, _>(index) {
                    dump.push_str(&text);
                } else if let Ok(Some(bytes)) = row.try_get::<Option<Vec<u8>>, _>(index) {
                    dump.push_str(&String::from_utf8_lossy(&bytes));
                }
                dump.push('\n');
            }
        }
    }
    dump
}

async fn secrets_never_leak(app: TestApp) {
    let mut responses = String::new();
    let workspace = app.onboard("acme").await;
    let agent = workspace.agent_path();

    let service_key = app.api_key("service", Some("acme")).await;
    for (method, path, body) in [
        (Method::GET, format!("{agent}/contacts"), None),
        (
            Method::GET,
            format!("{agent}/events?from=2027-01-01T00:00:00Z&to=2027-02-01T00:00:00Z"),
            None,
        ),
        (
            Method::POST,
            format!("{agent}/messages"),
            Some(
                json!({ "to": [{ "email": "buyer@example.com" }], "subject": "Hello", "text_body": "Hi" }),
            ),
        ),
        (
            Method::GET,
            "/v1/brokerages/acme/credentials".to_owned(),
            None,
        ),
        (Method::GET, "/v1/api-keys".to_owned(), None),
        (
            Method::GET,
            "/v1/brokerages/acme/audit-log".to_owned(),
            None,
        ),
    ] {
        let response = app.request(method, &path, body).await;
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        responses.push_str(&response.text().await.unwrap());
    }

    // A wrong key upload echoes nothing of the key either.
    let mut bad = workspace.key_json.clone();
    bad["type"] = json!("something_else");
    let rejected = app.put("/v1/brokerages/acme/credentials", bad).await;
    assert_eq!(rejected.status(), StatusCode::UNPROCESSABLE_ENTITY);
    responses.push_str(&rejected.text().await.unwrap());

    let key = workspace_gateway::credentials::active_key(&app.state, "acme")
        .await
        .expect("active key");
    let access_token = app
        .state
        .google
        .tokens()
        .token(
            &key,
            &workspace.agent,
            "https://www.googleapis.com/auth/contacts",
        )
        .await
        .expect("cached access token");
    let access_token = secrecy::ExposeSecret::expose_secret(access_token.secret()).to_owned();
    assert!(access_token.len() > 10);

    let mut secrets = pem_fragments(&workspace.private_key_pem);
    assert!(!secrets.is_empty());
    secrets.push(access_token);
    secrets.push(app.admin_key.clone());
    secrets.push(service_key);

    let database = dump_database(&app).await;
    let logs = captured_logs();
    for secret in &secrets {
        let shown = &secret[..8.min(secret.len())];
        assert!(
            !responses.contains(secret.as_str()),
            "a response contains the secret starting {shown}"
        );
        assert!(
            !database.contains(secret.as_str()),
            "the database contains the secret starting {shown}"
        );
        assert!(
            !logs.contains(secret.as_str()),
            "the logs contain the secret starting {shown}"
        );
    }
}
