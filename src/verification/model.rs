//! The verification report as the API returns it and the database stores it:
//! one entry per check, the outcome, and what to enter in the Admin console.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::credentials::AdminConsoleGrant;

/// Checks a verification runs, in this order. A check that cannot run because
/// an earlier one failed is reported as `skipped`.
///
/// - `key`: the stored key file parses, contains an RSA private key that matches the
///   uploaded public key fingerprint, and has a key id. `warn` when the key was
///   uploaded more than 90 days ago, because Google recommends rotating keys.
/// - `clock`: the gateway's clock against the `Date` header of the key's token
///   endpoint. `fail` beyond 30 seconds of difference, because Google then
///   rejects every assertion as Invalid JWT.
/// - `delegation.calendar`, `delegation.gmail`, `delegation.contacts`: a token
///   exchange for the test user with only that scope
///   (`https://www.googleapis.com/auth/calendar`,
///   `https://www.googleapis.com/auth/gmail.compose`, the contacts scope). `fail`
///   names the Admin console change: a scope not authorized for the client ID, a
///   test user that does not exist or is suspended, a deleted key, a disabled
///   service account.
/// - `contacts_scope`: which contacts scope works, the brokerage's configured one
///   first. `warn` when only the legacy `https://www.google.com/m8/feeds` works
///   (the gateway then uses it for this brokerage); `fail` when neither works.
/// - `api.people`, `api.calendar`, `api.gmail`: one read-only call per API with the
///   test user's token. `fail` names the API to enable in the service account's
///   Cloud project, with Google's console link.
/// - `test_sync`: a full read-only pass over the test user's contacts and the next
///   30 days of primary-calendar events, with counts and durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum CheckName {
    /// The stored key file.
    #[serde(rename = "key")]
    Key,
    /// Clock difference to Google.
    #[serde(rename = "clock")]
    Clock,
    /// Delegation of the calendar scope.
    #[serde(rename = "delegation.calendar")]
    DelegationCalendar,
    /// Delegation of the Gmail compose scope.
    #[serde(rename = "delegation.gmail")]
    DelegationGmail,
    /// Delegation of a contacts scope.
    #[serde(rename = "delegation.contacts")]
    DelegationContacts,
    /// Choice of the contacts scope.
    #[serde(rename = "contacts_scope")]
    ContactsScope,
    /// People API enabled.
    #[serde(rename = "api.people")]
    ApiPeople,
    /// Calendar API enabled.
    #[serde(rename = "api.calendar")]
    ApiCalendar,
    /// Gmail API enabled.
    #[serde(rename = "api.gmail")]
    ApiGmail,
    /// Read-only synchronization of the test user.
    #[serde(rename = "test_sync")]
    TestSync,
}

impl CheckName {
    /// Every check in the order the verification runs them.
    pub const ALL: [CheckName; 10] = [
        CheckName::Key,
        CheckName::Clock,
        CheckName::DelegationCalendar,
        CheckName::DelegationGmail,
        CheckName::DelegationContacts,
        CheckName::ContactsScope,
        CheckName::ApiPeople,
        CheckName::ApiCalendar,
        CheckName::ApiGmail,
        CheckName::TestSync,
    ];

    /// Returns the name as it appears in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Key => "key",
            CheckName::Clock => "clock",
            CheckName::DelegationCalendar => "delegation.calendar",
            CheckName::DelegationGmail => "delegation.gmail",
            CheckName::DelegationContacts => "delegation.contacts",
            CheckName::ContactsScope => "contacts_scope",
            CheckName::ApiPeople => "api.people",
            CheckName::ApiCalendar => "api.calendar",
            CheckName::ApiGmail => "api.gmail",
            CheckName::TestSync => "test_sync",
        }
    }
}

/// Result of one check.
///
/// - `pass`: works as the gateway needs it.
/// - `warn`: works, but something should change soon (an old key, the legacy
///   contacts scope). A warning does not fail the verification.
/// - `fail`: does not work, and `remediation` states what to change.
/// - `skipped`: not run, because an earlier check failed or the time limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Works as needed.
    Pass,
    /// Works, with a recommended change.
    Warn,
    /// Does not work.
    Fail,
    /// Not run.
    Skipped,
}

