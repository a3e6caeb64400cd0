//! Token endpoint: successful grants and every error Google returns for a JWT bearer grant.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn grant_returns_bearer_token() {
    let world = setup(ALL_SCOPES).await;
    let assertion = world.sign(&world.claims(USER, CONTACTS));
    assert!(
        assertion.contains('='),
        "the test signs padded segments like yup-oauth2"
    );

    let (status, body) = world.exchange(&assertion).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["access_token"].as_str().unwrap().starts_with("ya29."));
    assert_eq!(body["expires_in"], json!(3599));
    assert_eq!(body["token_type"], json!("Bearer"));
    assert_eq!(world.emulator.token_exchanges(), 1);
}

#[tokio::test]
async fn grant_accepts_unpadded_segments() {
    let world = setup(ALL_SCOPES).await;
    let assertion = sign_jwt(
        &world.account.private_key_pem,
        &world.account.client_email,
        &world.claims(USER, CONTACTS),
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    );

    let (status, body) = world.exchange(&assertion).await;

    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn response_has_date_from_emulator_clock() {
    let world = setup(ALL_SCOPES).await;
    world.emulator.set_clock_offset(7200);

    let response = world
        .http
        .post(world.emulator.token_uri())
        .form(&[("grant_type", "x")])
        .send()
        .await
        .unwrap();

    let date = response.headers()["date"].to_str().unwrap().to_string();
    let date = httpdate::parse_http_date(&date).unwrap();
    let skew = date
        .duration_since(std::time::SystemTime::now())
        .expect("date is ahead of real time")
        .as_secs();
    assert!((7100..=7300).contains(&skew), "skew {skew}");
}

async fn expect_error(
    world: &TestWorld,
    claims: &Claims<'_>,
    status: StatusCode,
    error: &str,
    description: &str,
) {
    let (actual_status, body) = world.exchange(&world.sign(claims)).await;
    assert_eq!(actual_status, status, "{body}");
    assert_eq!(body["error"], json!(error), "{body}");
    assert_eq!(body["error_description"], json!(description), "{body}");
}

#[tokio::test]
async fn scope_not_delegated_is_unauthorized_client() {
    let world = setup(&[CONTACTS]).await;
    let scope = format!("{CONTACTS} {GMAIL_SEND}");

    expect_error(
        &world,
        &world.claims(USER, &scope),
        StatusCode::UNAUTHORIZED,
        "unauthorized_client",
        "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
    )
    .await;
}

#[tokio::test]
async fn revoked_delegation_is_unauthorized_client() {
    let world = setup(ALL_SCOPES).await;
    world
        .emulator
        .revoke_delegation(DOMAIN, &world.account.client_id)
        .unwrap();

    let (status, body) = world
        .exchange(&world.sign(&world.claims(USER, CONTACTS)))
        .await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], json!("unauthorized_client"));
}

#[tokio::test]
async fn unknown_user_is_invalid_grant() {
    let world = setup(ALL_SCOPES).await;

    expect_error(
        &world,
        &world.claims("nobody@example.com", CONTACTS),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "Invalid email or User ID",
    )
    .await;
}

#[tokio::test]
async fn suspended_user_is_invalid_grant() {
    let world = setup(ALL_SCOPES).await;
    world.emulator.set_user_suspended(USER, true).unwrap();

    expect_error(
        &world,
        &world.claims(USER, CONTACTS),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "Invalid email or User ID",
    )
    .await;
}

#[tokio::test]
async fn wrong_key_is_invalid_signature() {
    let world = setup(ALL_SCOPES).await;
    let stranger = world.emulator.create_service_account("other-project");
    let assertion = sign_with_pem(
        &stranger.private_key_pem,
        &world.account.client_email,
        &world.claims(USER, CONTACTS),
    );

    let (status, body) = world.exchange(&assertion).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], json!("invalid_grant"));
    assert_eq!(body["error_description"], json!("Invalid JWT Signature."));
}

#[tokio::test]
async fn deleted_key_is_invalid_signature() {
    let world = setup(ALL_SCOPES).await;
    world
        .emulator
        .delete_service_account_key(&world.account.client_id, &world.account.private_key_id)
        .unwrap();

    expect_error(
        &world,
        &world.claims(USER, CONTACTS),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "Invalid JWT Signature.",
    )
    .await;
}

