//! Fresh databases for the contract suite: one SQLite file or one PostgreSQL database per test.

#![allow(dead_code)] // each test binary uses a different part

use carnet_store::{PgStore, SqliteStore};

/// What differs between backends for the tests' own assertions.
#[derive(Clone, Copy)]
pub struct Backend {
    /// PostgreSQL lets a second writer commit while the first is still open; SQLite queues it.
    pub concurrent_writers: bool,
}

/// Instantiates each generic test `async fn name<S: EventStore>(store: S, backend: Backend)`
/// once per backend, each on a fresh database: `sqlite::name` and `postgres::name`.
macro_rules! for_each_backend {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let db = crate::common::sqlite().await;
                    super::$test(db.store.clone(), crate::common::Backend { concurrent_writers: false }).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let db = crate::common::postgres().await;
                    super::$test(db.store.clone(), crate::common::Backend { concurrent_writers: true }).await;
                }
            )*
        }
    };
}
use std::path::PathBuf;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The server the PostgreSQL tests create their databases on.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned())
}

pub struct FreshSqlite {
    pub store: SqliteStore,
    dir: PathBuf,
}

impl Drop for FreshSqlite {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub async fn sqlite() -> FreshSqlite {
    let dir = std::env::temp_dir().join(format!("carnet-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = format!("sqlite://{}", dir.join("carnet.db").display());
    let store = SqliteStore::connect(&url).await.expect("open sqlite");
    store.migrate().await.expect("migrate sqlite");
    FreshSqlite { store, dir }
}

pub struct FreshPostgres {
    pub store: PgStore,
    pub name: String,
}

impl FreshPostgres {
    pub fn url(&self) -> String {
        let mut url = url::Url::parse(&database_url()).expect("DATABASE_URL is a URL");
        url.set_path(&self.name);
        url.into()
    }
}

impl Drop for FreshPostgres {
    fn drop(&mut self) {
        // Drop cannot await: use a thread with its own runtime. The test's pool is not touched
        // from here (it belongs to the test's runtime); `with (force)` ends its connections.
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

/// A new, migrated database on the server at `DATABASE_URL`. Fails (never skips) when the
/// server is not there, saying how to start it.
pub async fn postgres() -> FreshPostgres {
    let url = database_url();
    let admin = match sqlx::PgPool::connect(&url).await {
        Ok(pool) => pool,
        Err(e) => panic!(
            "PostgreSQL is not reachable at {url}: {e}.\n\
             Start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, \
             or set DATABASE_URL to a server where this user may create databases."
        ),
    };
    // the name is ours, made of hex digits only: safe to put in the statement
    let name = format!("carnet_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("create database \"{name}\"")).execute(&admin).await.expect("create test database");
    admin.close().await;
    let mut db_url = url::Url::parse(&url).expect("DATABASE_URL is a URL");
    db_url.set_path(&name);
    let store = PgStore::connect(db_url.as_str(), 20).await.expect("connect to test database");
    store.migrate().await.expect("migrate postgres");
    FreshPostgres { store, name }
}
