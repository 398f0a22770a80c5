//! The SQLite backend: the embedded default, one file under `./data/`.
//!
//! SQLite has one writer at a time. Appends go through a pool of one connection, so they are
//! serialized in this process and positions are assigned in commit order; readers use their own
//! pool and, in WAL mode, never wait for the writer. `synchronous=FULL`: an acknowledged append
//! survives a power cut.
//!
//! `secure_delete=ON` on every connection: what a delete or an update frees (a cell, a page) is
//! overwritten with zeros, so that an erased person's read-model row, identities and data key
//! leave no bytes in free space or free pages of the file. The WAL keeps the page images of
//! earlier commits until a checkpoint truncates it: the store does that after an erasure and
//! after a rebuild ([`crate::personal_data::scrub`], where the whole decision is written down).

use crate::contract::{self, EventStore, InlineHook, StreamAppend, TxConn, replay_of, same_request};
use crate::error::{StoreError, Unique};
use crate::model::*;
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    wake: Arc<watch::Sender<()>>,
}

/// The condition a catch-up read adds: none — one writer, so what is visible is committed in
/// reading order and nothing can land behind it.
pub(crate) const VISIBLE: &str = "";

impl SqliteStore {
    /// Opens (creating it if needed) the database at `url` (`sqlite://data/carnet.db` or a path).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::InvalidUrl { reason: format!("not a valid SQLite URL: {e}") })?;
        // a new database file, and its folder, readable by their owner only (private_files.rs)
        let file = options.get_filename();
        let name = file.to_string_lossy();
        if !(name.starts_with("file:") || name == ":memory:") {
            crate::private_files::create_private_file(file).map_err(StoreError::unexpected)?;
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("secure_delete", "ON");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options.clone())
            .await?;
        let reader = SqlitePoolOptions::new().max_connections(4).connect_with(options.read_only(true)).await?;
        let (wake, _) = watch::channel(());
        Ok(Self { writer, reader, wake: Arc::new(wake) })
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("../migrations/sqlite").run(&self.writer).await?;
        // a database from before the hash chains gets them, once
        integrity::backfill(&self.writer).await?;
        Ok(())
    }

    /// The writer pool (one connection): for the read models' own writes.
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    pub fn reader(&self) -> &SqlitePool {
        &self.reader
    }
}

/// Fixed width, so that text order is time order.
impl EventStore for SqliteStore {
    async fn append_with(
        &self,
        part: StreamAppend<'_>,
        hook: Option<&dyn InlineHook>,
    ) -> Result<AppendResult, StoreError> {
        let mut results = self.append_all(&[part], hook).await?;
        results.pop().ok_or_else(|| StoreError::unexpected("an append of one stream gave no result"))
    }

