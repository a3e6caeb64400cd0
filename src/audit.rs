//! Audit log of credential events (upload, verify, rotate, revoke, re-encrypt):
//! who did what to which brokerage's key, and the outcome. Never a secret.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult, Problem};
use crate::state::AppState;
use crate::storage::{now_rfc3339, Db, StorageResult};

/// One audit record.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Record id.
    pub id: String,
    /// Brokerage concerned.
    pub brokerage_id: String,
    /// Time (RFC 3339).
    pub at: String,
    /// API key that acted; `null` for commands run on the server.
    pub api_key_id: Option<String>,
    /// `upload`, `verify`, `rotate`, `revoke` or `reencrypt`.
    pub action: String,
    /// `success`, `failure`, or a more specific outcome such as `pending`.
    pub outcome: String,
    /// Non-secret details such as the credential version.
    pub detail: serde_json::Value,
}

/// Appends a record. A failure is logged and returned.
pub async fn record(
    db: &Db,
    brokerage_id: &str,
    api_key_id: Option<&str>,
    action: &str,
    outcome: &str,
    detail: serde_json::Value,
) -> StorageResult<()> {
    sqlx::query("INSERT INTO audit_log (id, brokerage_id, at, api_key_id, action, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(brokerage_id)
        .bind(now_rfc3339())
        .bind(api_key_id.map(str::to_owned))
        .bind(action)
        .bind(outcome)
        .bind(detail.to_string())
        .execute(db.pool())
        .await
        .inspect_err(|error| tracing::error!(brokerage_id, action, error = %error, "audit record failed"))?;
    tracing::info!(brokerage_id, action, outcome, "credential event");
    Ok(())
}

/// Lists a brokerage's records, newest first.
pub async fn list(db: &Db, brokerage_id: &str, limit: i64) -> StorageResult<Vec<AuditEntry>> {
    let rows = sqlx::query(
        "SELECT id, brokerage_id, at, api_key_id, action, outcome, detail FROM audit_log WHERE brokerage_id = $1 ORDER BY at DESC, id LIMIT $2",
    )
    .bind(brokerage_id)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;

    rows.iter()
        .map(|row| {
            let detail: String = row.try_get("detail")?;
            Ok(AuditEntry {
                id: row.try_get("id")?,
                brokerage_id: row.try_get("brokerage_id")?,
                at: row.try_get("at")?,
                api_key_id: row.try_get("api_key_id")?,
                action: row.try_get("action")?,
                outcome: row.try_get("outcome")?,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
            })
        })
        .collect()
}

/// Query of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Maximum records, 1 to 1000 (default 100).
    pub limit: Option<i64>,
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/v1/brokerages/{brokerage_id}/audit-log",
        get(list_audit_log),
    )
}

/// OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(paths(list_audit_log), components(schemas(AuditEntry)))]
pub struct ApiDoc;

/// Read a brokerage's credential audit log, newest first (admin keys only).
#[utoipa::path(get, path = "/v1/brokerages/{brokerage_id}/audit-log", tag = "credentials",
    params(("brokerage_id" = String, Path, description = "Brokerage id"), AuditQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<AuditEntry>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_audit_log(
    State(state): State<AppState>,
    caller: Caller,
    Path(brokerage_id): Path<String>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<ApiJson<Vec<AuditEntry>>> {
    if !caller.can_see(&brokerage_id) {
        return Err(crate::brokerages::not_found(&brokerage_id));
    }
    if caller.role() != crate::auth::Role::Admin {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            "The audit log is readable with admin API keys only.",
        ));
    }

    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid(
            "invalid_limit",
            "limit",
            "Use a limit from 1 to 1000.",
        ));
    }
    Ok(ApiJson(list(&state.db, &brokerage_id, limit).await?))
}
