//! Contacts over HTTP: the create, read, list, update and delete round trip,
//! cursor paging, etags on PATCH, input problems, the problems that missing
//! delegation and Google failures map to, API key scoping, and creates with an
//! `Idempotency-Key`.

use std::collections::HashSet;

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::db_tests;
use crate::helpers::{assert_problem, TestApp, Workspace, ALL_SCOPES};

db_tests!(
    contact_round_trip,
    list_pages_with_cursor,
    patch_checks_etag,
    patch_clears_fields,
    invalid_input_rejected,
    unknown_field_rejected,
    legacy_scope_not_delegated,
    unknown_google_user,
    people_api_disabled,
    rate_limited_list_retried,
    rate_limited_create_fails,
    outage_create_not_retried,
    other_brokerage_key_not_found,
    support_key_forbidden,
    keyed_create_replayed,
    keyed_create_other_body_rejected,
    keyed_concurrent_creates_once,
    keyed_create_after_outage,
    keyed_create_found_after_outage,
    keyed_create_after_rate_limit,
    invalid_idempotency_key_rejected,
);

/// The legacy Contacts API scope that a brokerage may have authorized instead
/// of the People API scope.
const CONTACTS_LEGACY: &str = "https://www.google.com/m8/feeds";

/// Maximum number of pages read while following cursors.
const MAX_PAGES: usize = 10;

// ---- helpers ----

/// Sends a request with `key` and extra headers.
async fn send(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Response {
    let url = format!("{}{path}", app.address);
    let mut request = app.client.request(method, url).bearer_auth(key);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request reaches the gateway")
}

/// Reads a JSON body after checking the status. `request` names the request
/// in the failure message.
async fn read_json(response: Response, expected: StatusCode, request: &str) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, expected, "{request}: {body}");
    body
}

fn contacts_path(workspace: &Workspace) -> String {
    format!("{}/contacts", workspace.agent_path())
}

fn contact_path(workspace: &Workspace, contact_id: &str) -> String {
    format!("{}/contacts/{contact_id}", workspace.agent_path())
}

/// Sends PATCH with the admin key and, when given, an `If-Match` header.
async fn patch(app: &TestApp, path: &str, body: Value, if_match: Option<&str>) -> Response {
    let headers: Vec<(&str, &str)> = if_match
        .map(|value| ("if-match", value))
        .into_iter()
        .collect();
    send(
        app,
        &app.admin_key,
        Method::PATCH,
        path,
        Some(body),
        &headers,
    )
    .await
}

/// Creates a contact for the agent and checks for 201.
async fn create(app: &TestApp, workspace: &Workspace, body: Value) -> Value {
    let response = app.post(&contacts_path(workspace), body).await;
    read_json(response, StatusCode::CREATED, "contact created").await
}

/// Lists one page. The query pairs are URL-encoded.
async fn list_page(app: &TestApp, workspace: &Workspace, query: &[(&str, &str)]) -> Value {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    let response = app
        .get(&format!("{}?{query}", contacts_path(workspace)))
        .await;
    read_json(response, StatusCode::OK, "contact list").await
}

/// Ids of the contacts on a page, in page order.
fn item_ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items array")
        .iter()
        .map(id_of)
        .collect()
}

/// Ids of the agent's contacts on the first page of 100.
async fn all_contact_ids(app: &TestApp, workspace: &Workspace) -> Vec<String> {
    item_ids(&list_page(app, workspace, &[]).await)
}

fn id_of(contact: &Value) -> String {
    contact["id"].as_str().expect("contact id").to_owned()
}

fn etag_of(contact: &Value) -> String {
    contact["etag"].as_str().expect("contact etag").to_owned()
}

