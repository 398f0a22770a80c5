//! People's data keys on SQLite (see [`crate::personal_data`]; the statements are in
//! `key_table.rs`): a row with uuids as text, and the scrub that checkpoints and truncates the
//! WAL.

use super::SqliteStore;
use crate::error::StoreError;
use crate::personal_data::{KeyStore, StoredKey};
use uuid::Uuid;

/// How many times the scrub tries a checkpoint that readers keep from completing.
const CHECKPOINT_ATTEMPTS: u32 = 20;

/// A row of `person_keys`, in `KEY_COLUMNS`' order.
pub(crate) type KeyRow = (String, String, String, Vec<u8>);

pub(crate) fn stored((person, key, master_key_id, wrapped): KeyRow) -> Result<StoredKey, StoreError> {
    let parse = |raw: &str| Uuid::parse_str(raw).map_err(StoreError::unexpected);
    Ok(StoredKey { person_id: parse(&person)?, key_id: parse(&key)?, master_key_id, wrapped })
}

impl KeyStore for SqliteStore {
    async fn scrub(&self, _tables: &[&str]) -> Result<(), StoreError> {
        for attempt in 1..=CHECKPOINT_ATTEMPTS {
            // (busy, frames in the WAL, frames checkpointed); busy: a reader held it back
            let (busy, _, _): (i64, i64, i64) =
                sqlx::query_as("pragma wal_checkpoint(truncate)").fetch_one(self.writer()).await?;
            if busy == 0 {
                return Ok(());
            }
            tracing::debug!(attempt, "WAL checkpoint held back by a reader, trying again");
            tokio::time::sleep(std::time::Duration::from_millis(50 * u64::from(attempt))).await;
        }
        Err(StoreError::unexpected(
            "the WAL could not be checkpointed and truncated: readers kept it busy; erased data may remain in \
             the -wal file until the next checkpoint",
        ))
    }
}
