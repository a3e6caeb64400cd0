//! SQL for brokerages. Every function takes the brokerage id first.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::Brokerage;
use crate::storage::{now_rfc3339, Db, StorageError, StorageResult};

const COLUMNS: &str = "id, display_name, domains, test_user, contacts_scope, credential_status, last_verified_at, created_at, updated_at";

/// Reads a brokerage from a row holding at least [`COLUMNS`] (unprefixed).
pub(crate) fn from_row(row: &AnyRow) -> StorageResult<Brokerage> {
    let domains: String = row.try_get("domains")?;
    let domains = serde_json::from_str(&domains)
        .map_err(|error| StorageError::Database(sqlx::Error::Decode(Box::new(error))))?;
    Ok(Brokerage {
        id: row.try_get("id")?,
        display_name: row.try_get("display_name")?,
        domains,
        test_user: row.try_get("test_user")?,
        contacts_scope: row.try_get("contacts_scope")?,
        credential_status: row.try_get("credential_status")?,
        last_verified_at: row.try_get("last_verified_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Loads one brokerage.
pub async fn get(db: &Db, brokerage_id: &str) -> StorageResult<Option<Brokerage>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM brokerages WHERE id = $1"))
        .bind(brokerage_id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Lists brokerages ordered by id, after `after` when given, at most `limit`.
pub async fn list(
    db: &Db,
    only: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> StorageResult<Vec<Brokerage>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM brokerages WHERE ($1 IS NULL OR id = $1) AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
    ))
    .bind(only.map(str::to_owned))
    .bind(after.map(str::to_owned))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Inserts or updates a brokerage; returns it and whether it was created.
pub async fn upsert(
    db: &Db,
    brokerage_id: &str,
    display_name: &str,
    domains: &[String],
    test_user: &str,
    contacts_scope: Option<&str>,
) -> StorageResult<(Brokerage, bool)> {
    let now = now_rfc3339();
    let domains_json = serde_json::to_string(domains).unwrap_or_else(|_| "[]".to_owned());

    let updated = sqlx::query(
        "UPDATE brokerages SET display_name = $2, domains = $3, test_user = $4, contacts_scope = $5, updated_at = $6 WHERE id = $1",
    )
    .bind(brokerage_id)
    .bind(display_name)
    .bind(&domains_json)
    .bind(test_user)
    .bind(contacts_scope.map(str::to_owned))
    .bind(&now)
    .execute(db.pool())
    .await?;

    let created = updated.rows_affected() == 0;
    if created {
        sqlx::query(
            "INSERT INTO brokerages (id, display_name, domains, test_user, contacts_scope, credential_status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'none', $6, $6)",
        )
        .bind(brokerage_id)
        .bind(display_name)
        .bind(&domains_json)
        .bind(test_user)
        .bind(contacts_scope.map(str::to_owned))
        .bind(&now)
        .execute(db.pool())
        .await
        .map_err(|error| crate::storage::conflict_on_unique(error, "The brokerage was created by a concurrent request; retry."))?;
    }

    let brokerage = get(db, brokerage_id)
        .await?
        .ok_or_else(|| StorageError::Database(sqlx::Error::RowNotFound))?;
    Ok((brokerage, created))
}

/// Sets the credential status shown on the brokerage.
pub async fn set_credential_status(db: &Db, brokerage_id: &str, status: &str) -> StorageResult<()> {
    sqlx::query("UPDATE brokerages SET credential_status = $2, updated_at = $3 WHERE id = $1")
        .bind(brokerage_id)
        .bind(status)
        .bind(now_rfc3339())
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Deletes a brokerage; its credentials, users, messages and reports go with it.
pub async fn delete(db: &Db, brokerage_id: &str) -> StorageResult<bool> {
    let result = sqlx::query("DELETE FROM brokerages WHERE id = $1")
        .bind(brokerage_id)
        .execute(db.pool())
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Inside the caller's transaction, records a verification of the key in use:
/// the credential status, `last_verified_at` when given (a failure keeps the
/// last good time), and the contacts scope when it changed.
pub async fn record_verification_in(
    connection: &mut sqlx::AnyConnection,
    brokerage_id: &str,
    status: &str,
    verified_at: Option<&str>,
    contacts_scope: Option<&str>,
) -> StorageResult<()> {
    sqlx::query("UPDATE brokerages SET credential_status = $2, last_verified_at = COALESCE($3, last_verified_at), updated_at = $4 WHERE id = $1")
        .bind(brokerage_id)
        .bind(status)
        .bind(verified_at.map(str::to_owned))
        .bind(now_rfc3339())
        .execute(&mut *connection)
        .await?;

    if let Some(scope) = contacts_scope {
        sqlx::query("UPDATE brokerages SET contacts_scope = $2 WHERE id = $1")
            .bind(brokerage_id)
            .bind(scope)
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}

/// Write-locks the brokerage row inside the caller's transaction. Every
/// transaction that changes a brokerage's keys takes this lock first, so two of
/// them queue instead of deadlocking on key rows (PostgreSQL) or failing to
/// upgrade a read lock (SQLite).
pub async fn lock_in(
    connection: &mut sqlx::AnyConnection,
    brokerage_id: &str,
) -> StorageResult<()> {
    sqlx::query("UPDATE brokerages SET updated_at = updated_at WHERE id = $1")
        .bind(brokerage_id)
        .execute(&mut *connection)
        .await?;
    Ok(())
}
