//! Load benchmark of the gateway against an in-process Workspace emulator.
//!
//! Run it with `cargo bench --bench gateway`. The program starts the emulator and the
//! gateway (SQLite in a temporary directory) on 127.0.0.1 in its own process, onboards one
//! brokerage with ten users of 100 contacts each, and then measures:
//!
//! 1. token exchanges during 10,000 contact-list requests spread over the ten users;
//! 2. token exchanges when 200 list requests for a user who has never been served arrive
//!    at once;
//! 3. the latency and throughput of a 100-contact list through the gateway next to the
//!    same list read straight from the emulator's People API.
//!
//! It prints a Markdown report and writes it to `benchmarks/RESULTS.md`. Every loop has a
//! fixed count, each request times out after [`REQUEST_TIMEOUT`] and the whole run after
//! [`RUN_TIMEOUT`]. The run fails when a request fails, after the report is written.

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
// The `bytes::Bytes` that reqwest returns, re-exported by axum.
use axum::body::Bytes;
use base64::Engine;
use futures::stream::{self, StreamExt};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Barrier};
use tokio::task::JoinHandle;
use workspace_emulator::{Emulator, EmulatorHandle};
use workspace_gateway::contacts::mapping::PERSON_FIELDS;
use workspace_gateway::state::AppState;
use workspace_gateway::Settings;

/// Enrolled users that receive the list traffic.
const USERS: usize = 10;

/// Contacts seeded in the emulator for every user.
const CONTACTS_PER_USER: usize = 100;

/// List requests of the token-exchange measurement.
const LIST_REQUESTS: usize = 10_000;

/// Requests in flight at once during the token-exchange measurement.
const LIST_CONCURRENCY: usize = 16;

/// Concurrent list requests for the user who has never been served.
const BURST_REQUESTS: usize = 200;

/// Measured requests per path in each latency pass.
const LATENCY_REQUESTS: usize = 3_000;

/// Unmeasured requests per path before the latency passes.
const WARMUP_REQUESTS: usize = 300;

/// Requests in flight at once during the throughput pass.
const THROUGHPUT_CONCURRENCY: usize = 8;

/// Timeout of one HTTP request sent by the benchmark.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Timeout of the whole run, setup included.
const RUN_TIMEOUT: Duration = Duration::from_secs(1_200);

/// Target of the gateway's added median latency at concurrency 1.
const TARGET_ADDED_MEDIAN: Duration = Duration::from_millis(1);

/// Target of the gateway's added p99 latency at concurrency 1.
const TARGET_ADDED_P99: Duration = Duration::from_millis(5);

const BROKERAGE_ID: &str = "bench";
const DOMAIN: &str = "bench.example";
const COMMAND: &str = "cargo bench --bench gateway";
const DEFAULT_LOG_FILTER: &str = "warn";

/// Worker threads of the tokio runtime, one per CPU that the process may use.
static WORKER_THREADS: OnceLock<usize> = OnceLock::new();

/// Scopes the brokerage's administrator delegates to the service account.
const DELEGATED_SCOPES: [&str; 3] = [
    "https://www.googleapis.com/auth/contacts",
    "https://www.googleapis.com/auth/calendar",
    "https://www.googleapis.com/auth/gmail.compose",
];

/// Field mask of the direct People API path: the fields the seeded contacts have.
const DIRECT_FIELDS: &str = "names,emailAddresses,phoneNumbers";

fn main() -> anyhow::Result<()> {
    init_logs();

    let worker_threads = std::thread::available_parallelism().map_or(1, usize::from);
    let _ = WORKER_THREADS.set(worker_threads);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads)
        .enable_all()
        .build()
        .context("building the tokio runtime")?;

    runtime.block_on(async {
        match tokio::time::timeout(RUN_TIMEOUT, run()).await {
            Ok(result) => result,
            Err(_) => bail!("the benchmark did not finish within {RUN_TIMEOUT:?}"),
        }
    })
}

