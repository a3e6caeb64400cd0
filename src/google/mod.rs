//! Google access for one brokerage user at a time through domain-wide delegation.
//!
//! `tokens` exchanges the brokerage's service-account key for access tokens and
//! caches them. `clients` builds the People, Calendar and Gmail hubs that use
//! them. `classify` and `errors` turn Google's failures into stable API errors,
//! and `retry` resends idempotent reads after rate limits and outages.

mod classify;
mod clients;
mod errors;
mod retry;
pub mod scopes;
mod tokens;

#[cfg(test)]
mod tests;

pub use clients::{Connector, GoogleApi, GoogleClients};
pub use errors::{ApiFailure, GoogleError, Grant, TokenError};
pub use tokens::{AccessToken, DelegatedAuth, TokenSource};
