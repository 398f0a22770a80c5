//! Shadow tables and the swap that puts them in place of the live ones (used by `rebuild`).

use crate::sql::{self, Backend, Conn};

/// A read-model table as `rebuild` creates it: `{s}` in the templates stands for the suffix.
pub(crate) struct TableSpec {
    pub name: &'static str,
    pub postgres: &'static str,
    pub sqlite: &'static str,
    /// PostgreSQL constraint names, renamed back after a swap (they carry the suffix on the
    /// shadow table, as names of indexes must be unique in a schema).
    pub constraints: &'static [&'static str],
    pub indexes: &'static [IndexSpec],
}

/// A secondary index.
pub(crate) struct IndexSpec {
    pub name: &'static str,
    /// The column list, e.g. `submitted_on, id`.
    pub columns: &'static str,
}

/// The suffix of a rebuild's shadow tables.
pub(crate) const SHADOW: &str = "__rebuild";
/// The suffix the live tables take for the moment of the swap, before they are dropped.
const OLD: &str = "__old";

/// Drops what a failed rebuild may have left, then creates the shadow tables, empty and without
/// secondary indexes (they are filled faster so; see [`index_shadow`]).
pub(crate) async fn create_shadow(conn: &mut Conn<'_>, tables: &[&TableSpec]) -> Result<(), sqlx::Error> {
    create(conn, tables, SHADOW).await
}

/// Creates `tables` under `suffix`, empty and without secondary indexes, dropping any left
/// under that name first.
pub(crate) async fn create(conn: &mut Conn<'_>, tables: &[&TableSpec], suffix: &str) -> Result<(), sqlx::Error> {
    let b = conn.backend();
    drop(conn, tables, suffix).await?;
    for t in tables {
        let template = match b {
            Backend::Postgres => t.postgres,
            Backend::Sqlite => t.sqlite,
        };
        sql::execute(conn, &template.replace("{s}", suffix), vec![]).await?;
    }
    Ok(())
}

/// Drops `tables` under `suffix`, if they exist.
pub(crate) async fn drop(conn: &mut Conn<'_>, tables: &[&TableSpec], suffix: &str) -> Result<(), sqlx::Error> {
    for t in tables {
        sql::execute(conn, &format!("drop table if exists {}{suffix}", t.name), vec![]).await?;
    }
    Ok(())
}

/// On PostgreSQL, the secondary indexes of the filled shadow tables, under suffixed names, so
/// that the swap itself builds nothing. (SQLite cannot rename an index: it gets them at the swap.)
pub(crate) async fn index_shadow(conn: &mut Conn<'_>, tables: &[&TableSpec]) -> Result<(), sqlx::Error> {
    if conn.backend() != Backend::Postgres {
        return Ok(());
    }
    for t in tables {
        for i in t.indexes {
            let sql = format!("create index {}{SHADOW} on {}{SHADOW} ({})", i.name, t.name, i.columns);
            sql::execute(conn, &sql, vec![]).await?;
        }
    }
    Ok(())
}

/// On PostgreSQL, takes the live tables from everyone until commit (writers of the inline
/// projections, readers), giving up after `timeout_ms` rather than queueing readers for long.
pub(crate) async fn lock_live(conn: &mut Conn<'_>, tables: &[&TableSpec], timeout_ms: u64) -> Result<(), sqlx::Error> {
    if conn.backend() != Backend::Postgres {
        return Ok(());
    }
    // `set` takes no bind parameter; the value is our own number
    sql::execute(conn, &format!("set local lock_timeout = {timeout_ms}"), vec![]).await?;
    let names: Vec<&str> = tables.iter().map(|t| t.name).collect();
    sql::execute(conn, &format!("lock table {} in access exclusive mode", names.join(", ")), vec![]).await?;
    Ok(())
}

/// Puts the shadow tables in place of the live ones, inside the caller's transaction: readers
/// see the old tables until commit, then the new ones, never an empty read model.
pub(crate) async fn swap_in(conn: &mut Conn<'_>, tables: &[&TableSpec]) -> Result<(), sqlx::Error> {
    let b = conn.backend();
    for t in tables {
        sql::execute(conn, &format!("alter table {0} rename to {0}{OLD}", t.name), vec![]).await?;
        sql::execute(conn, &format!("alter table {0}{SHADOW} rename to {0}", t.name), vec![]).await?;
    }
    // dropping the old tables frees their constraint and index names
    for t in tables {
        sql::execute(conn, &format!("drop table {}{OLD}", t.name), vec![]).await?;
    }
    for t in tables {
        match b {
            Backend::Postgres => {
                for c in t.constraints {
                    let sql = format!("alter table {} rename constraint {c}{SHADOW} to {c}", t.name);
                    sql::execute(conn, &sql, vec![]).await?;
                }
                for i in t.indexes {
                    sql::execute(conn, &format!("alter index {0}{SHADOW} rename to {0}", i.name), vec![]).await?;
                }
            }
            Backend::Sqlite => {
                for i in t.indexes {
                    let sql = format!("create index {} on {} ({})", i.name, t.name, i.columns);
                    sql::execute(conn, &sql, vec![]).await?;
                }
            }
        }
    }
    Ok(())
}
