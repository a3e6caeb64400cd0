//! Tracing setup: JSON or human-readable logs filtered by `RUST_LOG`.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable lines, for a terminal.
    Pretty,
}

/// Directives added to every filter: yup-oauth2 12 logs the token endpoint's
/// request and response bodies at DEBUG, which hold the signed assertion and the
/// access token. A more specific `RUST_LOG` target can override a directive, so
/// [`secret_filter`] enforces the same rule as a separate layer.
const SECRET_SAFE_DIRECTIVES: [&str; 1] = ["yup_oauth2=info"];

/// Drops yup-oauth2 events below INFO whatever the other filters allow.
pub fn secret_filter(
) -> tracing_subscriber::filter::FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    tracing_subscriber::filter::filter_fn(|metadata| {
        !(metadata.target().starts_with("yup_oauth2") && *metadata.level() > tracing::Level::INFO)
    })
}

/// Builds the log filter from `RUST_LOG`, or `default_filter` when it is unset,
/// with the directives that keep secrets out of the logs.
pub fn filter(default_filter: &str) -> EnvFilter {
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    for directive in SECRET_SAFE_DIRECTIVES {
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// Installs the global subscriber; `default_filter` applies when `RUST_LOG` is unset.
pub fn init(format: LogFormat, default_filter: &str) {
    let registry = tracing_subscriber::registry()
        .with(filter(default_filter))
        .with(secret_filter());

    let result = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer()).try_init(),
    };
    if result.is_err() {
        tracing::debug!("a tracing subscriber was already installed");
    }
}
