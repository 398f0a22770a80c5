//! The PostgreSQL backend: production, several API instances on one database.
//!
//! Appends go through the `carnet_append` function (migrations/postgres), one round trip.
//! Readers follow `(transaction_id, global_position)` and read only events of transactions
//! older than the oldest one still running (`pg_snapshot_xmin`): a transaction that took its
//! position early and commits late is read when it commits, never skipped.

use crate::contract::{self, EventStore, InlineHook, StreamAppend, TxConn, check_storable, replay_of};
use crate::error::{StoreError, Unique};
use crate::model::*;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// Prepared statements kept per connection (see [`PgStore::connect_options`]).
const STATEMENT_CACHE: usize = 1024;

/// A pooled connection idle this long is pinged before it is handed out (see [`PgStore::connect`]).
const PING_IDLE_AFTER: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Ticks for subscribers: local appends, and appends of other instances once
    /// [`PgStore::start_notifications`] runs.
    wake: Arc<watch::Sender<()>>,
    /// Ticks for local appends only: what the notifier tells other instances.
    local: Arc<watch::Sender<()>>,
}

/// The condition a catch-up read adds: every committed event below the oldest running
/// transaction (`carnet_log_horizon`, migration 0009), so that no event can later land behind
/// what was read (DESIGN §3, "Ordering without skipped events").
pub(crate) const VISIBLE: &str = "and transaction_id < carnet_log_horizon()";

