//! Routes of `/v1/brokerages/{brokerage_id}/users/{email}/contacts`.
//!
//! Each handler authorizes the API key, validates the input, opens the user's
//! contacts and makes one service call.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use utoipa::OpenApi;

use super::create::{self, Created};
use super::model::{
    Birthday, Contact, ContactName, ContactPage, ContactPatch, EmailAddress, ListQuery, NewContact,
    Organization, PhoneNumber, PostalAddress,
};
use super::service::UserContacts;
use super::validation;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiResult, Problem};
use crate::messages::idempotency;
use crate::state::AppState;

const CONTACTS_PATH: &str = "/v1/brokerages/{brokerage_id}/users/{email}/contacts";
const CONTACT_PATH: &str = "/v1/brokerages/{brokerage_id}/users/{email}/contacts/{contact_id}";

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(CONTACTS_PATH, get(list_contacts).post(create_contact))
        .route(
            CONTACT_PATH,
            get(get_contact).patch(patch_contact).delete(delete_contact),
        )
}

/// OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(
    paths(
        list_contacts,
        create_contact,
        get_contact,
        patch_contact,
        delete_contact
    ),
    components(schemas(
        Contact,
        ContactName,
        EmailAddress,
        PhoneNumber,
        PostalAddress,
        Organization,
        Birthday,
        NewContact,
        ContactPatch,
        ContactPage
    ))
)]
pub struct ApiDoc;