fn header_of(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// Builds a contact body with every field the API has.
fn full_contact() -> Value {
    json!({
        "names": {
            "given_name": "Jane",
            "middle_name": "Quinn",
            "family_name": "Buyer",
            "display_name": "Jane Q. Buyer",
        },
        "email_addresses": [
            { "value": "jane.buyer@example.com", "type": "home" },
            { "value": "jane@buyer-corp.example", "type": "work" },
        ],
        "phone_numbers": [
            { "value": "+1 415-555-0100", "type": "mobile" },
            { "value": "(510) 555-0199", "type": "work" },
        ],
        "postal_addresses": [{
            "street_address": "1 Main St",
            "city": "Oakland",
            "region": "CA",
            "postal_code": "94607",
            "country": "United States",
            "type": "home",
        }],
        "organizations": [{ "name": "Buyer Corp", "title": "CFO", "department": "Finance" }],
        "birthday": { "year": 1985, "month": 7, "day": 14 },
        "notes": "Prefers text messages.\nLooking in Oakland.",
    })
}

/// Checks that every value in `expected` equals the value at the same place in
/// `actual`. Keys that only `actual` has, such as `formatted`, are not compared.
fn assert_subset(actual: &Value, expected: &Value, place: &str) {
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => {
            for (key, value) in expected {
                let actual = actual.get(key).unwrap_or(&Value::Null);
                assert_subset(actual, value, &format!("{place}.{key}"));
            }
        }
        (Value::Array(actual), Value::Array(expected)) => {
            assert_eq!(actual.len(), expected.len(), "length of {place}");
            for (index, (actual, expected)) in actual.iter().zip(expected).enumerate() {
                assert_subset(actual, expected, &format!("{place}[{index}]"));
            }
        }
        _ => assert_eq!(actual, expected, "{place}"),
    }
}

/// Makes the agent's next `times` People API calls fail with `status`.
async fn inject_people_fault(app: &TestApp, workspace: &Workspace, status: u16, times: u32) {
    let url = format!("{}/emulator/faults", app.emulator.base_url());
    let rule =
        json!({ "api": "people", "user": workspace.agent, "status": status, "times": times });
    let response = app
        .client
        .post(url)
        .json(&rule)
        .send()
        .await
        .expect("emulator reachable");
    assert_eq!(response.status(), StatusCode::CREATED, "fault injected");
}

/// Failed calls the emulator still has to inject.
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

/// Creates the brokerage `acme` with `contacts_scope`, uploads its key and
/// enrolls the agent.
async fn onboard_with_scope(app: &TestApp, contacts_scope: &str) -> Workspace {
    let workspace = app.workspace("acme", &ALL_SCOPES);
    let body = json!({
        "display_name": "Acme Realty",
        "domains": [workspace.domain],
        "test_user": workspace.test_user,
        "contacts_scope": contacts_scope,
    });
    let response = app.put("/v1/brokerages/acme", body).await;
    let brokerage = read_json(response, StatusCode::CREATED, "brokerage created").await;
    assert_eq!(brokerage["contacts_scope"], contacts_scope);

    app.upload_key("acme", &workspace.key_json).await;
    app.enroll("acme", &workspace.agent).await;
    workspace
}

// ---- round trip and paging ----

