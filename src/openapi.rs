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
    add_auth_responses(&mut document);
    document
}

/// Adds the 401 and 403 problems to every operation that needs an API key and
/// does not describe them itself: every such route can return them.
fn add_auth_responses(document: &mut OpenApiDocument) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

    let problem = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build(),
        )
    };

    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            if operation
                .security
                .as_ref()
                .is_none_or(|security| security.is_empty())
            {
                continue;
            }
            let responses = &mut operation.responses.responses;
            responses
                .entry("401".to_owned())
                .or_insert_with(|| problem("Missing, unknown or revoked API key (`unauthorized`)"));
            responses.entry("403".to_owned()).or_insert_with(|| {
                problem("The API key's role does not allow this operation (`forbidden`)")
            });
        }
    }
}

/// Renders the document as pretty JSON with a trailing newline, as committed.
pub fn document_json() -> String {
    let mut json = document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    json.push('\n');
    json
}
