//! `/v1/brokerages/{brokerage_id}/verifications`: run a verification, list past
//! reports and read one.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};

use super::model::{
    Check, CheckName, CheckStatus, Outcome, SyncSummary, VerificationPage, VerificationReport,
    VerificationRequest,
};
use super::store::{self, Cursor};
use crate::auth::Caller;
use crate::brokerages::Brokerage;
use crate::credentials::AdminConsoleGrant;
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult, Problem};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/brokerages/{brokerage_id}/verifications",
            get(list_verifications).post(run_verification),
        )
        .route(
            "/v1/brokerages/{brokerage_id}/verifications/{verification_id}",
            get(get_verification),
        )
}

/// OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(
    paths(run_verification, list_verifications, get_verification),
    components(schemas(
        VerificationRequest,
        VerificationReport,
        VerificationPage,
        Check,
        CheckName,
        CheckStatus,
        Outcome,
        SyncSummary,
        AdminConsoleGrant
    ))
)]
pub struct ApiDoc;

/// Query of the report list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Cursor from the previous page.
    pub cursor: Option<String>,
    /// Reports per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
}

/// Verify the brokerage's key for a test user, store the report and return it.
///
/// Tests the pending key when there is one, else the active key, acting as the
/// test user. The checks cover the key itself, the clock, one token per scope and
/// the contacts scope. Then one read per API and a read-only synchronization of
/// contacts and the next 30 days of events follow. The `CheckName` schema
/// describes what each check proves.
///
/// The outcome is `verified` when no check failed. Then a pending key replaces the
/// active key (the brokerage's cached tokens are dropped), and the brokerage's
/// `credential_status` becomes `verified` with a new `last_verified_at`. When a
/// check failed, the report names the fix in each failed check's `remediation` and
/// in `admin_console`. A failing active key sets `credential_status` to
/// `verification_failed` and keeps `last_verified_at`. A failing pending key stays
/// pending and changes nothing else, so the active key keeps working. The report,
/// the rotation and the status change are stored together or not at all.
#[utoipa::path(post, path = "/v1/brokerages/{brokerage_id}/verifications", tag = "credentials",
    params(("brokerage_id" = String, Path, description = "Brokerage id")),
    request_body(content = Option<VerificationRequest>, description = "Optional; without a body the brokerage's test user is used", content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Verification ran; `outcome` is `verified` or `verification_failed`", body = VerificationReport),
        (status = 400, description = "`user_outside_domains` or `invalid_email` for `test_user`, or `malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The API key's role cannot manage brokerages", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown brokerage", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`credentials_missing` (no key uploaded), `credentials_revoked` (revoked, also when revoked during the run), `verification_superseded` (the key under test was replaced during the run)", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "`verification_timeout`: the run did not finish in time; nothing was stored", body = Problem, content_type = "application/problem+json"),
    ))]
async fn run_verification(
    State(state): State<AppState>,
    caller: Caller,
    Path(brokerage_id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, ApiJson<VerificationReport>)> {
    caller.authorize_manage(&brokerage_id)?;
    let request = parse_request(&body)?;
    let brokerage = crate::brokerages::require(&state.db, &brokerage_id).await?;
    let test_user = choose_test_user(&brokerage, request.test_user.as_deref())?;

    let report = super::service::verify(&state, &caller, &brokerage, test_user).await?;
    Ok((StatusCode::CREATED, ApiJson(report)))
}

/// Reads the optional JSON body; an empty body or `null` means the defaults.
fn parse_request(body: &[u8]) -> ApiResult<VerificationRequest> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(VerificationRequest::default());
    }

    let request: Option<VerificationRequest> = serde_json::from_slice(body).map_err(|error| {
        if error.is_data() {
            ApiError::unprocessable(
                "invalid_body",
                format!("The JSON body does not match the expected shape: {error}"),
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("The request body is not valid JSON: {error}"),
            )
        }
    })?;
    Ok(request.unwrap_or_default())
}

fn choose_test_user(brokerage: &Brokerage, requested: Option<&str>) -> ApiResult<String> {
    match requested {
        None => Ok(brokerage.test_user.clone()),
        Some(raw) => crate::users::address_in_brokerage(brokerage, raw)
            .map_err(|error| error.with_field("test_user")),
    }
}

/// List the brokerage's verification reports, newest first.
#[utoipa::path(get, path = "/v1/brokerages/{brokerage_id}/verifications", tag = "credentials",
    params(("brokerage_id" = String, Path, description = "Brokerage id"), ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = VerificationPage),
        (status = 400, description = "`invalid_limit` or `invalid_cursor`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown brokerage", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_verifications(
    State(state): State<AppState>,
    caller: Caller,
    Path(brokerage_id): Path<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<ApiJson<VerificationPage>> {
    caller.authorize_manage(&brokerage_id)?;
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid(
            "invalid_limit",
            "limit",
            "Use a limit from 1 to 100.",
        ));
    }
    let cursor = match query.cursor.as_deref() {
        None => None,
        Some(text) => Some(Cursor::decode(text).ok_or_else(|| {
            ApiError::invalid(
                "invalid_cursor",
                "cursor",
                "The cursor is not one this list returned; start again without it.",
            )
        })?),
    };

    crate::brokerages::require(&state.db, &brokerage_id).await?;
    let (items, next) = store::list(&state.db, &brokerage_id, cursor.as_ref(), limit).await?;
    Ok(ApiJson(VerificationPage {
        items,
        next_cursor: next.map(|cursor| cursor.encode()),
    }))
}

/// Read one verification report.
#[utoipa::path(get, path = "/v1/brokerages/{brokerage_id}/verifications/{verification_id}", tag = "credentials",
    params(
        ("brokerage_id" = String, Path, description = "Brokerage id"),
        ("verification_id" = String, Path, description = "Report id"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = VerificationReport),
        (status = 404, description = "`brokerage_not_found` or `verification_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_verification(
    State(state): State<AppState>,
    caller: Caller,
    Path((brokerage_id, verification_id)): Path<(String, String)>,
) -> ApiResult<ApiJson<VerificationReport>> {
    caller.authorize_manage(&brokerage_id)?;
    crate::brokerages::require(&state.db, &brokerage_id).await?;

    let report = store::get(&state.db, &brokerage_id, &verification_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "verification_not_found",
                format!("Brokerage {brokerage_id} has no verification report {verification_id:?}."),
            )
        })?;
    Ok(ApiJson(report))
}
