//! Token probes: one JWT bearer grant per scope with a fresh authenticator, so
//! that the shared token cache neither returns nor stores anything, and the
//! translation of the token endpoint's errors into what the Workspace
//! administrator must change.

use std::time::Duration;

use anyhow::Context;
use yup_oauth2::client::CustomHyperClientBuilder;
use yup_oauth2::ServiceAccountAuthenticator;

use crate::credentials::DelegatedKey;
use crate::google::Connector;

/// HTTP client of the probes; yup-oauth2 sends `String` bodies.
pub type ProbeClient = hyper_util::client::legacy::Client<Connector, String>;

/// Admin console page that authorizes a client ID for scopes.
const DELEGATION_PAGE: &str = "Security > API controls > Domain-wide delegation";

/// Builds the client: HTTPS with Mozilla's roots, and plain HTTP for the local emulator.
pub fn client() -> anyhow::Result<ProbeClient> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .context("TLS configuration of the verification client")?
        .https_or_http()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector);
    Ok(client)
}

/// Reason a probe got no token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeFailure {
    /// The token endpoint returned an OAuth error.
    Rejected {
        /// OAuth `error`, such as `unauthorized_client`.
        error: String,
        /// OAuth `error_description`, when sent.
        description: Option<String>,
    },
    /// No OAuth response: timeout, transport failure, unusable response or unusable key.
    Unanswered {
        /// Description of the failure, without request or response bodies.
        reason: String,
    },
}

/// Identity a probe acts as, named in evidence and remediation.
#[derive(Debug, Clone, Copy)]
pub struct Grantee<'a> {
    /// Numeric OAuth client ID.
    pub client_id: &'a str,
    /// Service account address.
    pub client_email: &'a str,
    /// Token endpoint.
    pub token_uri: &'a str,
    /// The test user (`sub`).
    pub user: &'a str,
}

impl<'a> Grantee<'a> {
    /// Builds the grantee of `key` acting as `user`.
    pub fn new(key: &'a DelegatedKey, user: &'a str) -> Self {
        Self {
            client_id: &key.client_id,
            client_email: &key.client_email,
            token_uri: &key.token_uri,
            user,
        }
    }
}

/// Exchanges a JWT signed by `key` for a token of `user` with `scope` alone,
/// bounded by `timeout`. The token is dropped at once: only success matters.
pub async fn exchange(
    client: &ProbeClient,
    key: &DelegatedKey,
    user: &str,
    scope: &str,
    timeout: Duration,
) -> Result<(), ProbeFailure> {
    let mut service_account_key = (*key.key).clone();
    service_account_key.token_uri = key.token_uri.clone();

    let builder = CustomHyperClientBuilder::from(client.clone());
    let authenticator = ServiceAccountAuthenticator::with_client(service_account_key, builder)
        .subject(user)
        .build()
        .await
        .map_err(|error| ProbeFailure::Unanswered {
            reason: format!("the key cannot sign ({})", error.kind()),
        })?;

    match tokio::time::timeout(timeout, authenticator.token(&[scope])).await {
        Err(_) => Err(ProbeFailure::Unanswered {
            reason: format!("no response within {:.1} s", timeout.as_secs_f64()),
        }),
        Ok(Err(error)) => Err(failure_of(error)),
        Ok(Ok(token)) if token.token().is_some() => Ok(()),
        Ok(Ok(_)) => Err(ProbeFailure::Unanswered {
            reason: "the answer held no access_token".to_owned(),
        }),
    }
}

/// Keeps the OAuth error fields and drops everything else, because yup-oauth2's
/// other errors may quote the request, which contains the signed assertion.
fn failure_of(error: yup_oauth2::Error) -> ProbeFailure {
    use yup_oauth2::Error;

    match error {
        Error::AuthError(rejection) => ProbeFailure::Rejected {
            error: rejection.error.as_str().to_owned(),
            description: rejection.error_description,
        },
        Error::HttpClientError(_) | Error::HttpError(_) => ProbeFailure::Unanswered {
            reason: "the token endpoint could not be reached".to_owned(),
        },
        Error::JSONError(_) | Error::MissingAccessToken => ProbeFailure::Unanswered {
            reason: "the token endpoint answered with neither a token nor an OAuth error"
                .to_owned(),
        },
        Error::LowLevelError(source) => ProbeFailure::Unanswered {
            reason: format!("I/O failure ({})", source.kind()),
        },
        _ => ProbeFailure::Unanswered {
            reason: "the token exchange failed".to_owned(),
        },
    }
}

impl ProbeFailure {
    /// Checks whether Google reported that the client ID is not authorized for the scope.
    pub fn is_scope_not_delegated(&self) -> bool {
        matches!(self, Self::Rejected { error, .. } if error == "unauthorized_client" || error == "access_denied")
    }

    /// Describes the failure, with Google's error code and description verbatim.
    pub fn evidence(&self, grantee: &Grantee<'_>, scope: &str) -> String {
        match self {
            Self::Rejected { error, description } => {
                let description = description
                    .as_deref()
                    .map(|text| format!(" ({text})"))
                    .unwrap_or_default();
                format!(
                    "Google refused a token for {} with only scope {scope}: {error}{description}",
                    grantee.user
                )
            }
            Self::Unanswered { reason } => format!(
                "The token request for {} with scope {scope} to {} failed: {reason}.",
                grantee.user, grantee.token_uri
            ),
        }
    }

