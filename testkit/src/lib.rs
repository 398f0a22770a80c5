//! # carnet-testkit — what Carnet's test suites share
//!
//! - **Fresh databases.** Every test gets a database of its own (DESIGN §8): a SQLite file in a
//!   temporary folder ([`sqlite`], [`TempDir`]), or a PostgreSQL database created on the server at
//!   `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) and dropped when the
//!   handle is dropped ([`FreshDatabase`], empty; [`postgres`], with the event store migrated);
//!   [`EmptyDatabase`] is an empty one of either backend, by URL, for the server and the binary. A
//!   missing server fails the test with instructions; nothing is ever skipped.
//! - **One test, both backends.** [`for_each_backend!`] instantiates generic tests once per
//!   backend, each on a fresh migrated store (or, `url:`, on an empty database by URL); the
//!   [`Backend`] it passes says which one runs; [`IntoAnyStore`] hands a test the store as
//!   `AnyStore`; [`whole_log`] reads the log once what a test committed is readable; [`metadata`]
//!   is that of a write by a test person.
//! - **The README's examples.** [`readme_blocks`] returns the README's fenced blocks of one kind,
//!   so that a suite runs them as written.
//! - **Logs on demand.** `TEST_LOG=1 cargo test …` shows the logs of the code under test
//!   (filtered by `RUST_LOG`, default `info`) beside each test's output, captured per test as
//!   its prints are: [`init_logs`], called by the fresh-database helpers and by the server
//!   suite's `spawn_app`. Without `TEST_LOG`, nothing is installed.
//!
//! This crate may use `carnet-store` but not `carnet-api` (which tests with it).

use carnet_store::{Actor, AnyStore, Checkpoint, EventStore, Metadata, PgStore, RecordedEvent, SqliteStore};
use std::path::{Path, PathBuf};

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The server the PostgreSQL tests create their databases on.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned())
}

/// With `TEST_LOG` set, shows the logs of the code under test in the test's output (a `fmt`
/// subscriber on the test writer, filtered by `RUST_LOG` or else `info`); once per process, and
/// nothing at all without `TEST_LOG`.
pub fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_none() {
            return;
        }
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        // another subscriber already installed (a test that set its own) wins
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    });
}

/// An empty PostgreSQL database of its own, dropped (connections and all) with this handle.
pub struct FreshDatabase {
    pub name: String,
    /// The URL of this database.
    pub url: String,
    /// A pool on this database for the test's own statements (connects on first use).
    pub pool: sqlx::PgPool,
}

impl FreshDatabase {
    pub async fn create() -> Self {
        init_logs();
        let admin_url = database_url();
        let admin = sqlx::PgPool::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {}: {e}.\n\
                 Start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, \
                 or set DATABASE_URL to a server where this user may create databases.",
                carnet_store::redact_url(&admin_url)
            )
        });
        // the name is ours, made of hex digits only: safe to put in the statement
        let name = format!("carnet_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("create database \"{name}\"")).execute(&admin).await.expect("create test database");
        admin.close().await;
        let mut url = url::Url::parse(&admin_url).expect("DATABASE_URL is a URL");
        url.set_path(&name);
        let url: String = url.into();
        let pool = sqlx::PgPool::connect_lazy(&url).expect("a pool on the test database");
        Self { name, url, pool }
    }

    /// Drops the database now, ending every connection to it.
    pub async fn drop_now(&self) {
        let admin = sqlx::PgPool::connect(&database_url()).await.expect("admin connection");
        sqlx::query(&format!("drop database if exists \"{}\" with (force)", self.name))
            .execute(&admin)
            .await
            .expect("drop test database");
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be the current thread: use a thread with
        // its own runtime. `with (force)` ends the test's own connections.
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                if let Ok(admin) = sqlx::PgPool::connect(&database_url()).await {
                    let _ =
                        sqlx::query(&format!("drop database if exists \"{name}\" with (force)")).execute(&admin).await;
                }
            });
        })
        .join();
    }
}

