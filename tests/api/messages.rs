//! Mail sent through `POST .../users/{email}/messages`: the rendered message as
//! Gmail stores it, `Idempotency-Key` replays and races, Gmail failures, input
//! checks, the size limit, read access, revoked keys, logs and reply threading.

use base64::Engine;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::db_tests;
use crate::helpers::{assert_problem, captured_logs, TestApp, Workspace, ALL_SCOPES};

db_tests!(
    send_full_message,
    replay_same_key,
    concurrent_same_key,
    gmail_unavailable_unknown,
    gmail_rate_limited_retry,
    missing_delegation_retry,
    invalid_requests_rejected,
    oversized_message_rejected,
    read_access_checked,
    revoked_key_new_key,
    logs_omit_content,
    reply_same_thread,
);

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Posts a JSON body to the agent's messages with the admin key.
async fn post_message(
    app: &TestApp,
    workspace: &Workspace,
    idempotency_key: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Response {
    let url = format!("{}{}/messages", app.address, workspace.agent_path());
    let mut request = app
        .client
        .post(url)
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/json")
        .body(body);
    if let Some(key) = idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.expect("request reaches the gateway")
}

async fn send(
    app: &TestApp,
    workspace: &Workspace,
    idempotency_key: Option<&str>,
    body: &Value,
) -> Response {
    let bytes = serde_json::to_vec(body).expect("request JSON");
    post_message(app, workspace, idempotency_key, bytes).await
}

/// Reads a JSON response after checking its status.
async fn json_with_status(response: Response, expected: StatusCode) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(status, expected, "status of {body}");
    body
}

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// Builds a valid text message to one recipient.
fn plain_message(subject: &str) -> Value {
    json!({
        "to": [{ "email": "jane.buyer@example.com", "name": "Jane Buyer" }],
        "subject": subject,
        "text_body": "The showing is confirmed for Saturday at 10:00.\r\n",
    })
}

/// Makes the agent's next Gmail API call fail with `status`.
async fn inject_gmail_fault(
    app: &TestApp,
    workspace: &Workspace,
    status: u16,
    retry_after: Option<u64>,
) {
    let url = format!("{}/emulator/faults", app.emulator.base_url());
    let rule = json!({
        "api": "gmail",
        "user": workspace.agent,
        "status": status,
        "times": 1,
        "retry_after": retry_after,
    });
    let response = app
        .client
        .post(url)
        .json(&rule)
        .send()
        .await
        .expect("emulator reachable");
    assert_eq!(response.status(), StatusCode::CREATED, "fault injected");
}

/// Finds the gateway message id that a `send_outcome_unknown` detail names.
// NOTE: the 502 problem carries the id only in its human-readable `detail`.
fn message_id_in(detail: &str) -> String {
    detail
        .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .find(|word| uuid::Uuid::parse_str(word).is_ok())
        .unwrap_or_else(|| panic!("no message id in {detail:?}"))
        .to_owned()
}

