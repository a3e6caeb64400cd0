//! Gmail API: JSON and upload sends, recipient checks, From rewriting, Bcc handling, threads
//! and the profile.

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

const PLAIN: &str = "From: Agent <agent@example.com>\r\nTo: client@elsewhere.example\r\nBcc: boss@example.com\r\nSubject: Viewing\r\n\r\nSee you at 10.\r\n";

async fn send_raw(world: &TestWorld, token: &str, raw: &[u8]) -> (StatusCode, serde_json::Value) {
    let body = json!({"raw": URL_SAFE.encode(raw)});
    world
        .call(
            Method::POST,
            "/gmail/v1/users/me/messages/send",
            Some(token),
            Some(body),
        )
        .await
}

#[tokio::test]
async fn json_send_stores_sent_copy() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[GMAIL_SEND]).await;

    let (status, body) = send_raw(&world, &token, PLAIN.as_bytes()).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["labelIds"], json!(["SENT"]));
    assert_eq!(body["threadId"], body["id"]);
    let sent = world.emulator.sent_messages(USER);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].id, body["id"].as_str().unwrap());
    assert_eq!(sent[0].subject.as_deref(), Some("Viewing"));
    assert_eq!(sent[0].to, vec!["client@elsewhere.example"]);
    assert_eq!(
        sent[0].bcc,
        vec!["boss@example.com"],
        "the Sent copy keeps Bcc"
    );
    let delivered = String::from_utf8(sent[0].delivered_raw.clone()).unwrap();
    assert!(!delivered.contains("Bcc:"), "{delivered}");
    assert!(
        delivered.contains("Message-ID: <"),
        "Gmail adds a Message-ID: {delivered}"
    );
    assert_eq!(sent[0].text_body.as_deref(), Some("See you at 10.\r\n"));
}

#[tokio::test]
async fn no_recipient_is_rejected() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[GMAIL_SEND]).await;

    let (status, body) = send_raw(&world, &token, b"Subject: nobody\r\n\r\nhello\r\n").await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_google_error(
        &body,
        400,
        Some("INVALID_ARGUMENT"),
        Some("invalidArgument"),
    );
    assert_eq!(
        body["error"]["message"],
        json!("Recipient address required")
    );
    assert!(world.emulator.sent_messages(USER).is_empty());
}

#[tokio::test]
async fn invalid_to_header_is_rejected() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[GMAIL_SEND]).await;

    let (status, body) = send_raw(
        &world,
        &token,
        b"To: not an address\r\nSubject: x\r\n\r\nhi\r\n",
    )
    .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["message"], json!("Invalid To header"));
}

#[tokio::test]
async fn bad_base64_is_rejected() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[GMAIL_SEND]).await;

    let (status, body) = world
        .call(
            Method::POST,
            "/gmail/v1/users/me/messages/send",
            Some(&token),
            Some(json!({"raw": "!!not base64!!"})),
        )
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Invalid value for ByteString"));
}

#[tokio::test]
async fn foreign_from_is_rewritten() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[GMAIL_SEND]).await;
    let raw =
        "From: Someone <someone@elsewhere.example>\r\nTo: c@x.example\r\nSubject: s\r\n\r\nb\r\n";

    let (status, _) = send_raw(&world, &token, raw.as_bytes()).await;

    assert_eq!(status, StatusCode::OK);
    let sent = world.emulator.sent_messages(USER);
    assert_eq!(sent[0].from.as_deref(), Some(USER));
}

#[tokio::test]
async fn thread_id_is_kept_when_known() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[GMAIL_SEND]).await;
    let (_, first) = send_raw(&world, &token, PLAIN.as_bytes()).await;
    let thread_id = first["threadId"].clone();

    let reply = json!({"raw": URL_SAFE.encode(PLAIN), "threadId": thread_id});
    let (status, second) = world
        .call(
            Method::POST,
            "/gmail/v1/users/me/messages/send",
            Some(&token),
            Some(reply),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["threadId"], thread_id);

    let unknown = json!({"raw": URL_SAFE.encode(PLAIN), "threadId": "18aaaaaaaaaaaaaa"});
    let (_, third) = world
        .call(
            Method::POST,
            "/gmail/v1/users/me/messages/send",
            Some(&token),
            Some(unknown),
        )
        .await;
    assert_eq!(third["threadId"], third["id"]);
}

