//! Service-account keys: upload, validation, sealed storage, rotation and
//! revocation, and the decrypted key a Google call signs with.

mod http;
pub mod key_file;
pub mod reencrypt;
pub mod store;
pub mod vault;

pub use http::{router, ApiDoc};

use std::sync::Arc;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::google::scopes;
use crate::state::AppState;
use crate::users::EnrolledUser;

/// The decrypted key of a brokerage, held only in memory to sign token requests.
#[derive(Clone)]
pub struct DelegatedKey {
    /// Brokerage the key belongs to.
    pub brokerage_id: String,
    /// Credential version; part of every token cache key.
    pub version: i64,
    /// Numeric OAuth client ID of the service account.
    pub client_id: String,
    /// Service account address.
    pub client_email: String,
    /// Token endpoint from the key file.
    pub token_uri: String,
    /// The parsed key file, private key included.
    pub key: Arc<yup_oauth2::ServiceAccountKey>,
}

impl std::fmt::Debug for DelegatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelegatedKey")
            .field("brokerage_id", &self.brokerage_id)
            .field("version", &self.version)
            .field("client_id", &self.client_id)
            .field("client_email", &self.client_email)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

/// Metadata of a stored key: never the key itself.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CredentialMetadata {
    /// Version number, increasing per brokerage.
    pub version: i64,
    /// `active` (used for calls), `pending` (waits for verification), `retired` or `revoked`.
    pub state: String,
    /// Service account address.
    pub client_email: String,
    /// Numeric OAuth client ID to authorize in the Admin console.
    pub client_id: String,
    /// Google's id of this key.
    pub private_key_id: String,
    /// Cloud project of the service account.
    pub project_id: Option<String>,
    /// Token endpoint named by the key file.
    pub token_uri: String,
    /// SHA-256 of the RSA public key, hex.
    pub public_key_fingerprint: String,
    /// Upload time (RFC 3339).
    pub uploaded_at: String,
    /// API key id that uploaded it.
    pub uploaded_by: Option<String>,
    /// When it became active, if it has.
    pub activated_at: Option<String>,
}

/// Values the Workspace administrator enters in the Admin console's domain-wide
/// delegation form (Security > API controls > Domain-wide delegation).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AdminConsoleGrant {
    /// Client ID field of the form.
    pub client_id: String,
    /// OAuth scopes field: comma-separated, exactly as the form expects.
    pub scopes: String,
    /// Link that opens the form pre-filled with this client ID and these scopes.
    pub url: String,
}

impl AdminConsoleGrant {
    /// Builds the grant for `client_id` and the brokerage's contacts scope.
    pub fn new(client_id: &str, contacts_scope: &str) -> Self {
        let scopes = [contacts_scope, scopes::CALENDAR, scopes::GMAIL_COMPOSE].join(",");
        let mut url = url::Url::parse("https://admin.google.com/ac/owl/domainwidedelegation")
            .expect("static URL parses");
        url.query_pairs_mut()
            .append_pair("overwriteClientId", "true")
            .append_pair("clientIdToAdd", client_id)
            .append_pair("scopes", &scopes);
        Self {
            client_id: client_id.to_owned(),
            scopes,
            url: url.to_string(),
        }
    }
}

/// Loads and decrypts the active key of a brokerage.
pub async fn active_key(state: &AppState, brokerage_id: &str) -> Result<DelegatedKey, ApiError> {
    let Some(row) = store::active(&state.db, brokerage_id).await? else {
        return Err(missing_or_revoked(state, brokerage_id).await);
    };
    let metadata = &row.metadata;
    open_key(
        state,
        brokerage_id,
        metadata.version,
        &metadata.client_id,
        &metadata.client_email,
        &metadata.token_uri,
        &row.sealed,
    )
}

