//! The API checks (one harmless read per API) and the read-only test
//! synchronization. Both go through the same hubs and token cache as the
//! contacts and events endpoints, so they prove the path those endpoints use.

use std::time::Instant;

use google_people1::FieldMask;

use super::delegation::Delegation;
use super::model::{Check, CheckName, CheckStatus, SyncSummary};
use super::probe::{self, ProbeFailure};
use super::run::Run;
use crate::google::{scopes, GoogleApi, GoogleError};

/// The People resource of the impersonated user.
const ME: &str = "people/me";

/// The user's primary calendar.
const PRIMARY: &str = "primary";

/// Contacts per page of the test synchronization (the People API maximum).
const CONTACTS_PAGE_SIZE: i32 = 1000;

/// Events per page of the test synchronization (the Calendar API maximum).
const EVENTS_PAGE_SIZE: i32 = 2500;

/// Pages read per resource at most. Google caps a user at 25,000 contacts,
/// which is 25 pages, so the bound only stops a paging loop that never ends.
const MAX_PAGES: u32 = 100;

/// Days ahead that the events pass covers.
const WINDOW_DAYS: u32 = 30;

/// Results of the API checks.
pub struct ApiChecks {
    /// `api.people`, `api.calendar`, `api.gmail`.
    pub checks: Vec<Check>,
    /// Whether the People API responded.
    pub people: bool,
    /// Whether the Calendar API responded.
    pub calendar: bool,
}

/// Runs one read per API for which a token was issued.
pub async fn check(run: &Run<'_>, delegation: &Delegation) -> ApiChecks {
    let people = match &delegation.contacts_scope {
        Some(scope) => people_check(run, scope).await,
        None => Check::skipped(
            CheckName::ApiPeople,
            "Not run: no contacts scope is authorized (see delegation.contacts).",
        ),
    };
    let calendar = if delegation.calendar {
        calendar_check(run).await
    } else {
        no_token(
            CheckName::ApiCalendar,
            scopes::CALENDAR,
            "delegation.calendar",
        )
    };
    let gmail = if delegation.gmail {
        gmail_check(run).await
    } else {
        no_token(
            CheckName::ApiGmail,
            scopes::GMAIL_COMPOSE,
            "delegation.gmail",
        )
    };

    ApiChecks {
        people: people.status == CheckStatus::Pass,
        calendar: calendar.status == CheckStatus::Pass,
        checks: vec![people, calendar, gmail],
    }
}

fn no_token(name: CheckName, scope: &str, cause: &str) -> Check {
    Check::skipped(
        name,
        format!("Not run: no token for scope {scope} (see {cause})."),
    )
}

async fn people_check(run: &Run<'_>, scope: &str) -> Check {
    let name = CheckName::ApiPeople;
    if run.expired() {
        return run.out_of_time(name);
    }

    let hub = run.state.google.people(run.key, run.user, scope);
    let call = || {
        hub.people()
            .connections_list(ME)
            .page_size(1)
            .person_fields(FieldMask::new(&["names"]))
            .doit()
    };
    match run
        .within(run.state.google.read(GoogleApi::People, call))
        .await
    {
        None => run.timed_out(name),
        Some(Ok(_)) => Check::pass(
            name,
            format!(
                "People API answered people.connections.list for {}.",
                run.user
            ),
        ),
        Some(Err(error)) => api_failure(run, name, scope, &error),
    }
}

async fn calendar_check(run: &Run<'_>) -> Check {
    let name = CheckName::ApiCalendar;
    if run.expired() {
        return run.out_of_time(name);
    }

    let hub = run.state.google.calendar(run.key, run.user);
    let call = || hub.events().list(PRIMARY).max_results(1).doit();
    match run
        .within(run.state.google.read(GoogleApi::Calendar, call))
        .await
    {
        None => run.timed_out(name),
        Some(Ok(_)) => Check::pass(
            name,
            format!(
                "Calendar API answered events.list on the primary calendar of {}.",
                run.user
            ),
        ),
        Some(Err(error)) => api_failure(run, name, scopes::CALENDAR, &error),
    }
}