#[tokio::test]
async fn multipart_upload_with_encoded_names() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[GMAIL_SEND]).await;
    let message = concat!(
        "From: agent@example.com\r\n",
        "To: =?UTF-8?B?SsO8cmdlbg==?= <juergen@client.example>\r\n",
        "Subject: =?UTF-8?B?w5xiZXJnYWJlIGRlciBTY2hsw7xzc2Vs?=\r\n",
        "MIME-Version: 1.0\r\n",
        "Content-Type: multipart/mixed; boundary=\"outer\"\r\n",
        "\r\n",
        "--outer\r\n",
        "Content-Type: text/plain; charset=utf-8\r\n",
        "Content-Transfer-Encoding: 8bit\r\n",
        "\r\n",
        "Hallo Jürgen\r\n",
        "--outer\r\n",
        "Content-Type: application/pdf\r\n",
        "Content-Disposition: attachment; filename*=UTF-8''Expos%C3%A9.pdf\r\n",
        "Content-Transfer-Encoding: base64\r\n",
        "\r\n",
        "JVBERi0xLjQK\r\n",
        "--outer--\r\n",
    );
    let boundary = "MDuXWGyeE33QFXGchb2VFWc4Z7945d";
    let body = format!(
        "\r\n--{boundary}\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{{}}\r\n--{boundary}\r\ncontent-type: message/rfc822\r\ncontent-length: {}\r\n\r\n{message}\r\n--{boundary}--\r\n",
        message.len()
    );

    let response = world
        .http
        .post(format!(
            "{}upload/gmail/v1/users/me/messages/send?alt=json&uploadType=multipart",
            world.emulator.gmail_base_url()
        ))
        .bearer_auth(&token)
        .header(
            "content-type",
            format!("multipart/related;boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();

    let status = response.status();
    let reply: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{reply}");
    let sent = world.emulator.sent_messages(USER);
    assert_eq!(sent[0].subject.as_deref(), Some("Übergabe der Schlüssel"));
    assert_eq!(sent[0].to, vec!["juergen@client.example"]);
    assert_eq!(sent[0].text_body.as_deref(), Some("Hallo Jürgen"));
    assert_eq!(sent[0].attachments.len(), 1);
    assert_eq!(sent[0].attachments[0].filename, "Exposé.pdf");
    assert_eq!(sent[0].attachments[0].content_type, "application/pdf");
    assert_eq!(sent[0].attachments[0].bytes, b"%PDF-1.4\n");
}

#[tokio::test]
async fn media_upload_sends_raw_body() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[GMAIL_SEND]).await;

    let response = world
        .http
        .post(format!(
            "{}upload/gmail/v1/users/me/messages/send?uploadType=media",
            world.emulator.gmail_base_url()
        ))
        .bearer_auth(&token)
        .header("content-type", "message/rfc822")
        .body(PLAIN)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(world.emulator.sent_messages(USER).len(), 1);
}

#[tokio::test]
async fn oversized_message_is_413() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[GMAIL_SEND]).await;
    let mut raw = PLAIN.as_bytes().to_vec();
    raw.resize(36_700_161, b'a');

    let response = world
        .http
        .post(format!(
            "{}upload/gmail/v1/users/me/messages/send?uploadType=media",
            world.emulator.gmail_base_url()
        ))
        .bearer_auth(&token)
        .header("content-type", "message/rfc822")
        .body(raw)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn profile_with_compose_scope() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[GMAIL_COMPOSE]).await;
    send_raw(&world, &token, PLAIN.as_bytes()).await;

    let (status, body) = world
        .call(
            Method::GET,
            "/gmail/v1/users/me/profile",
            Some(&token),
            None,
        )
        .await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["emailAddress"], json!(USER));
    assert_eq!(body["messagesTotal"], json!(1));
    assert_eq!(body["threadsTotal"], json!(1));
    assert!(body["historyId"].is_string());
}

#[tokio::test]
async fn profile_needs_more_than_send_scope() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[GMAIL_SEND]).await;

    let (status, body) = world
        .call(
            Method::GET,
            "/gmail/v1/users/me/profile",
            Some(&token),
            None,
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
async fn other_user_id_is_delegation_denied() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[GMAIL_COMPOSE]).await;

    let path = format!("/gmail/v1/users/{OTHER_USER}/profile");
    let (status, _) = world.call(Method::GET, &path, Some(&token), None).await;

    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn token_without_subject_has_no_mailbox() {
    let world = setup(ALL_SCOPES).await;
    let mut claims = world.claims(USER, GMAIL_COMPOSE);
    claims.sub = None;
    let (status, grant) = world.exchange(&world.sign(&claims)).await;
    assert_eq!(status, StatusCode::OK, "{grant}");
    let token = grant["access_token"].as_str().unwrap();

    let (status, body) = world
        .call(Method::GET, "/gmail/v1/users/me/profile", Some(token), None)
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_google_error(
        &body,
        400,
        Some("FAILED_PRECONDITION"),
        Some("failedPrecondition"),
    );
}
