//! People API v1 handlers: `people.connections.list`, `people.get`, `people.createContact`,
//! `people.updateContact` and `people.deleteContact`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::access::{authorize, Api, Caller, Method};
use crate::contacts::{
    add_default_membership, invalid_payload, mask_required, parse_mask, person_fields_from_body,
    sort_key, Contact, ContactBook, MAX_CONTACTS, PERSON_FIELDS, UPDATABLE_FIELDS,
};
use crate::errors::{ApiResult, GoogleError};
use crate::query::{decode_token, encode_token, Params};
use crate::state::{AppState, World};

const CONTACTS: &str = "https://www.googleapis.com/auth/contacts";
const CONTACTS_READONLY: &str = "https://www.googleapis.com/auth/contacts.readonly";

/// Sync tokens expire after seven days.
const SYNC_TOKEN_LIFETIME_DAYS: i64 = 7;

const LIST: Method = Method {
    api: Api::People,
    rpc_name: "google.people.v1.PeopleService.ListConnections",
    scopes: &[CONTACTS, CONTACTS_READONLY],
};

const GET: Method = Method {
    api: Api::People,
    rpc_name: "google.people.v1.PeopleService.GetPerson",
    scopes: &[
        CONTACTS,
        "https://www.googleapis.com/auth/contacts.other.readonly",
        CONTACTS_READONLY,
        "https://www.googleapis.com/auth/directory.readonly",
        "https://www.googleapis.com/auth/user.addresses.read",
        "https://www.googleapis.com/auth/user.birthday.read",
        "https://www.googleapis.com/auth/user.emails.read",
        "https://www.googleapis.com/auth/user.gender.read",
        "https://www.googleapis.com/auth/user.organization.read",
        "https://www.googleapis.com/auth/user.phonenumbers.read",
        "https://www.googleapis.com/auth/userinfo.email",
        "https://www.googleapis.com/auth/userinfo.profile",
    ],
};

const CREATE: Method = Method {
    api: Api::People,
    rpc_name: "google.people.v1.PeopleService.CreateContact",
    scopes: &[CONTACTS],
};

const UPDATE: Method = Method {
    api: Api::People,
    rpc_name: "google.people.v1.PeopleService.UpdateContact",
    scopes: &[CONTACTS],
};

const DELETE: Method = Method {
    api: Api::People,
    rpc_name: "google.people.v1.PeopleService.DeleteContact",
    scopes: &[CONTACTS],
};

/// Routes of the People API, relative to the hub's base URL.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/people:createContact", post(create_contact))
        .route("/v1/people/{person}/connections", get(list_connections))
        .route(
            "/v1/people/{person}",
            get(get_person).patch(update_contact).delete(delete_contact),
        )
}

/// Sort orders of `people.connections.list`.
#[derive(Debug, Clone, Copy)]
enum SortOrder {
    LastModifiedAscending,
    LastModifiedDescending,
    FirstNameAscending,
    LastNameAscending,
}

/// Start offset and covered change range of a listing.
#[derive(Debug, Clone, Copy)]
struct ListPosition {
    offset: usize,
    /// Highest change sequence number included; later changes wait for the next sync.
    snapshot: u64,
    /// For incremental sync: changes after this sequence number.
    since: Option<u64>,
}

async fn list_connections(
    State(state): State<AppState>,
    Path(person): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let caller = authorize(&state, &headers, &LIST)?;
    let user = caller_user(&caller)?;
    if person != "me" {
        return Err(GoogleError::invalid_argument(
            "Must be a valid resource name. Only people/me is supported.",
        ));
    }

    let params = Params::parse(query.as_deref());
    let mask = parse_mask(
        params.get("personFields"),
        "personFields",
        PERSON_FIELDS,
        "people.connections/list",
    )?
    .ok_or_else(|| mask_required("personFields", "people.connections/list"))?;
    let page_size = page_size(&params)?;
    let sort = sort_order(&params)?;
    let request_sync_token = params
        .bool("requestSyncToken")
        .map_err(|value| invalid_value("request_sync_token", "TYPE_BOOL", &value))?
        .unwrap_or(false);

    let now = state.clock.now();
    let world = state.world();
    let book = &world
        .user(&user)
        .ok_or_else(GoogleError::not_found)?
        .contacts;
    let since = match params.non_empty("syncToken") {
        Some(token) => Some(check_sync_token(token, &user, book.sync_epoch, now)?),
        None => None,
    };
    let position = match params.non_empty("pageToken") {
        Some(token) => check_page_token(token, since)?,
        None => ListPosition {
            offset: 0,
            snapshot: world.change_seq,
            since,
        },
    };

    let selected = select_contacts(book, position, sort);
    let total = selected.len();
    let connections: Vec<Value> = selected
        .iter()
        .skip(position.offset)
        .take(page_size)
        .map(|contact| contact.render(Some(&mask)))
        .collect();

    let mut body = json!({});
    if !connections.is_empty() {
        body["connections"] = Value::Array(connections);
    }
    let next_offset = position.offset + page_size;
    if next_offset < total {
        body["nextPageToken"] = json!(page_token(ListPosition {
            offset: next_offset,
            ..position
        }));
    } else if request_sync_token {
        body["nextSyncToken"] = json!(sync_token(&user, position.snapshot, book.sync_epoch, now));
    }
    body["totalPeople"] = json!(total);
    body["totalItems"] = json!(total);
    Ok(Json(body))
}

