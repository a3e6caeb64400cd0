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
use crate::storage::{now_rfc3339, Db, StorageResult, TimeCursor};

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

/// Lists a brokerage's records since `since`, newest first, after `cursor`,
/// at most `limit`.
pub async fn list(
    db: &Db,
    brokerage_id: &str,
    since: &str,
    cursor: Option<&TimeCursor>,
    limit: i64,
) -> StorageResult<Vec<AuditEntry>> {
    let rows = sqlx::query(
        "SELECT id, brokerage_id, at, api_key_id, action, outcome, detail FROM audit_log \
         WHERE brokerage_id = $1 AND ($2 IS NULL OR at < $2 OR (at = $2 AND id < $3)) AND at >= $5 \
         ORDER BY at DESC, id DESC LIMIT $4",
    )
    .bind(brokerage_id)
    .bind(cursor.map(|cursor| cursor.at.clone()))
    .bind(cursor.map(|cursor| cursor.id.clone()))
    .bind(limit)
    .bind(since)
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

/// A page of audit records.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Records, newest first.
    pub items: Vec<AuditEntry>,
    /// Cursor for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Query of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Cursor from the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 100).
    pub page_size: Option<i64>,
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
#[openapi(paths(list_audit_log), components(schemas(AuditEntry, AuditPage)))]
pub struct ApiDoc;

/// Read a brokerage's credential audit log, newest first (admin keys only).
#[utoipa::path(get, path = "/v1/brokerages/{brokerage_id}/audit-log", tag = "credentials",
    params(("brokerage_id" = String, Path, description = "Brokerage id"), AuditQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = AuditPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_audit_log(
    State(state): State<AppState>,
    caller: Caller,
    Path(brokerage_id): Path<String>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<ApiJson<AuditPage>> {
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

    let page_size = query.page_size.unwrap_or(100);
    if !(1..=500).contains(&page_size) {
        return Err(ApiError::invalid(
            "invalid_page_size",
            "page_size",
            "Use a page size from 1 to 500.",
        ));
    }
    // A brokerage created again under a deleted one's id must not see its records.
    let brokerage = crate::brokerages::require(&state.db, &brokerage_id).await?;
    let cursor = match query.cursor.as_deref() {
        Some(text) => Some(TimeCursor::decode(text).ok_or_else(crate::storage::invalid_cursor)?),
        None => None,
    };

    let mut items = list(
        &state.db,
        &brokerage_id,
        &brokerage.created_at,
        cursor.as_ref(),
        page_size + 1,
    )
    .await?;
    let next_cursor = if items.len() as i64 > page_size {
        items.truncate(page_size as usize);
        items.last().map(|entry| {
            TimeCursor {
                at: entry.at.clone(),
                id: entry.id.clone(),
            }
            .encode()
        })
    } else {
        None
    };
    Ok(ApiJson(AuditPage { items, next_cursor }))
}
