//! `POST /token`: the OAuth 2.0 JWT bearer grant (RFC 7523) for service accounts with
//! domain-wide delegation, as `oauth2.googleapis.com/token` serves it.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::keys::{random_token, verify_rs256};
use crate::state::{domain_of, token_digest, AccessGrant, AppState, World};

/// The grant type a service account uses.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Lifetime of issued access tokens, as Google reports it.
pub const TOKEN_LIFETIME_SECONDS: i64 = 3599;

/// Longest `exp - iat` Google accepts.
const MAX_ASSERTION_LIFETIME: i64 = 3600;

/// Allowed difference between the caller's clock and the emulator clock.
const CLOCK_TOLERANCE: i64 = 300;

const SHORT_LIVED: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.";
const UNAUTHORIZED_CLIENT: &str = "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.";

/// base64url that accepts segments with or without `=` padding: yup-oauth2 pads, most other
/// JWT libraries do not.
const BASE64URL_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Scopes Google would recognise; anything else gets `invalid_scope`.
const KNOWN_SCOPES: &[&str] = &[
    "https://mail.google.com/",
    "https://www.google.com/m8/feeds",
    "https://www.google.com/m8/feeds/",
    "https://www.googleapis.com/auth/calendar",
    "https://www.googleapis.com/auth/calendar.acls",
    "https://www.googleapis.com/auth/calendar.acls.readonly",
    "https://www.googleapis.com/auth/calendar.app.created",
    "https://www.googleapis.com/auth/calendar.calendarlist",
    "https://www.googleapis.com/auth/calendar.calendarlist.readonly",
    "https://www.googleapis.com/auth/calendar.calendars",
    "https://www.googleapis.com/auth/calendar.calendars.readonly",
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar.events.freebusy",
    "https://www.googleapis.com/auth/calendar.events.owned",
    "https://www.googleapis.com/auth/calendar.events.owned.readonly",
    "https://www.googleapis.com/auth/calendar.events.public.readonly",
    "https://www.googleapis.com/auth/calendar.events.readonly",
    "https://www.googleapis.com/auth/calendar.freebusy",
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/calendar.settings",
    "https://www.googleapis.com/auth/calendar.settings.readonly",
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/contacts",
    "https://www.googleapis.com/auth/contacts.other.readonly",
    "https://www.googleapis.com/auth/contacts.readonly",
    "https://www.googleapis.com/auth/directory.readonly",
    "https://www.googleapis.com/auth/gmail.addons.current.action.compose",
    "https://www.googleapis.com/auth/gmail.addons.current.message.action",
    "https://www.googleapis.com/auth/gmail.addons.current.message.metadata",
    "https://www.googleapis.com/auth/gmail.addons.current.message.readonly",
    "https://www.googleapis.com/auth/gmail.compose",
    "https://www.googleapis.com/auth/gmail.insert",
    "https://www.googleapis.com/auth/gmail.labels",
    "https://www.googleapis.com/auth/gmail.metadata",
    "https://www.googleapis.com/auth/gmail.modify",
    "https://www.googleapis.com/auth/gmail.readonly",
    "https://www.googleapis.com/auth/gmail.send",
    "https://www.googleapis.com/auth/gmail.settings.basic",
    "https://www.googleapis.com/auth/gmail.settings.sharing",
    "https://www.googleapis.com/auth/user.addresses.read",
    "https://www.googleapis.com/auth/user.birthday.read",
    "https://www.googleapis.com/auth/user.emails.read",
    "https://www.googleapis.com/auth/user.gender.read",
    "https://www.googleapis.com/auth/user.organization.read",
    "https://www.googleapis.com/auth/user.phonenumbers.read",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
    "openid",
    "email",
    "profile",
];

/// Form body of a token request.
#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    assertion: Option<String>,
}

/// An OAuth error response: `{"error", "error_description"}`.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    fn invalid_signature() -> Self {
        Self::invalid_grant("Invalid JWT Signature.")
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        json_response(self.status, body)
    }
}

