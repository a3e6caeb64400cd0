//! Settings: defaults in code, then an optional TOML file, then environment
//! variables named `GATEWAY__SECTION__KEY` (for example `GATEWAY__DATABASE__URL`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Every setting of the gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server binds to.
    pub listen: SocketAddr,
    /// Database connection.
    pub database: DatabaseSettings,
    /// Google endpoints, timeouts and token settings.
    pub google: GoogleSettings,
    /// API keys and encryption keys.
    pub security: SecuritySettings,
    /// Limits on incoming requests.
    pub http: HttpSettings,
}

/// Database connection settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` (the file is created if missing) or `postgres://...`.
    pub url: String,
    /// Maximum number of pooled connections.
    pub max_connections: u32,
}

/// Google API endpoints and timeouts.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleSettings {
    /// Base URL of the People API, ending in `/`.
    pub people_base_url: String,
    /// Base URL of the Calendar API, ending in `/calendar/v3/`.
    pub calendar_base_url: String,
    /// Base URL of the Gmail API (also its upload root), ending in `/`.
    pub gmail_base_url: String,
    /// Seconds one Google API call may take, retries included.
    pub request_timeout_seconds: u64,
    /// Seconds one token exchange with a key's `token_uri` may take.
    pub token_timeout_seconds: u64,
    /// Contacts scope for brokerages that have not chosen one.
    pub default_contacts_scope: String,
    /// Seconds before expiry at which a cached access token is replaced.
    pub token_refresh_margin_seconds: u64,
    /// Token endpoints a key file may name as `token_uri`. An entry ending in
    /// `*` matches every URI that starts with the rest. The gateway sends
    /// signed assertions there, so anything else is rejected.
    pub allowed_token_uris: Vec<String>,
}

/// Secrets: the bootstrap API key and the master keyring.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// Admin API key accepted in addition to stored keys, to create the first keys.
    pub admin_api_key: Option<SecretString>,
    /// Master keys as `ID:BASE64` of 32 random bytes; the first one encrypts,
    /// every one decrypts. When empty, a key is generated into `master_key_file`.
    pub master_keys: Vec<SecretString>,
    /// File holding a generated development master key, used only when
    /// `master_keys` is empty.
    pub master_key_file: String,
    /// Server-side secret that keys the HMAC of stored API keys. When unset, a
    /// random one is generated into `api_key_secret_file`.
    pub api_key_secret: Option<SecretString>,
    /// File holding a generated development API key secret, used only when
    /// `api_key_secret` is unset.
    pub api_key_secret_file: String,
}

/// Limits on incoming HTTP requests.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Seconds a request may take before the gateway returns 504.
    pub request_timeout_seconds: u64,
    /// Maximum request body in bytes (mail with attachments is the largest).
    pub max_body_bytes: usize,
    /// Maximum request body in bytes for every route but mail sending.
    pub max_json_body_bytes: usize,
    /// Mail sends handled at once; more wait for a slot. A send of a 35 MB
    /// message uses an estimated 130 MB while it is built and uploaded.
    pub max_concurrent_sends: usize,
}

impl GoogleSettings {
    /// Timeout of one Google API call.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds)
    }

    /// Checks whether a key file's `token_uri` is one of `allowed_token_uris`.
    pub fn token_uri_allowed(&self, uri: &str) -> bool {
        self.allowed_token_uris
            .iter()
            .any(|allowed| match allowed.strip_suffix('*') {
                Some(prefix) => uri.starts_with(prefix),
                None => uri == allowed,
            })
    }

    /// Timeout of one token exchange.
    pub fn token_timeout(&self) -> Duration {
        Duration::from_secs(self.token_timeout_seconds)
    }
}

const DEFAULTS: &str = r#"
listen = "127.0.0.1:8080"

[database]
url = "sqlite://data/gateway.db"
max_connections = 10

[google]
people_base_url = "https://people.googleapis.com/"
calendar_base_url = "https://www.googleapis.com/calendar/v3/"
gmail_base_url = "https://gmail.googleapis.com/"
request_timeout_seconds = 30
token_timeout_seconds = 10
default_contacts_scope = "https://www.googleapis.com/auth/contacts"
token_refresh_margin_seconds = 300
allowed_token_uris = ["https://oauth2.googleapis.com/token"]

[security]
master_keys = []
master_key_file = "data/master.key"
api_key_secret_file = "data/api-key.secret"