/// One check of a verification.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "name": "delegation.gmail",
    "status": "fail",
    "evidence": "Google refused a token for it-test@acme-realty.com with only scope https://www.googleapis.com/auth/gmail.compose: unauthorized_client (Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.)",
    "remediation": "Client ID 113456789012345678901 is not authorized for scope https://www.googleapis.com/auth/gmail.compose in the Admin console (Security > API controls > Domain-wide delegation). A super administrator adds the scope to that client ID's entry, or opens the admin_console link. Changes can take from a few minutes to a few hours to apply."
}))]
pub struct Check {
    /// Check name.
    #[schema(value_type = CheckName)]
    pub name: String,
    /// `pass`, `warn`, `fail` or `skipped`.
    pub status: CheckStatus,
    /// Observations of the gateway, including Google's own error text.
    pub evidence: String,
    /// Change to make and who makes it; `null` when nothing needs to change.
    pub remediation: Option<String>,
}

impl Check {
    /// Builds a check that passed.
    pub fn pass(name: CheckName, evidence: impl Into<String>) -> Self {
        Self::new(name, CheckStatus::Pass, evidence, None)
    }

    /// Builds a check that passed with a recommended change.
    pub fn warn(
        name: CheckName,
        evidence: impl Into<String>,
        remediation: impl Into<String>,
    ) -> Self {
        Self::new(name, CheckStatus::Warn, evidence, Some(remediation.into()))
    }

    /// Builds a check that failed.
    pub fn fail(
        name: CheckName,
        evidence: impl Into<String>,
        remediation: impl Into<String>,
    ) -> Self {
        Self::new(name, CheckStatus::Fail, evidence, Some(remediation.into()))
    }

    /// Builds a check that did not run, with the reason.
    pub fn skipped(name: CheckName, evidence: impl Into<String>) -> Self {
        Self::new(name, CheckStatus::Skipped, evidence, None)
    }

    fn new(
        name: CheckName,
        status: CheckStatus,
        evidence: impl Into<String>,
        remediation: Option<String>,
    ) -> Self {
        Self {
            name: name.as_str().to_owned(),
            status,
            evidence: evidence.into(),
            remediation,
        }
    }

    /// Returns whether this check failed.
    pub fn failed(&self) -> bool {
        self.status == CheckStatus::Fail
    }
}

/// Outcome of a verification.
///
/// - `verified`: no check failed (warnings allowed). A pending key that verifies
///   replaces the active key.
/// - `verification_failed`: at least one check failed; the failed checks' remediation
///   and `admin_console` state what the Workspace administrator must change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every check passed or warned.
    Verified,
    /// At least one check failed.
    VerificationFailed,
}

impl Outcome {
    /// Returns the outcome as stored and audited.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Verified => "verified",
            Outcome::VerificationFailed => "verification_failed",
        }
    }

    /// `verification_failed` when any check failed, else `verified`.
    pub fn of(checks: &[Check]) -> Self {
        if checks.iter().any(Check::failed) {
            Outcome::VerificationFailed
        } else {
            Outcome::Verified
        }
    }
}

/// Counts and durations of the read-only test synchronization.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({ "contacts": 412, "contact_pages": 1, "contacts_ms": 640, "events": 37, "event_pages": 1, "events_ms": 210, "window_days": 30 }))]
pub struct SyncSummary {
    /// Contacts read.
    pub contacts: u64,
    /// People API pages read.
    pub contact_pages: u32,
    /// Milliseconds the contacts pass took.
    pub contacts_ms: u64,
    /// Events of the primary calendar starting in the window, recurring events expanded.
    pub events: u64,
    /// Calendar API pages read.
    pub event_pages: u32,
    /// Milliseconds the events pass took.
    pub events_ms: u64,
    /// Days from now that the events pass covers.
    pub window_days: u32,
}

