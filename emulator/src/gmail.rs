//! Gmail API v1 handlers: `users.messages.send` (JSON `raw`, multipart and media uploads) and
//! `users.getProfile`, with the sender's Sent folder kept in memory.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::access::{authorize, resolve_user, Api, Method};
use crate::errors::{ApiResult, GoogleError};
use crate::keys::random_hex;
use crate::message::{check_recipients, prepare_for_sending, MessageProblem};
use crate::multipart;
use crate::people::parse_json_body;
use crate::query::Params;
use crate::state::AppState;

/// Largest message Gmail accepts: 35 MB, as the discovery document's `maxSize` states.
pub const MAX_MESSAGE_BYTES: usize = 36_700_160;

/// Largest request body the emulator reads, so an oversized message still gets Gmail's 413
/// instead of a connection error (base64 in JSON grows a message by a third).
const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

const SEND: Method = Method {
    api: Api::Gmail,
    rpc_name: "caribou.api.proto.MailboxService.SendMessage",
    scopes: &[
        "https://mail.google.com/",
        "https://www.googleapis.com/auth/gmail.addons.current.action.compose",
        "https://www.googleapis.com/auth/gmail.compose",
        "https://www.googleapis.com/auth/gmail.modify",
        "https://www.googleapis.com/auth/gmail.send",
    ],
};

const PROFILE: Method = Method {
    api: Api::Gmail,
    rpc_name: "caribou.api.proto.MailboxService.GetProfile",
    scopes: &[
        "https://mail.google.com/",
        "https://www.googleapis.com/auth/gmail.compose",
        "https://www.googleapis.com/auth/gmail.metadata",
        "https://www.googleapis.com/auth/gmail.modify",
        "https://www.googleapis.com/auth/gmail.readonly",
    ],
};

/// Base64 as the proto3 JSON mapping reads `bytes` fields: either alphabet, padding optional.
const BASE64_URL_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const BASE64_STANDARD_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A user's Gmail data: only what sending needs.
#[derive(Debug, Default)]
pub struct Mailbox {
    /// Sent messages, oldest first.
    pub sent: Vec<StoredMessage>,
    /// Thread ids in this mailbox.
    pub threads: BTreeSet<String>,
    /// Mailbox history id, raised by every change.
    pub history_id: u64,
}

/// A message in the Sent folder.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    /// Message id (16 hex digits).
    pub id: String,
    /// Thread id.
    pub thread_id: String,
    /// Sent-folder copy, Bcc header included.
    pub raw: Vec<u8>,
    /// The copy recipients get, without the Bcc header.
    pub delivered_raw: Vec<u8>,
}

/// Routes of the Gmail API relative to the hub's base URL and root URL.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/gmail/v1/users/{user_id}/messages/send", post(send_json))
        .route(
            "/upload/gmail/v1/users/{user_id}/messages/send",
            post(send_upload),
        )
        .route("/gmail/v1/users/{user_id}/profile", get(get_profile))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
}

async fn send_json(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let caller = authorize(&state, &headers, &SEND)?;
    let user = resolve_user(&caller, &user_id)?;

    let request = parse_json_body(&body)?;
    let raw = match request.get("raw").and_then(Value::as_str) {
        Some(raw) if !raw.is_empty() => decode_raw(raw)?,
        _ => return Err(invalid_argument(
            "'raw' RFC822 payload message string or uploading message via /upload/* URL required",
        )),
    };
    let thread_id = request.get("threadId").and_then(Value::as_str);
    send(&state, &user, &raw, thread_id)
}

async fn send_upload(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let caller = authorize(&state, &headers, &SEND)?;
    let user = resolve_user(&caller, &user_id)?;

    let params = Params::parse(query.as_deref());
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let (metadata, raw) = match params.get("uploadType").unwrap_or("media") {
        "multipart" => split_multipart(content_type, &body)?,
        "media" => (json!({}), body.to_vec()),
        other => {
            // NOTE: resumable uploads are not emulated; google-gmail1's `upload` uses multipart.
            return Err(invalid_argument(format!(
                "Invalid upload type \"{other}\"; the emulator supports media and multipart."
            )));
        }
    };
    let thread_id = metadata.get("threadId").and_then(Value::as_str);
    send(&state, &user, &raw, thread_id)
}

