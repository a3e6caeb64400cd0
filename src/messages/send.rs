//! One send from request to recorded outcome: validate, render, claim the
//! idempotency key, call Gmail, record Gmail's response.

use std::io::Cursor;

use axum::body::Bytes;
use tracing::Instrument;

use super::idempotency::{self, Claim, Timing};
use super::model::SendMessageRequest;
use super::store::{self, MessageRow};
use super::{mime, validate};
use crate::credentials::DelegatedKey;
use crate::error::{ApiError, ApiResult};
use crate::google::{scopes, GoogleApi, GoogleError};
use crate::state::AppState;
use crate::users::EnrolledUser;

/// Result of a send request.
#[derive(Debug)]
pub enum Outcome {
    /// Gmail accepted the message in this request.
    Sent(MessageRow),
    /// An earlier request with the same key and body sent it.
    Replayed(MessageRow),
}

/// Sends `request` as `user`. Requests with the same idempotency key send at
/// most once, because only the request that inserts or reclaims the row sends.
#[tracing::instrument(skip_all, fields(brokerage_id = %user.brokerage.id, has_idempotency_key = idempotency_key.is_some()))]
pub async fn send(
    state: &AppState,
    user: &EnrolledUser,
    idempotency_key: Option<String>,
    request: SendMessageRequest,
) -> ApiResult<Outcome> {
    let brokerage_id = user.brokerage.id.as_str();
    let from = user.email.clone();
    let prepared = tokio::task::spawn_blocking(move || prepare(&from, request))
        .await
        .map_err(ApiError::internal)??;

    let timing = Timing::from_settings(&state.settings.google);
    let claim = idempotency::claim(
        &state.db,
        brokerage_id,
        &user.email,
        idempotency_key.as_deref(),
        &prepared.request_hash,
        timing,
    )
    .await?;
    let row = match claim {
        Claim::Replay(row) => return Ok(Outcome::Replayed(row)),
        Claim::Send(row) => row,
    };

    // Loading the key, the Gmail call and the recording of the outcome run in
    // their own task, so a client that disconnects or a server timeout cannot
    // cancel them half-way and leave the row `sending`.
    let task_state = state.clone();
    let task_brokerage_id = brokerage_id.to_owned();
    let user_email = user.email.clone();
    let task = tokio::spawn(
        async move {
            let key = match crate::credentials::active_key(&task_state, &task_brokerage_id).await {
                Ok(key) => key,
                Err(error) => {
                    record_failure(
                        &task_state,
                        &task_brokerage_id,
                        &row.id,
                        store::FAILED,
                        error.code(),
                        error.detail(),
                    )
                    .await;
                    return Err(error);
                }
            };
            deliver(
                task_state,
                key,
                user_email,
                row,
                prepared.thread_id,
                prepared.raw,
            )
            .await
        }
        .in_current_span(),
    );
    match task.await {
        Ok(result) => result.map(Outcome::Sent),
        Err(join_error) => Err(ApiError::internal(join_error)),
    }
}

/// A checked request, rendered for Gmail.
struct Prepared {
    request_hash: String,
    thread_id: Option<String>,
    raw: Vec<u8>,
}

/// Hashes, validates and renders `request`. Callers run it on a blocking
/// thread because decoding and encoding up to 35 MiB of attachments takes a while.
fn prepare(from: &str, request: SendMessageRequest) -> ApiResult<Prepared> {
    let request_hash = idempotency::request_hash(&request)?;
    let thread_id = request.thread_id.clone();

    let draft = validate::draft(from, request)?;
    let raw = mime::render(draft).map_err(ApiError::internal)?;
    if raw.len() > mime::MAX_MESSAGE_BYTES {
        return Err(validate::too_large(raw.len()));
    }

    Ok(Prepared {
        request_hash,
        thread_id,
        raw,
    })
}

