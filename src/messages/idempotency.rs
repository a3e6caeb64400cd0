//! `Idempotency-Key` handling: parsing the header, hashing the request and
//! claiming the right to send through the `messages` table.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};

use super::model::SendMessageRequest;
use super::store::{self, MessageRow};
use crate::error::{ApiError, ApiResult};
use crate::storage::{Db, StorageError};

/// Name of the request header.
pub const HEADER: &str = "Idempotency-Key";

/// Name of the response header set on a replayed result, lower-cased as HTTP/2 sends it.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// Maximum key length in characters.
pub const MAX_KEY_CHARS: usize = 255;

/// Error code stored on a row that was `sending` when the gateway stopped waiting for it.
pub const INTERRUPTED_CODE: &str = "send_interrupted";

/// How long callers wait before retrying a send that is in progress, and how
/// long a row may stay `sending` before it is declared `unknown`.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// `Retry-After` for `idempotency_in_progress`.
    pub retry_after: Duration,
    /// Age after which a `sending` row cannot still have a Gmail call in flight.
    pub stale_after: Duration,
}

impl Timing {
    /// Derives the timing from the Google timeouts: a send waits at most for one
    /// token exchange and one Gmail request, and a minute more covers database writes.
    pub fn from_settings(google: &crate::config::GoogleSettings) -> Self {
        Self {
            retry_after: google.request_timeout().max(Duration::from_secs(1)),
            stale_after: google.token_timeout()
                + google.request_timeout()
                + Duration::from_secs(60),
        }
    }
}

/// The outcome of [`claim`].
#[derive(Debug)]
pub enum Claim {
    /// This request owns the `sending` row and must send.
    Send(MessageRow),
    /// An earlier request with the same key and body was sent; return its row.
    Replay(MessageRow),
}

/// Reads the optional `Idempotency-Key` header: 1 to 255 visible ASCII characters.
pub fn key_from_headers(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid_key("Send the Idempotency-Key header once."));
    }

    let key = value
        .to_str()
        .ok()
        .filter(|key| (1..=MAX_KEY_CHARS).contains(&key.len()))
        .filter(|key| key.bytes().all(|byte| byte.is_ascii_graphic()))
        .ok_or_else(|| {
            invalid_key("Use 1 to 255 visible ASCII characters without spaces, such as a UUID.")
        })?;
    Ok(Some(key.to_owned()))
}

fn invalid_key(detail: &str) -> ApiError {
    ApiError::invalid("invalid_idempotency_key", HEADER, detail)
}

/// Hex SHA-256 of the request re-serialized as JSON, so spacing, key order and
/// omitted defaults of the original body do not change the hash.
pub fn request_hash(request: &SendMessageRequest) -> ApiResult<String> {
    let canonical = serde_json::to_vec(request).map_err(ApiError::internal)?;
    let digest = ring::digest::digest(&ring::digest::SHA256, &canonical);
    Ok(hex::encode(digest.as_ref()))
}

/// Inserts the `sending` row for this request, or resolves the row that
/// already has its idempotency key.
///
/// Errors: 422 `idempotency_key_reused` for another body, 409
/// `idempotency_in_progress` while the first request is still sending, 502
/// `send_outcome_unknown` when Gmail never reported the first send's outcome.
pub async fn claim(
    db: &Db,
    brokerage_id: &str,
    user_email: &str,
    key: Option<&str>,
    request_hash: &str,
    timing: Timing,
) -> ApiResult<Claim> {
    // Each round inserts, returns, or loses a race to another request that
    // changed the row. Three rounds cover an insert race plus a retry race.
    for _ in 0..3 {
        match store::insert_sending(db, brokerage_id, user_email, key, request_hash).await {
            Ok(row) => return Ok(Claim::Send(row)),
            Err(StorageError::Conflict(_)) => {}
            Err(error) => return Err(error.into()),
        }

        let Some(key) = key else {
            return Err(ApiError::internal(anyhow::anyhow!(
                "insert of a message without idempotency key hit a unique constraint"
            )));
        };
        let existing = store::find_by_idempotency_key(db, brokerage_id, user_email, key).await?;
        if let Some(row) = existing {
            if let Some(claim) = resolve(db, brokerage_id, row, request_hash, timing).await? {
                return Ok(claim);
            }
        }
    }

    Err(in_progress(timing))
}