    async fn append_all(
        &self,
        parts: &[StreamAppend<'_>],
        hook: Option<&dyn InlineHook>,
    ) -> Result<Vec<AppendResult>, StoreError> {
        contract::check_parts(parts)?;
        let mut tx = begin_write(&self.writer).await?;
        let mut transaction_id = None;
        let mut outcomes = Vec::with_capacity(parts.len());
        for part in parts {
            outcomes.push(append_part(&mut tx, part, &mut transaction_id).await?);
        }
        let written: Vec<RecordedEvent> = outcomes
            .iter()
            .filter_map(|o| match o {
                Part::Written(result) => Some(result.events.iter().cloned()),
                _ => None,
            })
            .flatten()
            .collect();
        if written.is_empty() {
            drop(tx);
        } else {
            if let Some(hook) = hook {
                hook.run(TxConn::Sqlite(&mut tx), &written).await?;
            }
            tx.commit().await?;
            self.wake.send_replace(());
        }
        let mut results = Vec::with_capacity(parts.len());
        for (part, outcome) in parts.iter().zip(outcomes) {
            results.push(match outcome {
                Part::Written(result) => result,
                // one writer: what was seen in the transaction is committed and stays
                Part::Seen => {
                    let first = self
                        .find_command(part.metadata.command_id)
                        .await?
                        .ok_or_else(|| StoreError::unexpected("a command id seen a moment ago has no events"))?;
                    same_request(first, part.stream, part.metadata)?
                }
            });
        }
        Ok(results)
    }

    crate::shared_sql::event_reads!(reader);

    async fn find_command(&self, command_id: Uuid) -> Result<Option<AppendResult>, StoreError> {
        // the append's first event carries the id; the append runs up to the next one that does
        let rows = sqlx::query(
            "select e.global_position, e.transaction_id, e.stream_id, e.stream_version, e.event_id, \
                    e.event_type, e.schema_version, e.payload, e.metadata, e.recorded_at \
             from events f \
             join events e on e.stream_id = f.stream_id and e.stream_version >= f.stream_version \
             where f.command_id = $1 \
               and e.stream_version < coalesce( \
                   (select min(n.stream_version) from events n \
                    where n.stream_id = f.stream_id and n.stream_version > f.stream_version \
                      and n.command_id is not null), \
                   9223372036854775807) \
             order by e.stream_version",
        )
        .bind(command_id.to_string())
        .fetch_all(&self.reader)
        .await?;
        let events = rows.iter().map(decode_row).collect::<Result<Vec<_>, _>>()?;
        Ok(replay_of(events))
    }

    async fn load_snapshot(&self, stream: &StreamId, decider_version: i32) -> Result<Option<Snapshot>, StoreError> {
        let row: Option<(i64, String)> =
            sqlx::query_as("select stream_version, state from snapshots where stream_id = $1 and decider_version = $2")
                .bind(stream.as_str())
                .bind(decider_version)
                .fetch_optional(&self.reader)
                .await?;
        let Some((version, state)) = row else { return Ok(None) };
        let state = serde_json::from_str(&state).map_err(StoreError::unexpected)?;
        Ok(Some(Snapshot { stream_id: stream.clone(), decider_version, stream_version: version as u64, state }))
    }

    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        sqlx::query(
            "insert into snapshots (stream_id, decider_version, stream_version, state, taken_at) values ($1, $2, $3, $4, $5) \
             on conflict (stream_id) do update \
             set decider_version = excluded.decider_version, stream_version = excluded.stream_version, \
                 state = excluded.state, taken_at = excluded.taken_at \
             where snapshots.decider_version <> excluded.decider_version \
                or snapshots.stream_version < excluded.stream_version",
        )
        .bind(snapshot.stream_id.as_str())
        .bind(snapshot.decider_version)
        .bind(snapshot.stream_version as i64)
        .bind(snapshot.state.to_string())
        .bind(timestamp_text(Utc::now()))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    fn database(&self) -> crate::contract::Database<'_> {
        crate::contract::Database::Sqlite { reader: self.reader(), writer: self.writer() }
    }

    fn appended(&self) -> watch::Receiver<()> {
        self.wake.subscribe()
    }
}

/// What one part of an append did inside the transaction.
enum Part {
    /// Appended (or nothing to append: no events).
    Written(AppendResult),
    /// Its command id is already in the log: nothing written for it.
    Seen,
}

