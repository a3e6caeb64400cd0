//! Tests of the token source and the hubs against the in-process Workspace
//! emulator: one exchange for concurrent first requests, token errors mapped
//! to their codes, and People API failures classified as the gateway expects.

use std::sync::Arc;

use google_people1::api::Person;
use workspace_emulator::{Emulator, EmulatorHandle, ServiceAccount};

use super::{scopes, GoogleApi, GoogleClients, GoogleError, TokenError};
use crate::config::GoogleSettings;
use crate::credentials::DelegatedKey;
use crate::error::ApiError;

const DOMAIN: &str = "acme.example";
const AGENT: &str = "agent@acme.example";

struct Workspace {
    emulator: EmulatorHandle,
    account: ServiceAccount,
    clients: GoogleClients,
}

impl Workspace {
    /// Starts an emulated domain with one agent and a service account that is
    /// delegated the `delegated` scopes.
    async fn start(delegated: &[&str]) -> Self {
        let emulator = Emulator::start().await.expect("emulator starts");
        emulator.create_domain(DOMAIN, &[AGENT]);
        let account = emulator.create_service_account("acme-project");
        emulator.delegate(DOMAIN, &account.client_id, delegated);

        let clients = GoogleClients::new(&settings(&emulator)).expect("clients build");
        Self {
            emulator,
            account,
            clients,
        }
    }

    fn key(&self, version: i64) -> DelegatedKey {
        let key: yup_oauth2::ServiceAccountKey =
            serde_json::from_value(self.account.key_json.clone()).expect("emulator key parses");
        DelegatedKey {
            brokerage_id: "acme".to_owned(),
            version,
            client_id: self.account.client_id.clone(),
            client_email: self.account.client_email.clone(),
            token_uri: key.token_uri.clone(),
            key: Arc::new(key),
        }
    }

    async fn token_error(&self, user: &str, scope: &str) -> TokenError {
        self.clients
            .tokens()
            .token(&self.key(1), user, scope)
            .await
            .expect_err("exchange fails")
    }
}

fn settings(emulator: &EmulatorHandle) -> GoogleSettings {
    GoogleSettings {
        people_base_url: emulator.people_base_url(),
        calendar_base_url: emulator.calendar_base_url(),
        gmail_base_url: emulator.gmail_base_url(),
        request_timeout_seconds: 10,
        token_timeout_seconds: 5,
        default_contacts_scope: scopes::CONTACTS.to_owned(),
        token_refresh_margin_seconds: 300,
        allowed_token_uris: vec![emulator.token_uri()],
    }
}

#[tokio::test]
async fn concurrent_first_requests_share_one_exchange() {
    let workspace = Workspace::start(&[scopes::CONTACTS]).await;
    let key = workspace.key(1);

    let requests = (0..200).map(|_| {
        workspace
            .clients
            .tokens()
            .token(&key, AGENT, scopes::CONTACTS)
    });
    let tokens = futures::future::join_all(requests).await;

    assert!(
        tokens.iter().all(Result::is_ok),
        "every request gets a token"
    );
    assert_eq!(workspace.clients.tokens().exchanges(), 1);
    assert_eq!(workspace.emulator.token_exchanges(), 1);
}

#[tokio::test]
async fn tokens_are_cached_per_scope_and_key_version() {
    let workspace = Workspace::start(&[scopes::CONTACTS, scopes::CALENDAR]).await;
    let tokens = workspace.clients.tokens();

    tokens
        .token(&workspace.key(1), AGENT, scopes::CONTACTS)
        .await
        .expect("contacts token");
    tokens
        .token(&workspace.key(1), AGENT, scopes::CONTACTS)
        .await
        .expect("cached");
    tokens
        .token(&workspace.key(1), AGENT, scopes::CALENDAR)
        .await
        .expect("calendar token");
    tokens
        .token(&workspace.key(2), AGENT, scopes::CONTACTS)
        .await
        .expect("new key version");

    assert_eq!(tokens.exchanges(), 3);
}

