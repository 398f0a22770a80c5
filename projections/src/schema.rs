//! Copies of the read-model tables — a rebuild's shadow tables — and the swap that puts them
//! in place of the live ones.
//!
//! A copy is made from the live table as the migrations left it, read from the database's
//! own catalog (each backend's way, in `sql`): the migrations are the one declaration of a
//! table, and a rebuild cannot build anything else. The rebuild tests check that the catalog
//! after a rebuild is the migrated one.

use crate::sql::{self, Arg, Conn, Db, Tx};
use futures::{StreamExt, TryStreamExt};

/// The suffix of a rebuild's shadow tables.
pub(crate) const SHADOW: &str = "__rebuild";
/// The suffix the live tables take for the moment of the swap, before they are dropped.
const OLD: &str = "__old";

/// The statements that the catalog query `catalog` gives for `table` and `suffix`.
async fn generated(conn: &mut Conn<'_>, catalog: &str, table: &str, suffix: &str) -> Result<Vec<String>, sqlx::Error> {
    sql::fetch_texts(conn, catalog, vec![Arg::Text(table.to_owned()), Arg::Text(suffix.to_owned())]).await
}

/// Creates copies of `tables` under `suffix`, empty and without secondary indexes (they are
/// filled faster so; see [`index_shadow`]), dropping any left under that name first.
pub(crate) async fn create(conn: &mut Conn<'_>, tables: &[&str], suffix: &str) -> Result<(), sqlx::Error> {
    drop(conn, tables, suffix).await?;
    let catalog = conn.backend().create_copy();
    for t in tables {
        let statements = generated(conn, catalog, t, suffix).await?;
        if statements.is_empty() {
            return Err(sqlx::Error::Protocol(format!("the read-model table {t} is missing: migrate the database")));
        }
        for statement in statements {
            sql::execute(conn, &statement, vec![]).await?;
        }
    }
    Ok(())
}

/// Drops the copies of `tables` under `suffix`, if they exist.
pub(crate) async fn drop(conn: &mut Conn<'_>, tables: &[&str], suffix: &str) -> Result<(), sqlx::Error> {
    for t in tables {
        sql::execute(conn, &format!("drop table if exists {t}{suffix}"), vec![]).await?;
    }
    Ok(())
}

/// Gives the filled shadow tables the secondary indexes of the live ones where the backend can
/// rename them at the swap, so that the swap itself builds nothing (elsewhere [`swap_in`]
/// builds them), and gathers their planner statistics where the backend keeps some. Each
/// table in a transaction of its own, as many side by side as the machine has cores: a
/// timeline's range index alone takes seconds to build at a million events.
pub(crate) async fn index_shadow(db: Db<'_>, tables: &[&str]) -> Result<(), sqlx::Error> {
    let b = db.backend();
    let mut work: Vec<Vec<String>> = vec![];
    let mut tx = Tx::begin(db).await?;
    for t in tables {
        let mut statements = match b.index_copy() {
            Some(catalog) => generated(&mut tx.conn(), catalog, t, SHADOW).await?,
            None => vec![],
        };
        statements.extend(b.analyze(&format!("{t}{SHADOW}")));
        work.push(statements);
    }
    tx.commit().await?;
    work.retain(|statements| !statements.is_empty());
    let side_by_side = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, work.len().max(1));
    futures::stream::iter(work)
        .map(|statements| async move {
            let mut tx = Tx::begin(db).await?;
            for statement in statements {
                sql::execute(&mut tx.conn(), &statement, vec![]).await?;
            }
            tx.commit().await
        })
        .buffer_unordered(side_by_side)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Takes the live tables from everyone until commit (writers of the inline projections,
/// readers), giving up after `timeout_ms` rather than queueing readers for long (a no-op where
/// the transaction already holds the only writer).
pub(crate) async fn lock_live(conn: &mut Conn<'_>, tables: &[&str], timeout_ms: u64) -> Result<(), sqlx::Error> {
    for statement in conn.backend().lock_tables(tables, timeout_ms) {
        sql::execute(conn, &statement, vec![]).await?;
    }
    Ok(())
}

/// Puts the shadow tables in place of the live ones, inside the caller's transaction: readers
/// see the old tables until commit, then the new ones, never an empty read model.
pub(crate) async fn swap_in(conn: &mut Conn<'_>, tables: &[&str]) -> Result<(), sqlx::Error> {
    let catalog = conn.backend().after_swap();
    let mut after = vec![];
    for t in tables {
        after.extend(generated(conn, catalog, t, SHADOW).await?);
    }
    for t in tables {
        sql::execute(conn, &format!("alter table {t} rename to {t}{OLD}"), vec![]).await?;
        sql::execute(conn, &format!("alter table {t}{SHADOW} rename to {t}"), vec![]).await?;
    }
    // dropping the old tables frees their constraint and index names
    for t in tables {
        sql::execute(conn, &format!("drop table {t}{OLD}"), vec![]).await?;
    }
    for statement in after {
        sql::execute(conn, &statement, vec![]).await?;
    }
    Ok(())
}
