//! SQL for the `contact_creations` table. Every function takes the brokerage id first.
//!
//! A row is identified by (brokerage, user, idempotency key). Status changes
//! are compare-and-set updates (`WHERE status = ...`), so two requests racing
//! on one row cannot both move it to `creating`.

use sqlx::Row;

use crate::storage::{conflict_on_unique, now_rfc3339, Db, StorageResult};

/// The People `createContact` call has not returned yet.
pub const CREATING: &str = "creating";
/// Google created the contact; `resource_name` names it.
pub const CREATED: &str = "created";
/// Google or the gateway rejected the create; nothing was created.
pub const FAILED: &str = "failed";
/// Google returned no usable response, so the contact may or may not exist.
pub const UNKNOWN: &str = "unknown";

/// A row of `contact_creations`.
#[derive(Debug, Clone)]
pub struct CreationRow {
    /// The caller's `Idempotency-Key`.
    pub idempotency_key: String,
    /// Hex SHA-256 of the canonical request body.
    pub request_hash: String,
    /// `creating`, `created`, `failed` or `unknown`.
    pub status: String,
    /// People resource name of the created contact, such as `people/c123`.
    pub resource_name: Option<String>,
    /// Problem code of a failed or unknown create.
    pub error_code: Option<String>,
    /// Time of the last status change (RFC 3339).
    pub updated_at: String,
}

const COLUMNS: &str =
    "idempotency_key, request_hash, status, resource_name, error_code, updated_at";

const KEY_FILTER: &str = "brokerage_id = $1 AND user_email = $2 AND idempotency_key = $3";

fn from_row(row: &sqlx::any::AnyRow) -> Result<CreationRow, sqlx::Error> {
    Ok(CreationRow {
        idempotency_key: row.try_get("idempotency_key")?,
        request_hash: row.try_get("request_hash")?,
        status: row.try_get("status")?,
        resource_name: row.try_get("resource_name")?,
        error_code: row.try_get("error_code")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a new row in status `creating`.
///
/// Returns `StorageError::Conflict` when the key already has a row for this
/// user: the primary key decides which of two concurrent requests creates.
pub async fn insert_creating(
    db: &Db,
    brokerage_id: &str,
    user_email: &str,
    idempotency_key: &str,
    request_hash: &str,
) -> StorageResult<CreationRow> {
    let now = now_rfc3339();
    sqlx::query(
        "INSERT INTO contact_creations (brokerage_id, user_email, idempotency_key, \
         request_hash, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(brokerage_id)
    .bind(user_email)
    .bind(idempotency_key)
    .bind(request_hash)
    .bind(CREATING)
    .bind(&now)
    .execute(db.pool())
    .await
    .map_err(|error| conflict_on_unique(error, "idempotency key already used"))?;

    Ok(CreationRow {
        idempotency_key: idempotency_key.to_owned(),
        request_hash: request_hash.to_owned(),
        status: CREATING.to_owned(),
        resource_name: None,
        error_code: None,
        updated_at: now,
    })
}

/// Loads the row of an idempotency key.
pub async fn find(
    db: &Db,
    brokerage_id: &str,
    user_email: &str,
    idempotency_key: &str,
) -> StorageResult<Option<CreationRow>> {
    let sql = format!("SELECT {COLUMNS} FROM contact_creations WHERE {KEY_FILTER}");
    let row = sqlx::query(&sql)
        .bind(brokerage_id)
        .bind(user_email)
        .bind(idempotency_key)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Records the created contact on a `creating` row; false when the row was no
/// longer `creating`.
pub async fn mark_created(
    db: &Db,
    brokerage_id: &str,
    user_email: &str,
    idempotency_key: &str,
    resource_name: &str,
) -> StorageResult<bool> {
    let sql = format!(
        "UPDATE contact_creations SET status = $4, resource_name = $5, error_code = NULL, \
         updated_at = $6 WHERE {KEY_FILTER} AND status = $7"
    );
    let result = sqlx::query(&sql)
        .bind(brokerage_id)
        .bind(user_email)
        .bind(idempotency_key)
        .bind(CREATED)
        .bind(resource_name)
        .bind(now_rfc3339())
        .bind(CREATING)
        .execute(db.pool())
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Moves a `creating` row to `failed` or `unknown` with the problem code that
/// ended it; false when the row was no longer `creating`.
pub async fn mark_ended(
    db: &Db,
    brokerage_id: &str,
    user_email: &str,
    idempotency_key: &str,
    status: &str,
    error_code: &str,
) -> StorageResult<bool> {
    let sql = format!(
        "UPDATE contact_creations SET status = $4, error_code = $5, updated_at = $6 \
         WHERE {KEY_FILTER} AND status = $7"
    );
    let result = sqlx::query(&sql)
        .bind(brokerage_id)
        .bind(user_email)
        .bind(idempotency_key)
        .bind(status)
        .bind(error_code)
        .bind(now_rfc3339())
        .bind(CREATING)
        .execute(db.pool())
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Moves a `failed` or `unknown` row (`from`) back to `creating` for a retry.
/// Returns the row's new `updated_at`, or `None` when another request changed
/// it first.
pub async fn reclaim(
    db: &Db,
    brokerage_id: &str,
    user_email: &str,
    idempotency_key: &str,
    from: &str,
) -> StorageResult<Option<String>> {
    let now = now_rfc3339();
    let sql = format!(
        "UPDATE contact_creations SET status = $4, error_code = NULL, updated_at = $5 \
         WHERE {KEY_FILTER} AND status = $6"
    );
    let result = sqlx::query(&sql)
        .bind(brokerage_id)
        .bind(user_email)
        .bind(idempotency_key)
        .bind(CREATING)
        .bind(&now)
        .bind(from)
        .execute(db.pool())
        .await?;
    Ok((result.rows_affected() == 1).then_some(now))
}

/// Sets `updated_at` of a `creating` row to now, if it still has the
/// `updated_at` its claim wrote. Returns the new value, or `None` when the row
/// was expired and claimed by another request since.
pub async fn renew_claim(
    db: &Db,
    brokerage_id: &str,
    user_email: &str,
    idempotency_key: &str,
    claimed_at: &str,
) -> StorageResult<Option<String>> {
    let now = now_rfc3339();
    let sql = format!(
        "UPDATE contact_creations SET updated_at = $4 \
         WHERE {KEY_FILTER} AND status = $5 AND updated_at = $6"
    );
    let result = sqlx::query(&sql)
        .bind(brokerage_id)
        .bind(user_email)
        .bind(idempotency_key)
        .bind(&now)
        .bind(CREATING)
        .bind(claimed_at)
        .execute(db.pool())
        .await?;
    Ok((result.rows_affected() == 1).then_some(now))
}

/// Moves a row that has been `creating` since before `cutoff` (RFC 3339) to
/// `unknown`; false when it is not such a row.
pub async fn expire_creating(
    db: &Db,
    brokerage_id: &str,
    user_email: &str,
    idempotency_key: &str,
    cutoff: &str,
    error_code: &str,
) -> StorageResult<bool> {
    let sql = format!(
        "UPDATE contact_creations SET status = $4, error_code = $5, updated_at = $6 \
         WHERE {KEY_FILTER} AND status = $7 AND updated_at < $8"
    );
    let result = sqlx::query(&sql)
        .bind(brokerage_id)
        .bind(user_email)
        .bind(idempotency_key)
        .bind(UNKNOWN)
        .bind(error_code)
        .bind(now_rfc3339())
        .bind(CREATING)
        .bind(cutoff)
        .execute(db.pool())
        .await?;
    Ok(result.rows_affected() == 1)
}
