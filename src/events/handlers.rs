//! Routes of `/v1/brokerages/{brokerage_id}/users/{email}/events`.
//!
//! Each handler authorizes the API key, validates the input, opens the user's
//! calendar and makes one service call.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use utoipa::OpenApi;

use super::model::{
    Attendee, Event, EventPage, EventPatch, EventStatus, EventTime, ListQuery, NewEvent,
    ReminderMethod, ReminderOverride, Reminders, ResponseStatus, SendUpdates, WriteQuery,
};
use super::service::{Created, UserCalendar};
use super::validation;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiResult, Problem};
use crate::state::AppState;

const EVENTS_PATH: &str = "/v1/brokerages/{brokerage_id}/users/{email}/events";
const EVENT_PATH: &str = "/v1/brokerages/{brokerage_id}/users/{email}/events/{event_id}";

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(EVENTS_PATH, get(list_events).post(create_event))
        .route(
            EVENT_PATH,
            get(get_event).patch(patch_event).delete(delete_event),
        )
}

/// OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(
    paths(list_events, create_event, get_event, patch_event, delete_event),
    components(schemas(
        Event,
        EventTime,
        EventStatus,
        Attendee,
        ResponseStatus,
        Reminders,
        ReminderOverride,
        ReminderMethod,
        NewEvent,
        EventPatch,
        EventPage,
        SendUpdates
    ))
)]
pub struct ApiDoc;