async fn gmail_check(run: &Run<'_>) -> Check {
    let name = CheckName::ApiGmail;
    if run.expired() {
        return run.out_of_time(name);
    }

    let hub = run.state.google.gmail(run.key, run.user);
    let call = || hub.users().get_profile("me").doit();
    match run
        .within(run.state.google.read(GoogleApi::Gmail, call))
        .await
    {
        None => run.timed_out(name),
        Some(Ok(_)) => Check::pass(
            name,
            format!("Gmail API answered users.getProfile for {}.", run.user),
        ),
        Some(Err(error)) => api_failure(run, name, scopes::GMAIL_COMPOSE, &error),
    }
}

/// Turns a failed API call into a failed check that names the fix.
fn api_failure(run: &Run<'_>, name: CheckName, scope: &str, error: &GoogleError) -> Check {
    let evidence = format!("{}.", error.to_string().trim_end_matches('.'));
    match error {
        GoogleError::ApiDisabled(failure) => Check::fail(name, evidence, enable_api(run, failure.api, &failure.message)),
        GoogleError::ScopeNotGranted(_) if scope == scopes::CONTACTS_LEGACY => Check::fail(
            name,
            evidence,
            format!(
                "The People API does not accept the legacy scope {scope} for this call. {}",
                probe::not_delegated(&run.key.client_id, scopes::CONTACTS)
            ),
        ),
        GoogleError::ScopeNotGranted(_) => Check::fail(name, evidence, probe::not_delegated(&run.key.client_id, scope)),
        GoogleError::Token(token_error) => {
            let failure = match token_error.oauth_error() {
                Some((error, description)) => ProbeFailure::Rejected {
                    error: error.to_owned(),
                    description: description.map(str::to_owned),
                },
                None => ProbeFailure::Unanswered { reason: token_error.to_string() },
            };
            Check::fail(name, evidence, failure.remediation(&run.grantee(), scope))
        }
        error if error.is_retryable() || matches!(error, GoogleError::Timeout { .. } | GoogleError::InvalidResponse { .. }) => {
            Check::fail(
                name,
                evidence,
                "Google did not complete the call; this is not a Workspace setting. Run the verification again in a few minutes.",
            )
        }
        _ => Check::fail(
            name,
            evidence,
            "Give this text to the Workspace administrator; the gateway does not know a fix for it.",
        ),
    }
}

/// Names the API to enable, with the console link from Google's message when it has one.
fn enable_api(run: &Run<'_>, api: GoogleApi, message: &str) -> String {
    let link = console_link(message).unwrap_or_else(|| {
        let project = run
            .project_id
            .map(|project| format!("?project={project}"))
            .unwrap_or_default();
        format!(
            "https://console.cloud.google.com/apis/library/{}{project}",
            api.service_name()
        )
    });
    let project = run
        .project_id
        .map(|project| format!(" {project}"))
        .unwrap_or_default();
    format!(
        "Enable the {api} ({}) in the Google Cloud project{project} of the service account: {link}. Google applies the change within a few minutes; then run the verification again.",
        api.service_name()
    )
}

/// Finds the first Google Cloud console URL in `message`.
fn console_link(message: &str) -> Option<String> {
    message
        .split_whitespace()
        .find(|word| {
            word.starts_with("https://console.developers.google.com/")
                || word.starts_with("https://console.cloud.google.com/")
        })
        .map(|word| word.trim_end_matches(['.', ',', ')']).to_owned())
}

/// Runs the read-only synchronization when both the People and Calendar APIs responded.
pub async fn sync_check(
    run: &Run<'_>,
    contacts_scope: Option<&str>,
    apis: &ApiChecks,
) -> (Check, Option<SyncSummary>) {
    let name = CheckName::TestSync;
    let (Some(scope), true, true) = (contacts_scope, apis.people, apis.calendar) else {
        return (
            Check::skipped(
                name,
                "Not run: the People or Calendar API check did not pass.",
            ),
            None,
        );
    };
    if run.expired() {
        return (run.out_of_time(name), None);
    }

    let contacts = match run.within(read_contacts(run, scope)).await {
        None => return (run.timed_out(name), None),
        Some(Err(error)) => return (api_failure(run, name, scope, &error), None),
        Some(Ok(pass)) => pass,
    };
    let events = match run.within(read_events(run)).await {
        None => return (run.timed_out(name), None),
        Some(Err(error)) => return (api_failure(run, name, scopes::CALENDAR, &error), None),
        Some(Ok(pass)) => pass,
    };

    let summary = SyncSummary {
        contacts: contacts.items,
        contact_pages: contacts.pages,
        contacts_ms: contacts.millis,
        events: events.items,
        event_pages: events.pages,
        events_ms: events.millis,
        window_days: WINDOW_DAYS,
    };
    (
        sync_result(&summary, contacts.complete && events.complete),
        Some(summary),
    )
}