/// How long the first connection to PostgreSQL may take before the start fails.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One connection to the server, under [`CONNECT_TIMEOUT`]; see [`PgStore::connect`].
async fn first_connection(options: &PgConnectOptions) -> Result<(), StoreError> {
    use sqlx::{ConnectOptions, Connection};
    let address = match options.get_socket() {
        Some(dir) => format!("the socket {}/.s.PGSQL.{}", dir.display(), options.get_port()),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    };
    let unreachable = |cause: String| StoreError::Unreachable { address: address.clone(), cause };
    let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
    let mut backoff = Duration::from_millis(50);
    loop {
        let refused = match tokio::time::timeout_at(deadline, options.connect()).await {
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
                return Ok(());
            }
            Ok(Err(sqlx::Error::Io(e))) if e.kind() == std::io::ErrorKind::ConnectionRefused => e.to_string(),
            // "the database system is starting up": an answer, but not yet a connection
            Ok(Err(sqlx::Error::Database(e))) if e.code().as_deref() == Some("57P03") => e.to_string(),
            // no route, no such host…: nothing to wait for
            Ok(Err(sqlx::Error::Io(e))) => return Err(unreachable(e.to_string())),
            // the server answered: a refused password, a database that does not exist, TLS…
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => return Err(unreachable(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))),
        };
        if tokio::time::Instant::now() + backoff >= deadline {
            return Err(unreachable(format!("{refused} (tried for {} s)", CONNECT_TIMEOUT.as_secs())));
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// The LISTEN/NOTIFY channel on which instances announce appends.
const CHANNEL: &str = "carnet_events";

impl PgStore {
    /// Connects to `url` (`postgres://…`). Migrations are applied separately by [`Self::migrate`].
    ///
    /// A server that does not answer fails within [`CONNECT_TIMEOUT`], as
    /// [`StoreError::Unreachable`] naming its host and port: the first connection is made
    /// here, under that deadline (the pool alone would wait for its 10 s acquire timeout and
    /// then say only "pool timed out"). A refused connection is tried again until the
    /// deadline (a database starting next to Carnet); an error the server answered with (a
    /// refused password, a missing database) is returned at once.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = Self::connect_options(url)?;
        first_connection(&options).await?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            // sqlx pings every connection it hands out (one more round trip per statement
            // group: 4 of a mutation's, 2 of a list's); only one idle long enough to have been
            // dropped by the server, a firewall or a restart is pinged here. A connection that
            // died meanwhile fails its statement, is closed by sqlx, and the request gets
            // `UNAVAILABLE` with `Retry-After` (error.rs of the API): a clear refusal, never a
            // wrong answer, and nothing acknowledged is lost (a COMMIT that fails is not one).
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IDLE_AFTER {
                        use sqlx::Connection;
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self::from_pool(pool))
    }

    /// Options for Carnet's connections. `synchronous_commit` is forced on for them whatever
    /// the server's default: an acknowledged append must survive a crash (DESIGN §3); JIT
    /// compilation off (see below).
    /// A malformed URL or a parameter the driver does not know is [`StoreError::InvalidUrl`].
    pub fn connect_options(url: &str) -> Result<PgConnectOptions, StoreError> {
        // first: the driver logs the value of a parameter it does not know (a misspelt password)
        crate::database_url::check_postgres_parameters(url)?;
        let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::InvalidUrl {
            // the URL parser's messages ("invalid port number") never quote the URL
            reason: format!("not a valid PostgreSQL URL: {e}"),
        })?;
        // sqlx keeps 100 prepared statements per connection by default, fewer than the
        // statements Carnet's read models, projectors and log use (each read model's lists,
        // loads and child tables, the append, the tree, the feeds…): past it the least recently
        // used is closed and the next use parses and plans it again, a round trip and most of a
        // statement's CPU on the server (issue 13's profile of PostgreSQL during mutations)
        //
        // No JIT compilation: PostgreSQL compiles a statement whose estimated cost passes
        // `jit_above_cost` (the indicators over a large read model, a rebuild's batch), which
        // costs tens of milliseconds per execution for statements that run in a few (issue
        // 13's profiles: LLVM in the server's CPU during a rebuild and `indicators`).
        //
        // Generic plans: PostgreSQL plans a prepared statement with its values five times, then
        // keeps a generic plan only if it does not look dearer; for 17 of Carnet's statements
        // it always looked dearer — a list of ids (`= any($1)`: its length unknown), a `LIMIT`
        // parameter — so each was planned anew at every execution, up to half of a statement's
        // time on the server (BENCHMARKS.md, "Plans kept"). Carnet's statements find rows by
        // key, by indexed keyset or by range index, whose plans do not depend on the values;
        // their LIMITs are written in, and a filter on one value is an equality (the
        // projections' `any_of`), estimated from the column's statistics. tests/server/plans.rs
        // fails if a statement is planned again at each execution.
        Ok(options
            .application_name("carnet")
            .options([("synchronous_commit", "on"), ("jit", "off"), ("plan_cache_mode", "force_generic_plan")])
            .statement_cache_capacity(STATEMENT_CACHE))
    }

    pub fn from_pool(pool: PgPool) -> Self {
        let (wake, _) = watch::channel(());
        let (local, _) = watch::channel(());
        Self { pool, wake: Arc::new(wake), local: Arc::new(local) }
    }

    /// Live updates across instances (DESIGN §2.1): a listener turns other instances'
    /// notifications into wake-ups for this instance's subscribers, and a notifier announces
    /// this instance's appends. The notifier runs after commit, off the append's path, and
    /// coalesces: a burst of appends costs one `NOTIFY`. Subscribers poll anyway, so a lost
    /// notification delays an update, it never loses one. Both tasks end with the pool.
    pub async fn start_notifications(&self) -> Result<(), StoreError> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        let wake = self.wake.clone();
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(_) => {
                        wake.send_replace(());
                    }
                    // PgListener reconnects by itself; a closed pool ends the task
                    Err(sqlx::Error::PoolClosed) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN interrupted");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        let mut local = self.local.subscribe();
        let pool = self.pool.clone();
        tokio::spawn(async move {
            while local.changed().await.is_ok() {
                if pool.is_closed() {
                    break;
                }
                if let Err(e) = sqlx::query("select pg_notify($1, '')").bind(CHANNEL).execute(&pool).await {
                    tracing::warn!(error = %e, "NOTIFY failed; other instances will poll");
                }
            }
        });
        Ok(())
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("../migrations/postgres").run(&self.pool).await?;
        // a log restored from another cluster is numbered after, not before (`extent.rs`)
        extent::adopt(&self.pool).await?;
        Ok(())
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Tells this instance's subscribers and the notifier that events were committed.
    fn wake_subscribers(&self) {
        self.wake.send_replace(());
        self.local.send_replace(());
    }

    /// The result of an append that wrote `events`, once committed: wakes the subscribers.
    fn written(&self, stream: &StreamId, events: Vec<RecordedEvent>) -> AppendResult {
        self.wake_subscribers();
        let stream_version = events.last().map(|e| e.stream_version).unwrap_or_default();
        AppendResult { stream_id: stream.clone(), events, stream_version, replayed: false }
    }

    async fn events_at_positions(&self, positions: &[i64]) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!("select {EVENT_COLUMNS} from events where global_position = any($1) order by stream_version");
        let rows = sqlx::query(&sql).bind(positions).fetch_all(&self.pool).await?;
        rows.iter().map(decode_row).collect()
    }

    /// Maps a failed append: both ways a version conflict shows up, a duplicate event id, or
    /// whatever else went wrong.
    async fn append_error(
        &self,
        e: sqlx::Error,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> StoreError {
        if let sqlx::Error::Database(db) = &e
            && db.code().as_deref() == Some("CA409")
        {
            // carnet_append reports the current version in DETAIL
            let current = db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .and_then(|pg| pg.detail())
                .and_then(|d| d.parse::<u64>().ok());
            if let Some(current_version) = current {
                return StoreError::Conflict { stream_id: stream.clone(), expected, current_version };
            }
        }
        match unique_violation(&e) {
            // a concurrent writer passed the version check at the same time and committed first
            Some(Unique::StreamVersion) => match self.stream_version(stream).await {
                Ok(current_version) => StoreError::Conflict { stream_id: stream.clone(), expected, current_version },
                Err(read_error) => read_error,
            },
            Some(Unique::EventId) => {
                StoreError::DuplicateEvent { event_id: events.first().map(|e| e.event_id).unwrap_or_default() }
            }
            _ => e.into(),
        }
    }
}

