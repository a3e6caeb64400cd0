//! Contacts of enrolled users, read and written live in the user's Google
//! Contacts through the People API and domain-wide delegation.
//!
//! `handlers` contains the routes, `validation` the input checks, `mapping` the
//! conversion to and from google-people1, and `service` the Google calls.
//!
//! A create without an `Idempotency-Key` calls Google once, and a caller that
//! retries it after a lost response can create a duplicate. With a key, the
//! create is recorded in `contact_creations` with status `creating` before
//! Google is called, and the new contact carries the key as a People
//! `clientData` entry (`workspace-gateway-idempotency-key`). The row then
//! moves to one of:
//!
//! - `created`: Google returned the contact, whose resource name is stored. A
//!   retry with the same key and body reads that contact from Google and
//!   returns it with 200 and `Idempotent-Replayed: true`, or 404
//!   `contact_not_found` if it was deleted since.
//! - `failed`: nothing was created, because Google responded with a 4xx error
//!   (scope not delegated, rate limit, invalid value) or no access token was
//!   obtained. A retry with the same key creates again.
//! - `unknown`: Google returned no usable response (timeout, broken
//!   connection, 5xx), so the contact may exist. A retry with the same key
//!   lists the user's contacts for one carrying the key in `clientData`: if it
//!   finds one, it records it as `created` and returns it as a replay, and
//!   otherwise it creates the contact.
//!
//! A row left `creating` by a stopped process is moved to `unknown` by the
//! first retry that reads it after the longest possible create, so a key never
//! blocks forever. That is one token exchange, three request timeouts for the
//! lookup and the create, and a minute. Until then a retry gets 409
//! `idempotency_in_progress` with `Retry-After`. A retry with the same key and
//! another body gets 422 `idempotency_key_reused`.
//!
//! Concurrent requests with one key race on the primary key over (brokerage,
//! user, key), and retries of a failed or unknown create race on a
//! compare-and-set update, so only one request calls Google. Every create, and
//! the lookup before it, holds the user's mutation lock.

mod create;
mod handlers;
pub mod idempotency;
pub mod mapping;
pub mod model;
mod service;
pub mod store;
pub mod validation;

#[cfg(test)]
mod tests;

pub use handlers::{router, ApiDoc};
pub use model::{
    Birthday, Contact, ContactName, ContactPage, ContactPatch, EmailAddress, NewContact,
    Organization, PhoneNumber, PostalAddress,
};
