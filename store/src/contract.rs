//! The one interface both backends implement, and the inline hook that runs inside an append.

use crate::error::StoreError;
use crate::model::*;
use crate::personal_data::KeyStore;
use futures::future::BoxFuture;
use std::future::Future;
use uuid::Uuid;

/// A connection inside the append's open transaction, for the work that must commit or roll
/// back with the events (inline projectors, DESIGN §2).
pub enum TxConn<'c> {
    Postgres(&'c mut sqlx::PgConnection),
    Sqlite(&'c mut sqlx::SqliteConnection),
}

/// The database a store runs on, for raw statements where a test or a tool needs one (the
/// store itself never matches on it: its backend code lives in `postgres/` and `sqlite/`).
#[derive(Clone, Copy, Debug)]
pub enum Database<'a> {
    Postgres(&'a sqlx::PgPool),
    Sqlite { reader: &'a sqlx::SqlitePool, writer: &'a sqlx::SqlitePool },
}

/// Work run inside the append transaction, after the events are inserted and before commit.
/// An error rolls the whole append back.
pub trait InlineHook: Send + Sync {
    fn run<'c>(&'c self, tx: TxConn<'c>, events: &'c [RecordedEvent]) -> BoxFuture<'c, Result<(), StoreError>>;
}

/// The event store contract (DESIGN §3). Both backends pass the same contract suite
/// (`store/tests/contract.rs`). Every store also keeps the people's data keys beside its log
/// ([`KeyStore`], DESIGN §3.2).
pub trait EventStore: Clone + Send + Sync + KeyStore + 'static {
    /// Appends `part.events` to `part.stream` if it is at `part.expected`, in one transaction
    /// that also runs `hook`. A `metadata.command_id` seen before returns the first result and
    /// writes nothing.
    fn append_with(
        &self,
        part: StreamAppend<'_>,
        hook: Option<&dyn InlineHook>,
    ) -> impl Future<Output = Result<AppendResult, StoreError>> + Send;

    fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
        metadata: &Metadata,
    ) -> impl Future<Output = Result<AppendResult, StoreError>> + Send {
        async move { self.append_with(StreamAppend { stream, expected, events, metadata }, None).await }
    }

    /// Appends to several streams in **one** transaction, which also runs `hook` over every
    /// event written: all of it commits, or nothing does. Each part is checked as
    /// [`Self::append_with`] checks its one stream (expected version; a `command_id` seen before
    /// returns that part's first result, for the same request only, and writes nothing for
    /// it). Results come in the order of `parts`; the streams must differ. Use it where two
    /// facts are one (a reference number and the entity that bears it): a crash between two
    /// appends cannot separate them.
    fn append_all(
        &self,
        parts: &[StreamAppend<'_>],
        hook: Option<&dyn InlineHook>,
    ) -> impl Future<Output = Result<Vec<AppendResult>, StoreError>> + Send;

    /// Events of one stream with `from_version <= version <= to_version`, in order.
    fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
        to_version: Option<u64>,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// The stream's current version (0 when it does not exist).
    fn stream_version(&self, stream: &StreamId) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Up to `limit` events of the global log after `after`, in reading order. Never returns an
    /// event while an earlier one may still commit, so a reader that checkpoints the last event
    /// it saw skips nothing.
    fn read_all(
        &self,
        after: Checkpoint,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// The result of an earlier append with this command id, if any.
    fn find_command(&self, command_id: Uuid) -> impl Future<Output = Result<Option<AppendResult>, StoreError>> + Send;

    /// The latest snapshot of `stream` taken by `decider_version`.
    fn load_snapshot(
        &self,
        stream: &StreamId,
        decider_version: i32,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send;

    /// Keeps `snapshot` unless a newer one of the same decider version is already stored.
    fn save_snapshot(&self, snapshot: &Snapshot) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Ticks after every append committed through this store (and, on PostgreSQL with
    /// notifications started, through any instance); subscriptions wait on it between reads.
    /// The database this store runs on (see [`Database`]).
    fn database(&self) -> Database<'_>;

    fn appended(&self) -> tokio::sync::watch::Receiver<()>;
}

/// One stream's part of an append ([`EventStore::append_with`], [`EventStore::append_all`]).
#[derive(Clone, Copy, Debug)]
pub struct StreamAppend<'a> {
    pub stream: &'a StreamId,
    pub expected: ExpectedVersion,
    pub events: &'a [NewEvent],
    pub metadata: &'a Metadata,
}

/// What both backends refuse before a joint append writes anything: a stream named twice, text
/// the databases cannot hold, a stream id or event type that cannot be hashed unambiguously.
pub(crate) fn check_parts(parts: &[StreamAppend<'_>]) -> Result<(), StoreError> {
    let mut seen = std::collections::BTreeSet::new();
    if !parts.iter().all(|p| seen.insert(p.stream)) {
        return Err(StoreError::InvalidInput { reason: "one append names each stream once".into() });
    }
    for part in parts {
        check_storable(part.events, part.metadata)?;
        crate::integrity::check_hashable(part.stream, part.events)?;
    }
    Ok(())
}

/// Refuses text the databases cannot hold verbatim: PostgreSQL's `jsonb` has no `\u0000`.
pub(crate) fn check_storable(events: &[NewEvent], metadata: &Metadata) -> Result<(), StoreError> {
    fn has_nul(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(a) => a.iter().any(has_nul),
            serde_json::Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    for e in events {
        if e.event_type.is_empty() || e.event_type.contains('\0') || e.event_type.len() > 100 {
            return Err(StoreError::InvalidInput {
                reason: "an event type is 1 to 100 characters, without NUL".into(),
            });
        }
        if e.schema_version < 1 {
            return Err(StoreError::InvalidInput { reason: "schema versions start at 1".into() });
        }
        if has_nul(&e.payload) {
            return Err(StoreError::InvalidInput {
                reason: format!(
                    "the payload of {} contains a NUL character (U+0000), which the log does not store",
                    e.event_type
                ),
            });
        }
    }
    let m = &metadata.actor;
    let reason_nul = metadata.reason.as_deref().is_some_and(|r| r.contains('\0'));
    if m.id.contains('\0') || m.issuer.contains('\0') || reason_nul {
        return Err(StoreError::InvalidInput { reason: "metadata contains a NUL character (U+0000)".into() });
    }
    Ok(())
}

/// The result a replayed command gets: the events its first attempt wrote.
pub(crate) fn replay_of(events: Vec<RecordedEvent>) -> Option<AppendResult> {
    let last = events.last()?;
    let (stream_id, stream_version) = (last.stream_id.clone(), last.stream_version);
    Some(AppendResult { stream_id, events, stream_version, replayed: true })
}

/// The first result of a command id, given back to a retry of it, if the retry is the same
/// request: on the same stream, with the same fingerprint (when both attempts carry one: ids
/// the store's own callers derive carry none). Anything else is
/// [`StoreError::CommandReused`], and nothing is written.
pub(crate) fn same_request(
    first: AppendResult,
    stream: &StreamId,
    metadata: &Metadata,
) -> Result<AppendResult, StoreError> {
    let recorded = first.events.first().and_then(|e| e.metadata.fingerprint.as_deref());
    let differs = match (recorded, metadata.fingerprint.as_deref()) {
        (Some(then), Some(now)) => then != now,
        _ => false,
    };
    if differs || &first.stream_id != stream {
        return Err(StoreError::CommandReused { command_id: metadata.command_id });
    }
    Ok(first)
}