    /// Describes what must change, and who changes it.
    pub fn remediation(&self, grantee: &Grantee<'_>, scope: &str) -> String {
        match self {
            Self::Rejected { error, description } => {
                rejection_remediation(grantee, scope, error, description.as_deref().unwrap_or_default())
            }
            Self::Unanswered { .. } => format!(
                "The gateway could not complete the token request to {}. Check that the gateway can reach it over HTTPS, then run the verification again; the Workspace administrator has nothing to change for this.",
                grantee.token_uri
            ),
        }
    }
}

fn rejection_remediation(
    grantee: &Grantee<'_>,
    scope: &str,
    error: &str,
    description: &str,
) -> String {
    match error {
        "unauthorized_client" | "access_denied" => not_delegated(grantee.client_id, scope),
        "invalid_grant" => invalid_grant_remediation(grantee, description),
        _ => format!(
            "Google's token endpoint answered {error}: {description}. Give this text to the Workspace administrator; the gateway does not know a fix for it."
        ),
    }
}

/// Builds the remediation for a scope that is not delegated to the client ID.
pub fn not_delegated(client_id: &str, scope: &str) -> String {
    format!(
        "Client ID {client_id} is not authorized for scope {scope} in the Admin console ({DELEGATION_PAGE}). A super administrator adds the scope to that client ID's entry, or opens the admin_console link. Changes can take from a few minutes to a few hours to apply."
    )
}

fn invalid_grant_remediation(grantee: &Grantee<'_>, description: &str) -> String {
    if description.contains("Invalid email or User ID") {
        return format!(
            "The test user {} does not exist or is not in this Workspace; Google returns the same error for a suspended user. Use an active mailbox of the brokerage's Workspace as the test user, or ask the Workspace administrator to restore this one.",
            grantee.user
        );
    }
    if description.contains("Invalid JWT Signature") {
        return format!(
            "The key was deleted or is not this service account's ({}). Create a new JSON key for the service account in the Google Cloud console (IAM & Admin > Service Accounts > Keys > Add key) and upload it.",
            grantee.client_email
        );
    }
    if description.contains("Robot is disabled") {
        return format!(
            "The service account {} is disabled. Enable it in the Google Cloud console (IAM & Admin > Service Accounts), then run the verification again.",
            grantee.client_email
        );
    }
    if description.contains("account not found") {
        return format!(
            "Google does not know the service account {}; it was probably deleted. Create a service account with a JSON key, authorize its client ID in the Admin console, and upload the key.",
            grantee.client_email
        );
    }
    if description.contains("short-lived token") || description.contains("iat") {
        return "Google rejects every assertion as Invalid JWT because the gateway's clock differs from Google's. Operators synchronize the gateway server's clock (NTP); see the clock check.".to_owned();
    }
    format!(
        "Google's token endpoint answered invalid_grant: {description}. Give this text to the Workspace administrator; the gateway does not know a fix for it."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grantee() -> Grantee<'static> {
        Grantee {
            client_id: "113456789012345678901",
            client_email: "gateway@acme.iam.gserviceaccount.com",
            token_uri: "https://oauth2.googleapis.com/token",
            user: "it-test@acme.example",
        }
    }

    fn rejected(error: &str, description: &str) -> ProbeFailure {
        ProbeFailure::Rejected {
            error: error.to_owned(),
            description: Some(description.to_owned()),
        }
    }

    #[test]
    fn unauthorized_client_names_client_and_scope() {
        let failure = rejected(
            "unauthorized_client",
            "Client is unauthorized to retrieve access tokens using this method.",
        );

        let text = failure.remediation(&grantee(), crate::google::scopes::CALENDAR);

        assert!(failure.is_scope_not_delegated());
        assert!(text.contains("Client ID 113456789012345678901 is not authorized for scope https://www.googleapis.com/auth/calendar"));
        assert!(text.contains("Domain-wide delegation"));
    }

    #[test]
    fn invalid_grant_descriptions_name_the_fix() {
        let cases = [
            ("Invalid email or User ID", "does not exist or is not in this Workspace"),
            ("Invalid JWT Signature.", "the key was deleted or is not this service account's"),
            ("Robot is disabled.", "is disabled"),
            ("Invalid grant: account not found", "probably deleted"),
            ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.", "clock"),
        ];

        for (description, expected) in cases {
            let text = rejected("invalid_grant", description)
                .remediation(&grantee(), crate::google::scopes::CALENDAR);
            assert!(
                text.to_lowercase().contains(&expected.to_lowercase()),
                "{description}: {text}"
            );
        }
    }

    #[test]
    fn unknown_error_is_quoted_verbatim() {
        let failure = rejected("invalid_client", "The OAuth client was not found.");

        let text = failure.remediation(&grantee(), crate::google::scopes::CALENDAR);
        let evidence = failure.evidence(&grantee(), crate::google::scopes::CALENDAR);

        assert!(text.contains("invalid_client: The OAuth client was not found."));
        assert!(evidence.contains("invalid_client (The OAuth client was not found.)"));
    }
}
