//! Control API under `/emulator/`: set up domains, users, service accounts and delegations,
//! seed data, inject faults, move the clock and read sent mail. No authentication; loopback
//! use only.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::access::Api;
use crate::faults::FaultRule;
use crate::keys::{key_file, mint_key, random_digits, random_hex, KeyFileFields};
use crate::message::{parse_sent, SentMessage};
use crate::state::{domain_of, AppState, KeyRecord, ServiceAccountRecord, Shared, User};

/// A service account as the control API returns it.
#[derive(Clone)]
pub struct ServiceAccount {
    /// 21-digit OAuth client ID, the value an administrator authorizes for delegation.
    pub client_id: String,
    /// `name@project.iam.gserviceaccount.com`.
    pub client_email: String,
    /// Owning project.
    pub project_id: String,
    /// Id of the key in `key_json`.
    pub private_key_id: String,
    /// The JSON key file, as the Cloud console downloads it.
    pub key_json: Value,
    /// PKCS#8 PEM private key (also inside `key_json`).
    pub private_key_pem: String,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_id", &self.client_id)
            .field("client_email", &self.client_email)
            .field("project_id", &self.project_id)
            .field("private_key_id", &self.private_key_id)
            .field("key_json", &"<redacted>")
            .field("private_key_pem", &"<redacted>")
            .finish()
    }
}

/// A control API error as RFC 9457 problem details with a stable `code`.
#[derive(Debug)]
pub struct ControlError {
    status: StatusCode,
    code: &'static str,
    detail: String,
}

impl ControlError {
    fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
        }
    }

    fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} \"{id}\" does not exist"),
        )
    }

    fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
    }
}

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

impl std::error::Error for ControlError {}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let body = json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
            "code": self.code,
        });
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

type ControlResult<T> = Result<T, ControlError>;

/// Routes of the control API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/emulator/domains", post(post_domain))
        .route("/emulator/domains/{domain}/users", post(post_user))
        .route(
            "/emulator/domains/{domain}/delegations/{client_id}",
            put(put_delegation).delete(delete_delegation),
        )
        .route("/emulator/users/{email}", patch(patch_user))
        .route("/emulator/users/{email}/sent", get(get_sent))
        .route("/emulator/users/{email}/contacts", post(post_contact))
        .route("/emulator/users/{email}/events", post(post_event))
        .route(
            "/emulator/users/{email}/expire-sync-tokens",
            post(post_expire_sync_tokens),
        )
        .route("/emulator/service-accounts", post(post_service_account))
        .route(
            "/emulator/service-accounts/{client_id}",
            patch(patch_service_account),
        )
        .route(
            "/emulator/service-accounts/{client_id}/keys",
            post(post_key),
        )
        .route(
            "/emulator/service-accounts/{client_id}/keys/{key_id}",
            delete(delete_key),
        )
        .route("/emulator/projects/{project_id}/apis/{api}", put(put_api))
        .route("/emulator/clock", get(get_clock).put(put_clock))
        .route(
            "/emulator/faults",
            get(get_faults).post(post_fault).delete(delete_faults),
        )
        .route("/emulator/tokens", delete(delete_tokens))
        .route("/emulator/stats", get(get_stats))
}

// ---- Operations shared by the HTTP handlers and `EmulatorHandle` ----

/// Creates a domain (or adds to an existing one) with the given users.
pub fn create_domain(state: &Shared, domain: &str, users: &[&str]) -> ControlResult<()> {
    let domain = domain.trim().to_ascii_lowercase();
    if domain.is_empty() || !domain.contains('.') {
        return Err(ControlError::invalid(format!(
            "domain \"{domain}\" is not a valid domain name"
        )));
    }
    for user in users {
        check_user_in_domain(user, &domain)?;
    }

    let mut world = state.world();
    let entry = world.domains.entry(domain).or_default();
    for user in users {
        let email = user.to_ascii_lowercase();
        entry
            .users
            .entry(email.clone())
            .or_insert_with(|| User::new(&email));
    }
    Ok(())
}

fn check_user_in_domain(user: &str, domain: &str) -> ControlResult<()> {
    match domain_of(&user.to_ascii_lowercase()) {
        Some(user_domain) if user_domain == domain => Ok(()),
        _ => Err(ControlError::invalid(format!(
            "user \"{user}\" is not an address of domain \"{domain}\""
        ))),
    }
}