/// Logs WARN and above to stderr, or what `RUST_LOG` selects when it is set.
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn run() -> anyhow::Result<()> {
    let load_before = load_average();
    let stack = Stack::start().await?;
    let fixture = onboard(&stack).await?;
    eprintln!("onboarded {BROKERAGE_ID}: {USERS} users with {CONTACTS_PER_USER} contacts each");

    let list = measure_list_exchanges(&stack, &fixture).await;
    eprintln!("token exchanges per {LIST_REQUESTS} list requests: done");
    let burst = measure_burst_exchanges(&stack, &fixture).await;
    eprintln!("token exchanges of a {BURST_REQUESTS}-request burst: done");
    let latency = measure_latency(&stack, &fixture).await?;
    eprintln!("latency and throughput: done");

    stack.stop().await;

    let report = Report {
        list,
        burst,
        latency,
        facts: RunFacts::collect(load_before),
    };
    let markdown = report.render();
    println!("{markdown}");
    write_results(&markdown)?;

    let errors = report.errors();
    ensure!(errors == 0, "{errors} requests failed; see the report");
    Ok(())
}

/// The emulator and the gateway serving on loopback ports, with an HTTP client.
struct Stack {
    gateway_url: String,
    admin_key: SecretString,
    client: reqwest::Client,
    emulator: EmulatorHandle,
    state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<anyhow::Result<()>>,
    _database_dir: tempfile::TempDir,
}

impl Stack {
    /// Starts the emulator, then the gateway on a fresh SQLite file pointed at it.
    async fn start() -> anyhow::Result<Self> {
        let emulator = Emulator::start().await.context("starting the emulator")?;
        let database_dir = tempfile::tempdir().context("creating the database directory")?;
        let admin_key =
            SecretString::from(format!("bench-admin-{}", uuid::Uuid::new_v4().simple()));
        let settings = gateway_settings(&emulator, database_dir.path(), &admin_key)?;

        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding 127.0.0.1:0")?;
        let gateway_url = format!("http://{}", listener.local_addr()?);
        let state = workspace_gateway::startup::build_state(settings)
            .await
            .context("building the gateway state")?;

        let (shutdown, stopped) = oneshot::channel::<()>();
        let server_state = state.clone();
        let server = tokio::spawn(async move {
            workspace_gateway::launch(listener, server_state, async {
                let _ = stopped.await;
            })
            .await
        });

        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("building the HTTP client")?;

        Ok(Self {
            gateway_url,
            admin_key,
            client,
            emulator,
            state,
            shutdown: Some(shutdown),
            server,
            _database_dir: database_dir,
        })
    }