/// Decides what an existing row means for a new request with its key. Returns
/// `None` when another request changed the row meanwhile, so the claim starts over.
async fn resolve(
    db: &Db,
    brokerage_id: &str,
    row: MessageRow,
    request_hash: &str,
    timing: Timing,
) -> ApiResult<Option<Claim>> {
    if row.request_hash != request_hash {
        return Err(ApiError::unprocessable(
            "idempotency_key_reused",
            "This Idempotency-Key was already used with a different request body; use a new key for a new message.",
        )
        .with_field(HEADER));
    }

    let row = settle_stale(db, brokerage_id, row, timing).await?;
    match row.status.as_str() {
        store::SENT => Ok(Some(Claim::Replay(row))),
        store::FAILED => {
            // The earlier attempt was definitely not sent, so this one may send.
            let reclaimed = store::reclaim_failed(db, brokerage_id, &row.id).await?;
            Ok(reclaimed.then(|| {
                Claim::Send(MessageRow {
                    status: store::SENDING.to_owned(),
                    error_code: None,
                    error_detail: None,
                    ..row
                })
            }))
        }
        store::UNKNOWN => Err(outcome_unknown(&row.id, row.error_detail.as_deref())),
        _ => Err(in_progress(timing)),
    }
}

/// Moves a row that has been `sending` for longer than any send can take to
/// `unknown`: the process that sent it stopped, so no one will record the outcome.
pub async fn settle_stale(
    db: &Db,
    brokerage_id: &str,
    row: MessageRow,
    timing: Timing,
) -> ApiResult<MessageRow> {
    if row.status != store::SENDING {
        return Ok(row);
    }

    let stale_after = chrono::Duration::from_std(timing.stale_after).map_err(ApiError::internal)?;
    let cutoff =
        (chrono::Utc::now() - stale_after).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let detail = "The gateway stopped before Gmail answered the send.";
    let expired =
        store::expire_sending(db, brokerage_id, &row.id, &cutoff, INTERRUPTED_CODE, detail).await?;
    if !expired {
        return Ok(row);
    }

    Ok(MessageRow {
        status: store::UNKNOWN.to_owned(),
        error_code: Some(INTERRUPTED_CODE.to_owned()),
        error_detail: Some(detail.to_owned()),
        ..row
    })
}

/// Builds the 409 for a key whose first request is still sending.
pub fn in_progress(timing: Timing) -> ApiError {
    ApiError::conflict(
        "idempotency_in_progress",
        "A request with this Idempotency-Key is still sending; retry after the indicated seconds to get its result.",
    )
    .with_field(HEADER)
    .with_retry_after(timing.retry_after.as_secs())
}