/// Adds a user to an existing domain.
pub fn add_user(state: &Shared, domain: &str, email: &str) -> ControlResult<()> {
    let domain = domain.to_ascii_lowercase();
    check_user_in_domain(email, &domain)?;
    let mut world = state.world();
    let entry = world
        .domains
        .get_mut(&domain)
        .ok_or_else(|| ControlError::not_found("domain", &domain))?;
    let email = email.to_ascii_lowercase();
    entry
        .users
        .entry(email.clone())
        .or_insert_with(|| User::new(&email));
    Ok(())
}

/// Suspends or reactivates a user.
pub fn set_suspended(state: &Shared, email: &str, suspended: bool) -> ControlResult<()> {
    let mut world = state.world();
    let user = world
        .user_mut(email)
        .ok_or_else(|| ControlError::not_found("user", email))?;
    user.suspended = suspended;
    Ok(())
}

/// Creates a service account with one fresh key in `project_id`.
pub fn create_service_account(
    state: &Shared,
    project_id: &str,
    name: Option<&str>,
) -> anyhow::Result<ServiceAccount> {
    let project_id = project_id.trim();
    if project_id.is_empty() {
        return Err(ControlError::invalid("project_id must not be empty").into());
    }
    let name = name
        .map(str::to_string)
        .unwrap_or_else(|| format!("gateway-{}", random_hex(6)));
    let client_email = format!("{name}@{project_id}.iam.gserviceaccount.com");
    let client_id = random_digits(21);
    let key = mint_key()?;

    let fields = KeyFileFields {
        project_id,
        client_email: &client_email,
        client_id: &client_id,
        token_uri: &state.token_uri(),
    };
    let key_json = key_file(&fields, &key);

    let mut world = state.world();
    if world.service_account_by_email(&client_email).is_some() {
        return Err(ControlError::new(
            StatusCode::CONFLICT,
            "already_exists",
            format!("service account {client_email} already exists"),
        )
        .into());
    }
    world.project_mut(project_id);
    world.service_accounts.insert(
        client_id.clone(),
        ServiceAccountRecord {
            client_id: client_id.clone(),
            client_email: client_email.clone(),
            project_id: project_id.to_string(),
            disabled: false,
            keys: vec![KeyRecord {
                private_key_id: key.private_key_id.clone(),
                public_key_der: key.public_key_der.clone(),
                deleted: false,
            }],
        },
    );

    Ok(ServiceAccount {
        client_id,
        client_email,
        project_id: project_id.to_string(),
        private_key_id: key.private_key_id.clone(),
        key_json,
        private_key_pem: key.private_key_pem,
    })
}

/// Adds a key to an existing service account, as key rotation does.
pub fn add_key(state: &Shared, client_id: &str) -> anyhow::Result<ServiceAccount> {
    let (client_email, project_id) = {
        let world = state.world();
        let account = world
            .service_accounts
            .get(client_id)
            .ok_or_else(|| ControlError::not_found("service account", client_id))?;
        (account.client_email.clone(), account.project_id.clone())
    };
    let key = mint_key()?;
    let fields = KeyFileFields {
        project_id: &project_id,
        client_email: &client_email,
        client_id,
        token_uri: &state.token_uri(),
    };
    let key_json = key_file(&fields, &key);

    let mut world = state.world();
    let account = world
        .service_accounts
        .get_mut(client_id)
        .ok_or_else(|| ControlError::not_found("service account", client_id))?;
    account.keys.push(KeyRecord {
        private_key_id: key.private_key_id.clone(),
        public_key_der: key.public_key_der.clone(),
        deleted: false,
    });
    Ok(ServiceAccount {
        client_id: client_id.to_string(),
        client_email,
        project_id,
        private_key_id: key.private_key_id.clone(),
        key_json,
        private_key_pem: key.private_key_pem,
    })
}

/// Replaces the scopes delegated to `client_id` in `domain`.
pub fn delegate(
    state: &Shared,
    domain: &str,
    client_id: &str,
    scopes: &[&str],
) -> ControlResult<()> {
    let mut world = state.world();
    let entry = world
        .domains
        .get_mut(&domain.to_ascii_lowercase())
        .ok_or_else(|| ControlError::not_found("domain", domain))?;
    let scopes: BTreeSet<String> = scopes.iter().map(|scope| scope.to_string()).collect();
    entry.delegations.insert(client_id.to_string(), scopes);
    Ok(())
}

