//! API keys and tenancy: roles, brokerage scoping, unknown keys.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::db_tests;
use crate::helpers::{assert_problem, TestApp};

db_tests!(
    scoped_key_sees_only_its_brokerage,
    support_key_cannot_read_data,
    unknown_and_revoked_keys_rejected,
    lists_page_with_cursors
);

async fn scoped_key_sees_only_its_brokerage(app: TestApp) {
    let acme = app.onboard("acme").await;
    let other = app.onboard("other").await;
    let acme_key = app.api_key("service", Some("acme")).await;

    let own = app
        .request_as(
            &acme_key,
            Method::GET,
            &format!("{}/contacts", acme.agent_path()),
            None,
        )
        .await;
    assert_eq!(own.status(), StatusCode::OK);

    let attempts = [
        (Method::GET, "/v1/brokerages/other".to_owned(), None),
        (
            Method::GET,
            "/v1/brokerages/other/credentials".to_owned(),
            None,
        ),
        (Method::DELETE, "/v1/brokerages/other".to_owned(), None),
        (
            Method::DELETE,
            "/v1/brokerages/other/credentials".to_owned(),
            None,
        ),
        (
            Method::GET,
            format!("{}/contacts", other.agent_path()),
            None,
        ),
        (
            Method::POST,
            format!("{}/contacts", other.agent_path()),
            Some(json!({ "names": { "given_name": "X" } })),
        ),
        (
            Method::GET,
            format!(
                "{}/events?from=2027-01-01T00:00:00Z&to=2027-01-02T00:00:00Z",
                other.agent_path()
            ),
            None,
        ),
        (
            Method::POST,
            format!("{}/messages", other.agent_path()),
            Some(json!({ "to": [{ "email": "x@example.com" }], "subject": "s", "text_body": "t" })),
        ),
        (
            Method::PUT,
            format!("/v1/brokerages/other/users/new@{}", other.domain),
            None,
        ),
        (
            Method::PUT,
            "/v1/brokerages/other/credentials".to_owned(),
            Some(acme.key_json.clone()),
        ),
    ];
    for (method, path, body) in attempts {
        let response = app.request_as(&acme_key, method.clone(), &path, body).await;
        assert_problem(response, StatusCode::NOT_FOUND, "brokerage_not_found").await;
    }

    let listed: Value = app
        .request_as(&acme_key, Method::GET, "/v1/brokerages", None)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["acme"]);

    assert!(
        app.emulator.sent_messages(&other.agent).is_empty(),
        "nothing sent for the other brokerage"
    );
}

async fn support_key_cannot_read_data(app: TestApp) {
    let acme = app.onboard("acme").await;
    let support = app.api_key("support", None).await;

    let brokerage = app
        .request_as(
            &support,
            Method::GET,
            "/v1/brokerages/acme/credentials",
            None,
        )
        .await;
    assert_eq!(brokerage.status(), StatusCode::OK);

    let contacts = app
        .request_as(
            &support,
            Method::GET,
            &format!("{}/contacts", acme.agent_path()),
            None,
        )
        .await;
    assert_problem(contacts, StatusCode::FORBIDDEN, "forbidden").await;

    let mail = app
        .request_as(
            &support,
            Method::POST,
            &format!("{}/messages", acme.agent_path()),
            Some(json!({ "to": [{ "email": "x@example.com" }], "subject": "s", "text_body": "t" })),
        )
        .await;
    assert_problem(mail, StatusCode::FORBIDDEN, "forbidden").await;

    let keys = app
        .request_as(
            &support,
            Method::POST,
            "/v1/api-keys",
            Some(json!({ "name": "x", "role": "admin" })),
        )
        .await;
    assert_problem(keys, StatusCode::FORBIDDEN, "forbidden").await;
}

async fn unknown_and_revoked_keys_rejected(app: TestApp) {
    let response = app
        .request_as("wgw_unknown", Method::GET, "/v1/brokerages", None)
        .await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let response = app
        .client
        .get(format!("{}/v1/brokerages", app.address))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let created: Value = app
        .post("/v1/api-keys", json!({ "name": "temp", "role": "service" }))
        .await
        .json()
        .await
        .unwrap();
    let secret = created["secret"].as_str().unwrap();
    assert_eq!(
        app.request_as(secret, Method::GET, "/v1/brokerages", None)
            .await
            .status(),
        StatusCode::OK
    );

    let revoked = app
        .delete(&format!("/v1/api-keys/{}", created["id"].as_str().unwrap()))
        .await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let response = app
        .request_as(secret, Method::GET, "/v1/brokerages", None)
        .await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

/// Follows `next_cursor` from `first_path` and returns every item's `field`.
async fn collect_pages(app: &TestApp, first_path: &str, field: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut path = first_path.to_owned();
    for _ in 0..10 {
        let page: Value = app.get(&path).await.json().await.unwrap();
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 2, "page size respected: {page}");
        seen.extend(
            items
                .iter()
                .map(|item| item[field].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("{first_path}&cursor={cursor}"),
            None => return seen,
        }
    }
    panic!("more pages than items");
}

async fn lists_page_with_cursors(app: TestApp) {
    for id in ["acme", "bravo", "charlie"] {
        let workspace = app.workspace(id, &crate::helpers::ALL_SCOPES);
        app.create_brokerage(&workspace).await;
    }
    for name in ["one", "two", "three"] {
        let response = app
            .post("/v1/api-keys", json!({ "name": name, "role": "service" }))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    let brokerages = collect_pages(&app, "/v1/brokerages?page_size=2", "id").await;
    assert_eq!(brokerages, vec!["acme", "bravo", "charlie"]);

    let keys = collect_pages(&app, "/v1/api-keys?page_size=2", "name").await;
    let mut names = keys.clone();
    names.sort();
    assert_eq!(
        names,
        vec!["one", "three", "two"],
        "every key listed once: {keys:?}"
    );

    for path in [
        "/v1/brokerages?cursor=!!",
        "/v1/api-keys?cursor=garbage",
        "/v1/brokerages/acme/audit-log?cursor=garbage",
        "/v1/brokerages/acme/users?cursor=!!",
    ] {
        let problem = assert_problem(
            app.get(path).await,
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        )
        .await;
        assert_eq!(problem["field"], "cursor", "{path}");
    }

    let audit: Value = app
        .get("/v1/brokerages/acme/audit-log?page_size=1")
        .await
        .json()
        .await
        .unwrap();
    assert!(audit["items"].is_array(), "audit log is a page: {audit}");
}