async fn send_full_message(app: TestApp) {
    let workspace = app.onboard("acme").await;
    // Longer than one 78-character header line, so the encoded subject is folded.
    let subject = "Signed offer for 12 Elm St — please review before Friday’s deadline ✔ (counter-offer terms inside)";
    let text = "Hi Jane,\r\nthe signed offer is attached.\r\nBest, Ana\r\n";
    let html = "<p>Hi Jane,</p><p>the <b>signed offer</b> is attached.</p><p>Best, Ana</p>";
    let filename = "Angebot – Müller 東京.bin";
    let bytes: Vec<u8> = (0..=255).collect();
    let body = json!({
        "to": [{ "email": "jane.buyer@example.com", "name": "Jane Buyer" }],
        "cc": [{ "email": "co-agent@example.net", "name": "Łukasz Nowak" }],
        "bcc": [{ "email": "records@example.org", "name": "Acme Records" }],
        "subject": subject,
        "text_body": text,
        "html_body": html,
        "attachments": [{
            "filename": filename,
            "content_type": "application/octet-stream",
            "data_base64": BASE64.encode(&bytes),
        }],
    });

    let response = send(&app, &workspace, None, &body).await;
    assert_eq!(header(&response, "idempotent-replayed"), None);
    let record = json_with_status(response, StatusCode::CREATED).await;
    assert_eq!(record["status"], "sent");
    let gmail_id = record["gmail_message_id"]
        .as_str()
        .expect("Gmail message id");

    let sent = app.emulator.sent_messages(&workspace.agent);
    assert_eq!(sent.len(), 1, "one message in Sent");
    let mail = &sent[0];
    assert_eq!(mail.id, gmail_id);
    assert_eq!(record["gmail_thread_id"], mail.thread_id.as_str());
    assert_eq!(mail.subject.as_deref(), Some(subject));
    assert_eq!(mail.from.as_deref(), Some(workspace.agent.as_str()));
    assert_eq!(mail.to, vec!["jane.buyer@example.com".to_owned()]);
    assert_eq!(mail.cc, vec!["co-agent@example.net".to_owned()]);
    assert_eq!(mail.bcc, vec!["records@example.org".to_owned()]);
    assert_eq!(mail.text_body.as_deref(), Some(text));
    assert_eq!(mail.html_body.as_deref(), Some(html));
    assert_eq!(mail.attachments.len(), 1);
    assert_eq!(mail.attachments[0].filename, filename);
    assert_eq!(mail.attachments[0].content_type, "application/octet-stream");
    assert_eq!(mail.attachments[0].bytes, bytes);

    let parsed = mail_parser::MessageParser::default()
        .parse(&mail.raw)
        .expect("raw message parses");
    let to = parsed
        .to()
        .and_then(|list| list.first())
        .expect("To header");
    assert_eq!(to.name(), Some("Jane Buyer"));
    let cc = parsed
        .cc()
        .and_then(|list| list.first())
        .expect("Cc header");
    assert_eq!(cc.name(), Some("Łukasz Nowak"));
    let bcc = parsed
        .bcc()
        .and_then(|list| list.first())
        .expect("Bcc header");
    assert_eq!(bcc.name(), Some("Acme Records"));
    assert_eq!(bcc.address(), Some("records@example.org"));
    assert_eq!(parsed.subject(), Some(subject));
}

async fn replay_same_key(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let key = "offer-12-elm-3f9a";
    let body = plain_message("Showing on Saturday");

    let first = send(&app, &workspace, Some(key), &body).await;
    let first = json_with_status(first, StatusCode::CREATED).await;

    let replay = send(&app, &workspace, Some(key), &body).await;
    assert_eq!(
        header(&replay, "idempotent-replayed").as_deref(),
        Some("true")
    );
    let replay = json_with_status(replay, StatusCode::OK).await;
    assert_eq!(replay["id"], first["id"]);
    assert_eq!(replay["status"], "sent");
    assert_eq!(replay["gmail_message_id"], first["gmail_message_id"]);
    assert_eq!(replay["gmail_thread_id"], first["gmail_thread_id"]);

    // Key order, spacing and an explicit empty default do not make it another body.
    let reformatted = r#"{ "text_body": "The showing is confirmed for Saturday at 10:00.\r\n",
        "cc": [], "subject": "Showing on Saturday",
        "to": [ { "name": "Jane Buyer", "email": "jane.buyer@example.com" } ] }"#;
    let replay = post_message(&app, &workspace, Some(key), reformatted).await;
    let replay = json_with_status(replay, StatusCode::OK).await;
    assert_eq!(replay["id"], first["id"]);
    assert_eq!(app.emulator.sent_messages(&workspace.agent).len(), 1);

    let mut changed = body.clone();
    changed["text_body"] = json!("The showing moved to Sunday.");
    let reused = send(&app, &workspace, Some(key), &changed).await;
    let problem = assert_problem(
        reused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(problem["field"], "Idempotency-Key");
    assert_eq!(app.emulator.sent_messages(&workspace.agent).len(), 1);
}

