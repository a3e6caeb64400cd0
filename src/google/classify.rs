//! Classification of the google-* crates' errors. Those crates return
//! `Error::BadRequest(json)` for any non-2xx answer with a JSON body, so the
//! status is read from Google's `error.code`, and the reasons from
//! `error.errors[].reason` (older APIs) and `ErrorInfo` details (newer ones).

use std::time::Duration;

use google_apis_common::Error as HubError;
use serde_json::Value;

use super::clients::GoogleApi;
use super::errors::{ApiFailure, GoogleError, TokenError};

/// Reasons Google gives for rate limits, with 429 or 403.
const RATE_LIMIT_REASONS: &[&str] = &[
    "rateLimitExceeded",
    "userRateLimitExceeded",
    "RATE_LIMIT_EXCEEDED",
    "quotaExceeded",
];

/// Reasons Google gives when the API is not enabled in the Cloud project.
const API_DISABLED_REASONS: &[&str] = &["accessNotConfigured", "SERVICE_DISABLED", "API_DISABLED"];

/// Reasons Google gives when the access token lacks the method's scope.
const SCOPE_REASONS: &[&str] = &["insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"];

/// Classifies an error returned by a hub call.
pub(crate) fn classify(api: GoogleApi, error: HubError) -> GoogleError {
    match error {
        // NOTE: for JSON error bodies the google-* crates drop the response
        // headers, so a `Retry-After` header is lost and only a `RetryInfo`
        // detail in the body sets `retry_after`.
        HubError::BadRequest(body) => classify_failure(parse_failure(api, &body)),
        HubError::Failure(response) => classify_failure(failure_without_body(api, &response)),
        HubError::MissingToken(source) => match source.downcast_ref::<TokenError>() {
            Some(token_error) => GoogleError::Token(token_error.clone()),
            None => GoogleError::Internal {
                api,
                reason: format!("token source failed: {source}"),
            },
        },
        HubError::HttpError(source) => GoogleError::Unreachable {
            api,
            reason: error_chain(&source),
        },
        HubError::Io(source) => GoogleError::Unreachable {
            api,
            reason: error_chain(&source),
        },
        HubError::JsonDecodeError(_, source) => GoogleError::InvalidResponse {
            api,
            reason: format!(
                "JSON does not match the schema at line {} column {}",
                source.line(),
                source.column()
            ),
        },
        HubError::UploadSizeLimitExceeded(size, max) => {
            GoogleError::UploadTooLarge { api, size, max }
        }
        other @ (HubError::MissingAPIKey | HubError::Cancelled | HubError::FieldClash(_)) => {
            GoogleError::Internal {
                api,
                reason: other.to_string(),
            }
        }
    }
}

/// Sorts a non-success answer into the class that decides what happens next.
pub(crate) fn classify_failure(failure: ApiFailure) -> GoogleError {
    let failure = Box::new(failure);
    let any_of = |reasons: &[&str]| reasons.iter().any(|reason| failure.has_reason(reason));

    if failure.status == 429 || (failure.status == 403 && any_of(RATE_LIMIT_REASONS)) {
        return GoogleError::RateLimited(failure);
    }
    if any_of(API_DISABLED_REASONS) {
        return GoogleError::ApiDisabled(failure);
    }
    if any_of(SCOPE_REASONS) {
        return GoogleError::ScopeNotGranted(failure);
    }
    if is_etag_mismatch(&failure) {
        return GoogleError::EtagMismatch(failure);
    }

    match failure.status {
        404 => GoogleError::NotFound(failure),
        500.. => GoogleError::Unavailable(failure),
        _ => GoogleError::Rejected(failure),
    }
}

/// Calendar answers a stale `If-Match` with 412; People answers a stale person
/// etag with 400 `FAILED_PRECONDITION`, which it also uses for expired sync
/// tokens, so those are excluded by their reason.
fn is_etag_mismatch(failure: &ApiFailure) -> bool {
    if failure.status == 412 {
        return true;
    }

    let failed_precondition = failure.status == 400
        && failure.status_text.as_deref() == Some("FAILED_PRECONDITION")
        && !failure.has_reason("EXPIRED_SYNC_TOKEN");
    failed_precondition
        && (failure.reasons.is_empty() || failure.message.to_ascii_lowercase().contains("etag"))
}

/// Reads Google's JSON error body: `{"error": {"code", "message", "status",
/// "errors": [{"reason"}], "details": [{"@type", "reason" | "retryDelay"}]}}`.
pub(crate) fn parse_failure(api: GoogleApi, body: &Value) -> ApiFailure {
    let error = &body["error"];
    let status_text = error["status"].as_str().map(str::to_owned);
    let status = error["code"]
        .as_u64()
        .and_then(|code| u16::try_from(code).ok())
        .unwrap_or_else(|| status_from_text(status_text.as_deref()));
    let message = error["message"]
        .as_str()
        .or_else(|| body["error_description"].as_str())
        .unwrap_or("no message")
        .to_owned();

    ApiFailure {
        api,
        status,
        status_text,
        reasons: reasons(error),
        message,
        retry_after: retry_delay(error),
    }
}

