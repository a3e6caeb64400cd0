//! Shared setup: a domain with users, a delegated service account, JWT signing and small
//! request helpers.

use base64::engine::general_purpose::{GeneralPurpose, STANDARD, URL_SAFE};
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::{json, Value};
use workspace_emulator::{Emulator, EmulatorHandle, ServiceAccount};

pub const DOMAIN: &str = "example.com";
pub const USER: &str = "agent@example.com";
pub const OTHER_USER: &str = "broker@example.com";
pub const PROJECT: &str = "crm-project";

pub const CONTACTS: &str = "https://www.googleapis.com/auth/contacts";
pub const CONTACTS_READONLY: &str = "https://www.googleapis.com/auth/contacts.readonly";
pub const CALENDAR_EVENTS: &str = "https://www.googleapis.com/auth/calendar.events";
pub const GMAIL_SEND: &str = "https://www.googleapis.com/auth/gmail.send";
pub const GMAIL_COMPOSE: &str = "https://www.googleapis.com/auth/gmail.compose";
pub const M8_FEEDS: &str = "https://www.google.com/m8/feeds";

/// Every scope the tests delegate by default.
pub const ALL_SCOPES: &[&str] = &[
    CONTACTS,
    CONTACTS_READONLY,
    CALENDAR_EVENTS,
    GMAIL_SEND,
    GMAIL_COMPOSE,
    M8_FEEDS,
];

/// A running emulator with one domain and one delegated service account.
pub struct TestWorld {
    pub emulator: EmulatorHandle,
    pub account: ServiceAccount,
    pub http: reqwest::Client,
}

/// Starts an emulator with `example.com`, two users and a service account delegated `scopes`.
pub async fn setup(scopes: &[&str]) -> TestWorld {
    let emulator = Emulator::start().await.expect("emulator starts");
    emulator.create_domain(DOMAIN, &[USER, OTHER_USER]);
    let account = emulator.create_service_account(PROJECT);
    emulator.delegate(DOMAIN, &account.client_id, scopes);
    TestWorld {
        emulator,
        account,
        http: reqwest::Client::new(),
    }
}

/// Claims for an assertion; `None` leaves a claim out.
pub struct Claims<'a> {
    pub sub: Option<&'a str>,
    pub scope: &'a str,
    pub iat: i64,
    pub exp: i64,
    pub aud: String,
}

impl TestWorld {
    /// Claims valid right now for `sub` and `scopes`.
    pub fn claims<'a>(&self, sub: &'a str, scope: &'a str) -> Claims<'a> {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: Some(sub),
            scope,
            iat: now,
            exp: now + 3595,
            aud: self.emulator.token_uri(),
        }
    }

    /// Signs claims with the account's key, base64url with padding as yup-oauth2 does.
    pub fn sign(&self, claims: &Claims<'_>) -> String {
        sign_with_pem(
            &self.account.private_key_pem,
            &self.account.client_email,
            claims,
        )
    }

    /// Posts an assertion to the token endpoint.
    pub async fn exchange(&self, assertion: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.emulator.token_uri())
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion),
            ])
            .send()
            .await
            .expect("token request");
        let status = response.status();
        (status, response.json().await.expect("token JSON"))
    }

    /// Obtains an access token for `user` with `scopes`.
    pub async fn token(&self, user: &str, scopes: &[&str]) -> String {
        let scope = scopes.join(" ");
        let (status, body) = self.exchange(&self.sign(&self.claims(user, &scope))).await;
        assert_eq!(status, StatusCode::OK, "token grant failed: {body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// Sends a JSON request to the emulator with a bearer token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = format!("{}{}", self.emulator.base_url(), path);
        let mut request = self.http.request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| json!({"text": text}))
        };
        (status, value)
    }
}

/// Signs an RS256 JWT with a PKCS#8 PEM key, base64url with padding as yup-oauth2 does.
pub fn sign_with_pem(pem: &str, iss: &str, claims: &Claims<'_>) -> String {
    sign_jwt(pem, iss, claims, URL_SAFE)
}

/// Signs an RS256 JWT with a PKCS#8 PEM key using the given base64url engine.
pub fn sign_jwt(pem: &str, iss: &str, claims: &Claims<'_>, engine: GeneralPurpose) -> String {
    let der: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = STANDARD.decode(der).expect("PEM body");
    let key = RsaKeyPair::from_pkcs8(&der).expect("PKCS#8 key");

    let mut payload = json!({
        "iss": iss,
        "scope": claims.scope,
        "aud": claims.aud,
        "iat": claims.iat,
        "exp": claims.exp,
    });
    if let Some(sub) = claims.sub {
        payload["sub"] = json!(sub);
    }
    let header = engine.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
    let payload = engine.encode(payload.to_string());
    let signed = format!("{header}.{payload}");

    let rng = ring::rand::SystemRandom::new();
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &rng, signed.as_bytes(), &mut signature)
        .expect("signing");
    format!("{signed}.{}", engine.encode(signature))
}

/// Asserts a Google error body's code, status and first reason.
pub fn assert_google_error(body: &Value, code: u16, status: Option<&str>, reason: Option<&str>) {
    assert_eq!(body["error"]["code"], json!(code), "code in {body}");
    if let Some(status) = status {
        assert_eq!(body["error"]["status"], json!(status), "status in {body}");
    }
    if let Some(reason) = reason {
        assert_eq!(
            body["error"]["errors"][0]["reason"],
            json!(reason),
            "reason in {body}"
        );
    }
}