#[tokio::test]
async fn invalidate_brokerage_forces_new_exchange() {
    let workspace = Workspace::start(&[scopes::CONTACTS]).await;
    let tokens = workspace.clients.tokens();
    tokens
        .token(&workspace.key(1), AGENT, scopes::CONTACTS)
        .await
        .expect("first token");

    tokens.invalidate_brokerage("other-brokerage");
    tokens
        .token(&workspace.key(1), AGENT, scopes::CONTACTS)
        .await
        .expect("still cached");
    assert_eq!(tokens.exchanges(), 1);

    tokens.invalidate_brokerage("acme");
    tokens
        .token(&workspace.key(1), AGENT, scopes::CONTACTS)
        .await
        .expect("new token");
    assert_eq!(tokens.exchanges(), 2);
}

#[tokio::test]
async fn undelegated_scope_is_delegation_not_authorized() {
    let workspace = Workspace::start(&[scopes::CONTACTS]).await;

    let error = workspace.token_error(AGENT, scopes::GMAIL_COMPOSE).await;

    assert_eq!(
        error.oauth_error().map(|(code, _)| code),
        Some("unauthorized_client")
    );
    let problem = ApiError::from(error);
    assert_eq!(problem.code(), "delegation_not_authorized");
    assert!(problem.detail().contains(&workspace.account.client_id));
    assert!(problem.detail().contains(scopes::GMAIL_COMPOSE));
}

#[tokio::test]
async fn failed_exchanges_are_not_cached() {
    let workspace = Workspace::start(&[scopes::CONTACTS]).await;

    workspace.token_error(AGENT, scopes::CALENDAR).await;
    workspace.emulator.delegate(
        DOMAIN,
        &workspace.account.client_id,
        &[scopes::CONTACTS, scopes::CALENDAR],
    );
    let retried = workspace
        .clients
        .tokens()
        .token(&workspace.key(1), AGENT, scopes::CALENDAR)
        .await;

    assert!(retried.is_ok(), "{retried:?}");
    assert_eq!(workspace.clients.tokens().exchanges(), 2);
}

#[tokio::test]
async fn unknown_user_is_google_user_not_found() {
    let workspace = Workspace::start(&[scopes::CONTACTS]).await;

    let error = workspace
        .token_error("nobody@acme.example", scopes::CONTACTS)
        .await;

    assert_eq!(ApiError::from(error).code(), "google_user_not_found");
}

#[tokio::test]
async fn disabled_service_account_is_reported() {
    let workspace = Workspace::start(&[scopes::CONTACTS]).await;
    workspace
        .emulator
        .set_service_account_disabled(&workspace.account.client_id, true)
        .expect("account exists");

    let error = workspace.token_error(AGENT, scopes::CONTACTS).await;

    assert_eq!(ApiError::from(error).code(), "service_account_disabled");
}

#[tokio::test]
async fn deleted_key_is_credentials_rejected() {
    let workspace = Workspace::start(&[scopes::CONTACTS]).await;
    workspace
        .emulator
        .delete_service_account_key(
            &workspace.account.client_id,
            &workspace.account.private_key_id,
        )
        .expect("key exists");

    let error = workspace.token_error(AGENT, scopes::CONTACTS).await;

    assert_eq!(ApiError::from(error).code(), "credentials_rejected");
}

#[tokio::test]
async fn clock_skew_is_reported() {
    let workspace = Workspace::start(&[scopes::CONTACTS]).await;
    workspace.emulator.set_clock_offset(2 * 3600);

    let error = workspace.token_error(AGENT, scopes::CONTACTS).await;

    assert_eq!(ApiError::from(error).code(), "clock_skew");
}

#[tokio::test]
async fn unreachable_token_endpoint_is_transient() {
    let workspace = Workspace::start(&[scopes::CONTACTS]).await;
    let mut key = workspace.key(1);
    key.token_uri = "http://127.0.0.1:9/token".to_owned();

    let error = workspace
        .clients
        .tokens()
        .token(&key, AGENT, scopes::CONTACTS)
        .await
        .expect_err("nothing listens on port 9");

    assert!(error.is_transient(), "{error:?}");
    assert_eq!(ApiError::from(error).code(), "google_unreachable");
}

