//! Brokerages: one customer's Google Workspace, its mail domains and test user.

mod http;
pub mod store;

pub use http::{router, ApiDoc, BrokerageRequest};

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;

/// A customer brokerage as returned by the API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Brokerage {
    /// Id chosen by the caller: lower-case letters, digits and `-`.
    pub id: String,
    /// Name shown to people.
    pub display_name: String,
    /// Mail domains of the brokerage's Google Workspace; enrolled users must belong to one.
    pub domains: Vec<String>,
    /// Mailbox used to verify the credentials.
    pub test_user: String,
    /// Contacts scope chosen for this brokerage; `null` means the gateway's default.
    pub contacts_scope: Option<String>,
    /// `none`, `unverified`, `verified`, `verification_failed` or `revoked`.
    pub credential_status: String,
    /// Time of the last successful verification.
    pub last_verified_at: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl Brokerage {
    /// Returns the brokerage's contacts scope, or `default` when it has not chosen one.
    pub fn contacts_scope_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.contacts_scope.as_deref().unwrap_or(default)
    }

    /// Checks whether `email` (normalized) belongs to one of the brokerage's domains.
    pub fn owns_address(&self, email: &str) -> bool {
        let domain = crate::validate::email_domain(email);
        self.domains.iter().any(|own| own == domain)
    }
}

/// Builds the 404 for a brokerage that does not exist or that the caller may not see.
pub fn not_found(brokerage_id: &str) -> ApiError {
    ApiError::not_found(
        "brokerage_not_found",
        format!("No brokerage with id {brokerage_id:?} exists for this API key."),
    )
}

/// Loads a brokerage or returns the 404 problem.
pub async fn require(db: &crate::storage::Db, brokerage_id: &str) -> Result<Brokerage, ApiError> {
    store::get(db, brokerage_id)
        .await?
        .ok_or_else(|| not_found(brokerage_id))
}
