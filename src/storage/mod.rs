//! Database access over sqlx's `Any` driver, so one set of queries serves SQLite
//! and PostgreSQL. The backend follows the URL scheme; migrations are embedded
//! and run at start. Every query method takes the brokerage id first.

use std::path::Path;
use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::AnyPool;

/// Database engine of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A storage failure that handlers map centrally (see `ApiError`).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A unique constraint rejected the write.
    #[error("{0}")]
    Conflict(String),
    /// Any other database failure.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Result of storage calls.
pub type StorageResult<T> = Result<T, StorageError>;

/// The connection pool plus the backend it talks to.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Db {
    /// Connects to `url` (creating a SQLite file and its folder when missing) and
    /// runs the embedded migrations of that backend.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();

        let backend = backend_of(url)?;
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url)?,
            Backend::Postgres => url.to_owned(),
        };

        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *connection)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 5000")
                            .execute(&mut *connection)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|error| {
                anyhow::anyhow!(
                    "cannot connect to the database at {}: {error}",
                    describe_location(&url)
                )
            })?;

        if backend == Backend::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }

        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await?;

        Ok(Self { pool, backend })
    }

    /// Returns the underlying pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Returns the backend of this pool.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks that the database responds, for readiness probes.
    pub async fn ping(&self) -> StorageResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Host and port, or file, of a database URL, without credentials.
fn describe_location(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) if parsed.scheme().starts_with("postgres") => format!(
            "{}:{}",
            parsed.host_str().unwrap_or("localhost"),
            parsed.port().unwrap_or(5432)
        ),
        _ => url.split('?').next().unwrap_or(url).to_owned(),
    }
}

/// Checks that a database URL names a supported backend.
pub fn check_url(url: &str) -> anyhow::Result<()> {
    backend_of(url).map(|_| ())
}

fn backend_of(url: &str) -> anyhow::Result<Backend> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        anyhow::bail!(
            "unsupported database URL scheme in {:?}: use sqlite://PATH or postgres://...",
            url.split(':').next().unwrap_or_default()
        )
    }
}

/// Creates the parent folder of a SQLite file and sets `mode=rwc` so SQLite creates the file.
fn prepare_sqlite_url(url: &str) -> anyhow::Result<String> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };

    if path != ":memory:" && !path.is_empty() {
        if let Some(parent) = Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)?;
            }
        }
    }

    let query = match query {
        Some(query) if query.contains("mode=") => query.to_owned(),
        Some(query) => format!("{query}&mode=rwc"),
        None => "mode=rwc".to_owned(),
    };
    Ok(format!("sqlite://{path}?{query}"))
}

/// Maps a unique-constraint violation to `Conflict` with `detail`.
pub(crate) fn conflict_on_unique(error: sqlx::Error, detail: &str) -> StorageError {
    let is_unique = error
        .as_database_error()
        .map(|database_error| {
            database_error.is_unique_violation()
                || database_error
                    .message()
                    .contains("UNIQUE constraint failed")
        })
        .unwrap_or(false);
    if is_unique {
        StorageError::Conflict(detail.to_owned())
    } else {
        StorageError::Database(error)
    }
}

/// Current time as RFC 3339 with millisecond precision, the format of every stored timestamp.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Position in a newest-first listing: a timestamp, then an id that breaks
/// ties. Sent to clients as opaque base64url text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeCursor {
    /// RFC 3339 timestamp of the last item returned.
    pub at: String,
    /// Id of the last item returned.
    pub id: String,
}

impl TimeCursor {
    /// Encodes the cursor as opaque text.
    pub fn encode(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}\n{}", self.at, self.id))
    }

    /// Parses the text form; `None` when it was not made by [`TimeCursor::encode`].
    pub fn decode(text: &str) -> Option<Self> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (at, id) = text.split_once('\n')?;
        Some(Self {
            at: at.to_owned(),
            id: id.to_owned(),
        })
    }
}

/// Encodes the last id of a page ordered by id as an opaque cursor.
pub fn encode_id_cursor(id: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}

/// Parses a cursor made by [`encode_id_cursor`]; `None` when it was not.
pub fn decode_id_cursor(text: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()?;
    String::from_utf8(bytes).ok().filter(|id| !id.is_empty())
}

/// Builds the 400 for a cursor that the endpoint did not return.
pub fn invalid_cursor() -> crate::error::ApiError {
    crate::error::ApiError::invalid(
        "invalid_cursor",
        "cursor",
        "The cursor is not one this endpoint returned; start again without it.",
    )
}