/// One stream's part of an append, inside the writer's transaction. `transaction_id` is drawn
/// by the first part that writes and shared by the others.
async fn append_part(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    part: &StreamAppend<'_>,
    transaction_id: &mut Option<i64>,
) -> Result<Part, StoreError> {
    let StreamAppend { stream, expected, events, metadata } = *part;
    // one writer: a retry of the same command cannot race the first attempt here
    let seen: Option<i64> = sqlx::query_scalar("select 1 from events where command_id = $1")
        .bind(metadata.command_id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    if seen.is_some() {
        return Ok(Part::Seen);
    }

    // the stream's head, with the hash the new events chain to (integrity.rs)
    let head: Option<(i64, Option<Vec<u8>>)> = sqlx::query_as(
        "select stream_version, hash from events where stream_id = $1 order by stream_version desc limit 1",
    )
    .bind(stream.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    let (current, head_hash) = head.unwrap_or((0, None));
    if expected.as_db().is_some_and(|v| v != current) {
        return Err(StoreError::Conflict { stream_id: stream.clone(), expected, current_version: current as u64 });
    }
    if events.is_empty() {
        return Ok(Part::Written(AppendResult {
            stream_id: stream.clone(),
            events: vec![],
            stream_version: current as u64,
            replayed: false,
        }));
    }

    // positions are hashed, so they are drawn before the insert, as AUTOINCREMENT would
    let (next_transaction, first_position): (i64, i64) = sqlx::query_as(
        "select (select coalesce(max(transaction_id), 0) + 1 from events), \
                max(coalesce((select seq from sqlite_sequence where name = 'events'), 0), \
                    (select coalesce(max(global_position), 0) from events)) + 1",
    )
    .fetch_one(&mut **tx)
    .await?;
    let transaction_id = *transaction_id.get_or_insert(next_transaction);
    let mut prev_hash: crate::integrity::Hash =
        head_hash.and_then(|h| h.try_into().ok()).unwrap_or(crate::integrity::ZERO_HASH);
    // stored with microseconds, like PostgreSQL: what the append reports is what is read
    let recorded_at = Utc::now().trunc_subsecs(6);
    let recorded_at_text = timestamp_text(recorded_at);
    let metadata_text = serde_json::to_string(metadata).map_err(StoreError::unexpected)?;
    let mut recorded = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let stream_version = current + 1 + i as i64;
        let (event_id, payload) = (e.event_id.to_string(), e.payload.to_string());
        let fields = crate::integrity::EventFields {
            global_position: first_position + i as i64,
            stream_id: stream.as_str(),
            stream_version: stream_version as u64,
            event_id: &event_id,
            event_type: &e.event_type,
            schema_version: e.schema_version,
            payload: &payload,
            metadata: &metadata_text,
            recorded_at: &recorded_at_text,
        };
        let hash = crate::integrity::event_hash(&prev_hash, &fields);
        let inserted = sqlx::query_scalar::<_, i64>(
            "insert into events (global_position, transaction_id, stream_id, stream_version, event_id, event_type, \
             schema_version, payload, metadata, recorded_at, command_id, prev_hash, hash) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) returning global_position",
        )
        .bind(fields.global_position)
        .bind(transaction_id)
        .bind(stream.as_str())
        .bind(stream_version)
        .bind(&event_id)
        .bind(&e.event_type)
        .bind(e.schema_version)
        .bind(&payload)
        .bind(&metadata_text)
        .bind(&recorded_at_text)
        // the first event carries the append's idempotency key
        .bind((i == 0).then(|| metadata.command_id.to_string()))
        .bind(&prev_hash[..])
        .bind(&hash[..])
        .fetch_one(&mut **tx)
        .await;
        let global_position = match inserted {
            Ok(p) => p,
            Err(err) if unique_violation(&err) == Some(Unique::EventId) => {
                return Err(StoreError::DuplicateEvent { event_id: e.event_id });
            }
            Err(err) => return Err(err.into()),
        };
        prev_hash = hash;
        recorded.push(RecordedEvent {
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
        });
    }
    Ok(Part::Written(AppendResult {
        stream_id: stream.clone(),
        events: recorded,
        stream_version: (current + events.len() as i64) as u64,
        replayed: false,
    }))
}

pub(crate) fn decode_row(row: &SqliteRow) -> Result<RecordedEvent, StoreError> {
    let global_position: i64 = row.try_get("global_position")?;
    let stream_id: String = row.try_get("stream_id")?;
    let stream_version = row.try_get::<i64, _>("stream_version")? as u64;
    let unreadable = |what: &str, e: &dyn std::fmt::Display| StoreError::Unreadable {
        stream_id: stream_id.clone(),
        stream_version,
        global_position,
        reason: format!("{what}: {e}"),
    };
    let payload: String = row.try_get("payload")?;
    let metadata: String = row.try_get("metadata")?;
    let event_id: String = row.try_get("event_id")?;
    let recorded_at: String = row.try_get("recorded_at")?;
    Ok(RecordedEvent {
        global_position,
        transaction_id: row.try_get("transaction_id")?,
        stream_id: StreamId::parse(&stream_id)?,
        stream_version,
        event_id: Uuid::parse_str(&event_id).map_err(|e| unreadable("event_id", &e))?,
        event_type: row.try_get("event_type")?,
        schema_version: row.try_get("schema_version")?,
        payload: serde_json::from_str(&payload).map_err(|e| unreadable("payload", &e))?,
        metadata: serde_json::from_str(&metadata).map_err(|e| unreadable("metadata", &e))?,
        recorded_at: DateTime::parse_from_rfc3339(&recorded_at)
            .map_err(|e| unreadable("recorded_at", &e))?
            .with_timezone(&Utc),
    })
}

mod access_log;
mod extent;
mod feed;
#[cfg(test)]
pub(crate) use feed::FEED_DIALECT;
mod integrity;
pub(crate) mod keys;

/// A write transaction on SQLite: `BEGIN IMMEDIATE`, which takes the file's write lock at once,
/// waiting up to the busy timeout for another writer (another process on the same file: `carnet
/// seal`, `carnet checkpoint`, a second server). A deferred `BEGIN` that reads before it writes
/// would instead fail at its first write, without waiting, if another connection wrote since its
/// read (SQLITE_BUSY_SNAPSHOT): a 503 for a write that only had to wait its turn.
pub async fn begin_write(pool: &SqlitePool) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// A JSON column as its text, as stored.
pub(crate) fn json_text(column: &str) -> String {
    column.to_owned()
}

/// `column` as `timestamp_text` writes it: the column itself (times are stored as that text).
pub(crate) fn time_text(column: &str) -> String {
    column.to_owned()
}

/// What statements written once bind with ([`crate::BindArgs`]).
pub(crate) type Db = sqlx::Sqlite;

/// The time of the statement, as the columns store it (the text of [`timestamp_text`]).
pub(crate) const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// `column` is one of the values of the list bound at `placeholder` (one JSON array).
pub(crate) fn any_of(column: &str, placeholder: &str) -> String {
    format!("{column} in (select value from json_each({placeholder}))")
}

/// Every [`Arg`](crate::Arg) as this store keeps it: ids as hyphenated text, times as the
/// fixed-width text of [`timestamp_text`] (text order is time order), lists as one JSON array
/// for `json_each`.
impl crate::arg::BindArgs for sqlx::Sqlite {
    fn bind_args(args: Vec<crate::Arg>) -> Result<sqlx::sqlite::SqliteArguments<'static>, sqlx::Error> {
        use crate::Arg;
        use sqlx::Arguments;
        let mut a = sqlx::sqlite::SqliteArguments::default();
        for arg in args {
            match arg {
                Arg::Text(v) | Arg::Json(v) => a.add(v),
                Arg::Int(v) => a.add(v),
                Arg::Bytes(v) => a.add(v),
                Arg::Date(v) => a.add(v),
                Arg::Time(v) => a.add(timestamp_text(v)),
                Arg::Uuid(v) => a.add(v.to_string()),
                Arg::Texts(v) => a.add(serde_json::Value::from(v).to_string()),
                Arg::Uuids(v) => a.add(serde_json::Value::from_iter(v.iter().map(Uuid::to_string)).to_string()),
            }
            .map_err(sqlx::Error::Encode)?;
        }
        Ok(a)
    }
}

