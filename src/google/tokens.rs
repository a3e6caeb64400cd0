//! Access tokens through domain-wide delegation: a JWT bearer grant signed with
//! the brokerage's service-account key, `sub` set to the user and exactly one
//! scope per token. Tokens are cached per (brokerage, key version, user, scope)
//! until shortly before they expire, and concurrent requests for the same entry
//! share one exchange.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use google_apis_common::GetToken;
use moka::future::Cache;
use moka::Expiry;
use secrecy::{ExposeSecret, SecretString};
use yup_oauth2::client::CustomHyperClientBuilder;
use yup_oauth2::ServiceAccountAuthenticator;

use super::clients::Connector;
use super::errors::{Grant, TokenError};
use crate::config::GoogleSettings;
use crate::credentials::DelegatedKey;

/// Maximum number of cached tokens; one per (brokerage, key version, user, scope).
const MAX_CACHED_TOKENS: u64 = 200_000;

/// Lifetime assumed when the token endpoint omits `expires_in`.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// HTTP client of the token exchange; yup-oauth2 sends `String` bodies.
type TokenHttpClient = hyper_util::client::legacy::Client<Connector, String>;

/// An access token and the instant after which the cache replaces it.
#[derive(Clone)]
pub struct AccessToken {
    secret: SecretString,
    refresh_at: Instant,
}

impl AccessToken {
    /// Returns the bearer token.
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    /// Instant after which the token is no longer handed out.
    pub fn refresh_at(&self) -> Instant {
        self.refresh_at
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"[REDACTED]")
            .field("refresh_at", &self.refresh_at)
            .finish()
    }
}

/// Cache key: the key version makes a rotated key mint new tokens at once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    brokerage_id: String,
    key_version: i64,
    /// Google's id of the key: versions restart at 1 when a brokerage is
    /// deleted and created again, so the version alone could match an old key.
    private_key_id: Option<String>,
    user: String,
    scope: String,
}

/// Expires each entry at its token's `refresh_at`.
struct RefreshAt;

impl Expiry<TokenKey, AccessToken> for RefreshAt {
    fn expire_after_create(
        &self,
        _key: &TokenKey,
        token: &AccessToken,
        created_at: Instant,
    ) -> Option<Duration> {
        Some(token.refresh_at.saturating_duration_since(created_at))
    }
}

/// Shared token cache and exchanger; cheap to clone.
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

struct Inner {
    cache: Cache<TokenKey, AccessToken>,
    client: TokenHttpClient,
    timeout: Duration,
    refresh_margin: Duration,
    exchanges: AtomicU64,
}

impl TokenSource {
    /// Builds a token source that sends exchanges through `client`.
    pub(crate) fn new(settings: &GoogleSettings, client: TokenHttpClient) -> Self {
        let cache = Cache::builder()
            .max_capacity(MAX_CACHED_TOKENS)
            .expire_after(RefreshAt)
            .support_invalidation_closures()
            .build();

        Self {
            inner: Arc::new(Inner {
                cache,
                client,
                timeout: settings.token_timeout(),
                refresh_margin: Duration::from_secs(settings.token_refresh_margin_seconds),
                exchanges: AtomicU64::new(0),
            }),
        }
    }

    /// Returns a cached access token for (brokerage, key version, user, scope),
    /// exchanging at most once concurrently per entry. Failures are not cached.
    pub async fn token(
        &self,
        key: &DelegatedKey,
        user: &str,
        scope: &str,
    ) -> Result<AccessToken, TokenError> {
        let cache_key = TokenKey {
            brokerage_id: key.brokerage_id.clone(),
            key_version: key.version,
            private_key_id: key.key.private_key_id.clone(),
            user: user.to_owned(),
            scope: scope.to_owned(),
        };

        self.inner
            .cache
            .try_get_with(cache_key, self.exchange(key, user, scope))
            .await
            .map_err(|shared| (*shared).clone())
    }

    /// Number of token exchanges sent since start.
    pub fn exchanges(&self) -> u64 {
        self.inner.exchanges.load(Ordering::Relaxed)
    }

    /// Drops every cached token of the brokerage, after revocation or rotation.
    pub fn invalidate_brokerage(&self, brokerage_id: &str) {
        let brokerage_id = brokerage_id.to_owned();
        let result = self
            .inner
            .cache
            .invalidate_entries_if(move |key, _| key.brokerage_id == brokerage_id);

        if let Err(error) = result {
            // Only possible when invalidation closures are disabled, which `new` enables.
            tracing::error!(%error, "cannot invalidate cached tokens; clearing the whole cache");
            self.inner.cache.invalidate_all();
        }
    }