    /// Sends an admin request to the gateway and returns the status and JSON body.
    async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.gateway_url))
            .bearer_auth(self.admin_key.expose_secret());
        if let Some(body) = body {
            request = request.json(body);
        }

        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("reading {method} {path}"))?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// Token exchanges and upstream calls counted so far.
    fn counters(&self) -> Counters {
        Counters {
            gateway_exchanges: self.state.google.tokens().exchanges(),
            emulator_exchanges: self.emulator.token_exchanges(),
            upstream_calls: self.emulator.api_calls(),
        }
    }

    /// Stops the gateway gracefully; the emulator stops when its handle drops.
    async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let server = &mut self.server;
        match tokio::time::timeout(Duration::from_secs(10), server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => eprintln!("the gateway stopped with an error: {error:#}"),
            Ok(Err(error)) => eprintln!("the gateway task failed: {error}"),
            Err(_) => {
                eprintln!("the gateway did not stop within 10 s; aborting it");
                self.server.abort();
            }
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Default settings with loopback listen address, the emulator as Google, a SQLite file in
/// `database_dir` and fresh secrets.
fn gateway_settings(
    emulator: &EmulatorHandle,
    database_dir: &Path,
    admin_key: &SecretString,
) -> anyhow::Result<Settings> {
    let mut settings = Settings::load(None).context("loading the default settings")?;

    settings.listen = "127.0.0.1:0".parse()?;
    settings.database.url = format!("sqlite://{}/gateway.db", database_dir.display());
    settings.google.allowed_token_uris = vec![emulator.token_uri()];
    settings.google.people_base_url = emulator.people_base_url();
    settings.google.calendar_base_url = emulator.calendar_base_url();
    settings.google.gmail_base_url = emulator.gmail_base_url();

    let master_key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
    settings.security.admin_api_key = Some(admin_key.clone());
    settings.security.master_keys = vec![SecretString::from(format!("bench:{master_key}"))];
    settings.security.api_key_secret = Some(SecretString::from(format!(
        "bench-{}",
        uuid::Uuid::new_v4().simple()
    )));
    Ok(settings)
}

/// Counters read before and after a step.
#[derive(Debug, Clone, Copy)]
struct Counters {
    gateway_exchanges: u64,
    emulator_exchanges: u64,
    upstream_calls: u64,
}

impl Counters {
    fn since(self, before: Counters) -> Counters {
        Counters {
            gateway_exchanges: self
                .gateway_exchanges
                .saturating_sub(before.gateway_exchanges),
            emulator_exchanges: self
                .emulator_exchanges
                .saturating_sub(before.emulator_exchanges),
            upstream_calls: self.upstream_calls.saturating_sub(before.upstream_calls),
        }
    }
}

/// The onboarded brokerage's users.
struct Fixture {
    /// Users that receive the list traffic.
    users: Vec<String>,
    /// Enrolled user whose first request arrives in the burst.
    new_user: String,
}

/// Sets up the Workspace in the emulator, onboards it in the gateway and seeds contacts.
async fn onboard(stack: &Stack) -> anyhow::Result<Fixture> {
    let test_user = format!("it-test@{DOMAIN}");
    let users: Vec<String> = (1..=USERS)
        .map(|number| format!("agent{number:02}@{DOMAIN}"))
        .collect();
    let new_user = format!("newcomer@{DOMAIN}");

    let mut mailboxes: Vec<&str> = users.iter().map(String::as_str).collect();
    mailboxes.push(&test_user);
    mailboxes.push(&new_user);
    stack.emulator.create_domain(DOMAIN, &mailboxes);
    let account = stack.emulator.create_service_account("bench-project");
    stack
        .emulator
        .delegate(DOMAIN, &account.client_id, &DELEGATED_SCOPES);

    let brokerage =
        json!({ "display_name": "Bench Realty", "domains": [DOMAIN], "test_user": test_user });
    expect_success(
        stack,
        Method::PUT,
        &format!("/v1/brokerages/{BROKERAGE_ID}"),
        Some(&brokerage),
    )
    .await?;
    expect_success(
        stack,
        Method::PUT,
        &format!("/v1/brokerages/{BROKERAGE_ID}/credentials"),
        Some(&account.key_json),
    )
    .await?;

    for user in users.iter().chain([&new_user]) {
        expect_success(
            stack,
            Method::PUT,
            &format!("/v1/brokerages/{BROKERAGE_ID}/users/{user}"),
            None,
        )
        .await?;
        seed_contacts(stack, user).await?;
    }

    Ok(Fixture { users, new_user })
}

async fn expect_success(
    stack: &Stack,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<()> {
    let (status, response) = stack.admin(method.clone(), path, body).await?;
    ensure!(
        status.is_success(),
        "{method} {path} returned {status}: {response}"
    );
    Ok(())
}

/// Creates [`CONTACTS_PER_USER`] contacts through the emulator's control API.
async fn seed_contacts(stack: &Stack, user: &str) -> anyhow::Result<()> {
    let url = format!(
        "{}/emulator/users/{user}/contacts",
        stack.emulator.base_url()
    );

    for number in 1..=CONTACTS_PER_USER {
        let person = json!({
            "names": [{ "givenName": "Client", "familyName": format!("Number {number:03}") }],
            "emailAddresses": [{ "value": format!("client{number:03}@clients.example") }],
            "phoneNumbers": [{ "value": format!("+1 555 010 {number:04}") }],
        });
        let response = stack
            .client
            .post(&url)
            .json(&person)
            .send()
            .await
            .with_context(|| format!("seeding a contact of {user}"))?;
        let status = response.status();
        ensure!(
            status == StatusCode::CREATED,
            "seeding a contact of {user} returned {status}"
        );
    }
    Ok(())
}

/// A bearer token and the URLs that requests cycle through.
struct Endpoint {
    urls: Vec<String>,
    bearer: SecretString,
}

impl Endpoint {
    /// Builds gateway contact-list requests for `users`, one 100-contact page each, sent with
    /// the admin key.
    fn gateway(stack: &Stack, users: &[String]) -> Self {
        let urls = users
            .iter()
            .map(|user| {
                format!(
                    "{}/v1/brokerages/{BROKERAGE_ID}/users/{user}/contacts?page_size=100",
                    stack.gateway_url
                )
            })
            .collect();
        Self {
            urls,
            bearer: stack.admin_key.clone(),
        }
    }

    /// Builds the emulator's `people.connections.list` request for one page of 100 with
    /// `fields`, sent with an access token of one user.
    fn people(stack: &Stack, access_token: SecretString, fields: &str) -> Self {
        let url = format!(
            "{}{}",
            stack.emulator.people_base_url(),
            people_list_path(fields)
        );
        Self {
            urls: vec![url],
            bearer: access_token,
        }
    }

    fn url(&self, index: usize) -> &str {
        &self.urls[index % self.urls.len()]
    }
}

/// `people.connections.list` of the caller, relative to the People base URL.
fn people_list_path(fields: &str) -> String {
    format!("v1/people/me/connections?personFields={fields}&pageSize=100")
}

/// One request's latency, and why it failed if it did.
struct Outcome {
    latency: Duration,
    error: Option<String>,
}

/// Sends request `index` of `endpoint` and times it until the whole body is read.
async fn send(client: &reqwest::Client, endpoint: &Endpoint, index: usize) -> Outcome {
    let started = Instant::now();
    let result = fetch(client, endpoint.url(index), &endpoint.bearer).await;
    let latency = started.elapsed();

    let error = match result {
        Ok((status, _)) if status == StatusCode::OK => None,
        Ok((status, body)) => Some(format!(
            "status {status}: {}",
            String::from_utf8_lossy(&body)
        )),
        Err(error) => Some(format!("{error:#}")),
    };
    Outcome { latency, error }
}

async fn fetch(
    client: &reqwest::Client,
    url: &str,
    bearer: &SecretString,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let response = client
        .get(url)
        .bearer_auth(bearer.expose_secret())
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    Ok((status, body))
}

/// The outcomes of one pass over one path.
struct Pass {
    outcomes: Vec<Outcome>,
    /// Time that the requests of this pass took: wall time, or summed latency when the
    /// pass took turns with other paths.
    busy: Duration,
}

impl Pass {
    fn errors(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|outcome| outcome.error.is_some())
            .count()
    }

    fn first_error(&self) -> Option<&str> {
        self.outcomes
            .iter()
            .find_map(|outcome| outcome.error.as_deref())
    }

    fn stats(&self) -> Stats {
        let mut latencies: Vec<Duration> = self
            .outcomes
            .iter()
            .map(|outcome| outcome.latency)
            .collect();
        latencies.sort_unstable();
        Stats {
            count: latencies.len(),
            errors: self.errors(),
            median: percentile(&latencies, 0.50),
            p99: percentile(&latencies, 0.99),
            per_second: latencies.len() as f64 / self.busy.as_secs_f64().max(f64::MIN_POSITIVE),
        }
    }
}

/// Sends `count` requests of `endpoint`, `concurrency` at a time.
async fn run_pass(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    count: usize,
    concurrency: usize,
) -> Pass {
    let started = Instant::now();
    let outcomes = stream::iter(0..count)
        .map(|index| send(client, endpoint, index))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    Pass {
        outcomes,
        busy: started.elapsed(),
    }
}

/// Token exchanges of one step and the requests that caused them.
struct ExchangeResult {
    counters: Counters,
    pass: Pass,
}

/// Lists contacts [`LIST_REQUESTS`] times round-robin over the users that have not been
/// served yet, [`LIST_CONCURRENCY`] at a time.
async fn measure_list_exchanges(stack: &Stack, fixture: &Fixture) -> ExchangeResult {
    let endpoint = Endpoint::gateway(stack, &fixture.users);

    let before = stack.counters();
    let pass = run_pass(&stack.client, &endpoint, LIST_REQUESTS, LIST_CONCURRENCY).await;
    let counters = stack.counters().since(before);

    ExchangeResult { counters, pass }
}

/// Releases [`BURST_REQUESTS`] tasks together through a barrier, each listing the contacts
/// of the user that has not been served yet.
async fn measure_burst_exchanges(stack: &Stack, fixture: &Fixture) -> ExchangeResult {
    let endpoint = Arc::new(Endpoint::gateway(
        stack,
        std::slice::from_ref(&fixture.new_user),
    ));
    let barrier = Arc::new(Barrier::new(BURST_REQUESTS));

    let before = stack.counters();
    let started = Instant::now();
    let tasks: Vec<JoinHandle<Outcome>> = (0..BURST_REQUESTS)
        .map(|index| {
            let client = stack.client.clone();
            let endpoint = Arc::clone(&endpoint);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                send(&client, &endpoint, index).await
            })
        })
        .collect();

    let mut outcomes = Vec::with_capacity(BURST_REQUESTS);
    for task in tasks {
        outcomes.push(task.await.unwrap_or_else(|error| Outcome {
            latency: Duration::ZERO,
            error: Some(format!("request task failed: {error}")),
        }));
    }
    let busy = started.elapsed();
    let counters = stack.counters().since(before);

    ExchangeResult {
        counters,
        pass: Pass { outcomes, busy },
    }
}