/// Builds the 502 for a send whose outcome Gmail never reported.
pub fn outcome_unknown(message_id: &str, cause: Option<&str>) -> ApiError {
    let cause = cause.unwrap_or("Gmail did not answer");
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "send_outcome_unknown",
        format!(
            "Gmail did not confirm message {message_id} ({cause}), so it may or may not have been sent. The gateway will not send it again with this Idempotency-Key: look for it in the agent's Sent folder and, only if it is missing, send it with a new key."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::store::tests::test_db;

    const USER: &str = "agent@acme-realty.com";

    fn timing() -> Timing {
        Timing {
            retry_after: Duration::from_secs(30),
            stale_after: Duration::from_secs(100),
        }
    }

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                HEADER,
                axum::http::HeaderValue::from_bytes(value).expect("header value"),
            );
        }
        headers
    }

    async fn claim_key(db: &Db, key: &str, hash: &str) -> ApiResult<Claim> {
        claim(db, "acme", USER, Some(key), hash, timing()).await
    }

    #[test]
    fn key_header_parsed() {
        assert_eq!(key_from_headers(&headers(&[])).expect("no key"), None);
        assert_eq!(
            key_from_headers(&headers(&[b"9b2f-4c1e"]))
                .expect("key")
                .as_deref(),
            Some("9b2f-4c1e")
        );
        assert!(key_from_headers(&headers(&[&[b'k'; MAX_KEY_CHARS]])).is_ok());
    }

    #[test]
    fn bad_key_headers_rejected() {
        let too_long = [b'k'; MAX_KEY_CHARS + 1];
        let cases: [&[&[u8]]; 5] = [
            &[b""],
            &[b"a b"],
            &["café".as_bytes()],
            &[&too_long],
            &[b"a", b"b"],
        ];
        for values in cases {
            let error = key_from_headers(&headers(values)).expect_err("rejected");
            assert_eq!(error.code(), "invalid_idempotency_key", "{values:?}");
        }
    }

    #[test]
    fn hash_ignores_formatting() {
        let compact: SendMessageRequest = serde_json::from_str(
            r#"{"to":[{"email":"a@example.com"}],"subject":"S","text_body":"B"}"#,
        )
        .expect("request");
        let spaced: SendMessageRequest = serde_json::from_str(
            r#"{ "text_body": "B", "subject": "S", "cc": [], "to": [ { "email": "a@example.com" } ] }"#,
        )
        .expect("request");
        let other: SendMessageRequest = serde_json::from_str(
            r#"{"to":[{"email":"a@example.com"}],"subject":"S","text_body":"C"}"#,
        )
        .expect("request");

        let hash = request_hash(&compact).expect("hash");
        assert_eq!(hash, request_hash(&spaced).expect("hash"));
        assert_ne!(hash, request_hash(&other).expect("hash"));
        assert_eq!(hash.len(), 64);
    }

    #[tokio::test]
    async fn first_claim_sends_second_waits() {
        let db = test_db().await;

        let first = claim_key(&db, "k", "h").await.expect("first");
        let second = claim_key(&db, "k", "h").await.expect_err("second");

        assert!(matches!(first, Claim::Send(_)));
        assert_eq!(second.code(), "idempotency_in_progress");
        assert_eq!(second.status(), StatusCode::CONFLICT);
        assert_eq!(second.problem().retry_after, Some(30));
    }

    #[tokio::test]
    async fn other_body_rejected() {
        let db = test_db().await;
        claim_key(&db, "k", "h1").await.expect("first");

        let error = claim_key(&db, "k", "h2").await.expect_err("reused");

        assert_eq!(error.code(), "idempotency_key_reused");
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[tokio::test]
    async fn sent_row_replayed() {
        let db = test_db().await;
        let Claim::Send(row) = claim_key(&db, "k", "h").await.expect("first") else {
            panic!("first claim must send");
        };
        store::mark_sent(&db, "acme", &row.id, Some("m1"), Some("t1"))
            .await
            .expect("sent");

        let Claim::Replay(replayed) = claim_key(&db, "k", "h").await.expect("replay") else {
            panic!("second claim must replay");
        };
        assert_eq!(replayed.id, row.id);
        assert_eq!(replayed.gmail_message_id.as_deref(), Some("m1"));
    }

    #[tokio::test]
    async fn failed_row_sent_again() {
        let db = test_db().await;
        let Claim::Send(row) = claim_key(&db, "k", "h").await.expect("first") else {
            panic!("first claim must send");
        };
        store::mark_ended(
            &db,
            "acme",
            &row.id,
            store::FAILED,
            "google_rate_limited",
            "later",
        )
        .await
        .expect("failed");

        let Claim::Send(retry) = claim_key(&db, "k", "h").await.expect("retry") else {
            panic!("retry after a failure must send");
        };
        assert_eq!(retry.id, row.id);
        assert_eq!(retry.status, store::SENDING);
    }

    #[tokio::test]
    async fn unknown_row_never_sent_again() {
        let db = test_db().await;
        let Claim::Send(row) = claim_key(&db, "k", "h").await.expect("first") else {
            panic!("first claim must send");
        };
        store::mark_ended(
            &db,
            "acme",
            &row.id,
            store::UNKNOWN,
            "google_timeout",
            "no answer",
        )
        .await
        .expect("unknown");

        let error = claim_key(&db, "k", "h").await.expect_err("unknown");

        assert_eq!(error.code(), "send_outcome_unknown");
        assert_eq!(error.status(), StatusCode::BAD_GATEWAY);
        assert!(error.detail().contains(&row.id));
    }

    #[tokio::test]
    async fn stale_sending_becomes_unknown() {
        let db = test_db().await;
        claim_key(&db, "k", "h").await.expect("first");
        let no_wait = Timing {
            retry_after: Duration::from_secs(1),
            stale_after: Duration::ZERO,
        };
        tokio::time::sleep(Duration::from_millis(5)).await;

        let error = claim(&db, "acme", USER, Some("k"), "h", no_wait)
            .await
            .expect_err("stale");

        assert_eq!(error.code(), "send_outcome_unknown");
        let row = store::find_by_idempotency_key(&db, "acme", USER, "k")
            .await
            .expect("find")
            .expect("row");
        assert_eq!(row.status, store::UNKNOWN);
        assert_eq!(row.error_code.as_deref(), Some(INTERRUPTED_CODE));
    }

    #[tokio::test]
    async fn concurrent_claims_send_once() {
        let db = test_db().await;

        let claims = (0..8).map(|_| {
            let db = db.clone();
            tokio::spawn(async move { claim_key(&db, "same", "h").await })
        });
        let results = futures::future::join_all(claims).await;

        let mut sends = 0;
        for result in results {
            match result.expect("task") {
                Ok(Claim::Send(_)) => sends += 1,
                Ok(Claim::Replay(_)) => panic!("nothing was sent yet"),
                Err(error) => assert_eq!(error.code(), "idempotency_in_progress"),
            }
        }
        assert_eq!(sends, 1);
    }
}