/// A migrated PostgreSQL event store on a fresh database.
pub struct FreshPostgres {
    pub store: PgStore,
    pub db: FreshDatabase,
}

impl FreshPostgres {
    pub fn name(&self) -> &str {
        &self.db.name
    }
    pub fn url(&self) -> &str {
        &self.db.url
    }
}

pub async fn postgres() -> FreshPostgres {
    let db = FreshDatabase::create().await;
    let store = PgStore::connect(&db.url, 20).await.expect("connect to test database");
    store.migrate().await.expect("migrate postgres");
    FreshPostgres { store, db }
}

/// A folder of its own under the system's temporary directory, removed with this handle.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("carnet-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A migrated SQLite event store in a fresh folder.
pub struct FreshSqlite {
    pub store: SqliteStore,
    pub dir: TempDir,
}

pub async fn sqlite() -> FreshSqlite {
    init_logs();
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.path().join("carnet.db").display());
    let store = SqliteStore::connect(&url).await.expect("open sqlite");
    store.migrate().await.expect("migrate sqlite");
    FreshSqlite { store, dir }
}

/// An empty database of either backend, for code that opens its own by URL (the server, the
/// binary): a fresh PostgreSQL database, or a SQLite file (not yet created) in a fresh folder.
pub enum EmptyDatabase {
    Postgres(FreshDatabase),
    Sqlite(TempDir),
}

impl EmptyDatabase {
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => Self::Postgres(FreshDatabase::create().await),
            Backend::Sqlite => {
                init_logs();
                Self::Sqlite(TempDir::new())
            }
        }
    }

    pub fn url(&self) -> String {
        match self {
            Self::Postgres(db) => db.url.clone(),
            Self::Sqlite(dir) => format!("sqlite://{}", dir.path().join("carnet.db").display()),
        }
    }
}

/// The backend a [`for_each_backend!`] test runs on, for what the test itself does differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// PostgreSQL lets a second writer commit while the first is still open; SQLite queues it.
    pub fn concurrent_writers(self) -> bool {
        self == Backend::Postgres
    }
}

/// Either backend's store as code that takes any backend gets it: a [`for_each_backend!`] test
/// of such code takes `store: impl IntoAnyStore`.
pub trait IntoAnyStore {
    fn into_any(self) -> AnyStore;
}

impl IntoAnyStore for PgStore {
    fn into_any(self) -> AnyStore {
        AnyStore::Postgres(self)
    }
}

impl IntoAnyStore for SqliteStore {
    fn into_any(self) -> AnyStore {
        AnyStore::Sqlite(self)
    }
}

/// An inline hook that holds its append's transaction open (after the insert, before the
/// commit) until released: a transaction that took its position early and commits late, as
/// PostgreSQL allows. `HoldOpen::new()` gives the hook, a receiver told once the transaction is
/// inside, and the sender that releases it.
pub struct HoldOpen {
    inside: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    release: tokio::sync::Mutex<Option<tokio::sync::oneshot::Receiver<()>>>,
}

impl HoldOpen {
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> (Self, tokio::sync::oneshot::Receiver<()>, tokio::sync::oneshot::Sender<()>) {
        let (inside_tx, inside_rx) = tokio::sync::oneshot::channel();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel();
        let hold =
            Self { inside: std::sync::Mutex::new(Some(inside_tx)), release: tokio::sync::Mutex::new(Some(release_rx)) };
        (hold, inside_rx, release_tx)
    }
}

impl carnet_store::InlineHook for HoldOpen {
    fn run<'c>(
        &'c self,
        _: carnet_store::TxConn<'c>,
        _: &'c [RecordedEvent],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), carnet_store::StoreError>> + Send + 'c>> {
        Box::pin(async move {
            if let Some(inside) = self.inside.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = inside.send(());
            }
            if let Some(release) = self.release.lock().await.take() {
                let _ = release.await;
            }
            Ok(())
        })
    }
}