/// Claims of the assertion that the grant depends on.
#[derive(Debug)]
struct Claims {
    iss: String,
    sub: Option<String>,
    aud: String,
    iat: i64,
    exp: i64,
    scope: Option<String>,
}

/// A decoded assertion.
#[derive(Debug)]
struct ParsedJwt<'a> {
    header: Value,
    claims: Claims,
    /// `header.payload` exactly as received, the input the signature covers.
    signed_part: &'a [u8],
    signature: Vec<u8>,
}

/// Serves the token endpoint.
pub async fn token(
    State(state): State<AppState>,
    form: Result<Form<TokenRequest>, FormRejection>,
) -> Result<Response, OAuthError> {
    state.token_exchanges.fetch_add(1, Ordering::Relaxed);

    // A body that is not form-encoded carries no grant_type, which is how Google reports it.
    let request = form.map(|Form(request)| request).unwrap_or(TokenRequest {
        grant_type: None,
        assertion: None,
    });

    let assertion = check_request(&request)?;
    let jwt = parse_jwt(assertion)?;
    let claims = &jwt.claims;

    let mut world = state.world();
    let project_id = verify_signer(&world, &jwt)?;
    check_audience(claims, &state.token_uri())?;
    check_lifetime(claims, state.clock.now().timestamp())?;
    let scopes = check_scopes(claims.scope.as_deref())?;
    let user = check_subject(&world, claims, &scopes)?;

    let access_token = format!("ya29.{}", random_token(120));
    let grant = AccessGrant {
        user,
        scopes,
        project_id,
        expires_at: state.clock.now() + chrono::Duration::seconds(TOKEN_LIFETIME_SECONDS),
    };
    world.tokens.insert(token_digest(&access_token), grant);
    drop(world);

    let body = json!({
        "access_token": access_token,
        "expires_in": TOKEN_LIFETIME_SECONDS,
        "token_type": "Bearer",
    });
    Ok(json_response(StatusCode::OK, body))
}

/// Checks the grant type and returns the assertion.
fn check_request(request: &TokenRequest) -> Result<&str, OAuthError> {
    let grant_type = request.grant_type.as_deref().unwrap_or_default();
    if grant_type.is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: grant_type",
        ));
    }
    if grant_type != JWT_BEARER {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("Invalid grant_type: {grant_type}"),
        ));
    }
    match request.assertion.as_deref() {
        Some(assertion) if !assertion.is_empty() => Ok(assertion),
        _ => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: assertion",
        )),
    }
}

/// Splits and decodes a compact JWS.
fn parse_jwt(assertion: &str) -> Result<ParsedJwt<'_>, OAuthError> {
    // NOTE: Google's description for an assertion that is not a JWT at all is not documented;
    // the emulator returns invalid_grant "Invalid JWT Signature.".
    let malformed = OAuthError::invalid_signature;
    let mut segments = assertion.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(malformed());
    };

    let header_json = decode_json_segment(header).ok_or_else(malformed)?;
    let claims_json = decode_json_segment(payload).ok_or_else(malformed)?;
    let signature = BASE64URL_ANY_PADDING
        .decode(signature)
        .map_err(|_| malformed())?;
    let claims = claims_from_json(&claims_json).ok_or_else(malformed)?;

    let signed_len = header.len() + 1 + payload.len();
    Ok(ParsedJwt {
        header: header_json,
        claims,
        signed_part: &assertion.as_bytes()[..signed_len],
        signature,
    })
}

fn decode_json_segment(segment: &str) -> Option<Value> {
    let bytes = BASE64URL_ANY_PADDING.decode(segment).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn claims_from_json(claims: &Value) -> Option<Claims> {
    let string = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_string);
    let number = |name: &str| {
        let value = claims.get(name)?;
        value
            .as_i64()
            .or_else(|| value.as_f64().map(|float| float as i64))
    };
    Some(Claims {
        iss: string("iss")?,
        sub: string("sub").filter(|sub| !sub.is_empty()),
        aud: string("aud").unwrap_or_default(),
        iat: number("iat")?,
        exp: number("exp")?,
        scope: string("scope"),
    })
}

