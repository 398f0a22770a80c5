//! People's data keys on PostgreSQL (see [`crate::personal_data`]): uuids natively, lists as
//! arrays, and the scrub that rewrites the tables' files.

use super::PgStore;
use crate::error::StoreError;
use crate::personal_data::{KEY_COLUMNS, KeyStore, StoredKey};
use sqlx::PgConnection;
use uuid::Uuid;

/// How many 25 ms rounds the scrub waits for older transactions to end (10 s).
const OLD_SNAPSHOT_WAIT_ROUNDS: u32 = 400;

type KeyRow = (Uuid, Uuid, String, Vec<u8>);

fn stored((person_id, key_id, master_key_id, wrapped): KeyRow) -> StoredKey {
    StoredKey { person_id, key_id, master_key_id, wrapped }
}

fn select_keys() -> String {
    format!("select {KEY_COLUMNS} from person_keys where person_id = any($1)")
}

pub(crate) async fn fetch_in(c: &mut PgConnection, people: &[Uuid]) -> Result<Vec<StoredKey>, StoreError> {
    if people.is_empty() {
        return Ok(vec![]);
    }
    let rows: Vec<KeyRow> = sqlx::query_as(&select_keys()).bind(people).fetch_all(c).await?;
    Ok(rows.into_iter().map(stored).collect())
}

pub(crate) async fn insert_in(c: &mut PgConnection, key: &StoredKey) -> Result<(), StoreError> {
    sqlx::query(&format!("insert into person_keys ({KEY_COLUMNS}) values ($1, $2, $3, $4)"))
        .bind(key.person_id)
        .bind(key.key_id)
        .bind(&key.master_key_id)
        .bind(&key.wrapped)
        .execute(c)
        .await?;
    Ok(())
}

pub(crate) async fn delete_in(c: &mut PgConnection, person: Uuid) -> Result<(), StoreError> {
    sqlx::query("delete from person_keys where person_id = $1").bind(person).execute(c).await?;
    Ok(())
}

impl KeyStore for PgStore {
    async fn fetch_keys(&self, people: &[Uuid]) -> Result<Vec<StoredKey>, StoreError> {
        if people.is_empty() {
            return Ok(vec![]);
        }
        let rows: Vec<KeyRow> = sqlx::query_as(&select_keys()).bind(people).fetch_all(self.pool()).await?;
        Ok(rows.into_iter().map(stored).collect())
    }

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

    async fn count_keys_wrapped_by(&self, master_key_id: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("select count(*) from person_keys where master_key_id = $1")
            .bind(master_key_id)
            .fetch_one(self.pool())
            .await?;
        Ok(n as u64)
    }

    async fn keys_to_rotate(&self, current: &str, after: Uuid, limit: i64) -> Result<Vec<StoredKey>, StoreError> {
        let sql = format!(
            "select {KEY_COLUMNS} from person_keys where master_key_id <> $1 and person_id > $2 \
             order by person_id limit $3"
        );
        let rows: Vec<KeyRow> =
            sqlx::query_as(&sql).bind(current).bind(after).bind(limit).fetch_all(self.pool()).await?;
        Ok(rows.into_iter().map(stored).collect())
    }

    async fn rewrap_key(&self, old: &StoredKey, fresh: &StoredKey) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update person_keys set master_key_id = $1, wrapped = $2, rotated_at = now() \
             where person_id = $3 and key_id = $4 and master_key_id = $5",
        )
        .bind(&fresh.master_key_id)
        .bind(&fresh.wrapped)
        .bind(old.person_id)
        .bind(old.key_id)
        .bind(&old.master_key_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
