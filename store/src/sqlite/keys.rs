//! People's data keys on SQLite (see [`crate::personal_data`]): uuids as text, lists as one JSON
//! array read by `json_each`, and the scrub that checkpoints and truncates the WAL.

use super::SqliteStore;
use crate::error::StoreError;
use crate::personal_data::{KEY_COLUMNS, KeyStore, StoredKey};
use sqlx::SqliteConnection;
use uuid::Uuid;

/// How many times the scrub tries a checkpoint that readers keep from completing.
const CHECKPOINT_ATTEMPTS: u32 = 20;

type KeyRow = (String, String, String, Vec<u8>);

fn stored((person, key, master_key_id, wrapped): KeyRow) -> Result<StoredKey, StoreError> {
    let parse = |raw: &str| Uuid::parse_str(raw).map_err(StoreError::unexpected);
    Ok(StoredKey { person_id: parse(&person)?, key_id: parse(&key)?, master_key_id, wrapped })
}

fn select_keys() -> String {
    format!("select {KEY_COLUMNS} from person_keys where person_id in (select value from json_each($1))")
}

fn id_list(ids: &[Uuid]) -> String {
    serde_json::to_string(&ids.iter().map(Uuid::to_string).collect::<Vec<_>>()).unwrap_or_default()
}

pub(crate) async fn fetch_in(c: &mut SqliteConnection, people: &[Uuid]) -> Result<Vec<StoredKey>, StoreError> {
    if people.is_empty() {
        return Ok(vec![]);
    }
    let rows: Vec<KeyRow> = sqlx::query_as(&select_keys()).bind(id_list(people)).fetch_all(c).await?;
    rows.into_iter().map(stored).collect()
}

pub(crate) async fn insert_in(c: &mut SqliteConnection, key: &StoredKey) -> Result<(), StoreError> {
    sqlx::query(&format!("insert into person_keys ({KEY_COLUMNS}) values ($1, $2, $3, $4)"))
        .bind(key.person_id.to_string())
        .bind(key.key_id.to_string())
        .bind(&key.master_key_id)
        .bind(&key.wrapped)
        .execute(c)
        .await?;
    Ok(())
}

pub(crate) async fn delete_in(c: &mut SqliteConnection, person: Uuid) -> Result<(), StoreError> {
    sqlx::query("delete from person_keys where person_id = $1").bind(person.to_string()).execute(c).await?;
    Ok(())
}

impl KeyStore for SqliteStore {
    async fn fetch_keys(&self, people: &[Uuid]) -> Result<Vec<StoredKey>, StoreError> {
        if people.is_empty() {
            return Ok(vec![]);
        }
        let rows: Vec<KeyRow> = sqlx::query_as(&select_keys()).bind(id_list(people)).fetch_all(self.reader()).await?;
        rows.into_iter().map(stored).collect()
    }

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

    async fn count_keys_wrapped_by(&self, master_key_id: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("select count(*) from person_keys where master_key_id = $1")
            .bind(master_key_id)
            .fetch_one(self.reader())
            .await?;
        Ok(n as u64)
    }

    async fn keys_to_rotate(&self, current: &str, after: Uuid, limit: i64) -> Result<Vec<StoredKey>, StoreError> {
        let sql = format!(
            "select {KEY_COLUMNS} from person_keys where master_key_id <> $1 and person_id > $2 \
             order by person_id limit $3"
        );
        let rows: Vec<KeyRow> =
            sqlx::query_as(&sql).bind(current).bind(after.to_string()).bind(limit).fetch_all(self.writer()).await?;
        rows.into_iter().map(stored).collect()
    }

    async fn rewrap_key(&self, old: &StoredKey, fresh: &StoredKey) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update person_keys set master_key_id = $1, wrapped = $2, \
             rotated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
             where person_id = $3 and key_id = $4 and master_key_id = $5",
        )
        .bind(&fresh.master_key_id)
        .bind(&fresh.wrapped)
        .bind(old.person_id.to_string())
        .bind(old.key_id.to_string())
        .bind(&old.master_key_id)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