/// Checks that `raw_email` is enrolled in the brokerage and loads its active
/// key with one query, for the per-request path of contacts and events. Errors
/// are the same as [`crate::users::require_enrolled`] then [`active_key`].
pub async fn enrolled_with_key(
    state: &AppState,
    brokerage_id: &str,
    raw_email: &str,
) -> Result<(EnrolledUser, DelegatedKey), ApiError> {
    let Some(email) = crate::validate::normalize_email(raw_email) else {
        // The slow path produces the right error for this address.
        let user = crate::users::require_enrolled(state, brokerage_id, raw_email).await?;
        let key = active_key(state, brokerage_id).await?;
        return Ok((user, key));
    };

    let Some(context) = store::request_context(&state.db, brokerage_id, &email).await? else {
        return Err(crate::brokerages::not_found(brokerage_id));
    };
    let email = crate::users::address_in_brokerage(&context.brokerage, &email)?;
    if !context.enrolled {
        return Err(crate::users::not_found(&email));
    }
    let Some(active) = context.active else {
        return Err(missing_or_revoked(state, brokerage_id).await);
    };

    let key = open_key(
        state,
        brokerage_id,
        active.version,
        &active.client_id,
        &active.client_email,
        &active.token_uri,
        &active.sealed,
    )?;
    let user = EnrolledUser {
        brokerage: context.brokerage,
        email,
    };
    Ok((user, key))
}

/// Drops the brokerage's parsed keys and cached access tokens from memory,
/// after revocation, rotation or deletion.
pub fn forget_brokerage(state: &AppState, brokerage_id: &str) {
    let stale: Vec<_> = state
        .parsed_keys
        .iter()
        .filter(|(key, _)| key.0 == brokerage_id)
        .map(|(key, _)| key)
        .collect();
    for key in stale {
        state.parsed_keys.invalidate(key.as_ref());
    }
    state.google.tokens().invalidate_brokerage(brokerage_id);
}

/// Opens a sealed key file, reusing the parsed key of an earlier request when
/// the same sealed bytes were opened before.
fn open_key(
    state: &AppState,
    brokerage_id: &str,
    version: i64,
    client_id: &str,
    client_email: &str,
    token_uri: &str,
    sealed: &vault::Sealed,
) -> Result<DelegatedKey, ApiError> {
    // Checked again here because the allowlist may have shrunk since the upload.
    if !state.settings.google.token_uri_allowed(token_uri) {
        tracing::warn!(
            brokerage_id,
            "stored key names a token endpoint that is no longer allowed"
        );
        return Err(ApiError::conflict(
            "token_uri_not_allowed",
            "The brokerage's key names a token endpoint that google.allowed_token_uris no longer allows; upload a key file from Google.",
        ));
    }

    let cache_key = (brokerage_id.to_owned(), version, sealed.nonce.clone());
    let key = match state.parsed_keys.get(&cache_key) {
        Some(key) => key,
        None => {
            let plaintext = state
                .vault
                .open(brokerage_id, version, sealed)
                .map_err(ApiError::internal)?;
            let key: yup_oauth2::ServiceAccountKey =
                serde_json::from_slice(&plaintext).map_err(|_| {
                    // The serde error may quote key material, so it is not kept.
                    ApiError::internal(anyhow::anyhow!(
                        "stored key file of brokerage {brokerage_id} does not parse"
                    ))
                })?;
            let key = Arc::new(key);
            state.parsed_keys.insert(cache_key, key.clone());
            key
        }
    };

    Ok(DelegatedKey {
        brokerage_id: brokerage_id.to_owned(),
        version,
        client_id: client_id.to_owned(),
        client_email: client_email.to_owned(),
        token_uri: token_uri.to_owned(),
        key,
    })
}

async fn missing_or_revoked(state: &AppState, brokerage_id: &str) -> ApiError {
    match store::latest_state(&state.db, brokerage_id).await {
        Ok(Some(latest)) if latest == "revoked" => revoked(),
        Ok(_) => ApiError::conflict(
            "credentials_missing",
            "This brokerage has no active service-account key; upload one with PUT /v1/brokerages/{brokerage_id}/credentials.",
        ),
        Err(error) => error.into(),
    }
}

/// Builds the problem returned for calls of a brokerage whose key was revoked.
pub fn revoked() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "credentials_revoked",
        "The brokerage's service-account key was revoked; upload a new key before making Google calls.",
    )
}
