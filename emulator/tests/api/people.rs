//! People API: contact CRUD, etags, field masks, paging and sync tokens.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

fn jane() -> Value {
    json!({
        "names": [{"givenName": "Jane", "familyName": "Doe"}],
        "emailAddresses": [{"value": "jane@client.example", "type": "work"}],
        "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}],
        "biographies": [{"value": "Met at the open house."}],
    })
}

async fn create(world: &TestWorld, token: &str, person: Value) -> Value {
    let (status, body) = world
        .call(
            Method::POST,
            "/v1/people:createContact",
            Some(token),
            Some(person),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn create_then_get_contact() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CONTACTS]).await;

    let created = create(&world, &token, jane()).await;
    let resource_name = created["resourceName"].as_str().unwrap();
    assert!(resource_name.starts_with("people/c"), "{resource_name}");
    assert!(resource_name[8..].chars().all(|c| c.is_ascii_digit()));
    assert_eq!(created["names"][0]["displayName"], json!("Jane Doe"));
    assert_eq!(created["metadata"]["sources"][0]["type"], json!("CONTACT"));

    let path = format!(
        "/{}/{}?personFields=names,emailAddresses",
        "v1", resource_name
    );
    let (status, fetched) = world.call(Method::GET, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{fetched}");
    assert_eq!(fetched["etag"], created["etag"]);
    assert_eq!(
        fetched["emailAddresses"][0]["value"],
        json!("jane@client.example")
    );
    assert!(
        fetched.get("phoneNumbers").is_none(),
        "mask limits fields: {fetched}"
    );
}

#[tokio::test]
async fn person_fields_required() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CONTACTS_READONLY]).await;

    let (status, body) = world
        .call(Method::GET, "/v1/people/me/connections", Some(&token), None)
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_google_error(&body, 400, Some("INVALID_ARGUMENT"), None);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("personFields mask is required"));
}

#[tokio::test]
async fn readonly_scope_cannot_write() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CONTACTS_READONLY]).await;

    let (status, body) = world
        .call(
            Method::POST,
            "/v1/people:createContact",
            Some(&token),
            Some(jane()),
        )
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
async fn update_with_etag_changes_listed_fields_only() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CONTACTS]).await;
    let created = create(&world, &token, jane()).await;
    let name = created["resourceName"].as_str().unwrap();

    let update = json!({
        "etag": created["etag"],
        "names": [{"givenName": "Janet", "familyName": "Doe"}],
        "phoneNumbers": [],
    });
    let path = format!("/v1/{name}:updateContact?updatePersonFields=names");
    let (status, updated) = world
        .call(Method::PATCH, &path, Some(&token), Some(update))
        .await;

    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["names"][0]["givenName"], json!("Janet"));
    assert_eq!(updated["phoneNumbers"][0]["value"], json!("+1 555 0100"));
    assert_ne!(updated["etag"], created["etag"]);
}

#[tokio::test]
async fn stale_etag_is_failed_precondition() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CONTACTS]).await;
    let created = create(&world, &token, jane()).await;
    let name = created["resourceName"].as_str().unwrap();
    let path = format!("/v1/{name}:updateContact?updatePersonFields=biographies");
    let first = json!({"etag": created["etag"], "biographies": [{"value": "first"}]});
    let (status, _) = world
        .call(Method::PATCH, &path, Some(&token), Some(first))
        .await;
    assert_eq!(status, StatusCode::OK);

    let second = json!({"etag": created["etag"], "biographies": [{"value": "second"}]});
    let (status, body) = world
        .call(Method::PATCH, &path, Some(&token), Some(second))
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_google_error(&body, 400, Some("FAILED_PRECONDITION"), None);
}

