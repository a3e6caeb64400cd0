//! In-memory state of the emulated Google world: domains and users, service accounts and their
//! keys, delegations, projects, access tokens, and per-user contacts, calendar and mail.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::contacts::ContactBook;
use crate::events::Calendar;
use crate::faults::FaultRule;
use crate::gmail::Mailbox;

/// Shared handle to the emulator state, cloned into every handler.
pub type AppState = Arc<Shared>;

/// Everything the handlers share.
#[derive(Debug)]
pub struct Shared {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base_url: String,
    /// The emulator clock.
    pub clock: Clock,
    /// Token requests served, successful or not.
    pub token_exchanges: AtomicU64,
    /// People, Calendar and Gmail requests served, successful or not.
    pub api_calls: AtomicU64,
    world: Mutex<World>,
}

impl Shared {
    /// Creates empty state for a server reachable at `base_url`.
    pub fn new(base_url: String) -> Self {
        Self {
            base_url,
            clock: Clock::default(),
            token_exchanges: AtomicU64::new(0),
            api_calls: AtomicU64::new(0),
            world: Mutex::new(World::default()),
        }
    }

    /// Locks the world. A panic in another handler leaves the data usable, so a poisoned lock is
    /// taken over instead of propagating the panic.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Returns the token endpoint URL.
    pub fn token_uri(&self) -> String {
        format!("{}/token", self.base_url)
    }

    /// Counts one API request.
    pub fn count_api_call(&self) {
        self.api_calls.fetch_add(1, Ordering::Relaxed);
    }
}

/// The mutable world behind the lock.
#[derive(Debug, Default)]
pub struct World {
    /// Workspace domains by name (lowercase).
    pub domains: BTreeMap<String, Domain>,
    /// Service accounts by numeric client ID.
    pub service_accounts: BTreeMap<String, ServiceAccountRecord>,
    /// Cloud projects by project ID.
    pub projects: BTreeMap<String, Project>,
    /// Issued access tokens by SHA-256 of the token, so the tokens themselves are not kept.
    pub tokens: HashMap<[u8; 32], AccessGrant>,
    /// Injected failures, matched in order.
    pub faults: Vec<FaultRule>,
    /// Source of change sequence numbers for contacts and events, shared by all users.
    pub change_seq: u64,
}

impl World {
    /// Returns the next change sequence number.
    pub fn next_seq(&mut self) -> u64 {
        self.change_seq += 1;
        self.change_seq
    }

    /// Finds a user by address (case-insensitive).
    pub fn user(&self, email: &str) -> Option<&User> {
        let email = email.to_ascii_lowercase();
        let domain = domain_of(&email)?;
        self.domains.get(domain)?.users.get(&email)
    }

    /// Finds a user by address for modification.
    pub fn user_mut(&mut self, email: &str) -> Option<&mut User> {
        let email = email.to_ascii_lowercase();
        let domain = domain_of(&email)?.to_string();
        self.domains.get_mut(&domain)?.users.get_mut(&email)
    }

    /// Finds a service account by its client email.
    pub fn service_account_by_email(&self, email: &str) -> Option<&ServiceAccountRecord> {
        self.service_accounts
            .values()
            .find(|account| account.client_email.eq_ignore_ascii_case(email))
    }

    /// Returns the project, creating it with a random 12-digit number when new.
    pub fn project_mut(&mut self, project_id: &str) -> &mut Project {
        self.projects
            .entry(project_id.to_string())
            .or_insert_with(|| Project {
                number: crate::keys::random_digits(12),
                disabled_apis: BTreeSet::new(),
            })
    }

    /// Looks up an access token.
    pub fn grant(&self, token: &str) -> Option<&AccessGrant> {
        self.tokens.get(&token_digest(token))
    }
}

/// A Workspace domain.
#[derive(Debug, Default)]
pub struct Domain {
    /// Users by lowercase address.
    pub users: BTreeMap<String, User>,
    /// Domain-wide delegation: client ID to the scopes authorized for it.
    pub delegations: BTreeMap<String, BTreeSet<String>>,
}

/// A mailbox of a domain with its data.
#[derive(Debug)]
pub struct User {
    /// Lowercase address.
    pub email: String,
    /// A suspended user cannot be impersonated.
    pub suspended: bool,
    /// People API contacts.
    pub contacts: ContactBook,
    /// The primary calendar.
    pub calendar: Calendar,
    /// Gmail data.
    pub mailbox: Mailbox,
}

impl User {
    /// Creates an active user with no data.
    pub fn new(email: &str) -> Self {
        Self {
            email: email.to_ascii_lowercase(),
            suspended: false,
            contacts: ContactBook::default(),
            calendar: Calendar::default(),
            mailbox: Mailbox::default(),
        }
    }
}

/// A service account and its public keys.
#[derive(Debug)]
pub struct ServiceAccountRecord {
    /// 21-digit OAuth client ID.
    pub client_id: String,
    /// `name@project.iam.gserviceaccount.com`.
    pub client_email: String,
    /// Owning project.
    pub project_id: String,
    /// A disabled account gets "Robot is disabled." at the token endpoint.
    pub disabled: bool,
    /// Keys, including deleted ones, so a deleted key is known and rejected.
    pub keys: Vec<KeyRecord>,
}

/// Public half of a service-account key.
#[derive(Debug)]
pub struct KeyRecord {
    /// 40 hex digits.
    pub private_key_id: String,
    /// PKCS#1 DER public key.
    pub public_key_der: Vec<u8>,
    /// Deleted keys no longer verify.
    pub deleted: bool,
}

/// A Cloud project.
#[derive(Debug)]
pub struct Project {
    /// 12-digit project number shown in Google's errors.
    pub number: String,
    /// Service names (`gmail.googleapis.com`, ...) switched off in this project.
    pub disabled_apis: BTreeSet<String>,
}

/// Grant behind an access token: user, scopes, project and expiry.
#[derive(Debug, Clone)]
pub struct AccessGrant {
    /// The impersonated user; `None` when the JWT had no `sub`.
    pub user: Option<String>,
    /// Scopes granted.
    pub scopes: BTreeSet<String>,
    /// Project of the service account that obtained the token.
    pub project_id: String,
    /// Expiry on the emulator clock.
    pub expires_at: DateTime<Utc>,
}

/// Hashes an access token for storage.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Returns the domain part of an address.
pub fn domain_of(email: &str) -> Option<&str> {
    let (local, domain) = email.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() {
        return None;
    }
    Some(domain)
}