#[tracing::instrument(skip_all, fields(message_id = %row.id))]
async fn deliver(
    state: AppState,
    key: DelegatedKey,
    user_email: String,
    row: MessageRow,
    thread_id: Option<String>,
    raw: Vec<u8>,
) -> ApiResult<MessageRow> {
    let brokerage_id = key.brokerage_id.clone();
    let has_thread_id = thread_id.is_some();
    let hub = state.google.gmail(&key, &user_email);
    let raw = Bytes::from(raw);
    let media_type: ::mime::Mime = "message/rfc822"
        .parse()
        .map_err(|error| ApiError::internal(anyhow::anyhow!("media type: {error}")))?;

    // `mutate` repeats the call only when the token exchange failed
    // transiently, that is when Gmail never saw the message.
    let hub = &hub;
    let result = state
        .google
        .mutate(GoogleApi::Gmail, || {
            let message = google_gmail1::api::Message {
                thread_id: thread_id.clone(),
                ..Default::default()
            };
            hub.users()
                .messages_send(message, "me")
                .add_scope(scopes::GMAIL_COMPOSE)
                .upload(Cursor::new(raw.clone()), media_type.clone())
        })
        .await;

    match result {
        Ok((_response, sent)) => record_sent(&state, &brokerage_id, row, sent).await,
        Err(error) => {
            Err(record_google_error(&state, &brokerage_id, &row.id, has_thread_id, error).await)
        }
    }
}

async fn record_sent(
    state: &AppState,
    brokerage_id: &str,
    row: MessageRow,
    sent: google_gmail1::api::Message,
) -> ApiResult<MessageRow> {
    tracing::info!(
        brokerage_id,
        message_id = %row.id,
        gmail_message_id = sent.id.as_deref().unwrap_or_default(),
        "message sent"
    );

    let stored = store::mark_sent(
        &state.db,
        brokerage_id,
        &row.id,
        sent.id.as_deref(),
        sent.thread_id.as_deref(),
    )
    .await;
    // The message is out, so a failed write is logged but not returned: an
    // error would invite the caller to send again.
    match stored {
        Ok(true) => {}
        Ok(false) => {
            tracing::error!(brokerage_id, message_id = %row.id, "a sent message's row was in an unexpected state and was not updated")
        }
        Err(error) => {
            tracing::error!(brokerage_id, message_id = %row.id, error = ?error, "recording a sent message failed")
        }
    }

    Ok(MessageRow {
        status: store::SENT.to_owned(),
        gmail_message_id: sent.id,
        gmail_thread_id: sent.thread_id,
        updated_at: crate::storage::now_rfc3339(),
        ..row
    })
}

/// Records a failed Gmail call and returns the error for the caller: the
/// Google problem when nothing was sent, `send_outcome_unknown` otherwise.
async fn record_google_error(
    state: &AppState,
    brokerage_id: &str,
    id: &str,
    has_thread_id: bool,
    error: GoogleError,
) -> ApiError {
    if !error.was_not_applied() {
        // The stored cause is Google's failure itself, not the problem text,
        // whose advice to retry does not apply to a send that may have gone out.
        let cause = error.to_string();
        tracing::warn!(brokerage_id, message_id = %id, code = error.code(), "Gmail send outcome unknown");
        record_failure(
            state,
            brokerage_id,
            id,
            store::UNKNOWN,
            error.code(),
            &cause,
        )
        .await;
        return idempotency::outcome_unknown(id, Some(&cause));
    }

    let api_error = match error {
        // The thread is the only resource of a send besides the mailbox, which
        // the token exchange already proved to exist.
        GoogleError::NotFound(failure) if has_thread_id => ApiError::unprocessable(
            "thread_not_found",
            format!(
                "Gmail found no thread with the given thread_id in the agent's mailbox ({}).",
                failure.message
            ),
        )
        .with_field("thread_id"),
        other => other.into(),
    };

    record_failure(
        state,
        brokerage_id,
        id,
        store::FAILED,
        api_error.code(),
        api_error.detail(),
    )
    .await;
    api_error
}

async fn record_failure(
    state: &AppState,
    brokerage_id: &str,
    id: &str,
    status: &str,
    error_code: &str,
    error_detail: &str,
) {
    let result = store::mark_ended(
        &state.db,
        brokerage_id,
        id,
        status,
        error_code,
        error_detail,
    )
    .await;
    if let Err(storage_error) = result {
        tracing::error!(brokerage_id, message_id = %id, error = ?storage_error, "recording a failed send failed");
    }
}
