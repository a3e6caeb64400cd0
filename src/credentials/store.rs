//! SQL for credentials. Every function takes the brokerage id first.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::vault::Sealed;
use super::CredentialMetadata;
use crate::storage::{now_rfc3339, Db, StorageError, StorageResult};

/// A stored key: metadata plus the sealed key file.
pub struct StoredCredential {
    /// Clear metadata.
    pub metadata: CredentialMetadata,
    /// The sealed key file.
    pub sealed: Sealed,
}

/// A key to insert.
pub struct NewCredential<'a> {
    /// `active` or `pending`.
    pub state: &'a str,
    /// Metadata from the validated key file.
    pub client_email: &'a str,
    /// Numeric client ID.
    pub client_id: &'a str,
    /// Google's key id.
    pub private_key_id: &'a str,
    /// Cloud project.
    pub project_id: Option<&'a str>,
    /// Token endpoint.
    pub token_uri: &'a str,
    /// Public key fingerprint.
    pub public_key_fingerprint: &'a str,
    /// API key id of the uploader.
    pub uploaded_by: &'a str,
}

const METADATA_COLUMNS: &str = "version, state, client_email, client_id, private_key_id, project_id, token_uri, public_key_fingerprint, uploaded_at, uploaded_by, activated_at";

fn metadata_from_row(row: &AnyRow) -> StorageResult<CredentialMetadata> {
    Ok(CredentialMetadata {
        version: row.try_get("version")?,
        state: row.try_get("state")?,
        client_email: row.try_get("client_email")?,
        client_id: row.try_get("client_id")?,
        private_key_id: row.try_get("private_key_id")?,
        project_id: row.try_get("project_id")?,
        token_uri: row.try_get("token_uri")?,
        public_key_fingerprint: row.try_get("public_key_fingerprint")?,
        uploaded_at: row.try_get("uploaded_at")?,
        uploaded_by: row.try_get("uploaded_by")?,
        activated_at: row.try_get("activated_at")?,
    })
}

fn stored_from_row(row: &AnyRow) -> StorageResult<StoredCredential> {
    Ok(StoredCredential {
        metadata: metadata_from_row(row)?,
        sealed: Sealed {
            master_key_id: row.try_get("master_key_id")?,
            nonce: row.try_get("nonce")?,
            ciphertext: row.try_get("ciphertext")?,
        },
    })
}

/// Loads the newest key in `state` (`active` or `pending`), if any.
pub async fn in_state(
    db: &Db,
    brokerage_id: &str,
    state: &str,
) -> StorageResult<Option<StoredCredential>> {
    let row = sqlx::query(&format!(
        "SELECT {METADATA_COLUMNS}, master_key_id, nonce, ciphertext FROM credentials WHERE brokerage_id = $1 AND state = $2 ORDER BY version DESC LIMIT 1"
    ))
    .bind(brokerage_id)
    .bind(state)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(stored_from_row).transpose()
}

/// Loads the active key, if any.
pub async fn active(db: &Db, brokerage_id: &str) -> StorageResult<Option<StoredCredential>> {
    in_state(db, brokerage_id, "active").await
}

