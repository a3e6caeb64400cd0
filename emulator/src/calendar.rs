//! Calendar API v3 handlers for the primary calendar: `events.list` (with recurrence
//! expansion, paging and sync tokens), `events.insert`, `get`, `patch`, `update`, `delete` and
//! `instances`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::access::{authorize, Api, Caller, Method};
use crate::errors::{ApiResult, GoogleError};
use crate::events::{
    calendar_error, calendar_not_found, merge_patch, new_event_id, timestamp, valid_client_id,
    validate_event, Calendar, EventTime, StoredEvent,
};
use crate::query::{decode_token, encode_token, Params};
use crate::recurrence::instance_starts;
use crate::state::{AppState, World};

const CALENDAR: &str = "https://www.googleapis.com/auth/calendar";
const APP_CREATED: &str = "https://www.googleapis.com/auth/calendar.app.created";
const EVENTS: &str = "https://www.googleapis.com/auth/calendar.events";
const EVENTS_OWNED: &str = "https://www.googleapis.com/auth/calendar.events.owned";

const READ_SCOPES: &[&str] = &[
    CALENDAR,
    APP_CREATED,
    EVENTS,
    "https://www.googleapis.com/auth/calendar.events.freebusy",
    EVENTS_OWNED,
    "https://www.googleapis.com/auth/calendar.events.owned.readonly",
    "https://www.googleapis.com/auth/calendar.events.public.readonly",
    "https://www.googleapis.com/auth/calendar.events.readonly",
    "https://www.googleapis.com/auth/calendar.readonly",
];
const WRITE_SCOPES: &[&str] = &[CALENDAR, APP_CREATED, EVENTS, EVENTS_OWNED];

const LIST: Method = Method {
    api: Api::Calendar,
    rpc_name: "calendar.v3.Events.List",
    scopes: READ_SCOPES,
};
const GET: Method = Method {
    api: Api::Calendar,
    rpc_name: "calendar.v3.Events.Get",
    scopes: READ_SCOPES,
};
const INSERT: Method = Method {
    api: Api::Calendar,
    rpc_name: "calendar.v3.Events.Insert",
    scopes: WRITE_SCOPES,
};
const UPDATE: Method = Method {
    api: Api::Calendar,
    rpc_name: "calendar.v3.Events.Update",
    scopes: WRITE_SCOPES,
};
const DELETE: Method = Method {
    api: Api::Calendar,
    rpc_name: "calendar.v3.Events.Delete",
    scopes: WRITE_SCOPES,
};

/// Default and maximum `maxResults` of `events.list`.
const DEFAULT_MAX_RESULTS: i64 = 250;
const MAX_MAX_RESULTS: i64 = 2500;

/// Parameters that cannot be combined with `syncToken`.
const NOT_WITH_SYNC_TOKEN: &[&str] = &[
    "timeMin",
    "timeMax",
    "orderBy",
    "q",
    "updatedMin",
    "iCalUID",
    "privateExtendedProperty",
    "sharedExtendedProperty",
];

/// Routes of the Calendar API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/calendar/v3/calendars/{calendar_id}/events",
            get(list_events).post(insert),
        )
        .route(
            "/calendar/v3/calendars/{calendar_id}/events/{event_id}",
            get(get_event)
                .patch(patch_event)
                .put(update_event)
                .delete(delete_event),
        )
        .route(
            "/calendar/v3/calendars/{calendar_id}/events/{event_id}/instances",
            get(list_instances),
        )
}

/// Resolves `primary` or the user's own address; other calendars do not exist here.
fn calendar_owner(caller: &Caller, calendar_id: &str) -> Result<String, GoogleError> {
    let user = caller.user.as_deref().ok_or_else(calendar_not_found)?;
    if calendar_id == "primary" || calendar_id.eq_ignore_ascii_case(user) {
        Ok(user.to_string())
    } else {
        Err(calendar_not_found())
    }
}

fn bad_request(reason: &str, message: &str) -> GoogleError {
    calendar_error(StatusCode::BAD_REQUEST, reason, message)
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, GoogleError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(bad_request("parseError", "Parse Error")),
    }
}

fn check_send_updates(params: &Params) -> Result<(), GoogleError> {
    match params.get("sendUpdates") {
        None | Some("all" | "externalOnly" | "none") => Ok(()),
        Some(_) => Err(bad_request(
            "invalidParameter",
            "Invalid value for: sendUpdates",
        )),
    }
}

// ---- events.list ----