/// Returns the metadata JSON and the message of a multipart/related upload.
fn split_multipart(content_type: &str, body: &[u8]) -> Result<(Value, Vec<u8>), GoogleError> {
    let boundary = multipart::boundary(content_type).ok_or_else(|| {
        invalid_argument("Invalid multipart request: the Content-Type must be multipart/related with a boundary.")
    })?;
    let parts = multipart::parse(body, &boundary)
        .ok_or_else(|| invalid_argument("Invalid multipart request with 0 mime parts."))?;
    match parts.as_slice() {
        [metadata, media] => Ok((parse_json_body(metadata.body)?, media.body.to_vec())),
        [media] if !media.content_type.starts_with("application/json") => {
            Ok((json!({}), media.body.to_vec()))
        }
        _ => Err(invalid_argument(format!(
            "Invalid multipart request with {} mime parts.",
            parts.len()
        ))),
    }
}

/// Validates, rewrites and stores a message; returns Gmail's Message resource.
fn send(
    state: &AppState,
    user: &str,
    raw: &[u8],
    thread_id: Option<&str>,
) -> ApiResult<Json<Value>> {
    if raw.len() > MAX_MESSAGE_BYTES {
        // NOTE: the status is Gmail's; the body wording is the emulator's own.
        return Err(GoogleError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request payload size exceeds the limit: {MAX_MESSAGE_BYTES} bytes."),
        )
        .reason("global", "uploadTooLarge"));
    }
    check_recipients(raw).map_err(|problem| match problem {
        MessageProblem::InvalidTo => invalid_argument("Invalid To header"),
        MessageProblem::NoRecipient => invalid_argument("Recipient address required"),
    })?;

    let now = state.clock.now();
    let (sent_raw, delivered_raw) = prepare_for_sending(raw, user, now);
    let mut world = state.world();
    let mailbox = &mut world
        .user_mut(user)
        .ok_or_else(GoogleError::not_found)?
        .mailbox;

    let id = message_id();
    let thread_id = match thread_id {
        Some(thread) if mailbox.threads.contains(thread) => thread.to_string(),
        _ => id.clone(),
    };
    mailbox.threads.insert(thread_id.clone());
    mailbox.history_id += 1;
    mailbox.sent.push(StoredMessage {
        id: id.clone(),
        thread_id: thread_id.clone(),
        raw: sent_raw,
        delivered_raw,
    });
    Ok(Json(
        json!({"id": id, "threadId": thread_id, "labelIds": ["SENT"]}),
    ))
}

async fn get_profile(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let caller = authorize(&state, &headers, &PROFILE)?;
    let user = resolve_user(&caller, &user_id)?;

    let world = state.world();
    let account = world.user(&user).ok_or_else(GoogleError::not_found)?;
    let mailbox = &account.mailbox;
    Ok(Json(json!({
        "emailAddress": account.email,
        "messagesTotal": mailbox.sent.len(),
        "threadsTotal": mailbox.threads.len(),
        "historyId": (mailbox.history_id + 1000).to_string(),
    })))
}

fn decode_raw(raw: &str) -> Result<Vec<u8>, GoogleError> {
    BASE64_URL_ANY_PADDING
        .decode(raw)
        .or_else(|_| BASE64_STANDARD_ANY_PADDING.decode(raw))
        .map_err(|_| {
            let message = format!("Invalid value for ByteString: {}", abbreviate(raw));
            invalid_argument(message).detail(json!({
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": "raw", "description": "Invalid value for ByteString"}],
            }))
        })
}

fn abbreviate(text: &str) -> String {
    text.chars().take(40).collect()
}

/// Gmail's 400 with reason `invalidArgument`.
fn invalid_argument(message: impl Into<String>) -> GoogleError {
    let message = message.into();
    GoogleError::new(StatusCode::BAD_REQUEST, message.clone())
        .reason_with_message("global", "invalidArgument", &message)
        .rpc_status("INVALID_ARGUMENT")
}

/// Generates a Gmail-style message id: 16 hex digits.
fn message_id() -> String {
    format!("19{}", random_hex(14))
}
