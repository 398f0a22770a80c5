//! # The log's extent: a log restored elsewhere is adopted, a log cut short is noticed
//!
//! Two day-one operator acts that the hash chains alone do not cover.
//!
//! ## A restore into another PostgreSQL cluster
//!
//! Readers follow `(transaction_id, global_position)` and read only below the oldest running
//! transaction (`postgres.rs`, DESIGN "Ordering without skipped events"). `transaction_id` used to
//! be the raw 64-bit id of the appending transaction. A `pg_dump` restored into *another* cluster
//! (a new server, a rebuilt machine) carries the old cluster's ids, which can be far above the
//! new cluster's counter: the restored events then look like transactions still running, so the
//! catch-up readers, the live feed, the sealer and `carnet export` never see them, and new events
//! would sort *before* them.
//!
//! Since migration 0009 the stored id is `raw id + carnet_xid_offset()`, and the horizon is
//! `carnet_log_horizon()` (the oldest running raw id plus the same offset). At every start,
//! right after the migrations, [`adopt`] calls `carnet_adopt_log()`: when the log's largest
//! `transaction_id` is not below this cluster's current one, the offset grows until the oldest
//! transaction still running on the cluster lands just above it: the restored events are below
//! the horizon at once, and every later transaction is numbered after them. Nothing stored is rewritten: positions, hashes, seals, checkpoints and
//! cursors keep their values and their order; only later transactions get larger ids. The offset
//! lives in the schema (the function's body), so it travels with the next dump.
//!
//! What the other ways of moving a database do (README, "Backup and restore"):
//! - a restore into another database *of the same cluster*, `pg_upgrade` (which carries the
//!   transaction counter over) and a physical standby's promotion (the same WAL history) keep
//!   the counter above every stored id: nothing to adopt;
//! - `pg_resetwal` with a lower next transaction id, or a logical copy, is a new cluster: adopted.
//!
//! ## A log cut short
//!
//! `log_extent` keeps the largest global position this database has been seen to hold
//! ([`check`] raises it). A log whose last position is below it was cut (`truncate events`,
//! a stream's newest events deleted): [`check`] answers [`ExtentCheck::Cut`], which the API
//! reports as an integrity failure (`integrity`, `carnet verify`) and `/readyz` as not ready.
//! A process also remembers the furthest it saw itself, which catches a cut that emptied
//! `log_extent` too. Deleting events in the middle of a stream, or the newest events of a
//! stream that is not the log's last, are the hash chains' and the read models' business
//! (`carnet_projections::backing`).
//!
//! SQLite needs no offset (its transaction ids are drawn from the log, and a restore is a copy
//! of the file); the high-water mark works the same on both.

use crate::any::{AnyStore, on_backend, on_pool};
use crate::error::StoreError;

/// The transaction-id offset in force (0 on SQLite and on a log never restored elsewhere).
pub async fn transaction_id_offset(store: &AnyStore) -> Result<i64, StoreError> {
    on_backend!(store, s => s.transaction_id_offset().await)
}

/// The largest global position of the committed log; `None` when it is empty.
pub async fn last_position(store: &AnyStore) -> Result<Option<i64>, StoreError> {
    const SQL: &str = "select max(global_position) from events";
    Ok(on_pool!(store, reader pool => sqlx::query_scalar(SQL).fetch_one(pool).await?))
}

/// The furthest the log was seen to reach, as `log_extent` records it.
pub async fn recorded(store: &AnyStore) -> Result<Option<i64>, StoreError> {
    const SQL: &str = "select last_global_position from log_extent where id = 1";
    Ok(on_pool!(store, reader pool => sqlx::query_scalar(SQL).fetch_optional(pool).await?))
}

/// What [`check`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtentCheck {
    /// The log reaches at least as far as it was ever seen to; `last` is its last position.
    Whole { last: Option<i64> },
    /// The log ends before a position it was seen to hold.
    Cut { seen: i64, last: Option<i64> },
}

/// Compares the log's last position with the furthest it was seen to reach (the recorded mark,
/// and `seen_here`, what the calling process saw itself), then raises the recorded mark to it.
/// A cut log leaves the mark where it was, so the failure stays until someone repairs it.
pub async fn check(store: &AnyStore, seen_here: Option<i64>) -> Result<ExtentCheck, StoreError> {
    let recorded = recorded(store).await?;
    let last = last_position(store).await?;
    let seen = recorded.max(seen_here);
    if let Some(seen) = seen
        && last.is_none_or(|last| last < seen)
    {
        return Ok(ExtentCheck::Cut { seen, last });
    }
    if let Some(last) = last
        && recorded.is_none_or(|r| r < last)
    {
        on_backend!(store, s => s.raise_extent(last).await)?;
    }
    Ok(ExtentCheck::Whole { last })
}

/// Whether this database has ever held an event: events now, a recorded mark, or (PostgreSQL) a
/// position ever drawn. A database emptied by hand, or restored from a dump, has; only a new
/// one has not. What decides whether demo data may be loaded.
pub async fn ever_held_events(store: &AnyStore) -> Result<bool, StoreError> {
    if last_position(store).await?.is_some() || recorded(store).await?.is_some() {
        return Ok(true);
    }
    on_backend!(store, s => s.positions_ever_drawn().await)
}