async fn contact_round_trip(app: TestApp) {
    let workspace = app.onboard("acme").await;

    let response = app.post(&contacts_path(&workspace), full_contact()).await;
    let location = header_of(&response, "location");
    let etag_header = header_of(&response, "etag");
    let created = read_json(response, StatusCode::CREATED, "contact created").await;
    let id = id_of(&created);
    assert!(
        id.starts_with('c') && id[1..].bytes().all(|byte| byte.is_ascii_digit()),
        "id is `c` and digits: {id}"
    );
    assert_eq!(location, Some(contact_path(&workspace, &id)), "Location");
    assert_eq!(
        etag_header,
        Some(format!("\"{}\"", etag_of(&created))),
        "ETag of the create"
    );
    assert_subset(&created, &full_contact(), "created");
    assert!(
        created["updated_at"].as_str().is_some(),
        "updated_at: {created}"
    );

    let response = app.get(&contact_path(&workspace, &id)).await;
    let etag_header = header_of(&response, "etag");
    let fetched = read_json(response, StatusCode::OK, "contact read").await;
    assert_eq!(fetched, created, "read returns the created contact");
    assert_eq!(
        etag_header,
        Some(format!("\"{}\"", etag_of(&fetched))),
        "ETag of the read"
    );

    let page = list_page(&app, &workspace, &[]).await;
    assert_eq!(page["items"], json!([fetched]), "list has the contact");
    assert_eq!(page["total_items"], 1);
    assert!(page["next_cursor"].is_null(), "one page: {page}");

    let changes = json!({ "etag": etag_of(&fetched), "notes": "Pre-approved." });
    let response = patch(&app, &contact_path(&workspace, &id), changes, None).await;
    let etag_header = header_of(&response, "etag");
    let updated = read_json(response, StatusCode::OK, "contact patched").await;
    assert_ne!(
        etag_of(&updated),
        etag_of(&fetched),
        "a change gets a new etag"
    );
    assert_eq!(
        etag_header,
        Some(format!("\"{}\"", etag_of(&updated))),
        "ETag of the patch"
    );
    assert_eq!(updated["notes"], "Pre-approved.");
    let mut expected = full_contact();
    expected["notes"] = json!("Pre-approved.");
    assert_subset(&updated, &expected, "updated");

    let fetched = read_json(
        app.get(&contact_path(&workspace, &id)).await,
        StatusCode::OK,
        "read after the patch",
    )
    .await;
    assert_eq!(fetched, updated, "read returns the patched contact");

    let response = app.delete(&contact_path(&workspace, &id)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "contact deleted");

    let response = app.get(&contact_path(&workspace, &id)).await;
    assert_problem(response, StatusCode::NOT_FOUND, "contact_not_found").await;
    let response = app.delete(&contact_path(&workspace, &id)).await;
    assert_problem(response, StatusCode::NOT_FOUND, "contact_not_found").await;
    assert!(
        all_contact_ids(&app, &workspace).await.is_empty(),
        "list is empty after the delete"
    );
}

async fn list_pages_with_cursor(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let mut created = HashSet::new();
    for index in 0..5 {
        let body = json!({ "names": { "given_name": format!("Buyer {index}") } });
        created.insert(id_of(&create(&app, &workspace, body).await));
    }
    assert_eq!(created.len(), 5, "five distinct ids");

    let mut seen = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        assert!(pages < MAX_PAGES, "paging ends within {MAX_PAGES} pages");
        let mut query = vec![("page_size", "2")];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.as_str()));
        }
        let page = list_page(&app, &workspace, &query).await;
        pages += 1;

        let ids = item_ids(&page);
        assert!(
            (1..=2).contains(&ids.len()),
            "page {pages} has 1 or 2 items: {page}"
        );
        assert_eq!(page["total_items"], 5, "total_items on page {pages}");
        seen.extend(ids);

        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }

    assert_eq!(pages, 3, "5 contacts in pages of 2");
    let distinct: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(distinct.len(), seen.len(), "no duplicates: {seen:?}");
    assert_eq!(distinct, created, "every contact seen");
}

// ---- PATCH ----

async fn patch_checks_etag(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let created = create(&app, &workspace, full_contact()).await;
    let path = contact_path(&workspace, &id_of(&created));
    let first_etag = etag_of(&created);

    let response = patch(&app, &path, json!({ "notes": "No etag." }), None).await;
    let problem =
        assert_problem(response, StatusCode::PRECONDITION_REQUIRED, "etag_required").await;
    assert_eq!(problem["field"], "etag");

    let body = json!({ "etag": first_etag, "notes": "First change." });
    let first = read_json(
        patch(&app, &path, body, None).await,
        StatusCode::OK,
        "body etag",
    )
    .await;
    assert_eq!(first["notes"], "First change.");

    let stale = format!("\"{first_etag}\"");
    let response = patch(&app, &path, json!({ "notes": "Stale." }), Some(&stale)).await;
    assert_problem(response, StatusCode::PRECONDITION_FAILED, "etag_mismatch").await;

    let quoted = format!("\"{}\"", etag_of(&first));
    let response = patch(&app, &path, json!({ "notes": "Quoted." }), Some(&quoted)).await;
    let second = read_json(response, StatusCode::OK, "quoted If-Match").await;
    assert_eq!(second["notes"], "Quoted.");

    let unquoted = etag_of(&second);
    let response = patch(
        &app,
        &path,
        json!({ "notes": "Unquoted." }),
        Some(&unquoted),
    )
    .await;
    let third = read_json(response, StatusCode::OK, "unquoted If-Match").await;
    assert_eq!(third["notes"], "Unquoted.");

    let body = json!({ "etag": etag_of(&third), "notes": "Two etags." });
    let other = format!("\"{first_etag}\"");
    let response = patch(&app, &path, body, Some(&other)).await;
    let problem = assert_problem(response, StatusCode::BAD_REQUEST, "etag_conflict").await;
    assert_eq!(problem["field"], "etag");

    let fetched = read_json(app.get(&path).await, StatusCode::OK, "read").await;
    assert_eq!(fetched, third, "the rejected patches changed nothing");
}

