//! One contact create with an `Idempotency-Key`: claim the key, call People's
//! `createContact` with the key in the contact's `clientData`, record the
//! outcome, and on a retry after an uncertain outcome look for that
//! `clientData` entry before creating again.

use google_people1::api as google;
use google_people1::FieldMask;
use tracing::Instrument;

use super::idempotency::{self, Claim};
use super::mapping;
use super::model::{Contact, NewContact};
use super::service::{self, UserContacts};
use super::store;
use crate::error::{ApiError, ApiResult};
use crate::google::{GoogleApi, GoogleError};
use crate::messages::idempotency::Timing;

/// `clientData` key under which a created contact carries the caller's `Idempotency-Key`.
pub const CLIENT_DATA_KEY: &str = "workspace-gateway-idempotency-key";

/// Page size of the lookup, the People API maximum.
const LOOKUP_PAGE_SIZE: i32 = 1000;

/// Request timeouts one lookup may take in total.
pub(super) const LOOKUP_REQUESTS: u32 = 2;

/// Pages read by one lookup: the People API allows at most 25,000 contacts per
/// user, which is 25 pages of 1000.
const LOOKUP_MAX_PAGES: usize = 25;

/// Result of a create with an idempotency key.
#[derive(Debug)]
pub enum Created {
    /// This request created the contact.
    New(Contact),
    /// An earlier request with the same key and body created it.
    Replayed(Contact),
}

/// Creates `contact` at most once per `key`. Only the request that inserts or
/// reclaims the key's row calls Google.
#[tracing::instrument(skip_all, fields(brokerage_id = %contacts.brokerage_id()))]
pub async fn create_once(
    contacts: &UserContacts,
    key: String,
    contact: NewContact,
) -> ApiResult<Created> {
    let request_hash = idempotency::request_hash(&contact)?;
    let timing = idempotency::timing(&contacts.state().settings.google);
    let claim = idempotency::claim(
        &contacts.state().db,
        contacts.brokerage_id(),
        contacts.email(),
        &key,
        &request_hash,
        timing,
    )
    .await?;

    let (claimed_at, recover) = match claim {
        Claim::Replay(resource_name) => {
            let contact = contacts.get(mapping::contact_id(&resource_name)).await?;
            return Ok(Created::Replayed(contact));
        }
        Claim::Create(claimed_at) => (claimed_at, false),
        Claim::Recover(claimed_at) => (claimed_at, true),
    };

    // The Google calls and the recording of their outcome run in their own
    // task, so a client that disconnects or a server timeout cannot cancel them
    // half-way and leave the row `creating`.
    let contacts = contacts.clone();
    let task = tokio::spawn(
        async move {
            let claimed = Claimed {
                key,
                claimed_at,
                recover,
            };
            create_claimed(&contacts, claimed, &contact, timing).await
        }
        .in_current_span(),
    );
    task.await.map_err(ApiError::internal)?
}

/// A `creating` row this request owns.
struct Claimed {
    key: String,
    /// `updated_at` written by the claim.
    claimed_at: String,
    /// Whether an earlier attempt may have created the contact.
    recover: bool,
}

/// Creates the contact for a claimed key under the user's mutation lock,
/// first looking for a contact an earlier attempt may have created.
async fn create_claimed(
    contacts: &UserContacts,
    claimed: Claimed,
    contact: &NewContact,
    timing: Timing,
) -> ApiResult<Created> {
    let state = contacts.state();
    let key = claimed.key.as_str();
    let _turn = state
        .google
        .lock_user(contacts.brokerage_id(), contacts.email())
        .await;

    // The wait for the lock does not count towards the time after which a
    // `creating` row is declared stale. A row declared stale meanwhile belongs
    // to the retry that reclaimed it.
    let renewed = store::renew_claim(
        &state.db,
        contacts.brokerage_id(),
        contacts.email(),
        key,
        &claimed.claimed_at,
    )
    .await?;
    if renewed.is_none() {
        return Err(idempotency::in_progress(timing));
    }

    if claimed.recover {
        if let Some(contact) = recover(contacts, key).await? {
            return Ok(Created::Replayed(contact));
        }
    }

    let hub = contacts.hub();
    let mut person = mapping::person_from_new(contact);
    person.client_data = Some(vec![client_data(key)]);
    let call = || {
        hub.people()
            .create_contact(person.clone())
            .person_fields(mapping::person_fields())
            .doit()
    };

    match state.google.mutate(GoogleApi::People, call).await {
        Ok((_, created)) => {
            tracing::info!(
                contact_id = created.resource_name.as_deref(),
                "contact created"
            );
            record_created(contacts, key, created.resource_name.as_deref()).await;
            Ok(Created::New(mapping::contact_from_person(&created)))
        }
        Err(error) => {
            let status = if error.was_not_applied() {
                store::FAILED
            } else {
                tracing::warn!(code = error.code(), "contact create outcome unknown");
                store::UNKNOWN
            };
            record_end(contacts, key, status, error.code()).await;
            Err(error.into())
        }
    }
}