/// State of the newest key version, to tell "never uploaded" from "revoked".
pub async fn latest_state(db: &Db, brokerage_id: &str) -> StorageResult<Option<String>> {
    let row = sqlx::query(
        "SELECT state FROM credentials WHERE brokerage_id = $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(brokerage_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|row| row.try_get("state")).transpose()?)
}

/// Metadata of the active and pending keys, newest first.
pub async fn current(db: &Db, brokerage_id: &str) -> StorageResult<Vec<CredentialMetadata>> {
    let rows = sqlx::query(&format!(
        "SELECT {METADATA_COLUMNS} FROM credentials WHERE brokerage_id = $1 AND state IN ('active', 'pending') ORDER BY version DESC"
    ))
    .bind(brokerage_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(metadata_from_row).collect()
}

/// Inserts a new version. When `state` is `active`, the previous active and
/// pending keys are retired in the same transaction.
pub async fn insert(
    db: &Db,
    brokerage_id: &str,
    credential: &NewCredential<'_>,
    seal: impl FnOnce(i64) -> anyhow::Result<Sealed>,
) -> Result<CredentialMetadata, InsertError> {
    let mut transaction = db.pool().begin().await.map_err(StorageError::from)?;
    crate::brokerages::store::lock_in(&mut transaction, brokerage_id).await?;

    let row = sqlx::query(
        "SELECT COALESCE(MAX(version), 0) AS latest FROM credentials WHERE brokerage_id = $1",
    )
    .bind(brokerage_id)
    .fetch_one(&mut *transaction)
    .await
    .map_err(StorageError::from)?;
    let latest: i64 = row.try_get("latest").map_err(StorageError::from)?;
    let version = latest + 1;
    let sealed = seal(version).map_err(InsertError::Seal)?;
    let now = now_rfc3339();

    if credential.state == "active" {
        sqlx::query("UPDATE credentials SET state = 'retired' WHERE brokerage_id = $1 AND state IN ('active', 'pending')")
            .bind(brokerage_id)
            .execute(&mut *transaction)
            .await
            .map_err(StorageError::from)?;
    } else {
        sqlx::query("UPDATE credentials SET state = 'retired' WHERE brokerage_id = $1 AND state = 'pending'")
            .bind(brokerage_id)
            .execute(&mut *transaction)
            .await
            .map_err(StorageError::from)?;
    }

    let activated_at = (credential.state == "active").then(|| now.clone());
    sqlx::query(
        "INSERT INTO credentials (brokerage_id, version, state, client_email, client_id, private_key_id, project_id, token_uri, public_key_fingerprint, master_key_id, nonce, ciphertext, uploaded_at, uploaded_by, activated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(brokerage_id)
    .bind(version)
    .bind(credential.state)
    .bind(credential.client_email)
    .bind(credential.client_id)
    .bind(credential.private_key_id)
    .bind(credential.project_id.map(str::to_owned))
    .bind(credential.token_uri)
    .bind(credential.public_key_fingerprint)
    .bind(&sealed.master_key_id)
    .bind(sealed.nonce.clone())
    .bind(sealed.ciphertext.clone())
    .bind(&now)
    .bind(credential.uploaded_by)
    .bind(activated_at.clone())
    .execute(&mut *transaction)
    .await
    .map_err(|error| crate::storage::conflict_on_unique(error, "Another key upload for this brokerage finished at the same time; retry."))?;

    if credential.state == "active" {
        sqlx::query(
            "UPDATE brokerages SET credential_status = 'unverified', updated_at = $2 WHERE id = $1",
        )
        .bind(brokerage_id)
        .bind(&now)
        .execute(&mut *transaction)
        .await
        .map_err(StorageError::from)?;
    }

    transaction.commit().await.map_err(StorageError::from)?;

    Ok(CredentialMetadata {
        version,
        state: credential.state.to_owned(),
        client_email: credential.client_email.to_owned(),
        client_id: credential.client_id.to_owned(),
        private_key_id: credential.private_key_id.to_owned(),
        project_id: credential.project_id.map(str::to_owned),
        token_uri: credential.token_uri.to_owned(),
        public_key_fingerprint: credential.public_key_fingerprint.to_owned(),
        uploaded_at: now,
        uploaded_by: Some(credential.uploaded_by.to_owned()),
        activated_at,
    })
}

/// Failure of [`insert`].
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Sealing failed.
    #[error("sealing the key failed: {0}")]
    Seal(anyhow::Error),
}

/// Makes the pending key `version` active and retires the previous active key.
/// Returns false when that version is no longer pending.
pub async fn activate_pending(db: &Db, brokerage_id: &str, version: i64) -> StorageResult<bool> {
    let mut transaction = db.pool().begin().await?;
    crate::brokerages::store::lock_in(&mut transaction, brokerage_id).await?;

    let activated = activate_pending_in(&mut transaction, brokerage_id, version).await?;
    if activated {
        transaction.commit().await?;
    } else {
        transaction.rollback().await?;
    }
    Ok(activated)
}

/// Revokes every active and pending key and erases their sealed bytes. Returns
/// the number of keys revoked.
pub async fn revoke_all(db: &Db, brokerage_id: &str) -> StorageResult<u64> {
    let mut transaction = db.pool().begin().await?;
    crate::brokerages::store::lock_in(&mut transaction, brokerage_id).await?;
    let now = now_rfc3339();

    let result = sqlx::query(
        "UPDATE credentials SET state = 'revoked', nonce = $2, ciphertext = $2 WHERE brokerage_id = $1 AND state IN ('active', 'pending', 'retired')",
    )
    .bind(brokerage_id)
    .bind(Vec::<u8>::new())
    .execute(&mut *transaction)
    .await?;

    sqlx::query(
        "UPDATE brokerages SET credential_status = 'revoked', updated_at = $2 WHERE id = $1",
    )
    .bind(brokerage_id)
    .bind(&now)
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(result.rows_affected())
}

/// Lists every stored key that still has sealed bytes, for master-key re-encryption.
pub async fn all_sealed(db: &Db) -> StorageResult<Vec<(String, i64, Sealed)>> {
    let rows = sqlx::query("SELECT brokerage_id, version, master_key_id, nonce, ciphertext FROM credentials WHERE state <> 'revoked'")
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("brokerage_id")?,
                row.try_get("version")?,
                Sealed {
                    master_key_id: row.try_get("master_key_id")?,
                    nonce: row.try_get("nonce")?,
                    ciphertext: row.try_get("ciphertext")?,
                },
            ))
        })
        .collect()
}