/// Removes the delegation of `client_id` in `domain`.
pub fn revoke_delegation(state: &Shared, domain: &str, client_id: &str) -> ControlResult<()> {
    let mut world = state.world();
    let entry = world
        .domains
        .get_mut(&domain.to_ascii_lowercase())
        .ok_or_else(|| ControlError::not_found("domain", domain))?;
    entry
        .delegations
        .remove(client_id)
        .map(|_| ())
        .ok_or_else(|| ControlError::not_found("delegation", client_id))
}

/// Disables or enables a service account.
pub fn set_service_account_disabled(
    state: &Shared,
    client_id: &str,
    disabled: bool,
) -> ControlResult<()> {
    let mut world = state.world();
    let account = world
        .service_accounts
        .get_mut(client_id)
        .ok_or_else(|| ControlError::not_found("service account", client_id))?;
    account.disabled = disabled;
    Ok(())
}

/// Deletes a key of a service account.
pub fn delete_service_account_key(
    state: &Shared,
    client_id: &str,
    key_id: &str,
) -> ControlResult<()> {
    let mut world = state.world();
    let account = world
        .service_accounts
        .get_mut(client_id)
        .ok_or_else(|| ControlError::not_found("service account", client_id))?;
    let key = account
        .keys
        .iter_mut()
        .find(|key| key.private_key_id == key_id && !key.deleted)
        .ok_or_else(|| ControlError::not_found("key", key_id))?;
    key.deleted = true;
    Ok(())
}

/// Enables or disables an API (`gmail.googleapis.com`, ...) in a project.
pub fn set_api_enabled(
    state: &Shared,
    project_id: &str,
    service: &str,
    enabled: bool,
) -> ControlResult<()> {
    if Api::from_service(service).is_none() {
        return Err(ControlError::invalid(format!(
            "api \"{service}\" is unknown; use people.googleapis.com, calendar-json.googleapis.com or gmail.googleapis.com"
        )));
    }
    let mut world = state.world();
    let project = world.project_mut(project_id);
    if enabled {
        project.disabled_apis.remove(service);
    } else {
        project.disabled_apis.insert(service.to_string());
    }
    Ok(())
}

/// Invalidates every People and Calendar sync token issued to the user so far.
pub fn expire_sync_tokens(state: &Shared, email: &str) -> ControlResult<()> {
    let mut world = state.world();
    let user = world
        .user_mut(email)
        .ok_or_else(|| ControlError::not_found("user", email))?;
    user.contacts.sync_epoch += 1;
    user.calendar.sync_epoch += 1;
    Ok(())
}

/// Returns the messages the user sent, oldest first.
pub fn sent_messages(state: &Shared, email: &str) -> Vec<SentMessage> {
    let world = state.world();
    let Some(user) = world.user(email) else {
        return Vec::new();
    };
    user.mailbox
        .sent
        .iter()
        .map(|message| {
            parse_sent(
                &message.id,
                &message.thread_id,
                &message.raw,
                &message.delivered_raw,
            )
        })
        .collect()
}

// ---- HTTP handlers ----

#[derive(Debug, Deserialize)]
struct DomainRequest {
    domain: String,
    #[serde(default)]
    users: Vec<String>,
}

async fn post_domain(
    State(state): State<AppState>,
    Json(request): Json<DomainRequest>,
) -> ControlResult<(StatusCode, Json<Value>)> {
    let users: Vec<&str> = request.users.iter().map(String::as_str).collect();
    create_domain(&state, &request.domain, &users)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"domain": request.domain.to_ascii_lowercase(), "users": request.users})),
    ))
}

#[derive(Debug, Deserialize)]
struct UserRequest {
    email: String,
}

async fn post_user(
    State(state): State<AppState>,
    Path(domain): Path<String>,
    Json(request): Json<UserRequest>,
) -> ControlResult<(StatusCode, Json<Value>)> {
    add_user(&state, &domain, &request.email)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"email": request.email.to_ascii_lowercase(), "suspended": false})),
    ))
}

