//! `workspace-emulator`: serves the Workspace emulator on a TCP address until interrupted.
#![forbid(unsafe_code)]

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;
use workspace_emulator::Emulator;

/// Loopback stand-in for Google's OAuth token endpoint and the People, Calendar and Gmail APIs.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on; keep it on loopback, the control API has no authentication.
    #[arg(long, env = "EMULATOR_LISTEN", default_value = "127.0.0.1:8090")]
    listen: String,

    /// URL other hosts use to reach this emulator, written into minted key files as
    /// `token_uri`; defaults to `http://` plus the listen address.
    #[arg(long, env = "EMULATOR_PUBLIC_URL")]
    public_url: Option<String>,

    /// Create the domain demo.example.com with two users and a delegated service account at
    /// start, and write that account's JSON key file to `--demo-key-file`.
    #[arg(long)]
    seed_demo: bool,

    /// Path of the service-account key file that `--seed-demo` writes, with mode 0600.
    #[arg(long, default_value = "workspace-emulator-demo-key.json")]
    demo_key_file: std::path::PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();

    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let emulator = Emulator::start_with_public_url(listener, args.public_url.clone()).await?;
    tracing::info!(base_url = %emulator.base_url(), "workspace emulator listening");

    if args.seed_demo {
        seed_demo(&emulator, &args.demo_key_file)?;
    }

    shutdown_signal().await?;
    tracing::info!("workspace emulator stopping");
    Ok(())
}

/// Waits for Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("installing the SIGTERM handler")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("waiting for Ctrl-C")?,
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}

/// Sets up `demo.example.com` with two users and a service account delegated every scope the
/// gateway uses, and writes the account's key file for the gateway to load.
fn seed_demo(
    emulator: &workspace_emulator::EmulatorHandle,
    key_path: &std::path::Path,
) -> anyhow::Result<()> {
    emulator.create_domain(
        "demo.example.com",
        &["agent@demo.example.com", "broker@demo.example.com"],
    );
    let account = emulator.create_service_account("demo-project");
    emulator.delegate(
        "demo.example.com",
        &account.client_id,
        &[
            "https://www.googleapis.com/auth/contacts",
            "https://www.googleapis.com/auth/calendar",
            "https://www.googleapis.com/auth/gmail.compose",
        ],
    );

    let key = serde_json::to_vec_pretty(&account.key_json).context("encoding the key file")?;
    write_private_file(key_path, &key)
        .with_context(|| format!("writing the key file {}", key_path.display()))?;
    tracing::info!(
        client_id = %account.client_id,
        client_email = %account.client_email,
        key_file = %key_path.display(),
        "seeded demo.example.com with a delegated service account"
    );
    Ok(())
}

/// Writes a file readable by its owner only.
fn write_private_file(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;

    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents)
}
