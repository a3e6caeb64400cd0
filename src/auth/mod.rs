//! API keys: `Authorization: Bearer <key>`, a role per key and an optional
//! brokerage the key is limited to. Keys are stored only as HMAC-SHA256 hashes.

mod http;
mod keys;

pub use http::{router, ApiDoc};
pub use keys::{ApiKeyHasher, ApiKeyRecord, NewApiKey, Role};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};

use crate::error::ApiError;
use crate::state::AppState;

/// Id reported for requests made with the bootstrap admin key from the settings.
pub const BOOTSTRAP_KEY_ID: &str = "bootstrap-admin";

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    api_key_id: String,
    role: Role,
    brokerage_id: Option<String>,
}

impl Caller {
    /// Id of the API key that made the request, for audit records.
    pub fn api_key_id(&self) -> &str {
        &self.api_key_id
    }

    /// Role of the API key.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Brokerage the key is limited to, if any.
    pub fn brokerage_scope(&self) -> Option<&str> {
        self.brokerage_id.as_deref()
    }

    /// Checks whether this key may see `brokerage_id` at all.
    pub fn can_see(&self, brokerage_id: &str) -> bool {
        self.brokerage_id
            .as_deref()
            .is_none_or(|own| own == brokerage_id)
    }

    /// Allows reading contacts and events and sending mail: admin and service keys.
    pub fn authorize_data(&self, brokerage_id: &str) -> Result<(), ApiError> {
        self.authorize(brokerage_id, &[Role::Admin, Role::Service])
    }

    /// Allows managing a brokerage, its credentials and verifications: admin and support keys.
    pub fn authorize_manage(&self, brokerage_id: &str) -> Result<(), ApiError> {
        self.authorize(brokerage_id, &[Role::Admin, Role::Support])
    }

    /// Allows enrolling and removing users: every role.
    pub fn authorize_enroll(&self, brokerage_id: &str) -> Result<(), ApiError> {
        self.authorize(brokerage_id, &[Role::Admin, Role::Support, Role::Service])
    }

    /// Allows reading a brokerage's status: every role.
    pub fn authorize_read(&self, brokerage_id: &str) -> Result<(), ApiError> {
        self.authorize_enroll(brokerage_id)
    }

    /// Allows what only an unscoped admin key may do: API keys, audit log, creating brokerages.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role == Role::Admin && self.brokerage_id.is_none() {
            Ok(())
        } else {
            Err(forbidden(
                "This operation needs an admin API key that is not limited to one brokerage.",
            ))
        }
    }

    fn authorize(&self, brokerage_id: &str, roles: &[Role]) -> Result<(), ApiError> {
        if !self.can_see(brokerage_id) {
            return Err(crate::brokerages::not_found(brokerage_id));
        }
        if !roles.contains(&self.role) {
            return Err(forbidden(format!(
                "A {} API key cannot do this; it needs one of the roles: {}.",
                self.role.as_str(),
                roles
                    .iter()
                    .map(|role| role.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(())
    }
}

fn forbidden(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", detail)
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header_value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("Missing `Authorization: Bearer <API key>` header."))?;
        // The scheme name is case-insensitive (RFC 9110, section 11.1).
        let presented = header_value
            .to_str()
            .ok()
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim())
            .filter(|value| !value.is_empty())
            .ok_or_else(|| unauthorized("The Authorization header must be `Bearer <API key>`."))?;

        let caller = keys::authenticate(state, presented).await?;
        match caller {
            Some(caller) => {
                tracing::Span::current().record("api_key_id", caller.api_key_id.as_str());
                Ok(caller)
            }
            None => {
                tracing::warn!("request with an unknown or revoked API key");
                Err(unauthorized("The API key is unknown or revoked."))
            }
        }
    }
}
