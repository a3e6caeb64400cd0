//! SQL for the `messages` table. Every function takes the brokerage id first.
//!
//! Status changes are compare-and-set updates (`WHERE status = ...`), so two
//! requests racing on one row cannot both move it to `sending`.

use sqlx::Row;

use super::model::MessageRecord;
use crate::storage::{conflict_on_unique, now_rfc3339, Db, StorageResult};

/// The Gmail call has not returned yet.
pub const SENDING: &str = "sending";
/// Gmail accepted the message.
pub const SENT: &str = "sent";
/// Gmail or the gateway rejected the send; nothing was sent.
pub const FAILED: &str = "failed";
/// Gmail returned no response, so the message may or may not have been sent.
pub const UNKNOWN: &str = "unknown";

/// A row of `messages`.
#[derive(Debug, Clone)]
pub struct MessageRow {
    /// Gateway id of the send.
    pub id: String,
    /// The caller's `Idempotency-Key`, if it sent one.
    pub idempotency_key: Option<String>,
    /// Hex SHA-256 of the canonical request body.
    pub request_hash: String,
    /// `sending`, `sent`, `failed` or `unknown`.
    pub status: String,
    /// Gmail's message id once sent.
    pub gmail_message_id: Option<String>,
    /// Gmail's thread id once sent.
    pub gmail_thread_id: Option<String>,
    /// Problem code of a failed or unknown send.
    pub error_code: Option<String>,
    /// Problem detail of a failed or unknown send.
    pub error_detail: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Time of the last status change (RFC 3339).
    pub updated_at: String,
}