/// What `carnet_append` answers (migration 0017): one row per append.
#[derive(sqlx::FromRow)]
struct Appended {
    /// The events' positions in version order: those it wrote, or, replayed, those the command
    /// wrote the first time. Null for an append of no event.
    positions: Option<Vec<i64>>,
    /// The version of the first event written (written only).
    first_version: Option<i64>,
    transaction_id: Option<i64>,
    recorded_at: Option<DateTime<Utc>>,
    replayed: Option<bool>,
}

impl Appended {
    fn replayed(&self) -> bool {
        self.replayed == Some(true)
    }

    fn positions(&self) -> &[i64] {
        self.positions.as_deref().unwrap_or_default()
    }
}

/// The one call of `carnet_append`, for a single append and for each stream of a joint one.
fn carnet_append<'q>(
    stream: &'q StreamId,
    expected: ExpectedVersion,
    events: &'q [NewEvent],
    metadata: &Metadata,
    meta_json: &'q serde_json::Value,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, Appended, sqlx::postgres::PgArguments> {
    sqlx::query_as::<_, Appended>(
        "select positions, first_version, transaction_id, recorded_at, replayed \
         from carnet_append($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(stream.as_str())
    .bind(expected.as_db())
    .bind(metadata.command_id)
    .bind(events.iter().map(|e| e.event_id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.schema_version).collect::<Vec<_>>())
    .bind(events.iter().map(|e| &e.payload).collect::<Vec<_>>())
    .bind(meta_json)
}