/// Runs `sql` on `store`'s database as someone with write access to it would (a test's
/// tampering): on SQLite through the writer.
pub async fn tamper(store: &AnyStore, sql: &str) {
    match store {
        AnyStore::Postgres(s) => sqlx::query(sql).execute(s.pool()).await.map(drop),
        AnyStore::Sqlite(s) => sqlx::query(sql).execute(s.writer()).await.map(drop),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The metadata of a write by `actor`, a person of the tests' own issuer, `carnet-test`.
pub fn metadata(actor: &str) -> Metadata {
    Metadata::new(Actor { id: actor.into(), issuer: "carnet-test".into() })
}

/// The whole log in reading order, once at least `expected` events are readable (within two
/// minutes, or the test fails). On PostgreSQL a writing transaction still open anywhere on the
/// server (another test) holds readers back, by design: wait for it, never assert on time.
pub async fn whole_log<S: EventStore>(store: &S, expected: usize) -> Vec<RecordedEvent> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let mut all = Vec::new();
        let mut after = Checkpoint::START;
        loop {
            let batch = store.read_all(after, 500).await.expect("read_all");
            let Some(last) = batch.last() else { break };
            after = last.checkpoint();
            all.extend(batch);
        }
        if all.len() >= expected {
            return all;
        }
        assert!(std::time::Instant::now() < deadline, "only {} of {expected} events readable", all.len());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Instantiates each generic test `async fn name<S: …>(store: S, backend: Backend)` once per
/// backend, each on a fresh migrated store ([`sqlite`], [`postgres`]) kept until the test ends:
/// `sqlite::name` and `postgres::name`. `S` is the backend's own store type (`SqliteStore`,
/// `PgStore`), so a test may ask for any trait both implement.
///
/// `for_each_backend!(url: name, …)` does the same for tests of code that opens the database
/// itself, `async fn name(url: &str, backend: Backend)`, each on an [`EmptyDatabase`] (on the
/// test's own current-thread runtime, as `#[tokio::test]`).
#[macro_export]
macro_rules! for_each_backend {
    (url: $($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[::tokio::test]
                async fn $test() {
                    let db = $crate::EmptyDatabase::create($crate::Backend::Sqlite).await;
                    super::$test(&db.url(), $crate::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[::tokio::test]
                async fn $test() {
                    let db = $crate::EmptyDatabase::create($crate::Backend::Postgres).await;
                    super::$test(&db.url(), $crate::Backend::Postgres).await;
                }
            )*
        }
    };
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let db = $crate::sqlite().await;
                    super::$test(db.store.clone(), $crate::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let db = $crate::postgres().await;
                    super::$test(db.store.clone(), $crate::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// The workspace's README.md.
pub fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The contents of the README's fenced blocks whose opening line is exactly "```" + `info`
/// (`graphql`, `graphql auditor`, `python` …), in order, each line as written and ended by `\n`.
pub fn readme_blocks(info: &str) -> Vec<String> {
    fenced_blocks(&readme(), info)
}

/// The fenced blocks of `markdown` whose info string is `info` (see [`readme_blocks`]).
pub fn fenced_blocks(markdown: &str, info: &str) -> Vec<String> {
    let mut blocks = vec![];
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        let fence = line.trim_end();
        match current.as_mut() {
            None if fence.strip_prefix("```") == Some(info) => current = Some(String::new()),
            None => {}
            Some(_) if fence == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    blocks
}

/// Carnet's codec without master keys (personal fields in clear), as the tools and tests use it.
pub use carnet_lab::codec::carnet_codec;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_blocks_are_found_by_their_exact_info_string() {
        let md = "text\n```graphql\n{ a }\n```\n```graphql auditor\n{ b }\n  { c }\n```\n```\nplain\n```\n";
        assert_eq!(fenced_blocks(md, "graphql"), ["{ a }\n"]);
        assert_eq!(fenced_blocks(md, "graphql auditor"), ["{ b }\n  { c }\n"]);
        assert!(fenced_blocks(md, "python").is_empty());
    }

    #[test]
    fn the_readme_has_graphql_blocks() {
        assert!(!readme_blocks("graphql").is_empty());
    }
}
