//! Command line of workspace-gateway: serve, print the effective settings, run
//! the demo against the Workspace emulator, re-encrypt stored keys, or print
//! the OpenAPI document.

#![forbid(unsafe_code)]

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use workspace_gateway::telemetry::{self, LogFormat};
use workspace_gateway::{Application, Settings};

/// Multi-tenant gateway to Google Workspace contacts, calendars and mail.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// TOML settings file; environment variables `GATEWAY__SECTION__KEY` override it.
    #[arg(long, short, env = "GATEWAY_CONFIG", global = true)]
    config: Option<PathBuf>,

    /// Log format.
    #[arg(
        long,
        value_enum,
        default_value = "pretty",
        env = "GATEWAY_LOG_FORMAT",
        global = true
    )]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Print the effective settings with secrets redacted.
    Config,
    /// Start the Workspace emulator and the gateway on it, set up a Workspace
    /// domain with a delegated service account, and print the calls that
    /// onboard it. The gateway's port is `listen` (GATEWAY__LISTEN).
    Demo {
        /// Port of the emulator on 127.0.0.1.
        #[arg(long, default_value_t = 8090)]
        emulator_port: u16,
    },
    /// Re-encrypt every stored service-account key under the current master key.
    ReencryptKeys,
    /// Print the OpenAPI document.
    Openapi,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format, "info,sqlx=warn,tower_http=info");

    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let application = Application::build(settings).await?;
            application.run(shutdown_signal()).await
        }
        Command::Config => {
            print!("{}", settings.to_redacted_toml());
            settings.validate()
        }
        Command::Demo { emulator_port } => {
            workspace_gateway::demo::run(settings, emulator_port, shutdown_signal()).await
        }
        Command::ReencryptKeys => {
            let state = workspace_gateway::startup::build_state(settings).await?;
            let report = workspace_gateway::credentials::reencrypt::reencrypt_all(&state).await?;
            println!(
                "re-encrypted {} keys under master key {:?}; {} already current",
                report.reencrypted, report.master_key_id, report.already_current
            );
            Ok(())
        }
        Command::Openapi => {
            print!("{}", workspace_gateway::openapi::document_json());
            Ok(())
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };

    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
