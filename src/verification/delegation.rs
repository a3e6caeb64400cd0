//! The delegation checks (one token exchange per scope, each scope alone) and
//! the `contacts_scope` check, which finds the contacts scope that works.

use super::model::{Check, CheckName, CheckStatus};
use super::probe::{self, ProbeFailure};
use super::run::Run;
use crate::google::scopes;

/// Results of the delegation checks, for the checks that depend on them.
pub struct Delegation {
    /// `delegation.calendar`, `delegation.gmail`, `delegation.contacts` and `contacts_scope`.
    pub checks: Vec<Check>,
    /// Whether a calendar token was issued.
    pub calendar: bool,
    /// Whether a Gmail compose token was issued.
    pub gmail: bool,
    /// The contacts scope that works, if any.
    pub contacts_scope: Option<String>,
}

/// Outcome of one probe, with its scope.
struct Probe {
    scope: &'static str,
    result: Result<(), ProbeFailure>,
}

/// Runs the delegation and contacts scope checks.
pub async fn check(run: &Run<'_>) -> Delegation {
    let mut checks = Vec::with_capacity(4);

    let calendar = scope_check(run, CheckName::DelegationCalendar, scopes::CALENDAR).await;
    let calendar_ok = calendar.status == CheckStatus::Pass;
    checks.push(calendar);

    let gmail = scope_check(run, CheckName::DelegationGmail, scopes::GMAIL_COMPOSE).await;
    let gmail_ok = gmail.status == CheckStatus::Pass;
    checks.push(gmail);

    let (contacts_checks, contacts_scope) = contacts_checks(run).await;
    checks.extend(contacts_checks);

    Delegation {
        checks,
        calendar: calendar_ok,
        gmail: gmail_ok,
        contacts_scope,
    }
}

async fn scope_check(run: &Run<'_>, name: CheckName, scope: &'static str) -> Check {
    if run.expired() {
        return run.out_of_time(name);
    }

    match probe(run, scope).await.result {
        Ok(()) => Check::pass(name, issued(run, scope)),
        Err(failure) => failed(run, name, scope, &failure),
    }
}

async fn probe(run: &Run<'_>, scope: &'static str) -> Probe {
    let timeout = run.step_timeout(run.state.settings.google.token_timeout());
    let result = probe::exchange(run.client(), run.key, run.user, scope, timeout).await;
    if let Err(failure) = &result {
        tracing::info!(brokerage_id = %run.key.brokerage_id, scope, failure = ?failure, "verification token probe rejected");
    }
    Probe { scope, result }
}

fn issued(run: &Run<'_>, scope: &str) -> String {
    format!(
        "Google issued a token for {} with only scope {scope}.",
        run.user
    )
}

fn failed(run: &Run<'_>, name: CheckName, scope: &str, failure: &ProbeFailure) -> Check {
    let grantee = run.grantee();
    Check::fail(
        name,
        failure.evidence(&grantee, scope),
        failure.remediation(&grantee, scope),
    )
}

/// Returns the brokerage's configured contacts scope and the other one.
fn contacts_candidates(configured: &str) -> (&'static str, &'static str) {
    if configured == scopes::CONTACTS_LEGACY {
        (scopes::CONTACTS_LEGACY, scopes::CONTACTS)
    } else {
        (scopes::CONTACTS, scopes::CONTACTS_LEGACY)
    }
}

