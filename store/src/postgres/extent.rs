//! The log's extent on PostgreSQL: adopting a log restored from another cluster (the
//! transaction-id offset of migration 0009) and the high-water mark (see [`crate::extent`]).

use super::PgStore;
use crate::error::StoreError;

/// Adopts a log restored from another PostgreSQL cluster (see [`crate::extent`]); returns the
/// new transaction-id offset, or `None` when the log needed nothing. Called by
/// [`PgStore::migrate`].
pub(crate) async fn adopt(pool: &sqlx::PgPool) -> Result<Option<i64>, StoreError> {
    let offset: Option<i64> = sqlx::query_scalar("select carnet_adopt_log()").fetch_one(pool).await?;
    if let Some(offset) = offset {
        tracing::warn!(
            offset,
            "this log was written by another PostgreSQL cluster (a restore): its transaction ids are above this \
             cluster's; later events are now numbered after them"
        );
    }
    Ok(offset)
}

impl PgStore {
    pub(crate) async fn transaction_id_offset(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("select carnet_xid_offset()").fetch_one(self.pool()).await?)
    }

    pub(crate) async fn raise_extent(&self, last: i64) -> Result<(), StoreError> {
        sqlx::query(
            "insert into log_extent (id, last_global_position) values (1, $1) \
             on conflict (id) do update set last_global_position = greatest(log_extent.last_global_position, \
             excluded.last_global_position), seen_at = now()",
        )
        .bind(last)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Whether the position sequence was ever drawn from (a log emptied by hand still was).
    pub(crate) async fn positions_ever_drawn(&self) -> Result<bool, StoreError> {
        let drawn: Option<i64> =
            sqlx::query_scalar("select pg_sequence_last_value(pg_get_serial_sequence('events', 'global_position'))")
                .fetch_one(self.pool())
                .await?;
        Ok(drawn.is_some())
    }
}
