//! Handlers of `/v1/brokerages/{brokerage_id}/users/{email}/messages`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::idempotency::{self, Timing};
use super::model::{MessageRecord, SendMessageRequest};
use super::send::{self, Outcome};
use super::store;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiResult, Problem};
use crate::state::AppState;

/// Send a message as the agent.
///
/// Builds an RFC 5322 message from the request (the agent is `From`) and sends
/// it with Gmail's `users.messages.send`, so it appears in the agent's Sent
/// folder. With an `Idempotency-Key`, a retry returns the first result instead
/// of sending again.
#[utoipa::path(post, path = "/v1/brokerages/{brokerage_id}/users/{email}/messages", tag = "messages",
    params(
        ("brokerage_id" = String, Path, description = "Brokerage id"),
        ("email" = String, Path, description = "Address of the enrolled agent who sends"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters, such as a UUID. A retry with the same key and body returns the first result (200, `Idempotent-Replayed: true`) and never sends twice; a send that failed before Gmail accepted it is sent again."),
    ),
    request_body = SendMessageRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "Sent", body = MessageRecord),
        (status = 200, description = "Replay of an earlier send with the same Idempotency-Key", body = MessageRecord,
            headers(("Idempotent-Replayed" = String, description = "`true`"))),
        (status = 400, description = "Invalid field, named in `field`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Gmail scope not delegated or API disabled", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Brokerage, user or credentials not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`idempotency_in_progress`: the first request with this key is still sending; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`message_too_large`: over Gmail's 35 MiB limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`idempotency_key_reused`: the key was used with another body", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Gmail rate limit; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`send_outcome_unknown`: Gmail returned no response; check the Sent folder before sending again with a new key", body = Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn send_message(
    State(state): State<AppState>,
    caller: Caller,
    Path((brokerage_id, email)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<SendMessageRequest>,
) -> ApiResult<(StatusCode, HeaderMap, ApiJson<MessageRecord>)> {
    caller.authorize_data(&brokerage_id)?;
    let idempotency_key = idempotency::key_from_headers(&headers)?;
    let user = crate::users::require_enrolled(&state, &brokerage_id, &email).await?;

    let outcome = send::send(&state, &user, idempotency_key, request).await?;

    let mut response_headers = HeaderMap::new();
    let (status, row) = match outcome {
        Outcome::Sent(row) => (StatusCode::CREATED, row),
        Outcome::Replayed(row) => {
            response_headers.insert(
                HeaderName::from_static(idempotency::REPLAYED_HEADER),
                HeaderValue::from_static("true"),
            );
            (StatusCode::OK, row)
        }
    };
    Ok((status, response_headers, ApiJson(row.record())))
}

/// Read the status of a send.
#[utoipa::path(get, path = "/v1/brokerages/{brokerage_id}/users/{email}/messages/{message_id}", tag = "messages",
    params(
        ("brokerage_id" = String, Path, description = "Brokerage id"),
        ("email" = String, Path, description = "Address of the enrolled agent"),
        ("message_id" = String, Path, description = "Gateway id of the send, from the POST response"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The recorded send", body = MessageRecord),
        (status = 404, description = "Brokerage, user or message not found", body = Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn get_message(
    State(state): State<AppState>,
    caller: Caller,
    Path((brokerage_id, email, message_id)): Path<(String, String, String)>,
) -> ApiResult<ApiJson<MessageRecord>> {
    caller.authorize_data(&brokerage_id)?;
    let user = crate::users::require_enrolled(&state, &brokerage_id, &email).await?;

    let row = store::get(&state.db, &brokerage_id, &user.email, &message_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "message_not_found",
                format!(
                    "No message with id {message_id:?} was sent by {}.",
                    user.email
                ),
            )
        })?;

    let timing = Timing::from_settings(&state.settings.google);
    let row = idempotency::settle_stale(&state.db, &brokerage_id, row, timing).await?;
    Ok(ApiJson(row.record()))
}