/// A verification report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0b9f6c1e-5d0e-4a53-9d4e-2b1f1f7f3a10",
    "brokerage_id": "acme-realty",
    "started_at": "2026-03-02T14:05:11.201Z",
    "finished_at": "2026-03-02T14:05:13.877Z",
    "api_key_id": "support-7f3a",
    "test_user": "it-test@acme-realty.com",
    "credential_version": 2,
    "credential_state": "pending",
    "client_id": "113456789012345678901",
    "outcome": "verification_failed",
    "key_activated": false,
    "contacts_scope": "https://www.googleapis.com/auth/contacts",
    "checks": [
        { "name": "key", "status": "pass", "evidence": "RSA 2048-bit key 8f2c61d0e4b7a9f3 of gateway@acme-crm.iam.gserviceaccount.com (client ID 113456789012345678901), uploaded 0 days ago.", "remediation": null },
        { "name": "clock", "status": "pass", "evidence": "The gateway's clock is 0 s behind the Date header of https://oauth2.googleapis.com/token (limit 30 s).", "remediation": null },
        { "name": "delegation.calendar", "status": "pass", "evidence": "Google issued a token for it-test@acme-realty.com with only scope https://www.googleapis.com/auth/calendar.", "remediation": null },
        { "name": "delegation.gmail", "status": "fail", "evidence": "Google refused a token for it-test@acme-realty.com with only scope https://www.googleapis.com/auth/gmail.compose: unauthorized_client (Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.)", "remediation": "Client ID 113456789012345678901 is not authorized for scope https://www.googleapis.com/auth/gmail.compose in the Admin console (Security > API controls > Domain-wide delegation). A super administrator adds the scope to that client ID's entry, or opens the admin_console link. Changes can take from a few minutes to a few hours to apply." },
        { "name": "delegation.contacts", "status": "pass", "evidence": "Google issued a token for it-test@acme-realty.com with only scope https://www.googleapis.com/auth/contacts.", "remediation": null },
        { "name": "contacts_scope", "status": "pass", "evidence": "The gateway uses https://www.googleapis.com/auth/contacts for this brokerage.", "remediation": null },
        { "name": "api.people", "status": "pass", "evidence": "People API answered people.connections.list for it-test@acme-realty.com.", "remediation": null },
        { "name": "api.calendar", "status": "pass", "evidence": "Calendar API answered events.list on the primary calendar of it-test@acme-realty.com.", "remediation": null },
        { "name": "api.gmail", "status": "skipped", "evidence": "Not run: no token for scope https://www.googleapis.com/auth/gmail.compose (see delegation.gmail).", "remediation": null },
        { "name": "test_sync", "status": "pass", "evidence": "Read 412 contacts in 1 page (640 ms) and 37 events of the next 30 days in 1 page (210 ms).", "remediation": null }
    ],
    "sync": { "contacts": 412, "contact_pages": 1, "contacts_ms": 640, "events": 37, "event_pages": 1, "events_ms": 210, "window_days": 30 },
    "admin_console": {
        "client_id": "113456789012345678901",
        "scopes": "https://www.googleapis.com/auth/contacts,https://www.googleapis.com/auth/calendar,https://www.googleapis.com/auth/gmail.compose",
        "url": "https://admin.google.com/ac/owl/domainwidedelegation?overwriteClientId=true&clientIdToAdd=113456789012345678901&scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcontacts%2Chttps%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcalendar%2Chttps%3A%2F%2Fwww.googleapis.com%2Fauth%2Fgmail.compose"
    }
}))]
pub struct VerificationReport {
    /// Report id.
    pub id: String,
    /// Brokerage verified.
    pub brokerage_id: String,
    /// Start time (RFC 3339).
    pub started_at: String,
    /// End time (RFC 3339).
    pub finished_at: String,
    /// API key that ran the verification.
    pub api_key_id: Option<String>,
    /// Mailbox the checks acted as.
    pub test_user: String,
    /// Version of the key tested: the pending key when there is one, else the active key.
    pub credential_version: i64,
    /// State of the tested key when the run started: `pending` or `active`.
    pub credential_state: String,
    /// Numeric OAuth client ID of the tested key's service account.
    pub client_id: String,
    /// `verified` or `verification_failed`.
    pub outcome: Outcome,
    /// Whether this run made the pending key active (key rotation).
    pub key_activated: bool,
    /// Contacts scope that worked for the test user and that the gateway uses for
    /// this brokerage; `null` when no contacts scope worked.
    pub contacts_scope: Option<String>,
    /// Every check, in the order run.
    pub checks: Vec<Check>,
    /// Counts of the test synchronization, when it ran.
    pub sync: Option<SyncSummary>,
    /// Values for the Admin console's domain-wide delegation form, present when a
    /// check failed. The form replaces the client
    /// ID's scopes with this list, so it always carries every scope the gateway needs.
    // Rebuilt from `client_id` when a stored report is read, because the grant
    // is derived data.
    #[serde(default)]
    pub admin_console: Option<AdminConsoleGrant>,
}

impl VerificationReport {
    /// Fills `admin_console` when the outcome is a failure.
    pub fn attach_admin_console(&mut self) {
        self.admin_console = (self.outcome == Outcome::VerificationFailed)
            .then(|| AdminConsoleGrant::new(&self.client_id, crate::google::scopes::CONTACTS));
    }

    /// Names of the checks that failed.
    pub fn failed_checks(&self) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|check| check.failed())
            .map(|check| check.name.as_str())
            .collect()
    }
}

/// Optional body of `POST .../verifications`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationRequest {
    /// Mailbox to act as instead of the brokerage's test user; it must be in one
    /// of the brokerage's domains.
    #[schema(example = "other@acme-realty.com")]
    pub test_user: Option<String>,
}

/// A page of verification reports, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationPage {
    /// Reports, newest first.
    pub items: Vec<VerificationReport>,
    /// Cursor of the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}
