//! One bounded attempt of a Google call, and the retry loop around it:
//! exponential backoff with jitter, at least the delay Google asked for, and
//! never past the deadline of the whole call.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::time::Instant;

use super::classify::classify;
use super::clients::GoogleApi;
use super::errors::GoogleError;

/// Retries after the first attempt.
const MAX_RETRIES: usize = 4;

/// First backoff delay; later ones double up to `MAX_DELAY`, plus jitter.
const MIN_DELAY: Duration = Duration::from_millis(250);

/// Largest backoff delay before jitter.
const MAX_DELAY: Duration = Duration::from_secs(8);

/// Runs `call` until `deadline` and classifies its failure.
pub(crate) async fn attempt<T, F>(
    api: GoogleApi,
    deadline: Instant,
    timeout: Duration,
    call: F,
) -> Result<T, GoogleError>
where
    F: Future<Output = google_apis_common::Result<T>>,
{
    match tokio::time::timeout_at(deadline, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(classify(api, error)),
        Err(_elapsed) => Err(GoogleError::Timeout {
            api,
            after: timeout,
        }),
    }
}

/// Runs the calls `make` builds until one succeeds, one fails with an error
/// `retryable` rejects, the retries run out, or the next wait would pass the
/// deadline `timeout` from now.
pub(crate) async fn run<T, F, Fut>(
    api: GoogleApi,
    timeout: Duration,
    retryable: fn(&GoogleError) -> bool,
    mut make: F,
) -> Result<T, GoogleError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = google_apis_common::Result<T>>,
{
    let deadline = Instant::now() + timeout;
    let backoff = ExponentialBuilder::default()
        .with_min_delay(MIN_DELAY)
        .with_max_delay(MAX_DELAY)
        .with_max_times(MAX_RETRIES)
        .with_jitter();

    (|| attempt(api, deadline, timeout, make()))
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(retryable)
        .adjust(|error, delay| next_delay(error, delay, deadline))
        .notify(|error, delay| {
            tracing::warn!(
                api = %api,
                code = error.code(),
                status = error.status(),
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                %error,
                "retrying Google call"
            );
        })
        .await
}

/// Computes the next wait: the backoff delay, raised to Google's requested delay.
/// Returns `None` (give up) when the retries are used up or the wait would end
/// after the deadline.
fn next_delay(
    error: &GoogleError,
    backoff: Option<Duration>,
    deadline: Instant,
) -> Option<Duration> {
    let delay = backoff?.max(error.retry_after().unwrap_or_default());
    let remaining = deadline.saturating_duration_since(Instant::now());
    (delay < remaining).then_some(delay)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;

    fn rate_limited_body() -> serde_json::Value {
        json!({"error": {"code": 429, "message": "Too many requests", "status": "RESOURCE_EXHAUSTED"}})
    }

    #[tokio::test(start_paused = true)]
    async fn read_retries_rate_limit_then_succeeds() {
        let attempts = AtomicUsize::new(0);

        let result = run(
            GoogleApi::People,
            Duration::from_secs(30),
            GoogleError::is_retryable,
            || {
                let attempt = attempts.fetch_add(1, Ordering::SeqCst);
                async move {
                    if attempt < 2 {
                        Err(google_apis_common::Error::BadRequest(rate_limited_body()))
                    } else {
                        Ok((google_apis_common::Response::default(), "done"))
                    }
                }
            },
        )
        .await;

        assert_eq!(result.expect("third attempt succeeds").1, "done");
        assert_eq!(attempts.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn non_retryable_error_is_returned_at_once() {
        let attempts = AtomicUsize::new(0);

        let result: Result<(), GoogleError> = run(GoogleApi::People, Duration::from_secs(30), GoogleError::is_retryable, || {
            attempts.fetch_add(1, Ordering::SeqCst);
            async {
                Err(google_apis_common::Error::BadRequest(
                    json!({"error": {"code": 400, "message": "Invalid", "status": "INVALID_ARGUMENT"}}),
                ))
            }
        })
        .await;

        assert!(matches!(result, Err(GoogleError::Rejected(_))));
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_before_deadline() {
        let attempts = AtomicUsize::new(0);
        let started = Instant::now();

        let result: Result<(), GoogleError> = run(GoogleApi::Calendar, Duration::from_secs(1), GoogleError::is_retryable, || {
            attempts.fetch_add(1, Ordering::SeqCst);
            async {
                Err(google_apis_common::Error::BadRequest(json!({"error": {"code": 429, "message": "slow down",
                    "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "5s"}]}})))
            }
        })
        .await;

        assert!(matches!(result, Err(GoogleError::RateLimited(_))));
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            1,
            "a 5 s retry delay does not fit in 1 s"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn attempt_times_out() {
        let deadline = Instant::now() + Duration::from_secs(2);

        let result: Result<(), GoogleError> =
            attempt(GoogleApi::Gmail, deadline, Duration::from_secs(2), async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(())
            })
            .await;

        assert!(matches!(
            result,
            Err(GoogleError::Timeout {
                api: GoogleApi::Gmail,
                ..
            })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_bounded() {
        let attempts = AtomicUsize::new(0);

        let result: Result<(), GoogleError> = run(
            GoogleApi::People,
            Duration::from_secs(600),
            GoogleError::is_retryable,
            || {
                attempts.fetch_add(1, Ordering::SeqCst);
                async { Err(google_apis_common::Error::BadRequest(rate_limited_body())) }
            },
        )
        .await;

        assert!(result.is_err());
        assert_eq!(attempts.load(Ordering::SeqCst), MAX_RETRIES + 1);
    }
}
