//! `Idempotency-Key` handling for contact creates: hashing the request and
//! claiming the right to create through the `contact_creations` table. The
//! header syntax and the timing are the same as for mail sends.

use super::model::NewContact;
use super::store::{self, CreationRow};
use crate::error::{ApiError, ApiResult};
use crate::messages::idempotency::{Timing, HEADER};
use crate::storage::{Db, StorageError};

/// Error code stored on a row that was `creating` when the gateway stopped waiting for it.
pub const INTERRUPTED_CODE: &str = "create_interrupted";

/// Request timeouts of the longest create: the lookup of an uncertain create,
/// then the create itself.
const MAX_CREATE_REQUESTS: u32 = super::create::LOOKUP_REQUESTS + 1;

/// Derives the timing from the Google timeouts: a create waits at most for one
/// token exchange and [`MAX_CREATE_REQUESTS`] request timeouts, and a minute
/// more covers database writes.
pub fn timing(google: &crate::config::GoogleSettings) -> Timing {
    Timing {
        retry_after: google
            .request_timeout()
            .max(std::time::Duration::from_secs(1)),
        stale_after: google.token_timeout()
            + google.request_timeout() * MAX_CREATE_REQUESTS
            + std::time::Duration::from_secs(60),
    }
}

/// The outcome of [`claim`]. The claims that own the row carry the
/// `updated_at` they wrote, which `store::renew_claim` checks.
#[derive(Debug)]
pub enum Claim {
    /// This request owns the `creating` row, and no earlier attempt can have
    /// created the contact: it must create.
    Create(String),
    /// This request owns the `creating` row, but an earlier attempt may have
    /// created the contact: it must look for it before creating.
    Recover(String),
    /// An earlier request with the same key and body created the contact with
    /// this resource name.
    Replay(String),
}

/// Hex SHA-256 of the request re-serialized as JSON, so spacing, key order and
/// omitted defaults of the original body do not change the hash.
pub fn request_hash(request: &NewContact) -> ApiResult<String> {
    let canonical = serde_json::to_vec(request).map_err(ApiError::internal)?;
    let digest = ring::digest::digest(&ring::digest::SHA256, &canonical);
    Ok(hex::encode(digest.as_ref()))
}

/// Inserts the `creating` row for this request, or resolves the row that
/// already has its idempotency key.
///
/// Errors: 422 `idempotency_key_reused` for another body, 409
/// `idempotency_in_progress` while the first request is still creating.
pub async fn claim(
    db: &Db,
    brokerage_id: &str,
    user_email: &str,
    key: &str,
    request_hash: &str,
    timing: Timing,
) -> ApiResult<Claim> {
    // Each round inserts, returns, or loses a race to another request that
    // changed the row. Three rounds cover an insert race plus a retry race.
    for _ in 0..3 {
        match store::insert_creating(db, brokerage_id, user_email, key, request_hash).await {
            Ok(row) => return Ok(Claim::Create(row.updated_at)),
            Err(StorageError::Conflict(_)) => {}
            Err(error) => return Err(error.into()),
        }

        let existing = store::find(db, brokerage_id, user_email, key).await?;
        if let Some(row) = existing {
            let resolved = resolve(db, brokerage_id, user_email, row, request_hash, timing).await?;
            if let Some(claim) = resolved {
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
    user_email: &str,
    row: CreationRow,
    request_hash: &str,
    timing: Timing,
) -> ApiResult<Option<Claim>> {
    if row.request_hash != request_hash {
        return Err(ApiError::unprocessable(
            "idempotency_key_reused",
            "This Idempotency-Key was already used with a different request body; use a new key for a new contact.",
        )
        .with_field(HEADER));
    }

    let row = settle_stale(db, brokerage_id, user_email, row, timing).await?;
    let key = row.idempotency_key.as_str();
    match row.status.as_str() {
        store::CREATED => {
            let resource_name = row.resource_name.ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!("created contact row has no resource name"))
            })?;
            Ok(Some(Claim::Replay(resource_name)))
        }
        store::FAILED => {
            // The earlier attempt definitely created nothing, so this one may create.
            let reclaimed =
                store::reclaim(db, brokerage_id, user_email, key, store::FAILED).await?;
            Ok(reclaimed.map(Claim::Create))
        }
        store::UNKNOWN => {
            let reclaimed =
                store::reclaim(db, brokerage_id, user_email, key, store::UNKNOWN).await?;
            Ok(reclaimed.map(Claim::Recover))
        }
        _ => Err(in_progress(timing)),
    }
}

/// Moves a row that has been `creating` for longer than any create can take to
/// `unknown`: the process that created it stopped, so no one will record the outcome.
async fn settle_stale(
    db: &Db,
    brokerage_id: &str,
    user_email: &str,
    row: CreationRow,
    timing: Timing,
) -> ApiResult<CreationRow> {
    if row.status != store::CREATING {
        return Ok(row);
    }

    let stale_after = chrono::Duration::from_std(timing.stale_after).map_err(ApiError::internal)?;
    let cutoff =
        (chrono::Utc::now() - stale_after).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let expired = store::expire_creating(
        db,
        brokerage_id,
        user_email,
        &row.idempotency_key,
        &cutoff,
        INTERRUPTED_CODE,
    )
    .await?;
    if !expired {
        return Ok(row);
    }

    Ok(CreationRow {
        status: store::UNKNOWN.to_owned(),
        error_code: Some(INTERRUPTED_CODE.to_owned()),
        ..row
    })
}