/// Names of the latency paths, in the order of [`Comparison::passes`].
const PATHS: [&str; 3] = ["gateway", "direct", "direct, gateway's mask"];

/// Results of one latency pass, one per entry of [`PATHS`].
struct Comparison {
    concurrency: usize,
    passes: Vec<Pass>,
}

/// Both latency passes, with the page sizes that were checked before them.
struct LatencyResult {
    /// Contacts on the checked page of each path, in [`PATHS`] order.
    pages: Vec<usize>,
    sequential: Comparison,
    concurrent: Comparison,
}

/// Measures one user's 100-contact list through the gateway and straight from the emulator,
/// first rotating request by request over the paths, then each path at
/// [`THROUGHPUT_CONCURRENCY`]. The direct path runs with the field mask [`DIRECT_FIELDS`] and
/// with the gateway's own mask, which also requests metadata and fields that the seeded
/// contacts lack.
async fn measure_latency(stack: &Stack, fixture: &Fixture) -> anyhow::Result<LatencyResult> {
    let user = &fixture.users[0];
    let token = access_token(stack, user).await?;
    let endpoints = [
        Endpoint::gateway(stack, std::slice::from_ref(user)),
        Endpoint::people(stack, token.clone(), DIRECT_FIELDS),
        Endpoint::people(stack, token, &PERSON_FIELDS.join(",")),
    ];

    let mut pages = Vec::with_capacity(endpoints.len());
    for (name, endpoint) in PATHS.iter().zip(&endpoints) {
        let entries = page_size(stack, endpoint)
            .await
            .with_context(|| format!("checking the page of the {name} path"))?;
        ensure!(
            entries == CONTACTS_PER_USER,
            "the {name} path listed {entries} contacts, expected {CONTACTS_PER_USER}"
        );
        pages.push(entries);
    }

    for endpoint in &endpoints {
        run_pass(
            &stack.client,
            endpoint,
            WARMUP_REQUESTS,
            THROUGHPUT_CONCURRENCY,
        )
        .await;
    }

    let sequential = rotate(&stack.client, &endpoints, LATENCY_REQUESTS).await;
    let mut passes = Vec::with_capacity(endpoints.len());
    for endpoint in &endpoints {
        passes.push(
            run_pass(
                &stack.client,
                endpoint,
                LATENCY_REQUESTS,
                THROUGHPUT_CONCURRENCY,
            )
            .await,
        );
    }
    let concurrent = Comparison {
        concurrency: THROUGHPUT_CONCURRENCY,
        passes,
    };

    Ok(LatencyResult {
        pages,
        sequential,
        concurrent,
    })
}

