//! Failures of token exchanges (`TokenError`) and of Google API calls
//! (`GoogleError`), and their conversion into problem responses with stable codes
//! that tell the caller or the Workspace administrator what to change.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;

use super::clients::GoogleApi;
use crate::error::ApiError;

/// `Retry-After` seconds sent to callers after a rate limit when Google gave no delay.
const DEFAULT_RATE_LIMIT_RETRY_SECONDS: u64 = 5;

/// `Retry-After` seconds sent to callers after a Google outage.
const DEFAULT_UNAVAILABLE_RETRY_SECONDS: u64 = 10;

/// Admin console page that authorizes a client ID for scopes.
const DELEGATION_PAGE: &str = "Admin console > Security > API controls > Domain-wide delegation";

/// The token a failed exchange asked for, kept to name it in error details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Brokerage whose key signed the request.
    pub brokerage_id: String,
    /// Numeric OAuth client ID of the service account.
    pub client_id: String,
    /// Service account address.
    pub client_email: String,
    /// User the token acts for (`sub` claim).
    pub user: String,
    /// The one scope requested.
    pub scope: String,
}

/// A token exchange with the key's `token_uri` that produced no access token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    /// The token endpoint returned an OAuth error such as
    /// `unauthorized_client` or `invalid_grant`.
    #[error("token endpoint rejected the grant for {} and scope {}: {error}{}", grant.user, grant.scope, describe(description))]
    Rejected {
        /// The grant that was requested.
        grant: Arc<Grant>,
        /// OAuth `error` code.
        error: String,
        /// OAuth `error_description`, when sent.
        description: Option<String>,
    },
    /// The exchange took longer than the token timeout.
    #[error("token exchange for {} timed out after {} s", grant.user, after.as_secs())]
    Timeout {
        /// The grant that was requested.
        grant: Arc<Grant>,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The token endpoint could not be reached.
    #[error("token endpoint unreachable: {reason}")]
    Unreachable {
        /// The grant that was requested.
        grant: Arc<Grant>,
        /// Transport failure, without request data.
        reason: String,
    },
    /// The token endpoint answered with something other than a token or an OAuth error.
    #[error("token endpoint returned an unusable response: {reason}")]
    InvalidResponse {
        /// The grant that was requested.
        grant: Arc<Grant>,
        /// What was wrong with the response, without its body.
        reason: String,
    },
    /// The stored key cannot sign a JWT.
    #[error("service-account key cannot sign: {reason}")]
    InvalidKey {
        /// The grant that was requested.
        grant: Arc<Grant>,
        /// Why the key is unusable, without key material.
        reason: String,
    },
}

fn describe(description: &Option<String>) -> String {
    description
        .as_deref()
        .map(|text| format!(" ({text})"))
        .unwrap_or_default()
}

impl TokenError {
    /// The grant that failed.
    pub fn grant(&self) -> &Grant {
        match self {
            Self::Rejected { grant, .. }
            | Self::Timeout { grant, .. }
            | Self::Unreachable { grant, .. }
            | Self::InvalidResponse { grant, .. }
            | Self::InvalidKey { grant, .. } => grant,
        }
    }

    /// OAuth `error` and `error_description` when the token endpoint sent them.
    pub fn oauth_error(&self) -> Option<(&str, Option<&str>)> {
        match self {
            Self::Rejected {
                error, description, ..
            } => Some((error.as_str(), description.as_deref())),
            _ => None,
        }
    }

    /// Whether another exchange may succeed without anyone changing anything:
    /// timeouts, transport failures and garbled responses, not OAuth rejections.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Timeout { .. } | Self::Unreachable { .. } | Self::InvalidResponse { .. }
        )
    }

    /// Returns the stable problem code this error is reported with.
    pub fn code(&self) -> &'static str {
        self.to_api_error().code()
    }

    fn to_api_error(&self) -> ApiError {
        let grant = self.grant();
        match self {
            Self::Rejected {
                error, description, ..
            } => rejected_grant(grant, error, description.as_deref().unwrap_or_default()),
            Self::Timeout { after, .. } => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "google_timeout",
                format!(
                    "Google's token endpoint did not answer within {} seconds; retry later.",
                    after.as_secs()
                ),
            ),
            Self::Unreachable { reason, .. } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "google_unreachable",
                format!("Google's token endpoint could not be reached ({reason}); retry later."),
            ),
            Self::InvalidResponse { reason, .. } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "google_unavailable",
                format!("Google's token endpoint returned an unusable response ({reason}); retry later."),
            )
            .with_retry_after(DEFAULT_UNAVAILABLE_RETRY_SECONDS),
            Self::InvalidKey { reason, .. } => ApiError::unprocessable(
                "credentials_rejected",
                format!(
                    "The service-account key of brokerage {} cannot sign token requests ({reason}); upload a new JSON key.",
                    grant.brokerage_id
                ),
            ),
        }
    }
}

