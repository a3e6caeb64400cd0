//! SQL for users. Every function takes the brokerage id first.

use sqlx::Row;

use super::User;
use crate::storage::{now_rfc3339, Db, StorageResult};

/// Loads one enrolled user.
pub async fn get(db: &Db, brokerage_id: &str, email: &str) -> StorageResult<Option<User>> {
    let row =
        sqlx::query("SELECT email, created_at FROM users WHERE brokerage_id = $1 AND email = $2")
            .bind(brokerage_id)
            .bind(email)
            .fetch_optional(db.pool())
            .await?;
    row.map(|row| {
        Ok(User {
            email: row.try_get("email")?,
            created_at: row.try_get("created_at")?,
        })
    })
    .transpose()
}

/// Enrolls a user; returns the user and whether it was new.
pub async fn insert(db: &Db, brokerage_id: &str, email: &str) -> StorageResult<(User, bool)> {
    if let Some(existing) = get(db, brokerage_id, email).await? {
        return Ok((existing, false));
    }

    let created_at = now_rfc3339();
    let result =
        sqlx::query("INSERT INTO users (brokerage_id, email, created_at) VALUES ($1, $2, $3)")
            .bind(brokerage_id)
            .bind(email)
            .bind(&created_at)
            .execute(db.pool())
            .await;

    match result {
        Ok(_) => Ok((
            User {
                email: email.to_owned(),
                created_at,
            },
            true,
        )),
        Err(error)
            if error
                .as_database_error()
                .is_some_and(|e| e.is_unique_violation()) =>
        {
            let existing = get(db, brokerage_id, email).await?;
            Ok((
                existing.unwrap_or(User {
                    email: email.to_owned(),
                    created_at,
                }),
                false,
            ))
        }
        Err(error) => Err(error.into()),
    }
}

/// Lists users ordered by address, after `after`, at most `limit`.
pub async fn list(
    db: &Db,
    brokerage_id: &str,
    after: Option<&str>,
    limit: i64,
) -> StorageResult<Vec<User>> {
    let rows = sqlx::query(
        "SELECT email, created_at FROM users WHERE brokerage_id = $1 AND ($2 IS NULL OR email > $2) ORDER BY email LIMIT $3",
    )
    .bind(brokerage_id)
    .bind(after.map(str::to_owned))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(User {
                email: row.try_get("email")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}

/// Unenrolls a user and purges its records.
pub async fn delete(db: &Db, brokerage_id: &str, email: &str) -> StorageResult<bool> {
    let result = sqlx::query("DELETE FROM users WHERE brokerage_id = $1 AND email = $2")
        .bind(brokerage_id)
        .bind(email)
        .execute(db.pool())
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Addresses of enrolled users whose domain is not in `domains`.
pub async fn outside_domains(
    db: &Db,
    brokerage_id: &str,
    domains: &[String],
) -> StorageResult<Vec<String>> {
    let rows = sqlx::query("SELECT email FROM users WHERE brokerage_id = $1 ORDER BY email")
        .bind(brokerage_id)
        .fetch_all(db.pool())
        .await?;

    let mut outside = Vec::new();
    for row in rows {
        let email: String = row.try_get("email")?;
        if !domains
            .iter()
            .any(|domain| domain == crate::validate::email_domain(&email))
        {
            outside.push(email);
        }
    }
    Ok(outside)
}
