//! The real client crates against the emulator: yup-oauth2 for the token, then the
//! google-people1, google-calendar3 and google-gmail1 hubs, as the gateway uses them.

use std::io::Cursor;

use google_calendar3::api::{Event, EventDateTime};
use google_calendar3::CalendarHub;
use google_gmail1::api::Message;
use google_gmail1::{FieldMask, Gmail};
use google_people1::api::{EmailAddress, Name, Person};
use google_people1::PeopleService;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use yup_oauth2::authenticator::Authenticator;
use yup_oauth2::{CustomHyperClientBuilder, ServiceAccountAuthenticator, ServiceAccountKey};

use crate::helpers::*;

async fn authenticator(world: &TestWorld, user: &str) -> Authenticator<HttpConnector> {
    let key: ServiceAccountKey =
        serde_json::from_value(world.account.key_json.clone()).expect("key file parses");
    let http = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    ServiceAccountAuthenticator::with_client(key, CustomHyperClientBuilder::from(http))
        .subject(user)
        .build()
        .await
        .expect("authenticator")
}

fn hub_client() -> Client<HttpConnector, google_apis_common::Body> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

#[tokio::test]
async fn people_hub_round_trip() {
    let world = setup(ALL_SCOPES).await;
    let mut hub = PeopleService::new(hub_client(), authenticator(&world, USER).await);
    hub.base_url(world.emulator.people_base_url());

    let person = Person {
        names: Some(vec![Name {
            given_name: Some("Ana".into()),
            family_name: Some("Lima".into()),
            ..Default::default()
        }]),
        email_addresses: Some(vec![EmailAddress {
            value: Some("ana@client.example".into()),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let (_, created) = hub
        .people()
        .create_contact(person)
        .add_scope(CONTACTS)
        .doit()
        .await
        .expect("createContact");
    let resource_name = created.resource_name.clone().unwrap();

    let mut update = created.clone();
    update.names = Some(vec![Name {
        given_name: Some("Ana Paula".into()),
        ..Default::default()
    }]);
    let (_, updated) = hub
        .people()
        .update_contact(update, &resource_name)
        .update_person_fields(FieldMask::new(&["names"]))
        .add_scope(CONTACTS)
        .doit()
        .await
        .expect("updateContact");
    assert_ne!(updated.etag, created.etag);

    let stale = hub
        .people()
        .update_contact(created, &resource_name)
        .update_person_fields(FieldMask::new(&["names"]))
        .add_scope(CONTACTS)
        .doit()
        .await;
    match stale {
        Err(google_people1::Error::BadRequest(body)) => {
            assert_eq!(body["error"]["status"], "FAILED_PRECONDITION")
        }
        other => panic!("expected a 400 for a stale etag, got {other:?}"),
    }

    let (_, list) = hub
        .people()
        .connections_list("people/me")
        .person_fields(FieldMask::new(&["names", "emailAddresses", "metadata"]))
        .request_sync_token(true)
        .page_size(10)
        .add_scope(CONTACTS)
        .doit()
        .await
        .expect("connections.list");
    let connections = list.connections.unwrap();
    assert_eq!(connections.len(), 1);
    let names = connections[0].names.as_ref().unwrap();
    assert_eq!(names[0].given_name.as_deref(), Some("Ana Paula"));
    assert!(list.next_sync_token.is_some());

    hub.people()
        .delete_contact(&resource_name)
        .add_scope(CONTACTS)
        .doit()
        .await
        .expect("deleteContact");
    assert_eq!(world.emulator.token_exchanges(), 1, "the token is cached");
}

#[tokio::test]
async fn calendar_hub_round_trip() {
    let world = setup(ALL_SCOPES).await;
    let mut hub = CalendarHub::new(hub_client(), authenticator(&world, USER).await);
    hub.base_url(world.emulator.calendar_base_url());

    let start = chrono::DateTime::parse_from_rfc3339("2025-03-03T14:00:00Z")
        .unwrap()
        .to_utc();
    let event = Event {
        summary: Some("Weekly viewing".into()),
        start: Some(EventDateTime {
            date_time: Some(start),
            time_zone: Some("America/New_York".into()),
            ..Default::default()
        }),
        end: Some(EventDateTime {
            date_time: Some(start + chrono::Duration::hours(1)),
            time_zone: Some("America/New_York".into()),
            ..Default::default()
        }),
        recurrence: Some(vec!["RRULE:FREQ=WEEKLY;COUNT=3".into()]),
        ..Default::default()
    };
    let (_, created) = hub
        .events()
        .insert(event, "primary")
        .send_updates("none")
        .add_scope(CALENDAR_EVENTS)
        .doit()
        .await
        .expect("events.insert");
    let id = created.id.clone().unwrap();

    let (_, events) = hub
        .events()
        .list("primary")
        .single_events(true)
        .order_by("startTime")
        .time_min(start + chrono::Duration::days(1))
        .add_scope(CALENDAR_EVENTS)
        .doit()
        .await
        .expect("events.list");
    let items = events.items.unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0].id.as_deref(),
        Some(format!("{id}_20250310T130000Z").as_str())
    );
    assert_eq!(items[0].recurring_event_id.as_deref(), Some(id.as_str()));
    assert!(events.next_sync_token.is_some());

    hub.events()
        .delete("primary", &id)
        .add_scope(CALENDAR_EVENTS)
        .doit()
        .await
        .expect("events.delete");
}

#[tokio::test]
async fn gmail_hub_upload_and_profile() {
    let world = setup(ALL_SCOPES).await;
    let mut hub = Gmail::new(hub_client(), authenticator(&world, USER).await);
    hub.base_url(world.emulator.gmail_base_url());
    hub.root_url(world.emulator.gmail_base_url());

    let raw =
        "To: client@elsewhere.example\r\nSubject: =?UTF-8?Q?R=C3=A9sum=C3=A9?=\r\n\r\nHello\r\n";
    let (_, sent) = hub
        .users()
        .messages_send(Message::default(), "me")
        .add_scope(GMAIL_SEND)
        .upload(
            Cursor::new(raw.as_bytes().to_vec()),
            "message/rfc822".parse().unwrap(),
        )
        .await
        .expect("messages.send upload");
    assert_eq!(sent.label_ids, Some(vec!["SENT".to_string()]));

    let (_, profile) = hub
        .users()
        .get_profile("me")
        .add_scope(GMAIL_COMPOSE)
        .doit()
        .await
        .expect("getProfile");
    assert_eq!(profile.email_address.as_deref(), Some(USER));
    assert_eq!(profile.messages_total, Some(1));

    let messages = world.emulator.sent_messages(USER);
    assert_eq!(messages[0].subject.as_deref(), Some("Résumé"));
    assert_eq!(messages[0].from.as_deref(), Some(USER), "Gmail sets From");
}

#[tokio::test]
async fn gmail_hub_reports_missing_delegation() {
    let world = setup(&[CONTACTS]).await;
    let mut hub = Gmail::new(hub_client(), authenticator(&world, USER).await);
    hub.base_url(world.emulator.gmail_base_url());

    let result = hub
        .users()
        .get_profile("me")
        .add_scope(GMAIL_COMPOSE)
        .doit()
        .await;

    match result {
        Err(google_gmail1::Error::MissingToken(error)) => {
            let text = format!("{error:?}");
            assert!(
                text.contains("unauthorized_client") || text.contains("UnauthorizedClient"),
                "{text}"
            );
        }
        other => panic!("expected a token error, got {other:?}"),
    }
}
