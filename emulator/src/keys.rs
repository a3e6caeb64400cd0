//! Service-account key material: RSA 2048 key pairs, the JSON key file as the Google Cloud
//! console downloads it, and RS256 signature checks.

use anyhow::Context;
use rand::Rng;
use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

/// A freshly minted key: the PEM goes to the caller once, the emulator keeps the public half.
pub struct MintedKey {
    /// 40 hex digits, like Google's key ids.
    pub private_key_id: String,
    /// PKCS#8 PEM of the private key.
    pub private_key_pem: String,
    /// PKCS#1 DER of the public key, the form `ring` verifies with.
    pub public_key_der: Vec<u8>,
}

impl std::fmt::Debug for MintedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedKey")
            .field("private_key_id", &self.private_key_id)
            .field("private_key_pem", &"<redacted>")
            .finish()
    }
}

/// Generates an RSA 2048 key pair with a random key id.
pub fn mint_key() -> anyhow::Result<MintedKey> {
    let mut rng = rand::rngs::OsRng;
    let private_key = RsaPrivateKey::new(&mut rng, 2048).context("generating an RSA key")?;

    let private_key_pem = private_key
        .to_pkcs8_pem(LineEnding::LF)
        .context("encoding the private key as PKCS#8 PEM")?
        .to_string();
    let public_key_der = private_key
        .to_public_key()
        .to_pkcs1_der()
        .context("encoding the public key as PKCS#1 DER")?
        .as_bytes()
        .to_vec();

    Ok(MintedKey {
        private_key_id: random_hex(40),
        private_key_pem,
        public_key_der,
    })
}

/// Fields of the key file besides the key itself.
pub struct KeyFileFields<'a> {
    /// Project the service account belongs to.
    pub project_id: &'a str,
    /// Service account address.
    pub client_email: &'a str,
    /// 21-digit numeric client ID.
    pub client_id: &'a str,
    /// The emulator's token endpoint.
    pub token_uri: &'a str,
}

/// Builds the JSON key file with the same fields as a console download.
pub fn key_file(fields: &KeyFileFields<'_>, key: &MintedKey) -> Value {
    let encoded_email = fields.client_email.replace('@', "%40");
    json!({
        "type": "service_account",
        "project_id": fields.project_id,
        "private_key_id": key.private_key_id,
        "private_key": key.private_key_pem,
        "client_email": fields.client_email,
        "client_id": fields.client_id,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": fields.token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": format!("https://www.googleapis.com/robot/v1/metadata/x509/{encoded_email}"),
        "universe_domain": "googleapis.com",
    })
}

/// Checks an RSASSA-PKCS1-v1_5 SHA-256 signature over `message`.
pub fn verify_rs256(public_key_der: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key_der)
        .verify(message, signature)
        .is_ok()
}

/// Returns `len` random lowercase hex digits.
pub fn random_hex(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// Returns `len` random decimal digits, the first one non-zero.
pub fn random_digits(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|i| {
            let low = if i == 0 { 1 } else { 0 };
            char::from_digit(rng.gen_range(low..10), 10).unwrap_or('1')
        })
        .collect()
}

/// Returns `len` random characters of the base64url alphabet.
pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}
