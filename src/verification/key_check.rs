//! The `key` check: the stored key file contains a usable RSA key with a key id,
//! and it is not older than Google's rotation recommendation.

use chrono::{DateTime, Utc};
use ring::digest;
use ring::signature::{KeyPair, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivatePkcs8KeyDer;

use super::model::{Check, CheckName};
use crate::credentials::{CredentialMetadata, DelegatedKey};

/// Days after upload from which the check warns; Google recommends rotating
/// service-account keys at least every 90 days.
pub const ROTATION_DAYS: i64 = 90;

/// Runs the check at time `now`.
pub fn check(key: &DelegatedKey, metadata: &CredentialMetadata, now: DateTime<Utc>) -> Check {
    let (bits, fingerprint) = match rsa_key(&key.key.private_key) {
        Ok(parsed) => parsed,
        Err(problem) => {
            return Check::fail(
                CheckName::Key,
                format!(
                    "The stored key file of {} contains no usable private key: {problem}.",
                    key.client_email
                ),
                reupload(key),
            )
        }
    };

    if fingerprint != metadata.public_key_fingerprint {
        return Check::fail(
            CheckName::Key,
            "The stored private key does not match the public key fingerprint recorded at upload.",
            reupload(key),
        );
    }

    let Some(private_key_id) = key
        .key
        .private_key_id
        .as_deref()
        .filter(|id| !id.is_empty())
    else {
        return Check::fail(
            CheckName::Key,
            "The stored key file has no private_key_id; Google writes one into every key file it issues.",
            reupload(key),
        );
    };

    let age_days = DateTime::parse_from_rfc3339(&metadata.uploaded_at)
        .map(|uploaded| (now - uploaded.with_timezone(&Utc)).num_days())
        .unwrap_or_default();
    let evidence = format!(
        "RSA {bits}-bit key {private_key_id} of {} (client ID {}), uploaded {age_days} days ago.",
        key.client_email, key.client_id
    );

    if age_days > ROTATION_DAYS {
        return Check::warn(
            CheckName::Key,
            evidence,
            format!(
                "The key is older than {ROTATION_DAYS} days; Google recommends rotating service-account keys. Create a new JSON key for {} in the Google Cloud console and upload it: it stays pending until a verification passes, then replaces this one. Delete the old key in the Cloud console afterwards.",
                key.client_email
            ),
        );
    }
    Check::pass(CheckName::Key, evidence)
}

/// Parses a PKCS#8 PEM RSA key; returns its size in bits and the SHA-256 of its
/// public key, hex, as computed at upload.
fn rsa_key(pem: &str) -> Result<(usize, String), &'static str> {
    let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|_| "it is not a PKCS#8 PEM block")?;
    let key_pair = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        .map_err(|_| "it is not an RSA key of 2048 to 8192 bits")?;
    let fingerprint = hex::encode(digest::digest(
        &digest::SHA256,
        key_pair.public_key().as_ref(),
    ));
    Ok((key_pair.public().modulus_len() * 8, fingerprint))
}

fn reupload(key: &DelegatedKey) -> String {
    format!(
        "Create a new JSON key for {} in the Google Cloud console (IAM & Admin > Service Accounts > Keys > Add key) and upload the file unchanged.",
        key.client_email
    )
}
