//! Validation of an uploaded service-account JSON key file, with errors that
//! name what was pasted instead (an OAuth client file, a user credential, an
//! API key) and how to get the right file.

use ring::digest;
use ring::signature::{KeyPair, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivatePkcs8KeyDer;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::config::GoogleSettings;
use crate::error::ApiError;

const DOWNLOAD_HINT: &str = "In the Google Cloud console open IAM & Admin > Service Accounts, choose the service account, then Keys > Add key > Create new key > JSON, and upload that file unchanged.";

/// A key file that passed validation, normalized for storage.
pub struct ValidatedKeyFile {
    /// The whole JSON key file with the private key repaired; sealed before storage.
    pub json: Zeroizing<String>,
    /// Service account address (`iss` of the JWTs).
    pub client_email: String,
    /// Numeric OAuth client ID, the one authorized in the Admin console.
    pub client_id: String,
    /// Google's id of this key.
    pub private_key_id: String,
    /// Cloud project of the service account.
    pub project_id: Option<String>,
    /// Token endpoint named by the key file.
    pub token_uri: String,
    /// SHA-256 of the RSA public key (PKCS#1 DER), hex.
    pub public_key_fingerprint: String,
}

impl std::fmt::Debug for ValidatedKeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatedKeyFile")
            .field("client_email", &self.client_email)
            .field("client_id", &self.client_id)
            .field("private_key_id", &self.private_key_id)
            .field("json", &"[REDACTED]")
            .finish()
    }
}

fn invalid(code: &'static str, field: &str, detail: impl Into<String>) -> ApiError {
    let error = ApiError::unprocessable(code, detail);
    if field.is_empty() {
        error
    } else {
        error.with_field(field)
    }
}

/// Validates a key file as Google's console downloads it.
pub fn validate(body: &Value, google: &GoogleSettings) -> Result<ValidatedKeyFile, ApiError> {
    let Some(object) = body.as_object() else {
        return Err(invalid(
            "invalid_key_file",
            "",
            format!(
                "The body must be the JSON object of a service-account key file. {DOWNLOAD_HINT}"
            ),
        ));
    };

    reject_other_credential_kinds(object)?;

    let client_email = required_string(object, "client_email")?;
    if crate::validate::normalize_email(&client_email).is_none() {
        return Err(invalid("invalid_key_file", "client_email", "client_email must be the service account's address, such as gateway@project.iam.gserviceaccount.com."));
    }

    let client_id = required_string(object, "client_id")?;
    if client_id.is_empty() || !client_id.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid(
            "invalid_key_file",
            "client_id",
            "client_id must be the numeric OAuth client ID of the service account.",
        ));
    }

    let private_key_id = required_string(object, "private_key_id")?;
    if private_key_id.is_empty() || !private_key_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(invalid(
            "invalid_key_file",
            "private_key_id",
            "private_key_id must be the key's id as Google wrote it in the file.",
        ));
    }

    let token_uri = required_string(object, "token_uri")?;
    match url::Url::parse(&token_uri) {
        Ok(parsed) if matches!(parsed.scheme(), "https" | "http") => {}
        _ => {
            return Err(invalid(
                "invalid_key_file",
                "token_uri",
                "token_uri must be an https URL, normally https://oauth2.googleapis.com/token.",
            ))
        }
    }
    if !google.token_uri_allowed(&token_uri) {
        return Err(invalid(
            "token_uri_not_allowed",
            "token_uri",
            format!(
                "token_uri is not an allowed token endpoint; Google's key files name https://oauth2.googleapis.com/token. Allowed: {}.",
                google.allowed_token_uris.join(", ")
            ),
        ));
    }

    let pem = repair_private_key(object)?;
    let public_key_fingerprint = fingerprint_rsa_key(&pem)?;

    let mut normalized = object.clone();
    normalized.insert("private_key".to_owned(), Value::String(pem.to_string()));
    let json = Zeroizing::new(Value::Object(normalized).to_string());

    Ok(ValidatedKeyFile {
        json,
        client_email,
        client_id,
        private_key_id,
        project_id: object
            .get("project_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        token_uri,
        public_key_fingerprint,
    })
}

