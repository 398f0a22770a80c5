//! The `person_keys` table, each statement written once for both backends (see
//! [`crate::personal_data`] for what the keys are). What differs is bound by [`Arg`] and spelled
//! by the backend's module (`any_of`, `NOW`); each backend's `keys.rs` only decodes a row and
//! scrubs its files ([`crate::KeyStore::scrub`]).

use crate::any::{on_pool, on_tx};
use crate::arg::{Arg, BindArgs};
use crate::contract::{EventStore, TxConn};
use crate::error::StoreError;
use crate::personal_data::StoredKey;
use uuid::Uuid;

/// The columns of `person_keys`, in [`StoredKey`]'s order.
const KEY_COLUMNS: &str = "person_id, key_id, master_key_id, wrapped";

fn select_keys_of(any_of: fn(&str, &str) -> String) -> String {
    format!("select {KEY_COLUMNS} from person_keys where {}", any_of("person_id", "$1"))
}

/// The stored keys of `people` (none for an empty list).
pub(crate) async fn fetch<S: EventStore>(store: &S, people: &[Uuid]) -> Result<Vec<StoredKey>, StoreError> {
    if people.is_empty() {
        return Ok(vec![]);
    }
    let args = vec![Arg::Uuids(people.to_vec())];
    on_pool!(store, reader pool => {
        let sql = select_keys_of(backend::any_of);
        let rows = sqlx::query_as_with(&sql, backend::Db::bind_args(args)?).fetch_all(pool).await?;
        rows.into_iter().map(backend::keys::stored).collect()
    })
}

/// [`fetch`] in the append's transaction: an inline projector sees the key its append inserted.
pub(crate) async fn fetch_in(tx: &mut TxConn<'_>, people: &[Uuid]) -> Result<Vec<StoredKey>, StoreError> {
    if people.is_empty() {
        return Ok(vec![]);
    }
    let args = vec![Arg::Uuids(people.to_vec())];
    on_tx!(tx, c, backend => {
        let sql = select_keys_of(backend::any_of);
        let rows = sqlx::query_as_with(&sql, backend::Db::bind_args(args)?).fetch_all(&mut **c).await?;
        rows.into_iter().map(backend::keys::stored).collect()
    })
}

/// Runs `sql` in the append's transaction; the rows it touched.
async fn execute_in(tx: &mut TxConn<'_>, sql: &str, args: Vec<Arg>) -> Result<u64, StoreError> {
    on_tx!(tx, c, backend => {
        Ok(sqlx::query_with(sql, backend::Db::bind_args(args)?).execute(&mut **c).await?.rows_affected())
    })
}

pub(crate) async fn insert_in(tx: &mut TxConn<'_>, key: &StoredKey) -> Result<(), StoreError> {
    let sql = format!("insert into person_keys ({KEY_COLUMNS}) values ($1, $2, $3, $4)");
    let args = vec![
        Arg::Uuid(key.person_id),
        Arg::Uuid(key.key_id),
        Arg::Text(key.master_key_id.clone()),
        Arg::Bytes(key.wrapped.clone()),
    ];
    execute_in(tx, &sql, args).await.map(drop)
}

pub(crate) async fn delete_in(tx: &mut TxConn<'_>, person: Uuid) -> Result<(), StoreError> {
    execute_in(tx, "delete from person_keys where person_id = $1", vec![Arg::Uuid(person)]).await.map(drop)
}

/// How many data keys `master_key_id` wraps.
pub(crate) async fn count_wrapped_by<S: EventStore>(store: &S, master_key_id: &str) -> Result<u64, StoreError> {
    let sql = "select count(*) from person_keys where master_key_id = $1";
    let n: i64 = on_pool!(store, reader pool => sqlx::query_scalar(sql).bind(master_key_id).fetch_one(pool).await?);
    Ok(n.max(0) as u64)
}

/// Up to `limit` keys wrapped by another master key than `current`, after person `after`, in
/// person order (read on the writer, which the rewrapping follows).
pub(crate) async fn to_rotate<S: EventStore>(
    store: &S,
    current: &str,
    after: Uuid,
    limit: i64,
) -> Result<Vec<StoredKey>, StoreError> {
    let sql = format!(
        "select {KEY_COLUMNS} from person_keys where master_key_id <> $1 and person_id > $2 \
         order by person_id limit $3"
    );
    let args = vec![Arg::Text(current.to_owned()), Arg::Uuid(after), Arg::Int(limit)];
    on_pool!(store, writer pool => {
        let rows = sqlx::query_as_with(&sql, backend::Db::bind_args(args)?).fetch_all(pool).await?;
        rows.into_iter().map(backend::keys::stored).collect()
    })
}

/// Replaces `old` by `fresh` if the row is still `old`; whether it was.
pub(crate) async fn rewrap<S: EventStore>(store: &S, old: &StoredKey, fresh: &StoredKey) -> Result<bool, StoreError> {
    let args = vec![
        Arg::Text(fresh.master_key_id.clone()),
        Arg::Bytes(fresh.wrapped.clone()),
        Arg::Uuid(old.person_id),
        Arg::Uuid(old.key_id),
        Arg::Text(old.master_key_id.clone()),
    ];
    let done = on_pool!(store, writer pool => {
        let sql = format!(
            "update person_keys set master_key_id = $1, wrapped = $2, rotated_at = {} \
             where person_id = $3 and key_id = $4 and master_key_id = $5",
            backend::NOW
        );
        sqlx::query_with(&sql, backend::Db::bind_args(args)?).execute(pool).await?.rows_affected()
    });
    Ok(done == 1)
}
