//! Credential verification. Each failure test sets up one Workspace wrong in
//! exactly one way and asserts the check that fails and the fix it names.
//! Further tests cover a correct setup, key rotation, revocation, master-key
//! re-encryption, and contact lists that run while a pending key is swapped in.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use workspace_gateway::verification::store::{self as verification_store, Committed};
use workspace_gateway::verification::VerificationReport;

use crate::db_tests;
use crate::helpers::{assert_problem, TestApp, Workspace, ALL_SCOPES};

const CONTACTS: &str = "https://www.googleapis.com/auth/contacts";
const CONTACTS_LEGACY: &str = "https://www.google.com/m8/feeds";
const CALENDAR: &str = "https://www.googleapis.com/auth/calendar";
const GMAIL_COMPOSE: &str = "https://www.googleapis.com/auth/gmail.compose";

/// The scope string of the Admin console form, exactly as pasted.
const FORM_SCOPES: &str =
    "https://www.googleapis.com/auth/contacts,https://www.googleapis.com/auth/calendar,https://www.googleapis.com/auth/gmail.compose";

db_tests!(
    correct_setup_verifies_with_sync_counts,
    missing_delegation_fails_every_scope,
    each_missing_scope_is_named,
    legacy_contacts_scope_only_warns,
    unknown_test_user_is_named,
    suspended_test_user_is_named,
    disabled_service_account_is_named,
    deleted_key_is_named,
    each_disabled_api_is_named,
    skewed_clock_fails_clock_check,
    old_key_warns,
    test_user_must_be_in_domains,
    verification_needs_a_key,
    roles_and_scoping,
    reports_listed_newest_first,
    pending_key_activates_when_verified,
    failing_pending_key_stays_pending,
    replace_without_verification_activates_at_once,
    revoked_key_blocks_calls,
    revocation_during_run_changes_nothing,
    revocation_racing_a_run_leaves_all_revoked,
    replaced_key_run_is_discarded,
    concurrent_verifications_rotate_once,
    reencrypted_keys_still_verify,
    slow_google_hits_time_limit,
    contact_lists_survive_key_swap,
);

// ---- helpers ----

/// Creates the brokerage of `workspace` and uploads its key, without enrolling anyone.
async fn register(app: &TestApp, workspace: &Workspace) {
    app.create_brokerage(workspace).await;
    app.upload_key(&workspace.brokerage_id, &workspace.key_json)
        .await;
}

/// Sets up a Workspace delegated for `scopes` and registers it.
async fn registered(app: &TestApp, brokerage_id: &str, scopes: &[&str]) -> Workspace {
    let workspace = app.workspace(brokerage_id, scopes);
    register(app, &workspace).await;
    workspace
}

/// Runs a verification and returns the 201 report.
async fn verify(app: &TestApp, brokerage_id: &str, body: Value) -> Value {
    let response = app
        .post(
            &format!("/v1/brokerages/{brokerage_id}/verifications"),
            body,
        )
        .await;
    let status = response.status();
    let report: Value = response.json().await.expect("report JSON");
    assert_eq!(status, StatusCode::CREATED, "verification ran: {report}");
    report
}

/// Finds the check called `name` in `report`.
fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("checks array")
        .iter()
        .find(|check| check["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report}"))
}

fn status_of<'a>(report: &'a Value, name: &str) -> &'a str {
    check(report, name)["status"]
        .as_str()
        .expect("check status")
}

fn remediation_of<'a>(report: &'a Value, name: &str) -> &'a str {
    check(report, name)["remediation"]
        .as_str()
        .unwrap_or_else(|| panic!("no remediation for {name} in {report}"))
}

/// Lists the names of the failed checks.
fn failed(report: &Value) -> Vec<&str> {
    report["checks"]
        .as_array()
        .expect("checks array")
        .iter()
        .filter(|check| check["status"] == "fail")
        .map(|check| check["name"].as_str().expect("check name"))
        .collect()
}

/// Asserts the failure outcome and the paste-ready Admin console grant.
fn assert_failed_with_grant(report: &Value, client_id: &str) {
    assert_eq!(report["outcome"], "verification_failed", "{report}");
    let grant = &report["admin_console"];
    assert_eq!(grant["client_id"], client_id, "{report}");
    assert_eq!(grant["scopes"], FORM_SCOPES, "{report}");
    let url = grant["url"].as_str().expect("admin console URL");
    assert!(
        url.starts_with(
            "https://admin.google.com/ac/owl/domainwidedelegation?overwriteClientId=true"
        ),
        "{url}"
    );
    assert!(url.contains(&format!("clientIdToAdd={client_id}")), "{url}");
    assert!(
        url.contains("scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcontacts%2C"),
        "{url}"
    );
}

async fn brokerage(app: &TestApp, brokerage_id: &str) -> Value {
    app.get(&format!("/v1/brokerages/{brokerage_id}"))
        .await
        .json()
        .await
        .expect("brokerage JSON")
}

async fn credentials(app: &TestApp, brokerage_id: &str) -> Value {
    app.get(&format!("/v1/brokerages/{brokerage_id}/credentials"))
        .await
        .json()
        .await
        .expect("credentials JSON")
}

