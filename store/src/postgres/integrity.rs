//! Tamper evidence on PostgreSQL (see [`crate::integrity`]): the JSON rendered as text for the
//! recipe, timestamps rendered as [`timestamp_text`], and sealing never past the horizon.

use super::PgStore;
use crate::error::StoreError;
use crate::integrity::{HashedEvent, NewSeal, SEAL_COLUMNS, SealRow, hash_column};
use crate::model::{Checkpoint, timestamp_text};
use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, StreamExt};
use sqlx::Row;

impl PgStore {
    pub(crate) fn hashed_events(&self, after: Checkpoint) -> BoxStream<'_, Result<HashedEvent, StoreError>> {
        sqlx::query(
            "select transaction_id, global_position, stream_id, stream_version, event_id, event_type, \
             schema_version, payload::text as payload, metadata::text as metadata, recorded_at, prev_hash, hash \
             from events where (transaction_id, global_position) > ($1, $2) \
             order by transaction_id, global_position",
        )
        .bind(after.transaction_id)
        .bind(after.global_position)
        .fetch(self.pool())
        .map(|row| {
            let row = row?;
            let recorded_at: DateTime<Utc> = row.try_get(9)?;
            let event_id: uuid::Uuid = row.try_get(4)?;
            Ok(HashedEvent {
                transaction_id: row.try_get(0)?,
                global_position: row.try_get(1)?,
                stream_id: row.try_get(2)?,
                stream_version: row.try_get::<i64, _>(3)? as u64,
                event_id: event_id.hyphenated().to_string(),
                event_type: row.try_get(5)?,
                schema_version: row.try_get(6)?,
                payload: row.try_get(7)?,
                metadata: row.try_get(8)?,
                recorded_at: timestamp_text(recorded_at),
                prev_hash: hash_column(row.try_get(10)?),
                hash: hash_column(row.try_get(11)?),
            })
        })
        .boxed()
    }

    pub(crate) async fn seal_rows(&self) -> Result<Vec<SealRow>, StoreError> {
        type Row = (i64, i64, i64, i64, Vec<u8>, Vec<u8>, DateTime<Utc>);
        let sql = format!("select {SEAL_COLUMNS} from seals order by seal_number");
        let rows: Vec<Row> = sqlx::query_as(&sql).fetch_all(self.pool()).await?;
        Ok(rows.into_iter().map(|(a, b, c, d, e, f, at)| (a, b, c, d, e, f, timestamp_text(at))).collect())
    }

    /// Up to `limit` (checkpoint, hash) of committed events after `after`, in reading order,
    /// never past an event that may still commit: the catch-up readers' rule (`read_all`), so
    /// that no event can later land inside what was read.
    pub(crate) async fn sealable_after(
        &self,
        after: Checkpoint,
        limit: usize,
    ) -> Result<Vec<(i64, i64, Option<Vec<u8>>)>, StoreError> {
        Ok(sqlx::query_as(
            "select transaction_id, global_position, hash from events \
             where (transaction_id, global_position) > ($1, $2) and transaction_id < carnet_log_horizon() \
             order by transaction_id, global_position limit $3",
        )
        .bind(after.transaction_id)
        .bind(after.global_position)
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?)
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

    /// Committed events after `after`, below the horizon, counted up to `cap`.
    pub(crate) async fn count_unsealed(&self, after: Checkpoint, cap: u64) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from (select 1 from events where (transaction_id, global_position) > ($1, $2) \
             and transaction_id < carnet_log_horizon() limit $3) t",
        )
        .bind(after.transaction_id)
        .bind(after.global_position)
        .bind(cap as i64)
        .fetch_one(self.pool())
        .await?;
        Ok(n as u64)
    }
}
