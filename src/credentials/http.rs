//! `/v1/brokerages/{brokerage_id}/credentials`: upload, read and revoke the
//! brokerage's service-account key.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::put;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::store::{self, InsertError, NewCredential};
use super::{key_file, AdminConsoleGrant, CredentialMetadata};
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult, Problem};
use crate::state::AppState;

/// Credentials of a brokerage: metadata only, never the key.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialsResponse {
    /// Brokerage id.
    pub brokerage_id: String,
    /// `none`, `unverified`, `verified`, `verification_failed` or `revoked`.
    pub credential_status: String,
    /// The key used for Google calls.
    pub active: Option<CredentialMetadata>,
    /// A newer key waiting for verification before it replaces the active one.
    pub pending: Option<CredentialMetadata>,
    /// Grant to enter in the Admin console for the newest key.
    pub admin_console: Option<AdminConsoleGrant>,
}

/// Query of the upload.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct UploadQuery {
    /// With an active key present, replace it at once instead of keeping the
    /// new key pending until it verifies. The replacement is audited.
    #[serde(default)]
    pub replace_without_verification: bool,
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/v1/brokerages/{brokerage_id}/credentials",
        put(upload_credentials)
            .get(get_credentials)
            .delete(revoke_credentials),
    )
}

/// OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(
    paths(upload_credentials, get_credentials, revoke_credentials),
    components(schemas(CredentialsResponse, CredentialMetadata, AdminConsoleGrant))
)]
pub struct ApiDoc;

