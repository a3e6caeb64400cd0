//! Injected failures: the next N calls of one API (optionally for one user) fail with Google's
//! rate-limit or backend error bodies.

use axum::http::{header, StatusCode};
use serde::{Deserialize, Serialize};

use crate::access::Api;
use crate::errors::GoogleError;

/// One injected failure rule, as posted to `POST /emulator/faults`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultRule {
    /// Only calls made with tokens for this user; all users when absent.
    #[serde(default)]
    pub user: Option<String>,
    /// `people`, `calendar` or `gmail`; all APIs when absent.
    #[serde(default)]
    pub api: Option<String>,
    /// 429, 403 (rate limit), 500 or 503.
    pub status: u16,
    /// How many calls fail before the rule is spent.
    #[serde(default = "one")]
    pub times: u32,
    /// Seconds for a `Retry-After` header.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Reason for a 403 or 429: `rateLimitExceeded` (default) or `userRateLimitExceeded`.
    #[serde(default)]
    pub reason: Option<String>,
}

fn one() -> u32 {
    1
}

impl FaultRule {
    /// Checks the rule's fields; returns a description of the first invalid one.
    pub fn validate(&self) -> Result<(), String> {
        if ![403, 429, 500, 503].contains(&self.status) {
            return Err(format!(
                "status {} is not supported; use 403, 429, 500 or 503",
                self.status
            ));
        }
        if let Some(api) = &self.api {
            if Api::from_short_name(api).is_none() {
                return Err(format!(
                    "api \"{api}\" is unknown; use people, calendar or gmail"
                ));
            }
        }
        if let Some(reason) = &self.reason {
            if !["rateLimitExceeded", "userRateLimitExceeded"].contains(&reason.as_str()) {
                return Err(format!(
                    "reason \"{reason}\" is not supported; use rateLimitExceeded or userRateLimitExceeded"
                ));
            }
        }
        Ok(())
    }

    fn matches(&self, api: Api, user: Option<&str>) -> bool {
        let api_matches = self
            .api
            .as_deref()
            .is_none_or(|name| Api::from_short_name(name) == Some(api));
        let user_matches = self
            .user
            .as_deref()
            .is_none_or(|expected| user.is_some_and(|user| user.eq_ignore_ascii_case(expected)));
        self.times > 0 && api_matches && user_matches
    }

    fn to_error(&self, api: Api) -> GoogleError {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
        let mut error = match self.status {
            500 | 503 => GoogleError::backend_error(status),
            _ => {
                let reason = self.reason.as_deref().unwrap_or("rateLimitExceeded");
                GoogleError::rate_limited(status, reason, api.service())
            }
        };
        if let Some(seconds) = self.retry_after {
            // Some Google APIs put the delay in a google.rpc.RetryInfo detail as
            // well as the header; the emulator sends both.
            error = error
                .header(header::RETRY_AFTER, seconds.to_string())
                .detail(serde_json::json!({
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": format!("{seconds}s"),
                }));
        }
        error
    }
}

/// Consumes one matching rule, if any, and returns the error it injects.
pub fn take_fault(rules: &mut Vec<FaultRule>, api: Api, user: Option<&str>) -> Option<GoogleError> {
    let rule = rules.iter_mut().find(|rule| rule.matches(api, user))?;
    rule.times -= 1;
    let error = rule.to_error(api);
    rules.retain(|rule| rule.times > 0);
    Some(error)
}