async fn concurrent_same_key(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let key = "race-5b1c";
    let body = plain_message("Six requests, one message");

    let requests = (0..6).map(|_| send(&app, &workspace, Some(key), &body));
    let responses = futures::future::join_all(requests).await;

    let mut created = Vec::new();
    let mut replayed = Vec::new();
    for response in responses {
        match response.status() {
            StatusCode::CREATED => created.push(response.json::<Value>().await.expect("JSON")),
            StatusCode::OK => {
                assert_eq!(
                    header(&response, "idempotent-replayed").as_deref(),
                    Some("true")
                );
                replayed.push(response.json::<Value>().await.expect("JSON"));
            }
            StatusCode::CONFLICT => {
                assert!(
                    header(&response, "retry-after").is_some(),
                    "409 has Retry-After"
                );
                assert_problem(response, StatusCode::CONFLICT, "idempotency_in_progress").await;
            }
            status => panic!("unexpected status {status}: {:?}", response.text().await),
        }
    }
    assert_eq!(created.len(), 1, "exactly one request sent");
    for replay in &replayed {
        assert_eq!(replay["id"], created[0]["id"]);
    }
    assert_eq!(app.emulator.sent_messages(&workspace.agent).len(), 1);

    let later = send(&app, &workspace, Some(key), &body).await;
    let later = json_with_status(later, StatusCode::OK).await;
    assert_eq!(later["id"], created[0]["id"]);
    assert_eq!(app.emulator.sent_messages(&workspace.agent).len(), 1);
}

async fn gmail_unavailable_unknown(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let key = "unknown-outcome-1";
    let body = plain_message("Gmail is down");
    inject_gmail_fault(&app, &workspace, 503, None).await;

    let first = send(&app, &workspace, Some(key), &body).await;
    let problem = assert_problem(first, StatusCode::BAD_GATEWAY, "send_outcome_unknown").await;
    let message_id = message_id_in(problem["detail"].as_str().unwrap_or_default());

    // The fault is spent, so a retry that reached Gmail would send the message.
    let calls_before_retry = app.emulator.api_calls();
    let retry = send(&app, &workspace, Some(key), &body).await;
    assert_problem(retry, StatusCode::BAD_GATEWAY, "send_outcome_unknown").await;
    assert_eq!(
        app.emulator.api_calls(),
        calls_before_retry,
        "the retry did not call Gmail"
    );
    assert!(app.emulator.sent_messages(&workspace.agent).is_empty());

    let path = format!("{}/messages/{message_id}", workspace.agent_path());
    let record = json_with_status(app.get(&path).await, StatusCode::OK).await;
    assert_eq!(record["id"], message_id.as_str());
    assert_eq!(record["status"], "unknown");
    assert_eq!(record["gmail_message_id"], Value::Null);
    assert!(record["error_code"].is_string(), "error code in {record}");
}

async fn gmail_rate_limited_retry(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let key = "rate-limited-1";
    let body = plain_message("Sent after a rate limit");
    inject_gmail_fault(&app, &workspace, 429, Some(7)).await;

    let limited = send(&app, &workspace, Some(key), &body).await;
    assert_eq!(header(&limited, "retry-after").as_deref(), Some("7"));
    let problem = assert_problem(
        limited,
        StatusCode::TOO_MANY_REQUESTS,
        "google_rate_limited",
    )
    .await;
    assert_eq!(problem["retry_after"], 7);
    assert!(app.emulator.sent_messages(&workspace.agent).is_empty());

    let retry = send(&app, &workspace, Some(key), &body).await;
    let record = json_with_status(retry, StatusCode::CREATED).await;
    assert_eq!(record["status"], "sent");
    let sent = app.emulator.sent_messages(&workspace.agent);
    assert_eq!(sent.len(), 1);
    assert_eq!(record["gmail_message_id"], sent[0].id.as_str());
}

