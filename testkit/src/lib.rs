//! # carnet-testkit — fresh databases for tests
//!
//! Every test gets a database of its own (DESIGN §8): a SQLite file in a temporary folder, or a
//! PostgreSQL database created on the server at `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and dropped when the handle is dropped. A
//! missing server fails the test with instructions; nothing is ever skipped.

use carnet_store::{PgStore, SqliteStore};
use std::path::PathBuf;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The server the PostgreSQL tests create their databases on.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned())
}

/// An empty PostgreSQL database of its own, dropped (connections and all) with this handle.
pub struct FreshDatabase {
    pub name: String,
    /// The URL of this database.
    pub url: String,
}

impl FreshDatabase {
    pub async fn create() -> Self {
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
        Self { name, url: url.into() }
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
    pub fn path(&self) -> &std::path::Path {
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
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.path().join("carnet.db").display());
    let store = SqliteStore::connect(&url).await.expect("open sqlite");
    store.migrate().await.expect("migrate sqlite");
    FreshSqlite { store, dir }
}

/// Carnet's codec without master keys (personal fields in clear), as the tools and tests use it:
/// the personal fields the domain declares ([`carnet_domain::person::PersonEvent::PERSONAL_FIELDS`]).
pub fn carnet_codec() -> carnet_store::Codec {
    use carnet_domain::Decider;
    use carnet_domain::person::{Person, PersonEvent};
    carnet_store::Codec::default().with_personal_fields(carnet_store::personal_data::PersonalFields {
        category: Person::CATEGORY,
        fields: PersonEvent::PERSONAL_FIELDS,
        erased_by: PersonEvent::ERASED,
    })
}
