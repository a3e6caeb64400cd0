//! The `clock` check: the gateway's clock against the `Date` header of the key's
//! token endpoint. The request is a POST with an empty form, which Google
//! rejects with an OAuth error and which grants nothing.

use std::time::Duration;

use axum::http::{header, Request};
use chrono::{DateTime, Utc};

use super::model::{Check, CheckName};
use super::probe::ProbeClient;

/// Largest accepted difference between the gateway's clock and Google's.
pub const MAX_SKEW_SECONDS: i64 = 30;

/// Runs the check against `token_uri`, bounded by `timeout`.
pub async fn check(client: &ProbeClient, token_uri: &str, timeout: Duration) -> Check {
    let request = Request::post(token_uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(String::new());
    let request = match request {
        Ok(request) => request,
        Err(_) => {
            return Check::fail(
                CheckName::Clock,
                format!("The key's token_uri {token_uri} is not a usable URL."),
                "Upload the JSON key file as the Google Cloud console downloads it; its token_uri is https://oauth2.googleapis.com/token.",
            )
        }
    };

    let sent_at = Utc::now();
    let response = tokio::time::timeout(timeout, client.request(request)).await;
    let received_at = Utc::now();

    let response = match response {
        Ok(Ok(response)) => response,
        Ok(Err(_)) | Err(_) => {
            return Check::fail(
                CheckName::Clock,
                format!("The token endpoint {token_uri} could not be reached within {:.1} s.", timeout.as_secs_f64()),
                format!("Check that the gateway can reach {token_uri} over HTTPS, then run the verification again."),
            )
        }
    };

    let remote = response
        .headers()
        .get(header::DATE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| DateTime::parse_from_rfc2822(value).ok())
        .map(|date| date.with_timezone(&Utc));
    let Some(remote) = remote else {
        return Check::warn(
            CheckName::Clock,
            format!("The token endpoint {token_uri} sent no readable Date header, so the clock difference is unknown."),
            "Make sure the gateway server synchronizes its clock (NTP).",
        );
    };

    let local = sent_at + (received_at - sent_at) / 2;
    judge(token_uri, local, remote)
}

/// Compares the local midpoint of the request with Google's `Date` (1 s resolution).
fn judge(token_uri: &str, local: DateTime<Utc>, remote: DateTime<Utc>) -> Check {
    let skew = (local - remote).num_milliseconds();
    let seconds = (skew.abs() + 500) / 1000;
    let direction = if skew >= 0 { "ahead of" } else { "behind" };
    let evidence = format!(
        "The gateway's clock is {seconds} s {direction} the Date header of {token_uri} (limit {MAX_SKEW_SECONDS} s)."
    );

    if seconds > MAX_SKEW_SECONDS {
        return Check::fail(
            CheckName::Clock,
            evidence,
            "Operators synchronize the gateway server's clock (NTP). Beyond a small difference Google then rejects every assertion as Invalid JWT, so no call can succeed.",
        );
    }
    Check::pass(CheckName::Clock, evidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verification::model::CheckStatus;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("valid time")
    }

    #[test]
    fn small_difference_passes() {
        let check = judge("https://oauth2.googleapis.com/token", at(0), at(2));

        assert_eq!(check.status, CheckStatus::Pass);
        assert!(check.evidence.contains("2 s behind"), "{}", check.evidence);
    }

    #[test]
    fn large_difference_fails() {
        let check = judge("https://oauth2.googleapis.com/token", at(45), at(0));

        assert_eq!(check.status, CheckStatus::Fail);
        assert!(
            check.evidence.contains("45 s ahead of"),
            "{}",
            check.evidence
        );
        assert!(check
            .remediation
            .unwrap_or_default()
            .contains("Invalid JWT"));
    }

    #[test]
    fn http_date_parses() {
        let parsed = DateTime::parse_from_rfc2822("Fri, 04 Dec 2026 20:16:59 GMT");

        assert!(parsed.is_ok());
    }
}
