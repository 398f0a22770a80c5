//! People's data keys on PostgreSQL (see [`crate::personal_data`]; the statements are in
//! `key_table.rs`): a row with native uuids, and the scrub that rewrites the tables' files.

use super::PgStore;
use crate::error::StoreError;
use crate::personal_data::{KeyStore, StoredKey};
use uuid::Uuid;

/// How many 25 ms rounds the scrub waits for older transactions to end (10 s).
const OLD_SNAPSHOT_WAIT_ROUNDS: u32 = 400;

/// A row of `person_keys`, in `KEY_COLUMNS`' order.
pub(crate) type KeyRow = (Uuid, Uuid, String, Vec<u8>);

pub(crate) fn stored((person_id, key_id, master_key_id, wrapped): KeyRow) -> Result<StoredKey, StoreError> {
    Ok(StoredKey { person_id, key_id, master_key_id, wrapped })
}

impl KeyStore for PgStore {
    async fn scrub(&self, tables: &[&str]) -> Result<(), StoreError> {
        let pool = self.pool();
        // VACUUM FULL copies a dead row that a snapshot may still see, and a snapshot's xmin is
        // the oldest transaction running anywhere on the cluster: a long transaction in another
        // database keeps the erased key alive through a new snapshot of this one (CI caught a
        // key copied past one). So first let every transaction that began before now end,
        // cluster-wide (the horizon passes the first id not yet given out), and every older
        // snapshot of this database go (an autovacuum worker's ANALYZE holds one too); bounded.
        let (since, first_unassigned): (chrono::DateTime<chrono::Utc>, String) =
            sqlx::query_as("select clock_timestamp(), pg_snapshot_xmax(pg_current_snapshot())::text")
                .fetch_one(pool)
                .await?;
        let mut waited = 0;
        loop {
            let (older_here, horizon_passed): (i64, bool) = sqlx::query_as(
                "select (select count(*) from pg_stat_activity where datname = current_database() \
                 and pid <> pg_backend_pid() and backend_xmin is not null and xact_start < $1), \
                 pg_snapshot_xmin(pg_current_snapshot()) >= $2::xid8",
            )
            .bind(since)
            .bind(&first_unassigned)
            .fetch_one(pool)
            .await?;
            if older_here == 0 && horizon_passed {
                break;
            }
            if waited >= OLD_SNAPSHOT_WAIT_ROUNDS {
                tracing::warn!(
                    transactions_here = older_here,
                    older_elsewhere = !horizon_passed,
                    "scrub: transactions older than the erasure are still open; the rows they may see survive \
                     in the files until the next vacuum"
                );
                break;
            }
            waited += 1;
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        let mut names = vec!["person_keys".to_owned()];
        names.extend(tables.iter().map(|t| format!("\"{}\"", t.replace('"', "\"\""))));
        sqlx::query(&format!("vacuum (full, analyze) {}", names.join(", "))).execute(pool).await?;
        Ok(())
    }
}
