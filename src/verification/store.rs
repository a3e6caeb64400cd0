//! SQL for verification reports. Every function takes the brokerage id first.
//! A finished run is written in one transaction: the report, the key rotation
//! and the brokerage's status, or nothing.

use sqlx::Row;

use super::model::{Outcome, VerificationReport};
use crate::storage::{Db, StorageError, StorageResult};

/// Result of [`commit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// The report and the status changes were written.
    Stored,
    /// The tested key was revoked during the run; nothing was written.
    KeyRevoked,
    /// The tested key was replaced or retired during the run; nothing was written.
    KeyReplaced,
    /// The brokerage was deleted during the run; nothing was written.
    BrokerageDeleted,
}

/// Writes a finished run: activates the tested pending key when it verified,
/// records the outcome on the brokerage when the tested key is the one in use,
/// and stores the report. `contacts_scope` is the brokerage's new contacts
/// scope, when it changes. When a concurrent run already activated the tested
/// key, `report.key_activated` is cleared, because this run did not.
pub async fn commit(
    db: &Db,
    brokerage_id: &str,
    report: &mut VerificationReport,
    contacts_scope: Option<&str>,
) -> StorageResult<Committed> {
    let mut transaction = db.pool().begin().await?;
    crate::brokerages::store::lock_in(&mut transaction, brokerage_id).await?;

    let Some(in_use) = claim_key(&mut transaction, brokerage_id, report).await? else {
        let state = crate::credentials::store::state_of_in(
            &mut transaction,
            brokerage_id,
            report.credential_version,
        )
        .await?;
        transaction.rollback().await?;
        return Ok(match state.as_deref() {
            None => Committed::BrokerageDeleted,
            Some("revoked") => Committed::KeyRevoked,
            Some(_) => Committed::KeyReplaced,
        });
    };

    // A failing pending key leaves the brokerage alone: the active key keeps working.
    if in_use {
        let verified_at =
            (report.outcome == Outcome::Verified).then_some(report.finished_at.as_str());
        crate::brokerages::store::record_verification_in(
            &mut transaction,
            brokerage_id,
            report.outcome.as_str(),
            verified_at,
            contacts_scope,
        )
        .await?;
    }

    insert(&mut transaction, brokerage_id, report).await?;
    transaction.commit().await?;
    Ok(Committed::Stored)
}

/// Write-locks the tested key if it is still usable, activating it when
/// `report.key_activated` is set. Returns whether the key is the one in use afterwards, or
/// `None` when it was revoked, replaced or deleted during the run.
async fn claim_key(
    connection: &mut sqlx::AnyConnection,
    brokerage_id: &str,
    report: &mut VerificationReport,
) -> StorageResult<Option<bool>> {
    let version = report.credential_version;

    if report.key_activated {
        if crate::credentials::store::activate_pending_in(&mut *connection, brokerage_id, version)
            .await?
        {
            return Ok(Some(true));
        }
        if crate::credentials::store::lock_in_state(
            &mut *connection,
            brokerage_id,
            version,
            "active",
        )
        .await?
        {
            report.key_activated = false;
            return Ok(Some(true));
        }
        return Ok(None);
    }

    let locked = crate::credentials::store::lock_in_state(
        &mut *connection,
        brokerage_id,
        version,
        &report.credential_state,
    )
    .await?;
    Ok(locked.then_some(report.credential_state == "active"))
}

async fn insert(
    connection: &mut sqlx::AnyConnection,
    brokerage_id: &str,
    report: &VerificationReport,
) -> StorageResult<()> {
    let json = serde_json::to_string(report)
        .map_err(|error| StorageError::Database(sqlx::Error::Encode(Box::new(error))))?;
    sqlx::query(
        "INSERT INTO verifications (brokerage_id, id, credential_version, test_user, outcome, api_key_id, started_at, finished_at, report) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(brokerage_id)
    .bind(&report.id)
    .bind(report.credential_version)
    .bind(&report.test_user)
    .bind(report.outcome.as_str())
    .bind(report.api_key_id.clone())
    .bind(&report.started_at)
    .bind(&report.finished_at)
    .bind(json)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

fn report_from_json(json: &str) -> StorageResult<VerificationReport> {
    let mut report: VerificationReport = serde_json::from_str(json)
        .map_err(|error| StorageError::Database(sqlx::Error::Decode(Box::new(error))))?;
    report.attach_admin_console();
    Ok(report)
}

/// Loads one report.
pub async fn get(
    db: &Db,
    brokerage_id: &str,
    id: &str,
) -> StorageResult<Option<VerificationReport>> {
    let row = sqlx::query("SELECT report FROM verifications WHERE brokerage_id = $1 AND id = $2")
        .bind(brokerage_id)
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else { return Ok(None) };
    let json: String = row.try_get("report")?;
    report_from_json(&json).map(Some)
}

/// Position in the newest-first order of reports: start time, then id.
pub use crate::storage::TimeCursor as Cursor;

fn cursor_after(report: &VerificationReport) -> Cursor {
    Cursor {
        at: report.started_at.clone(),
        id: report.id.clone(),
    }
}

/// Lists reports newest first, after `cursor`, at most `limit`; returns the
/// cursor of the next page when there is one.
pub async fn list(
    db: &Db,
    brokerage_id: &str,
    cursor: Option<&Cursor>,
    limit: i64,
) -> StorageResult<(Vec<VerificationReport>, Option<Cursor>)> {
    let rows = sqlx::query(
        "SELECT report FROM verifications WHERE brokerage_id = $1 AND ($2 IS NULL OR started_at < $2 OR (started_at = $2 AND id < $3)) \
         ORDER BY started_at DESC, id DESC LIMIT $4",
    )
    .bind(brokerage_id)
    .bind(cursor.map(|cursor| cursor.at.clone()))
    .bind(cursor.map(|cursor| cursor.id.clone()))
    .bind(limit + 1)
    .fetch_all(db.pool())
    .await?;

    let mut reports = rows
        .iter()
        .map(|row| report_from_json(&row.try_get::<String, _>("report")?))
        .collect::<StorageResult<Vec<_>>>()?;
    let next = if reports.len() as i64 > limit {
        reports.truncate(usize::try_from(limit).unwrap_or_default());
        reports.last().map(cursor_after)
    } else {
        None
    };
    Ok((reports, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let cursor = Cursor {
            at: "2026-03-02T14:05:11.201Z".to_owned(),
            id: "0b9f6c1e-5d0e-4a53-9d4e-2b1f1f7f3a10".to_owned(),
        };

        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("not a cursor!"), None);
    }
}