/// Maps an OAuth error from the token endpoint to the problem that names the fix.
fn rejected_grant(grant: &Grant, error: &str, description: &str) -> ApiError {
    match error {
        "unauthorized_client" | "access_denied" => delegation_not_authorized(grant),
        "invalid_grant" => rejected_invalid_grant(grant, description),
        "invalid_client" => credentials_rejected(grant, description),
        "invalid_scope" => ApiError::unprocessable(
            "invalid_scope",
            format!(
                "Google does not accept the scope {} ({description}); choose another contacts scope for the brokerage.",
                grant.scope
            ),
        ),
        _ => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "token_exchange_failed",
            format!("Google's token endpoint rejected the request with {error} ({description})."),
        ),
    }
}

fn rejected_invalid_grant(grant: &Grant, description: &str) -> ApiError {
    if description.contains("Invalid email or User ID") {
        return ApiError::unprocessable(
            "google_user_not_found",
            format!(
                "Google has no user {} in the brokerage's Workspace; check the address or unenroll the user.",
                grant.user
            ),
        );
    }

    if description.contains("short-lived token") || description.contains("iat") {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "clock_skew",
            format!(
                "Google rejected the token request as not short-lived ({description}): the gateway's clock differs from Google's. Synchronize the server clock (NTP)."
            ),
        );
    }

    if description.contains("Robot is disabled") {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "service_account_disabled",
            format!(
                "The service account {} is disabled; enable it in the Google Cloud console (IAM & Admin > Service accounts) or upload the key of an enabled one.",
                grant.client_email
            ),
        );
    }

    credentials_rejected(grant, description)
}

fn delegation_not_authorized(grant: &Grant) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "delegation_not_authorized",
        format!(
            "Google refused a token for {} with scope {}: client ID {} is not authorized for that scope. In the {DELEGATION_PAGE}, add client ID {} with scope {}. Changes can take minutes to hours to apply.",
            grant.user, grant.scope, grant.client_id, grant.client_id, grant.scope
        ),
    )
}

fn credentials_rejected(grant: &Grant, description: &str) -> ApiError {
    ApiError::unprocessable(
        "credentials_rejected",
        format!(
            "Google rejected the key of service account {} ({description}): the key was deleted or does not belong to this service account. Upload a current JSON key.",
            grant.client_email
        ),
    )
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        error.to_api_error()
    }
}

/// A Google API answer with a non-success status, as Google described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    /// API that answered.
    pub api: GoogleApi,
    /// HTTP status (Google's `error.code`).
    pub status: u16,
    /// Canonical status name such as `FAILED_PRECONDITION`, when sent.
    pub status_text: Option<String>,
    /// Reasons from `error.errors[].reason` and `ErrorInfo` details, such as
    /// `rateLimitExceeded`, `fullSyncRequired` or `EXPIRED_SYNC_TOKEN`.
    pub reasons: Vec<String>,
    /// Google's `error.message`.
    pub message: String,
    /// Delay Google asked for (`RetryInfo` or `Retry-After`).
    pub retry_after: Option<Duration>,
}

impl ApiFailure {
    /// The first reason Google gave.
    pub fn reason(&self) -> Option<&str> {
        self.reasons.first().map(String::as_str)
    }

    /// Whether Google gave `reason` among its reasons.
    pub fn has_reason(&self, reason: &str) -> bool {
        self.reasons.iter().any(|given| given == reason)
    }
}