async fn patch_clears_fields(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let created = create(&app, &workspace, full_contact()).await;
    let path = contact_path(&workspace, &id_of(&created));

    let body = json!({
        "etag": etag_of(&created),
        "names": null,
        "email_addresses": [],
        "birthday": null,
    });
    let cleared = read_json(
        patch(&app, &path, body, None).await,
        StatusCode::OK,
        "clear",
    )
    .await;
    assert!(cleared["names"].is_null(), "names cleared: {cleared}");
    assert_eq!(cleared["email_addresses"], json!([]), "emails cleared");
    assert!(cleared["birthday"].is_null(), "birthday cleared: {cleared}");
    for untouched in [
        "phone_numbers",
        "postal_addresses",
        "organizations",
        "notes",
    ] {
        assert_eq!(
            cleared[untouched], created[untouched],
            "{untouched} untouched"
        );
    }

    let phones = json!([{ "value": "+1 212-555-0142", "type": "home" }]);
    let body = json!({ "etag": etag_of(&cleared), "notes": null, "phone_numbers": phones });
    let replaced = read_json(
        patch(&app, &path, body, None).await,
        StatusCode::OK,
        "replace",
    )
    .await;
    assert!(replaced["notes"].is_null(), "notes cleared: {replaced}");
    assert_subset(&replaced["phone_numbers"], &phones, "phone_numbers");
    for untouched in [
        "names",
        "email_addresses",
        "birthday",
        "postal_addresses",
        "organizations",
    ] {
        assert_eq!(
            replaced[untouched], cleared[untouched],
            "{untouched} untouched"
        );
    }

    let fetched = read_json(app.get(&path).await, StatusCode::OK, "read").await;
    assert_eq!(fetched, replaced, "read returns the last patch");
}

// ---- input problems ----

/// A request with one invalid value and the 400 problem it must get.
struct InvalidRequest {
    case: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    code: &'static str,
    field: &'static str,
}

/// Builds a POST of `body` to the agent's contacts.
fn invalid_create(
    workspace: &Workspace,
    case: &'static str,
    body: Value,
    code: &'static str,
    field: &'static str,
) -> InvalidRequest {
    InvalidRequest {
        case,
        method: Method::POST,
        path: contacts_path(workspace),
        body: Some(body),
        code,
        field,
    }
}

/// Builds a request that names a contact by its People resource name.
fn resource_name_as_id(
    workspace: &Workspace,
    case: &'static str,
    method: Method,
) -> InvalidRequest {
    let body = (method == Method::PATCH).then(|| json!({ "etag": "%abc", "notes": "x" }));
    InvalidRequest {
        case,
        method,
        path: contact_path(workspace, "people%2Fc1"),
        body,
        code: "invalid_contact_id",
        field: "contact_id",
    }
}

fn invalid_requests(workspace: &Workspace) -> Vec<InvalidRequest> {
    vec![
        invalid_create(
            workspace,
            "bad email",
            json!({
                "names": { "given_name": "Jane" },
                "email_addresses": [{ "value": "jane@example.com" }, { "value": "jane@" }],
            }),
            "invalid_email",
            "email_addresses[1].value",
        ),
        invalid_create(
            workspace,
            "bad phone",
            json!({ "phone_numbers": [{ "value": "call me maybe" }] }),
            "invalid_phone_number",
            "phone_numbers[0].value",
        ),
        invalid_create(
            workspace,
            "29 February 2023",
            json!({ "birthday": { "year": 2023, "month": 2, "day": 29 } }),
            "invalid_birthday",
            "birthday.day",
        ),
        resource_name_as_id(workspace, "resource name as id (GET)", Method::GET),
        resource_name_as_id(workspace, "resource name as id (PATCH)", Method::PATCH),
        resource_name_as_id(workspace, "resource name as id (DELETE)", Method::DELETE),
        InvalidRequest {
            case: "page_size=0",
            method: Method::GET,
            path: format!("{}?page_size=0", contacts_path(workspace)),
            body: None,
            code: "invalid_page_size",
            field: "page_size",
        },
    ]
}

