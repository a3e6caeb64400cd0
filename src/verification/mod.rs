//! Credential verification: proves, for a test user of the brokerage, that its
//! service-account key works for every scope and API the gateway needs, by a real
//! read-only synchronization, and names what the Workspace administrator must
//! change when it does not. A pending key that verifies replaces the active key.

mod apis;
mod clock;
mod delegation;
mod http;
mod key_check;
pub mod model;
mod probe;
mod run;
pub mod service;
pub mod store;

pub use http::{router, ApiDoc};
pub use model::{Check, CheckName, CheckStatus, Outcome, SyncSummary, VerificationReport};