fn reasons(error: &Value) -> Vec<String> {
    let listed = error["errors"].as_array().into_iter().flatten();
    let detailed = error["details"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|detail| {
            detail["@type"]
                .as_str()
                .is_some_and(|kind| kind.ends_with("google.rpc.ErrorInfo"))
        });

    listed
        .chain(detailed)
        .filter_map(|item| item["reason"].as_str())
        .map(str::to_owned)
        .collect()
}

/// Reads a `google.rpc.RetryInfo` detail's `retryDelay`, such as `"30s"` or `"1.5s"`.
fn retry_delay(error: &Value) -> Option<Duration> {
    error["details"]
        .as_array()?
        .iter()
        .filter(|detail| {
            detail["@type"]
                .as_str()
                .is_some_and(|kind| kind.ends_with("google.rpc.RetryInfo"))
        })
        .find_map(|detail| parse_seconds(detail["retryDelay"].as_str()?))
}

fn parse_seconds(text: &str) -> Option<Duration> {
    let seconds: f64 = text.strip_suffix('s')?.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}

/// HTTP status of a canonical status name, for bodies without `error.code`.
fn status_from_text(status_text: Option<&str>) -> u16 {
    match status_text {
        Some("INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE") => 400,
        Some("UNAUTHENTICATED") => 401,
        Some("PERMISSION_DENIED") => 403,
        Some("NOT_FOUND") => 404,
        Some("ABORTED" | "ALREADY_EXISTS") => 409,
        Some("RESOURCE_EXHAUSTED") => 429,
        Some("UNAVAILABLE") => 503,
        Some("DEADLINE_EXCEEDED") => 504,
        _ => 500,
    }
}

/// Describes an answer whose body was not JSON, from its status and `Retry-After`.
fn failure_without_body(api: GoogleApi, response: &google_apis_common::Response) -> ApiFailure {
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs);

    ApiFailure {
        api,
        status: response.status().as_u16(),
        status_text: None,
        reasons: Vec::new(),
        message: format!("HTTP {} without a JSON error body", response.status()),
        retry_after,
    }
}

