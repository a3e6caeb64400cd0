//! Calls to the People API for one enrolled user's contacts, with the contact
//! specific error mapping: unknown contacts, stale etags and expired cursors.

use google_people1::api as google;

use super::mapping;
use super::model::{Contact, ContactPage, ContactPatch, NewContact};
use super::validation::{self, PageRequest};
use crate::credentials::DelegatedKey;
use crate::error::{ApiError, ApiResult};
use crate::google::{Connector, GoogleApi, GoogleError};
use crate::state::AppState;

/// The People resource of the delegated user.
const ME: &str = "people/me";

/// The contacts of one enrolled user, reached with the brokerage's active key
/// and the brokerage's contacts scope.
#[derive(Clone)]
pub struct UserContacts {
    state: AppState,
    brokerage_id: String,
    email: String,
    key: DelegatedKey,
    scope: String,
}

impl UserContacts {
    /// Checks that the user is enrolled and loads the brokerage's key and scope.
    pub async fn open(state: &AppState, brokerage_id: &str, raw_email: &str) -> ApiResult<Self> {
        let (user, key) =
            crate::credentials::enrolled_with_key(state, brokerage_id, raw_email).await?;
        let scope = user
            .brokerage
            .contacts_scope_or(&state.settings.google.default_contacts_scope)
            .to_owned();

        Ok(Self {
            state: state.clone(),
            brokerage_id: brokerage_id.to_owned(),
            email: user.email,
            key,
            scope,
        })
    }

    /// Returns the user's address as enrolled, lower-cased.
    pub fn email(&self) -> &str {
        &self.email
    }

    /// Returns the brokerage id.
    pub fn brokerage_id(&self) -> &str {
        &self.brokerage_id
    }

    /// Returns the shared application state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub(super) fn hub(&self) -> google_people1::PeopleService<Connector> {
        self.state
            .google
            .people(&self.key, &self.email, &self.scope)
    }

    /// Lists one page of the user's contacts.
    #[tracing::instrument(skip_all, fields(brokerage_id = %self.brokerage_id, page_size = page.page_size))]
    pub async fn list(&self, page: &PageRequest) -> ApiResult<ContactPage> {
        let hub = self.hub();
        let page_size = i32::try_from(page.page_size).unwrap_or(i32::MAX);
        let call = || {
            let mut call = hub
                .people()
                .connections_list(ME)
                .person_fields(mapping::person_fields())
                .page_size(page_size);
            if let Some(cursor) = &page.cursor {
                call = call.page_token(cursor);
            }
            call.doit()
        };

        let result = self.state.google.read(GoogleApi::People, call).await;
        let (_, response) = result.map_err(|error| list_error(error, page.cursor.is_some()))?;
        Ok(page_from_google(response))
    }

    /// Reads one contact.
    #[tracing::instrument(skip_all, fields(brokerage_id = %self.brokerage_id, contact_id = %contact_id))]
    pub async fn get(&self, contact_id: &str) -> ApiResult<Contact> {
        let hub = self.hub();
        let resource = mapping::resource_name(contact_id);
        let call = || {
            hub.people()
                .get(&resource)
                .person_fields(mapping::person_fields())
                .doit()
        };

        let result = self.state.google.read(GoogleApi::People, call).await;
        let (_, person) = result.map_err(|error| contact_error(error, contact_id))?;
        Ok(mapping::contact_from_person(&person))
    }

    /// Creates a contact without an idempotency key. Mutations for one user are
    /// serialized because the People API documents that parallel mutations for
    /// one user add latency and failures.
    ///
    /// A create whose response is lost (timeout) may still have created the
    /// contact, and a retry then creates a second one. Callers that retry send
    /// an `Idempotency-Key`, which `super::create` handles.
    #[tracing::instrument(skip_all, fields(brokerage_id = %self.brokerage_id))]
    pub async fn create(&self, contact: &NewContact) -> ApiResult<Contact> {
        let hub = self.hub();
        let person = mapping::person_from_new(contact);
        let call = || {
            hub.people()
                .create_contact(person.clone())
                .person_fields(mapping::person_fields())
                .doit()
        };

        let _turn = self
            .state
            .google
            .lock_user(&self.brokerage_id, &self.email)
            .await;
        let (_, created) = self.state.google.mutate(GoogleApi::People, call).await?;
        tracing::info!(
            contact_id = created.resource_name.as_deref(),
            "contact created"
        );
        Ok(mapping::contact_from_person(&created))
    }

    /// Replaces the fields present in `patch`, if `etag` is still current.
    #[tracing::instrument(skip_all, fields(brokerage_id = %self.brokerage_id, contact_id = %contact_id))]
    pub async fn update(
        &self,
        contact_id: &str,
        patch: &ContactPatch,
        etag: &str,
    ) -> ApiResult<Contact> {
        let hub = self.hub();
        let resource = mapping::resource_name(contact_id);
        let (person, fields) = mapping::person_from_patch(patch, etag);
        let call = || {
            hub.people()
                .update_contact(person.clone(), &resource)
                .update_person_fields(fields.clone())
                .person_fields(mapping::person_fields())
                .doit()
        };

        let _turn = self
            .state
            .google
            .lock_user(&self.brokerage_id, &self.email)
            .await;
        let result = self.state.google.mutate(GoogleApi::People, call).await;
        let (_, updated) = result.map_err(|error| contact_error(error, contact_id))?;
        Ok(mapping::contact_from_person(&updated))
    }

    /// Deletes a contact.
    #[tracing::instrument(skip_all, fields(brokerage_id = %self.brokerage_id, contact_id = %contact_id))]
    pub async fn delete(&self, contact_id: &str) -> ApiResult<()> {
        let hub = self.hub();
        let resource = mapping::resource_name(contact_id);
        let call = || hub.people().delete_contact(&resource).doit();

        let _turn = self
            .state
            .google
            .lock_user(&self.brokerage_id, &self.email)
            .await;
        let result = self.state.google.mutate(GoogleApi::People, call).await;
        result.map_err(|error| contact_error(error, contact_id))?;
        tracing::info!("contact deleted");
        Ok(())
    }
}

fn page_from_google(response: google::ListConnectionsResponse) -> ContactPage {
    let items = response
        .connections
        .unwrap_or_default()
        .iter()
        .filter(|person| !is_deleted(person))
        .map(mapping::contact_from_person)
        .collect();

    ContactPage {
        items,
        next_cursor: response.next_page_token.filter(|token| !token.is_empty()),
        total_items: response.total_items.map(i64::from),
    }
}

pub(super) fn is_deleted(person: &google::Person) -> bool {
    person
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.deleted)
        .unwrap_or(false)
}

/// Maps a list failure. A 400 on a page after the first means Google rejected the page token.
fn list_error(error: GoogleError, had_cursor: bool) -> ApiError {
    let rejected_cursor =
        had_cursor && matches!(&error, GoogleError::Rejected(failure) if failure.status == 400);
    if rejected_cursor {
        return validation::invalid_cursor();
    }
    error.into()
}

fn contact_error(error: GoogleError, contact_id: &str) -> ApiError {
    match error {
        GoogleError::NotFound(_) => not_found(contact_id),
        other => other.into(),
    }
}

/// Builds the 404 for a contact id Google does not know for this user.
pub fn not_found(contact_id: &str) -> ApiError {
    ApiError::not_found(
        "contact_not_found",
        format!("The user has no contact {contact_id}; it may have been deleted in Google."),
    )
}