async fn missing_delegation_retry(app: TestApp) {
    let without_gmail = &ALL_SCOPES[..2];
    assert!(!without_gmail.iter().any(|scope| scope.contains("gmail")));
    let workspace = app.workspace("acme", without_gmail);
    app.create_brokerage(&workspace).await;
    app.upload_key("acme", &workspace.key_json).await;
    app.enroll("acme", &workspace.agent).await;
    let key = "delegation-1";
    let body = plain_message("Sent once Gmail is delegated");

    let denied = send(&app, &workspace, Some(key), &body).await;
    assert_problem(denied, StatusCode::FORBIDDEN, "delegation_not_authorized").await;
    assert!(app.emulator.sent_messages(&workspace.agent).is_empty());

    app.emulator
        .delegate(&workspace.domain, &workspace.client_id, &ALL_SCOPES);
    let retry = send(&app, &workspace, Some(key), &body).await;
    let record = json_with_status(retry, StatusCode::CREATED).await;
    let sent = app.emulator.sent_messages(&workspace.agent);
    assert_eq!(sent.len(), 1);
    assert_eq!(record["gmail_message_id"], sent[0].id.as_str());
}

/// Builds a valid message with one attachment, which the invalid-field table edits.
fn message_with_attachment() -> Value {
    json!({
        "to": [{ "email": "jane.buyer@example.com", "name": "Jane Buyer" }],
        "subject": "Floor plan",
        "text_body": "The floor plan is attached.",
        "attachments": [{ "filename": "plan.pdf", "content_type": "application/pdf", "data_base64": "JVBERi0xLjQK" }],
    })
}

fn modified(change: impl FnOnce(&mut Value)) -> Value {
    let mut body = message_with_attachment();
    change(&mut body);
    body
}

async fn invalid_requests_rejected(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let key = "validation-1";
    let long_key = "k".repeat(256);
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "no recipient",
            modified(|body| body["to"] = json!([])),
            "missing_recipient",
            "to",
        ),
        (
            "address without @",
            modified(|body| body["to"][0]["email"] = json!("jane.example.com")),
            "invalid_address",
            "to[0].email",
        ),
        (
            "address with display name",
            modified(|body| body["cc"] = json!([{ "email": "Jane <jane@example.com>" }])),
            "invalid_address",
            "cc[0].email",
        ),
        (
            "CR LF in subject",
            modified(|body| body["subject"] = json!("Plan\r\nBcc: victim@example.com")),
            "header_injection",
            "subject",
        ),
        (
            "LF in display name",
            modified(|body| body["to"][0]["name"] = json!("Jane\nBcc: victim@example.com")),
            "header_injection",
            "to[0].name",
        ),
        (
            "no body",
            modified(|body| {
                if let Some(fields) = body.as_object_mut() {
                    fields.remove("text_body");
                }
            }),
            "missing_body",
            "text_body",
        ),
        (
            "bad base64",
            modified(|body| body["attachments"][0]["data_base64"] = json!("not base64!")),
            "invalid_attachment_data",
            "attachments[0].data_base64",
        ),
        (
            "path in file name",
            modified(|body| body["attachments"][0]["filename"] = json!("../x")),
            "invalid_filename",
            "attachments[0].filename",
        ),
        (
            "bad content type",
            modified(|body| body["attachments"][0]["content_type"] = json!("pdf")),
            "invalid_content_type",
            "attachments[0].content_type",
        ),
        (
            "multipart content type",
            modified(|body| body["attachments"][0]["content_type"] = json!("multipart/mixed")),
            "invalid_content_type",
            "attachments[0].content_type",
        ),
        (
            "in_reply_to without brackets",
            modified(|body| body["in_reply_to"] = json!("CAB123@mail.gmail.com")),
            "invalid_message_id",
            "in_reply_to",
        ),
    ];
    let calls_before = app.emulator.api_calls();

    for (case, body, code, field) in cases {
        let response = send(&app, &workspace, Some(key), &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        let problem = assert_problem(response, StatusCode::BAD_REQUEST, code).await;
        assert_eq!(problem["field"], field, "{case}");
    }

    for bad_key in ["two words", long_key.as_str()] {
        let response = send(&app, &workspace, Some(bad_key), &message_with_attachment()).await;
        let problem =
            assert_problem(response, StatusCode::BAD_REQUEST, "invalid_idempotency_key").await;
        assert_eq!(problem["field"], "Idempotency-Key", "key {bad_key:?}");
    }

    assert!(app.emulator.sent_messages(&workspace.agent).is_empty());
    assert_eq!(app.emulator.api_calls(), calls_before, "no Gmail call");

    // No rejected request claimed the key, so it still sends a new body.
    let valid = send(&app, &workspace, Some(key), &message_with_attachment()).await;
    json_with_status(valid, StatusCode::CREATED).await;
}

