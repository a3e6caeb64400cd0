//! API key generation, hashing and storage.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use ring::hmac;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

use super::{Caller, BOOTSTRAP_KEY_ID};
use crate::error::ApiError;
use crate::state::AppState;
use crate::storage::{now_rfc3339, Db, StorageResult, TimeCursor};

/// Permission level of an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including API keys and the audit log.
    Admin,
    /// Brokerages, credentials, verifications and users, but no contact, event or mail data.
    Support,
    /// The MoxiEngage backend: users, contacts, events and mail.
    Service,
}

impl Role {
    /// Name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Support => "support",
            Role::Service => "service",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value {
            "admin" => Some(Role::Admin),
            "support" => Some(Role::Support),
            "service" => Some(Role::Service),
            _ => None,
        }
    }
}

/// HMAC-SHA256 keyed with a server-side secret. API keys are long random
/// strings, so a slow password hash would add cost without adding safety.
pub struct ApiKeyHasher {
    key: hmac::Key,
    bootstrap_tag: Option<hmac::Tag>,
}

impl ApiKeyHasher {
    /// Builds the hasher from the server-side secret and the optional bootstrap admin key.
    pub fn new(secret: &[u8], bootstrap_admin_key: Option<&SecretString>) -> Self {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let bootstrap_tag =
            bootstrap_admin_key.map(|value| hmac::sign(&key, value.expose_secret().as_bytes()));
        Self { key, bootstrap_tag }
    }

    /// Checks whether `presented` is the bootstrap admin key, in constant time.
    fn is_bootstrap(&self, presented: &str) -> bool {
        self.bootstrap_tag
            .as_ref()
            .is_some_and(|tag| hmac::verify(&self.key, presented.as_bytes(), tag.as_ref()).is_ok())
    }

    /// Hex HMAC of a presented key.
    pub fn hash(&self, presented: &str) -> String {
        hex::encode(hmac::sign(&self.key, presented.as_bytes()))
    }
}

/// An API key as listed: never the secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKeyRecord {
    /// Key id, also shown in audit records.
    pub id: String,
    /// Name given at creation.
    pub name: String,
    /// Role of the key.
    pub role: Role,
    /// Brokerage the key is limited to, if any.
    pub brokerage_id: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Revocation time, if revoked.
    pub revoked_at: Option<String>,
}

/// A freshly created key: the only time the secret is returned.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NewApiKey {
    /// Stored metadata.
    #[serde(flatten)]
    pub record: ApiKeyRecord,
    /// The secret to send as `Authorization: Bearer <secret>`. Shown once; store it now.
    pub secret: String,
}

/// Generates a key: `wgw_` plus 32 random bytes in base64url.
fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("wgw_{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn generate_id() -> String {
    let mut bytes = [0u8; 9];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("key_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Finds the caller for a presented key, or `None` when it is unknown or revoked.
pub(super) async fn authenticate(
    state: &AppState,
    presented: &str,
) -> Result<Option<Caller>, ApiError> {
    if state.api_key_hasher.is_bootstrap(presented) {
        return Ok(Some(Caller {
            api_key_id: BOOTSTRAP_KEY_ID.to_owned(),
            role: Role::Admin,
            brokerage_id: None,
        }));
    }

    let hash = state.api_key_hasher.hash(presented);

    let row = sqlx::query(
        "SELECT id, role, brokerage_id FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash)
    .fetch_optional(state.db.pool())
    .await?;

    let Some(row) = row else {
        return Ok(None);
    };
    let role: String = row.try_get("role")?;
    let role = Role::parse(&role).ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!("stored API key has unknown role {role:?}"))
    })?;
    Ok(Some(Caller {
        api_key_id: row.try_get("id")?,
        role,
        brokerage_id: row.try_get("brokerage_id")?,
    }))
}

/// Stores a new key and returns it with its secret.
pub(super) async fn create(
    db: &Db,
    hasher: &ApiKeyHasher,
    brokerage_id: Option<&str>,
    name: &str,
    role: Role,
) -> StorageResult<NewApiKey> {
    let secret = generate_secret();
    let record = ApiKeyRecord {
        id: generate_id(),
        name: name.to_owned(),
        role,
        brokerage_id: brokerage_id.map(str::to_owned),
        created_at: now_rfc3339(),
        revoked_at: None,
    };

    sqlx::query(
        "INSERT INTO api_keys (id, name, role, brokerage_id, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&record.id)
    .bind(&record.name)
    .bind(record.role.as_str())
    .bind(record.brokerage_id.clone())
    .bind(hasher.hash(&secret))
    .bind(&record.created_at)
    .execute(db.pool())
    .await?;

    Ok(NewApiKey { record, secret })
}

/// Lists keys newest first, after `cursor`, at most `limit`.
pub(super) async fn list(
    db: &Db,
    cursor: Option<&TimeCursor>,
    limit: i64,
) -> StorageResult<Vec<ApiKeyRecord>> {
    let rows = sqlx::query(
        "SELECT id, name, role, brokerage_id, created_at, revoked_at FROM api_keys \
         WHERE ($1 IS NULL OR created_at < $1 OR (created_at = $1 AND id < $2)) \
         ORDER BY created_at DESC, id DESC LIMIT $3",
    )
    .bind(cursor.map(|cursor| cursor.at.clone()))
    .bind(cursor.map(|cursor| cursor.id.clone()))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;

    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let role: String = row.try_get("role")?;
        records.push(ApiKeyRecord {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            role: Role::parse(&role).unwrap_or(Role::Service),
            brokerage_id: row.try_get("brokerage_id")?,
            created_at: row.try_get("created_at")?,
            revoked_at: row.try_get("revoked_at")?,
        });
    }
    Ok(records)
}

/// Revokes a key; returns false when no active key has that id.
pub(super) async fn revoke(db: &Db, id: &str) -> StorageResult<bool> {
    let result =
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_rfc3339())
            .bind(id)
            .execute(db.pool())
            .await?;
    Ok(result.rows_affected() == 1)
}