fn select_contacts(book: &ContactBook, position: ListPosition, sort: SortOrder) -> Vec<&Contact> {
    let mut selected: Vec<&Contact> = book
        .contacts
        .values()
        .filter(|contact| contact.seq <= position.snapshot)
        .filter(|contact| match position.since {
            Some(since) => contact.seq > since,
            None => !contact.deleted,
        })
        .collect();

    match sort {
        SortOrder::LastModifiedAscending => selected.sort_by_key(|contact| contact.seq),
        SortOrder::LastModifiedDescending => {
            selected.sort_by_key(|contact| std::cmp::Reverse(contact.seq))
        }
        SortOrder::FirstNameAscending => {
            selected.sort_by_key(|contact| (sort_key(contact, "names", "givenName"), contact.seq))
        }
        SortOrder::LastNameAscending => {
            selected.sort_by_key(|contact| (sort_key(contact, "names", "familyName"), contact.seq))
        }
    }
    selected
}

fn page_size(params: &Params) -> Result<usize, GoogleError> {
    let size = params
        .int("pageSize")
        .map_err(|value| invalid_value("page_size", "TYPE_INT32", &value))?
        .unwrap_or(0);
    match size {
        0 => Ok(100),
        1..=1000 => Ok(size as usize),
        _ => Err(GoogleError::invalid_argument(
            "Page size must be between 1 and 1000 inclusive.",
        )),
    }
}

fn sort_order(params: &Params) -> Result<SortOrder, GoogleError> {
    match params.non_empty("sortOrder") {
        None | Some("LAST_MODIFIED_ASCENDING") => Ok(SortOrder::LastModifiedAscending),
        Some("LAST_MODIFIED_DESCENDING") => Ok(SortOrder::LastModifiedDescending),
        Some("FIRST_NAME_ASCENDING") => Ok(SortOrder::FirstNameAscending),
        Some("LAST_NAME_ASCENDING") => Ok(SortOrder::LastNameAscending),
        Some(other) => Err(invalid_value("sort_order", "TYPE_ENUM", other)),
    }
}

/// Google's 400 for a query parameter that does not parse.
fn invalid_value(field: &str, kind: &str, value: &str) -> GoogleError {
    invalid_payload(
        &format!("Invalid value at '{field}' ({kind}), \"{value}\""),
        field,
    )
}

fn page_token(position: ListPosition) -> String {
    let since = position.since.map(|s| s.to_string()).unwrap_or_default();
    encode_token(&[
        "people-page".into(),
        position.offset.to_string(),
        position.snapshot.to_string(),
        since,
    ])
}

fn check_page_token(token: &str, since: Option<u64>) -> Result<ListPosition, GoogleError> {
    let invalid = || GoogleError::invalid_argument("Page token is not valid.");
    let fields = decode_token(token, "people-page").ok_or_else(invalid)?;
    let [_, offset, snapshot, token_since] = fields.as_slice() else {
        return Err(invalid());
    };
    let position = ListPosition {
        offset: offset.parse().map_err(|_| invalid())?,
        snapshot: snapshot.parse().map_err(|_| invalid())?,
        since: token_since.parse().ok(),
    };
    if position.since != since {
        return Err(GoogleError::invalid_argument(
            "Parameters provided with a page token must match the call that provided the page token.",
        ));
    }
    Ok(position)
}

