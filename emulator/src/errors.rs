//! Google's JSON error bodies: `{"error": {"code", "message", "errors", "status", "details"}}`.
//!
//! Messages and reasons copy what Google's servers return for the same fault, as far as that is
//! publicly documented or observed. The google-* client crates only decode the JSON, so the
//! gateway classifies errors by `code`, `status`, `errors[].reason` and `details[].reason`.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

/// Help URL that Google puts in the 401 message.
const AUTH_HELP: &str = "https://developers.google.com/identity/sign-in/web/devconsole-project";

/// An error response in Google's JSON shape.
#[derive(Debug, Clone)]
pub struct GoogleError {
    status: StatusCode,
    message: String,
    rpc_status: Option<&'static str>,
    errors: Vec<Value>,
    details: Vec<Value>,
    headers: Vec<(HeaderName, String)>,
}

impl GoogleError {
    /// Starts an error with an HTTP status and a message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            rpc_status: None,
            errors: Vec::new(),
            details: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Sets the canonical gRPC status name (`INVALID_ARGUMENT`, `NOT_FOUND`, ...).
    pub fn rpc_status(mut self, status: &'static str) -> Self {
        self.rpc_status = Some(status);
        self
    }

    /// Adds an entry to the legacy `errors` array, with the top-level message.
    pub fn reason(self, domain: &str, reason: &str) -> Self {
        let message = self.message.clone();
        self.reason_with_message(domain, reason, &message)
    }

    /// Adds an entry to the legacy `errors` array with its own message.
    pub fn reason_with_message(mut self, domain: &str, reason: &str, message: &str) -> Self {
        self.errors
            .push(json!({"message": message, "domain": domain, "reason": reason}));
        self
    }

    /// Adds an `errors` entry given as JSON.
    pub fn error_entry(mut self, entry: Value) -> Self {
        self.errors.push(entry);
        self
    }

    /// Adds an entry to `details`.
    pub fn detail(mut self, detail: Value) -> Self {
        self.details.push(detail);
        self
    }

    /// Adds a `google.rpc.ErrorInfo` detail.
    pub fn error_info(self, reason: &str, domain: &str, metadata: Value) -> Self {
        let mut info = json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": domain,
        });
        if metadata.as_object().is_some_and(|m| !m.is_empty()) {
            info["metadata"] = metadata;
        }
        self.detail(info)
    }

    /// Adds a response header.
    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Builds the JSON body.
    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), json!(self.status.as_u16()));
        error.insert("message".into(), json!(self.message));
        if !self.errors.is_empty() {
            error.insert("errors".into(), Value::Array(self.errors.clone()));
        }
        if let Some(status) = self.rpc_status {
            error.insert("status".into(), json!(status));
        }
        if !self.details.is_empty() {
            error.insert("details".into(), Value::Array(self.details.clone()));
        }
        json!({ "error": error })
    }

    /// 400 INVALID_ARGUMENT in the People API's style: `status` without an `errors` array.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message).rpc_status("INVALID_ARGUMENT")
    }

    /// 400 FAILED_PRECONDITION in the People API's style.
    pub fn failed_precondition(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message).rpc_status("FAILED_PRECONDITION")
    }

    /// 404 NOT_FOUND with Google's generic message.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Requested entity was not found.").rpc_status("NOT_FOUND")
    }

    /// Gmail's 400 for a token without a user: the service account has no mailbox.
    pub fn precondition_check_failed() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Precondition check failed.")
            .reason("global", "failedPrecondition")
            .rpc_status("FAILED_PRECONDITION")
    }

    /// 401 for a missing, unknown or expired access token.
    pub fn unauthenticated(credentials_missing: bool) -> Self {
        let message = format!(
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See {AUTH_HELP}."
        );
        let (reason, info) = if credentials_missing {
            ("required", "CREDENTIALS_MISSING")
        } else {
            ("authError", "ACCESS_TOKEN_EXPIRED")
        };
        let message_short = if credentials_missing {
            "Login Required."
        } else {
            "Invalid Credentials"
        };
        Self::new(StatusCode::UNAUTHORIZED, message)
            .error_entry(json!({
                "message": message_short,
                "domain": "global",
                "reason": reason,
                "location": "Authorization",
                "locationType": "header",
            }))
            .rpc_status("UNAUTHENTICATED")
            .error_info(info, "googleapis.com", json!({}))
            .header(
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
            )
    }

    /// 403 ACCESS_TOKEN_SCOPE_INSUFFICIENT.
    pub fn insufficient_scopes(service: &str, method: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Request had insufficient authentication scopes.",
        )
        .reason_with_message(
            "global",
            "insufficientPermissions",
            "Insufficient Permission",
        )
        .rpc_status("PERMISSION_DENIED")
        .error_info(
            "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "googleapis.com",
            json!({"service": service, "method": method}),
        )
        .header(
            header::WWW_AUTHENTICATE,
            "Bearer realm=\"https://accounts.google.com/\", error=\"insufficient_scope\"",
        )
    }

    /// 403 SERVICE_DISABLED: the API is not enabled in the service account's project.
    pub fn service_disabled(service: &str, title: &str, project_number: &str) -> Self {
        let activation_url = format!(
            "https://console.developers.google.com/apis/api/{service}/overview?project={project_number}"
        );
        let message = format!(
            "{title} has not been used in project {project_number} before or it is disabled. Enable it by visiting {activation_url} then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry."
        );
        Self::new(StatusCode::FORBIDDEN, message.clone())
            .error_entry(json!({
                "message": message,
                "domain": "usageLimits",
                "reason": "accessNotConfigured",
                "extendedHelp": activation_url,
            }))
            .rpc_status("PERMISSION_DENIED")
            .error_info(
                "SERVICE_DISABLED",
                "googleapis.com",
                json!({
                    "service": service,
                    "consumer": format!("projects/{project_number}"),
                    "activationUrl": activation_url,
                    "serviceTitle": title,
                    "containerInfo": project_number,
                }),
            )
            .detail(json!({
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": message,
            }))
            .detail(json!({
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{"description": "Google developers console API activation", "url": activation_url}],
            }))
    }

    /// 429 or 403 rate-limit error with reason `rateLimitExceeded` or `userRateLimitExceeded`.
    pub fn rate_limited(status: StatusCode, reason: &str, service: &str) -> Self {
        let message = if reason == "userRateLimitExceeded" {
            "User-rate limit exceeded."
        } else {
            "Rate Limit Exceeded"
        };
        let rpc_status = if status == StatusCode::TOO_MANY_REQUESTS {
            "RESOURCE_EXHAUSTED"
        } else {
            "PERMISSION_DENIED"
        };
        Self::new(status, message)
            .reason("usageLimits", reason)
            .rpc_status(rpc_status)
            .error_info(
                "RATE_LIMIT_EXCEEDED",
                "googleapis.com",
                json!({"service": service}),
            )
    }

    /// 5xx `backendError`.
    pub fn backend_error(status: StatusCode) -> Self {
        let (message, rpc_status) = if status == StatusCode::SERVICE_UNAVAILABLE {
            ("The service is currently unavailable.", "UNAVAILABLE")
        } else {
            ("Internal error encountered.", "INTERNAL")
        };
        Self::new(status, message)
            .reason("global", "backendError")
            .rpc_status(rpc_status)
    }
}

impl IntoResponse for GoogleError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=UTF-8"),
        );
        for (name, value) in &self.headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name.clone(), value);
            }
        }
        response
    }
}

/// Result type of API handlers.
pub type ApiResult<T> = Result<T, GoogleError>;
