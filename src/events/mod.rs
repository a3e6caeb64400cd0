//! Calendar events of enrolled users, read and written live on the user's
//! primary Google calendar through domain-wide delegation.
//!
//! `handlers` contains the routes, `validation` the input checks, `mapping` the
//! conversion to and from google-calendar3, and `service` the Google calls.

mod handlers;
pub mod mapping;
pub mod model;
mod service;
pub mod validation;

#[cfg(test)]
mod tests;

pub use handlers::{router, ApiDoc};
pub use model::{
    Attendee, Event, EventPage, EventPatch, EventStatus, EventTime, NewEvent, ReminderMethod,
    ReminderOverride, Reminders, ResponseStatus, SendUpdates,
};
