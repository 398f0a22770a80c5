//! Seals: the hash of every event hash in reading order up to a checkpoint, chained seal to
//! seal (see [`crate::integrity`] for the recipe); written by the server's sealer and by
//! `carnet seal`.

use super::{Hash, SealHasher, ZERO_HASH, hash_column, to_hex};
use crate::any::{AnyStore, on_backend, on_pool};
use crate::error::StoreError;
use crate::model::Checkpoint;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// A row of `seals`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seal {
    pub seal_number: i64,
    /// The last event covered, in reading order.
    pub last: Checkpoint,
    pub event_count: u64,
    pub prev_hash: Hash,
    pub hash: Hash,
    /// [`timestamp_text`] of when it was written.
    pub sealed_at: String,
}

/// Every seal, in order.
pub async fn seals(store: &AnyStore) -> Result<Vec<Seal>, StoreError> {
    let rows = on_backend!(store, s => s.seal_rows().await)?;
    Ok(rows
        .into_iter()
        .map(|(seal_number, transaction_id, global_position, event_count, prev_hash, hash, sealed_at)| Seal {
            seal_number,
            last: Checkpoint { transaction_id, global_position },
            event_count: event_count.max(0) as u64,
            // a hash of the wrong length cannot match anything: all 0xff
            prev_hash: prev_hash.try_into().unwrap_or([0xff; 32]),
            hash: hash.try_into().unwrap_or([0xff; 32]),
            sealed_at,
        })
        .collect())
}

/// The columns of a seal as each backend reads them, `sealed_at` already as [`timestamp_text`].
pub(crate) type SealRow = (i64, i64, i64, i64, Vec<u8>, Vec<u8>, String);

/// What `seals` selects, in [`SealRow`]'s order.
pub(crate) const SEAL_COLUMNS: &str =
    "seal_number, last_transaction_id, last_global_position, event_count, prev_hash, hash, sealed_at";

/// A seal about to be written.
pub(crate) struct NewSeal<'a> {
    pub seal_number: i64,
    pub last: Checkpoint,
    pub event_count: u64,
    pub prev_hash: &'a Hash,
    pub hash: &'a Hash,
}

/// The latest seal's number, checkpoint and hash, if any.
async fn last_seal(store: &AnyStore) -> Result<Option<(i64, Checkpoint, Hash)>, StoreError> {
    const SQL: &str = "select seal_number, last_transaction_id, last_global_position, hash from seals order by seal_number desc limit 1";
    let row: Option<(i64, i64, i64, Vec<u8>)> =
        on_pool!(store, reader pool => sqlx::query_as(SQL).fetch_optional(pool).await?);
    Ok(row.map(|(n, transaction_id, global_position, hash)| {
        (n, Checkpoint { transaction_id, global_position }, hash.try_into().unwrap_or([0xff; 32]))
    }))
}

/// Most events one seal covers; a longer backlog is sealed in several seals.
pub const MAX_EVENTS_PER_SEAL: usize = 100_000;

/// Seals up to `max_events` committed, unsealed events (in reading order). `None` when there is
/// nothing to seal, or when another sealer (another instance) wrote the same seal first.
pub async fn seal_now(store: &AnyStore, max_events: usize) -> Result<Option<Seal>, StoreError> {
    const PAGE: usize = 10_000;
    let (seal_number, after, prev_hash) = match last_seal(store).await? {
        Some((n, last, hash)) => (n + 1, last, hash),
        None => (1, Checkpoint::START, ZERO_HASH),
    };
    let mut hasher = SealHasher::new(&prev_hash);
    let mut last = after;
    while (hasher.count() as usize) < max_events {
        let want = PAGE.min(max_events - hasher.count() as usize);
        let page = sealable_after(store, last, want).await?;
        for (transaction_id, global_position, hash) in &page {
            let Some(hash) = hash_column(hash.clone()) else {
                return Err(StoreError::unexpected(format!(
                    "cannot seal: the event at global position {global_position} has no hash; run `carnet verify`"
                )));
            };
            hasher.add(&hash);
            last = Checkpoint { transaction_id: *transaction_id, global_position: *global_position };
        }
        if page.len() < want {
            break;
        }
    }
    let event_count = hasher.count();
    if event_count == 0 {
        return Ok(None);
    }
    let hash = hasher.finish();
    let new = NewSeal { seal_number, last, event_count, prev_hash: &prev_hash, hash: &hash };
    let sealed_at = on_backend!(store, s => s.insert_seal(&new).await)?;
    Ok(sealed_at.map(|sealed_at| Seal { seal_number, last, event_count, prev_hash, hash, sealed_at }))
}