/// Builds the 409 for a key whose first request is still creating.
pub fn in_progress(timing: Timing) -> ApiError {
    ApiError::conflict(
        "idempotency_in_progress",
        "A request with this Idempotency-Key is still creating the contact; retry after the indicated seconds to get its result.",
    )
    .with_field(HEADER)
    .with_retry_after(timing.retry_after.as_secs())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::StatusCode;

    use super::*;
    use crate::messages::store::tests::test_db;

    const USER: &str = "agent@acme-realty.com";

    fn timing() -> Timing {
        Timing {
            retry_after: Duration::from_secs(30),
            stale_after: Duration::from_secs(100),
        }
    }

    async fn claim_key(db: &Db, key: &str, hash: &str) -> ApiResult<Claim> {
        claim(db, "acme", USER, key, hash, timing()).await
    }

    async fn end(db: &Db, key: &str, status: &str) {
        let ended = store::mark_ended(db, "acme", USER, key, status, "google_unavailable")
            .await
            .expect("mark ended");
        assert!(ended, "row was creating");
    }

    #[test]
    fn hash_ignores_formatting() {
        let compact: NewContact =
            serde_json::from_str(r#"{"names":{"given_name":"Jane"},"notes":"N"}"#)
                .expect("request");
        let spaced: NewContact = serde_json::from_str(
            r#"{ "notes": "N", "email_addresses": [], "names": { "given_name": "Jane" } }"#,
        )
        .expect("request");
        let other: NewContact =
            serde_json::from_str(r#"{"names":{"given_name":"Jane"},"notes":"M"}"#)
                .expect("request");

        let hash = request_hash(&compact).expect("hash");
        assert_eq!(hash, request_hash(&spaced).expect("hash"));
        assert_ne!(hash, request_hash(&other).expect("hash"));
        assert_eq!(hash.len(), 64);
    }

    #[tokio::test]
    async fn first_claim_creates_second_waits() {
        let db = test_db().await;

        let first = claim_key(&db, "k", "h").await.expect("first");
        let second = claim_key(&db, "k", "h").await.expect_err("second");

        assert!(matches!(first, Claim::Create(_)));
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
    async fn created_row_replayed() {
        let db = test_db().await;
        claim_key(&db, "k", "h").await.expect("first");
        store::mark_created(&db, "acme", USER, "k", "people/c1")
            .await
            .expect("created");

        let claim = claim_key(&db, "k", "h").await.expect("replay");

        assert!(matches!(claim, Claim::Replay(name) if name == "people/c1"));
    }

    #[tokio::test]
    async fn failed_row_created_again() {
        let db = test_db().await;
        claim_key(&db, "k", "h").await.expect("first");
        end(&db, "k", store::FAILED).await;

        let claim = claim_key(&db, "k", "h").await.expect("retry");

        assert!(matches!(claim, Claim::Create(_)));
        let row = store::find(&db, "acme", USER, "k").await.expect("find");
        assert_eq!(row.expect("row").status, store::CREATING);
    }

    #[tokio::test]
    async fn unknown_row_recovered() {
        let db = test_db().await;
        claim_key(&db, "k", "h").await.expect("first");
        end(&db, "k", store::UNKNOWN).await;

        let claim = claim_key(&db, "k", "h").await.expect("retry");
        let again = claim_key(&db, "k", "h").await.expect_err("in progress");

        assert!(matches!(claim, Claim::Recover(_)));
        assert_eq!(again.code(), "idempotency_in_progress");
    }

    #[tokio::test]
    async fn stale_creating_recovered() {
        let db = test_db().await;
        claim_key(&db, "k", "h").await.expect("first");
        let no_wait = Timing {
            retry_after: Duration::from_secs(1),
            stale_after: Duration::ZERO,
        };
        tokio::time::sleep(Duration::from_millis(5)).await;

        let claim = claim(&db, "acme", USER, "k", "h", no_wait)
            .await
            .expect("stale");

        assert!(matches!(claim, Claim::Recover(_)));
    }

    #[tokio::test]
    async fn renewal_fails_after_reclaim() {
        let db = test_db().await;
        let Claim::Create(claimed_at) = claim_key(&db, "k", "h").await.expect("first") else {
            panic!("first claim must create");
        };

        let renewed = store::renew_claim(&db, "acme", USER, "k", &claimed_at)
            .await
            .expect("renew");
        let renewed_at = renewed.expect("row still owned");
        end(&db, "k", store::UNKNOWN).await;
        // Timestamps have millisecond resolution; the reclaim must write a later one.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let Claim::Recover(_) = claim_key(&db, "k", "h").await.expect("retry") else {
            panic!("retry of an unknown create must recover");
        };
        let stale = store::renew_claim(&db, "acme", USER, "k", &renewed_at)
            .await
            .expect("renew");

        assert!(stale.is_none(), "the retry owns the row");
    }

    #[tokio::test]
    async fn concurrent_claims_create_once() {
        let db = test_db().await;

        let claims = (0..8).map(|_| {
            let db = db.clone();
            tokio::spawn(async move { claim_key(&db, "same", "h").await })
        });
        let results = futures::future::join_all(claims).await;

        let mut creates = 0;
        for result in results {
            match result.expect("task") {
                Ok(Claim::Create(_)) => creates += 1,
                Ok(other) => panic!("nothing was created yet: {other:?}"),
                Err(error) => assert_eq!(error.code(), "idempotency_in_progress"),
            }
        }
        assert_eq!(creates, 1);
    }
}
