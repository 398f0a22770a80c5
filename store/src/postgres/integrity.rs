//! Tamper evidence on PostgreSQL (see [`crate::integrity`]): the JSON rendered as text for the
//! recipe, timestamps rendered as [`timestamp_text`], and sealing never past the horizon.

use super::PgStore;
use crate::error::StoreError;
use crate::integrity::{HashedEvent, NewSeal, SEAL_COLUMNS, SealRow, hash_column};
use crate::model::{Checkpoint, timestamp_text};
use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, StreamExt};
use sqlx::Row;
use sqlx::postgres::PgRow;

/// A row of the hashed columns (`select` them in [`crate::feed::HASHED_COLUMNS`]' order, the JSON
/// as text): the event as the recipe sees it.
pub(crate) fn hashed_row(row: &PgRow) -> Result<HashedEvent, StoreError> {
    let recorded_at: DateTime<Utc> = row.try_get("recorded_at")?;
    let event_id: uuid::Uuid = row.try_get("event_id")?;
    Ok(HashedEvent {
        transaction_id: row.try_get("transaction_id")?,
        global_position: row.try_get("global_position")?,
        stream_id: row.try_get("stream_id")?,
        stream_version: row.try_get::<i64, _>("stream_version")? as u64,
        event_id: event_id.hyphenated().to_string(),
        event_type: row.try_get("event_type")?,
        schema_version: row.try_get("schema_version")?,
        payload: row.try_get("payload")?,
        metadata: row.try_get("metadata")?,
        recorded_at: timestamp_text(recorded_at),
        prev_hash: hash_column(row.try_get("prev_hash")?),
        hash: hash_column(row.try_get("hash")?),
    })
}

/// Every event after a checkpoint, in reading order, as hashed.
static HASHED_EVENTS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "select {} from events where (transaction_id, global_position) > ($1, $2) \
         order by transaction_id, global_position",
        super::FEED_DIALECT.hashed_columns
    )
});

impl PgStore {
    pub(crate) fn hashed_events(&self, after: Checkpoint) -> BoxStream<'_, Result<HashedEvent, StoreError>> {
        sqlx::query(&HASHED_EVENTS)
            .bind(after.transaction_id)
            .bind(after.global_position)
            .fetch(self.pool())
            .map(|row| hashed_row(&row?))
            .boxed()
    }

    pub(crate) async fn seal_rows(&self) -> Result<Vec<SealRow>, StoreError> {
        type Row = (i64, i64, i64, i64, Vec<u8>, Vec<u8>, DateTime<Utc>);
        let sql = format!("select {SEAL_COLUMNS} from seals order by seal_number");
        let rows: Vec<Row> = sqlx::query_as(&sql).fetch_all(self.pool()).await?;
        Ok(rows.into_iter().map(|(a, b, c, d, e, f, at)| (a, b, c, d, e, f, timestamp_text(at))).collect())
    }

    /// Writes `seal` unless another sealer wrote that number first; its `sealed_at`.
    pub(crate) async fn insert_seal(&self, seal: &NewSeal<'_>) -> Result<Option<String>, StoreError> {
        let at: Option<DateTime<Utc>> = sqlx::query_scalar(
            "insert into seals (seal_number, last_transaction_id, last_global_position, event_count, prev_hash, hash) \
             values ($1, $2, $3, $4, $5, $6) on conflict (seal_number) do nothing returning sealed_at",
        )
        .bind(seal.seal_number)
        .bind(seal.last.transaction_id)
        .bind(seal.last.global_position)
        .bind(seal.event_count as i64)
        .bind(&seal.prev_hash[..])
        .bind(&seal.hash[..])
        .fetch_optional(self.pool())
        .await?;
        Ok(at.map(timestamp_text))
    }
}
