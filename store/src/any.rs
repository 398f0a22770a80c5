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

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyStore::Postgres($s) => $e,
            AnyStore::Sqlite($s) => $e,
        }
    };
}

impl EventStore for AnyStore {
    async fn append_with(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
        metadata: &Metadata,
        hook: Option<&dyn InlineHook>,
    ) -> Result<AppendResult, StoreError> {
        dispatch!(self, s => s.append_with(stream, expected, events, metadata, hook).await)
    }

    async fn append_all(
        &self,
        parts: &[StreamAppend<'_>],
        hook: Option<&dyn InlineHook>,
    ) -> Result<Vec<AppendResult>, StoreError> {
        dispatch!(self, s => s.append_all(parts, hook).await)
    }
    async fn read_stream(
        &self,
        stream: &StreamId,
        from: u64,
        to: Option<u64>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        dispatch!(self, s => s.read_stream(stream, from, to).await)
    }
    async fn stream_version(&self, stream: &StreamId) -> Result<u64, StoreError> {
        dispatch!(self, s => s.stream_version(stream).await)
    }
    async fn read_all(&self, after: Checkpoint, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        dispatch!(self, s => s.read_all(after, limit).await)
    }
    async fn find_command(&self, command_id: Uuid) -> Result<Option<AppendResult>, StoreError> {
        dispatch!(self, s => s.find_command(command_id).await)
    }
    async fn load_snapshot(&self, stream: &StreamId, decider_version: i32) -> Result<Option<Snapshot>, StoreError> {
        dispatch!(self, s => s.load_snapshot(stream, decider_version).await)
    }
    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        dispatch!(self, s => s.save_snapshot(snapshot).await)
    }
    fn appended(&self) -> tokio::sync::watch::Receiver<()> {
        dispatch!(self, s => s.appended())
    }
}
