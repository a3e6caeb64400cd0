//! Contacts of enrolled users, read and written live in the user's Google
//! Contacts through the People API and domain-wide delegation.
//!
//! `handlers` contains the routes, `validation` the input checks, `mapping` the
//! conversion to and from google-people1, and `service` the Google calls.

mod handlers;
pub mod mapping;
pub mod model;
mod service;
pub mod validation;

#[cfg(test)]
mod tests;

pub use handlers::{router, ApiDoc};
pub use model::{
    Birthday, Contact, ContactName, ContactPage, ContactPatch, EmailAddress, NewContact,
    Organization, PhoneNumber, PostalAddress,
};
