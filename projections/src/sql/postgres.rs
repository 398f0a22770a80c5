//! PostgreSQL's side of the seam (compare with `sqlite.rs`, in the same order): native types
//! bound as such, `jsonb`, `= any($n)`, row locks, and shadow tables copied from the catalog
//! with `create table … (like …)`.
//!
//! Index and constraint names are unique per schema: a copy's primary and unique keys and its
//! secondary indexes carry its suffix, and once it replaces the live table they are renamed
//! back (`alter index` renames a key's constraint along with its index). Check constraints are
//! named per table and keep their names.

use super::Dialect;
use sqlx::{PgConnection, PgPool};

/// A timeline row's validity as a range, `[valid_from, valid_to)`, unbounded while open and
/// empty if `valid_to` came first: the expression migration 0018 indexes (GiST) on each
/// timeline, written the same here so that the planner matches it.
const VALIDITY: &str = "tstzrange(valid_from, case when valid_to < valid_from then valid_from else valid_to end)";

/// `lock_not_available`: a lock wait ended by `lock_timeout`.
pub(super) const LOCK_NOT_AVAILABLE: &str = "55P03";

pub(super) struct Postgres;

impl Dialect for Postgres {
    fn in_list(&self, column: &str, n: usize) -> String {
        format!("{column} = any(${n})")
    }

    fn json_object_function(&self) -> &'static str {
        "json_build_object"
    }

    fn json_text(&self, object: String) -> String {
        format!("{object}::text")
    }

    fn bytewise(&self, expr: &str) -> String {
        format!("{expr} collate \"C\"")
    }

    fn json_column(&self, column: &str) -> String {
        column.to_owned()
    }

    fn json_array_subquery(&self, element: &str, from_where: &str, order: &str) -> String {
        format!("coalesce((select json_agg({element} order by {order}) {from_where}), '[]'::json)")
    }

    /// The table's own row type gives the columns their types.
    fn json_rows(&self, n: usize, table: &str, _columns: &[&str]) -> String {
        format!("jsonb_populate_recordset(null::{table}, ${n}::jsonb) as x")
    }

    fn same(&self, a: &str, b: &str) -> String {
        format!("{a} is not distinct from {b}")
    }

    /// The very expression of the timelines' GiST indexes (migration 0018), so they serve it.
    fn valid_at(&self, n: usize) -> String {
        format!("{VALIDITY} @> ${n}")
    }

    fn id_text(&self, column: &str) -> String {
        format!("{column}::text")
    }

    fn for_update(&self) -> &'static str {
        " for update"
    }

    fn lock_tables(&self, tables: &[&str], timeout_ms: u64) -> Vec<String> {
        // `set` takes no bind parameter; the value is our own number
        vec![
            format!("set local lock_timeout = {timeout_ms}"),
            format!("lock table {} in access exclusive mode", tables.join(", ")),
        ]
    }

    /// Columns, defaults and check constraints by `like`; the primary and unique keys (indexes)
    /// under suffixed names, as the copy is filled through them (`on conflict (id)`).
    fn create_copy(&self) -> &'static str {
        "select s from (
           select 0 as k,
                  format('create table %I (like %I including all excluding indexes)', $1::text || $2, $1::text) as s
           union all
           select 1, format('alter table %I add constraint %I %s',
                            $1::text || $2, c.conname || $2, pg_get_constraintdef(c.oid))
           from pg_constraint c where c.conrelid = $1::text::regclass and c.contype in ('p', 'u', 'x')
         ) q order by k, s"
    }

    fn analyze(&self, table: &str) -> Option<String> {
        Some(format!("analyze {table}"))
    }

    /// The live table's other indexes, under suffixed names.
    fn index_copy(&self) -> Option<&'static str> {
        Some(
            "select format('create %sindex %I on %I%s',
                           case when i.indisunique then 'unique ' else '' end, c.relname || $2, $1::text || $2,
                           substring(pg_get_indexdef(i.indexrelid) from ' USING .*$'))
             from pg_index i join pg_class c on c.oid = i.indexrelid
             where i.indrelid = $1::text::regclass
               and not exists (select 1 from pg_constraint k
                               where k.conrelid = i.indrelid and k.conindid = i.indexrelid)
             order by c.relname",
        )
    }

    /// Renames the copy's suffixed indexes (and so its keys) back.
    fn after_swap(&self) -> &'static str {
        "select format('alter index %I rename to %I', c.relname, left(c.relname, -length($2)))
         from pg_index i join pg_class c on c.oid = i.indexrelid
         where i.indrelid = ($1::text || $2)::regclass and right(c.relname, length($2)) = $2
         order by c.relname"
    }
}

/// One session advisory lock per name (class 2: the store's stream locks are class 1), on a
/// connection detached from the pool; `Err(name)` for the first one taken elsewhere, after
/// freeing those taken so far.
pub(super) async fn advisory_locks(
    pool: &PgPool,
    names: &[String],
) -> Result<Result<PgConnection, String>, sqlx::Error> {
    let mut conn = pool.acquire().await?.detach();
    for name in names {
        let owned: bool =
            sqlx::query_scalar("select pg_try_advisory_lock(2, hashtext($1))").bind(name).fetch_one(&mut conn).await?;
        if !owned {
            let _ = sqlx::Connection::close(conn).await;
            return Ok(Err(name.clone()));
        }
    }
    Ok(Ok(conn))
}
