//! The committed OpenAPI document matches the code, and the gateway serves it
//! and Swagger UI. Run with `UPDATE_OPENAPI=1` to rewrite the committed copy.

use reqwest::StatusCode;

use crate::helpers::TestApp;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");

#[tokio::test]
async fn committed_openapi_matches_code() {
    let generated = workspace_gateway::openapi::document_json();
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        std::fs::write(COMMITTED, &generated).expect("write openapi/openapi.json");
    }

    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date; run `UPDATE_OPENAPI=1 cargo test --test api openapi` and commit the result"
    );
}

#[tokio::test]
async fn gateway_serves_openapi_and_swagger_ui() {
    let app = TestApp::spawn_sqlite().await;

    let document = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(document.status(), StatusCode::OK);
    let document: serde_json::Value = document.json().await.unwrap();
    assert!(document["paths"]["/v1/brokerages/{brokerage_id}/credentials"].is_object());
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());

    let page = app
        .client
        .get(format!("{}/docs/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("swagger-ui"));
}
