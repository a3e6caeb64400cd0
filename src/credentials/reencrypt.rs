//! Re-encryption of every stored key under the current master key, after a
//! new master key was put first in the keyring.

use crate::state::AppState;

/// Outcome of a re-encryption run.
#[derive(Debug, Clone, Default)]
pub struct ReencryptReport {
    /// Id of the master key everything is now sealed under.
    pub master_key_id: String,
    /// Keys sealed again.
    pub reencrypted: u64,
    /// Keys that were already under the current master key.
    pub already_current: u64,
}

/// Opens every stored key with whichever master key sealed it and seals it
/// again under the current one. Each row is replaced only if unchanged since it
/// was read, so a concurrent upload or revocation wins.
pub async fn reencrypt_all(state: &AppState) -> anyhow::Result<ReencryptReport> {
    let current = state.vault.current_key_id().to_owned();
    let mut report = ReencryptReport {
        master_key_id: current.clone(),
        ..Default::default()
    };

    for (brokerage_id, version, sealed) in super::store::all_sealed(&state.db).await? {
        if sealed.master_key_id == current {
            report.already_current += 1;
            continue;
        }

        let plaintext = state.vault.open(&brokerage_id, version, &sealed)?;
        let resealed = state.vault.seal(&brokerage_id, version, &plaintext)?;
        if super::store::replace_sealed(&state.db, &brokerage_id, version, &sealed, &resealed)
            .await?
        {
            report.reencrypted += 1;
            let detail = serde_json::json!({ "version": version, "from_master_key": sealed.master_key_id, "to_master_key": current });
            crate::audit::record(
                &state.db,
                &brokerage_id,
                None,
                "reencrypt",
                "success",
                detail,
            )
            .await?;
        }
    }
    Ok(report)
}
