//! `/v1/api-keys`: create, list and revoke API keys (admin only).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::Router;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::keys::{self, ApiKeyRecord, NewApiKey, Role};
use super::Caller;
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult, Problem};
use crate::state::AppState;
use crate::storage::TimeCursor;

/// Request to create an API key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// Name that describes what the key is for, such as `moxiengage-prod`.
    pub name: String,
    /// Role of the key.
    pub role: Role,
    /// Limits the key to one brokerage; omit for a key that reaches every brokerage.
    pub brokerage_id: Option<String>,
}

/// A page of API keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyPage {
    /// Keys, newest first.
    pub items: Vec<ApiKeyRecord>,
    /// Cursor for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Query of the API key list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Cursor from the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 100).
    pub page_size: Option<i64>,
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
    components(schemas(CreateApiKey, ApiKeyRecord, ApiKeyPage, NewApiKey, Role))
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

/// List API keys, newest first (never their secrets).
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys", params(ListQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = ApiKeyPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<ApiJson<ApiKeyPage>> {
    caller.require_admin()?;

    let page_size = query.page_size.unwrap_or(100);
    if !(1..=500).contains(&page_size) {
        return Err(ApiError::invalid(
            "invalid_page_size",
            "page_size",
            "Use a page size from 1 to 500.",
        ));
    }
    let cursor = match query.cursor.as_deref() {
        Some(text) => Some(TimeCursor::decode(text).ok_or_else(crate::storage::invalid_cursor)?),
        None => None,
    };

    let mut items = keys::list(&state.db, cursor.as_ref(), page_size + 1).await?;
    let next_cursor = if items.len() as i64 > page_size {
        items.truncate(page_size as usize);
        items.last().map(|key| {
            TimeCursor {
                at: key.created_at.clone(),
                id: key.id.clone(),
            }
            .encode()
        })
    } else {
        None
    };
    Ok(ApiJson(ApiKeyPage { items, next_cursor }))
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
