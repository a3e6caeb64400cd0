//! `/v1/brokerages`: create, read, list and delete brokerages.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::{store, Brokerage};
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult, Problem};
use crate::google::scopes;
use crate::state::AppState;
use crate::validate::{is_valid_brokerage_id, normalize_domain, normalize_email};

/// Body of `PUT /v1/brokerages/{brokerage_id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrokerageRequest {
    /// Name shown to people.
    #[schema(example = "Acme Realty")]
    pub display_name: String,
    /// Mail domains of the brokerage's Google Workspace.
    #[schema(example = json!(["acme-realty.com"]))]
    pub domains: Vec<String>,
    /// A mailbox in one of the domains, used to verify the credentials.
    #[schema(example = "it-test@acme-realty.com")]
    pub test_user: String,
    /// Contacts scope delegated in the Admin console: `https://www.googleapis.com/auth/contacts`
    /// (default) or the legacy `https://www.google.com/m8/feeds`.
    pub contacts_scope: Option<String>,
}

/// A page of brokerages.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrokeragePage {
    /// Brokerages ordered by id.
    pub items: Vec<Brokerage>,
    /// Cursor for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Query of the brokerage list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Cursor from the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 100).
    pub page_size: Option<i64>,
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/brokerages", get(list_brokerages))
        .route(
            "/v1/brokerages/{brokerage_id}",
            get(get_brokerage)
                .put(put_brokerage)
                .delete(delete_brokerage),
        )
}

/// OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(
    paths(put_brokerage, get_brokerage, list_brokerages, delete_brokerage),
    components(schemas(BrokerageRequest, Brokerage, BrokeragePage))
)]
pub struct ApiDoc;

/// Create or update a brokerage.
#[utoipa::path(put, path = "/v1/brokerages/{brokerage_id}", tag = "brokerages",
    params(("brokerage_id" = String, Path, description = "Brokerage id: 2 to 63 of a-z, 0-9 and -")),
    request_body = BrokerageRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = Brokerage),
        (status = 201, description = "Created", body = Brokerage),
        (status = 400, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Enrolled users would fall outside the new domains", body = Problem, content_type = "application/problem+json"),
    ))]
async fn put_brokerage(
    State(state): State<AppState>,
    caller: Caller,
    Path(brokerage_id): Path<String>,
    ApiJson(request): ApiJson<BrokerageRequest>,
) -> ApiResult<(StatusCode, ApiJson<Brokerage>)> {
    caller.authorize_manage(&brokerage_id)?;
    let valid = validate(&brokerage_id, request)?;

    if store::get(&state.db, &brokerage_id).await?.is_some() {
        let outside =
            crate::users::store::outside_domains(&state.db, &brokerage_id, &valid.domains).await?;
        if let Some(email) = outside.first() {
            return Err(ApiError::conflict(
                "users_outside_domains",
                format!("Enrolled user {email} is not in the new domains; unenroll it first or keep its domain."),
            )
            .with_field("domains"));
        }
    }

    let (brokerage, created) = store::upsert(
        &state.db,
        &brokerage_id,
        &valid.display_name,
        &valid.domains,
        &valid.test_user,
        valid.contacts_scope.as_deref(),
    )
    .await?;

    tracing::info!(brokerage_id = %brokerage_id, created, "brokerage saved");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, ApiJson(brokerage)))
}

struct ValidBrokerage {
    display_name: String,
    domains: Vec<String>,
    test_user: String,
    contacts_scope: Option<String>,
}

