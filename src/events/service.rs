//! Calls to Google Calendar for one user's primary calendar, with the event
//! specific error mapping: not found, deleted, duplicate ids and etags.

use google_calendar3::api as google;
use http::StatusCode;

use super::mapping;
use super::model::{Event, EventPage, SendUpdates};
use super::validation::{normalize_etag, ListWindow, ValidEvent, ValidPatch};
use crate::credentials::DelegatedKey;
use crate::error::{ApiError, ApiResult};
use crate::google::{GoogleApi, GoogleError};
use crate::state::AppState;

/// Calendar id Google resolves to the delegated user's own calendar.
const PRIMARY: &str = "primary";

/// Whether a create made a new event or found the one made by an earlier
/// request with the same `Idempotency-Key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// A new event.
    New,
    /// The event of an earlier request.
    Existing,
}

/// The primary calendar of one enrolled user, reached with the brokerage's
/// active service-account key.
pub struct UserCalendar<'a> {
    state: &'a AppState,
    brokerage_id: String,
    email: String,
    key: DelegatedKey,
}

impl<'a> UserCalendar<'a> {
    /// Checks that the user is enrolled and loads the brokerage's key.
    pub async fn open(state: &'a AppState, brokerage_id: &str, raw_email: &str) -> ApiResult<Self> {
        let (user, key) =
            crate::credentials::enrolled_with_key(state, brokerage_id, raw_email).await?;

        Ok(Self {
            state,
            brokerage_id: brokerage_id.to_owned(),
            email: user.email,
            key,
        })
    }

    fn hub(&self) -> google_calendar3::CalendarHub<crate::google::Connector> {
        self.state.google.calendar(&self.key, &self.email)
    }

    /// Lists events in the window, recurring events expanded, by start time.
    #[tracing::instrument(skip_all, fields(brokerage_id = %self.brokerage_id))]
    pub async fn list(&self, window: &ListWindow) -> ApiResult<EventPage> {
        let hub = self.hub();
        let make_call = || {
            let mut call = hub
                .events()
                .list(PRIMARY)
                .time_min(window.from)
                .time_max(window.to)
                .single_events(true)
                .order_by("startTime")
                .max_results(window.page_size);
            if let Some(cursor) = &window.cursor {
                call = call.page_token(cursor);
            }
            call.doit()
        };

        let result = self.state.google.read(GoogleApi::Calendar, make_call).await;
        let (_, events) = result.map_err(|error| list_error(error, window.cursor.is_some()))?;

        let items = events
            .items
            .unwrap_or_default()
            .into_iter()
            .map(mapping::event_from_google)
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(EventPage {
            items,
            next_cursor: events.next_page_token.filter(|token| !token.is_empty()),
        })
    }

    /// Reads an event; a deleted (cancelled) event is not found.
    #[tracing::instrument(skip_all, fields(brokerage_id = %self.brokerage_id))]
    pub async fn get(&self, event_id: &str) -> ApiResult<Event> {
        mapping::event_from_google(self.fetch(event_id).await?)
    }

    /// Creates an event. With an idempotency key the event id is derived from
    /// the key, so Google itself rejects a second event with the same key and
    /// the first one is returned instead. That also makes the insert safe to
    /// retry after a timeout or a Google outage; without a key it is sent once.
    #[tracing::instrument(skip_all, fields(brokerage_id = %self.brokerage_id))]
    pub async fn create(
        &self,
        event: &ValidEvent,
        send_updates: SendUpdates,
        idempotency_key: Option<&str>,
    ) -> ApiResult<(Event, Created)> {
        let event_id =
            idempotency_key.map(|key| derive_event_id(&self.brokerage_id, &self.email, key));
        let mut body = mapping::new_event_to_google(event, event_id.clone());
        let request_hash = event_id.as_ref().map(|_| request_hash(&body));
        if let Some(hash) = &request_hash {
            body.extended_properties = Some(google::EventExtendedProperties {
                private: Some([(REQUEST_HASH_PROPERTY.to_owned(), hash.clone())].into()),
                shared: None,
            });
        }

        let hub = self.hub();
        let make_call = || {
            hub.events()
                .insert(body.clone(), PRIMARY)
                .send_updates(send_updates_to_google(send_updates))
                .doit()
        };
        let google = &self.state.google;
        let result = match event_id {
            Some(_) => google.read(GoogleApi::Calendar, make_call).await,
            None => google.mutate(GoogleApi::Calendar, make_call).await,
        };

        match (result, event_id) {
            (Ok((_, created)), _) => {
                tracing::info!(brokerage_id = %self.brokerage_id, "event created");
                Ok((mapping::event_from_google(created)?, Created::New))
            }
            (Err(error), Some(event_id)) if error.status() == Some(409) => {
                self.existing_for_key(&event_id, request_hash.as_deref())
                    .await
            }
            (Err(error), _) => Err(error.into()),
        }
    }