/// Probes the configured contacts scope, then the other one when the first is
/// not delegated, and also the current scope when only the legacy one was
/// configured, so that a brokerage moves to the current scope once it is granted.
async fn contacts_checks(run: &Run<'_>) -> (Vec<Check>, Option<String>) {
    if run.expired() {
        return (
            vec![
                run.out_of_time(CheckName::DelegationContacts),
                run.out_of_time(CheckName::ContactsScope),
            ],
            None,
        );
    }

    let (first, second) = contacts_candidates(run.configured_contacts_scope);
    let first = probe(run, first).await;
    let retry = match &first.result {
        Ok(()) => first.scope == scopes::CONTACTS_LEGACY,
        Err(failure) => failure.is_scope_not_delegated(),
    };
    let second = if retry && !run.expired() {
        Some(probe(run, second).await)
    } else {
        None
    };

    // The current scope wins over the legacy one when both work.
    let working = [Some(&first), second.as_ref()]
        .into_iter()
        .flatten()
        .filter(|probe| probe.result.is_ok())
        .map(|probe| probe.scope)
        .min_by_key(|scope| *scope != scopes::CONTACTS);

    let checks = vec![
        delegation_contacts(run, &first, second.as_ref(), working),
        contacts_scope(run, &first, second.as_ref(), working),
    ];
    (checks, working.map(str::to_owned))
}

fn delegation_contacts(
    run: &Run<'_>,
    first: &Probe,
    second: Option<&Probe>,
    working: Option<&str>,
) -> Check {
    if let Some(scope) = working {
        return Check::pass(CheckName::DelegationContacts, issued(run, scope));
    }

    // Report the refusal of the current scope when it was probed, because that
    // is the scope the administrator is asked to add.
    let reported = [Some(first), second]
        .into_iter()
        .flatten()
        .find(|probe| probe.scope == scopes::CONTACTS)
        .unwrap_or(first);
    match &reported.result {
        Err(failure) => failed(run, CheckName::DelegationContacts, reported.scope, failure),
        Ok(()) => Check::pass(CheckName::DelegationContacts, issued(run, reported.scope)),
    }
}

fn contacts_scope(
    run: &Run<'_>,
    first: &Probe,
    second: Option<&Probe>,
    working: Option<&str>,
) -> Check {
    let name = CheckName::ContactsScope;
    let configured = run.configured_contacts_scope;

    match working {
        Some(scopes::CONTACTS) if configured == scopes::CONTACTS => {
            Check::pass(name, format!("The gateway uses {} for this brokerage.", scopes::CONTACTS))
        }
        Some(scopes::CONTACTS) => Check::pass(
            name,
            format!(
                "{} is authorized, so the gateway now uses it instead of the configured {configured}.",
                scopes::CONTACTS
            ),
        ),
        Some(legacy) => Check::warn(
            name,
            format!(
                "Only the legacy scope {legacy} is authorized; {} is not. The gateway uses the legacy scope for this brokerage.",
                scopes::CONTACTS
            ),
            format!(
                "{legacy} belongs to the Contacts API that Google shut down in 2022. In the Admin console ({}), add {} to client ID {}; the next verification then moves the brokerage to it.",
                "Security > API controls > Domain-wide delegation",
                scopes::CONTACTS,
                run.key.client_id
            ),
        ),
        None if second.is_some_and(|probe| probe.result.as_ref().is_err_and(ProbeFailure::is_scope_not_delegated)) => Check::fail(
            name,
            format!(
                "Client ID {} is authorized for neither {} nor the legacy {}.",
                run.key.client_id,
                scopes::CONTACTS,
                scopes::CONTACTS_LEGACY
            ),
            format!(
                "In the Admin console (Security > API controls > Domain-wide delegation), add {} to client ID {}.",
                scopes::CONTACTS,
                run.key.client_id
            ),
        ),
        None => {
            let reason = if first.result.as_ref().is_err_and(ProbeFailure::is_scope_not_delegated) {
                "the verification reached its time limit before the other contacts scope was tried"
            } else {
                "the token request failed for a reason other than the scope (see delegation.contacts)"
            };
            Check::skipped(name, format!("Not decided: {}.", reason.trim_end_matches('.')))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_configuration_tries_current_scope_second() {
        assert_eq!(
            contacts_candidates(scopes::CONTACTS_LEGACY),
            (scopes::CONTACTS_LEGACY, scopes::CONTACTS)
        );
        assert_eq!(
            contacts_candidates(scopes::CONTACTS),
            (scopes::CONTACTS, scopes::CONTACTS_LEGACY)
        );
    }
}
