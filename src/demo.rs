//! Demo mode: the Workspace emulator and the gateway in one process. The
//! emulator gets a Workspace domain with a test user, an agent and a delegated
//! service account. The printed calls onboard it, so the whole flow can be
//! tried from a terminal or Swagger UI without Google.

use std::future::Future;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use workspace_emulator::Emulator;

use crate::config::Settings;
use crate::google::scopes;
use crate::startup::{build_state, launch};

/// Brokerage id seeded by the demo.
pub const DEMO_BROKERAGE: &str = "demo-realty";
/// Workspace domain seeded by the demo.
pub const DEMO_DOMAIN: &str = "demo-realty.example";
/// Agent mailbox seeded by the demo.
pub const DEMO_AGENT: &str = "agent@demo-realty.example";

/// Runs the demo until `shutdown` resolves.
pub async fn run(
    mut settings: Settings,
    emulator_port: u16,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let emulator_listener = TcpListener::bind(("127.0.0.1", emulator_port))
        .await
        .map_err(|error| {
            anyhow::anyhow!("cannot listen on 127.0.0.1:{emulator_port} for the emulator: {error}")
        })?;
    let emulator = Emulator::start_on(emulator_listener).await?;

    // The emulator's keys live only as long as this process, so the demo starts
    // from an empty database unless another one was configured.
    if settings.database.url == "sqlite://data/gateway.db" {
        for file in ["data/demo.db", "data/demo.db-wal", "data/demo.db-shm"] {
            let _ = std::fs::remove_file(file);
        }
        settings.database.url = "sqlite://data/demo.db".to_owned();
    }

    settings.google.allowed_token_uris = vec![emulator.token_uri()];
    settings.google.people_base_url = emulator.people_base_url();
    settings.google.calendar_base_url = emulator.calendar_base_url();
    settings.google.gmail_base_url = emulator.gmail_base_url();

    let admin_key = match &settings.security.admin_api_key {
        Some(key) => key.expose_secret().to_owned(),
        None => {
            let mut bytes = [0u8; 24];
            rand::thread_rng().fill_bytes(&mut bytes);
            let generated = format!("demo_{}", URL_SAFE_NO_PAD.encode(bytes));
            settings.security.admin_api_key = Some(SecretString::from(generated.clone()));
            generated
        }
    };

    emulator.create_domain(DEMO_DOMAIN, &["it-test@demo-realty.example", DEMO_AGENT]);
    let service_account = emulator.create_service_account("demo-realty-crm");
    emulator.delegate(
        DEMO_DOMAIN,
        &service_account.client_id,
        &[scopes::CONTACTS, scopes::CALENDAR, scopes::GMAIL_COMPOSE],
    );

    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {}: {error}", settings.listen))?;
    let address = listener.local_addr()?;
    let state = build_state(settings).await?;

    let key_file_path = std::path::Path::new("data").join("demo-service-account.json");
    std::fs::create_dir_all("data")?;
    let _ = std::fs::remove_file(&key_file_path);
    crate::credentials::vault::write_private_file(
        &key_file_path,
        &serde_json::to_string_pretty(&service_account.key_json)?,
    )?;

    print_guide(
        &address.to_string(),
        &emulator.base_url(),
        &admin_key,
        &key_file_path.display().to_string(),
    );
    launch(listener, state, shutdown).await
}

fn print_guide(gateway: &str, emulator: &str, admin_key: &str, key_file: &str) {
    let base = format!("http://{gateway}");
    println!(
        r#"
workspace-gateway demo
  gateway:   {base}  (Swagger UI: {base}/docs)
  emulator:  {emulator}  (Google stand-in; sent mail: {emulator}/emulator/users/{DEMO_AGENT}/sent)
  admin key: {admin_key}
  Workspace: domain {DEMO_DOMAIN}, users it-test@ and agent@, key file {key_file}
             (a development key minted by the emulator; it is not valid at Google)

Try the onboarding flow:
  export GW={base} KEY={admin_key}
  curl -sX PUT $GW/v1/brokerages/{DEMO_BROKERAGE} -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
       -d '{{"display_name":"Demo Realty","domains":["{DEMO_DOMAIN}"],"test_user":"it-test@{DEMO_DOMAIN}"}}'
  curl -sX PUT $GW/v1/brokerages/{DEMO_BROKERAGE}/credentials -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
       --data-binary @{key_file}
  curl -sX POST $GW/v1/brokerages/{DEMO_BROKERAGE}/verifications -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d '{{}}'
  curl -sX PUT $GW/v1/brokerages/{DEMO_BROKERAGE}/users/{DEMO_AGENT} -H "Authorization: Bearer $KEY"
  curl -sX POST $GW/v1/brokerages/{DEMO_BROKERAGE}/users/{DEMO_AGENT}/contacts -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
       -d '{{"names":{{"given_name":"Ada","family_name":"Lovelace"}},"email_addresses":[{{"value":"ada@example.com"}}]}}'
  curl -s $GW/v1/brokerages/{DEMO_BROKERAGE}/users/{DEMO_AGENT}/contacts -H "Authorization: Bearer $KEY"
  curl -sX POST $GW/v1/brokerages/{DEMO_BROKERAGE}/users/{DEMO_AGENT}/messages -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
       -H 'Idempotency-Key: demo-1' -d '{{"to":[{{"email":"buyer@example.com","name":"Zoë Buyer"}}],"subject":"Résumé of the showing","text_body":"Hello!"}}'
  curl -s {emulator}/emulator/users/{DEMO_AGENT}/sent

Press Ctrl-C to stop.
"#
    );
}
