//! Factory of People, Calendar and Gmail hubs that act as one user through the
//! brokerage's key, and the runner that bounds each call by the request timeout
//! and classifies its failure.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use moka::future::Cache;
use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio::time::Instant;

use super::errors::GoogleError;
use super::retry;
use super::scopes;
use super::tokens::{DelegatedAuth, TokenSource};
use crate::config::GoogleSettings;
use crate::credentials::DelegatedKey;

/// HTTPS connector shared by the hubs and the token exchange. It also accepts
/// plain `http://` URLs, which the local emulator uses.
pub type Connector =
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// Users whose mutation lock is kept while idle; Google asks that mutations for
/// one user be sent one at a time.
const MAX_MUTATION_LOCKS: u64 = 100_000;

/// How long an unused mutation lock is kept.
const MUTATION_LOCK_IDLE: Duration = Duration::from_secs(600);

/// Pooled connections idle longer than this are closed.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A Google API the gateway calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GoogleApi {
    /// People API (contacts).
    People,
    /// Calendar API (events).
    Calendar,
    /// Gmail API (send).
    Gmail,
}

impl GoogleApi {
    /// Product name, such as "People API".
    pub fn name(self) -> &'static str {
        match self {
            Self::People => "People API",
            Self::Calendar => "Calendar API",
            Self::Gmail => "Gmail API",
        }
    }

    /// Service name to enable in the Cloud console.
    pub fn service_name(self) -> &'static str {
        match self {
            Self::People => "people.googleapis.com",
            Self::Calendar => "calendar-json.googleapis.com",
            Self::Gmail => "gmail.googleapis.com",
        }
    }

    /// The scope to authorize for this API, as a phrase for error details.
    pub(crate) fn scope_hint(self) -> String {
        match self {
            Self::People => format!("the brokerage's contacts scope ({})", scopes::CONTACTS),
            Self::Calendar => format!("scope {}", scopes::CALENDAR),
            Self::Gmail => format!("scope {}", scopes::GMAIL_COMPOSE),
        }
    }
}

impl std::fmt::Display for GoogleApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Token cache and hub factory, built once at start and shared by handlers.
pub struct GoogleClients {
    http: google_apis_common::Client<Connector>,
    tokens: TokenSource,
    people_base_url: String,
    calendar_base_url: String,
    calendar_root_url: String,
    gmail_base_url: String,
    request_timeout: Duration,
    mutation_locks: Cache<(String, String), Arc<Mutex<()>>>,
}

impl GoogleClients {
    /// Builds the shared HTTP clients and token cache from the settings.
    pub fn new(settings: &GoogleSettings) -> anyhow::Result<Self> {
        let connector = connector()?;
        let executor = hyper_util::rt::TokioExecutor::new();
        let http = hyper_util::client::legacy::Client::builder(executor.clone())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector.clone());
        let token_http = hyper_util::client::legacy::Client::builder(executor)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build::<_, String>(connector);

        let calendar_base_url = with_trailing_slash(&settings.calendar_base_url);
        let calendar_root_url = origin_of(&calendar_base_url)?;