impl EventStore for PgStore {
    async fn append_with(
        &self,
        part: StreamAppend<'_>,
        hook: Option<&dyn InlineHook>,
    ) -> Result<AppendResult, StoreError> {
        let StreamAppend { stream, expected, events, metadata } = part;
        check_storable(events, metadata)?;
        crate::integrity::check_hashable(stream, events)?;
        if events.is_empty() {
            // nothing to write; the version check still applies
            let stream_version = self.stream_version(stream).await?;
            if expected.as_db().is_some_and(|v| v as u64 != stream_version) {
                return Err(StoreError::Conflict {
                    stream_id: stream.clone(),
                    expected,
                    current_version: stream_version,
                });
            }
            return Ok(AppendResult { stream_id: stream.clone(), events: vec![], stream_version, replayed: false });
        }
        let meta_json = serde_json::to_value(metadata).map_err(StoreError::unexpected)?;
        let query = carnet_append(stream, expected, events, metadata, &meta_json);

        let outcome = match hook {
            None => query.fetch_one(&self.pool).await,
            Some(hook) => {
                let mut tx = self.pool.begin().await?;
                match query.fetch_one(&mut *tx).await {
                    Ok(appended) if !appended.replayed() => {
                        let recorded = recorded(stream, events, metadata, &appended)?;
                        hook.run(TxConn::Postgres(&mut tx), &recorded).await?;
                        tx.commit().await?;
                        return Ok(self.written(stream, recorded));
                    }
                    other => other,
                }
            }
        };
        let appended = match outcome {
            Ok(appended) => appended,
            Err(e) if unique_violation(&e) == Some(Unique::CommandId) => {
                // the same command id committed concurrently on another stream: its result
                let first = self.find_command(metadata.command_id).await?.ok_or(StoreError::Unavailable(e))?;
                return contract::same_request(first, stream, metadata);
            }
            Err(e) => return Err(self.append_error(e, stream, expected, events).await),
        };
        if !appended.replayed() {
            let recorded = recorded(stream, events, metadata, &appended)?;
            return Ok(self.written(stream, recorded));
        }
        let events = self.events_at_positions(appended.positions()).await?;
        let stream_version = events.last().map(|e| e.stream_version).unwrap_or_default();
        let stream_id = events.first().map(|e| e.stream_id.clone()).unwrap_or_else(|| stream.clone());
        let result = AppendResult { stream_id, events, stream_version, replayed: true };
        contract::same_request(result, stream, metadata)
    }

