//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::error::{ApiError, ApiJson, ApiResult, Problem};
use crate::state::AppState;

/// Probe result.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the probe succeeds.
    pub status: &'static str,
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(paths(healthz, readyz), components(schemas(Health)))]
pub struct ApiDoc;

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
async fn healthz() -> ApiJson<Health> {
    ApiJson(Health { status: "ok" })
}

/// Readiness: the database responds.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, body = Health),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ))]
async fn readyz(State(state): State<AppState>) -> ApiResult<ApiJson<Health>> {
    state.db.ping().await.map_err(|error| {
        tracing::error!(error = %error, "readiness check failed: database unreachable");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "The database does not answer.",
        )
    })?;
    Ok(ApiJson(Health { status: "ok" }))
}