/// Seals every committed, unsealed event now ([`MAX_EVENTS_PER_SEAL`] per seal): `carnet seal`.
pub async fn seal_pending(store: &AnyStore) -> Result<Vec<Seal>, StoreError> {
    let mut sealed = Vec::new();
    while let Some(seal) = seal_now(store, MAX_EVENTS_PER_SEAL).await? {
        let full = seal.event_count as usize == MAX_EVENTS_PER_SEAL;
        sealed.push(seal);
        if !full {
            break;
        }
    }
    Ok(sealed)
}

/// How many committed events wait for a seal (counting stops at `cap`).
pub async fn unsealed_events(store: &AnyStore, cap: u64) -> Result<u64, StoreError> {
    let after = last_seal(store).await?.map_or(Checkpoint::START, |(_, last, _)| last);
    let n: i64 = on_pool!(store, reader pool => {
        let sql = format!(
            "select count(*) from (select 1 from events where (transaction_id, global_position) > ($1, $2) {} \
             limit $3) t",
            backend::VISIBLE
        );
        sqlx::query_scalar(&sql).bind(after.transaction_id).bind(after.global_position).bind(cap as i64).fetch_one(pool).await?
    });
    Ok(n as u64)
}

/// Up to `limit` (checkpoint, hash) of committed events after `after`, in reading order, never
/// past an event that may still commit: the catch-up readers' rule (`read_all`), so that no
/// event can later land inside what was read.
async fn sealable_after(
    store: &AnyStore,
    after: Checkpoint,
    limit: usize,
) -> Result<Vec<(i64, i64, Option<Vec<u8>>)>, StoreError> {
    Ok(on_pool!(store, reader pool => {
        let sql = format!(
            "select transaction_id, global_position, hash from events \
             where (transaction_id, global_position) > ($1, $2) {} \
             order by transaction_id, global_position limit $3",
            backend::VISIBLE
        );
        sqlx::query_as(&sql).bind(after.transaction_id).bind(after.global_position).bind(limit as i64).fetch_all(pool).await?
    }))
}

/// When the server seals (`[sealing]` in carnet.toml): as soon as `every_events` events wait, or
/// when some wait and the last seal is `every_seconds` old.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SealPolicy {
    pub enabled: bool,
    pub every_events: u64,
    pub every_seconds: u64,
}

impl Default for SealPolicy {
    fn default() -> Self {
        Self { enabled: true, every_events: 1_000, every_seconds: 60 }
    }
}

/// Starts the server's sealer (when enabled): it checks once a second and seals what is due. It
/// ends when the store's pool is closed. Several instances may run one each: the seal number is
/// a primary key, so only one of two concurrent seals is written.
pub fn start_sealer(store: AnyStore, policy: SealPolicy) -> Option<tokio::task::JoinHandle<()>> {
    if !policy.enabled {
        return None;
    }
    let every = Duration::from_secs(policy.every_seconds.max(1));
    let every_events = policy.every_events.max(1);
    Some(tokio::spawn(async move {
        let mut last_sealed = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1).min(every));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let due = match unsealed_events(&store, every_events).await {
                Ok(0) => false,
                Ok(n) => n >= every_events || last_sealed.elapsed() >= every,
                Err(StoreError::Unavailable(sqlx::Error::PoolClosed)) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "sealer: cannot count unsealed events");
                    continue;
                }
            };
            if !due {
                continue;
            }
            match seal_pending(&store).await {
                Ok(sealed) => {
                    last_sealed = Instant::now();
                    if let Some(seal) = sealed.last() {
                        tracing::info!(
                            seal = seal.seal_number,
                            events = sealed.iter().map(|s| s.event_count).sum::<u64>(),
                            hash = %to_hex(&seal.hash),
                            "log sealed"
                        );
                    }
                }
                Err(StoreError::Unavailable(sqlx::Error::PoolClosed)) => break,
                Err(e) => tracing::error!(error = %e, "sealer: sealing failed"),
            }
        }
    }))
}