/// Options of one `events.list` request.
#[derive(Debug)]
struct ListQuery {
    time_min: Option<DateTime<Utc>>,
    time_max: Option<DateTime<Utc>>,
    single_events: bool,
    order_by_updated: bool,
    show_deleted: bool,
    text: Option<String>,
    updated_min: Option<DateTime<Utc>>,
    ical_uid: Option<String>,
    max_results: usize,
}

/// Start offset and covered change range of a listing.
#[derive(Debug, Clone, Copy)]
struct ListPosition {
    offset: usize,
    snapshot: u64,
    since: Option<u64>,
}

/// One entry of a listing with its sort keys.
struct ListItem {
    start: DateTime<Utc>,
    updated: DateTime<Utc>,
    id: String,
    json: Value,
}

async fn list_events(
    State(state): State<AppState>,
    Path(calendar_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let caller = authorize(&state, &headers, &LIST)?;
    let owner = calendar_owner(&caller, &calendar_id)?;
    let params = Params::parse(query.as_deref());
    let list_query = parse_list_query(&params)?;

    let world = state.world();
    let calendar = &world.user(&owner).ok_or_else(calendar_not_found)?.calendar;
    let since = match params.non_empty("syncToken") {
        Some(token) => {
            if let Some(name) = NOT_WITH_SYNC_TOKEN
                .iter()
                .find(|name| params.get(name).is_some())
            {
                return Err(bad_request(
                    "invalid",
                    &format!("Sync token cannot be combined with the {name} parameter."),
                ));
            }
            Some(check_sync_token(token, &owner, calendar.sync_epoch)?)
        }
        None => None,
    };
    let position = match params.non_empty("pageToken") {
        Some(token) => check_page_token(token, since)?,
        None => ListPosition {
            offset: 0,
            snapshot: world.change_seq,
            since,
        },
    };

    let items = collect_items(calendar, &owner, &list_query, position);
    Ok(Json(list_response(
        &owner,
        calendar,
        items,
        position,
        list_query.max_results,
    )))
}

fn parse_list_query(params: &Params) -> Result<ListQuery, GoogleError> {
    let time = |name: &str| -> Result<Option<DateTime<Utc>>, GoogleError> {
        match params.non_empty(name) {
            None => Ok(None),
            Some(text) => DateTime::parse_from_rfc3339(text)
                .map(|time| Some(time.with_timezone(&Utc)))
                .map_err(|_| bad_request("badRequest", "Bad Request")),
        }
    };
    let flag = |name: &str| -> Result<bool, GoogleError> {
        params
            .bool(name)
            .map(|value| value.unwrap_or(false))
            .map_err(|_| bad_request("invalidParameter", &format!("Invalid value for: {name}")))
    };

    let time_min = time("timeMin")?;
    let time_max = time("timeMax")?;
    if let (Some(min), Some(max)) = (time_min, time_max) {
        if max <= min {
            return Err(bad_request(
                "timeRangeEmpty",
                "The specified time range is empty.",
            ));
        }
    }

    let single_events = flag("singleEvents")?;
    let order_by_updated = match params.non_empty("orderBy") {
        None => false,
        Some("startTime") if single_events => false,
        Some("startTime") => {
            return Err(bad_request(
                "badRequest",
                "The requested ordering is not available for the particular query.",
            ))
        }
        Some("updated") => true,
        Some(_) => {
            return Err(bad_request(
                "invalidParameter",
                "Invalid value for: orderBy",
            ))
        }
    };

    let max_results = params
        .int("maxResults")
        .map_err(|_| bad_request("invalidParameter", "Invalid value for: maxResults"))?
        .unwrap_or(DEFAULT_MAX_RESULTS);
    if max_results < 1 {
        return Err(bad_request("invalid", "Invalid max results value."));
    }

    Ok(ListQuery {
        time_min,
        time_max,
        single_events,
        order_by_updated,
        show_deleted: flag("showDeleted")?,
        text: params.non_empty("q").map(str::to_lowercase),
        updated_min: time("updatedMin")?,
        ical_uid: params.non_empty("iCalUID").map(str::to_string),
        max_results: max_results.min(MAX_MAX_RESULTS) as usize,
    })
}

fn collect_items(
    calendar: &Calendar,
    owner: &str,
    query: &ListQuery,
    position: ListPosition,
) -> Vec<ListItem> {
    let syncing = position.since.is_some();
    let mut items = Vec::new();

    for event in calendar.events.values() {
        let changed =
            event.seq <= position.snapshot && position.since.is_none_or(|since| event.seq > since);
        if !changed || !matches_filters(event, query) {
            continue;
        }
        let cancelled = event.status == "cancelled";
        if cancelled && !(query.show_deleted || syncing) {
            continue;
        }

        let recurring = event.recurring_event_id.is_none() && !event.recurrence().is_empty();
        if recurring && query.single_events && !cancelled {
            items.extend(expand_series(calendar, event, owner, query));
            continue;
        }
        if !cancelled && !overlaps(event, query) {
            continue;
        }
        let json = if cancelled {
            event.render_cancelled()
        } else {
            event.render(owner)
        };
        items.push(ListItem {
            start: event
                .start()
                .map(|start| start.instant())
                .unwrap_or(event.created),
            updated: event.updated,
            id: event.id.clone(),
            json,
        });
    }

    sort_items(&mut items, query);
    items
}

fn matches_filters(event: &StoredEvent, query: &ListQuery) -> bool {
    if let Some(updated_min) = query.updated_min {
        if event.updated < updated_min {
            return false;
        }
    }
    if let Some(uid) = &query.ical_uid {
        if &event.ical_uid != uid {
            return false;
        }
    }
    if let Some(text) = &query.text {
        let haystack = ["summary", "description", "location"]
            .iter()
            .filter_map(|field| event.body.get(*field).and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        let attendees = event
            .body
            .get("attendees")
            .map(|attendees| attendees.to_string().to_lowercase())
            .unwrap_or_default();
        if !haystack.contains(text.as_str()) && !attendees.contains(text.as_str()) {
            return false;
        }
    }
    true
}

/// Checks whether a single event, or any instance of a series, overlaps the query window.
fn overlaps(event: &StoredEvent, query: &ListQuery) -> bool {
    let (Some(start), Some(end)) = (event.start(), event.end()) else {
        return false;
    };
    let recurrence = event.recurrence();
    if event.recurring_event_id.is_none() && !recurrence.is_empty() {
        if query.time_min.is_none() && query.time_max.is_none() {
            return true;
        }
        let duration = end.instant() - start.instant();
        return instance_starts(
            &start,
            &recurrence,
            duration,
            query.time_min,
            query.time_max,
        )
        .is_ok_and(|starts| !starts.is_empty());
    }
    let after_min = query.time_min.is_none_or(|min| end.instant() > min);
    let before_max = query.time_max.is_none_or(|max| start.instant() < max);
    after_min && before_max
}

/// Expands a series into instances, leaving out those replaced by stored exceptions.
fn expand_series(
    calendar: &Calendar,
    master: &StoredEvent,
    owner: &str,
    query: &ListQuery,
) -> Vec<ListItem> {
    let (Some(start), Some(end)) = (master.start(), master.end()) else {
        return Vec::new();
    };
    let duration = end.instant() - start.instant();
    // NOTE: without timeMax an endless series is cut at MAX_INSTANCES instances.
    let starts = instance_starts(
        &start,
        &master.recurrence(),
        duration,
        query.time_min,
        query.time_max,
    )
    .unwrap_or_default();

    starts
        .iter()
        .filter(|instance| {
            let id = instance_id(&master.id, instance);
            !calendar.events.contains_key(&id)
        })
        .map(|instance| ListItem {
            start: instance.instant(),
            updated: master.updated,
            id: instance_id(&master.id, instance),
            json: render_instance(master, owner, instance, &end_minus_start(&start, &end)),
        })
        .collect()
}

fn end_minus_start(start: &EventTime, end: &EventTime) -> chrono::Duration {
    end.instant() - start.instant()
}

fn sort_items(items: &mut [ListItem], query: &ListQuery) {
    if query.order_by_updated {
        items.sort_by(|a, b| a.updated.cmp(&b.updated).then_with(|| a.id.cmp(&b.id)));
    } else {
        // Google documents the default order as unspecified but stable; start time is used.
        items.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
    }
}

fn list_response(
    owner: &str,
    calendar: &Calendar,
    items: Vec<ListItem>,
    position: ListPosition,
    max_results: usize,
) -> Value {
    let total = items.len();
    let page: Vec<Value> = items
        .into_iter()
        .skip(position.offset)
        .take(max_results)
        .map(|item| item.json)
        .collect();
    let updated = calendar
        .events
        .values()
        .map(|event| event.updated)
        .max()
        .unwrap_or_default();

    let mut body = json!({
        "kind": "calendar#events",
        "etag": format!("\"{}\"", updated.timestamp_micros()),
        "summary": owner,
        "description": "",
        "updated": timestamp(updated),
        "timeZone": "UTC",
        "accessRole": "owner",
        "defaultReminders": [{"method": "popup", "minutes": 10}],
        "items": page,
    });
    let next_offset = position.offset + max_results;
    if next_offset < total {
        body["nextPageToken"] = json!(page_token(ListPosition {
            offset: next_offset,
            ..position
        }));
    } else {
        body["nextSyncToken"] = json!(sync_token(owner, position.snapshot, calendar.sync_epoch));
    }
    body
}

fn page_token(position: ListPosition) -> String {
    let since = position.since.map(|s| s.to_string()).unwrap_or_default();
    encode_token(&[
        "calendar-page".into(),
        position.offset.to_string(),
        position.snapshot.to_string(),
        since,
    ])
}

fn check_page_token(token: &str, since: Option<u64>) -> Result<ListPosition, GoogleError> {
    let invalid = || bad_request("invalid", "Invalid page token value.");
    let fields = decode_token(token, "calendar-page").ok_or_else(invalid)?;
    let [_, offset, snapshot, token_since] = fields.as_slice() else {
        return Err(invalid());
    };
    let position = ListPosition {
        offset: offset.parse().map_err(|_| invalid())?,
        snapshot: snapshot.parse().map_err(|_| invalid())?,
        since: token_since.parse().ok(),
    };
    if position.since != since {
        return Err(invalid());
    }
    Ok(position)
}

fn sync_token(owner: &str, snapshot: u64, epoch: u64) -> String {
    encode_token(&[
        "calendar-sync".into(),
        owner.to_string(),
        snapshot.to_string(),
        epoch.to_string(),
    ])
}

/// Returns the change sequence number a sync token covers, or Calendar's 410.
fn check_sync_token(token: &str, owner: &str, epoch: u64) -> Result<u64, GoogleError> {
    let gone = || {
        calendar_error(
            StatusCode::GONE,
            "fullSyncRequired",
            "Sync token is no longer valid, a full sync is required.",
        )
    };
    let fields = decode_token(token, "calendar-sync").ok_or_else(gone)?;
    let [_, token_owner, snapshot, token_epoch] = fields.as_slice() else {
        return Err(gone());
    };
    if token_owner != owner || token_epoch != &epoch.to_string() {
        return Err(gone());
    }
    snapshot.parse().map_err(|_| gone())
}

// ---- instances ----

fn instance_id(series_id: &str, start: &EventTime) -> String {
    format!("{series_id}_{}", start.instance_suffix())
}

fn render_instance(
    master: &StoredEvent,
    owner: &str,
    start: &EventTime,
    duration: &chrono::Duration,
) -> Value {
    let mut event = master.render(owner);
    if let Some(object) = event.as_object_mut() {
        object.remove("recurrence");
        object.insert("id".into(), json!(instance_id(&master.id, start)));
        object.insert("start".into(), start.to_json());
        object.insert("end".into(), start.shifted(*duration).to_json());
        object.insert("recurringEventId".into(), json!(master.id));
        object.insert("originalStartTime".into(), start.to_json());
    }
    event
}

/// Finds the series and the instance start an instance id (`<series>_<start>`) names.
fn find_instance<'a>(calendar: &'a Calendar, id: &str) -> Option<(&'a StoredEvent, EventTime)> {
    let (series_id, _) = id.rsplit_once('_')?;
    let master = calendar.events.get(series_id)?;
    if master.status == "cancelled" || master.recurring_event_id.is_some() {
        return None;
    }
    let start = master.start()?;
    let end = master.end()?;
    let recurrence = master.recurrence();
    if recurrence.is_empty() {
        return None;
    }
    let duration = end.instant() - start.instant();
    let starts = instance_starts(&start, &recurrence, duration, None, None).ok()?;
    let instance = starts
        .into_iter()
        .find(|instance| instance_id(series_id, instance) == id)?;
    Some((master, instance))
}

/// Stores an exception for one instance of a series, as a copy of the instance.
fn materialize_instance(calendar: &mut Calendar, id: &str) -> Option<()> {
    let (master, start) = find_instance(calendar, id)?;
    let end = master.end()?;
    let duration = end.instant() - master.start()?.instant();

    let mut body = master.body.clone();
    body.remove("recurrence");
    body.insert("start".into(), start.to_json());
    body.insert("end".into(), start.shifted(duration).to_json());
    let exception = StoredEvent {
        id: id.to_string(),
        body,
        status: "confirmed".into(),
        created: master.created,
        updated: master.updated,
        seq: master.seq,
        sequence: master.sequence,
        etag: master.etag.clone(),
        ical_uid: master.ical_uid.clone(),
        recurring_event_id: Some(master.id.clone()),
        original_start: Some(start.to_json()),
    };
    calendar.events.insert(id.to_string(), exception);
    Some(())
}

async fn list_instances(
    State(state): State<AppState>,
    Path((calendar_id, event_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let caller = authorize(&state, &headers, &LIST)?;
    let owner = calendar_owner(&caller, &calendar_id)?;
    let params = Params::parse(query.as_deref());
    let mut list_query = parse_list_query(&params)?;
    list_query.single_events = true;

    let world = state.world();
    let calendar = &world.user(&owner).ok_or_else(calendar_not_found)?.calendar;
    let master = calendar
        .events
        .get(&event_id)
        .filter(|event| event.recurring_event_id.is_none())
        .ok_or_else(calendar_not_found)?;

    let mut items = expand_series(calendar, master, &owner, &list_query);
    let exceptions = calendar
        .events
        .values()
        .filter(|event| event.recurring_event_id.as_deref() == Some(event_id.as_str()))
        .filter(|event| list_query.show_deleted || event.status != "cancelled")
        .map(|event| ListItem {
            start: event.start().map(|s| s.instant()).unwrap_or(event.created),
            updated: event.updated,
            id: event.id.clone(),
            json: if event.status == "cancelled" {
                event.render_cancelled()
            } else {
                event.render(&owner)
            },
        });
    items.extend(exceptions);
    sort_items(&mut items, &list_query);

    let position = match params.non_empty("pageToken") {
        Some(token) => check_page_token(token, None)?,
        None => ListPosition {
            offset: 0,
            snapshot: world.change_seq,
            since: None,
        },
    };
    let mut body = list_response(&owner, calendar, items, position, list_query.max_results);
    if let Some(object) = body.as_object_mut() {
        object.remove("nextSyncToken");
    }
    Ok(Json(body))
}

// ---- insert, get, patch, update, delete ----

async fn insert(
    State(state): State<AppState>,
    Path(calendar_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let caller = authorize(&state, &headers, &INSERT)?;
    let owner = calendar_owner(&caller, &calendar_id)?;
    check_send_updates(&Params::parse(query.as_deref()))?;
    let event = Value::Object(parse_body(&body)?);

    let now = state.clock.now();
    let mut world = state.world();
    insert_event(&mut world, &owner, &event, now).map(Json)
}

/// Validates an Event and stores it in the user's primary calendar; returns the Event resource.
pub fn insert_event(
    world: &mut World,
    owner: &str,
    event: &Value,
    now: DateTime<Utc>,
) -> Result<Value, GoogleError> {
    let object = event
        .as_object()
        .ok_or_else(|| bad_request("parseError", "Parse Error"))?;
    let valid = validate_event(object)?;

    let requested_id = object.get("id").and_then(Value::as_str);
    if requested_id.is_some_and(|id| !valid_client_id(id)) {
        return Err(bad_request("invalid", "Invalid resource id value."));
    }
    let id = requested_id
        .map(str::to_string)
        .unwrap_or_else(new_event_id);
    let ical_uid = object
        .get("iCalUID")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{id}@google.com"));

    let seq = world.next_seq();
    let calendar = &mut world
        .user_mut(owner)
        .ok_or_else(calendar_not_found)?
        .calendar;
    if calendar.events.contains_key(&id) {
        return Err(calendar_error(
            StatusCode::CONFLICT,
            "duplicate",
            "The requested identifier already exists.",
        ));
    }

    let mut stored = StoredEvent {
        id: id.clone(),
        body: valid.body,
        status: valid.status,
        created: now,
        updated: now,
        seq,
        sequence: 0,
        etag: String::new(),
        ical_uid,
        recurring_event_id: None,
        original_start: None,
    };
    stored.touch(now, seq);
    let rendered = stored.render(owner);
    calendar.events.insert(id, stored);
    Ok(rendered)
}

async fn get_event(
    State(state): State<AppState>,
    Path((calendar_id, event_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let caller = authorize(&state, &headers, &GET)?;
    let owner = calendar_owner(&caller, &calendar_id)?;

    let world = state.world();
    let calendar = &world.user(&owner).ok_or_else(calendar_not_found)?.calendar;
    if let Some(event) = calendar.events.get(&event_id) {
        return Ok(Json(event.render(&owner)));
    }
    let (master, start) = find_instance(calendar, &event_id).ok_or_else(calendar_not_found)?;
    let (Some(series_start), Some(series_end)) = (master.start(), master.end()) else {
        return Err(calendar_not_found());
    };
    let duration = end_minus_start(&series_start, &series_end);
    Ok(Json(render_instance(master, &owner, &start, &duration)))
}

/// Write semantics: merge into the stored event (PATCH) or replace it (PUT).
#[derive(Debug, Clone, Copy)]
enum WriteMode {
    Patch,
    Replace,
}

async fn patch_event(
    State(state): State<AppState>,
    Path((calendar_id, event_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    write_event(
        &state,
        &headers,
        &calendar_id,
        &event_id,
        query.as_deref(),
        &body,
        WriteMode::Patch,
    )
}

async fn update_event(
    State(state): State<AppState>,
    Path((calendar_id, event_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    write_event(
        &state,
        &headers,
        &calendar_id,
        &event_id,
        query.as_deref(),
        &body,
        WriteMode::Replace,
    )
}

fn write_event(
    state: &AppState,
    headers: &HeaderMap,
    calendar_id: &str,
    event_id: &str,
    query: Option<&str>,
    body: &[u8],
    mode: WriteMode,
) -> ApiResult<Json<Value>> {
    let caller = authorize(state, headers, &UPDATE)?;
    let owner = calendar_owner(&caller, calendar_id)?;
    check_send_updates(&Params::parse(query))?;
    let request = parse_body(body)?;

    let now = state.clock.now();
    let mut world = state.world();
    let seq = world.next_seq();
    let calendar = &mut world
        .user_mut(&owner)
        .ok_or_else(calendar_not_found)?
        .calendar;
    if !calendar.events.contains_key(event_id) {
        materialize_instance(calendar, event_id).ok_or_else(calendar_not_found)?;
    }
    let stored = calendar
        .events
        .get_mut(event_id)
        .ok_or_else(calendar_not_found)?;
    check_if_match(headers, stored)?;

    let mut merged = match mode {
        WriteMode::Patch => {
            let mut current = stored.body.clone();
            current.insert("status".into(), json!(stored.status));
            merge_patch(&mut current, &request);
            current
        }
        WriteMode::Replace => request,
    };
    if stored.recurring_event_id.is_some() {
        // An instance cannot carry its own recurrence.
        merged.remove("recurrence");
    }
    let valid = validate_event(&merged)?;

    stored.body = valid.body;
    stored.status = valid.status;
    stored.sequence += 1;
    stored.touch(now, seq);
    Ok(Json(stored.render(&owner)))
}

/// Honours `If-Match`: a stale etag gets Calendar's 412.
fn check_if_match(headers: &HeaderMap, stored: &StoredEvent) -> Result<(), GoogleError> {
    let Some(expected) = headers
        .get(header::IF_MATCH)
        .and_then(|value| value.to_str().ok())
    else {
        return Ok(());
    };
    if expected == "*" || expected == stored.etag {
        return Ok(());
    }
    Err(calendar_error(
        StatusCode::PRECONDITION_FAILED,
        "conditionNotMet",
        "Precondition Failed",
    ))
}

async fn delete_event(
    State(state): State<AppState>,
    Path((calendar_id, event_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let caller = authorize(&state, &headers, &DELETE)?;
    let owner = calendar_owner(&caller, &calendar_id)?;
    check_send_updates(&Params::parse(query.as_deref()))?;

    let now = state.clock.now();
    let mut world = state.world();
    let seq = world.next_seq();
    let calendar = &mut world
        .user_mut(&owner)
        .ok_or_else(calendar_not_found)?
        .calendar;
    if !calendar.events.contains_key(&event_id) {
        materialize_instance(calendar, &event_id).ok_or_else(calendar_not_found)?;
    }
    let stored = calendar
        .events
        .get_mut(&event_id)
        .ok_or_else(calendar_not_found)?;
    if stored.status == "cancelled" {
        return Err(calendar_error(
            StatusCode::GONE,
            "deleted",
            "Resource has been deleted",
        ));
    }
    check_if_match(&headers, stored)?;
    stored.status = "cancelled".into();
    stored.touch(now, seq);

    // Deleting a series cancels its modified instances too.
    for event in calendar.events.values_mut() {
        if event.recurring_event_id.as_deref() == Some(event_id.as_str())
            && event.status != "cancelled"
        {
            event.status = "cancelled".into();
            event.touch(now, seq);
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