/// Which of the store's unique constraints `e` violated. SQLite names the columns, not the
/// constraint ("UNIQUE constraint failed: events.stream_id, events.stream_version"): the columns
/// tell them apart (a test below violates each).
fn unique_violation(e: &sqlx::Error) -> Option<Unique> {
    const COLUMNS: [(&str, Unique); 3] = [
        ("events.stream_id, events.stream_version", Unique::StreamVersion),
        ("events.event_id", Unique::EventId),
        ("events.command_id", Unique::CommandId),
    ];
    let sqlx::Error::Database(db) = e else { return None };
    let columns = db.message().strip_prefix("UNIQUE constraint failed: ")?;
    COLUMNS.iter().find(|(c, _)| *c == columns).map(|(_, unique)| *unique)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_unique_violation_is_told_apart() {
        let dir = tempfile_dir();
        let store = SqliteStore::connect(&format!("sqlite://{}/t.db", dir.display())).await.unwrap();
        store.migrate().await.unwrap();
        let insert = "insert into events (global_position, transaction_id, stream_id, stream_version, event_id, \
                      event_type, schema_version, payload, metadata, recorded_at, command_id) \
                      values ($1, $1, $2, $3, $4, 'T', 1, '{}', '{}', '2026-01-01T00:00:00.000000Z', $5)";
        let row = |position: i64, stream: &str, version: i64, event: &str, command: Option<&str>| {
            sqlx::query(insert)
                .bind(position)
                .bind(stream.to_owned())
                .bind(version)
                .bind(event.to_owned())
                .bind(command.map(str::to_owned))
        };
        let (a, b, c) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
        row(1, "s-1", 1, &a, Some("c1")).execute(store.writer()).await.unwrap();
        let cases = [
            (row(2, "s-1", 1, &b, None), Unique::StreamVersion),
            (row(2, "s-2", 1, &a, None), Unique::EventId),
            (row(2, "s-2", 1, &c, Some("c1")), Unique::CommandId),
        ];
        for (query, expected) in cases {
            let err = query.execute(store.writer()).await.unwrap_err();
            assert_eq!(unique_violation(&err), Some(expected), "{err}");
        }
        std::fs::remove_dir_all(dir).ok();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("carnet-sqlite-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
