//! Tamper evidence on SQLite (see [`crate::integrity`]): the JSON and the timestamps are stored
//! as the very text the recipe hashes; one writer, so what is visible is committed in reading
//! order and nothing lands behind it (no horizon). Also the one-time backfill of the chains for
//! a database older than them.

use super::SqliteStore;
use crate::error::StoreError;
use crate::integrity::{EventFields, HashedEvent, NewSeal, SEAL_COLUMNS, SealRow, ZERO_HASH, event_hash, hash_column};
use crate::model::{Checkpoint, timestamp_text};
use chrono::Utc;
use futures::stream::{BoxStream, StreamExt};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// A row of the hashed columns ([`crate::feed::HASHED_COLUMNS`]): SQLite stores the JSON and the
/// timestamp as the very text the recipe hashes.
pub(crate) fn hashed_row(row: &SqliteRow) -> Result<HashedEvent, StoreError> {
    Ok(HashedEvent {
        transaction_id: row.try_get("transaction_id")?,
        global_position: row.try_get("global_position")?,
        stream_id: row.try_get("stream_id")?,
        stream_version: row.try_get::<i64, _>("stream_version")? as u64,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        schema_version: row.try_get("schema_version")?,
        payload: row.try_get("payload")?,
        metadata: row.try_get("metadata")?,
        recorded_at: row.try_get("recorded_at")?,
        prev_hash: hash_column(row.try_get("prev_hash")?),
        hash: hash_column(row.try_get("hash")?),
    })
}

/// Every event after a checkpoint, in reading order, as hashed.
static HASHED_EVENTS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "select {} from events where (transaction_id, global_position) > ($1, $2) \
         order by transaction_id, global_position",
        crate::feed::HASHED_COLUMNS
    )
});

impl SqliteStore {
    pub(crate) fn hashed_events(&self, after: Checkpoint) -> BoxStream<'_, Result<HashedEvent, StoreError>> {
        sqlx::query(&HASHED_EVENTS)
            .bind(after.transaction_id)
            .bind(after.global_position)
            .fetch(self.reader())
            .map(|row| hashed_row(&row?))
            .boxed()
    }

    pub(crate) async fn seal_rows(&self) -> Result<Vec<SealRow>, StoreError> {
        let sql = format!("select {SEAL_COLUMNS} from seals order by seal_number");
        Ok(sqlx::query_as(&sql).fetch_all(self.reader()).await?)
    }

    pub(crate) async fn insert_seal(&self, seal: &NewSeal<'_>) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "insert into seals (seal_number, last_transaction_id, last_global_position, event_count, prev_hash, \
             hash, sealed_at) values ($1, $2, $3, $4, $5, $6, $7) on conflict (seal_number) do nothing \
             returning sealed_at",
        )
        .bind(seal.seal_number)
        .bind(seal.last.transaction_id)
        .bind(seal.last.global_position)
        .bind(seal.event_count as i64)
        .bind(&seal.prev_hash[..])
        .bind(&seal.hash[..])
        .bind(timestamp_text(Utc::now()))
        .fetch_optional(self.writer())
        .await?)
    }
}

/// Hashes, once, the events of a SQLite database that predates the chains (pending while
/// `integrity_backfill` holds its row, which the migration writes). Returns how many it hashed.
pub(crate) async fn backfill(writer: &sqlx::SqlitePool) -> Result<u64, StoreError> {
    const PENDING: &str = "select pending from integrity_backfill";
    // nearly always done: a read, without the file's write lock, which a read-only command
    // (`carnet verify`, `export`, `prove`) beside a busy server must not wait for
    if sqlx::query_scalar::<_, i64>(PENDING).fetch_optional(writer).await?.is_none() {
        return Ok(0);
    }
    let mut tx = super::begin_write(writer).await?;
    let pending: Option<i64> = sqlx::query_scalar(PENDING).fetch_optional(&mut *tx).await?;
    if pending.is_none() {
        return Ok(0);
    }
    type Row = (i64, String, i64, String, String, i32, String, String, String, Option<Vec<u8>>);
    let rows: Vec<Row> = sqlx::query_as(
        "select global_position, stream_id, stream_version, event_id, event_type, schema_version, payload, \
         metadata, recorded_at, hash from events order by stream_id, stream_version",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut stream: Option<String> = None;
    let mut prev = ZERO_HASH;
    let mut hashed = 0;
    for (global_position, stream_id, version, event_id, event_type, schema_version, payload, metadata, at, hash) in rows
    {
        if stream.as_deref() != Some(stream_id.as_str()) {
            prev = ZERO_HASH;
        }
        if let Some(existing) = hash_column(hash) {
            prev = existing;
        } else {
            let fields = EventFields {
                global_position,
                stream_id: &stream_id,
                stream_version: version as u64,
                event_id: &event_id,
                event_type: &event_type,
                schema_version,
                payload: &payload,
                metadata: &metadata,
                recorded_at: &at,
            };
            let hash = event_hash(&prev, &fields);
            sqlx::query("update events set prev_hash = $1, hash = $2 where global_position = $3")
                .bind(&prev[..])
                .bind(&hash[..])
                .bind(global_position)
                .execute(&mut *tx)
                .await?;
            prev = hash;
            hashed += 1;
        }
        stream = Some(stream_id);
    }
    sqlx::query("delete from integrity_backfill").execute(&mut *tx).await?;
    tx.commit().await?;
    if hashed > 0 {
        tracing::info!(events = hashed, "hash chains computed for the events of an older database");
    }
    Ok(hashed)
}