/// Joins an error and its sources, which for transport errors name the failing
/// step (connect, TLS, read) without request data.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn classify_body(api: GoogleApi, body: Value) -> GoogleError {
        classify(api, HubError::BadRequest(body))
    }

    #[test]
    fn calendar_rate_limit_403_is_rate_limited() {
        let body = json!({"error": {"code": 403, "message": "Rate Limit Exceeded",
            "errors": [{"domain": "usageLimits", "reason": "rateLimitExceeded", "message": "Rate Limit Exceeded"}]}});

        let error = classify_body(GoogleApi::Calendar, body);

        assert!(matches!(error, GoogleError::RateLimited(_)), "{error:?}");
        assert!(error.is_retryable());
    }

    #[test]
    fn user_rate_limit_403_is_rate_limited() {
        let body = json!({"error": {"code": 403, "message": "User Rate Limit Exceeded",
            "errors": [{"reason": "userRateLimitExceeded"}]}});

        assert!(matches!(
            classify_body(GoogleApi::Gmail, body),
            GoogleError::RateLimited(_)
        ));
    }

    #[test]
    fn status_429_reads_retry_info() {
        let body = json!({"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"}]}});

        let error = classify_body(GoogleApi::People, body);

        assert!(matches!(error, GoogleError::RateLimited(_)), "{error:?}");
        assert_eq!(error.retry_after(), Some(Duration::from_millis(2500)));
    }

    #[test]
    fn other_403_is_not_rate_limited() {
        let body = json!({"error": {"code": 403, "message": "Forbidden", "errors": [{"reason": "forbidden"}]}});

        let error = classify_body(GoogleApi::Calendar, body);

        assert!(matches!(error, GoogleError::Rejected(_)), "{error:?}");
        assert!(!error.is_retryable());
        assert_eq!(error.code(), "google_forbidden");
    }

    #[test]
    fn service_disabled_is_api_disabled() {
        let body = json!({"error": {"code": 403, "status": "PERMISSION_DENIED",
            "message": "People API has not been used in project 123 before or it is disabled.",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED",
                "domain": "googleapis.com", "metadata": {"service": "people.googleapis.com"}}]}});

        let error = classify_body(GoogleApi::People, body);

        assert!(matches!(error, GoogleError::ApiDisabled(_)), "{error:?}");
        assert_eq!(error.code(), "google_api_disabled");
    }

    #[test]
    fn access_not_configured_is_api_disabled() {
        let body = json!({"error": {"code": 403, "message": "Access Not Configured.",
            "errors": [{"domain": "usageLimits", "reason": "accessNotConfigured"}]}});

        assert!(matches!(
            classify_body(GoogleApi::Calendar, body),
            GoogleError::ApiDisabled(_)
        ));
    }

    #[test]
    fn insufficient_permissions_is_delegation_problem() {
        let body = json!({"error": {"code": 403, "message": "Request had insufficient authentication scopes.",
            "status": "PERMISSION_DENIED", "errors": [{"reason": "insufficientPermissions"}]}});

        let error = classify_body(GoogleApi::Gmail, body);

        assert!(
            matches!(error, GoogleError::ScopeNotGranted(_)),
            "{error:?}"
        );
        assert_eq!(error.code(), "delegation_not_authorized");
    }

    #[test]
    fn people_stale_etag_is_etag_mismatch() {
        let body = json!({"error": {"code": 400, "status": "FAILED_PRECONDITION",
            "message": "Request person.etag is different than the current person.etag. Clear local cache and get the latest person."}});

        let error = classify_body(GoogleApi::People, body);

        assert!(matches!(error, GoogleError::EtagMismatch(_)), "{error:?}");
        assert_eq!(error.code(), "etag_mismatch");
    }

    #[test]
    fn expired_sync_token_is_not_etag_mismatch() {
        let body = json!({"error": {"code": 400, "status": "FAILED_PRECONDITION", "message": "Sync token is expired.",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "EXPIRED_SYNC_TOKEN"}]}});

        let error = classify_body(GoogleApi::People, body);

        assert!(matches!(error, GoogleError::Rejected(_)), "{error:?}");
        assert!(error.is(400, "EXPIRED_SYNC_TOKEN"));
    }

    #[test]
    fn calendar_412_is_etag_mismatch() {
        let body = json!({"error": {"code": 412, "message": "Precondition Failed", "errors": [{"reason": "conditionNotMet"}]}});

        assert!(matches!(
            classify_body(GoogleApi::Calendar, body),
            GoogleError::EtagMismatch(_)
        ));
    }

    #[test]
    fn full_sync_required_keeps_status_and_reason() {
        let body = json!({"error": {"code": 410, "message": "Sync token is no longer valid, a full sync is required.",
            "errors": [{"domain": "global", "reason": "fullSyncRequired"}]}});

        let error = classify_body(GoogleApi::Calendar, body);

        assert!(error.is(410, "fullSyncRequired"));
    }

    #[test]
    fn not_found_is_left_to_caller() {
        let body = json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}});

        let error = classify_body(GoogleApi::People, body);

        assert!(matches!(error, GoogleError::NotFound(_)), "{error:?}");
        assert_eq!(error.status(), Some(404));
    }

    #[test]
    fn server_errors_are_unavailable() {
        for code in [500, 502, 503] {
            let body = json!({"error": {"code": code, "message": "Backend Error", "errors": [{"reason": "backendError"}]}});

            let error = classify_body(GoogleApi::Calendar, body);

            assert!(
                matches!(error, GoogleError::Unavailable(_)),
                "{code}: {error:?}"
            );
            assert_eq!(error.code(), "google_unavailable");
        }
    }

    #[test]
    fn status_falls_back_to_status_name() {
        let body = json!({"error": {"message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}});

        assert!(matches!(
            classify_body(GoogleApi::People, body),
            GoogleError::RateLimited(_)
        ));
    }

    #[test]
    fn token_error_is_recovered_from_missing_token() {
        let token_error = TokenError::Timeout {
            grant: std::sync::Arc::new(crate::google::Grant {
                brokerage_id: "acme".to_owned(),
                client_id: "1".to_owned(),
                client_email: "sa@acme.iam.gserviceaccount.com".to_owned(),
                user: "agent@acme.example".to_owned(),
                scope: crate::google::scopes::CONTACTS.to_owned(),
            }),
            after: Duration::from_secs(10),
        };

        let error = classify(
            GoogleApi::People,
            HubError::MissingToken(Box::new(token_error)),
        );

        assert!(
            matches!(error, GoogleError::Token(TokenError::Timeout { .. })),
            "{error:?}"
        );
        assert_eq!(error.code(), "google_timeout");
    }

    #[test]
    fn retry_delay_parses_seconds() {
        assert_eq!(parse_seconds("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_seconds("0.25s"), Some(Duration::from_millis(250)));
        assert_eq!(parse_seconds("soon"), None);
        assert_eq!(parse_seconds("-1s"), None);
    }
}