/// Sends `count` requests to each endpoint one at a time. Round `index` starts at endpoint
/// `index % n`, so every endpoint follows every other one equally often.
async fn rotate(client: &reqwest::Client, endpoints: &[Endpoint], count: usize) -> Comparison {
    let mut outcomes: Vec<Vec<Outcome>> = endpoints
        .iter()
        .map(|_| Vec::with_capacity(count))
        .collect();

    for index in 0..count {
        for step in 0..endpoints.len() {
            let path = (index + step) % endpoints.len();
            outcomes[path].push(send(client, &endpoints[path], index).await);
        }
    }

    Comparison {
        concurrency: 1,
        passes: outcomes.into_iter().map(summed_pass).collect(),
    }
}

fn summed_pass(outcomes: Vec<Outcome>) -> Pass {
    let busy = outcomes.iter().map(|outcome| outcome.latency).sum();
    Pass { outcomes, busy }
}

/// Gets an access token for `user` from the gateway's token source. The list traffic has
/// already cached it, so this costs no exchange.
async fn access_token(stack: &Stack, user: &str) -> anyhow::Result<SecretString> {
    let key = workspace_gateway::credentials::active_key(&stack.state, BROKERAGE_ID)
        .await
        .context("loading the brokerage's key")?;
    let scope = &stack.state.settings.google.default_contacts_scope;
    let token = stack
        .state
        .google
        .tokens()
        .token(&key, user, scope)
        .await
        .context("getting an access token")?;
    Ok(token.secret().clone())
}