#[derive(Debug, Deserialize)]
struct UserPatch {
    suspended: Option<bool>,
}

async fn patch_user(
    State(state): State<AppState>,
    Path(email): Path<String>,
    Json(request): Json<UserPatch>,
) -> ControlResult<Json<Value>> {
    let suspended = request
        .suspended
        .ok_or_else(|| ControlError::invalid("field \"suspended\" (boolean) is required"))?;
    set_suspended(&state, &email, suspended)?;
    Ok(Json(
        json!({"email": email.to_ascii_lowercase(), "suspended": suspended}),
    ))
}

#[derive(Debug, Deserialize)]
struct ServiceAccountRequest {
    project_id: String,
    #[serde(default)]
    name: Option<String>,
}

async fn post_service_account(
    State(state): State<AppState>,
    Json(request): Json<ServiceAccountRequest>,
) -> ControlResult<(StatusCode, Json<Value>)> {
    let shared = state.clone();
    let account = tokio::task::spawn_blocking(move || {
        create_service_account(&shared, &request.project_id, request.name.as_deref())
    })
    .await
    .map_err(|error| {
        ControlError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            error.to_string(),
        )
    })?
    .map_err(into_control_error)?;
    Ok((StatusCode::CREATED, Json(service_account_json(&account))))
}

async fn post_key(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
) -> ControlResult<(StatusCode, Json<Value>)> {
    let shared = state.clone();
    let account = tokio::task::spawn_blocking(move || add_key(&shared, &client_id))
        .await
        .map_err(|error| {
            ControlError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                error.to_string(),
            )
        })?
        .map_err(into_control_error)?;
    Ok((StatusCode::CREATED, Json(service_account_json(&account))))
}

fn service_account_json(account: &ServiceAccount) -> Value {
    json!({
        "client_id": account.client_id,
        "client_email": account.client_email,
        "project_id": account.project_id,
        "private_key_id": account.private_key_id,
        "key": account.key_json,
    })
}

fn into_control_error(error: anyhow::Error) -> ControlError {
    match error.downcast::<ControlError>() {
        Ok(control) => control,
        Err(other) => ControlError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            other.to_string(),
        ),
    }
}

#[derive(Debug, Deserialize)]
struct ServiceAccountPatch {
    disabled: Option<bool>,
}

async fn patch_service_account(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    Json(request): Json<ServiceAccountPatch>,
) -> ControlResult<Json<Value>> {
    let disabled = request
        .disabled
        .ok_or_else(|| ControlError::invalid("field \"disabled\" (boolean) is required"))?;
    set_service_account_disabled(&state, &client_id, disabled)?;
    Ok(Json(json!({"client_id": client_id, "disabled": disabled})))
}

