//! Workspace emulator: a loopback stand-in for Google's OAuth token endpoint and the People,
//! Calendar and Gmail APIs, with the wire format the google-people1, google-calendar3,
//! google-gmail1 and yup-oauth2 crates expect, and a control API for tests.
//!
//! Start it in-process with [`Emulator::start`], or run the `workspace-emulator` binary.
#![forbid(unsafe_code)]

mod access;
mod calendar;
mod clock;
mod contacts;
mod control;
mod errors;
mod events;
mod faults;
mod gmail;
mod keys;
mod message;
mod multipart;
mod oauth;
mod people;
mod query;
mod recurrence;
mod state;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Context;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{middleware, Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use control::{ControlError, ServiceAccount};
pub use message::{SentAttachment, SentMessage};

use state::{AppState, Shared};

/// Entry point to start an emulator.
pub struct Emulator;

impl Emulator {
    /// Binds 127.0.0.1 on a free port and serves in a background tokio task.
    pub async fn start() -> anyhow::Result<EmulatorHandle> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding 127.0.0.1:0")?;
        Self::start_on(listener).await
    }

    /// Serves on an already bound listener in a background tokio task.
    pub async fn start_on(listener: TcpListener) -> anyhow::Result<EmulatorHandle> {
        Self::start_with_public_url(listener, None).await
    }

    /// Serves on `listener`, advertising `public_url` (for example
    /// `http://emulator:8090` inside a container network) in key files and
    /// token audiences instead of the listener's own address.
    pub async fn start_with_public_url(
        listener: TcpListener,
        public_url: Option<String>,
    ) -> anyhow::Result<EmulatorHandle> {
        let address = listener
            .local_addr()
            .context("reading the listener address")?;
        let base_url = match public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{address}"),
        };
        let state: AppState = Arc::new(Shared::new(base_url.clone()));

        let app = router(state.clone());
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "workspace emulator stopped");
            }
        });
        Ok(EmulatorHandle {
            base_url,
            state,
            task,
        })
    }
}

/// Builds the emulator's router over `state`.
fn router(state: AppState) -> Router {
    Router::new()
        .route("/token", post(oauth::token))
        .merge(people::router())
        .merge(calendar::router())
        .merge(gmail::router())
        .merge(control::router())
        .fallback(not_found)
        .layer(middleware::map_response_with_state(
            state.clone(),
            clock::date_header,
        ))
        .with_state(state)
}

async fn not_found() -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": {"code": 404, "message": "Not Found", "status": "NOT_FOUND"}})),
    )
}

/// A running emulator. Dropping it stops the server.
pub struct EmulatorHandle {
    base_url: String,
    state: AppState,
    task: JoinHandle<()>,
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("base_url", &self.base_url)
            .finish()
    }
}

impl EmulatorHandle {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Returns the OAuth token endpoint URL, also the `token_uri` of minted key files.
    pub fn token_uri(&self) -> String {
        self.state.token_uri()
    }

    /// Base URL for the google-people1 hub.
    pub fn people_base_url(&self) -> String {
        format!("{}/", self.base_url)
    }

    /// Base URL for the google-calendar3 hub.
    pub fn calendar_base_url(&self) -> String {
        format!("{}/calendar/v3/", self.base_url)
    }

    /// Base URL and root URL for the google-gmail1 hub (the root URL carries the upload path).
    pub fn gmail_base_url(&self) -> String {
        format!("{}/", self.base_url)
    }

    /// Token requests served so far, successful or not.
    pub fn token_exchanges(&self) -> u64 {
        self.state.token_exchanges.load(Ordering::Relaxed)
    }

    /// People, Calendar and Gmail requests served so far, successful or not.
    pub fn api_calls(&self) -> u64 {
        self.state.api_calls.load(Ordering::Relaxed)
    }

    /// Creates a domain with users, or adds the users to an existing domain.
    ///
    /// # Panics
    /// When a user is not an address of `domain`; this is test setup, so a mistake should stop
    /// the test.
    pub fn create_domain(&self, domain: &str, users: &[&str]) {
        if let Err(error) = control::create_domain(&self.state, domain, users) {
            panic!("create_domain({domain}): {error}");
        }
    }

    /// Adds a user to an existing domain.
    pub fn add_user(&self, domain: &str, email: &str) -> Result<(), ControlError> {
        control::add_user(&self.state, domain, email)
    }

    /// Suspends or reactivates a user.
    pub fn set_user_suspended(&self, email: &str, suspended: bool) -> Result<(), ControlError> {
        control::set_suspended(&self.state, email, suspended)
    }

    /// Creates a service account with a fresh RSA 2048 key in `project_id`.
    ///
    /// # Panics
    /// When key generation fails.
    pub fn create_service_account(&self, project_id: &str) -> ServiceAccount {
        match control::create_service_account(&self.state, project_id, None) {
            Ok(account) => account,
            Err(error) => panic!("create_service_account({project_id}): {error:#}"),
        }
    }

    /// Adds a new key to a service account; the returned `key_json` contains the new key.
    pub fn add_service_account_key(&self, client_id: &str) -> anyhow::Result<ServiceAccount> {
        control::add_key(&self.state, client_id)
    }

    /// Replaces the scopes delegated to `client_id` in `domain`.
    ///
    /// # Panics
    /// When the domain does not exist.
    pub fn delegate(&self, domain: &str, client_id: &str, scopes: &[&str]) {
        if let Err(error) = control::delegate(&self.state, domain, client_id, scopes) {
            panic!("delegate({domain}): {error}");
        }
    }

    /// Removes the delegation of `client_id` in `domain`.
    pub fn revoke_delegation(&self, domain: &str, client_id: &str) -> Result<(), ControlError> {
        control::revoke_delegation(&self.state, domain, client_id)
    }

    /// Disables or re-enables a service account ("Robot is disabled.").
    pub fn set_service_account_disabled(
        &self,
        client_id: &str,
        disabled: bool,
    ) -> Result<(), ControlError> {
        control::set_service_account_disabled(&self.state, client_id, disabled)
    }

    /// Deletes one key of a service account.
    pub fn delete_service_account_key(
        &self,
        client_id: &str,
        private_key_id: &str,
    ) -> Result<(), ControlError> {
        control::delete_service_account_key(&self.state, client_id, private_key_id)
    }

    /// Enables or disables an API such as `gmail.googleapis.com` in a project.
    pub fn set_api_enabled(
        &self,
        project_id: &str,
        service: &str,
        enabled: bool,
    ) -> Result<(), ControlError> {
        control::set_api_enabled(&self.state, project_id, service, enabled)
    }

    /// Shifts the emulator clock by `offset_seconds` from real time.
    pub fn set_clock_offset(&self, offset_seconds: i64) {
        self.state.clock.set_offset_seconds(offset_seconds);
    }

    /// Invalidates all People and Calendar sync tokens issued to the user so far.
    pub fn expire_sync_tokens(&self, email: &str) -> Result<(), ControlError> {
        control::expire_sync_tokens(&self.state, email)
    }

    /// Makes every issued access token unknown, as if all had expired.
    pub fn expire_access_tokens(&self) {
        self.state.world().tokens.clear();
    }

    /// Returns the messages the user sent through the Gmail API, oldest first.
    pub fn sent_messages(&self, user: &str) -> Vec<SentMessage> {
        control::sent_messages(&self.state, user)
    }
}