/// Finds the service account named by `iss` and checks the signature with its keys. Returns the
/// account's project.
fn verify_signer(world: &World, jwt: &ParsedJwt<'_>) -> Result<String, OAuthError> {
    let claims = &jwt.claims;
    // NOTE: Google reports an `iss` that names no service account (for example a deleted one)
    // as invalid_grant "Invalid grant: account not found".
    let account = world
        .service_account_by_email(&claims.iss)
        .ok_or_else(|| OAuthError::invalid_grant("Invalid grant: account not found"))?;

    if jwt.header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(OAuthError::invalid_signature());
    }

    let key_id = jwt.header.get("kid").and_then(Value::as_str);
    let verified = account
        .keys
        .iter()
        .filter(|key| !key.deleted)
        .filter(|key| key_id.is_none_or(|id| id == key.private_key_id))
        .any(|key| verify_rs256(&key.public_key_der, jwt.signed_part, &jwt.signature));
    if !verified {
        return Err(OAuthError::invalid_signature());
    }

    if account.disabled {
        return Err(OAuthError::invalid_grant("Robot is disabled."));
    }
    Ok(account.project_id.clone())
}

fn check_audience(claims: &Claims, token_uri: &str) -> Result<(), OAuthError> {
    if claims.aud.trim_end_matches('/') == token_uri {
        return Ok(());
    }
    Err(OAuthError::invalid_grant(
        "Invalid JWT: Failed audience check.",
    ))
}

/// Checks `iat` and `exp` against the emulator clock `now` (Unix seconds).
fn check_lifetime(claims: &Claims, now: i64) -> Result<(), OAuthError> {
    let lifetime = claims.exp - claims.iat;
    let valid = lifetime > 0
        && lifetime <= MAX_ASSERTION_LIFETIME
        && claims.iat <= now + CLOCK_TOLERANCE
        && claims.exp >= now - CLOCK_TOLERANCE;
    if valid {
        Ok(())
    } else {
        Err(OAuthError::invalid_grant(SHORT_LIVED))
    }
}

fn check_scopes(scope: Option<&str>) -> Result<BTreeSet<String>, OAuthError> {
    let scopes: BTreeSet<String> = scope
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if scopes.is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "Empty or missing scope not allowed.",
        ));
    }
    if scopes
        .iter()
        .any(|scope| !KNOWN_SCOPES.contains(&scope.as_str()))
    {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        ));
    }
    Ok(scopes)
}

/// Checks that the `sub` user exists, is active, and that its domain delegated every requested
/// scope to the client. Returns the user's address, or `None` without `sub`.
fn check_subject(
    world: &World,
    claims: &Claims,
    scopes: &BTreeSet<String>,
) -> Result<Option<String>, OAuthError> {
    let Some(subject) = claims.sub.as_deref() else {
        return Ok(None);
    };

    let unknown_user = || OAuthError::invalid_grant("Invalid email or User ID");
    let user = world.user(subject).ok_or_else(unknown_user)?;
    if user.suspended {
        return Err(unknown_user());
    }

    let client_id = world
        .service_account_by_email(&claims.iss)
        .map(|account| account.client_id.clone())
        .unwrap_or_default();
    let delegated = domain_of(&user.email)
        .and_then(|domain| world.domains.get(domain))
        .and_then(|domain| domain.delegations.get(&client_id));
    let covered = delegated.is_some_and(|granted| scopes.is_subset(granted));
    if !covered {
        return Err(OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            UNAUTHORIZED_CLIENT,
        ));
    }
    Ok(Some(user.email.clone()))
}

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, max-age=0, must-revalidate"),
    );
    response
}