fn sync_token(user: &str, snapshot: u64, epoch: u64, now: DateTime<Utc>) -> String {
    encode_token(&[
        "people-sync".into(),
        user.to_string(),
        snapshot.to_string(),
        epoch.to_string(),
        now.timestamp().to_string(),
    ])
}

/// Returns the change sequence number a sync token covers, or Google's EXPIRED_SYNC_TOKEN error.
fn check_sync_token(
    token: &str,
    user: &str,
    epoch: u64,
    now: DateTime<Utc>,
) -> Result<u64, GoogleError> {
    let expired = || {
        GoogleError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "Sync token is expired. Clear local cache and retry call without the sync token.",
        )
        .rpc_status("FAILED_PRECONDITION")
        .error_info("EXPIRED_SYNC_TOKEN", "people.googleapis.com", json!({}))
    };
    let fields = decode_token(token, "people-sync").ok_or_else(expired)?;
    let [_, token_user, snapshot, token_epoch, issued] = fields.as_slice() else {
        return Err(expired());
    };
    let issued: i64 = issued.parse().map_err(|_| expired())?;
    let fresh = now.timestamp() - issued <= SYNC_TOKEN_LIFETIME_DAYS * 86_400;
    if token_user != user || token_epoch != &epoch.to_string() || !fresh {
        return Err(expired());
    }
    snapshot.parse().map_err(|_| expired())
}

async fn get_person(
    State(state): State<AppState>,
    Path(person): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let caller = authorize(&state, &headers, &GET)?;
    let user = caller_user(&caller)?;
    let params = Params::parse(query.as_deref());
    let mask = parse_mask(
        params.get("personFields"),
        "personFields",
        PERSON_FIELDS,
        "people/get",
    )?
    .ok_or_else(|| mask_required("personFields", "people/get"))?;

    if person == "me" {
        return Ok(Json(profile(&user, &mask)));
    }
    let world = state.world();
    let book = &world
        .user(&user)
        .ok_or_else(GoogleError::not_found)?
        .contacts;
    let contact = book
        .live(&format!("people/{person}"))
        .ok_or_else(GoogleError::not_found)?;
    Ok(Json(contact.render(Some(&mask))))
}

/// The authenticated user's own profile, as `people/me` returns it.
fn profile(user: &str, mask: &[String]) -> Value {
    let digest = Sha256::digest(user.as_bytes());
    let mut number = [0u8; 8];
    number.copy_from_slice(&digest[..8]);
    let id = format!("1{:020}", u64::from_be_bytes(number));
    let local_part = user.split('@').next().unwrap_or(user);

    let mut person = json!({"resourceName": format!("people/{id}"), "etag": format!("%{id}")});
    let source = json!({"primary": true, "source": {"type": "PROFILE", "id": id}});
    if mask.iter().any(|field| field == "names") {
        person["names"] = json!([{"metadata": source, "displayName": local_part}]);
    }
    if mask.iter().any(|field| field == "emailAddresses") {
        person["emailAddresses"] = json!([{"metadata": source, "value": user}]);
    }
    person
}

async fn create_contact(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let caller = authorize(&state, &headers, &CREATE)?;
    let user = caller_user(&caller)?;
    let params = Params::parse(query.as_deref());
    let mask = parse_mask(
        params.get("personFields"),
        "personFields",
        PERSON_FIELDS,
        "people/createContact",
    )?;
    let body = parse_json_body(&body)?;

    let now = state.clock.now();
    let mut world = state.world();
    let contact = insert_contact(&mut world, &user, &body, now)?;
    Ok(Json(contact.render(mask.as_deref())))
}