    async fn append_all(
        &self,
        parts: &[StreamAppend<'_>],
        hook: Option<&dyn InlineHook>,
    ) -> Result<Vec<AppendResult>, StoreError> {
        contract::check_parts(parts)?;
        let mut tx = self.pool.begin().await?;
        // Every stream's lock before anything is written, in one order (by name) so that two
        // such appends cannot deadlock: carnet_append takes its stream's lock before the
        // transaction has an id, which keeps each stream in order in the reading order, and a
        // lock taken after a first insert would not. carnet_append takes them again (they stack).
        let mut streams: Vec<&str> = parts.iter().map(|p| p.stream.as_str()).collect();
        streams.sort_unstable();
        for stream in streams {
            sqlx::query("select pg_advisory_xact_lock(1, hashtext($1))").bind(stream).execute(&mut *tx).await?;
        }
        let mut outcomes: Vec<Option<Appended>> = Vec::with_capacity(parts.len());
        for part in parts {
            let StreamAppend { stream, expected, events, metadata } = *part;
            if events.is_empty() {
                let current: i64 =
                    sqlx::query_scalar("select coalesce(max(stream_version), 0) from events where stream_id = $1")
                        .bind(stream.as_str())
                        .fetch_one(&mut *tx)
                        .await?;
                if expected.as_db().is_some_and(|v| v != current) {
                    return Err(StoreError::Conflict {
                        stream_id: stream.clone(),
                        expected,
                        current_version: current as u64,
                    });
                }
                outcomes.push(None);
                continue;
            }
            let meta_json = serde_json::to_value(metadata).map_err(StoreError::unexpected)?;
            match carnet_append(stream, expected, events, metadata, &meta_json).fetch_one(&mut *tx).await {
                Ok(appended) => outcomes.push(Some(appended)),
                // the same command id on another stream, committed meanwhile: another request
                Err(e) if unique_violation(&e) == Some(Unique::CommandId) => {
                    return Err(StoreError::CommandReused { command_id: metadata.command_id });
                }
                Err(e) => return Err(self.append_error(e, stream, expected, events).await),
            }
        }
        // the events written, every part's in order, and how many each part wrote
        let mut written: Vec<RecordedEvent> = vec![];
        let mut counts = Vec::with_capacity(parts.len());
        for (part, appended) in parts.iter().zip(&outcomes) {
            let recorded = match appended {
                // written (`recorded` refuses an answer that does not account for every event)
                Some(appended) if !appended.replayed() => recorded(part.stream, part.events, part.metadata, appended)?,
                _ => vec![],
            };
            counts.push(recorded.len());
            written.extend(recorded);
        }
        if written.is_empty() {
            drop(tx);
        } else {
            if let Some(hook) = hook {
                hook.run(TxConn::Postgres(&mut tx), &written).await?;
            }
            tx.commit().await?;
            self.wake_subscribers();
        }
        let mut written = written.into_iter();
        let mut results = Vec::with_capacity(parts.len());
        for ((part, appended), count) in parts.iter().zip(outcomes).zip(counts) {
            let result = match appended {
                None => {
                    let stream_version = self.stream_version(part.stream).await?;
                    AppendResult { stream_id: part.stream.clone(), events: vec![], stream_version, replayed: false }
                }
                Some(appended) if appended.replayed() => {
                    let events = self.events_at_positions(appended.positions()).await?;
                    let last =
                        events.last().ok_or_else(|| StoreError::unexpected("a replayed append has no events"))?;
                    let (stream_id, stream_version) = (last.stream_id.clone(), last.stream_version);
                    contract::same_request(
                        AppendResult { stream_id, events, stream_version, replayed: true },
                        part.stream,
                        part.metadata,
                    )?
                }
                Some(_) => {
                    let events: Vec<RecordedEvent> = written.by_ref().take(count).collect();
                    let stream_version = events.last().map(|e| e.stream_version).unwrap_or_default();
                    AppendResult { stream_id: part.stream.clone(), events, stream_version, replayed: false }
                }
            };
            results.push(result);
        }
        Ok(results)
    }

    crate::shared_sql::event_reads!(pool);

    async fn find_command(&self, command_id: Uuid) -> Result<Option<AppendResult>, StoreError> {
        let sql = format!("select {EVENT_COLUMNS} from carnet_command_events($1)");
        let rows = sqlx::query(&sql).bind(command_id).fetch_all(&self.pool).await?;
        let events = rows.iter().map(decode_row).collect::<Result<Vec<_>, _>>()?;
        Ok(replay_of(events))
    }

    async fn load_snapshot(&self, stream: &StreamId, decider_version: i32) -> Result<Option<Snapshot>, StoreError> {
        let row: Option<(i64, serde_json::Value)> =
            sqlx::query_as("select stream_version, state from snapshots where stream_id = $1 and decider_version = $2")
                .bind(stream.as_str())
                .bind(decider_version)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(v, state)| Snapshot {
            stream_id: stream.clone(),
            decider_version,
            stream_version: v as u64,
            state,
        }))
    }

    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        sqlx::query(
            "insert into snapshots (stream_id, decider_version, stream_version, state) values ($1, $2, $3, $4) \
             on conflict (stream_id) do update \
             set decider_version = excluded.decider_version, stream_version = excluded.stream_version, \
                 state = excluded.state, taken_at = now() \
             where snapshots.decider_version <> excluded.decider_version \
                or snapshots.stream_version < excluded.stream_version",
        )
        .bind(snapshot.stream_id.as_str())
        .bind(snapshot.decider_version)
        .bind(snapshot.stream_version as i64)
        .bind(&snapshot.state)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    fn database(&self) -> crate::contract::Database<'_> {
        crate::contract::Database::Postgres(self.pool())
    }

    fn appended(&self) -> watch::Receiver<()> {
        self.wake.subscribe()
    }
}

