//! `/v1/api-keys`: create, list and revoke API keys (admin only).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::Router;
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};

use super::keys::{self, ApiKeyRecord, NewApiKey, Role};
use super::Caller;
use crate::error::{ApiError, ApiJson, ApiResult, Problem};
use crate::state::AppState;

/// Request to create an API key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// Name that tells people what the key is for, such as `moxiengage-prod`.
    pub name: String,
    /// Role of the key.
    pub role: Role,
    /// Limits the key to one brokerage; omit for a key that reaches every brokerage.
    pub brokerage_id: Option<String>,
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/api-keys", get(list_keys).post(create_key))
        .route("/v1/api-keys/{key_id}", delete(revoke_key))
}

/// OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(
    paths(create_key, list_keys, revoke_key),
    components(schemas(CreateApiKey, ApiKeyRecord, NewApiKey, Role))
)]
pub struct ApiDoc;

/// Create an API key. The secret is in this response only.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", request_body = CreateApiKey,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Key created; store `secret` now", body = NewApiKey),
        (status = 400, description = "Invalid name", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an unscoped admin key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown brokerage", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<CreateApiKey>,
) -> ApiResult<(StatusCode, ApiJson<NewApiKey>)> {
    caller.require_admin()?;

    let name = request.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::invalid(
            "invalid_name",
            "name",
            "Give the key a name of 1 to 100 characters.",
        ));
    }
    if let Some(brokerage_id) = &request.brokerage_id {
        crate::brokerages::store::get(&state.db, brokerage_id)
            .await?
            .ok_or_else(|| crate::brokerages::not_found(brokerage_id))?;
    }

    let created = keys::create(
        &state.db,
        &state.api_key_hasher,
        request.brokerage_id.as_deref(),
        name,
        request.role,
    )
    .await?;
    tracing::info!(api_key_id = %created.record.id, role = created.record.role.as_str(), "API key created");
    Ok((StatusCode::CREATED, ApiJson(created)))
}

/// List API keys (never their secrets).
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys", security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<ApiKeyRecord>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<ApiJson<Vec<ApiKeyRecord>>> {
    caller.require_admin()?;
    Ok(ApiJson(keys::list(&state.db).await?))
}

/// Revoke an API key at once.
#[utoipa::path(delete, path = "/v1/api-keys/{key_id}", tag = "api-keys", security(("bearer" = [])),
    params(("key_id" = String, Path, description = "Key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(key_id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    if keys::revoke(&state.db, &key_id).await? {
        tracing::info!(api_key_id = %key_id, "API key revoked");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(
            "api_key_not_found",
            format!("No active API key has id {key_id:?}."),
        ))
    }
}
