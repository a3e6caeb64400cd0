//! The whole slice: onboard a brokerage, enroll an agent, then contacts,
//! events and mail through the real google-* clients and the emulator.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::db_tests;
use crate::helpers::TestApp;

db_tests!(onboard_then_use_every_api);

async fn onboard_then_use_every_api(app: TestApp) {
    let workspace = app.onboard("acme-realty").await;
    let agent = workspace.agent_path();

    // Contacts: create, list, edit with the etag, delete.
    let created = app
        .post(
            &format!("{agent}/contacts"),
            json!({
                "names": { "given_name": "Zoë", "family_name": "Ångström" },
                "email_addresses": [{ "value": "zoe@example.com", "type": "home" }],
                "phone_numbers": [{ "value": "+1 555 0100", "type": "mobile" }],
                "notes": "Looking for a 3-bedroom house"
            }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let contact: Value = created.json().await.unwrap();
    let contact_id = contact["id"].as_str().expect("contact id").to_owned();
    let etag = contact["etag"].as_str().expect("contact etag").to_owned();

    let listed: Value = app
        .get(&format!("{agent}/contacts"))
        .await
        .json()
        .await
        .unwrap();
    let items = listed["items"].as_array().expect("contact items");
    assert!(
        items.iter().any(|item| item["id"] == contact_id.as_str()),
        "new contact listed: {listed}"
    );

    let edited = app
        .patch(
            &format!("{agent}/contacts/{contact_id}"),
            json!({ "etag": etag, "notes": "Wants a garden" }),
        )
        .await;
    assert_eq!(edited.status(), StatusCode::OK);
    let edited: Value = edited.json().await.unwrap();
    assert_eq!(edited["notes"], "Wants a garden");
    assert_ne!(edited["etag"], etag.as_str());
    assert_eq!(edited["names"]["given_name"], "Zoë");

    let stale = app
        .patch(
            &format!("{agent}/contacts/{contact_id}"),
            json!({ "etag": etag, "notes": "stale" }),
        )
        .await;
    crate::helpers::assert_problem(stale, StatusCode::PRECONDITION_FAILED, "etag_mismatch").await;

    assert_eq!(
        app.delete(&format!("{agent}/contacts/{contact_id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let gone = app.get(&format!("{agent}/contacts/{contact_id}")).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);

    // Events: create, list in a window, edit, delete.
    let created = app
        .post(
            &format!("{agent}/events"),
            json!({
                "summary": "Showing at 12 Elm St",
                "location": "12 Elm St, Springfield",
                "start": { "date_time": "2027-03-01T10:00:00-05:00", "time_zone": "America/New_York" },
                "end": { "date_time": "2027-03-01T11:00:00-05:00", "time_zone": "America/New_York" },
                "attendees": [{ "email": "buyer@example.com" }]
            }),
        )
        .await;
    let status = created.status();
    let event: Value = created.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "event created: {event}");
    let event_id = event["id"].as_str().expect("event id").to_owned();

    let window: Value = app
        .get(&format!(
            "{agent}/events?from=2027-03-01T00:00:00Z&to=2027-03-02T00:00:00Z"
        ))
        .await
        .json()
        .await
        .unwrap();
    let items = window["items"].as_array().expect("event items");
    assert!(
        items.iter().any(|item| item["id"] == event_id.as_str()),
        "event listed: {window}"
    );

    let edited = app
        .patch(
            &format!("{agent}/events/{event_id}"),
            json!({ "summary": "Second showing at 12 Elm St" }),
        )
        .await;
    assert_eq!(edited.status(), StatusCode::OK);
    let edited: Value = edited.json().await.unwrap();
    assert_eq!(edited["summary"], "Second showing at 12 Elm St");
    assert_eq!(edited["location"], "12 Elm St, Springfield");

    assert_eq!(
        app.delete(&format!("{agent}/events/{event_id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let gone = app.get(&format!("{agent}/events/{event_id}")).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);

    // Mail with a non-ASCII subject, display name and attachment name.
    let subject = "Résumé of Zoë's showing — 3 bedrooms ☀";
    let text = "Hello Zoë,\r\nthe floor plan is attached.\r\nBest, Ana\r\n";
    let attachment = "Plan d'étage — Zoë.pdf".to_owned();
    let attachment_bytes = b"%PDF-1.4 floor plan".to_vec();
    let sent = app
        .post(
            &format!("{agent}/messages"),
            json!({
                "to": [{ "email": "zoe@example.com", "name": "Zoë Ångström" }],
                "subject": subject,
                "text_body": text,
                "attachments": [{
                    "filename": attachment,
                    "content_type": "application/pdf",
                    "data_base64": base64::engine::general_purpose::STANDARD.encode(&attachment_bytes)
                }]
            }),
        )
        .await;
    let status = sent.status();
    let message: Value = sent.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "message sent: {message}");
    assert_eq!(message["status"], "sent");
    let gmail_id = message["gmail_message_id"]
        .as_str()
        .expect("Gmail id")
        .to_owned();

    let record: Value = app
        .get(&format!(
            "{agent}/messages/{}",
            message["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(record["gmail_message_id"], gmail_id.as_str());

    let delivered = app.emulator.sent_messages(&workspace.agent);
    assert_eq!(delivered.len(), 1, "one message in Sent");
    let mail = &delivered[0];
    assert_eq!(mail.id, gmail_id);
    assert_eq!(mail.subject.as_deref(), Some(subject));
    assert_eq!(
        mail.text_body
            .as_deref()
            .map(|body| body.replace("\r\n", "\n")),
        Some(text.replace("\r\n", "\n"))
    );
    assert_eq!(mail.to, vec!["zoe@example.com".to_owned()]);

    let parsed = mail_parser::MessageParser::default()
        .parse(&mail.raw)
        .expect("raw message parses");
    let to = parsed
        .to()
        .and_then(|address| address.first())
        .expect("To header");
    assert_eq!(to.name(), Some("Zoë Ångström"));
    let header_end = mail
        .raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("header block ends");
    assert!(
        mail.raw[..header_end].is_ascii(),
        "headers are 7-bit: non-ASCII text is RFC 2047/2231 encoded"
    );
    assert_eq!(mail.attachments.len(), 1);
    assert_eq!(mail.attachments[0].filename, attachment);
    assert_eq!(mail.attachments[0].bytes, attachment_bytes);
}