/// A failed Google API call, classified by what the caller can do about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GoogleError {
    /// No access token: the exchange failed before the request was sent.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// 429, or 403 with a rate-limit reason.
    #[error("{} rate limit exceeded: {}", .0.api, .0.message)]
    RateLimited(Box<ApiFailure>),
    /// The API is disabled in the service account's Cloud project.
    #[error("{} is disabled: {}", .0.api, .0.message)]
    ApiDisabled(Box<ApiFailure>),
    /// The token lacks a scope the method needs (403 `insufficientPermissions`).
    #[error("{} rejected the token's scope: {}", .0.api, .0.message)]
    ScopeNotGranted(Box<ApiFailure>),
    /// The etag sent is not the resource's current one.
    #[error("{} etag mismatch: {}", .0.api, .0.message)]
    EtagMismatch(Box<ApiFailure>),
    /// 404: the caller maps it to its own resource's not-found problem.
    #[error("{} returned not found: {}", .0.api, .0.message)]
    NotFound(Box<ApiFailure>),
    /// Any other 4xx; the caller may map known reasons.
    #[error("{} rejected the request with {}: {}", .0.api, .0.status, .0.message)]
    Rejected(Box<ApiFailure>),
    /// 5xx from Google.
    #[error("{} failed with {}: {}", .0.api, .0.status, .0.message)]
    Unavailable(Box<ApiFailure>),
    /// The call took longer than the request timeout.
    #[error("{api} call timed out after {} s", after.as_secs())]
    Timeout {
        /// API that was called.
        api: GoogleApi,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The API could not be reached.
    #[error("{api} unreachable: {reason}")]
    Unreachable {
        /// API that was called.
        api: GoogleApi,
        /// Transport failure, without request data.
        reason: String,
    },
    /// The answer could not be decoded.
    #[error("{api} returned an unusable response: {reason}")]
    InvalidResponse {
        /// API that was called.
        api: GoogleApi,
        /// What was wrong, without the body.
        reason: String,
    },
    /// A media upload exceeds the method's size limit.
    #[error("{api} upload of {size} bytes exceeds the limit of {max} bytes")]
    UploadTooLarge {
        /// API that was called.
        api: GoogleApi,
        /// Upload size in bytes.
        size: u64,
        /// Limit in bytes.
        max: u64,
    },
    /// The client library failed in a way that indicates a bug in the gateway.
    #[error("{api} client failed: {reason}")]
    Internal {
        /// API that was called.
        api: GoogleApi,
        /// The library's error.
        reason: String,
    },
}

impl GoogleError {
    /// Google's description of a non-success answer, when there was one.
    pub fn failure(&self) -> Option<&ApiFailure> {
        match self {
            Self::RateLimited(failure)
            | Self::ApiDisabled(failure)
            | Self::ScopeNotGranted(failure)
            | Self::EtagMismatch(failure)
            | Self::NotFound(failure)
            | Self::Rejected(failure)
            | Self::Unavailable(failure) => Some(failure),
            _ => None,
        }
    }

    /// HTTP status Google answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        self.failure().map(|failure| failure.status)
    }

    /// Whether Google answered with `status` and gave `reason`, for example
    /// (410, `fullSyncRequired`) or (400, `EXPIRED_SYNC_TOKEN`).
    pub fn is(&self, status: u16, reason: &str) -> bool {
        self.failure()
            .is_some_and(|failure| failure.status == status && failure.has_reason(reason))
    }

    /// Tells whether a mutation certainly did not take effect: no access token
    /// was obtained, the upload was rejected before it started, or Google
    /// responded with a 4xx status. A timeout, a broken connection, a 5xx status
    /// or an unreadable response leaves the outcome open.
    pub fn was_not_applied(&self) -> bool {
        match self {
            GoogleError::Token(_) | GoogleError::UploadTooLarge { .. } => true,
            GoogleError::RateLimited(_)
            | GoogleError::ApiDisabled(_)
            | GoogleError::ScopeNotGranted(_)
            | GoogleError::EtagMismatch(_)
            | GoogleError::NotFound(_)
            | GoogleError::Rejected(_) => self
                .status()
                .is_some_and(|status| (400..500).contains(&status)),
            GoogleError::Unavailable(_)
            | GoogleError::Timeout { .. }
            | GoogleError::Unreachable { .. }
            | GoogleError::InvalidResponse { .. }
            | GoogleError::Internal { .. } => false,
        }
    }

    /// Whether an idempotent request may be sent again: rate limits, Google
    /// outages, transport failures and transient token exchange failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Token(error) => error.is_transient(),
            Self::RateLimited(_) | Self::Unavailable(_) | Self::Unreachable { .. } => true,
            _ => false,
        }
    }

    /// Returns the delay Google requested before the next attempt.
    pub fn retry_after(&self) -> Option<Duration> {
        self.failure().and_then(|failure| failure.retry_after)
    }

    /// Returns the stable problem code this error is reported with.
    pub fn code(&self) -> &'static str {
        ApiError::from(self.clone()).code()
    }
}