#[tokio::test]
async fn rotated_key_keeps_working() {
    let world = setup(ALL_SCOPES).await;
    let rotated = world
        .emulator
        .add_service_account_key(&world.account.client_id)
        .unwrap();
    world
        .emulator
        .delete_service_account_key(&world.account.client_id, &world.account.private_key_id)
        .unwrap();
    let assertion = sign_with_pem(
        &rotated.private_key_pem,
        &rotated.client_email,
        &world.claims(USER, CONTACTS),
    );

    let (status, body) = world.exchange(&assertion).await;

    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn disabled_account_is_robot_disabled() {
    let world = setup(ALL_SCOPES).await;
    world
        .emulator
        .set_service_account_disabled(&world.account.client_id, true)
        .unwrap();

    expect_error(
        &world,
        &world.claims(USER, CONTACTS),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "Robot is disabled.",
    )
    .await;
}

const SHORT_LIVED: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.";

#[tokio::test]
async fn lifetime_over_an_hour_is_rejected() {
    let world = setup(ALL_SCOPES).await;
    let mut claims = world.claims(USER, CONTACTS);
    claims.exp = claims.iat + 3601;

    expect_error(
        &world,
        &claims,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        SHORT_LIVED,
    )
    .await;
}

#[tokio::test]
async fn skewed_clock_is_rejected() {
    let world = setup(ALL_SCOPES).await;
    world.emulator.set_clock_offset(-600);

    expect_error(
        &world,
        &world.claims(USER, CONTACTS),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        SHORT_LIVED,
    )
    .await;
}

#[tokio::test]
async fn small_skew_is_tolerated() {
    let world = setup(ALL_SCOPES).await;
    world.emulator.set_clock_offset(-240);

    let (status, body) = world
        .exchange(&world.sign(&world.claims(USER, CONTACTS)))
        .await;

    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn expired_assertion_is_rejected() {
    let world = setup(ALL_SCOPES).await;
    let mut claims = world.claims(USER, CONTACTS);
    claims.iat -= 7200;
    claims.exp -= 7200;

    expect_error(
        &world,
        &claims,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        SHORT_LIVED,
    )
    .await;
}

#[tokio::test]
async fn unknown_scope_is_invalid_scope() {
    let world = setup(ALL_SCOPES).await;

    let (status, body) = world
        .exchange(&world.sign(&world.claims(USER, "https://www.googleapis.com/auth/nope")))
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], json!("invalid_scope"));
}

#[tokio::test]
async fn wrong_audience_is_invalid_grant() {
    let world = setup(ALL_SCOPES).await;
    let mut claims = world.claims(USER, CONTACTS);
    claims.aud = "https://oauth2.example.net/token".into();

    let (status, body) = world.exchange(&world.sign(&claims)).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], json!("invalid_grant"));
}

#[tokio::test]
async fn unknown_issuer_is_invalid_grant() {
    let world = setup(ALL_SCOPES).await;
    let assertion = sign_with_pem(
        &world.account.private_key_pem,
        "ghost@crm-project.iam.gserviceaccount.com",
        &world.claims(USER, CONTACTS),
    );

    let (status, body) = world.exchange(&assertion).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], json!("invalid_grant"));
}

#[tokio::test]
async fn wrong_grant_type_is_rejected() {
    let world = setup(ALL_SCOPES).await;

    let response = world
        .http
        .post(world.emulator.token_uri())
        .form(&[("grant_type", "client_credentials"), ("assertion", "x")])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], json!("unsupported_grant_type"));
}

#[tokio::test]
async fn legacy_scope_rejected_by_people() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[M8_FEEDS]).await;

    let (status, body) = world
        .call(
            Method::GET,
            "/v1/people/me/connections?personFields=names",
            Some(&token),
            None,
        )
        .await;

    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_google_error(
        &body,
        403,
        Some("PERMISSION_DENIED"),
        Some("insufficientPermissions"),
    );
    assert_eq!(
        body["error"]["details"][0]["reason"],
        json!("ACCESS_TOKEN_SCOPE_INSUFFICIENT")
    );
}

#[tokio::test]
async fn missing_and_unknown_tokens_are_unauthenticated() {
    let world = setup(ALL_SCOPES).await;

    for token in [None, Some("ya29.bogus")] {
        let (status, body) = world
            .call(Method::GET, "/gmail/v1/users/me/profile", token, None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_google_error(&body, 401, Some("UNAUTHENTICATED"), None);
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Request had invalid authentication credentials."));
    }
}

#[tokio::test]
async fn expired_token_is_unauthenticated() {
    let world = setup(ALL_SCOPES).await;
    let token = world.token(USER, &[GMAIL_COMPOSE]).await;
    world.emulator.set_clock_offset(3600);

    let (status, body) = world
        .call(
            Method::GET,
            "/gmail/v1/users/me/profile",
            Some(&token),
            None,
        )
        .await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_google_error(&body, 401, Some("UNAUTHENTICATED"), Some("authError"));
}

#[tokio::test]
async fn disabled_api_returns_service_disabled() {
    let world = setup(ALL_SCOPES).await;
    world
        .emulator
        .set_api_enabled(PROJECT, "gmail.googleapis.com", false)
        .unwrap();
    let token = world.token(USER, &[GMAIL_COMPOSE]).await;

    let (status, body) = world
        .call(
            Method::GET,
            "/gmail/v1/users/me/profile",
            Some(&token),
            None,
        )
        .await;

    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_google_error(
        &body,
        403,
        Some("PERMISSION_DENIED"),
        Some("accessNotConfigured"),
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Gmail API has not been used in project "),
        "{message}"
    );
    let info = &body["error"]["details"][0];
    assert_eq!(info["reason"], json!("SERVICE_DISABLED"));
    assert_eq!(info["metadata"]["service"], json!("gmail.googleapis.com"));
    assert!(info["metadata"]["consumer"]
        .as_str()
        .unwrap()
        .starts_with("projects/"));
}

#[tokio::test]
async fn other_apis_stay_enabled() {
    let world = setup(ALL_SCOPES).await;
    world
        .emulator
        .set_api_enabled(PROJECT, "gmail.googleapis.com", false)
        .unwrap();
    let token = world.token(USER, &[CONTACTS]).await;

    let (status, body) = world
        .call(
            Method::GET,
            "/v1/people/me/connections?personFields=names",
            Some(&token),
            None,
        )
        .await;

    assert_eq!(status, StatusCode::OK, "{body}");
}