async fn invalid_input_rejected(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let calls = app.emulator.api_calls();

    for request in invalid_requests(&workspace) {
        let response = send(
            &app,
            &app.admin_key,
            request.method,
            &request.path,
            request.body,
            &[],
        )
        .await;
        let problem = assert_problem(response, StatusCode::BAD_REQUEST, request.code).await;
        let case = request.case;
        assert_eq!(
            problem["field"], request.field,
            "{case}: field in {problem}"
        );
    }

    assert_eq!(
        app.emulator.api_calls(),
        calls,
        "no invalid request reached Google"
    );
    assert!(
        all_contact_ids(&app, &workspace).await.is_empty(),
        "nothing created"
    );
}

/// Unknown fields fail deserialization, which the whole API rejects with 422
/// `invalid_body` and serde's message naming the field.
async fn unknown_field_rejected(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let created = create(&app, &workspace, full_contact()).await;
    let calls = app.emulator.api_calls();

    let body = json!({ "names": { "given_name": "Jane" }, "nickname": "JJ" });
    let response = app.post(&contacts_path(&workspace), body).await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("nickname"),
        "detail names the field: {detail}"
    );

    let body = json!({ "etag": etag_of(&created), "names": { "nick_name": "JJ" } });
    let response = patch(
        &app,
        &contact_path(&workspace, &id_of(&created)),
        body,
        None,
    )
    .await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("nick_name"),
        "detail names the field: {detail}"
    );

    assert_eq!(app.emulator.api_calls(), calls, "nothing reached Google");
    assert_eq!(
        all_contact_ids(&app, &workspace).await,
        vec![id_of(&created)],
        "no contact created"
    );
}

// ---- delegation and Workspace setup ----

async fn legacy_scope_not_delegated(app: TestApp) {
    let workspace = onboard_with_scope(&app, CONTACTS_LEGACY).await;
    let calls = app.emulator.api_calls();

    let response = app.get(&contacts_path(&workspace)).await;
    let problem =
        assert_problem(response, StatusCode::FORBIDDEN, "delegation_not_authorized").await;
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&workspace.client_id),
        "detail names the client ID: {detail}"
    );
    assert!(
        detail.contains(CONTACTS_LEGACY),
        "detail names the scope: {detail}"
    );

    let body = json!({ "names": { "given_name": "Jane" } });
    let response = app.post(&contacts_path(&workspace), body).await;
    assert_problem(response, StatusCode::FORBIDDEN, "delegation_not_authorized").await;
    assert_eq!(
        app.emulator.api_calls(),
        calls,
        "no API call without a token"
    );
}

async fn unknown_google_user(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let ghost = format!("ghost@{}", workspace.domain);
    app.enroll("acme", &ghost).await;

    let path = format!("/v1/brokerages/acme/users/{ghost}/contacts");
    let response = app.get(&path).await;
    let problem = assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "google_user_not_found",
    )
    .await;
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(&ghost), "detail names the user: {detail}");

    let body = json!({ "names": { "given_name": "Jane" } });
    let response = app.post(&path, body).await;
    assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "google_user_not_found",
    )
    .await;
}

async fn people_api_disabled(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let project = format!("{}-project", workspace.brokerage_id);
    app.emulator
        .set_api_enabled(&project, "people.googleapis.com", false)
        .expect("People API disabled");

    let response = app.get(&contacts_path(&workspace)).await;
    let problem = assert_problem(response, StatusCode::FORBIDDEN, "google_api_disabled").await;
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("People API"),
        "detail names the API: {detail}"
    );

    let body = json!({ "names": { "given_name": "Jane" } });
    let response = app.post(&contacts_path(&workspace), body).await;
    assert_problem(response, StatusCode::FORBIDDEN, "google_api_disabled").await;

    app.emulator
        .set_api_enabled(&project, "people.googleapis.com", true)
        .expect("People API enabled");
    assert!(
        all_contact_ids(&app, &workspace).await.is_empty(),
        "list works again and nothing was created"
    );
}

