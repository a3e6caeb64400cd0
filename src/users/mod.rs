//! Users: the agent mailboxes of a brokerage that the gateway acts for.

mod http;
pub mod store;

pub use http::{router, ApiDoc};

use serde::Serialize;
use utoipa::ToSchema;

use crate::brokerages::Brokerage;
use crate::error::ApiError;
use crate::state::AppState;
use crate::validate::normalize_email;

/// An enrolled mailbox as returned by the API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    /// Address of the mailbox, lower-cased.
    pub email: String,
    /// Enrollment time (RFC 3339).
    pub created_at: String,
}

/// A user that is enrolled, with its brokerage, ready for a Google call.
#[derive(Debug, Clone)]
pub struct EnrolledUser {
    /// The user's brokerage.
    pub brokerage: Brokerage,
    /// The user's normalized address.
    pub email: String,
}

/// Normalizes `raw` and checks that it belongs to one of the brokerage's domains.
pub fn address_in_brokerage(brokerage: &Brokerage, raw: &str) -> Result<String, ApiError> {
    let email = normalize_email(raw).ok_or_else(|| {
        ApiError::invalid(
            "invalid_email",
            "email",
            format!("{raw:?} is not a plain mailbox address such as agent@acme-realty.com."),
        )
    })?;
    if !brokerage.owns_address(&email) {
        return Err(ApiError::invalid(
            "user_outside_domains",
            "email",
            format!(
                "{email} is not in the brokerage's domains ({}).",
                brokerage.domains.join(", ")
            ),
        ));
    }
    Ok(email)
}

/// Loads the brokerage and checks that `raw_email` is enrolled in it.
pub async fn require_enrolled(
    state: &AppState,
    brokerage_id: &str,
    raw_email: &str,
) -> Result<EnrolledUser, ApiError> {
    let brokerage = crate::brokerages::require(&state.db, brokerage_id).await?;
    let email = address_in_brokerage(&brokerage, raw_email)?;

    if store::get(&state.db, brokerage_id, &email).await?.is_none() {
        return Err(not_found(&email));
    }
    Ok(EnrolledUser { brokerage, email })
}

/// Builds the 404 for an address that is not enrolled.
pub(crate) fn not_found(email: &str) -> ApiError {
    ApiError::not_found(
        "user_not_found",
        format!("{email} is not enrolled in this brokerage; enroll it with PUT .../users/{email} first."),
    )
}
