//! The OpenAPI 3.1 document, assembled from each module's description. The
//! committed copy is `openapi/openapi.json`; a test fails when it drifts.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDocument;
use utoipa::{Modify, OpenApi};

use crate::error::Problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "workspace-gateway",
        description = "Acts for agent mailboxes of customer brokerages on Google Workspace through domain-wide delegation: contacts (People API), calendar events (Calendar API) and sending mail (Gmail API). Every error is `application/problem+json` (RFC 9457) with a stable `code`.",
    ),
    components(schemas(Problem)),
    modifiers(&BearerScheme),
    tags(
        (name = "brokerages", description = "Customer brokerages and their Workspace domains"),
        (name = "credentials", description = "Service-account keys, verification and the audit log"),
        (name = "users", description = "Enrolled agent mailboxes"),
        (name = "contacts", description = "An agent's Google contacts"),
        (name = "events", description = "An agent's primary Google calendar"),
        (name = "messages", description = "Mail sent as an agent"),
        (name = "api-keys", description = "API keys of the gateway"),
        (name = "operations", description = "Probes"),
    )
)]
struct RootDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut OpenApiDocument) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A gateway API key"))
                    .build(),
            ),
        );
    }
}

/// Builds the whole document.
pub fn document() -> OpenApiDocument {
    let mut document = RootDoc::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    for part in [
        crate::brokerages::ApiDoc::openapi(),
        crate::credentials::ApiDoc::openapi(),
        crate::verification::ApiDoc::openapi(),
        crate::audit::ApiDoc::openapi(),
        crate::users::ApiDoc::openapi(),
        crate::contacts::ApiDoc::openapi(),
        crate::events::ApiDoc::openapi(),
        crate::messages::ApiDoc::openapi(),
        crate::auth::ApiDoc::openapi(),
        crate::health::ApiDoc::openapi(),
    ] {
        document.merge(part);
    }
    document
}

/// The document as pretty JSON with a trailing newline, as committed.
pub fn document_json() -> String {
    let mut json = document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    json.push('\n');
    json
}