[http]
request_timeout_seconds = 60
max_body_bytes = 50000000
max_json_body_bytes = 1000000
max_concurrent_sends = 16
"#;

impl Settings {
    /// Loads defaults, then `file` when given, then `GATEWAY__*` environment variables.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));

        if let Some(path) = file {
            builder = builder.add_source(config::File::from(path).required(true));
        }

        let environment = config::Environment::with_prefix("GATEWAY")
            .prefix_separator("__")
            .separator("__")
            .list_separator(",")
            .with_list_parse_key("security.master_keys")
            .with_list_parse_key("google.allowed_token_uris")
            .try_parsing(true);

        let settings: Settings = builder
            .add_source(environment)
            .build()?
            .try_deserialize()
            .map_err(|error| anyhow::anyhow!("invalid configuration: {error}"))?;
        Ok(settings)
    }

    /// Checks what can be checked without connecting: the database URL scheme
    /// and the master keyring.
    pub fn validate(&self) -> anyhow::Result<()> {
        crate::storage::check_url(&self.database.url)
            .map_err(|error| anyhow::anyhow!("database.url (GATEWAY__DATABASE__URL): {error}"))?;
        if !self.security.master_keys.is_empty() {
            crate::credentials::vault::Vault::from_entries(&self.security.master_keys).map_err(
                |error| {
                    anyhow::anyhow!(
                        "security.master_keys (GATEWAY__SECURITY__MASTER_KEYS): {error}"
                    )
                },
            )?;
        }
        Ok(())
    }

    /// Renders the effective settings as TOML with every secret replaced by `[REDACTED]`.
    pub fn to_redacted_toml(&self) -> String {
        let view = RedactedSettings {
            listen: self.listen.to_string(),
            database: RedactedDatabase {
                url: redact_url_password(&self.database.url),
                max_connections: self.database.max_connections,
            },
            google: self.google.clone(),
            security: RedactedSecurity {
                admin_api_key: self.security.admin_api_key.as_ref().map(|_| REDACTED),
                master_keys: self
                    .security
                    .master_keys
                    .iter()
                    .map(|key| redact_master_key(key.expose_secret()))
                    .collect(),
                master_key_file: self.security.master_key_file.clone(),
                api_key_secret: self.security.api_key_secret.as_ref().map(|_| REDACTED),
                api_key_secret_file: self.security.api_key_secret_file.clone(),
            },
            http: self.http.clone(),
        };
        toml::to_string_pretty(&view).unwrap_or_else(|error| format!("# cannot render: {error}"))
    }
}

const REDACTED: &str = "[REDACTED]";

fn redact_master_key(entry: &str) -> String {
    match entry.split_once(':') {
        Some((id, _)) => format!("{id}:{REDACTED}"),
        None => REDACTED.to_owned(),
    }
}

fn redact_url_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("REDACTED"));
            parsed.to_string()
        }
        _ => raw.to_owned(),
    }
}

#[derive(Serialize)]
struct RedactedSettings {
    listen: String,
    database: RedactedDatabase,
    google: GoogleSettings,
    security: RedactedSecurity,
    http: HttpSettings,
}

#[derive(Serialize)]
struct RedactedDatabase {
    url: String,
    max_connections: u32,
}

#[derive(Serialize)]
struct RedactedSecurity {
    admin_api_key: Option<&'static str>,
    master_keys: Vec<String>,
    master_key_file: String,
    api_key_secret: Option<&'static str>,
    api_key_secret_file: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_point_at_google() {
        let settings = Settings::load(None).expect("defaults load");
        assert_eq!(
            settings.google.people_base_url,
            "https://people.googleapis.com/"
        );
        assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn redacted_toml_hides_secrets() {
        let mut settings = Settings::load(None).expect("defaults load");
        settings.security.admin_api_key = Some(SecretString::from("admin-secret-value"));
        settings.security.master_keys = vec![SecretString::from("k1:c2VjcmV0LWJ5dGVz")];
        settings.database.url = "postgres://gw:db-password@127.0.0.1/gw".to_owned();

        let rendered = settings.to_redacted_toml();

        assert!(!rendered.contains("admin-secret-value"));
        assert!(!rendered.contains("c2VjcmV0LWJ5dGVz"));
        assert!(!rendered.contains("db-password"));
        assert!(rendered.contains("k1:[REDACTED]"));
    }
}