/// Upload the service-account JSON key file as the Google Cloud console downloads it.
///
/// The first key becomes active at once. With an active key present, the new
/// key is stored as `pending` and replaces the active one when a verification
/// passes, unless `replace_without_verification=true`.
#[utoipa::path(put, path = "/v1/brokerages/{brokerage_id}/credentials", tag = "credentials",
    params(("brokerage_id" = String, Path, description = "Brokerage id"), UploadQuery),
    request_body(content = Object, description = "The JSON key file, unchanged", content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "This key is already stored; nothing changed", body = CredentialsResponse),
        (status = 201, description = "Key stored", body = CredentialsResponse),
        (status = 404, description = "Unknown brokerage", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a usable service-account key: `invalid_key_file`, `oauth_client_file`, `authorized_user_file`, `external_account_file`, `invalid_private_key`, `api_key_not_private_key`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn upload_credentials(
    State(state): State<AppState>,
    caller: Caller,
    Path(brokerage_id): Path<String>,
    ApiQuery(query): ApiQuery<UploadQuery>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, ApiJson<CredentialsResponse>)> {
    caller.authorize_manage(&brokerage_id)?;
    crate::brokerages::require(&state.db, &brokerage_id).await?;
    let validated = key_file::validate(&body, &state.settings.google)?;

    let current = store::current(&state.db, &brokerage_id).await?;
    if current.iter().any(|stored| {
        stored.private_key_id == validated.private_key_id && stored.client_id == validated.client_id
    }) {
        return Ok((
            StatusCode::OK,
            ApiJson(describe(&state, &brokerage_id).await?),
        ));
    }

    let has_active = current.iter().any(|stored| stored.state == "active");
    let new_state = if has_active && !query.replace_without_verification {
        "pending"
    } else {
        "active"
    };

    let credential = NewCredential {
        state: new_state,
        client_email: &validated.client_email,
        client_id: &validated.client_id,
        private_key_id: &validated.private_key_id,
        project_id: validated.project_id.as_deref(),
        token_uri: &validated.token_uri,
        public_key_fingerprint: &validated.public_key_fingerprint,
        uploaded_by: caller.api_key_id(),
    };
    let vault = state.vault.clone();
    let metadata = store::insert(&state.db, &brokerage_id, &credential, |version| {
        vault.seal(&brokerage_id, version, validated.json.as_bytes())
    })
    .await
    .map_err(|error| match error {
        InsertError::Storage(storage) => ApiError::from(storage),
        InsertError::Seal(source) => ApiError::internal(source),
    })?;

    if has_active && new_state == "active" {
        crate::credentials::forget_brokerage(&state, &brokerage_id);
    }
    record_upload(&state, &brokerage_id, &caller, &metadata, has_active).await?;

    Ok((
        StatusCode::CREATED,
        ApiJson(describe(&state, &brokerage_id).await?),
    ))
}

async fn record_upload(
    state: &AppState,
    brokerage_id: &str,
    caller: &Caller,
    metadata: &CredentialMetadata,
    had_active: bool,
) -> ApiResult<()> {
    let detail = json!({
        "version": metadata.version,
        "client_id": metadata.client_id,
        "private_key_id": metadata.private_key_id,
        "state": metadata.state,
    });
    crate::audit::record(
        &state.db,
        brokerage_id,
        Some(caller.api_key_id()),
        "upload",
        &metadata.state,
        detail.clone(),
    )
    .await?;

    if had_active && metadata.state == "active" {
        let detail = json!({ "version": metadata.version, "without_verification": true });
        crate::audit::record(
            &state.db,
            brokerage_id,
            Some(caller.api_key_id()),
            "rotate",
            "success",
            detail,
        )
        .await?;
    }
    Ok(())
}

/// Builds the metadata response of a brokerage.
pub(crate) async fn describe(
    state: &AppState,
    brokerage_id: &str,
) -> ApiResult<CredentialsResponse> {
    let brokerage = crate::brokerages::require(&state.db, brokerage_id).await?;
    let current = store::current(&state.db, brokerage_id).await?;

    let active = current
        .iter()
        .find(|stored| stored.state == "active")
        .cloned();
    let pending = current
        .iter()
        .find(|stored| stored.state == "pending")
        .cloned();
    let contacts_scope = brokerage.contacts_scope_or(&state.settings.google.default_contacts_scope);
    let admin_console = pending
        .as_ref()
        .or(active.as_ref())
        .map(|newest| AdminConsoleGrant::new(&newest.client_id, contacts_scope));

    Ok(CredentialsResponse {
        brokerage_id: brokerage.id.clone(),
        credential_status: brokerage.credential_status.clone(),
        active,
        pending,
        admin_console,
    })
}

/// Read the brokerage's key metadata and the Admin console grant.
#[utoipa::path(get, path = "/v1/brokerages/{brokerage_id}/credentials", tag = "credentials",
    params(("brokerage_id" = String, Path, description = "Brokerage id")), security(("bearer" = [])),
    responses(
        (status = 200, body = CredentialsResponse),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_credentials(
    State(state): State<AppState>,
    caller: Caller,
    Path(brokerage_id): Path<String>,
) -> ApiResult<ApiJson<CredentialsResponse>> {
    caller.authorize_manage(&brokerage_id)?;
    Ok(ApiJson(describe(&state, &brokerage_id).await?))
}

/// Revoke the brokerage's keys at once: the sealed keys are erased and every
/// cached token is dropped; later Google calls fail with `credentials_revoked`.
#[utoipa::path(delete, path = "/v1/brokerages/{brokerage_id}/credentials", tag = "credentials",
    params(("brokerage_id" = String, Path, description = "Brokerage id")), security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "Unknown brokerage or no key to revoke", body = Problem, content_type = "application/problem+json"),
    ))]
async fn revoke_credentials(
    State(state): State<AppState>,
    caller: Caller,
    Path(brokerage_id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.authorize_manage(&brokerage_id)?;
    crate::brokerages::require(&state.db, &brokerage_id).await?;

    let revoked = store::revoke_all(&state.db, &brokerage_id).await?;
    crate::credentials::forget_brokerage(&state, &brokerage_id);
    if revoked == 0 {
        return Err(ApiError::not_found(
            "credentials_missing",
            "This brokerage has no key to revoke.",
        ));
    }

    crate::audit::record(
        &state.db,
        &brokerage_id,
        Some(caller.api_key_id()),
        "revoke",
        "success",
        json!({ "keys_revoked": revoked }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
