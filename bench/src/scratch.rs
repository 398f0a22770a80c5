//! Where every benchmark runs: a database of its own, created for the run and removed at the
//! end whatever happens, so that a benchmark never touches real data and two runs never meet.
//!
//! On PostgreSQL, [`ScratchPostgres`] creates a database on the server the user names (any
//! database there they may connect to, e.g. `postgres`) and drops it `with (force)`; the two
//! admin statements are here because the store has no helper for them (it never creates
//! databases). The name is ours, hex digits only, so it is safe inside the statements.

use anyhow::Context;
use carnet_api::startup::redact;
use carnet_store::{AnyStore, PgStore, SqliteStore};
use uuid::Uuid;

/// A fresh PostgreSQL database on a server, dropped by [`Self::remove`].
pub struct ScratchPostgres {
    /// The server's URL as given (its database, not this one).
    pub server_url: String,
    /// `carnet_bench_<hex>`.
    pub name: String,
    /// The server's URL with the database replaced by this one.
    pub url: String,
    /// The server's `server_version`, for the reports.
    pub version: String,
}

impl ScratchPostgres {
    pub async fn create(server_url: &str) -> anyhow::Result<Self> {
        let admin = sqlx::PgPool::connect(server_url)
            .await
            .with_context(|| format!("PostgreSQL is not reachable at {}", redact(server_url)))?;
        let version: String = sqlx::query_scalar("show server_version").fetch_one(&admin).await?;
        let name = format!("carnet_bench_{}", Uuid::new_v4().simple());
        sqlx::query(&format!("create database \"{name}\"")).execute(&admin).await?;
        admin.close().await;
        let url = with_database(server_url, &name)?;
        Ok(Self { server_url: server_url.to_owned(), name, url, version })
    }

    /// Drops the database, even while connections to it remain.
    pub async fn remove(self) -> anyhow::Result<()> {
        let name = &self.name;
        async {
            let admin = sqlx::PgPool::connect(&self.server_url).await?;
            sqlx::query(&format!("drop database if exists \"{name}\" with (force)")).execute(&admin).await?;
            admin.close().await;
            anyhow::Ok(())
        }
        .await
        .with_context(|| format!("cannot drop the bench database {name}"))
    }
}

/// A fresh folder under the system's temporary one (a SQLite file, a token secret), removed by
/// [`Self::remove`].
pub struct ScratchDir(pub std::path::PathBuf);

impl ScratchDir {
    pub fn create() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("carnet-bench-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self(dir))
    }

    pub fn remove(self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `url` with its database (the path) replaced by `name`, query string kept.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let scheme_end = url.find("://").context("the PostgreSQL URL has no scheme")? + 3;
    let (base, query) = match url.find('?') {
        Some(q) => url.split_at(q),
        None => (url, ""),
    };
    let authority_end = base[scheme_end..].find('/').map_or(base.len(), |p| scheme_end + p);
    Ok(format!("{}/{name}{query}", &base[..authority_end]))
}

/// Runs `measure` on a fresh PostgreSQL database of the server at `server_url` (6 connections),
/// then on a fresh SQLite file, each migrated, each removed after whatever happened: the
/// figures of both, PostgreSQL's first.
pub async fn on_both_backends<T, Fut>(
    server_url: &str,
    measure: impl Fn(AnyStore, &'static str) -> Fut,
) -> anyhow::Result<(T, T)>
where
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let db = ScratchPostgres::create(server_url).await?;
    let postgres = async {
        let store = PgStore::connect(&db.url, 6).await?;
        store.migrate().await?;
        let figures = measure(AnyStore::Postgres(store.clone()), "PostgreSQL").await;
        store.pool().close().await;
        figures
    }
    .await;
    db.remove().await?;
    let dir = ScratchDir::create()?;
    let sqlite = async {
        let store = SqliteStore::connect(&format!("sqlite://{}", dir.0.join("bench.db").display())).await?;
        store.migrate().await?;
        measure(AnyStore::Sqlite(store), "SQLite").await
    }
    .await;
    dir.remove();
    Ok((postgres?, sqlite?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bench_database_replaces_the_path_only() {
        let url = |u: &str| with_database(u, "b").expect("url");
        assert_eq!(url("postgres://postgres@127.0.0.1:5432/postgres"), "postgres://postgres@127.0.0.1:5432/b");
        assert_eq!(url("postgres://u:p@h/db?sslmode=disable"), "postgres://u:p@h/b?sslmode=disable");
        assert_eq!(url("postgres://h"), "postgres://h/b");
        assert_eq!(url("postgres://h?x=1"), "postgres://h/b?x=1");
    }
}