/// Looks for the contact of an uncertain create. Returns it, after recording
/// it as created, or `None` when Google holds no contact with the key.
async fn recover(contacts: &UserContacts, key: &str) -> ApiResult<Option<Contact>> {
    let budget = contacts.state().google.request_timeout() * LOOKUP_REQUESTS;
    let lookup = tokio::time::timeout(budget, find_by_key(contacts, key)).await;
    let found = match lookup {
        Ok(Ok(found)) => found,
        Ok(Err(error)) => {
            record_end(contacts, key, store::UNKNOWN, error.code()).await;
            return Err(error.into());
        }
        Err(_) => {
            let error = GoogleError::Timeout {
                api: GoogleApi::People,
                after: budget,
            };
            record_end(contacts, key, store::UNKNOWN, error.code()).await;
            return Err(error.into());
        }
    };

    let Some(resource_name) = found else {
        return Ok(None);
    };
    tracing::info!(
        contact_id = resource_name.as_str(),
        "contact of an uncertain create found"
    );
    record_created(contacts, key, Some(&resource_name)).await;
    let contact = contacts.get(mapping::contact_id(&resource_name)).await?;
    Ok(Some(contact))
}

fn client_data(key: &str) -> google::ClientData {
    google::ClientData {
        key: Some(CLIENT_DATA_KEY.to_owned()),
        value: Some(key.to_owned()),
        metadata: None,
    }
}

/// Tells whether `person` carries `key` in its `clientData`.
fn has_key(person: &google::Person, key: &str) -> bool {
    person.client_data.iter().flatten().any(|entry| {
        entry.key.as_deref() == Some(CLIENT_DATA_KEY) && entry.value.as_deref() == Some(key)
    })
}

/// Lists the user's contacts, at most [`LOOKUP_MAX_PAGES`] pages, and returns
/// the resource name of the one whose `clientData` carries `key`.
// NOTE: this finds a contact only when `connections.list` already returns it.
// A create that Google applies after the gateway stopped waiting for it, but
// only after this lookup, still leaves a duplicate.
async fn find_by_key(contacts: &UserContacts, key: &str) -> Result<Option<String>, GoogleError> {
    let hub = contacts.hub();
    let fields = FieldMask::new(&["clientData", "metadata"]);
    let mut page_token: Option<String> = None;

    for _ in 0..LOOKUP_MAX_PAGES {
        let call = || {
            let mut call = hub
                .people()
                .connections_list("people/me")
                .person_fields(fields.clone())
                .page_size(LOOKUP_PAGE_SIZE);
            if let Some(token) = &page_token {
                call = call.page_token(token);
            }
            call.doit()
        };
        let (_, response) = contacts
            .state()
            .google
            .read(GoogleApi::People, call)
            .await?;

        let found = response
            .connections
            .into_iter()
            .flatten()
            .find(|person| !service::is_deleted(person) && has_key(person, key));
        if let Some(person) = found {
            return Ok(person.resource_name);
        }

        page_token = response.next_page_token.filter(|token| !token.is_empty());
        if page_token.is_none() {
            return Ok(None);
        }
    }
    Ok(None)
}

async fn record_created(contacts: &UserContacts, key: &str, resource_name: Option<&str>) {
    let resource_name = resource_name.unwrap_or_default();
    let result = store::mark_created(
        &contacts.state().db,
        contacts.brokerage_id(),
        contacts.email(),
        key,
        resource_name,
    )
    .await;
    // The contact exists, so a failed write is logged but not returned: an
    // error would invite the caller to create it again.
    if let Err(error) = result {
        tracing::error!(error = ?error, "recording a created contact failed");
    }
}

async fn record_end(contacts: &UserContacts, key: &str, status: &str, error_code: &str) {
    let result = store::mark_ended(
        &contacts.state().db,
        contacts.brokerage_id(),
        contacts.email(),
        key,
        status,
        error_code,
    )
    .await;
    if let Err(error) = result {
        tracing::error!(error = ?error, "recording a failed contact create failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person_with(entries: Vec<google::ClientData>) -> google::Person {
        google::Person {
            client_data: Some(entries),
            ..Default::default()
        }
    }

    #[test]
    fn key_found_in_client_data() {
        let person = person_with(vec![
            google::ClientData {
                key: Some("other-app".to_owned()),
                value: Some("k1".to_owned()),
                metadata: None,
            },
            client_data("k1"),
        ]);

        assert!(has_key(&person, "k1"));
        assert!(!has_key(&person, "k2"));
        assert!(!has_key(&google::Person::default(), "k1"));
    }

    #[test]
    fn foreign_client_data_ignored() {
        let person = person_with(vec![google::ClientData {
            key: Some("other-app".to_owned()),
            value: Some("k1".to_owned()),
            metadata: None,
        }]);

        assert!(!has_key(&person, "k1"));
    }

    #[test]
    fn client_data_serialized_as_people_expects() {
        let value = serde_json::to_value(client_data("k1")).expect("JSON");

        assert_eq!(value["key"], CLIENT_DATA_KEY);
        assert_eq!(value["value"], "k1");
    }
}