impl From<GoogleError> for ApiError {
    fn from(error: GoogleError) -> Self {
        match error {
            GoogleError::Token(error) => error.into(),
            GoogleError::RateLimited(failure) => rate_limited(&failure),
            GoogleError::ApiDisabled(failure) => api_disabled(&failure),
            GoogleError::ScopeNotGranted(failure) => scope_not_granted(&failure),
            GoogleError::EtagMismatch(failure) => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "etag_mismatch",
                format!(
                    "The etag sent is not the current one ({}); fetch the resource again and reapply the change.",
                    failure.message
                ),
            ),
            GoogleError::NotFound(failure) => ApiError::not_found(
                "google_not_found",
                format!("{} found no such resource: {}", failure.api, failure.message),
            ),
            GoogleError::Rejected(failure) => rejected(&failure),
            GoogleError::Unavailable(failure) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "google_unavailable",
                format!(
                    "{} failed with status {} ({}); retry later.",
                    failure.api, failure.status, failure.message
                ),
            )
            .with_retry_after(seconds_or(failure.retry_after, DEFAULT_UNAVAILABLE_RETRY_SECONDS)),
            other => transport(other),
        }
    }
}

fn transport(error: GoogleError) -> ApiError {
    match error {
        GoogleError::Timeout { api, after } => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "google_timeout",
            format!(
                "{api} did not answer within {} seconds; retry later.",
                after.as_secs()
            ),
        ),
        GoogleError::Unreachable { api, reason } => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "google_unreachable",
            format!("{api} could not be reached ({reason}); retry later."),
        ),
        GoogleError::InvalidResponse { api, reason } => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "google_invalid_response",
            format!("{api} returned a response the gateway cannot read ({reason})."),
        ),
        GoogleError::UploadTooLarge { api, size, max } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "upload_too_large",
            format!("{api} accepts at most {max} bytes; this upload has {size} bytes."),
        ),
        other => ApiError::internal(anyhow::anyhow!("{other}")),
    }
}

fn rate_limited(failure: &ApiFailure) -> ApiError {
    let seconds = seconds_or(failure.retry_after, DEFAULT_RATE_LIMIT_RETRY_SECONDS);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "google_rate_limited",
        format!(
            "{} rate limit exceeded for this user or project ({}); retry after {seconds} seconds.",
            failure.api, failure.message
        ),
    )
    .with_retry_after(seconds)
}

fn api_disabled(failure: &ApiFailure) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "google_api_disabled",
        format!(
            "The {} ({}) is disabled in the service account's Google Cloud project. Enable it in the Cloud console under APIs & Services > Library, then retry after a few minutes. Google said: {}",
            failure.api,
            failure.api.service_name(),
            failure.message
        ),
    )
}

fn scope_not_granted(failure: &ApiFailure) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "delegation_not_authorized",
        format!(
            "{} rejected the access token as lacking a required scope ({}). In the {DELEGATION_PAGE}, authorize the service account's client ID for {}.",
            failure.api,
            failure.message,
            failure.api.scope_hint()
        ),
    )
}

fn rejected(failure: &ApiFailure) -> ApiError {
    let reason = failure.reason().unwrap_or("no reason given");
    match failure.status {
        401 => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "google_token_rejected",
            format!(
                "{} rejected the access token ({}); retry, and if it persists verify the brokerage.",
                failure.api, failure.message
            ),
        ),
        403 => ApiError::new(
            StatusCode::FORBIDDEN,
            "google_forbidden",
            format!("{} denied the request ({reason}): {}", failure.api, failure.message),
        ),
        409 => ApiError::conflict(
            "google_conflict",
            format!("{} reported a conflict ({reason}): {}", failure.api, failure.message),
        ),
        status => ApiError::unprocessable(
            "google_rejected_request",
            format!(
                "{} rejected the request with status {status} ({reason}): {}",
                failure.api, failure.message
            ),
        ),
    }
}