/// Validates a Person and stores it as a new contact of `user`.
pub fn insert_contact(
    world: &mut World,
    user: &str,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<Contact, GoogleError> {
    let mut fields = person_fields_from_body(body)?;
    add_default_membership(&mut fields);

    let seq = world.next_seq();
    let book = &mut world
        .user_mut(user)
        .ok_or_else(GoogleError::not_found)?
        .contacts;
    if book.live_count() >= MAX_CONTACTS {
        // NOTE: the limit is Google's; the wording of this error is the emulator's own.
        return Err(GoogleError::failed_precondition(format!(
            "The contact limit of {MAX_CONTACTS} contacts per user has been reached."
        )));
    }

    let contact = Contact::new(fields, now, seq);
    book.contacts
        .insert(contact.resource_name.clone(), contact.clone());
    Ok(contact)
}

async fn update_contact(
    State(state): State<AppState>,
    Path(person): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let id = person
        .strip_suffix(":updateContact")
        .ok_or_else(GoogleError::not_found)?;
    let caller = authorize(&state, &headers, &UPDATE)?;
    let user = caller_user(&caller)?;

    let params = Params::parse(query.as_deref());
    let update_mask = parse_mask(
        params.get("updatePersonFields"),
        "updatePersonFields",
        UPDATABLE_FIELDS,
        "people/updateContact",
    )?
    .ok_or_else(|| mask_required("updatePersonFields", "people/updateContact"))?;
    let response_mask = parse_mask(
        params.get("personFields"),
        "personFields",
        PERSON_FIELDS,
        "people/updateContact",
    )?;
    let body = parse_json_body(&body)?;
    let fields = person_fields_from_body(&body)?;
    let (person_etag, source_etag) = request_etags(&body);

    let now = state.clock.now();
    let mut world = state.world();
    let seq = world.next_seq();
    let book = &mut world
        .user_mut(&user)
        .ok_or_else(GoogleError::not_found)?
        .contacts;
    let contact = book
        .contacts
        .get_mut(&format!("people/{id}"))
        .filter(|contact| !contact.deleted)
        .ok_or_else(GoogleError::not_found)?;

    check_etag(contact, person_etag.as_deref(), source_etag.as_deref())?;
    for field in &update_mask {
        match fields.get(field) {
            Some(value) => contact.fields.insert(field.clone(), value.clone()),
            None => contact.fields.remove(field),
        };
    }
    contact.touch(now, seq);
    Ok(Json(contact.render(response_mask.as_deref())))
}

/// Returns the person etag and the CONTACT source etag from a request body.
fn request_etags(body: &Value) -> (Option<String>, Option<String>) {
    let person_etag = body
        .get("etag")
        .and_then(Value::as_str)
        .filter(|etag| !etag.is_empty())
        .map(str::to_string);
    let source_etag = body
        .pointer("/metadata/sources")
        .and_then(Value::as_array)
        .and_then(|sources| {
            sources
                .iter()
                .find(|source| source.get("type").and_then(Value::as_str) == Some("CONTACT"))
        })
        .and_then(|source| source.get("etag"))
        .and_then(Value::as_str)
        .map(str::to_string);
    (person_etag, source_etag)
}

fn check_etag(
    contact: &Contact,
    person_etag: Option<&str>,
    source_etag: Option<&str>,
) -> Result<(), GoogleError> {
    if person_etag.is_none() && source_etag.is_none() {
        return Err(GoogleError::invalid_argument(
            "Request must set person.etag or person.metadata.sources.etag for the source that is being updated.",
        ));
    }
    let matches = match person_etag {
        Some(etag) => etag == contact.etag,
        None => source_etag == Some(contact.source_etag.as_str()),
    };
    if matches {
        return Ok(());
    }
    Err(GoogleError::failed_precondition(
        "Request person.etag is different than the current person.etag. Clear local cache and get the latest person.",
    ))
}

async fn delete_contact(
    State(state): State<AppState>,
    Path(person): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let id = person
        .strip_suffix(":deleteContact")
        .ok_or_else(GoogleError::not_found)?;
    let caller = authorize(&state, &headers, &DELETE)?;
    let user = caller_user(&caller)?;

    let now = state.clock.now();
    let mut world = state.world();
    let seq = world.next_seq();
    let book = &mut world
        .user_mut(&user)
        .ok_or_else(GoogleError::not_found)?
        .contacts;
    let contact = book
        .contacts
        .get_mut(&format!("people/{id}"))
        .filter(|contact| !contact.deleted)
        .ok_or_else(GoogleError::not_found)?;
    contact.deleted = true;
    contact.fields.clear();
    contact.touch(now, seq);
    Ok(Json(json!({})))
}

/// Returns the impersonated user. A token without `sub` belongs to the service account itself,
/// which has no contacts of its own.
fn caller_user(caller: &Caller) -> Result<String, GoogleError> {
    caller
        .user
        .clone()
        .ok_or_else(|| GoogleError::failed_precondition("Precondition check failed."))
}

/// Parses a JSON request body with Google's error for malformed JSON.
pub fn parse_json_body(body: &[u8]) -> Result<Value, GoogleError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|error| invalid_payload(&format!("Invalid JSON payload received. {error}"), ""))
}