/// List the user's events in a time window, recurring events expanded into
/// their instances, ordered by start time.
#[utoipa::path(get, path = "/v1/brokerages/{brokerage_id}/users/{email}/events", tag = "events",
    params(
        ("brokerage_id" = String, Path, description = "Brokerage id"),
        ("email" = String, Path, description = "Address of an enrolled user"),
        ListQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of events", body = EventPage),
        (status = 400, description = "Missing or invalid window, cursor or page size", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The API key may not read user data, or the Workspace has not delegated the calendar scope or enabled the Calendar API", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown brokerage or user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The brokerage has no active service-account key (`credentials_missing`, `credentials_revoked`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Google rate limit; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Google failed or could not be reached", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The Google call timed out", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    Path((brokerage_id, email)): Path<(String, String)>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<ApiJson<EventPage>> {
    caller.authorize_data(&brokerage_id)?;
    let Query(query) = query.map_err(query_rejection)?;
    let window = validation::validate_list_query(&query)?;

    let calendar = UserCalendar::open(&state, &brokerage_id, &email).await?;
    Ok(ApiJson(calendar.list(&window).await?))
}

/// Create an event. With an `Idempotency-Key` header a retried request
/// returns the event created the first time (status 200) instead of creating
/// a second one.
#[utoipa::path(post, path = "/v1/brokerages/{brokerage_id}/users/{email}/events", tag = "events",
    params(
        ("brokerage_id" = String, Path, description = "Brokerage id"),
        ("email" = String, Path, description = "Address of an enrolled user"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters, such as a UUID, unique per event to create"),
        WriteQuery,
    ),
    request_body = NewEvent,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Event),
        (status = 200, description = "Already created with this Idempotency-Key", body = Event),
        (status = 400, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The API key may not write user data, or the Workspace has not delegated the calendar scope or enabled the Calendar API", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown brokerage or user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The event created with this Idempotency-Key was deleted, or the brokerage has no active service-account key", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body does not match the schema, or Google rejected the values", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Google rate limit; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Google failed or could not be reached", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The Google call timed out", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_event(
    State(state): State<AppState>,
    caller: Caller,
    Path((brokerage_id, email)): Path<(String, String)>,
    query: Result<Query<WriteQuery>, QueryRejection>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewEvent>,
) -> ApiResult<Response> {
    caller.authorize_data(&brokerage_id)?;
    let send_updates = parse_write_query(query)?;
    let idempotency_key = header_text(&headers, "idempotency-key", "Idempotency-Key")?
        .map(validation::validate_idempotency_key)
        .transpose()?;
    let event = validation::validate_new_event(body)?;

    let calendar = UserCalendar::open(&state, &brokerage_id, &email).await?;
    let (event, created) = calendar
        .create(&event, send_updates, idempotency_key)
        .await?;

    let status = match created {
        Created::New => StatusCode::CREATED,
        Created::Existing => StatusCode::OK,
    };
    Ok(event_response(status, event))
}

/// Read an event. Deleted events are not found.
#[utoipa::path(get, path = "/v1/brokerages/{brokerage_id}/users/{email}/events/{event_id}", tag = "events",
    params(
        ("brokerage_id" = String, Path, description = "Brokerage id"),
        ("email" = String, Path, description = "Address of an enrolled user"),
        ("event_id" = String, Path, description = "Event id, or instance id of a recurring event"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The event; its etag is also in the ETag header", body = Event),
        (status = 400, description = "Invalid event id", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The API key may not read user data, or the Workspace has not delegated the calendar scope or enabled the Calendar API", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown brokerage, user or event (`event_not_found`, also for deleted events)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The brokerage has no active service-account key (`credentials_missing`, `credentials_revoked`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Google rate limit; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Google failed or could not be reached", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The Google call timed out", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_event(
    State(state): State<AppState>,
    caller: Caller,
    Path((brokerage_id, email, event_id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    caller.authorize_data(&brokerage_id)?;
    let event_id = validation::validate_event_id(&event_id)?;

    let calendar = UserCalendar::open(&state, &brokerage_id, &email).await?;
    let event = calendar.get(event_id).await?;
    Ok(event_response(StatusCode::OK, event))
}

/// Change the given fields of an event; fields left out stay as they are.
/// With `If-Match` (or `etag` in the body) the change applies only to that
/// version of the event.
#[utoipa::path(patch, path = "/v1/brokerages/{brokerage_id}/users/{email}/events/{event_id}", tag = "events",
    params(
        ("brokerage_id" = String, Path, description = "Brokerage id"),
        ("email" = String, Path, description = "Address of an enrolled user"),
        ("event_id" = String, Path, description = "Event id, or instance id of a recurring event"),
        ("If-Match" = Option<String>, Header, description = "Etag of the version to change"),
        WriteQuery,
    ),
    request_body = EventPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed event", body = Event),
        (status = 400, description = "Invalid field or event id", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The API key may not write user data, or the Workspace has not delegated the calendar scope or enabled the Calendar API", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown brokerage, user or event (`event_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The event changed since the given etag (`etag_mismatch`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body does not match the schema, or Google rejected the values", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The brokerage has no active service-account key (`credentials_missing`, `credentials_revoked`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Google rate limit; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Google failed or could not be reached", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The Google call timed out", body = Problem, content_type = "application/problem+json"),
    ))]
async fn patch_event(
    State(state): State<AppState>,
    caller: Caller,
    Path((brokerage_id, email, event_id)): Path<(String, String, String)>,
    query: Result<Query<WriteQuery>, QueryRejection>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<EventPatch>,
) -> ApiResult<Response> {
    caller.authorize_data(&brokerage_id)?;
    let event_id = validation::validate_event_id(&event_id)?;
    let send_updates = parse_write_query(query)?;
    let if_match = header_text(&headers, "if-match", "If-Match")?;
    let patch = validation::validate_patch(body, if_match)?;

    let calendar = UserCalendar::open(&state, &brokerage_id, &email).await?;
    let event = calendar.patch(event_id, &patch, send_updates).await?;
    Ok(event_response(StatusCode::OK, event))
}

/// Delete an event, or cancel one instance of a recurring event. With
/// `If-Match` the event is deleted only if it is still that version.
#[utoipa::path(delete, path = "/v1/brokerages/{brokerage_id}/users/{email}/events/{event_id}", tag = "events",
    params(
        ("brokerage_id" = String, Path, description = "Brokerage id"),
        ("email" = String, Path, description = "Address of an enrolled user"),
        ("event_id" = String, Path, description = "Event id, or instance id of a recurring event"),
        ("If-Match" = Option<String>, Header, description = "Etag of the version to delete"),
        WriteQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Invalid event id or send_updates", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The API key may not write user data, or the Workspace has not delegated the calendar scope or enabled the Calendar API", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown brokerage, user or event (`event_not_found`, also when already deleted)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The event changed since the given etag (`etag_mismatch`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The brokerage has no active service-account key (`credentials_missing`, `credentials_revoked`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Google rate limit; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Google failed or could not be reached", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The Google call timed out", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_event(
    State(state): State<AppState>,
    caller: Caller,
    Path((brokerage_id, email, event_id)): Path<(String, String, String)>,
    query: Result<Query<WriteQuery>, QueryRejection>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    caller.authorize_data(&brokerage_id)?;
    let event_id = validation::validate_event_id(&event_id)?;
    let send_updates = parse_write_query(query)?;
    let if_match = header_text(&headers, "if-match", "If-Match")?;

    let calendar = UserCalendar::open(&state, &brokerage_id, &email).await?;
    calendar.delete(event_id, if_match, send_updates).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn parse_write_query(query: Result<Query<WriteQuery>, QueryRejection>) -> ApiResult<SendUpdates> {
    let Query(query) = query.map_err(query_rejection)?;
    validation::parse_send_updates(query.send_updates.as_deref())
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_query",
        format!("The query string is invalid: {}", rejection.body_text()),
    )
}

/// Reads an optional header as text; `name` is the lower-case header name and
/// `field` its usual spelling for the problem.
fn header_text<'a>(headers: &'a HeaderMap, name: &str, field: &str) -> ApiResult<Option<&'a str>> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };

    value.to_str().map(Some).map_err(|_| {
        ApiError::invalid(
            "invalid_header",
            field.to_owned(),
            format!("The {field} header must be visible ASCII text."),
        )
    })
}

/// Sends `event` as JSON with its etag in the `ETag` header.
fn event_response(status: StatusCode, event: Event) -> Response {
    let etag = event
        .etag
        .as_deref()
        .and_then(|etag| HeaderValue::from_str(etag).ok());

    let mut response = (status, ApiJson(event)).into_response();
    if let Some(etag) = etag {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}