async fn oversized_message_rejected(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let key = "too-large-1";
    // 36,400,000 base64 characters pass the check on the encoded total (36,700,160)
    // and decode to 27.3 MB, which the 76-character base64 lines of the rendered
    // message turn into about 37.4 MB, over Gmail's 35 MiB.
    let encoded_chars = 36_400_000;
    let mut body = Vec::with_capacity(encoded_chars + 512);
    body.extend_from_slice(
        br#"{"to":[{"email":"jane.buyer@example.com"}],"subject":"Drone footage","text_body":"Attached.","attachments":[{"filename":"footage.bin","content_type":"application/octet-stream","data_base64":""#,
    );
    body.resize(body.len() + encoded_chars, b'A');
    body.extend_from_slice(br#""}]}"#);
    let calls_before = app.emulator.api_calls();

    let response = post_message(&app, &workspace, Some(key), body).await;
    let problem =
        assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "message_too_large").await;
    assert_eq!(problem["field"], "attachments");
    assert!(app.emulator.sent_messages(&workspace.agent).is_empty());
    assert_eq!(app.emulator.api_calls(), calls_before, "no Gmail call");

    let small = send(&app, &workspace, Some(key), &plain_message("Footage link")).await;
    json_with_status(small, StatusCode::CREATED).await;
}

async fn read_access_checked(app: TestApp) {
    let acme = app.onboard("acme").await;
    app.onboard("other").await;
    let sent = send(&app, &acme, None, &plain_message("Read me")).await;
    let record = json_with_status(sent, StatusCode::CREATED).await;
    let id = record["id"].as_str().expect("message id");
    let path = format!("{}/messages/{id}", acme.agent_path());

    let read = json_with_status(app.get(&path).await, StatusCode::OK).await;
    assert_eq!(read["status"], "sent");
    assert_eq!(read["gmail_message_id"], record["gmail_message_id"]);
    let acme_key = app.api_key("service", Some("acme")).await;
    let own = app.request_as(&acme_key, Method::GET, &path, None).await;
    assert_eq!(own.status(), StatusCode::OK);

    let unknown = format!("{}/messages/{}", acme.agent_path(), uuid::Uuid::new_v4());
    assert_problem(
        app.get(&unknown).await,
        StatusCode::NOT_FOUND,
        "message_not_found",
    )
    .await;

    // A send belongs to its sender: another user of the brokerage cannot read it.
    app.enroll("acme", &acme.test_user).await;
    let colleague = format!("/v1/brokerages/acme/users/{}/messages/{id}", acme.test_user);
    assert_problem(
        app.get(&colleague).await,
        StatusCode::NOT_FOUND,
        "message_not_found",
    )
    .await;

    let other_key = app.api_key("service", Some("other")).await;
    let foreign = app.request_as(&other_key, Method::GET, &path, None).await;
    assert_problem(foreign, StatusCode::NOT_FOUND, "brokerage_not_found").await;

    let support_key = app.api_key("support", None).await;
    let support = app.request_as(&support_key, Method::GET, &path, None).await;
    assert_problem(support, StatusCode::FORBIDDEN, "forbidden").await;
}

async fn revoked_key_new_key(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let key = "after-revocation-1";
    let body = plain_message("Sent with the new key");
    let revoked = app.delete("/v1/brokerages/acme/credentials").await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);

    let rejected = send(&app, &workspace, Some(key), &body).await;
    assert_problem(rejected, StatusCode::CONFLICT, "credentials_revoked").await;
    assert!(app.emulator.sent_messages(&workspace.agent).is_empty());

    // The old key is deleted in the emulator, so only the new key can send.
    let rotated = app
        .emulator
        .add_service_account_key(&workspace.client_id)
        .expect("new key for the delegated service account");
    let old_key_id = workspace.key_json["private_key_id"]
        .as_str()
        .expect("old key id");
    app.emulator
        .delete_service_account_key(&workspace.client_id, old_key_id)
        .expect("old key deleted");
    let credentials = app.upload_key("acme", &rotated.key_json).await;
    assert_eq!(
        credentials["active"]["private_key_id"],
        rotated.private_key_id.as_str()
    );

    let retry = send(&app, &workspace, Some(key), &body).await;
    let record = json_with_status(retry, StatusCode::CREATED).await;
    let sent = app.emulator.sent_messages(&workspace.agent);
    assert_eq!(sent.len(), 1);
    assert_eq!(record["gmail_message_id"], sent[0].id.as_str());
}