fn sync_result(summary: &SyncSummary, complete: bool) -> Check {
    let pages = |count: u32| {
        if count == 1 {
            "1 page".to_owned()
        } else {
            format!("{count} pages")
        }
    };
    let evidence = format!(
        "Read {} contacts in {} ({} ms) and {} events of the next {} days in {} ({} ms).",
        summary.contacts,
        pages(summary.contact_pages),
        summary.contacts_ms,
        summary.events,
        summary.window_days,
        pages(summary.event_pages),
        summary.events_ms
    );
    if complete {
        return Check::pass(CheckName::TestSync, evidence);
    }
    Check::warn(
        CheckName::TestSync,
        format!("{evidence} Reading stopped after {MAX_PAGES} pages of one resource."),
        "Google kept returning further pages; report this brokerage to the gateway's developers.",
    )
}

/// Counts and duration of one read-only pass.
struct Pass {
    items: u64,
    pages: u32,
    millis: u64,
    complete: bool,
}

impl Pass {
    fn finish(items: u64, pages: u32, started: Instant, complete: bool) -> Self {
        let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Self {
            items,
            pages,
            millis,
            complete,
        }
    }
}

async fn read_contacts(run: &Run<'_>, scope: &str) -> Result<Pass, GoogleError> {
    let hub = run.state.google.people(run.key, run.user, scope);
    let started = Instant::now();
    let (mut items, mut pages) = (0u64, 0u32);
    let mut page_token: Option<String> = None;

    while pages < MAX_PAGES {
        let call = || {
            let mut call = hub
                .people()
                .connections_list(ME)
                .page_size(CONTACTS_PAGE_SIZE)
                .person_fields(FieldMask::new(&["names"]));
            if let Some(token) = &page_token {
                call = call.page_token(token);
            }
            call.doit()
        };
        let (_, page) = run.state.google.read(GoogleApi::People, call).await?;

        pages += 1;
        items += page
            .connections
            .map_or(0, |connections| connections.len() as u64);
        page_token = page.next_page_token.filter(|token| !token.is_empty());
        if page_token.is_none() {
            return Ok(Pass::finish(items, pages, started, true));
        }
    }
    Ok(Pass::finish(items, pages, started, false))
}

async fn read_events(run: &Run<'_>) -> Result<Pass, GoogleError> {
    let hub = run.state.google.calendar(run.key, run.user);
    let started = Instant::now();
    let time_min = chrono::Utc::now();
    let time_max = time_min + chrono::Duration::days(i64::from(WINDOW_DAYS));
    let (mut items, mut pages) = (0u64, 0u32);
    let mut page_token: Option<String> = None;

    while pages < MAX_PAGES {
        let call = || {
            let mut call = hub
                .events()
                .list(PRIMARY)
                .time_min(time_min)
                .time_max(time_max)
                .single_events(true)
                .max_results(EVENTS_PAGE_SIZE);
            if let Some(token) = &page_token {
                call = call.page_token(token);
            }
            call.doit()
        };
        let (_, page) = run.state.google.read(GoogleApi::Calendar, call).await?;

        pages += 1;
        items += page.items.map_or(0, |events| events.len() as u64);
        page_token = page.next_page_token.filter(|token| !token.is_empty());
        if page_token.is_none() {
            return Ok(Pass::finish(items, pages, started, true));
        }
    }
    Ok(Pass::finish(items, pages, started, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_link_is_taken_from_message() {
        let message = "People API has not been used in project 123 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/people.googleapis.com/overview?project=123 then retry.";

        assert_eq!(
            console_link(message).as_deref(),
            Some("https://console.developers.google.com/apis/api/people.googleapis.com/overview?project=123")
        );
        assert_eq!(console_link("no link here"), None);
    }
}