fn validate(brokerage_id: &str, request: BrokerageRequest) -> ApiResult<ValidBrokerage> {
    if !is_valid_brokerage_id(brokerage_id) {
        return Err(ApiError::invalid(
            "invalid_brokerage_id",
            "brokerage_id",
            "Use 2 to 63 characters of lower-case letters, digits and '-', not starting with '-'.",
        ));
    }

    let display_name = request.display_name.trim().to_owned();
    if display_name.is_empty() || display_name.chars().count() > 200 {
        return Err(ApiError::invalid(
            "invalid_display_name",
            "display_name",
            "Give a display name of 1 to 200 characters.",
        ));
    }

    if request.domains.is_empty() || request.domains.len() > 50 {
        return Err(ApiError::invalid(
            "invalid_domains",
            "domains",
            "List 1 to 50 mail domains, such as [\"acme-realty.com\"].",
        ));
    }
    let mut domains = Vec::with_capacity(request.domains.len());
    for (index, raw) in request.domains.iter().enumerate() {
        let domain = normalize_domain(raw).ok_or_else(|| {
            ApiError::invalid(
                "invalid_domains",
                format!("domains[{index}]"),
                format!("{raw:?} is not a domain name such as acme-realty.com."),
            )
        })?;
        if !domains.contains(&domain) {
            domains.push(domain);
        }
    }

    let test_user = normalize_email(&request.test_user).ok_or_else(|| {
        ApiError::invalid(
            "invalid_email",
            "test_user",
            "Give the test user as a plain address such as it-test@acme-realty.com.",
        )
    })?;
    if !domains
        .iter()
        .any(|domain| domain == crate::validate::email_domain(&test_user))
    {
        return Err(ApiError::invalid(
            "user_outside_domains",
            "test_user",
            format!(
                "The test user {test_user} is not in the brokerage's domains ({}).",
                domains.join(", ")
            ),
        ));
    }

    let contacts_scope = match request.contacts_scope.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(scope) if scope == scopes::CONTACTS || scope == scopes::CONTACTS_LEGACY => {
            Some(scope.to_owned())
        }
        Some(other) => {
            return Err(ApiError::invalid(
                "invalid_contacts_scope",
                "contacts_scope",
                format!(
                    "{other:?} is not a contacts scope; use {} or the legacy {}.",
                    scopes::CONTACTS,
                    scopes::CONTACTS_LEGACY
                ),
            ))
        }
    };

    Ok(ValidBrokerage {
        display_name,
        domains,
        test_user,
        contacts_scope,
    })
}

/// Read a brokerage with its credential status.
#[utoipa::path(get, path = "/v1/brokerages/{brokerage_id}", tag = "brokerages",
    params(("brokerage_id" = String, Path, description = "Brokerage id")), security(("bearer" = [])),
    responses(
        (status = 200, body = Brokerage),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_brokerage(
    State(state): State<AppState>,
    caller: Caller,
    Path(brokerage_id): Path<String>,
) -> ApiResult<ApiJson<Brokerage>> {
    caller.authorize_read(&brokerage_id)?;
    Ok(ApiJson(super::require(&state.db, &brokerage_id).await?))
}

/// List brokerages visible to the API key.
#[utoipa::path(get, path = "/v1/brokerages", tag = "brokerages", params(ListQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = BrokeragePage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_brokerages(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<ApiJson<BrokeragePage>> {
    let page_size = query.page_size.unwrap_or(100);
    if !(1..=500).contains(&page_size) {
        return Err(ApiError::invalid(
            "invalid_page_size",
            "page_size",
            "Use a page size from 1 to 500.",
        ));
    }

    let after = match query.cursor.as_deref() {
        Some(text) => Some(
            crate::storage::decode_id_cursor(text).ok_or_else(crate::storage::invalid_cursor)?,
        ),
        None => None,
    };
    let mut items = store::list(
        &state.db,
        caller.brokerage_scope(),
        after.as_deref(),
        page_size + 1,
    )
    .await?;
    let next_cursor = if items.len() as i64 > page_size {
        items.truncate(page_size as usize);
        items
            .last()
            .map(|brokerage| crate::storage::encode_id_cursor(&brokerage.id))
    } else {
        None
    };
    Ok(ApiJson(BrokeragePage { items, next_cursor }))
}

/// Delete a brokerage with its credentials, users and records, and drop its cached tokens.
#[utoipa::path(delete, path = "/v1/brokerages/{brokerage_id}", tag = "brokerages",
    params(("brokerage_id" = String, Path, description = "Brokerage id")), security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_brokerage(
    State(state): State<AppState>,
    caller: Caller,
    Path(brokerage_id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.authorize_manage(&brokerage_id)?;
    if !store::delete(&state.db, &brokerage_id).await? {
        return Err(super::not_found(&brokerage_id));
    }

    crate::credentials::forget_brokerage(&state, &brokerage_id);
    tracing::info!(brokerage_id = %brokerage_id, "brokerage deleted");
    Ok(StatusCode::NO_CONTENT)
}
