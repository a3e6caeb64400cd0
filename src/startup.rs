//! Building the application: state from settings, the router with its
//! middleware, and serving on an already bound listener until shutdown.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::{header, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{BoxError, Router};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tower::limit::ConcurrencyLimitLayer;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::ApiKeyHasher;
use crate::config::Settings;
use crate::credentials::vault::Vault;
use crate::error::ApiError;
use crate::google::GoogleClients;
use crate::state::AppState;
use crate::storage::Db;

/// A configured application, ready to serve.
pub struct Application {
    /// Shared state, also handy for tests.
    pub state: AppState,
    /// The bound listener.
    pub listener: TcpListener,
}

impl Application {
    /// Connects the database, loads the keyring and binds `settings.listen`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|error| anyhow::anyhow!("cannot listen on {}: {error}", settings.listen))?;
        let state = build_state(settings).await?;
        Ok(Self { state, listener })
    }

    /// Port the listener is bound to.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|address| address.port())
            .unwrap_or_default()
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        launch(self.listener, self.state, shutdown).await
    }
}

/// Builds the shared state: database (migrated), keyring, API key hasher and Google clients.
pub async fn build_state(settings: Settings) -> anyhow::Result<AppState> {
    let db = Db::connect(&settings.database.url, settings.database.max_connections)
        .await
        .context("database.url (GATEWAY__DATABASE__URL)")?;

    let master_keys = if settings.security.master_keys.is_empty() {
        let path = Path::new(&settings.security.master_key_file);
        vec![Vault::entry_from_file(
            path,
            "GATEWAY__SECURITY__MASTER_KEYS",
        )?]
    } else {
        settings.security.master_keys.clone()
    };
    let vault = Vault::from_entries(&master_keys)
        .context("security.master_keys (GATEWAY__SECURITY__MASTER_KEYS)")?;

    let api_key_secret = match &settings.security.api_key_secret {
        Some(secret) => secret.clone(),
        None => {
            let path = Path::new(&settings.security.api_key_secret_file);
            Vault::entry_from_file(path, "GATEWAY__SECURITY__API_KEY_SECRET")?
        }
    };
    let hasher = ApiKeyHasher::new(
        api_key_secret.expose_secret().as_bytes(),
        settings.security.admin_api_key.as_ref(),
    );

    let google = GoogleClients::new(&settings.google)?;

    Ok(AppState {
        settings: Arc::new(settings),
        db,
        vault: Arc::new(vault),
        google: Arc::new(google),
        api_key_hasher: Arc::new(hasher),
        parsed_keys: moka::sync::Cache::builder()
            .max_capacity(10_000)
            .time_to_idle(Duration::from_secs(3600))
            .build(),
    })
}

/// Builds the router with every route and middleware.
pub fn router(state: AppState) -> Router {
    let max_body_bytes = state.settings.http.max_body_bytes;
    let request_timeout = Duration::from_secs(state.settings.http.request_timeout_seconds);

    let max_json_body_bytes = state.settings.http.max_json_body_bytes;
    let max_concurrent_sends = state.settings.http.max_concurrent_sends;

    // Mail carries attachments, so it alone gets the large body limit, and the
    // number of sends held in memory at once is bounded.
    let mail = crate::messages::router()
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(ConcurrencyLimitLayer::new(max_concurrent_sends));
    let json = Router::new()
        .merge(crate::brokerages::router())
        .merge(crate::credentials::router())
        .merge(crate::verification::router())
        .merge(crate::audit::router())
        .merge(crate::users::router())
        .merge(crate::contacts::router())
        .merge(crate::events::router())
        .merge(crate::auth::router())
        .merge(crate::health::router())
        .layer(DefaultBodyLimit::max(max_json_body_bytes));
    let api = json.merge(mail).fallback(unknown_route).with_state(state);

    let middleware = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(HandleErrorLayer::new(timeout_response))
        .timeout(request_timeout);

    api.merge(SwaggerUi::new("/docs").url("/openapi.json", crate::openapi::document()))
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        .layer(axum::middleware::map_response(move |response: Response| {
            problem_for_bare_errors(response, max_body_bytes)
        }))
        .layer(middleware)
}

/// Serves `state` on `listener` until `shutdown` resolves.
pub async fn launch(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    tracing::info!(%address, "workspace-gateway listening");

    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await?;

    tracing::info!("workspace-gateway stopped");
    Ok(())
}

fn request_span(request: &Request<Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| request.uri().path().to_owned());
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let brokerage_id = request
        .uri()
        .path()
        .strip_prefix("/v1/brokerages/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default();

    tracing::info_span!(
        "http.request",
        method = %request.method(),
        route = %route,
        request_id = %request_id,
        brokerage_id = %brokerage_id,
        api_key_id = tracing::field::Empty,
    )
}

/// Turns the error responses that axum, Swagger UI and tower-http build
/// themselves (405, unknown asset 404, 413 with a plain-text or empty body)
/// into problem+json, and adds `WWW-Authenticate` to 401s.
async fn problem_for_bare_errors(mut response: Response, max_body_bytes: usize) -> Response {
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED
        && !response.headers().contains_key(header::WWW_AUTHENTICATE)
    {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }

    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/problem+json"));
    let is_bare = !response.headers().contains_key(header::CONTENT_TYPE);
    if !(status.is_client_error() || status.is_server_error())
        || is_problem
        || !(is_bare || status == StatusCode::PAYLOAD_TOO_LARGE)
    {
        return response;
    }

    let error = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            "method_not_allowed",
            "This route does not accept that HTTP method; the API is described at /openapi.json.",
        ),
        StatusCode::NOT_FOUND => ApiError::not_found(
            "route_not_found",
            "No such route; the API is described at /openapi.json and /docs.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            status,
            "body_too_large",
            format!("The request body exceeds the maximum of {max_body_bytes} bytes."),
        ),
        _ => ApiError::new(
            status,
            "http_error",
            status.canonical_reason().unwrap_or("The request failed."),
        ),
    };
    let mut problem = error.into_response();
    if let Some(allow) = response.headers().get(header::ALLOW) {
        problem.headers_mut().insert(header::ALLOW, allow.clone());
    }
    problem
}

async fn unknown_route() -> ApiError {
    ApiError::not_found(
        "route_not_found",
        "No such route; the API is described at /openapi.json and /docs.",
    )
}

async fn timeout_response(error: BoxError) -> Response {
    if error.is::<tower::timeout::error::Elapsed>() {
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "request_timeout",
            "The request took longer than the gateway allows; retry later.",
        )
        .into_response()
    } else {
        ApiError::internal(anyhow::anyhow!("middleware failure: {error}")).into_response()
    }
}

fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    // The panic payload may quote request data, so it is not logged here.
    tracing::error!("a handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "The gateway failed to process the request.",
    )
    .into_response()
}