    /// Performs one JWT bearer grant, bounded by the token timeout.
    #[tracing::instrument(skip_all, fields(brokerage_id = %key.brokerage_id, key_version = key.version, user = %user, scope = %scope))]
    async fn exchange(
        &self,
        key: &DelegatedKey,
        user: &str,
        scope: &str,
    ) -> Result<AccessToken, TokenError> {
        self.inner.exchanges.fetch_add(1, Ordering::Relaxed);
        let grant = Arc::new(Grant {
            brokerage_id: key.brokerage_id.clone(),
            client_id: key.client_id.clone(),
            client_email: key.client_email.clone(),
            user: user.to_owned(),
            scope: scope.to_owned(),
        });

        let mut service_account_key = (*key.key).clone();
        service_account_key.token_uri = key.token_uri.clone();
        let client = CustomHyperClientBuilder::from(self.inner.client.clone());
        let authenticator = ServiceAccountAuthenticator::with_client(service_account_key, client)
            .subject(user)
            .build()
            .await
            .map_err(|error| TokenError::InvalidKey {
                grant: grant.clone(),
                reason: error.to_string(),
            })?;

        let timeout = self.inner.timeout;
        let token = tokio::time::timeout(timeout, authenticator.token(&[scope]))
            .await
            .map_err(|_| TokenError::Timeout {
                grant: grant.clone(),
                after: timeout,
            })?
            .map_err(|error| token_error(grant.clone(), error))?;

        let secret = token.token().ok_or_else(|| TokenError::InvalidResponse {
            grant: grant.clone(),
            reason: "no access_token in the response".to_owned(),
        })?;
        let lifetime = token
            .expiration_time()
            .map(|expires_at| seconds_until(expires_at.unix_timestamp()))
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);

        tracing::debug!(lifetime_seconds = lifetime.as_secs(), "access token issued");
        Ok(AccessToken {
            secret: SecretString::from(secret.to_owned()),
            refresh_at: Instant::now() + cache_lifetime(lifetime, self.inner.refresh_margin),
        })
    }
}

/// Computes how long a token with `lifetime` stays cached: until `margin` before
/// expiry, or half its lifetime when the lifetime is not longer than the margin.
fn cache_lifetime(lifetime: Duration, margin: Duration) -> Duration {
    if lifetime > margin {
        lifetime - margin
    } else {
        lifetime / 2
    }
}

fn seconds_until(unix_seconds: i64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default();
    let remaining = u64::try_from(unix_seconds)
        .unwrap_or_default()
        .saturating_sub(now);
    Duration::from_secs(remaining)
}

/// Maps a yup-oauth2 failure without copying request or response bodies,
/// which hold the signed assertion or a token.
fn token_error(grant: Arc<Grant>, error: yup_oauth2::Error) -> TokenError {
    use yup_oauth2::Error;

    match error {
        Error::AuthError(rejection) => TokenError::Rejected {
            grant,
            error: rejection.error.as_str().to_owned(),
            description: rejection.error_description,
        },
        Error::HttpClientError(source) => TokenError::Unreachable {
            grant,
            reason: chain(&source),
        },
        Error::HttpError(source) => TokenError::Unreachable {
            grant,
            reason: chain(&source),
        },
        Error::JSONError(source) => TokenError::InvalidResponse {
            grant,
            reason: format!(
                "body is not a token or an OAuth error ({:?})",
                source.classify()
            ),
        },
        Error::MissingAccessToken => TokenError::InvalidResponse {
            grant,
            reason: "no access_token in the response".to_owned(),
        },
        Error::LowLevelError(source) => TokenError::InvalidResponse {
            grant,
            reason: source.kind().to_string(),
        },
        other => TokenError::InvalidResponse {
            grant,
            reason: other.to_string(),
        },
    }
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Supplies a hub with the cached token of one (key, user, scope). The scopes
/// a hub method requests are ignored, so the token is always for `scope`.
#[derive(Clone)]
pub struct DelegatedAuth {
    tokens: TokenSource,
    key: DelegatedKey,
    user: String,
    scope: String,
}

impl DelegatedAuth {
    /// Authenticates hub calls as `user` with `scope` through `key`.
    pub fn new(tokens: TokenSource, key: DelegatedKey, user: &str, scope: &str) -> Self {
        Self {
            tokens,
            key,
            user: user.to_owned(),
            scope: scope.to_owned(),
        }
    }
}

type GetTokenOutput<'a> = Pin<
    Box<
        dyn Future<Output = Result<Option<String>, Box<dyn std::error::Error + Send + Sync>>>
            + Send
            + 'a,
    >,
>;

impl GetToken for DelegatedAuth {
    fn get_token<'a>(&'a self, _scopes: &'a [&str]) -> GetTokenOutput<'a> {
        Box::pin(async move {
            let token = self
                .tokens
                .token(&self.key, &self.user, &self.scope)
                .await?;
            Ok(Some(token.secret().expose_secret().to_owned()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_lifetime_subtracts_margin() {
        let lifetime = cache_lifetime(Duration::from_secs(3599), Duration::from_secs(300));

        assert_eq!(lifetime, Duration::from_secs(3299));
    }

    #[test]
    fn cache_lifetime_halves_short_tokens() {
        let lifetime = cache_lifetime(Duration::from_secs(120), Duration::from_secs(300));

        assert_eq!(lifetime, Duration::from_secs(60));
    }

    #[test]
    fn access_token_debug_redacts() {
        let token = AccessToken {
            secret: SecretString::from("ya29.secret-token-value"),
            refresh_at: Instant::now(),
        };

        let printed = format!("{token:?}");

        assert!(!printed.contains("secret-token-value"));
        assert!(printed.contains("[REDACTED]"));
    }
}
