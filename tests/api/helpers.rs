//! Test harness: each test gets its own database (a SQLite file or a fresh
//! PostgreSQL database), its own Workspace emulator and the gateway on port 0.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::{Method, Response, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use workspace_emulator::{Emulator, EmulatorHandle};
use workspace_gateway::state::AppState;
use workspace_gateway::Settings;

/// Database backend of a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// Generates one test per backend from `async fn name(app: TestApp)`.
#[macro_export]
macro_rules! db_tests {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $crate::helpers::TestApp::spawn($crate::helpers::DbKind::Sqlite).await;
                    super::$name(app).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let Some(app) = $crate::helpers::TestApp::spawn_postgres().await else { return };
                    super::$name(app).await;
                }
            }
        )+
    };
}

/// Returns every log line of the test binary, for scans that prove no secret is logged.
pub fn captured_logs() -> String {
    let buffer = log_buffer().lock().expect("log buffer lock");
    String::from_utf8_lossy(&buffer).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(|| Arc::new(Mutex::new(Vec::new())))
}

#[derive(Clone)]
struct CapturingWriter {
    echo: bool,
}

impl Write for CapturingWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        log_buffer()
            .lock()
            .expect("log buffer lock")
            .extend_from_slice(bytes);
        if self.echo {
            std::io::stdout().write_all(bytes)?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures DEBUG logs of every crate into memory; `TEST_LOG=1` also prints them.
fn init_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let echo = std::env::var("TEST_LOG").is_ok();
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;

        // The yup-oauth2 module target is switched on explicitly, as an operator
        // might, to prove that the secret filter still drops its DEBUG lines.
        let filter = workspace_gateway::telemetry::filter(
            "debug,sqlx=warn,h2=info,rustls=info,yup_oauth2::service_account=debug",
        );
        let output = tracing_subscriber::fmt::layer()
            .with_writer(move || CapturingWriter { echo })
            .with_ansi(false);
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(workspace_gateway::telemetry::secret_filter())
            .with(output)
            .try_init();
    });
}

/// A running gateway with its emulator and database.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub admin_key: String,
    pub emulator: EmulatorHandle,
    pub state: AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _database: TestDatabase,
}

enum TestDatabase {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { admin_url, name } = self {
            let admin_url = admin_url.clone();
            let name = name.clone();
            // Drop runs outside any async context that could be blocked on, so a
            // short-lived runtime on its own thread removes the database.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(async {
                    use sqlx::Connection;
                    let mut connection = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut connection)
                        .await
                        .ok()
                })
            })
            .join();
        }
    }
}