    async fn existing_for_key(
        &self,
        event_id: &str,
        request_hash: Option<&str>,
    ) -> ApiResult<(Event, Created)> {
        match self.fetch(event_id).await {
            Ok(existing) if !same_request(&existing, request_hash) => Err(ApiError::unprocessable(
                "idempotency_key_reused",
                "This Idempotency-Key was already used to create a different event; send a new key for a new event.",
            )
            .with_field("Idempotency-Key")),
            Ok(existing) => Ok((mapping::event_from_google(existing)?, Created::Existing)),
            Err(error) if error.code() == "event_not_found" => Err(ApiError::conflict(
                "idempotency_key_reused",
                "The event created with this Idempotency-Key was deleted since; send a new key to create another event.",
            )
            .with_field("Idempotency-Key")),
            Err(error) => Err(error),
        }
    }

    /// Changes the fields of `patch`. An etag is checked against the current
    /// version first, and a change between all-day and timed is written as a
    /// full update, because a patch would merge the old and new start.
    #[tracing::instrument(skip_all, fields(brokerage_id = %self.brokerage_id))]
    pub async fn patch(
        &self,
        event_id: &str,
        patch: &ValidPatch,
        send_updates: SendUpdates,
    ) -> ApiResult<Event> {
        let current = if patch.etag.is_some() || patch.times.is_some() {
            let current = self.fetch(event_id).await?;
            check_etag(patch.etag.as_deref(), &current)?;
            Some(current)
        } else {
            None
        };

        let switches_kind = match (&current, &patch.times) {
            (Some(current), Some((start, _))) => {
                mapping::changes_kind(start, current.start.as_ref())
            }
            _ => false,
        };

        let hub = self.hub();
        let send_updates = send_updates_to_google(send_updates);
        let result = match current {
            Some(mut current) if switches_kind => {
                mapping::apply_patch(&mut current, patch);
                let make_call = || {
                    hub.events()
                        .update(current.clone(), PRIMARY, event_id)
                        .send_updates(send_updates)
                        .doit()
                };
                self.state
                    .google
                    .mutate(GoogleApi::Calendar, make_call)
                    .await
            }
            _ => {
                let body = mapping::patch_to_google(patch);
                let make_call = || {
                    hub.events()
                        .patch(body.clone(), PRIMARY, event_id)
                        .send_updates(send_updates)
                        .doit()
                };
                self.state
                    .google
                    .mutate(GoogleApi::Calendar, make_call)
                    .await
            }
        };

        let (_, event) = result.map_err(event_error)?;
        tracing::info!(brokerage_id = %self.brokerage_id, "event changed");
        mapping::event_from_google(event)
    }

    /// Deletes an event, after checking `if_match` against its current version.
    #[tracing::instrument(skip_all, fields(brokerage_id = %self.brokerage_id))]
    pub async fn delete(
        &self,
        event_id: &str,
        if_match: Option<&str>,
        send_updates: SendUpdates,
    ) -> ApiResult<()> {
        if let Some(etag) = if_match.filter(|etag| !etag.trim().is_empty()) {
            let current = self.fetch(event_id).await?;
            check_etag(Some(etag), &current)?;
        }

        let hub = self.hub();
        let make_call = || {
            hub.events()
                .delete(PRIMARY, event_id)
                .send_updates(send_updates_to_google(send_updates))
                .doit()
        };
        self.state
            .google
            .mutate(GoogleApi::Calendar, make_call)
            .await
            .map_err(event_error)?;

        tracing::info!(brokerage_id = %self.brokerage_id, "event deleted");
        Ok(())
    }