/// The events an append wrote, from what the caller sent and what `carnet_append` answered.
fn recorded(
    stream: &StreamId,
    events: &[NewEvent],
    metadata: &Metadata,
    appended: &Appended,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let (Some(first_version), Some(transaction_id), Some(recorded_at)) =
        (appended.first_version, appended.transaction_id, appended.recorded_at)
    else {
        return Err(StoreError::unexpected("carnet_append wrote events but did not say where"));
    };
    let positions = appended.positions();
    if positions.len() != events.len() {
        return Err(StoreError::unexpected(format!(
            "carnet_append wrote {} events of {}",
            positions.len(),
            events.len()
        )));
    }
    Ok(events
        .iter()
        .zip(positions)
        .zip(first_version..)
        .map(|((e, &global_position), stream_version)| RecordedEvent {
            global_position,
            transaction_id,
            stream_id: stream.clone(),
            stream_version: stream_version as u64,
            event_id: e.event_id,
            event_type: e.event_type.clone(),
            schema_version: e.schema_version,
            payload: e.payload.clone(),
            metadata: metadata.clone(),
            recorded_at,
        })
        .collect())
}

pub(crate) fn decode_row(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    let global_position: i64 = row.try_get("global_position")?;
    let stream_id: String = row.try_get("stream_id")?;
    let stream_version = row.try_get::<i64, _>("stream_version")? as u64;
    let metadata: serde_json::Value = row.try_get("metadata")?;
    let metadata = serde_json::from_value(metadata).map_err(|e| StoreError::Unreadable {
        stream_id: stream_id.clone(),
        stream_version,
        global_position,
        reason: format!("metadata: {e}"),
    })?;
    Ok(RecordedEvent {
        global_position,
        transaction_id: row.try_get("transaction_id")?,
        stream_id: StreamId::parse(&stream_id)?,
        stream_version,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        schema_version: row.try_get("schema_version")?,
        payload: row.try_get("payload")?,
        metadata,
        recorded_at: row.try_get("recorded_at")?,
    })
}

mod access_log;
mod extent;
mod feed;
pub(crate) use feed::FEED_DIALECT;
mod integrity;
pub(crate) mod keys;

/// A JSON column as its text, as stored.
pub(crate) fn json_text(column: &str) -> String {
    format!("{column}::text")
}

/// `column` (a `timestamptz`) as `timestamp_text` writes it: UTC, microseconds, fixed width.
pub(crate) fn time_text(column: &str) -> String {
    format!("to_char({column} at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
}

/// What statements written once bind with ([`crate::BindArgs`]).
pub(crate) type Db = sqlx::Postgres;

/// The time of the statement, as the columns store it.
pub(crate) const NOW: &str = "now()";

/// `column` is one of the values of the list bound at `placeholder` ([`crate::Arg::Texts`],
/// [`crate::Arg::Uuids`]).
pub(crate) fn any_of(column: &str, placeholder: &str) -> String {
    format!("{column} = any({placeholder})")
}

/// Every [`Arg`](crate::Arg) in PostgreSQL's own type: lists as arrays.
impl crate::arg::BindArgs for sqlx::Postgres {
    fn bind_args(args: Vec<crate::Arg>) -> Result<sqlx::postgres::PgArguments, sqlx::Error> {
        use crate::Arg;
        use sqlx::Arguments;
        let mut a = sqlx::postgres::PgArguments::default();
        for arg in args {
            match arg {
                Arg::Text(v) | Arg::Json(v) => a.add(v),
                Arg::Int(v) => a.add(v),
                Arg::Bytes(v) => a.add(v),
                Arg::Date(v) => a.add(v),
                Arg::Time(v) => a.add(v),
                Arg::Uuid(v) => a.add(v),
                Arg::Texts(v) => a.add(v),
                Arg::Uuids(v) => a.add(v),
            }
            .map_err(sqlx::Error::Encode)?;
        }
        Ok(a)
    }
}

/// Which of the store's unique constraints `e` violated: PostgreSQL names the constraint.
fn unique_violation(e: &sqlx::Error) -> Option<Unique> {
    let sqlx::Error::Database(db) = e else { return None };
    match db.constraint()? {
        "events_stream_version_key" => Some(Unique::StreamVersion),
        "events_event_id_key" => Some(Unique::EventId),
        "events_command_id_key" => Some(Unique::CommandId),
        _ => None,
    }
}