// ---- Google failures ----

async fn rate_limited_list_retried(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let created = create(&app, &workspace, full_contact()).await;

    inject_people_fault(&app, &workspace, 429, 2).await;
    let calls = app.emulator.api_calls();
    assert_eq!(
        all_contact_ids(&app, &workspace).await,
        vec![id_of(&created)],
        "list after two 429s"
    );
    assert_eq!(pending_fault_calls(&app).await, 0, "both 429s were served");
    assert_eq!(
        app.emulator.api_calls() - calls,
        3,
        "two rejected attempts and one that succeeded"
    );
}

async fn rate_limited_create_fails(app: TestApp) {
    let workspace = app.onboard("acme").await;

    inject_people_fault(&app, &workspace, 429, 1).await;
    let calls = app.emulator.api_calls();
    let body = json!({ "names": { "given_name": "Jane" } });
    let response = app.post(&contacts_path(&workspace), body).await;
    let retry_after = header_of(&response, "retry-after");
    let problem = assert_problem(
        response,
        StatusCode::TOO_MANY_REQUESTS,
        "google_rate_limited",
    )
    .await;
    assert_eq!(
        app.emulator.api_calls() - calls,
        1,
        "the create is sent once"
    );

    let seconds: u64 = retry_after
        .as_deref()
        .and_then(|value| value.parse().ok())
        .expect("Retry-After header in whole seconds");
    assert!(seconds >= 1, "Retry-After is at least 1 s: {seconds}");
    assert_eq!(problem["retry_after"], seconds, "body and header agree");
    assert!(
        all_contact_ids(&app, &workspace).await.is_empty(),
        "nothing created"
    );
}

async fn outage_create_not_retried(app: TestApp) {
    let workspace = app.onboard("acme").await;

    inject_people_fault(&app, &workspace, 503, 1).await;
    let calls = app.emulator.api_calls();
    let body = json!({ "names": { "given_name": "Jane" } });
    let response = app.post(&contacts_path(&workspace), body).await;
    assert_problem(response, StatusCode::BAD_GATEWAY, "google_unavailable").await;
    assert_eq!(
        app.emulator.api_calls() - calls,
        1,
        "a create is not retried after a 503"
    );
    assert!(
        all_contact_ids(&app, &workspace).await.is_empty(),
        "nothing created"
    );
}

// ---- API keys ----

/// Builds a request to every contacts route for one contact of `workspace`:
/// (method, path, body, If-Match).
fn contact_requests(
    workspace: &Workspace,
    contact: &Value,
) -> Vec<(Method, String, Option<Value>, Option<String>)> {
    let path = contact_path(workspace, &id_of(contact));
    let etag = Some(format!("\"{}\"", etag_of(contact)));
    vec![
        (Method::GET, contacts_path(workspace), None, None),
        (
            Method::POST,
            contacts_path(workspace),
            Some(json!({ "names": { "given_name": "Intruder" } })),
            None,
        ),
        (Method::GET, path.clone(), None, None),
        (
            Method::PATCH,
            path.clone(),
            Some(json!({ "notes": "Changed." })),
            etag,
        ),
        (Method::DELETE, path, None, None),
    ]
}

/// Sends each request of [`contact_requests`] with `key` and checks the problem.
async fn assert_all_rejected(
    app: &TestApp,
    key: &str,
    workspace: &Workspace,
    contact: &Value,
    status: StatusCode,
    code: &str,
) {
    for (method, path, body, if_match) in contact_requests(workspace, contact) {
        let headers: Vec<(&str, &str)> = if_match
            .as_deref()
            .map(|value| ("if-match", value))
            .into_iter()
            .collect();
        let response = send(app, key, method.clone(), &path, body, &headers).await;
        assert_eq!(response.status(), status, "{method} {path}");
        assert_problem(response, status, code).await;
    }
}