fn reject_other_credential_kinds(object: &Map<String, Value>) -> Result<(), ApiError> {
    for kind in ["installed", "web"] {
        if object.contains_key(kind) {
            return Err(invalid(
                "oauth_client_file",
                kind,
                format!("This is an OAuth client ID file (\"{kind}\" application), not a service-account key. {DOWNLOAD_HINT}"),
            ));
        }
    }

    match object.get("type").and_then(Value::as_str) {
        Some("service_account") => Ok(()),
        Some("authorized_user") => Err(invalid(
            "authorized_user_file",
            "type",
            format!("This is a user's application-default credential (type authorized_user), not a service-account key. {DOWNLOAD_HINT}"),
        )),
        Some("external_account") => Err(invalid(
            "external_account_file",
            "type",
            format!("This is a workload identity federation configuration (type external_account), which has no private key. {DOWNLOAD_HINT}"),
        )),
        Some(other) => {
            // Echo only short values: a long one may be key material pasted in the wrong field.
            let shown = if other.len() <= 40 && !other.chars().any(char::is_control) { format!("{other:?}") } else { "an unexpected value".to_owned() };
            Err(invalid("invalid_key_file", "type", format!("type is {shown}; a service-account key has type \"service_account\". {DOWNLOAD_HINT}")))
        }
        None => Err(invalid("invalid_key_file", "type", format!("type is missing; a service-account key has type \"service_account\". {DOWNLOAD_HINT}"))),
    }
}

fn required_string(object: &Map<String, Value>, field: &str) -> Result<String, ApiError> {
    match object.get(field) {
        Some(Value::String(value)) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
        Some(Value::Number(number)) if field == "client_id" => Ok(number.to_string()),
        _ => Err(invalid(
            "invalid_key_file",
            field,
            format!("{field} is missing or empty. {DOWNLOAD_HINT}"),
        )),
    }
}

/// Returns the PEM with real newlines, repairing keys whose newlines arrived as
/// the two characters `\n`, and rejects text that is not a PKCS#8 private key.
fn repair_private_key(object: &Map<String, Value>) -> Result<Zeroizing<String>, ApiError> {
    let Some(Value::String(raw)) = object.get("private_key") else {
        return Err(invalid(
            "invalid_private_key",
            "private_key",
            format!("private_key is missing. {DOWNLOAD_HINT}"),
        ));
    };

    let trimmed = raw.trim();
    if trimmed.starts_with("AIza") {
        return Err(invalid(
            "api_key_not_private_key",
            "private_key",
            format!("private_key holds a Google API key (AIza...), which cannot act for users. {DOWNLOAD_HINT}"),
        ));
    }

    let repaired = Zeroizing::new(if trimmed.contains("\\n") && !trimmed.contains('\n') {
        trimmed.replace("\\n", "\n")
    } else {
        trimmed.to_owned()
    });

    if repaired.contains("BEGIN RSA PRIVATE KEY") {
        return Err(invalid(
            "invalid_private_key",
            "private_key",
            "private_key is a PKCS#1 PEM (BEGIN RSA PRIVATE KEY); Google issues PKCS#8 (BEGIN PRIVATE KEY). Upload the JSON file from the console unchanged.",
        ));
    }
    if !repaired.starts_with("-----BEGIN PRIVATE KEY-----") {
        return Err(invalid(
            "invalid_private_key",
            "private_key",
            format!("private_key is not a PEM private key (it must start with -----BEGIN PRIVATE KEY-----). {DOWNLOAD_HINT}"),
        ));
    }
    Ok(repaired)
}

fn fingerprint_rsa_key(pem: &str) -> Result<String, ApiError> {
    let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| {
        invalid(
            "invalid_private_key",
            "private_key",
            "private_key is not a readable PKCS#8 PEM block; it may be truncated or edited.",
        )
    })?;
    let key_pair = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(|_| {
        invalid(
            "invalid_private_key",
            "private_key",
            "private_key is not an RSA key of 2048 to 8192 bits, which service-account keys are.",
        )
    })?;
    Ok(hex::encode(digest::digest(
        &digest::SHA256,
        key_pair.public_key().as_ref(),
    )))
}
