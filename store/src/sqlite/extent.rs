//! The log's extent on SQLite: no transaction-id offset (ids are drawn from the log and a
//! restore is a copy of the file), the same high-water mark (see [`crate::extent`]).

use super::SqliteStore;
use crate::error::StoreError;

impl SqliteStore {
    pub(crate) async fn transaction_id_offset(&self) -> Result<i64, StoreError> {
        Ok(0)
    }

    pub(crate) async fn raise_extent(&self, last: i64) -> Result<(), StoreError> {
        sqlx::query(
            "insert into log_extent (id, last_global_position) values (1, $1) \
             on conflict (id) do update set last_global_position = max(log_extent.last_global_position, \
             excluded.last_global_position), seen_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        )
        .bind(last)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// SQLite's positions are `max + 1` of the log: nothing is drawn beyond what it holds.
    pub(crate) async fn positions_ever_drawn(&self) -> Result<bool, StoreError> {
        Ok(false)
    }
}
