//! Choosing the backend at run time, from a URL.

use crate::contract::{EventStore, InlineHook, StreamAppend};
use crate::database_url::Backend;
use crate::error::StoreError;
use crate::model::*;
use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use uuid::Uuid;

/// Either backend behind the one contract.
#[derive(Clone)]
pub enum AnyStore {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

impl AnyStore {
    /// `postgres://…` / `postgresql://…` or `sqlite://…` / `sqlite:…`; any other scheme (or
    /// none) is [`StoreError::InvalidUrl`], before anything is opened or created (see
    /// [`crate::database_url`]).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        match Backend::of(url)? {
            Backend::Postgres => Ok(Self::Postgres(PgStore::connect(url, 16).await?)),
            Backend::Sqlite => Ok(Self::Sqlite(SqliteStore::connect(url).await?)),
        }
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Self::Postgres(s) => s.migrate().await,
            Self::Sqlite(s) => s.migrate().await,
        }
    }

    /// Live updates across instances; only PostgreSQL has several (see
    /// [`PgStore::start_notifications`]).
    pub async fn start_notifications(&self) -> Result<(), StoreError> {
        match self {
            Self::Postgres(s) => s.start_notifications().await,
            Self::Sqlite(_) => Ok(()),
        }
    }

    /// A trivial query: is the database there?
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Postgres(s) => sqlx::query("select 1").execute(s.pool()).await.map(|_| ()),
            Self::Sqlite(s) => sqlx::query("select 1").execute(s.reader()).await.map(|_| ()),
        }
        .map_err(Into::into)
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgresql",
            Self::Sqlite(_) => "sqlite",
        }
    }
}

/// The one switch on the backend (with [`on_pool!`]): `on_backend!(store, s => s.method(…))`
/// calls the backend's own method, found in `postgres/` or `sqlite/`. Code outside the backend
/// modules uses these two macros and never names a backend.
macro_rules! on_backend {
    ($store:expr, $s:ident => $e:expr) => {
        match $store {
            $crate::any::AnyStore::Postgres($s) => $e,
            $crate::any::AnyStore::Sqlite($s) => $e,
        }
    };
}

/// A statement both backends run as written (`$n` placeholders, standard SQL, values as
/// [`crate::Arg`]s), on any store's ([`crate::EventStore::database`]) reading pool (`reader`:
/// PostgreSQL's pool, SQLite's readers) or its writing one (`writer`: the same pool, SQLite's
/// single writer): `on_pool!(store, reader pool => …)`. Inside, `backend` names the backend's
/// module, for what the statement takes from it (its `VISIBLE` condition, its `Db` to bind
/// with, its row decoding).
macro_rules! on_pool {
    ($store:expr, reader $pool:ident => $e:expr) => {
        $crate::any::on_pool!(@ $store, $pool, reader => $e)
    };
    ($store:expr, writer $pool:ident => $e:expr) => {
        $crate::any::on_pool!(@ $store, $pool, writer => $e)
    };
    (@ $store:expr, $pool:ident, $sqlite_pool:ident => $e:expr) => {
        match $crate::contract::EventStore::database($store) {
            $crate::contract::Database::Postgres($pool) => {
                #[allow(unused_imports)]
                use $crate::postgres as backend;
                $e
            }
            $crate::contract::Database::Sqlite { $sqlite_pool: $pool, .. } => {
                #[allow(unused_imports)]
                use $crate::sqlite as backend;
                $e
            }
        }
    };
}

/// The same switch on the append's transaction ([`crate::TxConn`]): `on_tx!(tx, c, backend =>
/// backend::keys::fetch_in(c, …))` calls the function of that name in `postgres/` or `sqlite/`.
macro_rules! on_tx {
    ($tx:expr, $c:ident, $backend:ident => $e:expr) => {
        match $tx {
            $crate::contract::TxConn::Postgres($c) => {
                use $crate::postgres as $backend;
                $e
            }
            $crate::contract::TxConn::Sqlite($c) => {
                use $crate::sqlite as $backend;
                $e
            }
        }
    };
}

pub(crate) use {on_backend, on_pool, on_tx};

impl EventStore for AnyStore {
    #[tracing::instrument(level = "debug", name = "store.append", skip_all, fields(stream = %part.stream, events = part.events.len()))]
    async fn append_with(
        &self,
        part: StreamAppend<'_>,
        hook: Option<&dyn InlineHook>,
    ) -> Result<AppendResult, StoreError> {
        on_backend!(self, s => s.append_with(part, hook).await)
    }

    #[tracing::instrument(level = "debug", name = "store.append_all", skip_all, fields(streams = parts.len()))]
    async fn append_all(
        &self,
        parts: &[StreamAppend<'_>],
        hook: Option<&dyn InlineHook>,
    ) -> Result<Vec<AppendResult>, StoreError> {
        on_backend!(self, s => s.append_all(parts, hook).await)
    }
    #[tracing::instrument(level = "debug", name = "store.read_stream", skip_all, fields(stream = %stream, from))]
    async fn read_stream(
        &self,
        stream: &StreamId,
        from: u64,
        to: Option<u64>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        on_backend!(self, s => s.read_stream(stream, from, to).await)
    }
    async fn stream_version(&self, stream: &StreamId) -> Result<u64, StoreError> {
        on_backend!(self, s => s.stream_version(stream).await)
    }
    #[tracing::instrument(level = "debug", name = "store.read_all", skip_all, fields(after = ?after, limit))]
    async fn read_all(&self, after: Checkpoint, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        on_backend!(self, s => s.read_all(after, limit).await)
    }
    async fn find_command(&self, command_id: Uuid) -> Result<Option<AppendResult>, StoreError> {
        on_backend!(self, s => s.find_command(command_id).await)
    }
    async fn load_snapshot(&self, stream: &StreamId, decider_version: i32) -> Result<Option<Snapshot>, StoreError> {
        on_backend!(self, s => s.load_snapshot(stream, decider_version).await)
    }
    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        on_backend!(self, s => s.save_snapshot(snapshot).await)
    }
    fn database(&self) -> crate::contract::Database<'_> {
        on_backend!(self, s => s.database())
    }

    fn appended(&self) -> tokio::sync::watch::Receiver<()> {
        on_backend!(self, s => s.appended())
    }
}

impl crate::feed::Feed for AnyStore {
    async fn read_feed(
        &self,
        filter: &crate::feed::FeedFilter,
        after: Checkpoint,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        on_backend!(self, s => s.read_feed(filter, after, limit).await)
    }

    async fn read_feed_back(
        &self,
        filter: &crate::feed::FeedFilter,
        before: Option<Checkpoint>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        on_backend!(self, s => s.read_feed_back(filter, before, limit).await)
    }

    async fn count_feed(&self, filter: &crate::feed::FeedFilter) -> Result<u64, StoreError> {
        on_backend!(self, s => s.count_feed(filter).await)
    }

    async fn read_hashed(
        &self,
        filter: &crate::feed::FeedFilter,
        after: Checkpoint,
        limit: usize,
    ) -> Result<Vec<crate::integrity::HashedEvent>, StoreError> {
        on_backend!(self, s => s.read_hashed(filter, after, limit).await)
    }
}

impl crate::personal_data::KeyStore for AnyStore {
    async fn scrub(&self, tables: &[&str]) -> Result<(), StoreError> {
        on_backend!(self, s => s.scrub(tables).await)
    }
}