impl MessageRow {
    /// Converts this row to its API representation.
    pub fn record(&self) -> MessageRecord {
        MessageRecord {
            id: self.id.clone(),
            status: self.status.clone(),
            gmail_message_id: self.gmail_message_id.clone(),
            gmail_thread_id: self.gmail_thread_id.clone(),
            error_code: self.error_code.clone(),
            error_detail: self.error_detail.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

const COLUMNS: &str = "id, idempotency_key, request_hash, status, gmail_message_id, \
     gmail_thread_id, error_code, error_detail, created_at, updated_at";

fn from_row(row: &sqlx::any::AnyRow) -> Result<MessageRow, sqlx::Error> {
    Ok(MessageRow {
        id: row.try_get("id")?,
        idempotency_key: row.try_get("idempotency_key")?,
        request_hash: row.try_get("request_hash")?,
        status: row.try_get("status")?,
        gmail_message_id: row.try_get("gmail_message_id")?,
        gmail_thread_id: row.try_get("gmail_thread_id")?,
        error_code: row.try_get("error_code")?,
        error_detail: row.try_get("error_detail")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a new row in status `sending` with a fresh id.
///
/// Returns `StorageError::Conflict` when a row with the same idempotency key
/// exists for this user: the unique index decides which of two concurrent
/// requests sends.
pub async fn insert_sending(
    db: &Db,
    brokerage_id: &str,
    user_email: &str,
    idempotency_key: Option<&str>,
    request_hash: &str,
) -> StorageResult<MessageRow> {
    let now = now_rfc3339();
    let row = MessageRow {
        id: uuid::Uuid::new_v4().to_string(),
        idempotency_key: idempotency_key.map(str::to_owned),
        request_hash: request_hash.to_owned(),
        status: SENDING.to_owned(),
        gmail_message_id: None,
        gmail_thread_id: None,
        error_code: None,
        error_detail: None,
        created_at: now.clone(),
        updated_at: now,
    };

    sqlx::query(
        "INSERT INTO messages (brokerage_id, user_email, id, idempotency_key, request_hash, \
         status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(brokerage_id)
    .bind(user_email)
    .bind(&row.id)
    .bind(row.idempotency_key.clone())
    .bind(&row.request_hash)
    .bind(&row.status)
    .bind(&row.created_at)
    .bind(&row.updated_at)
    .execute(db.pool())
    .await
    .map_err(|error| conflict_on_unique(error, "idempotency key already used"))?;

    Ok(row)
}

/// Loads the row of an idempotency key.
pub async fn find_by_idempotency_key(
    db: &Db,
    brokerage_id: &str,
    user_email: &str,
    idempotency_key: &str,
) -> StorageResult<Option<MessageRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM messages \
         WHERE brokerage_id = $1 AND user_email = $2 AND idempotency_key = $3"
    );
    let row = sqlx::query(&sql)
        .bind(brokerage_id)
        .bind(user_email)
        .bind(idempotency_key)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Loads one send of a user.
pub async fn get(
    db: &Db,
    brokerage_id: &str,
    user_email: &str,
    id: &str,
) -> StorageResult<Option<MessageRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM messages WHERE brokerage_id = $1 AND user_email = $2 AND id = $3"
    );
    let row = sqlx::query(&sql)
        .bind(brokerage_id)
        .bind(user_email)
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Records Gmail's ids on a `sending` row, or on one that expired to `unknown`
/// meanwhile, because Gmail's answer settles what `unknown` left open. False
/// when the row is in neither state.
pub async fn mark_sent(
    db: &Db,
    brokerage_id: &str,
    id: &str,
    gmail_message_id: Option<&str>,
    gmail_thread_id: Option<&str>,
) -> StorageResult<bool> {
    let result = sqlx::query(
        "UPDATE messages SET status = $1, gmail_message_id = $2, gmail_thread_id = $3, \
         error_code = NULL, error_detail = NULL, updated_at = $4 \
         WHERE brokerage_id = $5 AND id = $6 AND status IN ($7, $8)",
    )
    .bind(SENT)
    .bind(gmail_message_id.map(str::to_owned))
    .bind(gmail_thread_id.map(str::to_owned))
    .bind(now_rfc3339())
    .bind(brokerage_id)
    .bind(id)
    .bind(SENDING)
    .bind(UNKNOWN)
    .execute(db.pool())
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Moves a `sending` row to `failed` or `unknown` with the problem that ended it;
/// false when the row was no longer `sending`.
pub async fn mark_ended(
    db: &Db,
    brokerage_id: &str,
    id: &str,
    status: &str,
    error_code: &str,
    error_detail: &str,
) -> StorageResult<bool> {
    let result = sqlx::query(
        "UPDATE messages SET status = $1, error_code = $2, error_detail = $3, updated_at = $4 \
         WHERE brokerage_id = $5 AND id = $6 AND status = $7",
    )
    .bind(status)
    .bind(error_code)
    .bind(error_detail)
    .bind(now_rfc3339())
    .bind(brokerage_id)
    .bind(id)
    .bind(SENDING)
    .execute(db.pool())
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Moves a `failed` row back to `sending` for a retry; false when another
/// request changed it first.
pub async fn reclaim_failed(db: &Db, brokerage_id: &str, id: &str) -> StorageResult<bool> {
    let result = sqlx::query(
        "UPDATE messages SET status = $1, error_code = NULL, error_detail = NULL, updated_at = $2 \
         WHERE brokerage_id = $3 AND id = $4 AND status = $5",
    )
    .bind(SENDING)
    .bind(now_rfc3339())
    .bind(brokerage_id)
    .bind(id)
    .bind(FAILED)
    .execute(db.pool())
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Moves a row that has been `sending` since before `cutoff` (RFC 3339) to
/// `unknown`; false when it is not such a row.
pub async fn expire_sending(
    db: &Db,
    brokerage_id: &str,
    id: &str,
    cutoff: &str,
    error_code: &str,
    error_detail: &str,
) -> StorageResult<bool> {
    let result = sqlx::query(
        "UPDATE messages SET status = $1, error_code = $2, error_detail = $3, updated_at = $4 \
         WHERE brokerage_id = $5 AND id = $6 AND status = $7 AND updated_at < $8",
    )
    .bind(UNKNOWN)
    .bind(error_code)
    .bind(error_detail)
    .bind(now_rfc3339())
    .bind(brokerage_id)
    .bind(id)
    .bind(SENDING)
    .bind(cutoff)
    .execute(db.pool())
    .await?;
    Ok(result.rows_affected() == 1)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::storage::StorageError;

    /// Creates a SQLite database in a temporary file with brokerage `acme` and
    /// user `agent@acme-realty.com`.
    pub(crate) async fn test_db() -> Db {
        let path = std::env::temp_dir().join(format!("messages-{}.db", uuid::Uuid::new_v4()));
        let db = Db::connect(&format!("sqlite://{}", path.display()), 4)
            .await
            .expect("test database");

        let now = now_rfc3339();
        sqlx::query(
            "INSERT INTO brokerages (id, display_name, domains, test_user, created_at, updated_at) \
             VALUES ('acme', 'Acme', '[\"acme-realty.com\"]', 'test@acme-realty.com', $1, $1)",
        )
        .bind(&now)
        .execute(db.pool())
        .await
        .expect("brokerage row");
        sqlx::query(
            "INSERT INTO users (brokerage_id, email, created_at) VALUES ('acme', 'agent@acme-realty.com', $1)",
        )
        .bind(&now)
        .execute(db.pool())
        .await
        .expect("user row");
        db
    }

    const USER: &str = "agent@acme-realty.com";

    #[tokio::test]
    async fn same_key_conflicts() {
        let db = test_db().await;

        let first = insert_sending(&db, "acme", USER, Some("key-1"), "hash").await;
        let second = insert_sending(&db, "acme", USER, Some("key-1"), "hash").await;

        assert!(first.is_ok());
        assert!(matches!(second, Err(StorageError::Conflict(_))));
    }

    #[tokio::test]
    async fn rows_without_key_never_conflict() {
        let db = test_db().await;

        let first = insert_sending(&db, "acme", USER, None, "hash")
            .await
            .expect("first");
        let second = insert_sending(&db, "acme", USER, None, "hash")
            .await
            .expect("second");

        assert_ne!(first.id, second.id);
    }

    #[tokio::test]
    async fn rows_are_scoped_to_brokerage_and_user() {
        let db = test_db().await;
        let row = insert_sending(&db, "acme", USER, Some("key-1"), "hash")
            .await
            .expect("row");

        assert!(get(&db, "acme", USER, &row.id)
            .await
            .expect("get")
            .is_some());
        assert!(get(&db, "other", USER, &row.id)
            .await
            .expect("get")
            .is_none());
        assert!(get(&db, "acme", "other@acme-realty.com", &row.id)
            .await
            .expect("get")
            .is_none());
        assert!(find_by_idempotency_key(&db, "other", USER, "key-1")
            .await
            .expect("find")
            .is_none());
    }

    #[tokio::test]
    async fn sent_is_recorded_once() {
        let db = test_db().await;
        let row = insert_sending(&db, "acme", USER, None, "hash")
            .await
            .expect("row");

        assert!(mark_sent(&db, "acme", &row.id, Some("m1"), Some("t1"))
            .await
            .expect("update"));
        assert!(!mark_sent(&db, "acme", &row.id, Some("m2"), Some("t2"))
            .await
            .expect("update"));

        let stored = get(&db, "acme", USER, &row.id)
            .await
            .expect("get")
            .expect("row");
        assert_eq!(stored.status, SENT);
        assert_eq!(stored.gmail_message_id.as_deref(), Some("m1"));
        assert_eq!(stored.gmail_thread_id.as_deref(), Some("t1"));
    }

    #[tokio::test]
    async fn failed_row_is_reclaimed_once() {
        let db = test_db().await;
        let row = insert_sending(&db, "acme", USER, Some("k"), "hash")
            .await
            .expect("row");
        assert!(mark_ended(
            &db,
            "acme",
            &row.id,
            FAILED,
            "google_rate_limited",
            "slow down"
        )
        .await
        .expect("update"));

        assert!(reclaim_failed(&db, "acme", &row.id).await.expect("reclaim"));
        assert!(!reclaim_failed(&db, "acme", &row.id).await.expect("reclaim"));

        let stored = get(&db, "acme", USER, &row.id)
            .await
            .expect("get")
            .expect("row");
        assert_eq!(stored.status, SENDING);
        assert_eq!(stored.error_code, None);
    }

    #[tokio::test]
    async fn only_old_sending_rows_expire() {
        let db = test_db().await;
        let row = insert_sending(&db, "acme", USER, None, "hash")
            .await
            .expect("row");

        let past = "2000-01-01T00:00:00.000Z";
        assert!(
            !expire_sending(&db, "acme", &row.id, past, "send_interrupted", "stopped")
                .await
                .expect("expire")
        );

        let future = "2999-01-01T00:00:00.000Z";
        assert!(
            expire_sending(&db, "acme", &row.id, future, "send_interrupted", "stopped")
                .await
                .expect("expire")
        );

        let stored = get(&db, "acme", USER, &row.id)
            .await
            .expect("get")
            .expect("row");
        assert_eq!(stored.status, UNKNOWN);
        assert_eq!(stored.error_code.as_deref(), Some("send_interrupted"));
    }
}
