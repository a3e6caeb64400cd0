//! Shared application state handed to every handler.

use std::sync::Arc;

use crate::config::Settings;
use crate::credentials::vault::Vault;
use crate::google::GoogleClients;
use crate::storage::Db;

/// Everything a handler needs, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Effective settings.
    pub settings: Arc<Settings>,
    /// Database pool.
    pub db: Db,
    /// Master keyring that seals and opens service-account keys.
    pub vault: Arc<Vault>,
    /// Token cache and Google API client factory.
    pub google: Arc<GoogleClients>,
    /// HMAC key that hashes API key secrets before storage and lookup.
    pub api_key_hasher: Arc<crate::auth::ApiKeyHasher>,
    /// Parsed service-account keys by (brokerage, version, nonce of the sealed
    /// bytes), so a request skips decryption and parsing. An entry is used only
    /// after the database confirmed that key as active.
    pub parsed_keys: ParsedKeyCache,
}

/// Cache of parsed service-account keys; see [`AppState::parsed_keys`].
pub type ParsedKeyCache =
    moka::sync::Cache<(String, i64, Vec<u8>), Arc<yup_oauth2::ServiceAccountKey>>;
