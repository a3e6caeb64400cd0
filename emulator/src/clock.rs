//! The emulator clock: real time shifted by an adjustable offset, so tests can reproduce a
//! gateway host whose clock is skewed against Google's.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use chrono::{DateTime, Utc};

use crate::state::AppState;

/// Real time plus an offset in seconds.
#[derive(Debug, Default)]
pub struct Clock {
    offset_seconds: AtomicI64,
}

impl Clock {
    /// Returns the emulator's current time.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(self.offset_seconds())
    }

    /// Returns the offset from real time in seconds.
    pub fn offset_seconds(&self) -> i64 {
        self.offset_seconds.load(Ordering::Relaxed)
    }

    /// Sets the offset from real time in seconds; positive values put the emulator ahead.
    pub fn set_offset_seconds(&self, offset: i64) {
        self.offset_seconds.store(offset, Ordering::Relaxed);
    }

    /// Formats the current emulator time as an HTTP `Date` header value.
    pub fn http_date(&self) -> String {
        let now = self.now();
        let seconds = u64::try_from(now.timestamp()).unwrap_or(0);
        httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
    }
}

/// Sets the `Date` header of every response from the emulator clock; hyper only adds its own
/// `Date` when the header is absent.
pub async fn date_header(State(state): State<AppState>, mut response: Response) -> Response {
    if let Ok(value) = HeaderValue::from_str(&state.clock.http_date()) {
        response.headers_mut().insert(header::DATE, value);
    }
    response
}