async fn other_brokerage_key_not_found(app: TestApp) {
    let acme = app.onboard("acme").await;
    let other = app.onboard("other").await;
    let contact = create(&app, &acme, full_contact()).await;
    let other_key = app.api_key("service", Some("other")).await;

    let own = send(
        &app,
        &other_key,
        Method::GET,
        &contacts_path(&other),
        None,
        &[],
    )
    .await;
    assert_eq!(
        own.status(),
        StatusCode::OK,
        "the key reads its own brokerage"
    );

    assert_all_rejected(
        &app,
        &other_key,
        &acme,
        &contact,
        StatusCode::NOT_FOUND,
        "brokerage_not_found",
    )
    .await;

    let fetched = read_json(
        app.get(&contact_path(&acme, &id_of(&contact))).await,
        StatusCode::OK,
        "read with the admin key",
    )
    .await;
    assert_eq!(fetched, contact, "the contact is unchanged");
    assert_eq!(
        all_contact_ids(&app, &acme).await,
        vec![id_of(&contact)],
        "no contact created"
    );
}

async fn support_key_forbidden(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let contact = create(&app, &workspace, full_contact()).await;
    let support_key = app.api_key("support", None).await;

    assert_all_rejected(
        &app,
        &support_key,
        &workspace,
        &contact,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    let fetched = read_json(
        app.get(&contact_path(&workspace, &id_of(&contact))).await,
        StatusCode::OK,
        "read with the admin key",
    )
    .await;
    assert_eq!(fetched, contact, "the contact is unchanged");
    assert_eq!(
        all_contact_ids(&app, &workspace).await,
        vec![id_of(&contact)],
        "no contact created"
    );
}

// ---- creates with an Idempotency-Key ----

/// Sends POST with the admin key and an `Idempotency-Key`.
async fn create_with_key(app: &TestApp, workspace: &Workspace, key: &str, body: Value) -> Response {
    send(
        app,
        &app.admin_key,
        Method::POST,
        &contacts_path(workspace),
        Some(body),
        &[("idempotency-key", key)],
    )
    .await
}

async fn keyed_create_replayed(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let body = json!({ "names": { "given_name": "Jane" }, "notes": "Replay me" });

    let first = create_with_key(&app, &workspace, "key-1", body.clone()).await;
    assert_eq!(header_of(&first, "idempotent-replayed"), None);
    let created = read_json(first, StatusCode::CREATED, "first create").await;

    let second = create_with_key(&app, &workspace, "key-1", body.clone()).await;
    assert_eq!(
        header_of(&second, "idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(
        header_of(&second, "location"),
        Some(format!("{}/{}", contacts_path(&workspace), id_of(&created)))
    );
    let replayed = read_json(second, StatusCode::OK, "replayed create").await;
    assert_eq!(id_of(&replayed), id_of(&created));
    assert_eq!(replayed["notes"], "Replay me");
    assert_eq!(all_contact_ids(&app, &workspace).await.len(), 1);

    let deleted = app
        .delete(&contact_path(&workspace, &id_of(&created)))
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let after_delete = create_with_key(&app, &workspace, "key-1", body).await;
    assert_problem(after_delete, StatusCode::NOT_FOUND, "contact_not_found").await;
    assert!(all_contact_ids(&app, &workspace).await.is_empty());
}

async fn keyed_create_other_body_rejected(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let first = create_with_key(&app, &workspace, "key-1", json!({ "notes": "A" })).await;
    read_json(first, StatusCode::CREATED, "first create").await;

    let reused = create_with_key(&app, &workspace, "key-1", json!({ "notes": "B" })).await;
    let problem = assert_problem(
        reused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(problem["field"], "Idempotency-Key");
    assert_eq!(all_contact_ids(&app, &workspace).await.len(), 1);
}

async fn keyed_concurrent_creates_once(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let body = json!({ "names": { "given_name": "Jane" } });

    let requests = (0..6).map(|_| create_with_key(&app, &workspace, "same", body.clone()));
    let responses = futures::future::join_all(requests).await;

    let mut created = 0;
    for response in responses {
        let status = response.status();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::OK => {
                assert_eq!(
                    header_of(&response, "idempotent-replayed").as_deref(),
                    Some("true")
                );
            }
            StatusCode::CONFLICT => {
                assert!(header_of(&response, "retry-after").is_some(), "Retry-After");
                assert_problem(response, status, "idempotency_in_progress").await;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(created, 1, "one request creates");
    assert_eq!(all_contact_ids(&app, &workspace).await.len(), 1);
}

async fn keyed_create_after_outage(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let body = json!({ "names": { "given_name": "Jane" } });

    inject_people_fault(&app, &workspace, 503, 1).await;
    let failed = create_with_key(&app, &workspace, "key-1", body.clone()).await;
    assert_problem(failed, StatusCode::BAD_GATEWAY, "google_unavailable").await;
    assert_eq!(pending_fault_calls(&app).await, 0, "fault consumed");

    // The emulator rejected the create before storing it, so the retry finds
    // nothing under the key and creates the contact.
    let retry = create_with_key(&app, &workspace, "key-1", body.clone()).await;
    let created = read_json(retry, StatusCode::CREATED, "retried create").await;
    assert_eq!(all_contact_ids(&app, &workspace).await, [id_of(&created)]);

    let replay = create_with_key(&app, &workspace, "key-1", body).await;
    let replayed = read_json(replay, StatusCode::OK, "replayed create").await;
    assert_eq!(id_of(&replayed), id_of(&created));
    assert_eq!(all_contact_ids(&app, &workspace).await.len(), 1);
}

/// A create whose outcome is unknown, where Google did create the contact: the
/// retry finds it by its `clientData` instead of creating a second one.
async fn keyed_create_found_after_outage(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let body = json!({ "names": { "given_name": "Jane" } });

    inject_people_fault(&app, &workspace, 503, 1).await;
    let failed = create_with_key(&app, &workspace, "key-1", body.clone()).await;
    assert_problem(failed, StatusCode::BAD_GATEWAY, "google_unavailable").await;

    // Stands in for the create that Google applied although it answered 503.
    let url = format!(
        "{}/emulator/users/{}/contacts",
        app.emulator.base_url(),
        workspace.agent
    );
    let person = json!({
        "names": [{ "givenName": "Jane" }],
        "clientData": [{ "key": "workspace-gateway-idempotency-key", "value": "key-1" }],
    });
    let seeded = app
        .client
        .post(url)
        .json(&person)
        .send()
        .await
        .expect("emulator reachable");
    assert_eq!(seeded.status(), StatusCode::CREATED, "contact seeded");
    let seeded: Value = seeded.json().await.expect("person JSON");
    let seeded_id = seeded["resourceName"]
        .as_str()
        .and_then(|name| name.strip_prefix("people/"))
        .expect("resource name")
        .to_owned();

    let retry = create_with_key(&app, &workspace, "key-1", body).await;
    assert_eq!(
        header_of(&retry, "idempotent-replayed").as_deref(),
        Some("true")
    );
    let found = read_json(retry, StatusCode::OK, "recovered create").await;
    assert_eq!(id_of(&found), seeded_id);
    assert_eq!(all_contact_ids(&app, &workspace).await, [seeded_id]);
}

async fn invalid_idempotency_key_rejected(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let too_long = "k".repeat(256);

    for key in ["a b", too_long.as_str()] {
        let response = create_with_key(&app, &workspace, key, json!({ "notes": "N" })).await;
        let problem =
            assert_problem(response, StatusCode::BAD_REQUEST, "invalid_idempotency_key").await;
        assert_eq!(problem["field"], "Idempotency-Key", "{key}");
    }
    assert!(all_contact_ids(&app, &workspace).await.is_empty());
}

async fn keyed_create_after_rate_limit(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let body = json!({ "names": { "given_name": "Jane" } });

    inject_people_fault(&app, &workspace, 429, 1).await;
    let limited = create_with_key(&app, &workspace, "key-1", body.clone()).await;
    assert_problem(
        limited,
        StatusCode::TOO_MANY_REQUESTS,
        "google_rate_limited",
    )
    .await;
    assert!(all_contact_ids(&app, &workspace).await.is_empty());

    let calls = app.emulator.api_calls();
    let retry = create_with_key(&app, &workspace, "key-1", body).await;
    let created = read_json(retry, StatusCode::CREATED, "retried create").await;
    assert_eq!(
        app.emulator.api_calls() - calls,
        1,
        "a failed create is sent again without a lookup"
    );
    assert_eq!(all_contact_ids(&app, &workspace).await, [id_of(&created)]);
}
