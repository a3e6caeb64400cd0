//! One verification run: the checks in order, each bounded by the run's
//! deadline, and each skipped when what it depends on failed.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::model::{Check, CheckName, SyncSummary};
use super::probe::{Grantee, ProbeClient};
use super::{apis, clock, delegation, key_check};
use crate::credentials::{CredentialMetadata, DelegatedKey};
use crate::state::AppState;

/// Inputs of one run: the key tested, the test user and the deadline.
pub struct Run<'a> {
    /// Application state, for the Google hubs and settings.
    pub state: &'a AppState,
    /// The key tested.
    pub key: &'a DelegatedKey,
    /// The test user (`sub` of every token).
    pub user: &'a str,
    /// The brokerage's configured contacts scope, or the gateway's default.
    pub configured_contacts_scope: &'a str,
    /// Cloud project of the service account, to name it in remediation.
    pub project_id: Option<&'a str>,
    client: ProbeClient,
    deadline: Instant,
    limit: Duration,
}

/// Everything the checks found.
pub struct Findings {
    /// Every check, in the order of [`CheckName::ALL`].
    pub checks: Vec<Check>,
    /// The contacts scope that works, if any.
    pub contacts_scope: Option<String>,
    /// Counts of the test synchronization, when it ran.
    pub sync: Option<SyncSummary>,
}

impl<'a> Run<'a> {
    /// Prepares a run that must end within `limit` from now.
    pub fn new(
        state: &'a AppState,
        key: &'a DelegatedKey,
        user: &'a str,
        configured_contacts_scope: &'a str,
        project_id: Option<&'a str>,
        limit: Duration,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            state,
            key,
            user,
            configured_contacts_scope,
            project_id,
            client: super::probe::client()?,
            deadline: Instant::now() + limit,
            limit,
        })
    }

    /// HTTP client for token probes and the clock request.
    pub fn client(&self) -> &ProbeClient {
        &self.client
    }

    /// Builds the grantee that the token probes act as.
    pub fn grantee(&self) -> Grantee<'_> {
        Grantee::new(self.key, self.user)
    }

    /// Checks whether the deadline has passed.
    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Shortens `requested` to the time left before the deadline.
    pub fn step_timeout(&self, requested: Duration) -> Duration {
        requested.min(self.deadline.saturating_duration_since(Instant::now()))
    }

    /// Runs `step` until the deadline; `None` when the deadline came first.
    pub async fn within<T>(&self, step: impl Future<Output = T>) -> Option<T> {
        tokio::time::timeout_at(self.deadline, step).await.ok()
    }

    /// Builds the check of a step cut off by the deadline.
    pub fn timed_out(&self, name: CheckName) -> Check {
        Check::fail(
            name,
            format!("The step did not finish within the verification's time limit of {} s.", self.limit.as_secs()),
            "Google answered too slowly; this is not a Workspace setting. Run the verification again in a few minutes.",
        )
    }

    /// Builds the check of a step not started because the deadline had passed.
    pub fn out_of_time(&self, name: CheckName) -> Check {
        Check::skipped(
            name,
            format!(
                "Not run: the verification reached its time limit of {} s.",
                self.limit.as_secs()
            ),
        )
    }

    /// Runs every check in order.
    pub async fn checks(&self, metadata: &CredentialMetadata) -> Findings {
        let key = key_check::check(self.key, metadata, chrono::Utc::now());
        if key.failed() {
            return key_failed(key);
        }
        let mut checks = vec![key];

        let clock = if self.expired() {
            self.out_of_time(CheckName::Clock)
        } else {
            let timeout = self.step_timeout(self.state.settings.google.token_timeout());
            clock::check(&self.client, &self.key.token_uri, timeout).await
        };
        checks.push(clock);

        let delegation = delegation::check(self).await;
        checks.extend(delegation.checks.iter().cloned());

        let apis = apis::check(self, &delegation).await;
        checks.extend(apis.checks.iter().cloned());

        let (sync_check, sync) =
            apis::sync_check(self, delegation.contacts_scope.as_deref(), &apis).await;
        checks.push(sync_check);

        Findings {
            checks,
            contacts_scope: delegation.contacts_scope,
            sync,
        }
    }
}

/// Findings when the key itself is unusable: every other check is skipped.
fn key_failed(key: Check) -> Findings {
    let mut checks = vec![key];
    checks.extend(
        CheckName::ALL
            .into_iter()
            .skip(1)
            .map(|name| Check::skipped(name, "Not run: the key check failed.")),
    );
    Findings {
        checks,
        contacts_scope: None,
        sync: None,
    }
}