#[tokio::test]
async fn update_without_mask_or_etag_is_rejected() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CONTACTS]).await;
    let created = create(&world, &token, jane()).await;
    let name = created["resourceName"].as_str().unwrap();

    let no_mask = format!("/v1/{name}:updateContact");
    let (status, body) = world
        .call(
            Method::PATCH,
            &no_mask,
            Some(&token),
            Some(json!({"etag": created["etag"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_google_error(&body, 400, Some("INVALID_ARGUMENT"), None);

    let no_etag = format!("/v1/{name}:updateContact?updatePersonFields=names");
    let (status, body) = world
        .call(
            Method::PATCH,
            &no_etag,
            Some(&token),
            Some(json!({"names": []})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_google_error(&body, 400, Some("INVALID_ARGUMENT"), None);
}

#[tokio::test]
async fn delete_then_get_is_not_found() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CONTACTS]).await;
    let created = create(&world, &token, jane()).await;
    let name = created["resourceName"].as_str().unwrap();

    let (status, body) = world
        .call(
            Method::DELETE,
            &format!("/v1/{name}:deleteContact"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({}));

    let (status, body) = world
        .call(
            Method::GET,
            &format!("/v1/{name}?personFields=names"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_google_error(&body, 404, Some("NOT_FOUND"), None);
}

#[tokio::test]
async fn unknown_field_in_body_is_invalid_argument() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CONTACTS]).await;

    let (status, body) = world
        .call(
            Method::POST,
            "/v1/people:createContact",
            Some(&token),
            Some(json!({"nickName": "J"})),
        )
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_google_error(&body, 400, Some("INVALID_ARGUMENT"), None);
}

#[tokio::test]
async fn list_pages_and_incremental_sync() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CONTACTS]).await;
    let mut names = Vec::new();
    for index in 0..5 {
        let person = json!({"names": [{"givenName": format!("Person{index}")}]});
        let created = create(&world, &token, person).await;
        names.push(created["resourceName"].as_str().unwrap().to_string());
    }

    let mut seen = Vec::new();
    let mut page_token: Option<String> = None;
    let sync_token = loop {
        let mut path =
            "/v1/people/me/connections?personFields=names&pageSize=2&requestSyncToken=true"
                .to_string();
        if let Some(token) = &page_token {
            path.push_str(&format!("&pageToken={token}"));
        }
        let (status, body) = world.call(Method::GET, &path, Some(&token), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["totalPeople"], json!(5));
        for person in body["connections"].as_array().unwrap() {
            seen.push(person["resourceName"].as_str().unwrap().to_string());
        }
        match body["nextPageToken"].as_str() {
            Some(next) => {
                assert!(
                    body.get("nextSyncToken").is_none(),
                    "sync token only on the last page"
                );
                page_token = Some(next.to_string());
            }
            None => break body["nextSyncToken"].as_str().unwrap().to_string(),
        }
    };
    assert_eq!(seen, names);

    let deleted = &names[1];
    let (status, _) = world
        .call(
            Method::DELETE,
            &format!("/v1/{deleted}:deleteContact"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    create(
        &world,
        &token,
        json!({"names": [{"givenName": "Newcomer"}]}),
    )
    .await;

    let path = format!(
        "/v1/people/me/connections?personFields=names&requestSyncToken=true&syncToken={sync_token}"
    );
    let (status, body) = world.call(Method::GET, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let changes = body["connections"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{body}");
    assert_eq!(changes[0]["resourceName"], json!(deleted));
    assert_eq!(changes[0]["metadata"]["deleted"], json!(true));
    assert_eq!(changes[1]["names"][0]["givenName"], json!("Newcomer"));
    assert!(body["nextSyncToken"].is_string());
}

#[tokio::test]
async fn expired_sync_token_is_failed_precondition() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CONTACTS]).await;
    let path = "/v1/people/me/connections?personFields=names&requestSyncToken=true";
    let (_, body) = world.call(Method::GET, path, Some(&token), None).await;
    let sync_token = body["nextSyncToken"].as_str().unwrap().to_string();
    world.emulator.expire_sync_tokens(USER).unwrap();

    let path = format!("{path}&syncToken={sync_token}");
    let (status, body) = world.call(Method::GET, &path, Some(&token), None).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_google_error(&body, 400, Some("FAILED_PRECONDITION"), None);
    assert_eq!(
        body["error"]["details"][0]["reason"],
        json!("EXPIRED_SYNC_TOKEN")
    );
}

#[tokio::test]
async fn contacts_are_per_user() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[CONTACTS]).await;
    create(&world, &token, jane()).await;
    let other = world.token(OTHER_USER, &[CONTACTS]).await;

    let (status, body) = world
        .call(
            Method::GET,
            "/v1/people/me/connections?personFields=names",
            Some(&other),
            None,
        )
        .await;

    assert_eq!(status, StatusCode::OK);
    assert!(body.get("connections").is_none(), "{body}");
    assert_eq!(body["totalPeople"], json!(0));
}