/// Replaces the sealed bytes of one key, only if they are still `previous`.
pub async fn replace_sealed(
    db: &Db,
    brokerage_id: &str,
    version: i64,
    previous: &Sealed,
    sealed: &Sealed,
) -> StorageResult<bool> {
    let result = sqlx::query(
        "UPDATE credentials SET master_key_id = $3, nonce = $4, ciphertext = $5 WHERE brokerage_id = $1 AND version = $2 AND nonce = $6 AND state <> 'revoked'",
    )
    .bind(brokerage_id)
    .bind(version)
    .bind(&sealed.master_key_id)
    .bind(sealed.nonce.clone())
    .bind(sealed.ciphertext.clone())
    .bind(previous.nonce.clone())
    .execute(db.pool())
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Inside the caller's transaction, makes the pending key `version` active and
/// retires the previous active key, like [`activate_pending`]. Returns false,
/// changing nothing, when that version is no longer pending.
pub async fn activate_pending_in(
    connection: &mut sqlx::AnyConnection,
    brokerage_id: &str,
    version: i64,
) -> StorageResult<bool> {
    let promoted = sqlx::query("UPDATE credentials SET state = 'active', activated_at = $3 WHERE brokerage_id = $1 AND version = $2 AND state = 'pending'")
        .bind(brokerage_id)
        .bind(version)
        .bind(now_rfc3339())
        .execute(&mut *connection)
        .await?;
    if promoted.rows_affected() != 1 {
        return Ok(false);
    }

    sqlx::query("UPDATE credentials SET state = 'retired' WHERE brokerage_id = $1 AND state = 'active' AND version <> $2")
        .bind(brokerage_id)
        .bind(version)
        .execute(&mut *connection)
        .await?;
    Ok(true)
}

/// Inside the caller's transaction, write-locks key `version` if it is still in
/// `state`, so that a concurrent revocation either waits for the transaction or
/// has already made this return false.
pub async fn lock_in_state(
    connection: &mut sqlx::AnyConnection,
    brokerage_id: &str,
    version: i64,
    state: &str,
) -> StorageResult<bool> {
    let locked = sqlx::query("UPDATE credentials SET state = state WHERE brokerage_id = $1 AND version = $2 AND state = $3")
        .bind(brokerage_id)
        .bind(version)
        .bind(state)
        .execute(&mut *connection)
        .await?;
    Ok(locked.rows_affected() == 1)
}

/// State of key `version`, read inside the caller's transaction.
pub async fn state_of_in(
    connection: &mut sqlx::AnyConnection,
    brokerage_id: &str,
    version: i64,
) -> StorageResult<Option<String>> {
    let row = sqlx::query("SELECT state FROM credentials WHERE brokerage_id = $1 AND version = $2")
        .bind(brokerage_id)
        .bind(version)
        .fetch_optional(&mut *connection)
        .await?;
    Ok(row.map(|row| row.try_get("state")).transpose()?)
}

/// The active key of a request context.
pub struct ActiveKey {
    /// Credential version.
    pub version: i64,
    /// Numeric client ID.
    pub client_id: String,
    /// Service account address.
    pub client_email: String,
    /// Token endpoint.
    pub token_uri: String,
    /// The sealed key file.
    pub sealed: Sealed,
}

/// Brokerage, enrollment and active key of a contacts or events request, read in one query.
pub struct RequestContext {
    /// The brokerage.
    pub brokerage: crate::brokerages::Brokerage,
    /// Whether the requested address is enrolled.
    pub enrolled: bool,
    /// Loads the active key, if any.
    pub active: Option<ActiveKey>,
}

/// Reads the brokerage, whether `email` is enrolled in it, and its active key.
pub async fn request_context(
    db: &Db,
    brokerage_id: &str,
    email: &str,
) -> StorageResult<Option<RequestContext>> {
    let row = sqlx::query(
        "SELECT b.id, b.display_name, b.domains, b.test_user, b.contacts_scope, b.credential_status, b.last_verified_at, b.created_at, b.updated_at, \
                u.email AS enrolled_email, c.version, c.client_id, c.client_email, c.token_uri, c.master_key_id, c.nonce, c.ciphertext \
         FROM brokerages b \
         LEFT JOIN users u ON u.brokerage_id = b.id AND u.email = $2 \
         LEFT JOIN credentials c ON c.brokerage_id = b.id AND c.state = 'active' \
         WHERE b.id = $1",
    )
    .bind(brokerage_id)
    .bind(email)
    .fetch_optional(db.pool())
    .await?;

    let Some(row) = row else {
        return Ok(None);
    };
    let brokerage = crate::brokerages::store::from_row(&row)?;
    let enrolled = row
        .try_get::<Option<String>, _>("enrolled_email")?
        .is_some();
    let active = match row.try_get::<Option<i64>, _>("version")? {
        Some(version) => Some(ActiveKey {
            version,
            client_id: row.try_get("client_id")?,
            client_email: row.try_get("client_email")?,
            token_uri: row.try_get("token_uri")?,
            sealed: Sealed {
                master_key_id: row.try_get("master_key_id")?,
                nonce: row.try_get("nonce")?,
                ciphertext: row.try_get("ciphertext")?,
            },
        }),
        None => None,
    };
    Ok(Some(RequestContext {
        brokerage,
        enrolled,
        active,
    }))
}