async fn audit_actions(app: &TestApp, brokerage_id: &str) -> Vec<(String, String)> {
    let entries: Value = app
        .get(&format!("/v1/brokerages/{brokerage_id}/audit-log"))
        .await
        .json()
        .await
        .expect("audit JSON");
    entries["items"]
        .as_array()
        .expect("audit entries")
        .iter()
        .map(|entry| {
            (
                entry["action"].as_str().unwrap_or_default().to_owned(),
                entry["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn seed(app: &TestApp, email: &str, kind: &str, body: Value) {
    let url = format!("{}/emulator/users/{email}/{kind}", app.emulator.base_url());
    let response = app
        .client
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("emulator reachable");
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "seeded {kind}: {}",
        response.text().await.unwrap_or_default()
    );
}

async fn seed_event(app: &TestApp, email: &str, summary: &str, days_ahead: i64) {
    let start = chrono::Utc::now() + chrono::Duration::days(days_ahead);
    let end = start + chrono::Duration::hours(1);
    let body = json!({
        "summary": summary,
        "start": { "dateTime": start.to_rfc3339() },
        "end": { "dateTime": end.to_rfc3339() },
    });
    seed(app, email, "events", body).await;
}

// ---- a correct Workspace ----

async fn correct_setup_verifies_with_sync_counts(app: TestApp) {
    let workspace = app.onboard("acme").await;
    for name in ["Ada", "Grace", "Edsger"] {
        seed(
            &app,
            &workspace.test_user,
            "contacts",
            json!({ "names": [{ "givenName": name }] }),
        )
        .await;
    }
    seed_event(&app, &workspace.test_user, "Showing at 12 Elm St", 2).await;
    seed_event(&app, &workspace.test_user, "Closing", 20).await;
    seed_event(&app, &workspace.test_user, "Next quarter review", 60).await;

    let report = verify(&app, "acme", json!({})).await;

    assert_eq!(report["outcome"], "verified", "{report}");
    for check in report["checks"].as_array().unwrap() {
        assert_eq!(check["status"], "pass", "{check}");
        assert!(check["remediation"].is_null(), "{check}");
    }
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| check["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "key",
            "clock",
            "delegation.calendar",
            "delegation.gmail",
            "delegation.contacts",
            "contacts_scope",
            "api.people",
            "api.calendar",
            "api.gmail",
            "test_sync"
        ]
    );
    assert_eq!(report["sync"]["contacts"], 3, "{report}");
    assert_eq!(
        report["sync"]["events"], 2,
        "events of the next 30 days only: {report}"
    );
    assert!(report["sync"]["contacts_ms"].is_u64());
    assert!(check(&report, "test_sync")["evidence"]
        .as_str()
        .unwrap()
        .contains("3 contacts"));
    assert!(
        report["admin_console"].is_null(),
        "no grant when nothing failed: {report}"
    );
    assert_eq!(report["test_user"], workspace.test_user.as_str());
    assert_eq!(report["credential_version"], 1);
    assert_eq!(report["credential_state"], "active");
    assert_eq!(report["key_activated"], false);
    assert_eq!(report["contacts_scope"], CONTACTS);

    let saved = brokerage(&app, "acme").await;
    assert_eq!(saved["credential_status"], "verified");
    assert_eq!(saved["last_verified_at"], report["finished_at"]);
    assert!(audit_actions(&app, "acme")
        .await
        .contains(&("verify".to_owned(), "verified".to_owned())));

    let stored: Value = app
        .get(&format!(
            "/v1/brokerages/acme/verifications/{}",
            report["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored, report, "the stored report is the returned one");
}

// ---- one wrong setting per test ----

async fn missing_delegation_fails_every_scope(app: TestApp) {
    let workspace = registered(&app, "acme", &[]).await;
    let cached_exchanges = app.state.google.tokens().exchanges();

    let report = verify(&app, "acme", Value::Null).await;

    assert_eq!(
        app.state.google.tokens().exchanges(),
        cached_exchanges,
        "probes bypass the shared token cache"
    );

    assert_failed_with_grant(&report, &workspace.client_id);
    assert_eq!(
        failed(&report),
        [
            "delegation.calendar",
            "delegation.gmail",
            "delegation.contacts",
            "contacts_scope"
        ],
        "{report}"
    );
    for (name, scope) in [
        ("delegation.calendar", CALENDAR),
        ("delegation.gmail", GMAIL_COMPOSE),
        ("delegation.contacts", CONTACTS),
    ] {
        let remediation = remediation_of(&report, name);
        assert!(
            remediation.contains(&format!(
                "Client ID {} is not authorized for scope {scope}",
                workspace.client_id
            )),
            "{name}: {remediation}"
        );
        assert!(
            remediation.contains("Security > API controls > Domain-wide delegation"),
            "{remediation}"
        );
        assert!(check(&report, name)["evidence"]
            .as_str()
            .unwrap()
            .contains("unauthorized_client"));
    }
    assert!(remediation_of(&report, "contacts_scope").contains(&format!("add {CONTACTS}")));
    for name in ["api.people", "api.calendar", "api.gmail", "test_sync"] {
        assert_eq!(status_of(&report, name), "skipped", "{name}");
    }

    let saved = brokerage(&app, "acme").await;
    assert_eq!(saved["credential_status"], "verification_failed");
    assert!(saved["last_verified_at"].is_null());
    assert!(audit_actions(&app, "acme")
        .await
        .contains(&("verify".to_owned(), "verification_failed".to_owned())));
}

async fn each_missing_scope_is_named(app: TestApp) {
    let cases = [
        (
            "no-calendar",
            CALENDAR,
            "delegation.calendar",
            "api.calendar",
        ),
        ("no-gmail", GMAIL_COMPOSE, "delegation.gmail", "api.gmail"),
        ("no-contacts", CONTACTS, "delegation.contacts", "api.people"),
    ];

    for (brokerage_id, missing, failing, skipped) in cases {
        let granted: Vec<&str> = ALL_SCOPES
            .iter()
            .copied()
            .filter(|scope| *scope != missing)
            .collect();
        let workspace = registered(&app, brokerage_id, &granted).await;

        let report = verify(&app, brokerage_id, json!({})).await;

        assert_failed_with_grant(&report, &workspace.client_id);
        let remediation = remediation_of(&report, failing);
        assert!(
            remediation.contains(&format!(
                "Client ID {} is not authorized for scope {missing}",
                workspace.client_id
            )),
            "{remediation}"
        );
        assert_eq!(
            status_of(&report, skipped),
            "skipped",
            "{brokerage_id}: {report}"
        );
        assert_eq!(
            status_of(&report, "test_sync"),
            if missing == GMAIL_COMPOSE {
                "pass"
            } else {
                "skipped"
            },
            "{report}"
        );
        if missing == CONTACTS {
            assert_eq!(failed(&report), [failing, "contacts_scope"], "{report}");
            assert!(remediation_of(&report, "contacts_scope").contains(&format!(
                "add {CONTACTS} to client ID {}",
                workspace.client_id
            )));
            assert!(report["contacts_scope"].is_null());
        } else {
            assert_eq!(failed(&report), [failing], "{report}");
        }
    }
}

async fn legacy_contacts_scope_only_warns(app: TestApp) {
    let workspace = registered(&app, "acme", &[CONTACTS_LEGACY, CALENDAR, GMAIL_COMPOSE]).await;

    let report = verify(&app, "acme", json!({})).await;

    assert_eq!(
        status_of(&report, "delegation.contacts"),
        "pass",
        "{report}"
    );
    assert_eq!(status_of(&report, "contacts_scope"), "warn", "{report}");
    let remediation = remediation_of(&report, "contacts_scope");
    assert!(
        remediation.contains(&format!(
            "add {CONTACTS} to client ID {}",
            workspace.client_id
        )),
        "{remediation}"
    );
    assert_eq!(report["contacts_scope"], CONTACTS_LEGACY);
    assert_eq!(
        brokerage(&app, "acme").await["contacts_scope"],
        CONTACTS_LEGACY,
        "the working scope is stored"
    );

    // NOTE: the emulator follows the People API discovery document, which does not
    // list the legacy scope, so People calls with it fail there and the report
    // must then ask for the current scope. Against a People API that accepts
    // the legacy scope, the run verifies with the warning.
    if report["outcome"] == "verification_failed" {
        assert_eq!(failed(&report), ["api.people"], "{report}");
        assert!(remediation_of(&report, "api.people").contains(&format!("scope {CONTACTS}")));
        assert_failed_with_grant(&report, &workspace.client_id);
    }

    // Once the current scope is granted too, the brokerage moves to it.
    app.emulator.delegate(
        &workspace.domain,
        &workspace.client_id,
        &[CONTACTS, CONTACTS_LEGACY, CALENDAR, GMAIL_COMPOSE],
    );
    let report = verify(&app, "acme", json!({})).await;
    assert_eq!(report["outcome"], "verified", "{report}");
    assert_eq!(status_of(&report, "contacts_scope"), "pass");
    assert_eq!(brokerage(&app, "acme").await["contacts_scope"], CONTACTS);
}

async fn unknown_test_user_is_named(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let nobody = format!("nobody@{}", workspace.domain);

    let report = verify(&app, "acme", json!({ "test_user": nobody })).await;

    assert_failed_with_grant(&report, &workspace.client_id);
    assert_eq!(report["test_user"], nobody.as_str());
    assert_eq!(
        failed(&report),
        [
            "delegation.calendar",
            "delegation.gmail",
            "delegation.contacts"
        ],
        "{report}"
    );
    for name in [
        "delegation.calendar",
        "delegation.gmail",
        "delegation.contacts",
    ] {
        let remediation = remediation_of(&report, name);
        assert!(
            remediation.contains(&format!(
                "The test user {nobody} does not exist or is not in this Workspace"
            )),
            "{remediation}"
        );
        assert!(check(&report, name)["evidence"]
            .as_str()
            .unwrap()
            .contains("Invalid email or User ID"));
    }
    assert_eq!(
        status_of(&report, "contacts_scope"),
        "skipped",
        "not a scope problem: {report}"
    );
}

async fn suspended_test_user_is_named(app: TestApp) {
    let workspace = app.onboard("acme").await;
    app.emulator
        .set_user_suspended(&workspace.test_user, true)
        .expect("user suspended");

    let report = verify(&app, "acme", json!({})).await;

    assert_failed_with_grant(&report, &workspace.client_id);
    let remediation = remediation_of(&report, "delegation.calendar");
    assert!(
        remediation.contains(&format!(
            "The test user {} does not exist",
            workspace.test_user
        )),
        "{remediation}"
    );
    assert!(remediation.contains("suspended"), "{remediation}");
}

async fn disabled_service_account_is_named(app: TestApp) {
    let workspace = app.onboard("acme").await;
    app.emulator
        .set_service_account_disabled(&workspace.client_id, true)
        .expect("account disabled");

    let report = verify(&app, "acme", json!({})).await;

    assert_failed_with_grant(&report, &workspace.client_id);
    assert_eq!(
        failed(&report),
        [
            "delegation.calendar",
            "delegation.gmail",
            "delegation.contacts"
        ],
        "{report}"
    );
    let remediation = remediation_of(&report, "delegation.gmail");
    let email = workspace.key_json["client_email"].as_str().unwrap();
    assert!(
        remediation.contains(&format!("The service account {email} is disabled")),
        "{remediation}"
    );
    assert!(check(&report, "delegation.gmail")["evidence"]
        .as_str()
        .unwrap()
        .contains("Robot is disabled."));
}

async fn deleted_key_is_named(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let key_id = workspace.key_json["private_key_id"].as_str().unwrap();
    app.emulator
        .delete_service_account_key(&workspace.client_id, key_id)
        .expect("key deleted");

    let report = verify(&app, "acme", json!({})).await;

    assert_failed_with_grant(&report, &workspace.client_id);
    assert_eq!(status_of(&report, "key"), "pass", "the file itself is fine");
    let remediation = remediation_of(&report, "delegation.contacts");
    assert!(
        remediation.contains("The key was deleted or is not this service account's"),
        "{remediation}"
    );
    assert!(check(&report, "delegation.contacts")["evidence"]
        .as_str()
        .unwrap()
        .contains("Invalid JWT Signature."));
}

async fn each_disabled_api_is_named(app: TestApp) {
    let cases = [
        ("no-people", "people.googleapis.com", "api.people"),
        (
            "no-calendar",
            "calendar-json.googleapis.com",
            "api.calendar",
        ),
        ("no-gmail", "gmail.googleapis.com", "api.gmail"),
    ];

    for (brokerage_id, service, failing) in cases {
        let workspace = registered(&app, brokerage_id, &ALL_SCOPES).await;
        let project = workspace.key_json["project_id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.emulator
            .set_api_enabled(&project, service, false)
            .expect("API disabled");

        let report = verify(&app, brokerage_id, json!({})).await;

        assert_failed_with_grant(&report, &workspace.client_id);
        assert_eq!(failed(&report), [failing], "{report}");
        let remediation = remediation_of(&report, failing);
        assert!(
            remediation.contains(&format!("({service})")),
            "{remediation}"
        );
        assert!(
            remediation.contains(&format!(
                "https://console.developers.google.com/apis/api/{service}/overview?project="
            )),
            "{remediation}"
        );
        assert!(check(&report, failing)["evidence"]
            .as_str()
            .unwrap()
            .contains("disabled"));
    }
}

async fn skewed_clock_fails_clock_check(app: TestApp) {
    let workspace = app.onboard("acme").await;
    app.emulator.set_clock_offset(120);

    let report = verify(&app, "acme", json!({})).await;
    app.emulator.set_clock_offset(0);

    assert_failed_with_grant(&report, &workspace.client_id);
    assert_eq!(failed(&report), ["clock"], "{report}");
    let evidence = check(&report, "clock")["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("120 s behind")
            || evidence.contains("119 s behind")
            || evidence.contains("121 s behind"),
        "{evidence}"
    );
    assert!(remediation_of(&report, "clock").contains("Invalid JWT"));
}

async fn old_key_warns(app: TestApp) {
    app.onboard("acme").await;
    sqlx::query("UPDATE credentials SET uploaded_at = '2020-01-01T00:00:00.000Z' WHERE brokerage_id = 'acme'")
        .execute(app.state.db.pool())
        .await
        .expect("backdate the key");

    let report = verify(&app, "acme", json!({})).await;

    assert_eq!(
        report["outcome"], "verified",
        "a warning does not fail: {report}"
    );
    assert_eq!(status_of(&report, "key"), "warn");
    assert!(remediation_of(&report, "key").contains("90 days"));
}

// ---- input, keys and access ----

async fn test_user_must_be_in_domains(app: TestApp) {
    app.onboard("acme").await;

    let response = app
        .post(
            "/v1/brokerages/acme/verifications",
            json!({ "test_user": "someone@elsewhere.example" }),
        )
        .await;
    let problem = assert_problem(response, StatusCode::BAD_REQUEST, "user_outside_domains").await;
    assert_eq!(problem["field"], "test_user");

    let response = app
        .post(
            "/v1/brokerages/acme/verifications",
            json!({ "test_user": "not an address" }),
        )
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_email").await;

    let response = app
        .post(
            "/v1/brokerages/acme/verifications",
            json!({ "tester": "x" }),
        )
        .await;
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;

    let response = app
        .request(Method::POST, "/v1/brokerages/acme/verifications", None)
        .await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "a missing body means the defaults"
    );
}

async fn verification_needs_a_key(app: TestApp) {
    let workspace = app.workspace("acme", &ALL_SCOPES);
    app.create_brokerage(&workspace).await;

    let response = app
        .post("/v1/brokerages/acme/verifications", json!({}))
        .await;
    assert_problem(response, StatusCode::CONFLICT, "credentials_missing").await;

    let response = app
        .post("/v1/brokerages/unknown/verifications", json!({}))
        .await;
    assert_problem(response, StatusCode::NOT_FOUND, "brokerage_not_found").await;

    let listed: Value = app
        .get("/v1/brokerages/acme/verifications")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"], json!([]), "nothing stored");
}

async fn roles_and_scoping(app: TestApp) {
    app.onboard("acme").await;
    app.onboard("other").await;
    let support = app.api_key("support", None).await;
    let service = app.api_key("service", None).await;
    let other_admin = app.api_key("admin", Some("other")).await;
    let path = "/v1/brokerages/acme/verifications";

    let response = app
        .request_as(&support, Method::POST, path, Some(json!({})))
        .await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "support staff verify"
    );
    let listed = app.request_as(&support, Method::GET, path, None).await;
    assert_eq!(listed.status(), StatusCode::OK);

    let response = app
        .request_as(&service, Method::POST, path, Some(json!({})))
        .await;
    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;

    for method in [Method::POST, Method::GET] {
        let response = app
            .request_as(&other_admin, method, path, Some(json!({})))
            .await;
        assert_problem(response, StatusCode::NOT_FOUND, "brokerage_not_found").await;
    }
}

async fn reports_listed_newest_first(app: TestApp) {
    app.onboard("acme").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let report = verify(&app, "acme", json!({})).await;
        ids.push(report["id"].as_str().unwrap().to_owned());
    }

    let first: Value = app
        .get("/v1/brokerages/acme/verifications?limit=2")
        .await
        .json()
        .await
        .unwrap();
    let page: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect();
    assert_eq!(page, [ids[2].as_str(), ids[1].as_str()]);
    for item in first["items"].as_array().unwrap() {
        for field in [
            "started_at",
            "finished_at",
            "api_key_id",
            "test_user",
            "credential_version",
            "outcome",
            "checks",
        ] {
            assert!(!item[field].is_null(), "{field} in {item}");
        }
    }

    let cursor = first["next_cursor"].as_str().expect("a second page");
    let second: Value = app
        .get(&format!(
            "/v1/brokerages/acme/verifications?limit=2&cursor={cursor}"
        ))
        .await
        .json()
        .await
        .unwrap();
    let page: Vec<&str> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect();
    assert_eq!(page, [ids[0].as_str()]);
    assert!(second["next_cursor"].is_null());

    let response = app
        .get("/v1/brokerages/acme/verifications/no-such-report")
        .await;
    assert_problem(response, StatusCode::NOT_FOUND, "verification_not_found").await;
    let response = app
        .get("/v1/brokerages/acme/verifications?cursor=garbage")
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_cursor").await;
    let response = app.get("/v1/brokerages/acme/verifications?limit=0").await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_limit").await;
}

// ---- rotation and revocation ----

/// Adds a second key to the Workspace's service account and uploads it as pending.
async fn upload_second_key(app: &TestApp, workspace: &Workspace) -> Value {
    let second = app
        .emulator
        .add_service_account_key(&workspace.client_id)
        .expect("second key");
    let uploaded = app
        .upload_key(&workspace.brokerage_id, &second.key_json)
        .await;
    assert_eq!(uploaded["pending"]["version"], 2, "{uploaded}");
    assert_eq!(uploaded["active"]["version"], 1, "{uploaded}");
    second.key_json
}

/// Deletes the Workspace's first key at Google and empties the emulator's and
/// the gateway's token stores, so that every later call exchanges a token
/// with whichever key the gateway has.
fn forget_old_key(app: &TestApp, workspace: &Workspace) {
    let old_key_id = workspace.key_json["private_key_id"]
        .as_str()
        .expect("key id");
    app.emulator
        .delete_service_account_key(&workspace.client_id, old_key_id)
        .expect("old key deleted");
    app.emulator.expire_access_tokens();
    app.state
        .google
        .tokens()
        .invalidate_brokerage(&workspace.brokerage_id);
}

async fn contacts_status(app: &TestApp, workspace: &Workspace) -> StatusCode {
    app.get(&format!("{}/contacts", workspace.agent_path()))
        .await
        .status()
}

async fn pending_key_activates_when_verified(app: TestApp) {
    let workspace = app.onboard("acme").await;
    verify(&app, "acme", json!({})).await;
    upload_second_key(&app, &workspace).await;
    assert_eq!(
        contacts_status(&app, &workspace).await,
        StatusCode::OK,
        "the active key serves while v2 is pending"
    );
    let exchanges_before = app.state.google.tokens().exchanges();

    let report = verify(&app, "acme", json!({})).await;

    assert_eq!(report["outcome"], "verified", "{report}");
    assert_eq!(report["credential_version"], 2);
    assert_eq!(report["credential_state"], "pending");
    assert_eq!(report["key_activated"], true);
    let saved = credentials(&app, "acme").await;
    assert_eq!(saved["active"]["version"], 2, "{saved}");
    assert!(saved["pending"].is_null(), "{saved}");
    assert_eq!(saved["credential_status"], "verified");
    assert!(audit_actions(&app, "acme")
        .await
        .contains(&("rotate".to_owned(), "success".to_owned())));

    // The old key is deleted at Google, and the issued tokens are forgotten on
    // both sides so that the next call needs a new exchange: it only works if
    // it signs with the new key.
    forget_old_key(&app, &workspace);
    assert_eq!(contacts_status(&app, &workspace).await, StatusCode::OK);
    assert!(
        app.state.google.tokens().exchanges() > exchanges_before,
        "new tokens were issued for the new key"
    );
}

async fn failing_pending_key_stays_pending(app: TestApp) {
    let workspace = app.onboard("acme").await;
    verify(&app, "acme", json!({})).await;
    let stranger = app.emulator.create_service_account("stranger-project");
    app.upload_key("acme", &stranger.key_json).await;

    let report = verify(&app, "acme", json!({})).await;

    assert_eq!(report["outcome"], "verification_failed", "{report}");
    assert_eq!(report["credential_state"], "pending");
    assert_eq!(report["key_activated"], false);
    assert_failed_with_grant(&report, &stranger.client_id);
    assert!(remediation_of(&report, "delegation.calendar")
        .contains(&format!("Client ID {}", stranger.client_id)));

    let saved = credentials(&app, "acme").await;
    assert_eq!(saved["active"]["version"], 1, "{saved}");
    assert_eq!(saved["pending"]["version"], 2, "{saved}");
    assert_eq!(
        saved["credential_status"], "verified",
        "the active key is still the verified one"
    );
    assert_eq!(contacts_status(&app, &workspace).await, StatusCode::OK);
    assert!(!audit_actions(&app, "acme")
        .await
        .iter()
        .any(|(action, _)| action == "rotate"));
}

async fn replace_without_verification_activates_at_once(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let second = app
        .emulator
        .add_service_account_key(&workspace.client_id)
        .expect("second key");

    let response = app
        .put(
            "/v1/brokerages/acme/credentials?replace_without_verification=true",
            second.key_json.clone(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let saved: Value = response.json().await.unwrap();
    assert_eq!(saved["active"]["version"], 2, "{saved}");
    assert!(saved["pending"].is_null());

    let report = verify(&app, "acme", json!({})).await;
    assert_eq!(report["credential_version"], 2);
    assert_eq!(report["credential_state"], "active");
    assert_eq!(report["key_activated"], false);
    assert_eq!(report["outcome"], "verified", "{report}");
}

async fn revoked_key_blocks_calls(app: TestApp) {
    let workspace = app.onboard("acme").await;
    verify(&app, "acme", json!({})).await;

    assert_eq!(
        app.delete("/v1/brokerages/acme/credentials").await.status(),
        StatusCode::NO_CONTENT
    );

    let response = app
        .post("/v1/brokerages/acme/verifications", json!({}))
        .await;
    assert_problem(response, StatusCode::CONFLICT, "credentials_revoked").await;
    let response = app
        .get(&format!("{}/contacts", workspace.agent_path()))
        .await;
    assert_problem(response, StatusCode::CONFLICT, "credentials_revoked").await;
    assert_eq!(
        brokerage(&app, "acme").await["credential_status"],
        "revoked"
    );
}

/// A run that finishes after a revocation must not store its result: the commit
/// finds the revoked key and writes nothing.
async fn revocation_during_run_changes_nothing(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let finished = verify(&app, "acme", json!({})).await;
    upload_second_key(&app, &workspace).await;

    let mut report: VerificationReport = serde_json::from_value(finished).expect("report parses");
    report.id = "run-overtaken-by-revocation".to_owned();
    report.credential_version = 2;
    report.credential_state = "pending".to_owned();
    report.key_activated = true;

    assert_eq!(
        app.delete("/v1/brokerages/acme/credentials").await.status(),
        StatusCode::NO_CONTENT
    );
    let committed = verification_store::commit(&app.state.db, "acme", &mut report, None)
        .await
        .expect("commit runs");

    assert_eq!(committed, Committed::KeyRevoked);
    let saved = credentials(&app, "acme").await;
    assert!(
        saved["active"].is_null() && saved["pending"].is_null(),
        "{saved}"
    );
    assert_eq!(saved["credential_status"], "revoked");
    let response = app
        .get("/v1/brokerages/acme/verifications/run-overtaken-by-revocation")
        .await;
    assert_problem(response, StatusCode::NOT_FOUND, "verification_not_found").await;
}

/// A run whose pending key was replaced by a newer upload stores nothing and
/// activates nothing.
async fn replaced_key_run_is_discarded(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let finished = verify(&app, "acme", json!({})).await;
    upload_second_key(&app, &workspace).await;

    let mut report: VerificationReport = serde_json::from_value(finished).expect("report parses");
    report.id = "run-overtaken-by-upload".to_owned();
    report.credential_version = 2;
    report.credential_state = "pending".to_owned();
    report.key_activated = true;

    let third = app
        .emulator
        .add_service_account_key(&workspace.client_id)
        .expect("third key");
    app.upload_key("acme", &third.key_json).await;
    let committed = verification_store::commit(&app.state.db, "acme", &mut report, None)
        .await
        .expect("commit runs");

    assert_eq!(committed, Committed::KeyReplaced);
    let saved = credentials(&app, "acme").await;
    assert_eq!(saved["active"]["version"], 1, "{saved}");
    assert_eq!(saved["pending"]["version"], 3, "{saved}");
    let response = app
        .get("/v1/brokerages/acme/verifications/run-overtaken-by-upload")
        .await;
    assert_problem(response, StatusCode::NOT_FOUND, "verification_not_found").await;
}

/// Sends a verification and a revocation together. Whichever commits first,
/// the brokerage ends with every key revoked and no Google call succeeds.
async fn revocation_racing_a_run_leaves_all_revoked(app: TestApp) {
    let workspace = app.onboard("acme").await;
    upload_second_key(&app, &workspace).await;

    let verification = tokio::spawn(
        app.client
            .post(format!("{}/v1/brokerages/acme/verifications", app.address))
            .bearer_auth(&app.admin_key)
            .json(&json!({}))
            .send(),
    );
    let revocation = app.delete("/v1/brokerages/acme/credentials").await;
    let verification = verification
        .await
        .expect("task joins")
        .expect("gateway answers");

    assert_eq!(revocation.status(), StatusCode::NO_CONTENT);
    if verification.status() != StatusCode::CREATED {
        assert_problem(verification, StatusCode::CONFLICT, "credentials_revoked").await;
    }
    let saved = credentials(&app, "acme").await;
    assert!(
        saved["active"].is_null() && saved["pending"].is_null(),
        "{saved}"
    );
    assert_eq!(saved["credential_status"], "revoked");
    let response = app
        .get(&format!("{}/contacts", workspace.agent_path()))
        .await;
    assert_problem(response, StatusCode::CONFLICT, "credentials_revoked").await;
}

/// Two runs testing the same pending key at once both report, and the key is
/// activated once.
async fn concurrent_verifications_rotate_once(app: TestApp) {
    let workspace = app.onboard("acme").await;
    upload_second_key(&app, &workspace).await;

    let runs: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(
                app.client
                    .post(format!("{}/v1/brokerages/acme/verifications", app.address))
                    .bearer_auth(&app.admin_key)
                    .json(&json!({}))
                    .send(),
            )
        })
        .collect();
    let mut activations = 0;
    for run in runs {
        let response = run.await.expect("task joins").expect("gateway answers");
        assert_eq!(response.status(), StatusCode::CREATED);
        let report: Value = response.json().await.unwrap();
        assert_eq!(report["outcome"], "verified", "{report}");
        assert_eq!(report["credential_version"], 2);
        if report["key_activated"] == true {
            activations += 1;
        }
    }

    assert_eq!(activations, 1);
    assert_eq!(credentials(&app, "acme").await["active"]["version"], 2);
    let rotations = audit_actions(&app, "acme")
        .await
        .into_iter()
        .filter(|(action, _)| action == "rotate")
        .count();
    assert_eq!(rotations, 1);
}

async fn reencrypted_keys_still_verify(app: TestApp) {
    let workspace = app.onboard("acme").await;
    verify(&app, "acme", json!({})).await;

    let old_entry = app.state.settings.security.master_keys[0].clone();
    let new_entry = secrecy::SecretString::from(format!("rotated:{}", base64_key()));
    let mut settings = (*app.state.settings).clone();
    settings.security.master_keys = vec![new_entry.clone(), old_entry];
    let both = workspace_gateway::startup::build_state(settings.clone())
        .await
        .expect("state with both master keys");

    let outcome = workspace_gateway::credentials::reencrypt::reencrypt_all(&both)
        .await
        .expect("re-encryption");
    assert_eq!(outcome.master_key_id, "rotated");
    assert_eq!(outcome.reencrypted, 1);

    // A gateway that has only the new master key still verifies and serves.
    settings.security.master_keys = vec![new_entry];
    let only_new = workspace_gateway::startup::build_state(settings)
        .await
        .expect("state with the new master key");
    let second = SecondGateway::start(only_new).await;
    let address = second.address.clone();

    let response = app
        .client
        .post(format!("{address}/v1/brokerages/acme/verifications"))
        .bearer_auth(&app.admin_key)
        .json(&json!({}))
        .send()
        .await
        .expect("second gateway reachable");
    assert_eq!(response.status(), StatusCode::CREATED);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["outcome"], "verified", "{report}");
    assert_eq!(status_of(&report, "key"), "pass");
    let contacts = app
        .client
        .get(format!("{address}{}/contacts", workspace.agent_path()))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(contacts.status(), StatusCode::OK);

    second.stop().await;
}

/// Another gateway on port 0 over the same database, for settings the test
/// app does not have.
struct SecondGateway {
    address: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl SecondGateway {
    async fn start(state: workspace_gateway::state::AppState) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let address = format!("http://{}", listener.local_addr().expect("local address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(workspace_gateway::launch(listener, state, async {
            let _ = stopped.await;
        }));
        Self {
            address,
            stop,
            server,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
    }
}

/// A token endpoint that never responds bounds the run by its time limit: the
/// clock check fails, later checks are skipped, and the report is stored.
async fn slow_google_hits_time_limit(app: TestApp) {
    let workspace = app.workspace("acme", &ALL_SCOPES);
    app.create_brokerage(&workspace).await;

    // Accepts connections and never responds. The test aborts the task at its end.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let silent_uri = format!(
        "http://{}/token",
        silent.local_addr().expect("local address")
    );
    let silent_server = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    let mut key_json = workspace.key_json.clone();
    key_json["token_uri"] = json!(silent_uri);
    app.upload_key("acme", &key_json).await;

    // A 6 s request timeout leaves the verification 1 s.
    let mut settings = (*app.state.settings).clone();
    settings.http.request_timeout_seconds = 6;
    let state = workspace_gateway::startup::build_state(settings)
        .await
        .expect("state with a short timeout");
    let second = SecondGateway::start(state).await;

    let started = std::time::Instant::now();
    let response = app
        .client
        .post(format!(
            "{}/v1/brokerages/acme/verifications",
            second.address
        ))
        .bearer_auth(&app.admin_key)
        .json(&json!({}))
        .send()
        .await
        .expect("second gateway reachable");
    let elapsed = started.elapsed();
    second.stop().await;
    silent_server.abort();

    assert_eq!(response.status(), StatusCode::CREATED);
    let report: Value = response.json().await.unwrap();
    assert!(
        elapsed < std::time::Duration::from_secs(5),
        "took {elapsed:?}"
    );
    assert_eq!(report["outcome"], "verification_failed", "{report}");
    assert_eq!(failed(&report), ["clock"], "{report}");
    assert!(
        check(&report, "clock")["evidence"]
            .as_str()
            .unwrap()
            .contains("could not be reached"),
        "{report}"
    );
    for name in [
        "delegation.calendar",
        "delegation.gmail",
        "delegation.contacts",
        "contacts_scope",
    ] {
        assert_eq!(status_of(&report, name), "skipped", "{name}");
        assert!(
            check(&report, name)["evidence"]
                .as_str()
                .unwrap()
                .contains("time limit of 1 s"),
            "{report}"
        );
    }
    let stored = app
        .get(&format!(
            "/v1/brokerages/acme/verifications/{}",
            report["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(stored.status(), StatusCode::OK);
}

fn base64_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
}

async fn contact_lists_survive_key_swap(app: TestApp) {
    let workspace = app.onboard("acme").await;
    verify(&app, "acme", json!({})).await;
    upload_second_key(&app, &workspace).await;

    // The verification runs in the background while waves of contact lists go
    // out, so that lists start before, during and after the swap.
    let url = format!("{}{}/contacts", app.address, workspace.agent_path());
    let verification = tokio::spawn(
        app.client
            .post(format!("{}/v1/brokerages/acme/verifications", app.address))
            .bearer_auth(&app.admin_key)
            .json(&json!({}))
            .send(),
    );
    for _wave in 0..5 {
        let lists: Vec<_> = (0..10)
            .map(|_| tokio::spawn(app.client.get(&url).bearer_auth(&app.admin_key).send()))
            .collect();
        for list in lists {
            let response = list.await.expect("task joins").expect("gateway answers");
            assert_eq!(
                response.status(),
                StatusCode::OK,
                "{}",
                response.text().await.unwrap_or_default()
            );
        }
    }
    let response = verification
        .await
        .expect("task joins")
        .expect("gateway answers");
    assert_eq!(response.status(), StatusCode::CREATED);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["key_activated"], true, "{report}");

    // After the swap the old key is deleted at Google; every later call must
    // sign with the new one.
    forget_old_key(&app, &workspace);
    let lists: Vec<_> = (0..20)
        .map(|_| tokio::spawn(app.client.get(&url).bearer_auth(&app.admin_key).send()))
        .collect();
    for list in lists {
        let response = list.await.expect("task joins").expect("gateway answers");
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            response.text().await.unwrap_or_default()
        );
    }
}