/// Number of entries in the longest top-level array of one response, which is the page of
/// contacts for both paths.
async fn page_size(stack: &Stack, endpoint: &Endpoint) -> anyhow::Result<usize> {
    let (status, body) = fetch(&stack.client, endpoint.url(0), &endpoint.bearer).await?;
    ensure!(
        status == StatusCode::OK,
        "status {status}: {}",
        String::from_utf8_lossy(&body)
    );

    let page: Value = serde_json::from_slice(&body).context("parsing the page")?;
    let entries = page
        .as_object()
        .into_iter()
        .flat_map(|object| object.values())
        .filter_map(Value::as_array)
        .map(Vec::len)
        .max()
        .unwrap_or(0);
    Ok(entries)
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], quantile: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summary of one pass.
struct Stats {
    count: usize,
    errors: usize,
    median: Duration,
    p99: Duration,
    per_second: f64,
}

/// Facts about the build and the machine that produced the numbers.
struct RunFacts {
    date: String,
    commit: String,
    cpus: String,
    cpu_model: String,
    memory: String,
    rustc: String,
    profile: &'static str,
    log_filter: String,
    /// 1, 5 and 15 minute load averages when the run started, from /proc/loadavg.
    load_before: String,
}

impl RunFacts {
    fn collect(load_before: String) -> Self {
        let profile = if cfg!(debug_assertions) {
            "debug assertions on: not the `bench` profile, so these numbers are not representative"
        } else {
            "`bench` (inherits `release`: optimized, no debug assertions)"
        };
        Self {
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            commit: commit(),
            cpus: command_output("nproc", &[]).unwrap_or_else(|| "unknown".to_owned()),
            cpu_model: proc_field("/proc/cpuinfo", "model name")
                .unwrap_or_else(|| "unknown".to_owned()),
            memory: proc_field("/proc/meminfo", "MemTotal").unwrap_or_else(|| "unknown".to_owned()),
            rustc: command_output("rustc", &["--version"]).unwrap_or_else(|| "unknown".to_owned()),
            profile,
            load_before,
            log_filter: std::env::var("RUST_LOG").unwrap_or_else(|_| DEFAULT_LOG_FILTER.to_owned()),
        }
    }
}

fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `git rev-parse --short HEAD`, marked when the working tree has uncommitted changes.
fn commit() -> String {
    let Some(head) = command_output("git", &["rev-parse", "--short", "HEAD"]) else {
        return "none (the repository has no commit yet)".to_owned();
    };
    let dirty =
        command_output("git", &["status", "--porcelain"]).is_some_and(|status| !status.is_empty());
    if dirty {
        format!("{head} with uncommitted changes")
    } else {
        head
    }
}

/// Trimmed stdout of a command run in the repository root, or `None` when it fails.
fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .current_dir(repository_root())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Reads the 1, 5 and 15 minute load averages from /proc/loadavg.
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let fields: Vec<&str> = text.split_whitespace().take(3).collect();
    if fields.len() == 3 {
        fields.join(", ")
    } else {
        "unknown".to_owned()
    }
}

/// Value of the first `name: value` line of a /proc file.
fn proc_field(path: &str, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(key, _)| key.trim() == name)
        .map(|(_, value)| value.trim().to_owned())
}

/// Everything the benchmark measured.
struct Report {
    list: ExchangeResult,
    burst: ExchangeResult,
    latency: LatencyResult,
    facts: RunFacts,
}

impl Report {
    /// Lists every measured pass with a name for error reports.
    fn passes(&self) -> Vec<(String, &Pass)> {
        let mut passes = vec![
            ("token exchanges".to_owned(), &self.list.pass),
            ("burst".to_owned(), &self.burst.pass),
        ];
        for comparison in [&self.latency.sequential, &self.latency.concurrent] {
            for (name, pass) in PATHS.iter().zip(&comparison.passes) {
                let label = format!("{name}, concurrency {}", comparison.concurrency);
                passes.push((label, pass));
            }
        }
        passes
    }

    /// Counts failed requests across every measured step.
    fn errors(&self) -> usize {
        self.passes().iter().map(|(_, pass)| pass.errors()).sum()
    }

    fn render(&self) -> String {
        let mut page = String::new();
        self.render_header(&mut page);
        self.render_exchanges(&mut page);
        self.render_latency(&mut page);
        self.render_errors(&mut page);
        page
    }

