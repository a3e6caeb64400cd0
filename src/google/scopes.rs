//! OAuth scopes the gateway requests. Each token carries exactly one of them, so a
//! grant missing for one API cannot break calls to the others.

/// People API read and write access to the user's contacts.
pub const CONTACTS: &str = "https://www.googleapis.com/auth/contacts";

/// Scope of the Contacts API that Google shut down in 2022. Some brokerages
/// authorized only this one, so the contacts scope is a per-brokerage setting.
pub const CONTACTS_LEGACY: &str = "https://www.google.com/m8/feeds";

/// Calendar API read and write access to the user's calendars.
pub const CALENDAR: &str = "https://www.googleapis.com/auth/calendar";

/// Gmail API scope that allows sending mail and reading the user's profile.
pub const GMAIL_COMPOSE: &str = "https://www.googleapis.com/auth/gmail.compose";