        Ok(Self {
            http,
            tokens: TokenSource::new(settings, token_http),
            people_base_url: with_trailing_slash(&settings.people_base_url),
            calendar_base_url,
            calendar_root_url,
            gmail_base_url: with_trailing_slash(&settings.gmail_base_url),
            request_timeout: settings.request_timeout(),
            mutation_locks: Cache::builder()
                .max_capacity(MAX_MUTATION_LOCKS)
                .time_to_idle(MUTATION_LOCK_IDLE)
                .build(),
        })
    }

    /// People hub acting as `user` with `scope` (the brokerage's contacts scope).
    pub fn people(
        &self,
        key: &DelegatedKey,
        user: &str,
        scope: &str,
    ) -> google_people1::PeopleService<Connector> {
        let mut hub =
            google_people1::PeopleService::new(self.http.clone(), self.auth(key, user, scope));
        hub.base_url(self.people_base_url.clone());
        hub.root_url(self.people_base_url.clone());
        hub
    }

    /// Calendar hub acting as `user` with the calendar scope.
    pub fn calendar(
        &self,
        key: &DelegatedKey,
        user: &str,
    ) -> google_calendar3::CalendarHub<Connector> {
        let auth = self.auth(key, user, scopes::CALENDAR);
        let mut hub = google_calendar3::CalendarHub::new(self.http.clone(), auth);
        hub.base_url(self.calendar_base_url.clone());
        hub.root_url(self.calendar_root_url.clone());
        hub
    }

    /// Gmail hub acting as `user` with the compose scope. The root URL equals the
    /// base URL, so uploads go to `{gmail_base_url}upload/gmail/v1/...`.
    pub fn gmail(&self, key: &DelegatedKey, user: &str) -> google_gmail1::Gmail<Connector> {
        let auth = self.auth(key, user, scopes::GMAIL_COMPOSE);
        let mut hub = google_gmail1::Gmail::new(self.http.clone(), auth);
        hub.base_url(self.gmail_base_url.clone());
        hub.root_url(self.gmail_base_url.clone());
        hub
    }

    /// Runs one Google call with the configured timeout and classifies failures.
    /// `T` is what the call's `doit()` returns on success: `(Response, value)`
    /// for most methods, the bare `Response` for deletes. Nothing is retried;
    /// use [`Self::read`] or [`Self::mutate`] for that.
    pub async fn call<T, F>(&self, api: GoogleApi, call: F) -> Result<T, GoogleError>
    where
        F: Future<Output = google_apis_common::Result<T>>,
    {
        let deadline = Instant::now() + self.request_timeout;
        retry::attempt(api, deadline, self.request_timeout, call).await
    }

    /// Runs an idempotent read built by `make`, retrying rate limits, Google
    /// outages, transport failures and transient token failures with
    /// exponential backoff and jitter, all within the request timeout.
    pub async fn read<T, F, Fut>(&self, api: GoogleApi, make: F) -> Result<T, GoogleError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = google_apis_common::Result<T>>,
    {
        retry::run(api, self.request_timeout, GoogleError::is_retryable, make).await
    }

    /// Runs a mutation built by `make`. It is sent again only when the token
    /// exchange failed transiently, because then the request never left.
    pub async fn mutate<T, F, Fut>(&self, api: GoogleApi, make: F) -> Result<T, GoogleError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = google_apis_common::Result<T>>,
    {
        retry::run(api, self.request_timeout, is_unsent, make).await
    }

    /// Waits for the user's mutation lock, so that mutations for one user reach
    /// Google one at a time within this process.
    pub async fn lock_user(&self, brokerage_id: &str, user: &str) -> OwnedMutexGuard<()> {
        let key = (brokerage_id.to_owned(), user.to_owned());
        let lock = self
            .mutation_locks
            .get_with(key, async { Arc::new(Mutex::new(())) })
            .await;
        lock.lock_owned().await
    }

    /// The shared token cache.
    pub fn tokens(&self) -> &TokenSource {
        &self.tokens
    }

    /// Timeout of one Google call, retries included.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    fn auth(&self, key: &DelegatedKey, user: &str, scope: &str) -> DelegatedAuth {
        DelegatedAuth::new(self.tokens.clone(), key.clone(), user, scope)
    }
}

fn is_unsent(error: &GoogleError) -> bool {
    matches!(error, GoogleError::Token(token_error) if token_error.is_transient())
}

/// HTTPS with Mozilla's roots through ring, HTTP/1.1 and HTTP/2, and plain HTTP.
fn connector() -> anyhow::Result<Connector> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .context("TLS configuration for Google clients")?
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    Ok(connector)
}

fn with_trailing_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    }
}

/// `scheme://host[:port]/` of `url`.
fn origin_of(url: &str) -> anyhow::Result<String> {
    let parsed = url::Url::parse(url).with_context(|| format!("invalid Google base URL {url}"))?;
    anyhow::ensure!(parsed.has_host(), "Google base URL {url} has no host");
    Ok(format!("{}/", parsed.origin().ascii_serialization()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_keeps_port() {
        let origin = origin_of("http://127.0.0.1:4010/calendar/v3/").expect("valid URL");

        assert_eq!(origin, "http://127.0.0.1:4010/");
    }

    #[test]
    fn origin_of_google() {
        let origin = origin_of("https://www.googleapis.com/calendar/v3/").expect("valid URL");

        assert_eq!(origin, "https://www.googleapis.com/");
    }

    #[test]
    fn trailing_slash_added_once() {
        assert_eq!(with_trailing_slash("http://x/a"), "http://x/a/");
        assert_eq!(with_trailing_slash("http://x/a/"), "http://x/a/");
    }
}