    fn render_header(&self, page: &mut String) {
        let facts = &self.facts;
        let rows = [
            ("Date", facts.date.clone()),
            (
                "Commit (`git rev-parse --short HEAD`)",
                facts.commit.clone(),
            ),
            ("Command", format!("`{COMMAND}`")),
            ("Build profile", facts.profile.to_owned()),
            (
                "CPUs (`nproc`)",
                format!("{} ({})", facts.cpus, facts.cpu_model),
            ),
            ("Memory (MemTotal in /proc/meminfo)", facts.memory.clone()),
            ("Compiler", facts.rustc.clone()),
            (
                "Tokio worker threads",
                WORKER_THREADS.get().copied().unwrap_or(0).to_string(),
            ),
            ("Log filter", facts.log_filter.clone()),
            (
                "Load average at start (1, 5, 15 min)",
                facts.load_before.clone(),
            ),
            (
                "Gateway database",
                "SQLite file in a temporary directory".to_owned(),
            ),
        ];

        let _ = writeln!(page, "# Benchmark results\n");
        let _ = writeln!(
            page,
            "Written by `{COMMAND}` (benches/gateway.rs); rerun it to refresh this page.\n"
        );

        let _ = writeln!(page, "| Fact | Value |\n|---|---|");
        for (fact, value) in rows {
            let _ = writeln!(page, "| {fact} | {value} |");
        }

        let _ = writeln!(
            page,
            "\nThe load generator, the gateway and the emulator run in one process on one tokio \
             runtime, so they share the same {} CPUs. All traffic is HTTP/1.1 over 127.0.0.1, \
             and the gateway runs with its default settings apart from addresses and secrets.\n",
            facts.cpus
        );
    }

    fn render_exchanges(&self, page: &mut String) {
        let list = &self.list;
        let burst = &self.burst;

        let _ = writeln!(page, "## Token exchanges\n");
        let _ = writeln!(
            page,
            "Each count is the difference over one step.\n\n\
             - Exchanges, gateway: the gateway's token source counter (`exchanges()`).\n\
             - Exchanges, emulator: requests served by the emulator's token endpoint \
             (`token_exchanges()`).\n\
             - Upstream calls: People, Calendar and Gmail requests served by the emulator \
             (`api_calls()`).\n"
        );
        let _ = writeln!(
            page,
            "| Step | Requests | Errors | Exchanges, gateway | Exchanges, emulator | \
             Upstream calls | Target | Met |"
        );
        let _ = writeln!(page, "|---|---|---|---|---|---|---|---|");

        let list_step = format!(
            "`GET .../contacts?page_size=100` round-robin over {USERS} users, \
             {LIST_CONCURRENCY} in flight"
        );
        exchange_row(page, &list_step, list, USERS as u64);
        let burst_step = "concurrent lists for one enrolled user never served before, \
             released together by a barrier";
        exchange_row(page, burst_step, burst, 1);

        let _ = writeln!(
            page,
            "\nThe {LIST_REQUESTS} lists took {:.1} s ({:.0} requests/s). The burst took {:.1} ms \
             from spawning its tasks to the last response.\n",
            list.pass.busy.as_secs_f64(),
            list.pass.stats().per_second,
            burst.pass.busy.as_secs_f64() * 1_000.0,
        );
    }