async fn delete_key(
    State(state): State<AppState>,
    Path((client_id, key_id)): Path<(String, String)>,
) -> ControlResult<StatusCode> {
    delete_service_account_key(&state, &client_id, &key_id)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct DelegationRequest {
    scopes: Vec<String>,
}

async fn put_delegation(
    State(state): State<AppState>,
    Path((domain, client_id)): Path<(String, String)>,
    Json(request): Json<DelegationRequest>,
) -> ControlResult<Json<Value>> {
    let scopes: Vec<&str> = request.scopes.iter().map(String::as_str).collect();
    delegate(&state, &domain, &client_id, &scopes)?;
    Ok(Json(
        json!({"domain": domain, "client_id": client_id, "scopes": request.scopes}),
    ))
}

async fn delete_delegation(
    State(state): State<AppState>,
    Path((domain, client_id)): Path<(String, String)>,
) -> ControlResult<StatusCode> {
    revoke_delegation(&state, &domain, &client_id)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct ApiRequest {
    enabled: bool,
}

async fn put_api(
    State(state): State<AppState>,
    Path((project_id, api)): Path<(String, String)>,
    Json(request): Json<ApiRequest>,
) -> ControlResult<Json<Value>> {
    set_api_enabled(&state, &project_id, &api, request.enabled)?;
    let number = state.world().project_mut(&project_id).number.clone();
    Ok(Json(json!({
        "project_id": project_id,
        "project_number": number,
        "api": api,
        "enabled": request.enabled,
    })))
}

#[derive(Debug, Deserialize)]
struct ClockRequest {
    offset_seconds: i64,
}

async fn put_clock(
    State(state): State<AppState>,
    Json(request): Json<ClockRequest>,
) -> Json<Value> {
    state.clock.set_offset_seconds(request.offset_seconds);
    clock_json(&state)
}

async fn get_clock(State(state): State<AppState>) -> Json<Value> {
    clock_json(&state)
}

fn clock_json(state: &Shared) -> Json<Value> {
    Json(json!({
        "offset_seconds": state.clock.offset_seconds(),
        "now": state.clock.now().to_rfc3339(),
    }))
}

async fn post_fault(
    State(state): State<AppState>,
    Json(rule): Json<FaultRule>,
) -> ControlResult<(StatusCode, Json<Value>)> {
    rule.validate().map_err(ControlError::invalid)?;
    let body = serde_json::to_value(&rule).unwrap_or_default();
    state.world().faults.push(rule);
    Ok((StatusCode::CREATED, Json(body)))
}

async fn get_faults(State(state): State<AppState>) -> Json<Value> {
    let faults = state.world().faults.clone();
    Json(json!({"faults": faults}))
}

async fn delete_faults(State(state): State<AppState>) -> StatusCode {
    state.world().faults.clear();
    StatusCode::NO_CONTENT
}

async fn delete_tokens(State(state): State<AppState>) -> StatusCode {
    state.world().tokens.clear();
    StatusCode::NO_CONTENT
}

async fn post_expire_sync_tokens(
    State(state): State<AppState>,
    Path(email): Path<String>,
) -> ControlResult<StatusCode> {
    expire_sync_tokens(&state, &email)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_sent(
    State(state): State<AppState>,
    Path(email): Path<String>,
) -> ControlResult<Json<Value>> {
    if state.world().user(&email).is_none() {
        return Err(ControlError::not_found("user", &email));
    }
    let messages: Vec<Value> = sent_messages(&state, &email)
        .iter()
        .map(sent_json)
        .collect();
    Ok(Json(json!({ "messages": messages })))
}

fn sent_json(message: &SentMessage) -> Value {
    let attachments: Vec<Value> = message
        .attachments
        .iter()
        .map(|attachment| {
            json!({
                "filename": attachment.filename,
                "content_type": attachment.content_type,
                "size": attachment.bytes.len(),
                "data_base64": STANDARD.encode(&attachment.bytes),
            })
        })
        .collect();
    json!({
        "id": message.id,
        "thread_id": message.thread_id,
        "raw": URL_SAFE_NO_PAD.encode(&message.raw),
        "delivered_raw": URL_SAFE_NO_PAD.encode(&message.delivered_raw),
        "parsed": {
            "subject": message.subject,
            "from": message.from,
            "to": message.to,
            "cc": message.cc,
            "bcc": message.bcc,
            "reply_to": message.reply_to,
            "in_reply_to": message.in_reply_to,
            "references": message.references,
            "text_body": message.text_body,
            "html_body": message.html_body,
            "attachments": attachments,
        },
    })
}

async fn post_contact(
    State(state): State<AppState>,
    Path(email): Path<String>,
    Json(person): Json<Value>,
) -> Result<(StatusCode, Json<Value>), Response> {
    let now = state.clock.now();
    let mut world = state.world();
    if world.user(&email).is_none() {
        return Err(ControlError::not_found("user", &email).into_response());
    }
    let contact = crate::people::insert_contact(&mut world, &email, &person, now)
        .map_err(IntoResponse::into_response)?;
    Ok((StatusCode::CREATED, Json(contact.render(None))))
}

async fn post_event(
    State(state): State<AppState>,
    Path(email): Path<String>,
    Json(event): Json<Value>,
) -> Result<(StatusCode, Json<Value>), Response> {
    let now = state.clock.now();
    let mut world = state.world();
    if world.user(&email).is_none() {
        return Err(ControlError::not_found("user", &email).into_response());
    }
    let rendered = crate::calendar::insert_event(&mut world, &email, &event, now)
        .map_err(IntoResponse::into_response)?;
    Ok((StatusCode::CREATED, Json(rendered)))
}

async fn get_stats(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "token_exchanges": state.token_exchanges.load(Ordering::Relaxed),
        "api_calls": state.api_calls.load(Ordering::Relaxed),
    }))
}