/// List the user's contacts, one page at a time.
#[utoipa::path(get, path = "/v1/brokerages/{brokerage_id}/users/{email}/contacts", tag = "contacts",
    params(
        ("brokerage_id" = String, Path, description = "Brokerage id"),
        ("email" = String, Path, description = "Address of an enrolled user"),
        ListQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of contacts", body = ContactPage),
        (status = 400, description = "Invalid page size or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The API key may not read user data, or the Workspace has not delegated the contacts scope or enabled the People API", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown brokerage or user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The brokerage has no active service-account key (`credentials_missing`, `credentials_revoked`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Google has no such user, or rejected the key", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Google rate limit; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Google failed or could not be reached", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The Google call timed out", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_contacts(
    State(state): State<AppState>,
    caller: Caller,
    Path((brokerage_id, email)): Path<(String, String)>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<ApiJson<ContactPage>> {
    caller.authorize_data(&brokerage_id)?;
    let Query(query) = query.map_err(query_rejection)?;
    let page = validation::page_request(query)?;

    let contacts = UserContacts::open(&state, &brokerage_id, &email).await?;
    Ok(ApiJson(contacts.list(&page).await?))
}

/// Create a contact in the user's Google Contacts.
///
/// With an `Idempotency-Key`, a retry returns the contact of the first request
/// instead of creating a second one.
#[utoipa::path(post, path = "/v1/brokerages/{brokerage_id}/users/{email}/contacts", tag = "contacts",
    params(
        ("brokerage_id" = String, Path, description = "Brokerage id"),
        ("email" = String, Path, description = "Address of an enrolled user"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters, such as a UUID. A retry with the same key and body returns the first request's contact (200, `Idempotent-Replayed: true`) and never creates it twice; after a failure or an unanswered create it creates the contact only if Google does not hold it yet. Without a key, a retry after a timeout can create a duplicate."),
    ),
    request_body = NewContact,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; `Location` names the new contact", body = Contact),
        (status = 200, description = "Replay of an earlier create with the same Idempotency-Key; `Location` names the contact", body = Contact,
            headers(("Idempotent-Replayed" = String, description = "`true`"))),
        (status = 400, description = "Invalid field, or invalid Idempotency-Key (`invalid_idempotency_key`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The API key may not write user data, or the Workspace has not delegated the contacts scope or enabled the People API", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown brokerage or user, or the replayed contact was deleted since (`contact_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The brokerage has no active service-account key, or `idempotency_in_progress`: the first request with this key is still creating; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body does not match the schema, Google rejected the values, or `idempotency_key_reused`: the key was used with another body", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Google rate limit; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Google failed or could not be reached; the contact may have been created, so retry with the same Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The Google call timed out; the contact may have been created, so retry with the same Idempotency-Key", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_contact(
    State(state): State<AppState>,
    caller: Caller,
    Path((brokerage_id, email)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(contact): ApiJson<NewContact>,
) -> ApiResult<Response> {
    caller.authorize_data(&brokerage_id)?;
    let idempotency_key = idempotency::key_from_headers(&headers)?;
    validation::new_contact(&contact)?;

    let contacts = UserContacts::open(&state, &brokerage_id, &email).await?;
    let (status, created) = match idempotency_key {
        None => (StatusCode::CREATED, contacts.create(&contact).await?),
        Some(key) => match create::create_once(&contacts, key, contact).await? {
            Created::New(created) => (StatusCode::CREATED, created),
            Created::Replayed(created) => (StatusCode::OK, created),
        },
    };

    let location = format!(
        "/v1/brokerages/{brokerage_id}/users/{}/contacts/{}",
        contacts.email(),
        created.id
    );
    let mut response = contact_response(status, created);
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if status == StatusCode::OK {
        response.headers_mut().insert(
            HeaderName::from_static(idempotency::REPLAYED_HEADER),
            HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}

/// Read one contact.
#[utoipa::path(get, path = "/v1/brokerages/{brokerage_id}/users/{email}/contacts/{contact_id}", tag = "contacts",
    params(
        ("brokerage_id" = String, Path, description = "Brokerage id"),
        ("email" = String, Path, description = "Address of an enrolled user"),
        ("contact_id" = String, Path, description = "Contact id: `c` followed by digits"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The contact; its etag is also in the `ETag` header", body = Contact),
        (status = 400, description = "Invalid contact id", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The API key may not read user data, or the Workspace has not delegated the contacts scope or enabled the People API", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown brokerage, user or contact", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The brokerage has no active service-account key", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Google rate limit; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Google failed or could not be reached", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The Google call timed out", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_contact(
    State(state): State<AppState>,
    caller: Caller,
    Path((brokerage_id, email, contact_id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    caller.authorize_data(&brokerage_id)?;
    let contact_id = validation::contact_id(&contact_id)?;

    let contacts = UserContacts::open(&state, &brokerage_id, &email).await?;
    let contact = contacts.get(contact_id).await?;
    Ok(contact_response(StatusCode::OK, contact))
}

/// Change the fields present in the body. The contact's current etag is
/// required (body `etag` or `If-Match`), so an edit made meanwhile in Google
/// is never overwritten.
#[utoipa::path(patch, path = "/v1/brokerages/{brokerage_id}/users/{email}/contacts/{contact_id}", tag = "contacts",
    params(
        ("brokerage_id" = String, Path, description = "Brokerage id"),
        ("email" = String, Path, description = "Address of an enrolled user"),
        ("contact_id" = String, Path, description = "Contact id: `c` followed by digits"),
        ("If-Match" = Option<String>, Header, description = "The contact's etag, when the body has no `etag`"),
    ),
    request_body = ContactPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated contact with its new etag", body = Contact),
        (status = 400, description = "Invalid field, contact id or If-Match, or no field to change", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The API key may not write user data, or the Workspace has not delegated the contacts scope or enabled the People API", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown brokerage, user or contact", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The brokerage has no active service-account key", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The etag is stale: the contact changed since it was read (`etag_mismatch`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body does not match the schema, or Google rejected the values", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No etag in the body or If-Match (`etag_required`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Google rate limit; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Google failed or could not be reached", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The Google call timed out; the change may have been applied", body = Problem, content_type = "application/problem+json"),
    ))]
async fn patch_contact(
    State(state): State<AppState>,
    caller: Caller,
    Path((brokerage_id, email, contact_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<ContactPatch>,
) -> ApiResult<Response> {
    caller.authorize_data(&brokerage_id)?;
    let contact_id = validation::contact_id(&contact_id)?;
    let etag = validation::required_etag(patch.etag.as_deref(), &headers)?;
    validation::patch(&patch)?;

    let contacts = UserContacts::open(&state, &brokerage_id, &email).await?;
    let updated = contacts.update(contact_id, &patch, &etag).await?;
    Ok(contact_response(StatusCode::OK, updated))
}

/// Delete a contact from the user's Google Contacts.
#[utoipa::path(delete, path = "/v1/brokerages/{brokerage_id}/users/{email}/contacts/{contact_id}", tag = "contacts",
    params(
        ("brokerage_id" = String, Path, description = "Brokerage id"),
        ("email" = String, Path, description = "Address of an enrolled user"),
        ("contact_id" = String, Path, description = "Contact id: `c` followed by digits"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Invalid contact id", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The API key may not write user data, or the Workspace has not delegated the contacts scope or enabled the People API", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown brokerage, user or contact", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The brokerage has no active service-account key", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Google rate limit; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Google failed or could not be reached", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The Google call timed out; the contact may have been deleted", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_contact(
    State(state): State<AppState>,
    caller: Caller,
    Path((brokerage_id, email, contact_id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    caller.authorize_data(&brokerage_id)?;
    let contact_id = validation::contact_id(&contact_id)?;

    let contacts = UserContacts::open(&state, &brokerage_id, &email).await?;
    contacts.delete(contact_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_query",
        format!("The query string is invalid: {}", rejection.body_text()),
    )
}

/// Sends `contact` as JSON with its etag, quoted, in the `ETag` header.
fn contact_response(status: StatusCode, contact: Contact) -> Response {
    let etag = Some(&contact.etag)
        .filter(|etag| !etag.is_empty())
        .and_then(|etag| HeaderValue::from_str(&format!("\"{etag}\"")).ok());

    let mut response = (status, ApiJson(contact)).into_response();
    if let Some(etag) = etag {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}