    fn render_latency(&self, page: &mut String) {
        let latency = &self.latency;
        let pages: Vec<String> = latency.pages.iter().map(usize::to_string).collect();
        let _ = writeln!(page, "## Latency of a 100-contact list\n");
        let _ = writeln!(
            page,
            "- `gateway`: `GET /v1/brokerages/{BROKERAGE_ID}/users/{{email}}/contacts?page_size=100` \
             with the admin key.\n\
             - `direct`: the emulator's `GET /{}` with an access token that the gateway's token \
             source issued once for the same user.\n\
             - `direct, gateway's mask`: the same with `personFields={}`, the mask the gateway \
             sends upstream.\n",
            people_list_path(DIRECT_FIELDS),
            PERSON_FIELDS.join(","),
        );
        let _ = writeln!(
            page,
            "The checked page of each path held {} contacts. Latency runs from sending the request \
             to reading the whole body. Each path first got {WARMUP_REQUESTS} unmeasured requests. \
             At concurrency 1 the paths take turns request by request, and requests/s is the count \
             divided by the summed latency of that path. At concurrency {THROUGHPUT_CONCURRENCY} \
             the paths run one after another, and requests/s is the count divided by the wall time \
             of the pass.\n",
            pages.join(", "),
        );
        let _ = writeln!(
            page,
            "| Concurrency | Path | Requests | Errors | Median | p99 | Requests/s |"
        );
        let _ = writeln!(page, "|---|---|---|---|---|---|---|");
        for comparison in [&latency.sequential, &latency.concurrent] {
            for (name, pass) in PATHS.iter().zip(&comparison.passes) {
                stats_row(page, comparison.concurrency, name, &pass.stats());
            }
        }

        let _ = writeln!(page, "\n### Added latency (gateway minus a direct path)\n");
        let _ = writeln!(
            page,
            "The targets apply at concurrency 1: at most +{} median and +{} p99.\n",
            milliseconds(TARGET_ADDED_MEDIAN),
            milliseconds(TARGET_ADDED_P99),
        );
        let _ = writeln!(
            page,
            "| Concurrency | Baseline | Median added | p99 added | Target met |"
        );
        let _ = writeln!(page, "|---|---|---|---|---|");
        for (baseline, name) in PATHS.iter().enumerate().skip(1) {
            added_row(page, &latency.sequential, baseline, name, true);
        }
        for (baseline, name) in PATHS.iter().enumerate().skip(1) {
            added_row(page, &latency.concurrent, baseline, name, false);
        }
        let _ = writeln!(page);
    }

    fn render_errors(&self, page: &mut String) {
        for (name, pass) in self.passes() {
            if let Some(error) = pass.first_error() {
                let _ = writeln!(page, "First failed request ({name}): {error}\n");
            }
        }
    }
}

/// Writes one step of the token-exchange table; the target is `expected` exchanges on both
/// counters and no failed request.
fn exchange_row(page: &mut String, step: &str, result: &ExchangeResult, expected: u64) {
    let counters = result.counters;
    let errors = result.pass.errors();
    let within = errors == 0
        && counters.gateway_exchanges == expected
        && counters.emulator_exchanges == expected;
    let noun = if expected == 1 {
        "exchange"
    } else {
        "exchanges"
    };

    let _ = writeln!(
        page,
        "| {step} | {} | {errors} | {} | {} | {} | {expected} {}, 0 errors | {} |",
        result.pass.outcomes.len(),
        counters.gateway_exchanges,
        counters.emulator_exchanges,
        counters.upstream_calls,
        noun,
        met(within),
    );
}

fn stats_row(page: &mut String, concurrency: usize, path: &str, stats: &Stats) {
    let _ = writeln!(
        page,
        "| {concurrency} | {path} | {} | {} | {} | {} | {:.0} |",
        stats.count,
        stats.errors,
        milliseconds(stats.median),
        milliseconds(stats.p99),
        stats.per_second,
    );
}

/// Writes the gateway's added latency over `comparison.passes[baseline]`.
fn added_row(
    page: &mut String,
    comparison: &Comparison,
    baseline: usize,
    name: &str,
    has_target: bool,
) {
    let gateway = comparison.passes[0].stats();
    let direct = comparison.passes[baseline].stats();
    let added_median = signed_milliseconds(gateway.median, direct.median);
    let added_p99 = signed_milliseconds(gateway.p99, direct.p99);

    let verdict = if has_target {
        let within = gateway.median.saturating_sub(direct.median) <= TARGET_ADDED_MEDIAN
            && gateway.p99.saturating_sub(direct.p99) <= TARGET_ADDED_P99;
        met(within)
    } else {
        "no target"
    };
    let _ = writeln!(
        page,
        "| {} | {name} | {added_median} | {added_p99} | {verdict} |",
        comparison.concurrency
    );
}

fn met(condition: bool) -> &'static str {
    if condition {
        "yes"
    } else {
        "no"
    }
}

fn milliseconds(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1_000.0)
}

fn signed_milliseconds(gateway: Duration, direct: Duration) -> String {
    let difference = (gateway.as_secs_f64() - direct.as_secs_f64()) * 1_000.0;
    format!("{difference:+.3} ms")
}

/// Writes the report to `benchmarks/RESULTS.md` in the repository.
fn write_results(markdown: &str) -> anyhow::Result<()> {
    let directory = repository_root().join("benchmarks");
    std::fs::create_dir_all(&directory)
        .with_context(|| format!("creating {}", directory.display()))?;

    let path = directory.join("RESULTS.md");
    let text = format!("{}\n", markdown.trim_end());
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