async fn logs_omit_content(app: TestApp) {
    let workspace = app.onboard("acme").await;
    // Random markers cannot come from any other test sharing the log buffer.
    let marker = uuid::Uuid::new_v4().simple().to_string();
    let text = format!("Private text {marker}");
    let html = format!("<p>Private html {marker}</p>");
    let attachment = format!("Private attachment {marker}");
    let attachment_base64 = BASE64.encode(&attachment);
    let body = json!({
        "to": [{ "email": "jane.buyer@example.com" }],
        "subject": "Private documents",
        "text_body": text,
        "html_body": html,
        "attachments": [{ "filename": "notes.txt", "content_type": "text/plain", "data_base64": attachment_base64 }],
    });

    let sent = send(&app, &workspace, Some("logs-sent"), &body).await;
    let record = json_with_status(sent, StatusCode::CREATED).await;
    // A send with an unknown outcome also runs the error paths, which log Gmail's failure.
    inject_gmail_fault(&app, &workspace, 503, None).await;
    let unknown = send(&app, &workspace, Some("logs-unknown"), &body).await;
    assert_problem(unknown, StatusCode::BAD_GATEWAY, "send_outcome_unknown").await;

    let logs = captured_logs();
    let gmail_id = record["gmail_message_id"]
        .as_str()
        .expect("Gmail message id");
    assert!(
        logs.contains(gmail_id),
        "the send was logged, so the scan covers it"
    );
    assert!(
        !logs.contains(&marker),
        "no body or attachment text in the logs"
    );
    assert!(
        !logs.contains(&attachment_base64),
        "no attachment base64 in the logs"
    );
}

async fn reply_same_thread(app: TestApp) {
    let workspace = app.onboard("acme").await;
    let first = send(
        &app,
        &workspace,
        None,
        &plain_message("Showing on Saturday"),
    )
    .await;
    let first = json_with_status(first, StatusCode::CREATED).await;
    let thread_id = first["gmail_thread_id"].as_str().expect("Gmail thread id");

    let original = app.emulator.sent_messages(&workspace.agent).remove(0);
    let parsed = mail_parser::MessageParser::default()
        .parse(&original.raw)
        .expect("raw message parses");
    let message_id = parsed.message_id().expect("Message-ID header").to_owned();

    let reply = json!({
        "to": [{ "email": "jane.buyer@example.com", "name": "Jane Buyer" }],
        "subject": "Re: Showing on Saturday",
        "text_body": "Saturday works; see you at 10:00.",
        "thread_id": thread_id,
        "in_reply_to": format!("<{message_id}>"),
        "references": [format!("<{message_id}>")],
    });
    let second = send(&app, &workspace, None, &reply).await;
    let second = json_with_status(second, StatusCode::CREATED).await;
    assert_eq!(second["gmail_thread_id"], thread_id);
    assert_ne!(second["gmail_message_id"], first["gmail_message_id"]);

    let sent = app.emulator.sent_messages(&workspace.agent);
    assert_eq!(sent.len(), 2);
    let copy = &sent[1];
    assert_eq!(copy.thread_id, thread_id);
    assert_eq!(copy.in_reply_to.as_deref(), Some(message_id.as_str()));
    assert_eq!(copy.references, vec![message_id.clone()]);

    let parsed = mail_parser::MessageParser::default()
        .parse(&copy.raw)
        .expect("raw reply parses");
    assert_eq!(parsed.in_reply_to().as_text(), Some(message_id.as_str()));
    assert_eq!(parsed.references().as_text(), Some(message_id.as_str()));
}