#[tokio::test]
async fn people_hub_round_trip_and_stale_etag() {
    let workspace = Workspace::start(&[scopes::CONTACTS]).await;
    let hub = workspace
        .clients
        .people(&workspace.key(1), AGENT, scopes::CONTACTS);
    let mut person = Person {
        names: Some(vec![google_people1::api::Name {
            given_name: Some("Jane".to_owned()),
            ..Default::default()
        }]),
        ..Default::default()
    };

    let (_, created) = workspace
        .clients
        .call(
            GoogleApi::People,
            hub.people().create_contact(person.clone()).doit(),
        )
        .await
        .expect("contact created");
    let resource = created.resource_name.clone().expect("resource name");

    person.etag = Some("stale-etag".to_owned());
    let stale = workspace
        .clients
        .call(
            GoogleApi::People,
            hub.people()
                .update_contact(person, &resource)
                .update_person_fields(google_people1::FieldMask::new(&["names"]))
                .doit(),
        )
        .await
        .expect_err("stale etag is rejected");

    assert!(matches!(stale, GoogleError::EtagMismatch(_)), "{stale:?}");
}

#[tokio::test]
async fn missing_contact_is_not_found() {
    let workspace = Workspace::start(&[scopes::CONTACTS]).await;
    let hub = workspace
        .clients
        .people(&workspace.key(1), AGENT, scopes::CONTACTS);

    let error = workspace
        .clients
        .read(GoogleApi::People, || {
            hub.people()
                .get("people/c999")
                .person_fields(google_people1::FieldMask::new(&["names"]))
                .doit()
        })
        .await
        .expect_err("no such contact");

    assert!(matches!(error, GoogleError::NotFound(_)), "{error:?}");
}

#[tokio::test]
async fn disabled_api_is_reported() {
    let workspace = Workspace::start(&[scopes::CONTACTS]).await;
    workspace
        .emulator
        .set_api_enabled("acme-project", "people.googleapis.com", false)
        .expect("project exists");
    let hub = workspace
        .clients
        .people(&workspace.key(1), AGENT, scopes::CONTACTS);

    let error = workspace
        .clients
        .read(GoogleApi::People, || {
            hub.people()
                .connections_list("people/me")
                .person_fields(google_people1::FieldMask::new(&["names"]))
                .doit()
        })
        .await
        .expect_err("API disabled");

    assert!(matches!(error, GoogleError::ApiDisabled(_)), "{error:?}");
    assert_eq!(ApiError::from(error).code(), "google_api_disabled");
}

#[tokio::test]
async fn read_retries_injected_rate_limit() {
    let workspace = Workspace::start(&[scopes::CONTACTS]).await;
    let fault = serde_json::json!({"api": "people", "status": 429, "times": 2});
    let posted = reqwest::Client::new()
        .post(format!("{}/emulator/faults", workspace.emulator.base_url()))
        .json(&fault)
        .send()
        .await
        .expect("fault posted");
    assert!(posted.status().is_success());
    let hub = workspace
        .clients
        .people(&workspace.key(1), AGENT, scopes::CONTACTS);

    let listed = workspace
        .clients
        .read(GoogleApi::People, || {
            hub.people()
                .connections_list("people/me")
                .person_fields(google_people1::FieldMask::new(&["names"]))
                .doit()
        })
        .await;

    assert!(listed.is_ok(), "{listed:?}");
    assert_eq!(workspace.emulator.api_calls(), 3);
}

#[tokio::test]
async fn mutation_is_not_retried_after_outage() {
    let workspace = Workspace::start(&[scopes::CONTACTS]).await;
    let fault = serde_json::json!({"api": "people", "status": 503, "times": 1});
    reqwest::Client::new()
        .post(format!("{}/emulator/faults", workspace.emulator.base_url()))
        .json(&fault)
        .send()
        .await
        .expect("fault posted");
    let hub = workspace
        .clients
        .people(&workspace.key(1), AGENT, scopes::CONTACTS);

    let created = workspace
        .clients
        .mutate(GoogleApi::People, || {
            hub.people().create_contact(Person::default()).doit()
        })
        .await
        .expect_err("503 is returned, not retried");

    assert!(
        matches!(created, GoogleError::Unavailable(_)),
        "{created:?}"
    );
    assert_eq!(workspace.emulator.api_calls(), 1);
}