/// URL of the PostgreSQL server used by the `postgres` variant of each test.
pub fn postgres_admin_url() -> String {
    std::env::var("GATEWAY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

impl TestApp {
    /// Starts a gateway on SQLite or PostgreSQL.
    pub async fn spawn(kind: DbKind) -> TestApp {
        match kind {
            DbKind::Sqlite => Self::spawn_sqlite().await,
            DbKind::Postgres => Self::spawn_postgres()
                .await
                .expect("PostgreSQL tests are disabled"),
        }
    }

    /// Starts a gateway on a fresh SQLite file.
    pub async fn spawn_sqlite() -> TestApp {
        let directory = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}/gateway.db", directory.path().display());
        Self::spawn_with(DbKind::Sqlite, url, TestDatabase::Sqlite(directory)).await
    }

    /// Starts a gateway on a fresh PostgreSQL database. Returns `None` only when
    /// `GATEWAY_TEST_SKIP_POSTGRES=1` is set outside CI; otherwise an unreachable
    /// server fails the test.
    pub async fn spawn_postgres() -> Option<TestApp> {
        if std::env::var("GATEWAY_TEST_SKIP_POSTGRES").is_ok_and(|value| value == "1")
            && std::env::var("CI").is_err()
        {
            eprintln!("skipping the PostgreSQL variant: GATEWAY_TEST_SKIP_POSTGRES=1");
            return None;
        }

        let admin_url = postgres_admin_url();
        let name = format!("gw_test_{}", uuid::Uuid::new_v4().simple());
        {
            use sqlx::Connection;
            let mut connection = sqlx::PgConnection::connect(&admin_url).await.unwrap_or_else(|error| {
                panic!("PostgreSQL at {admin_url} is unreachable ({error}). Start it, point GATEWAY_TEST_POSTGRES_URL at a server, or set GATEWAY_TEST_SKIP_POSTGRES=1 outside CI.")
            });
            sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                .execute(&mut connection)
                .await
                .expect("create test database");
        }

        let mut url = url::Url::parse(&admin_url).expect("GATEWAY_TEST_POSTGRES_URL is a URL");
        url.set_path(&name);
        let database = TestDatabase::Postgres { admin_url, name };
        Some(Self::spawn_with(DbKind::Postgres, url.to_string(), database).await)
    }

    async fn spawn_with(_kind: DbKind, database_url: String, database: TestDatabase) -> TestApp {
        init_logs();

        let emulator = Emulator::start().await.expect("emulator starts");
        let admin_key = format!("test-admin-{}", uuid::Uuid::new_v4().simple());

        let mut settings = Settings::load(None).expect("default settings");
        settings.listen = "127.0.0.1:0".parse().expect("address");
        settings.database.url = database_url;
        settings.database.max_connections = 5;
        settings.google.people_base_url = emulator.people_base_url();
        settings.google.calendar_base_url = emulator.calendar_base_url();
        settings.google.gmail_base_url = emulator.gmail_base_url();
        settings.google.request_timeout_seconds = 10;
        // Every loopback port, so tests may point keys at stand-in endpoints.
        settings.google.allowed_token_uris = vec!["http://127.0.0.1:*".to_owned()];
        settings.security.admin_api_key = Some(SecretString::from(admin_key.clone()));
        settings.security.master_keys =
            vec![SecretString::from(format!("test:{}", base64_32_bytes()))];
        settings.security.api_key_secret =
            Some(SecretString::from("test-api-key-secret".to_owned()));

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let address = format!("http://{}", listener.local_addr().expect("local address"));
        let state = workspace_gateway::startup::build_state(settings)
            .await
            .expect("gateway state builds");

        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let server_state = state.clone();
        tokio::spawn(async move {
            let _ = workspace_gateway::launch(listener, server_state, async {
                let _ = stopped.await;
            })
            .await;
        });

        TestApp {
            address,
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .expect("HTTP client"),
            admin_key,
            emulator,
            state,
            shutdown: Some(shutdown),
            _database: database,
        }
    }

    /// Sends a request with the admin key.
    pub async fn request(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        self.request_as(&self.admin_key, method, path, body).await
    }

    /// Sends a request with `key`.
    pub async fn request_as(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let mut builder = self
            .client
            .request(method, format!("{}{}", self.address, path))
            .bearer_auth(key);
        if let Some(body) = body {
            builder = builder.json(&body);
        }
        builder.send().await.expect("request reaches the gateway")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path, None).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Response {
        self.request(Method::PUT, path, Some(body)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.request(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.request(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path, None).await
    }

    /// Sets up a Workspace in the emulator (domain, test user, agent, service
    /// account delegated for every scope) and onboards it as `brokerage_id`:
    /// brokerage, key and enrolled agent. Returns the Workspace.
    pub async fn onboard(&self, brokerage_id: &str) -> Workspace {
        let workspace = self.workspace(brokerage_id, &ALL_SCOPES);
        self.create_brokerage(&workspace).await;
        self.upload_key(brokerage_id, &workspace.key_json).await;
        self.enroll(brokerage_id, &workspace.agent).await;
        workspace
    }

    /// Creates a Workspace in the emulator, delegating `scopes` to a new service account.
    pub fn workspace(&self, brokerage_id: &str, scopes: &[&str]) -> Workspace {
        let domain = format!("{brokerage_id}.example");
        let agent = format!("agent@{domain}");
        let test_user = format!("it-test@{domain}");
        self.emulator
            .create_domain(&domain, &[test_user.as_str(), agent.as_str()]);
        let account = self
            .emulator
            .create_service_account(&format!("{brokerage_id}-project"));
        if !scopes.is_empty() {
            self.emulator.delegate(&domain, &account.client_id, scopes);
        }
        Workspace {
            brokerage_id: brokerage_id.to_owned(),
            domain,
            agent,
            test_user,
            client_id: account.client_id.clone(),
            key_json: account.key_json.clone(),
            private_key_pem: account.private_key_pem.clone(),
        }
    }

    pub async fn create_brokerage(&self, workspace: &Workspace) -> Value {
        let response = self
            .put(
                &format!("/v1/brokerages/{}", workspace.brokerage_id),
                json!({ "display_name": "Acme Realty", "domains": [workspace.domain], "test_user": workspace.test_user }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "brokerage created");
        response.json().await.expect("brokerage JSON")
    }

    pub async fn upload_key(&self, brokerage_id: &str, key_json: &Value) -> Value {
        let response = self
            .put(
                &format!("/v1/brokerages/{brokerage_id}/credentials"),
                key_json.clone(),
            )
            .await;
        let status = response.status();
        let body: Value = response.json().await.expect("credentials JSON");
        assert_eq!(status, StatusCode::CREATED, "key uploaded: {body}");
        body
    }

    pub async fn enroll(&self, brokerage_id: &str, email: &str) {
        let response = self
            .request(
                Method::PUT,
                &format!("/v1/brokerages/{brokerage_id}/users/{email}"),
                None,
            )
            .await;
        assert!(
            response.status().is_success(),
            "user enrolled: {}",
            response.status()
        );
    }

    /// Creates an API key and returns its secret.
    pub async fn api_key(&self, role: &str, brokerage_id: Option<&str>) -> String {
        let response = self.post("/v1/api-keys", json!({ "name": format!("{role} key"), "role": role, "brokerage_id": brokerage_id })).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("API key JSON");
        body["secret"].as_str().expect("secret").to_owned()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Every scope the gateway needs, as delegated by a correct setup.
pub const ALL_SCOPES: [&str; 3] = [
    "https://www.googleapis.com/auth/contacts",
    "https://www.googleapis.com/auth/calendar",
    "https://www.googleapis.com/auth/gmail.compose",
];

/// A Workspace set up in the emulator.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub brokerage_id: String,
    pub domain: String,
    pub agent: String,
    pub test_user: String,
    pub client_id: String,
    pub key_json: Value,
    pub private_key_pem: String,
}

impl Workspace {
    /// Path prefix of the agent's resources.
    pub fn agent_path(&self) -> String {
        format!("/v1/brokerages/{}/users/{}", self.brokerage_id, self.agent)
    }
}

fn base64_32_bytes() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
}

/// Reads a problem response and checks its status, content type and code.
pub async fn assert_problem(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status of the {code} problem");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        content_type, "application/problem+json",
        "content type of the {code} problem"
    );
    let body: Value = response.json().await.expect("problem JSON");
    assert_eq!(body["code"], code, "problem code in {body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|detail| !detail.is_empty()),
        "problem detail in {body}"
    );
    body
}
