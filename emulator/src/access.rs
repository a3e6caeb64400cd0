//! Authorization of API calls: the bearer token, the service's enablement in the caller's
//! project, the method's scopes, and injected faults, checked in that order.

use axum::http::{header, HeaderMap};

use crate::errors::GoogleError;
use crate::faults::take_fault;
use crate::state::AppState;

/// The emulated Google APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// People API.
    People,
    /// Google Calendar API.
    Calendar,
    /// Gmail API.
    Gmail,
}

impl Api {
    /// Service name used in Cloud project settings.
    pub fn service(self) -> &'static str {
        match self {
            Api::People => "people.googleapis.com",
            Api::Calendar => "calendar-json.googleapis.com",
            Api::Gmail => "gmail.googleapis.com",
        }
    }

    /// Display name in Google's error messages.
    pub fn title(self) -> &'static str {
        match self {
            Api::People => "People API",
            Api::Calendar => "Google Calendar API",
            Api::Gmail => "Gmail API",
        }
    }

    /// Parses a service name (`gmail.googleapis.com`).
    pub fn from_service(service: &str) -> Option<Api> {
        [Api::People, Api::Calendar, Api::Gmail]
            .into_iter()
            .find(|api| api.service() == service)
    }

    /// Parses a short name (`people`, `calendar`, `gmail`).
    pub fn from_short_name(name: &str) -> Option<Api> {
        match name {
            "people" => Some(Api::People),
            "calendar" => Some(Api::Calendar),
            "gmail" => Some(Api::Gmail),
            _ => None,
        }
    }
}

/// An API method with the scopes its discovery document lists.
#[derive(Debug)]
pub struct Method {
    /// The API the method belongs to.
    pub api: Api,
    /// RPC method name reported in ErrorInfo metadata.
    pub rpc_name: &'static str,
    /// Any one of these scopes authorizes the method.
    pub scopes: &'static [&'static str],
}

/// The authorized caller of an API method.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The impersonated user; `None` for a token obtained without `sub`.
    pub user: Option<String>,
}

/// Checks the `Authorization` header of an API call against `method`.
pub fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
) -> Result<Caller, GoogleError> {
    state.count_api_call();

    let token = bearer_token(headers).ok_or_else(|| GoogleError::unauthenticated(true))?;
    let now = state.clock.now();
    let mut world = state.world();
    let grant = world
        .grant(token)
        .filter(|grant| grant.expires_at > now)
        .cloned()
        .ok_or_else(|| GoogleError::unauthenticated(false))?;

    if let Some(project) = world.projects.get(&grant.project_id) {
        if project.disabled_apis.contains(method.api.service()) {
            return Err(GoogleError::service_disabled(
                method.api.service(),
                method.api.title(),
                &project.number,
            ));
        }
    }

    if !method
        .scopes
        .iter()
        .any(|scope| grant.scopes.contains(*scope))
    {
        return Err(GoogleError::insufficient_scopes(
            method.api.service(),
            method.rpc_name,
        ));
    }

    if let Some(error) = take_fault(&mut world.faults, method.api, grant.user.as_deref()) {
        return Err(error);
    }
    Ok(Caller { user: grant.user })
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// Resolves a `userId` path parameter: `me` or the caller's own address. Another address gets
/// Gmail's "Delegation denied" 403.
pub fn resolve_user(caller: &Caller, user_id: &str) -> Result<String, GoogleError> {
    let Some(user) = caller.user.as_deref() else {
        return Err(GoogleError::precondition_check_failed());
    };
    if user_id == "me" || user_id.eq_ignore_ascii_case(user) {
        return Ok(user.to_string());
    }
    Err(GoogleError::new(
        axum::http::StatusCode::FORBIDDEN,
        format!("Delegation denied for {user}"),
    )
    .reason("global", "forbidden")
    .rpc_status("PERMISSION_DENIED"))
}
