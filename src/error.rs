//! The one API error type: every failure a handler returns becomes an RFC 9457
//! `application/problem+json` body with a stable machine-readable `code`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Problem details returned for every error (RFC 9457).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// URI reference naming the problem type; `about:blank` plus `code` for ours.
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub problem_type: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// Stable code a program can switch on, such as `invalid_credentials`.
    #[schema(example = "brokerage_not_found")]
    pub code: String,
    /// Explanation of what went wrong for this request and what to do about it.
    pub detail: String,
    /// The request field or parameter at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds to wait before retrying, for rate limits and outages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// An error a handler returns; converts into a problem+json response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    field: Option<String>,
    retry_after: Option<u64>,
    /// Cause chain for 5xx errors: logged once, never sent to the client.
    source: Option<anyhow::Error>,
}

impl ApiError {
    /// Builds an error with a status, a stable code and a human-readable detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            field: None,
            retry_after: None,
            source: None,
        }
    }

    /// Names the request field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Adds a `Retry-After` hint in seconds.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Builds a 400 for invalid input in `field`.
    pub fn invalid(
        code: &'static str,
        field: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail).with_field(field)
    }

    /// Builds a 422 for input that is well-formed but cannot be accepted.
    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    /// Builds a 404 for a resource that does not exist or is not visible to the caller.
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    /// Builds a 409 for a request that conflicts with the current state.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// Builds a 500 whose cause is logged but never returned.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        let mut error = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "The gateway failed to process the request. The failure was logged; retry later or contact support with the request id.",
        );
        error.source = Some(source.into());
        error
    }

    /// HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Stable code of this error.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Human-readable detail of this error.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// Returns the problem body this error is sent as.
    pub fn problem(&self) -> Problem {
        Problem {
            problem_type: "about:blank".to_owned(),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            code: self.code.to_owned(),
            detail: self.detail.clone(),
            field: self.field.clone(),
            retry_after: self.retry_after,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.detail)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(source) = &self.source {
            tracing::error!(code = self.code, error = ?source, "request failed");
        } else if self.status.is_server_error() {
            tracing::error!(code = self.code, detail = %self.detail, "request failed");
        } else {
            tracing::debug!(code = self.code, detail = %self.detail, "request rejected");
        }

        let mut response = (self.status, axum::Json(self.problem())).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::internal(error)
    }
}

impl From<crate::storage::StorageError> for ApiError {
    fn from(error: crate::storage::StorageError) -> Self {
        match error {
            crate::storage::StorageError::Conflict(detail) => Self::conflict("conflict", detail),
            crate::storage::StorageError::Database(source) => Self::internal(source),
        }
    }
}

/// Result type of handlers and services.
pub type ApiResult<T> = Result<T, ApiError>;

/// JSON request body extractor whose rejection is an [`ApiError`], so malformed
/// bodies get the same problem+json shape as every other error.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(
        request: axum::extract::Request,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: axum::extract::rejection::JsonRejection) -> ApiError {
    use axum::extract::rejection::JsonRejection;

    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "The request body must be JSON: send `Content-Type: application/json`.",
        ),
        JsonRejection::JsonDataError(error) => {
            let (field, message) = split_data_error(&error.body_text());
            let problem = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                format!("The JSON body does not match the expected shape: {message}"),
            );
            match field {
                Some(field) => problem.with_field(field),
                None => problem,
            }
        }
        JsonRejection::JsonSyntaxError(error) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!(
                "The request body is not valid JSON: {}",
                error
                    .body_text()
                    .trim_start_matches("Failed to parse the request body as JSON: ")
            ),
        ),
        JsonRejection::BytesRejection(_) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "The request body could not be read; it may exceed the configured maximum size.",
        ),
        other => ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", other.body_text()),
    }
}

/// Query string extractor whose rejection is an [`ApiError`] naming the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => {
                let text = rejection.body_text();
                let detail = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                let (field, message) = match detail.split_once(": ") {
                    Some((field, message)) if !field.contains(' ') => {
                        (Some(field.to_owned()), message.to_owned())
                    }
                    _ => (None, detail.to_owned()),
                };
                let problem = ApiError::invalid(
                    "invalid_query",
                    "",
                    format!("The query string is invalid: {message}"),
                );
                Err(ApiError { field, ..problem })
            }
        }
    }
}

/// Splits axum's data error text, `Failed to deserialize ...: PATH: MESSAGE`,
/// into the field path (absent for the root) and the message.
fn split_data_error(text: &str) -> (Option<String>, String) {
    let detail = text
        .split_once("target type: ")
        .map(|(_, rest)| rest)
        .unwrap_or(text);
    match detail.split_once(": ") {
        Some((path, message)) if !path.contains(' ') && path != "." => {
            (Some(path.to_owned()), message.to_owned())
        }
        Some((".", message)) => (None, message.to_owned()),
        _ => (None, detail.to_owned()),
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::split_data_error;

    #[test]
    fn data_error_names_nested_field() {
        let (field, message) = split_data_error(
            "Failed to deserialize the JSON body into the target type: names.nick_name: unknown field `nick_name` at line 1 column 30",
        );
        assert_eq!(field.as_deref(), Some("names.nick_name"));
        assert!(message.starts_with("unknown field `nick_name`"));
    }

    #[test]
    fn data_error_at_root_has_no_field() {
        let (field, message) =
            split_data_error("Failed to deserialize the JSON body into the target type: missing field `subject` at line 1 column 2");
        assert_eq!(field, None);
        assert!(message.contains("missing field `subject`"));
    }
}