/// Rounds `delay` up to whole seconds, or returns `default` when there is none.
fn seconds_or(delay: Option<Duration>, default: u64) -> u64 {
    delay
        .map(|delay| delay.as_secs() + u64::from(delay.subsec_nanos() > 0))
        .unwrap_or(default)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Arc<Grant> {
        Arc::new(Grant {
            brokerage_id: "acme".to_owned(),
            client_id: "123456789012345678901".to_owned(),
            client_email: "gateway@acme.iam.gserviceaccount.com".to_owned(),
            user: "agent@acme.example".to_owned(),
            scope: crate::google::scopes::CALENDAR.to_owned(),
        })
    }

    fn rejected_with(error: &str, description: &str) -> ApiError {
        TokenError::Rejected {
            grant: grant(),
            error: error.to_owned(),
            description: Some(description.to_owned()),
        }
        .into()
    }

    fn failure(status: u16, reason: &str) -> Box<ApiFailure> {
        Box::new(ApiFailure {
            api: GoogleApi::Calendar,
            status,
            status_text: None,
            reasons: vec![reason.to_owned()],
            message: "message from Google".to_owned(),
            retry_after: None,
        })
    }

    #[test]
    fn unauthorized_client_names_client_and_scope() {
        let error = rejected_with(
            "unauthorized_client",
            "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
        );

        assert_eq!(error.status(), StatusCode::FORBIDDEN);
        assert_eq!(error.code(), "delegation_not_authorized");
        assert!(error.detail().contains("123456789012345678901"));
        assert!(error.detail().contains(crate::google::scopes::CALENDAR));
        assert!(error.detail().contains("Domain-wide delegation"));
    }

    #[test]
    fn invalid_grant_descriptions_map_to_codes() {
        let cases = [
            ("Invalid email or User ID", "google_user_not_found", StatusCode::UNPROCESSABLE_ENTITY),
            ("Invalid JWT Signature.", "credentials_rejected", StatusCode::UNPROCESSABLE_ENTITY),
            (
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
                "clock_skew",
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            ("Robot is disabled.", "service_account_disabled", StatusCode::FORBIDDEN),
        ];

        for (description, code, status) in cases {
            let error = rejected_with("invalid_grant", description);
            assert_eq!(error.code(), code, "{description}");
            assert_eq!(error.status(), status, "{description}");
        }
    }

    #[test]
    fn user_not_found_names_user() {
        let error = rejected_with("invalid_grant", "Invalid email or User ID");

        assert!(error.detail().contains("agent@acme.example"));
    }

    #[test]
    fn token_transport_failures_are_transient() {
        let timeout = TokenError::Timeout {
            grant: grant(),
            after: Duration::from_secs(10),
        };
        let rejected = TokenError::Rejected {
            grant: grant(),
            error: "unauthorized_client".to_owned(),
            description: None,
        };

        assert!(timeout.is_transient());
        assert!(!rejected.is_transient());
        assert_eq!(ApiError::from(timeout).code(), "google_timeout");
    }

    #[test]
    fn rate_limit_carries_retry_after() {
        let mut limited = failure(429, "rateLimitExceeded");
        limited.retry_after = Some(Duration::from_millis(1500));

        let error = ApiError::from(GoogleError::RateLimited(limited));

        assert_eq!(error.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(error.code(), "google_rate_limited");
        assert_eq!(error.problem().retry_after, Some(2));
    }

    #[test]
    fn api_disabled_names_the_api() {
        let error = ApiError::from(GoogleError::ApiDisabled(failure(
            403,
            "accessNotConfigured",
        )));

        assert_eq!(error.status(), StatusCode::FORBIDDEN);
        assert_eq!(error.code(), "google_api_disabled");
        assert!(error.detail().contains("Calendar API"));
    }

    #[test]
    fn transport_failures_map_to_gateway_codes() {
        let timeout = GoogleError::Timeout {
            api: GoogleApi::People,
            after: Duration::from_secs(30),
        };
        let unreachable = GoogleError::Unreachable {
            api: GoogleApi::Gmail,
            reason: "connection refused".to_owned(),
        };

        assert_eq!(
            ApiError::from(timeout).status(),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(ApiError::from(unreachable).code(), "google_unreachable");
    }

    #[test]
    fn retryable_errors() {
        assert!(GoogleError::RateLimited(failure(429, "rateLimitExceeded")).is_retryable());
        assert!(GoogleError::Unavailable(failure(503, "backendError")).is_retryable());
        assert!(!GoogleError::Rejected(failure(400, "invalid")).is_retryable());
        assert!(!GoogleError::EtagMismatch(failure(412, "conditionNotMet")).is_retryable());
    }

    #[test]
    fn is_matches_status_and_reason() {
        let full_sync_required = GoogleError::Rejected(failure(410, "fullSyncRequired"));

        assert!(full_sync_required.is(410, "fullSyncRequired"));
        assert!(!full_sync_required.is(400, "fullSyncRequired"));
        assert_eq!(full_sync_required.status(), Some(410));
    }
}
