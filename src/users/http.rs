//! `/v1/brokerages/{brokerage_id}/users`: enroll, read, list and unenroll mailboxes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::{address_in_brokerage, store, User};
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult, Problem};
use crate::state::AppState;

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    /// Users ordered by address.
    pub items: Vec<User>,
    /// Cursor for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Query of the user list.
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
        .route("/v1/brokerages/{brokerage_id}/users", get(list_users))
        .route(
            "/v1/brokerages/{brokerage_id}/users/{email}",
            get(get_user).put(enroll_user).delete(unenroll_user),
        )
}

/// OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(
    paths(enroll_user, get_user, list_users, unenroll_user),
    components(schemas(User, UserPage))
)]
pub struct ApiDoc;

/// Enroll a mailbox of one of the brokerage's domains. Repeating it changes nothing.
#[utoipa::path(put, path = "/v1/brokerages/{brokerage_id}/users/{email}", tag = "users",
    params(("brokerage_id" = String, Path, description = "Brokerage id"), ("email" = String, Path, description = "Mailbox address")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Already enrolled", body = User),
        (status = 201, description = "Enrolled", body = User),
        (status = 400, description = "Invalid address or outside the domains", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown brokerage", body = Problem, content_type = "application/problem+json"),
    ))]
async fn enroll_user(
    State(state): State<AppState>,
    caller: Caller,
    Path((brokerage_id, email)): Path<(String, String)>,
) -> ApiResult<(StatusCode, ApiJson<User>)> {
    caller.authorize_enroll(&brokerage_id)?;
    let brokerage = crate::brokerages::require(&state.db, &brokerage_id).await?;
    let email = address_in_brokerage(&brokerage, &email)?;

    let (user, created) = store::insert(&state.db, &brokerage_id, &email).await?;
    if created {
        tracing::info!(brokerage_id = %brokerage_id, user = %email, "user enrolled");
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, ApiJson(user)))
}

/// Read an enrolled mailbox.
#[utoipa::path(get, path = "/v1/brokerages/{brokerage_id}/users/{email}", tag = "users",
    params(("brokerage_id" = String, Path, description = "Brokerage id"), ("email" = String, Path, description = "Mailbox address")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = User),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path((brokerage_id, email)): Path<(String, String)>,
) -> ApiResult<ApiJson<User>> {
    caller.authorize_read(&brokerage_id)?;
    let enrolled = super::require_enrolled(&state, &brokerage_id, &email).await?;
    let user = store::get(&state.db, &brokerage_id, &enrolled.email)
        .await?
        .ok_or_else(|| super::not_found(&enrolled.email))?;
    Ok(ApiJson(user))
}

/// List enrolled mailboxes.
#[utoipa::path(get, path = "/v1/brokerages/{brokerage_id}/users", tag = "users",
    params(("brokerage_id" = String, Path, description = "Brokerage id"), ListQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = UserPage),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Path(brokerage_id): Path<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<ApiJson<UserPage>> {
    caller.authorize_read(&brokerage_id)?;
    crate::brokerages::require(&state.db, &brokerage_id).await?;

    let page_size = query.page_size.unwrap_or(100);
    if !(1..=500).contains(&page_size) {
        return Err(ApiError::invalid(
            "invalid_page_size",
            "page_size",
            "Use a page size from 1 to 500.",
        ));
    }
    let after = match query.cursor.as_deref() {
        Some(text) => Some(
            crate::storage::decode_id_cursor(text).ok_or_else(crate::storage::invalid_cursor)?,
        ),
        None => None,
    };
    let mut items = store::list(&state.db, &brokerage_id, after.as_deref(), page_size + 1).await?;
    let next_cursor = if items.len() as i64 > page_size {
        items.truncate(page_size as usize);
        items
            .last()
            .map(|user| crate::storage::encode_id_cursor(&user.email))
    } else {
        None
    };
    Ok(ApiJson(UserPage { items, next_cursor }))
}

/// Unenroll a mailbox and purge its records.
#[utoipa::path(delete, path = "/v1/brokerages/{brokerage_id}/users/{email}", tag = "users",
    params(("brokerage_id" = String, Path, description = "Brokerage id"), ("email" = String, Path, description = "Mailbox address")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Unenrolled"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn unenroll_user(
    State(state): State<AppState>,
    caller: Caller,
    Path((brokerage_id, email)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.authorize_enroll(&brokerage_id)?;
    let enrolled = super::require_enrolled(&state, &brokerage_id, &email).await?;

    store::delete(&state.db, &brokerage_id, &enrolled.email).await?;
    tracing::info!(brokerage_id = %brokerage_id, user = %enrolled.email, "user unenrolled");
    Ok(StatusCode::NO_CONTENT)
}