    /// Reads the Google event; cancelled events count as not found.
    async fn fetch(&self, event_id: &str) -> ApiResult<google::Event> {
        let hub = self.hub();
        let make_call = || hub.events().get(PRIMARY, event_id).doit();
        let result = self.state.google.read(GoogleApi::Calendar, make_call).await;

        let (_, event) = result.map_err(event_error)?;
        if event.status.as_deref() == Some("cancelled") {
            return Err(event_not_found());
        }
        Ok(event)
    }
}

/// Compares the caller's etag with the event's; `*` matches any version.
// NOTE: google-calendar3 cannot send an If-Match header, so the etag is
// compared on a read just before the write. A change made between the two
// calls is overwritten.
fn check_etag(expected: Option<&str>, current: &google::Event) -> ApiResult<()> {
    let Some(expected) = expected else {
        return Ok(());
    };
    if expected.trim() == "*" {
        return Ok(());
    }

    let current_etag = current.etag.as_deref().map(normalize_etag);
    if current_etag == Some(normalize_etag(expected)) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "etag_mismatch",
        "The event changed since the given etag; read it again and repeat the change on the new version.",
    )
    .with_field("If-Match"))
}

/// Maps errors of calls on one event: 404 and 410 (deleted) become
/// `event_not_found`.
fn event_error(error: GoogleError) -> ApiError {
    match error.status() {
        Some(404 | 410) => event_not_found(),
        _ => error.into(),
    }
}

/// Maps list errors: the window and page size were checked before the call,
/// so a 400 on a request with a cursor means Google did not accept the cursor.
fn list_error(error: GoogleError, has_cursor: bool) -> ApiError {
    if has_cursor && error.status() == Some(400) {
        return ApiError::invalid(
            "invalid_cursor",
            "cursor",
            "Google did not accept the cursor; pass `next_cursor` unchanged with the same from and to, or start again without a cursor.",
        );
    }
    error.into()
}

fn event_not_found() -> ApiError {
    ApiError::not_found(
        "event_not_found",
        "No event with this id is in the user's primary calendar, or it was deleted.",
    )
    .with_field("event_id")
}

fn send_updates_to_google(send_updates: SendUpdates) -> &'static str {
    match send_updates {
        SendUpdates::All => "all",
        SendUpdates::ExternalOnly => "externalOnly",
        SendUpdates::None => "none",
    }
}

/// Private extended property holding the hash of the create request that made
/// an event, so a reused Idempotency-Key with another body is detected.
const REQUEST_HASH_PROPERTY: &str = "workspace-gateway-request-hash";

/// Hashes the Google body of a create request (SHA-256, hex).
fn request_hash(body: &google::Event) -> String {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes))
}

/// Checks whether `existing` was created by a request with `request_hash`. Events
/// without the property (created before it existed) are taken as the same.
fn same_request(existing: &google::Event, request_hash: Option<&str>) -> bool {
    let stored = existing
        .extended_properties
        .as_ref()
        .and_then(|properties| properties.private.as_ref())
        .and_then(|private| private.get(REQUEST_HASH_PROPERTY));
    match (stored, request_hash) {
        (Some(stored), Some(expected)) => stored == expected,
        _ => true,
    }
}

/// Derives the Google event id of an idempotent create: base32hex (`0-9`,
/// `a-v`) of SHA-256 over the brokerage, the user and the key, 52 characters.
/// The same key for another user gives another id.
pub fn derive_event_id(brokerage_id: &str, email: &str, idempotency_key: &str) -> String {
    const BASE32HEX: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [brokerage_id, email, idempotency_key] {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part.as_bytes());
    }
    let digest = context.finish();

    let mut id = String::with_capacity(52);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for byte in digest.as_ref() {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            id.push(BASE32HEX[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        id.push(BASE32HEX[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    id
}
