//! Mail sent as an agent through Gmail (`users.messages.send`).
//!
//! A send is validated and rendered to RFC 5322 before anything is stored. It
//! is then recorded in `messages` with status `sending` before Gmail is called,
//! and moved to one of:
//!
//! - `sent`: Gmail returned the message and thread ids.
//! - `failed`: nothing was sent, because Gmail responded with a 4xx error
//!   (scope not delegated, rate limit, bad thread id) or the brokerage has no
//!   usable key. A retry with the same `Idempotency-Key` sends again.
//! - `unknown`: Gmail returned no usable response (timeout, broken
//!   connection, 5xx), so the message may have gone out. The send is never
//!   repeated for that key: the request and every retry get 502
//!   `send_outcome_unknown`, telling the caller to check the agent's Sent
//!   folder and to use a new key if the message is missing. This gives up
//!   automatic recovery so that a retried request never sends a message twice.
//!
//! A row left `sending` by a stopped process is moved to `unknown` by the
//! first retry or GET that reads it after the longest possible send (token
//! plus request timeout plus a minute), so a key never blocks forever. Until then a retry gets 409
//! `idempotency_in_progress` with `Retry-After`.
//!
//! Concurrent requests with one key race on the unique index over (brokerage,
//! user, key), and retries of a failed send race on a compare-and-set update,
//! so only one request sends. This module never logs or stores message bodies
//! or attachments: it keeps only a SHA-256 of the request body, to tell a
//! retry from a reused key.

mod http;
pub mod idempotency;
pub mod mime;
pub mod model;
mod send;
pub mod store;
pub mod validate;

use axum::routing::{get, post};
use axum::Router;
use utoipa::OpenApi;

use crate::state::AppState;

pub use model::{Address, AttachmentRequest, MessageRecord, SendMessageRequest};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/brokerages/{brokerage_id}/users/{email}/messages",
            post(http::send_message),
        )
        .route(
            "/v1/brokerages/{brokerage_id}/users/{email}/messages/{message_id}",
            get(http::get_message),
        )
}

/// OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(
    paths(http::send_message, http::get_message),
    components(schemas(SendMessageRequest, Address, AttachmentRequest, MessageRecord))
)]
pub struct ApiDoc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_documents_both_routes() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("OpenAPI JSON");
        let send = &doc["paths"]["/v1/brokerages/{brokerage_id}/users/{email}/messages"]["post"];
        let get = &doc["paths"]
            ["/v1/brokerages/{brokerage_id}/users/{email}/messages/{message_id}"]["get"];

        let parameters = send["parameters"].as_array().expect("parameters");
        assert!(
            parameters
                .iter()
                .any(|parameter| parameter["name"] == "Idempotency-Key"
                    && parameter["in"] == "header")
        );
        for status in ["200", "201", "400", "409", "413", "422", "502"] {
            assert!(
                send["responses"][status].is_object(),
                "POST documents {status}"
            );
        }
        assert!(get["responses"]["404"].is_object());
        assert!(doc["components"]["schemas"]["SendMessageRequest"].is_object());
    }
}
