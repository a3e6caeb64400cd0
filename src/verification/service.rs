//! A verification from start to stored report: pick the key to test, run the
//! checks within the time limit, then store the report, rotate the key and
//! record the outcome in one transaction, and audit it.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::model::{Outcome, VerificationReport};
use super::run::Run;
use super::store::{self, Committed};
use crate::auth::Caller;
use crate::brokerages::Brokerage;
use crate::credentials::{CredentialMetadata, DelegatedKey};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::now_rfc3339;

/// Maximum duration of a verification run.
// TODO: make the time limit a setting; it is fixed until operators need to change it.
const TIME_LIMIT: Duration = Duration::from_secs(45);

/// Time kept between the end of the checks and the HTTP request timeout, so the
/// report is still stored before the gateway returns 504.
const COMMIT_MARGIN: Duration = Duration::from_secs(5);

/// The key a verification tests, decrypted, with its metadata.
pub struct TestedKey {
    /// The key, ready to sign.
    pub key: DelegatedKey,
    /// Its stored metadata.
    pub metadata: CredentialMetadata,
}

/// Loads the pending key when there is one, else the active key. Without
/// either, returns 409 `credentials_missing`, or `credentials_revoked` after a
/// revocation.
pub async fn tested_key(state: &AppState, brokerage_id: &str) -> ApiResult<TestedKey> {
    let pending = crate::credentials::store::in_state(&state.db, brokerage_id, "pending").await?;
    let stored = match pending {
        Some(pending) => pending,
        None => match crate::credentials::store::active(&state.db, brokerage_id).await? {
            Some(active) => active,
            None => return Err(missing_or_revoked(state, brokerage_id).await?),
        },
    };

    let plaintext = state
        .vault
        .open(brokerage_id, stored.metadata.version, &stored.sealed)
        .map_err(ApiError::internal)?;
    let key: yup_oauth2::ServiceAccountKey = serde_json::from_slice(&plaintext).map_err(|_| {
        // The serde error may quote key material, so it is not kept.
        ApiError::internal(anyhow::anyhow!(
            "stored key file of brokerage {brokerage_id} does not parse"
        ))
    })?;

    let metadata = stored.metadata;
    Ok(TestedKey {
        key: DelegatedKey {
            brokerage_id: brokerage_id.to_owned(),
            version: metadata.version,
            client_id: metadata.client_id.clone(),
            client_email: metadata.client_email.clone(),
            token_uri: metadata.token_uri.clone(),
            key: Arc::new(key),
        },
        metadata,
    })
}

async fn missing_or_revoked(state: &AppState, brokerage_id: &str) -> ApiResult<ApiError> {
    let latest = crate::credentials::store::latest_state(&state.db, brokerage_id).await?;
    if latest.as_deref() == Some("revoked") {
        return Ok(crate::credentials::revoked());
    }
    Ok(ApiError::conflict(
        "credentials_missing",
        "This brokerage has no service-account key to verify; upload one with PUT /v1/brokerages/{brokerage_id}/credentials.",
    ))
}

/// Computes the time limit of a run under the configured HTTP request timeout.
fn time_limit(state: &AppState) -> Duration {
    let request_timeout = Duration::from_secs(state.settings.http.request_timeout_seconds);
    TIME_LIMIT
        .min(request_timeout.saturating_sub(COMMIT_MARGIN))
        .max(Duration::from_secs(1))
}

/// Runs a verification of `brokerage` as `test_user` and stores its report.
#[tracing::instrument(skip_all, fields(brokerage_id = %brokerage.id))]
pub async fn verify(
    state: &AppState,
    caller: &Caller,
    brokerage: &Brokerage,
    test_user: String,
) -> ApiResult<VerificationReport> {
    let tested = tested_key(state, &brokerage.id).await?;
    let configured_scope = brokerage
        .contacts_scope_or(&state.settings.google.default_contacts_scope)
        .to_owned();
    let started_at = now_rfc3339();

    let limit = time_limit(state);
    let run = Run::new(
        state,
        &tested.key,
        &test_user,
        &configured_scope,
        tested.metadata.project_id.as_deref(),
        limit,
    )
    .map_err(ApiError::internal)?;
    // Every step is bounded by the run's deadline; this outer bound only guards
    // against a step that ignores it.
    let findings = tokio::time::timeout(limit + COMMIT_MARGIN / 2, run.checks(&tested.metadata))
        .await
        .map_err(|_| {
            ApiError::new(
                axum::http::StatusCode::GATEWAY_TIMEOUT,
                "verification_timeout",
                "The verification did not finish in time and nothing was stored; run it again.",
            )
        })?;

    let outcome = Outcome::of(&findings.checks);
    let mut report = VerificationReport {
        id: uuid::Uuid::new_v4().to_string(),
        brokerage_id: brokerage.id.clone(),
        started_at,
        finished_at: now_rfc3339(),
        api_key_id: Some(caller.api_key_id().to_owned()),
        test_user,
        credential_version: tested.metadata.version,
        credential_state: tested.metadata.state.clone(),
        client_id: tested.metadata.client_id.clone(),
        outcome,
        key_activated: tested.metadata.state == "pending" && outcome == Outcome::Verified,
        contacts_scope: findings.contacts_scope.clone(),
        checks: findings.checks,
        sync: findings.sync,
        admin_console: None,
    };
    report.attach_admin_console();

    let scope_change = findings
        .contacts_scope
        .filter(|scope| *scope != configured_scope);
    let committed = store::commit(
        &state.db,
        &brokerage.id,
        &mut report,
        scope_change.as_deref(),
    )
    .await?;
    finish(state, caller, &report, committed).await?;
    Ok(report)
}

/// Drops the old key's tokens after a rotation and audits the run.
async fn finish(
    state: &AppState,
    caller: &Caller,
    report: &VerificationReport,
    committed: Committed,
) -> ApiResult<()> {
    let brokerage_id = report.brokerage_id.as_str();
    let api_key_id = Some(caller.api_key_id());
    let detail = json!({
        "verification_id": report.id,
        "version": report.credential_version,
        "credential_state": report.credential_state,
        "test_user": report.test_user,
        "failed_checks": report.failed_checks(),
    });

    let aborted = match committed {
        Committed::Stored => None,
        Committed::KeyRevoked => Some(("key_revoked", crate::credentials::revoked())),
        Committed::KeyReplaced => Some((
            "key_replaced",
            ApiError::conflict(
                "verification_superseded",
                "The key under test was replaced or retired while the verification ran, so its result was discarded; run the verification again to test the current key.",
            ),
        )),
        Committed::BrokerageDeleted => Some(("brokerage_deleted", crate::brokerages::not_found(brokerage_id))),
    };
    if let Some((outcome, error)) = aborted {
        crate::audit::record(
            &state.db,
            brokerage_id,
            api_key_id,
            "verify",
            outcome,
            detail,
        )
        .await?;
        return Err(error);
    }

    if report.key_activated {
        crate::credentials::forget_brokerage(state, brokerage_id);
        let rotation =
            json!({ "version": report.credential_version, "verification_id": report.id });
        crate::audit::record(
            &state.db,
            brokerage_id,
            api_key_id,
            "rotate",
            "success",
            rotation,
        )
        .await?;
    }
    crate::audit::record(
        &state.db,
        brokerage_id,
        api_key_id,
        "verify",
        report.outcome.as_str(),
        detail,
    )
    .await?;

    tracing::info!(
        brokerage_id,
        outcome = report.outcome.as_str(),
        version = report.credential_version,
        key_activated = report.key_activated,
        failed_checks = ?report.failed_checks(),
        "verification finished"
    );
    Ok(())
}
