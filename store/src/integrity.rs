//! # Tamper evidence: per-stream hash chains, global seals, verification (DESIGN §3.3)
//!
//! Not to be confused with [`crate::sealing`], which encrypts personal fields: a *seal* here is
//! a row of the `seals` table that fixes a stretch of the global log.
//!
//! ## What is stored
//!
//! - Every event carries `hash` and `prev_hash` (32 bytes each). Within a stream, each event's
//!   `prev_hash` is the previous version's `hash`; version 1 has 32 zero bytes. They are filled
//!   at append, under the stream's lock: by `carnet_append` in SQL on PostgreSQL
//!   (`migrations/postgres/0005_tamper_evidence.sql`), in Rust inside the append's transaction
//!   on SQLite (`sqlite.rs`). A fresh database never has a null hash.
//! - `seals`: every seal covers the events after the previous seal, in the log's *reading
//!   order* `(transaction_id, global_position)`, up to and including its checkpoint
//!   `(last_transaction_id, last_global_position)`, and hashes the previous seal's hash with the
//!   covered events' hashes. A position range alone would be unsafe on PostgreSQL, where
//!   positions become visible out of order: the sealer reads like the catch-up readers
//!   (`read_all`), only events of transactions older than the oldest still running, so no event
//!   can ever commit later inside a sealed range. Seals are written by [`seal_now`] /
//!   [`seal_pending`], by the server's sealer ([`start_sealer`], every `every_events` events or
//!   `every_seconds` seconds) and by `carnet seal`.
//!
//! ## The recipe (what a third party recomputes, without Carnet)
//!
//! **Event hash.** SHA-256 (lowercase hex) of the UTF-8 bytes of these ten lines, *each one
//! ended by* `"\n"` (so the message ends with a newline):
//!
//! | # | line | PostgreSQL (SQL that renders it) | SQLite |
//! | - | --- | --- | --- |
//! | 1 | `prev_hash`, lowercase hex, 64 characters (64 `0` for version 1) | `encode(prev_hash, 'hex')` | `lower(hex(prev_hash))` |
//! | 2 | `global_position`, decimal | `global_position` | same |
//! | 3 | `stream_id` | `stream_id` | same |
//! | 4 | `stream_version`, decimal | `stream_version` | same |
//! | 5 | `event_id`, lowercase hyphenated uuid | `event_id::text` | `event_id` |
//! | 6 | `event_type` | `event_type` | same |
//! | 7 | `schema_version`, decimal | `schema_version` | same |
//! | 8 | payload, the JSON text **as stored** | `payload::text` | `payload` |
//! | 9 | metadata, the JSON text **as stored** | `metadata::text` | `metadata` |
//! | 10 | `recorded_at`, `YYYY-MM-DDTHH:MM:SS.ffffffZ`, UTC, microseconds | `to_char(recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` | `recorded_at` |
//!
//! ```sh
//! printf '%s\n' "$prev_hash" "$global_position" "$stream_id" "$stream_version" "$event_id" \
//!     "$event_type" "$schema_version" "$payload" "$metadata" "$recorded_at" | sha256sum
//! ```
//! ```python
//! import hashlib
//! FIELDS = ["prev_hash", "global_position", "stream_id", "stream_version", "event_id",
//!           "event_type", "schema_version", "payload", "metadata", "recorded_at"]
//! def event_hash(e):  # e: one exported event, every field as text (or int)
//!     return hashlib.sha256("".join(f"{e[k]}\n" for k in FIELDS).encode("utf-8")).hexdigest()
//! ```
//! An export must therefore carry the payload and the metadata as the *text* the database
//! renders (in JSONL: a JSON string holding that text), never re-serialized: PostgreSQL's
//! rendering of `jsonb` (`{"a": 1, "bb": [1, 2]}`: keys by length then bytes, `", "` and
//! `": "`) is deterministic, but `json.dumps` or `serde_json` of the parsed value is not that
//! text. [`hashed_events`] reads exactly these fields, in reading order.
//!
//! **Chain checks.** Per stream, versions run 1, 2, …, n without a gap; each `prev_hash` is the
//! hash of the version before (64 zeros for version 1); each `hash` is the recipe above.
//!
//! **Seal hash.** SHA-256 (lowercase hex) of lines each ended by `"\n"`: the previous seal's
//! `hash` in lowercase hex (64 `0` for seal 1), then the `hash` (lowercase hex) of every
//! event the seal covers, in reading order:
//!
//! ```sh
//! # covered: (transaction_id, global_position) > previous seal's (last_transaction_id,
//! # last_global_position) [(0, 0) for seal 1] and <= this seal's, ordered by both columns
//! { echo "$prev_seal_hash"; cut -f2 covered_hashes.tsv; } | sha256sum
//! ```
//! Seals are numbered 1, 2, … without a gap, each `prev_hash` is the previous seal's `hash`,
//! and each covers `event_count` events. An auditor records the latest seal's number and hash
//! outside the database (`carnet verify` prints them): a later verification that finds that seal
//! unchanged proves that nothing up to it was rewritten, even by someone able to recompute every
//! hash of the database.
//!
//! ## Choices, and what they protect
//!
//! - **The stored form is hashed.** Person payloads hold their personal fields sealed (AES-GCM,
//!   [`crate::sealing`]); the hash covers the sealed text, so erasing a key never breaks a
//!   chain.
//! - **Canonical JSON = the database's rendering.** On PostgreSQL `jsonb` has one text form
//!   (`payload::text`), the same at append and at every later read. On SQLite the column is the
//!   text itself (written by `serde_json`, object keys sorted), hashed byte for byte.
//!   *Consequence:* the same logical event does not hash alike on both backends (different JSON
//!   text, and positions differ anyway); the recipe is the same, only its inputs differ.
//! - **`global_position` is hashed** (beyond DESIGN's list, as is `event_id`): an event moved
//!   to another position no longer verifies, even after the last seal. `transaction_id` is not
//!   hashed; the reading order it defines is fixed by the seals. `command_id` is in the metadata.
//! - **Unambiguous lines.** Stream ids and event types holding a control character are refused
//!   at append ([`check_hashable`]); JSON text has no raw newline; the other lines are numbers,
//!   hex, uuids and a fixed-width timestamp.
//! - **recorded_at** is the same for all events of one append (read once, under the stream's
//!   lock), so PostgreSQL can hash it before inserting.
//! - **Backfill.** A database from before the chains gets them once: on PostgreSQL in the
//!   migration itself (under a lock that keeps writers out), on SQLite (no SHA-256 in SQL) by
//!   [`backfill_sqlite`] right after the migration that marks it pending. Neither runs again,
//!   so an event whose hash someone later nulls is reported, not silently re-hashed.
//!
//! ## What verification reports
//!
//! [`verify`] makes one pass over the log in reading order, recomputing every hash and checking
//! each stream's chain and every seal, and stops at the FIRST broken place ([`Breach`]): the
//! global position, stream and version where it breaks, and what ([`BreachKind`]): content or
//! hash changed (`HashMismatch`), a hash removed, a broken chain link, a missing version (an event
//! deleted in the middle of a stream), a version out of order, events added to or missing from a
//! sealed range, a seal that does not match, a broken chain of seals.
//!
//! [`verify_against`] also checks seal hashes an auditor recorded earlier (`carnet verify --seal
//! NUMBER:HASH`): `RecordedSealDiffers` when the stored seal no longer has that hash, which is
//! what shows a log rewritten from end to end with every hash recomputed.
//!
//! What it cannot see: after the last seal, the *last* events of a stream deleted, or a forged
//! event appended at a stream's end with a correctly recomputed hash, or events of different
//! streams reordered by editing `transaction_id`. Seals close that window every
//! `every_events` events or `every_seconds` seconds; the seal hash recorded outside the
//! database defeats a rewrite of everything, seals included.

use crate::any::AnyStore;
use crate::error::StoreError;
use crate::model::{Checkpoint, NewEvent, StreamId};
use chrono::{DateTime, SecondsFormat, Utc};
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::time::{Duration, Instant};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The `prev_hash` of a stream's version 1 and of seal 1.
pub const ZERO_HASH: Hash = [0; 32];

/// Lowercase hex, as the recipe writes hashes.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_into<'a>(hash: &Hash, out: &'a mut [u8; 64]) -> &'a [u8] {
    for (i, b) in hash.iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 15) as usize];
    }
    out
}

/// Parses 64 hex digits (either case).
pub fn from_hex(text: &str) -> Option<Hash> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

/// `recorded_at` as the recipe writes it: `YYYY-MM-DDTHH:MM:SS.ffffffZ` (what SQLite stores,
/// what PostgreSQL's `to_char(… 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` renders).
pub fn timestamp_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The fields an event's hash covers, as text in their canonical form (see the recipe above).
#[derive(Clone, Copy, Debug)]
pub struct EventFields<'a> {
    pub global_position: i64,
    pub stream_id: &'a str,
    pub stream_version: u64,
    /// Lowercase, hyphenated.
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub schema_version: i32,
    /// The payload's JSON text as stored (PostgreSQL: `payload::text`).
    pub payload: &'a str,
    /// The metadata's JSON text as stored (PostgreSQL: `metadata::text`).
    pub metadata: &'a str,
    /// [`timestamp_text`] of `recorded_at`.
    pub recorded_at: &'a str,
}

/// The event's hash: SHA-256 of the ten lines of the recipe, each ended by `"\n"`.
pub fn event_hash(prev_hash: &Hash, e: &EventFields<'_>) -> Hash {
    let mut h = Sha256::new();
    let mut hex = [0u8; 64];
    h.update(hex_into(prev_hash, &mut hex));
    // writing to a hasher cannot fail
    let _ = write!(h, "\n{}\n", e.global_position);
    h.update(e.stream_id.as_bytes());
    let _ = write!(h, "\n{}\n", e.stream_version);
    h.update(e.event_id.as_bytes());
    h.update(b"\n");
    h.update(e.event_type.as_bytes());
    let _ = write!(h, "\n{}\n", e.schema_version);
    h.update(e.payload.as_bytes());
    h.update(b"\n");
    h.update(e.metadata.as_bytes());
    h.update(b"\n");
    h.update(e.recorded_at.as_bytes());
    h.update(b"\n");
    h.finalize().into()
}

/// A seal's hash, fed line by line: the previous seal's hash, then each covered event's hash in
/// reading order.
#[derive(Clone)]
pub struct SealHasher {
    hasher: Sha256,
    count: u64,
}

impl SealHasher {
    pub fn new(prev_seal_hash: &Hash) -> Self {
        let mut hasher = Sha256::new();
        let mut hex = [0u8; 64];
        hasher.update(hex_into(prev_seal_hash, &mut hex));
        hasher.update(b"\n");
        Self { hasher, count: 0 }
    }
    pub fn add(&mut self, event_hash: &Hash) {
        let mut hex = [0u8; 64];
        self.hasher.update(hex_into(event_hash, &mut hex));
        self.hasher.update(b"\n");
        self.count += 1;
    }
    pub fn count(&self) -> u64 {
        self.count
    }
    pub fn finish(self) -> Hash {
        self.hasher.finalize().into()
    }
}

/// Refuses what would make the recipe's lines ambiguous: a control character (a line break) in
/// a stream id or an event type. Called by both backends before appending.
pub(crate) fn check_hashable(stream: &StreamId, events: &[NewEvent]) -> Result<(), StoreError> {
    if stream.as_str().chars().any(char::is_control) {
        return Err(StoreError::InvalidInput { reason: "a stream id holds no control character".into() });
    }
    if events.iter().any(|e| e.event_type.chars().any(char::is_control)) {
        return Err(StoreError::InvalidInput { reason: "an event type holds no control character".into() });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading the log as hashed

/// One event as the recipe sees it: every hashed field in its canonical text, and the stored
/// hashes. What an export for auditors writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashedEvent {
    pub transaction_id: i64,
    pub global_position: i64,
    pub stream_id: String,
    pub stream_version: u64,
    pub event_id: String,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: String,
    pub metadata: String,
    pub recorded_at: String,
    /// `None` only in a database someone altered.
    pub prev_hash: Option<Hash>,
    pub hash: Option<Hash>,
}

impl HashedEvent {
    pub fn fields(&self) -> EventFields<'_> {
        EventFields {
            global_position: self.global_position,
            stream_id: &self.stream_id,
            stream_version: self.stream_version,
            event_id: &self.event_id,
            event_type: &self.event_type,
            schema_version: self.schema_version,
            payload: &self.payload,
            metadata: &self.metadata,
            recorded_at: &self.recorded_at,
        }
    }
    /// The recipe applied to the stored fields and the stored `prev_hash`.
    pub fn computed_hash(&self) -> Hash {
        event_hash(&self.prev_hash.unwrap_or(ZERO_HASH), &self.fields())
    }
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint { transaction_id: self.transaction_id, global_position: self.global_position }
    }
}

const PG_HASHED: &str = "select transaction_id, global_position, stream_id, stream_version, event_id, event_type, \
     schema_version, payload::text as payload, metadata::text as metadata, recorded_at, prev_hash, hash \
     from events where (transaction_id, global_position) > ($1, $2) \
     order by transaction_id, global_position";

const SQLITE_HASHED: &str = "select transaction_id, global_position, stream_id, stream_version, event_id, event_type, \
     schema_version, payload, metadata, recorded_at, prev_hash, hash \
     from events where (transaction_id, global_position) > (?, ?) \
     order by transaction_id, global_position";

fn hash_column(bytes: Option<Vec<u8>>) -> Option<Hash> {
    bytes.and_then(|b| b.try_into().ok())
}

/// Every committed event after `after`, in reading order, as hashed (one query, streamed). It
/// reads what is committed when it starts, in-flight transactions aside: for verification and
/// export, not for following the log (use `read_all`).
pub fn hashed_events(store: &AnyStore, after: Checkpoint) -> BoxStream<'_, Result<HashedEvent, StoreError>> {
    match store {
        AnyStore::Postgres(s) => sqlx::query(PG_HASHED)
            .bind(after.transaction_id)
            .bind(after.global_position)
            .fetch(s.pool())
            .map(|row| {
                let row = row?;
                let recorded_at: DateTime<Utc> = row.try_get(9)?;
                let event_id: uuid::Uuid = row.try_get(4)?;
                Ok(HashedEvent {
                    transaction_id: row.try_get(0)?,
                    global_position: row.try_get(1)?,
                    stream_id: row.try_get(2)?,
                    stream_version: row.try_get::<i64, _>(3)? as u64,
                    event_id: event_id.hyphenated().to_string(),
                    event_type: row.try_get(5)?,
                    schema_version: row.try_get(6)?,
                    payload: row.try_get(7)?,
                    metadata: row.try_get(8)?,
                    recorded_at: timestamp_text(recorded_at),
                    prev_hash: hash_column(row.try_get(10)?),
                    hash: hash_column(row.try_get(11)?),
                })
            })
            .boxed(),
        AnyStore::Sqlite(s) => sqlx::query(SQLITE_HASHED)
            .bind(after.transaction_id)
            .bind(after.global_position)
            .fetch(s.reader())
            .map(|row| {
                let row = row?;
                Ok(HashedEvent {
                    transaction_id: row.try_get(0)?,
                    global_position: row.try_get(1)?,
                    stream_id: row.try_get(2)?,
                    stream_version: row.try_get::<i64, _>(3)? as u64,
                    event_id: row.try_get(4)?,
                    event_type: row.try_get(5)?,
                    schema_version: row.try_get(6)?,
                    payload: row.try_get(7)?,
                    metadata: row.try_get(8)?,
                    recorded_at: row.try_get(9)?,
                    prev_hash: hash_column(row.try_get(10)?),
                    hash: hash_column(row.try_get(11)?),
                })
            })
            .boxed(),
    }
}

// ---------------------------------------------------------------------------------------------
// Seals

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
    const COLUMNS: &str = "select seal_number, last_transaction_id, last_global_position, event_count, prev_hash, hash, sealed_at \
         from seals order by seal_number";
    type Row<T> = (i64, i64, i64, i64, Vec<u8>, Vec<u8>, T);
    let rows: Vec<Row<String>> = match store {
        AnyStore::Postgres(s) => {
            let rows: Vec<Row<DateTime<Utc>>> = sqlx::query_as(COLUMNS).fetch_all(s.pool()).await?;
            rows.into_iter().map(|(a, b, c, d, e, f, at)| (a, b, c, d, e, f, timestamp_text(at))).collect()
        }
        AnyStore::Sqlite(s) => sqlx::query_as(COLUMNS).fetch_all(s.reader()).await?,
    };
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

/// The latest seal's number, checkpoint and hash, if any.
async fn last_seal(store: &AnyStore) -> Result<Option<(i64, Checkpoint, Hash)>, StoreError> {
    const SQL: &str = "select seal_number, last_transaction_id, last_global_position, hash from seals order by seal_number desc limit 1";
    let row: Option<(i64, i64, i64, Vec<u8>)> = match store {
        AnyStore::Postgres(s) => sqlx::query_as(SQL).fetch_optional(s.pool()).await?,
        AnyStore::Sqlite(s) => sqlx::query_as(SQL).fetch_optional(s.reader()).await?,
    };
    Ok(row.map(|(n, transaction_id, global_position, hash)| {
        (n, Checkpoint { transaction_id, global_position }, hash.try_into().unwrap_or([0xff; 32]))
    }))
}

/// Up to `limit` (checkpoint, hash) of committed events after `after`, in reading order, never
/// past an event that may still commit: the catch-up readers' rule (`read_all`), so that no
/// event can later land inside what was read.
async fn sealable_after(
    store: &AnyStore,
    after: Checkpoint,
    limit: usize,
) -> Result<Vec<(i64, i64, Option<Vec<u8>>)>, StoreError> {
    Ok(match store {
        AnyStore::Postgres(s) => {
            sqlx::query_as(
                "select transaction_id, global_position, hash from events \
                 where (transaction_id, global_position) > ($1, $2) \
                   and transaction_id < carnet_log_horizon() \
                 order by transaction_id, global_position limit $3",
            )
            .bind(after.transaction_id)
            .bind(after.global_position)
            .bind(limit as i64)
            .fetch_all(s.pool())
            .await?
        }
        // one writer: what is visible is committed in reading order, nothing lands behind it
        AnyStore::Sqlite(s) => {
            sqlx::query_as(
                "select transaction_id, global_position, hash from events \
                 where (transaction_id, global_position) > (?, ?) \
                 order by transaction_id, global_position limit ?",
            )
            .bind(after.transaction_id)
            .bind(after.global_position)
            .bind(limit as i64)
            .fetch_all(s.reader())
            .await?
        }
    })
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
    let sealed_at: Option<String> = match store {
        AnyStore::Postgres(s) => sqlx::query_scalar::<_, DateTime<Utc>>(
            "insert into seals (seal_number, last_transaction_id, last_global_position, event_count, prev_hash, hash) \
             values ($1, $2, $3, $4, $5, $6) on conflict (seal_number) do nothing returning sealed_at",
        )
        .bind(seal_number)
        .bind(last.transaction_id)
        .bind(last.global_position)
        .bind(event_count as i64)
        .bind(&prev_hash[..])
        .bind(&hash[..])
        .fetch_optional(s.pool())
        .await?
        .map(timestamp_text),
        AnyStore::Sqlite(s) => {
            let now = timestamp_text(Utc::now());
            sqlx::query_scalar::<_, String>(
                "insert into seals (seal_number, last_transaction_id, last_global_position, event_count, prev_hash, \
                 hash, sealed_at) values (?, ?, ?, ?, ?, ?, ?) on conflict (seal_number) do nothing returning sealed_at",
            )
            .bind(seal_number)
            .bind(last.transaction_id)
            .bind(last.global_position)
            .bind(event_count as i64)
            .bind(&prev_hash[..])
            .bind(&hash[..])
            .bind(now)
            .fetch_optional(s.writer())
            .await?
        }
    };
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
    let n: i64 =
        match store {
            AnyStore::Postgres(s) => {
                sqlx::query_scalar(
                    "select count(*) from (select 1 from events \
                 where (transaction_id, global_position) > ($1, $2) \
                   and transaction_id < carnet_log_horizon() limit $3) t",
                )
                .bind(after.transaction_id)
                .bind(after.global_position)
                .bind(cap as i64)
                .fetch_one(s.pool())
                .await?
            }
            AnyStore::Sqlite(s) => sqlx::query_scalar(
                "select count(*) from (select 1 from events where (transaction_id, global_position) > (?, ?) limit ?)",
            )
            .bind(after.transaction_id)
            .bind(after.global_position)
            .bind(cap as i64)
            .fetch_one(s.reader())
            .await?,
        };
    Ok(n as u64)
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

// ---------------------------------------------------------------------------------------------
// Verification

/// Where a verification is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub checked: u64,
    /// Events in the log when the verification started.
    pub total: u64,
}

/// The outcome of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// Every chain and every seal verifies.
    Intact(Summary),
    /// The first broken place, in reading order.
    Broken(Breach),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub events: u64,
    pub streams: u64,
    pub seals: u64,
    /// Events after the last seal: chained, not yet sealed.
    pub unsealed_events: u64,
    /// The latest seal: what an auditor records outside the database.
    pub last_seal: Option<SealSummary>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealSummary {
    pub seal_number: i64,
    /// Lowercase hex.
    pub hash: String,
    pub last_global_position: i64,
    pub sealed_at: String,
}

/// The first place where the log does not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breach {
    /// The event where it breaks; `None` when only a seal can tell (see `seal`).
    pub global_position: Option<i64>,
    pub stream_id: Option<String>,
    pub stream_version: Option<u64>,
    /// The seal concerned, for breaches of a sealed range or of the seals themselves.
    pub seal: Option<SealRange>,
    pub kind: BreachKind,
    /// Events found intact before this place.
    pub events_checked: u64,
}

/// The range of the log a seal covers: after `after` (excluded; `None` from the start) up to
/// and including `last`, in reading order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealRange {
    pub seal_number: i64,
    pub after: Option<Checkpoint>,
    pub last: Checkpoint,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BreachKind {
    /// The recipe over the stored fields does not give the stored hash: a field (payload,
    /// metadata, type, position…) or the hash was changed, or the event was forged.
    HashMismatch { stored: String, computed: String },
    /// `hash` or `prev_hash` is null.
    MissingHash,
    /// `prev_hash` is not the hash of the stream's previous version.
    BrokenLink { expected: String, found: String },
    /// The stream jumps from `expected - 1` to this version: events were deleted.
    MissingVersion { expected: u64 },
    /// The stream's version goes back (after `after`): events moved or duplicated.
    VersionOutOfOrder { after: u64 },
    /// A sealed range holds more events than its seal covers (`global_position` names the
    /// event when it was recorded after the seal was written, so cannot belong to it).
    UnexpectedEvents { expected: u64, found: u64 },
    /// A sealed range holds fewer events than its seal covers: events were deleted.
    MissingSealedEvents { expected: u64, found: u64 },
    /// The seal's hash does not match the events of its range (same count): a seal edited,
    /// events reordered or replaced.
    SealMismatch { stored: String, computed: String },
    /// The seals do not chain: a seal deleted, inserted or edited (`prev_hash`, number, range).
    BrokenSealChain { reason: String },
    /// A seal hash the auditor recorded earlier ([`verify_against`]) is not the stored one (or
    /// the seal is gone): the log up to it was rewritten, whatever else verifies.
    RecordedSealDiffers { recorded: String, stored: Option<String> },
    /// The log ends before `seen`, the furthest global position it was seen to reach
    /// ([`crate::extent`]): its newest events were deleted, or it was emptied.
    LogCut { seen: i64, last: Option<i64> },
    /// A read model holds the breach's stream at its version, which the log does not have: the
    /// log lost events the read models were built from (emptied, cut, or another database's
    /// read models).
    ReadModelAhead { read_model: String },
}

impl fmt::Display for BreachKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HashMismatch { stored, computed } => {
                write!(f, "content or hash altered: stored hash {stored}, recomputed {computed}")
            }
            Self::MissingHash => write!(f, "the event has no hash"),
            Self::BrokenLink { expected, found } => {
                write!(f, "broken chain link: prev_hash {found}, the previous version's hash is {expected}")
            }
            Self::MissingVersion { expected } => {
                write!(f, "missing version {expected}: an event was deleted")
            }
            Self::VersionOutOfOrder { after } => write!(f, "version out of order, after version {after}"),
            Self::UnexpectedEvents { expected, found } => {
                write!(f, "unexpected event in a sealed range: the seal covers {expected} events, {found} found")
            }
            Self::MissingSealedEvents { expected, found } => {
                write!(f, "events missing from a sealed range: the seal covers {expected} events, {found} found")
            }
            Self::SealMismatch { stored, computed } => {
                write!(f, "seal mismatch: stored hash {stored}, recomputed {computed}")
            }
            Self::BrokenSealChain { reason } => write!(f, "broken chain of seals: {reason}"),
            Self::RecordedSealDiffers { recorded, stored: Some(stored) } => {
                write!(f, "the seal's hash is {stored}, not {recorded} as recorded: the log was rewritten")
            }
            Self::RecordedSealDiffers { recorded, stored: None } => {
                write!(f, "the seal recorded with hash {recorded} is gone: the log was rewritten")
            }
            Self::LogCut { seen, last: Some(last) } => write!(
                f,
                "the log ends at global position {last}, but it was seen to reach {seen}: its newest events were deleted"
            ),
            Self::LogCut { seen, last: None } => {
                write!(f, "the log is empty, but it was seen to reach global position {seen}: it was emptied")
            }
            Self::ReadModelAhead { read_model } => write!(
                f,
                "the read model `{read_model}` holds this version, which the log does not have: events the read \
                 models were built from are missing"
            ),
        }
    }
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.global_position, &self.stream_id, self.stream_version) {
            (Some(p), Some(s), Some(v)) => write!(f, "global position {p} (stream {s}, version {v}): ")?,
            (Some(p), _, _) => write!(f, "global position {p}: ")?,
            _ => {}
        }
        if let Some(seal) = &self.seal {
            let after =
                seal.after.map_or("the start of the log".to_owned(), |c| format!("position {}", c.global_position));
            write!(f, "seal {} (after {after}, up to position {}): ", seal.seal_number, seal.last.global_position)?;
        }
        write!(f, "{}", self.kind)
    }
}

/// The pass over the log: per-stream heads, and the seal whose range is being read.
struct Verifier {
    seals: Vec<Seal>,
    /// Index in `seals` of the seal whose range is being read (`seals.len()`: past them all).
    current: usize,
    hasher: Option<SealHasher>,
    /// The first event of the current range recorded after its seal was written.
    late: Option<(i64, String, u64)>,
    streams: HashMap<String, (u64, Hash)>,
    events: u64,
    unsealed: u64,
}

impl Verifier {
    fn new(seals: Vec<Seal>) -> Result<Self, Box<Breach>> {
        let mut v =
            Self { seals, current: 0, hasher: None, late: None, streams: HashMap::new(), events: 0, unsealed: 0 };
        v.open_seal()?;
        Ok(v)
    }

    fn range(&self, i: usize) -> SealRange {
        SealRange {
            seal_number: self.seals[i].seal_number,
            after: i.checked_sub(1).map(|p| self.seals[p].last),
            last: self.seals[i].last,
        }
    }

    fn seal_breach(&self, kind: BreachKind) -> Box<Breach> {
        Box::new(Breach {
            global_position: None,
            stream_id: None,
            stream_version: None,
            seal: Some(self.range(self.current)),
            kind,
            events_checked: self.events,
        })
    }

    /// Starts reading the range of `seals[current]`, checking that it chains to the one before.
    fn open_seal(&mut self) -> Result<(), Box<Breach>> {
        let Some(seal) = self.seals.get(self.current) else {
            self.hasher = None;
            return Ok(());
        };
        let (number, prev, after) = match self.current.checked_sub(1).map(|p| &self.seals[p]) {
            Some(p) => (p.seal_number + 1, p.hash, p.last),
            None => (1, ZERO_HASH, Checkpoint::START),
        };
        let reason = if seal.seal_number != number {
            Some(format!("seal {} follows seal {}", seal.seal_number, number - 1))
        } else if seal.prev_hash != prev {
            Some(format!("its prev_hash is {}, the previous seal's hash is {}", to_hex(&seal.prev_hash), to_hex(&prev)))
        } else if seal.last <= after {
            Some("its range ends before the previous seal's".to_owned())
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(self.seal_breach(BreachKind::BrokenSealChain { reason }));
        }
        self.hasher = Some(SealHasher::new(&seal.prev_hash));
        self.late = None;
        Ok(())
    }

    /// Ends the range of `seals[current]`: its events must be exactly those it sealed.
    fn close_seal(&mut self) -> Result<(), Box<Breach>> {
        let seal = &self.seals[self.current];
        let hasher = self.hasher.take().expect("a seal is open");
        let found = hasher.count();
        let computed = hasher.finish();
        if found != seal.event_count || computed != seal.hash {
            let expected = seal.event_count;
            let kind = if found > expected || (self.late.is_some() && computed != seal.hash) {
                BreachKind::UnexpectedEvents { expected, found }
            } else if found < expected {
                BreachKind::MissingSealedEvents { expected, found }
            } else {
                BreachKind::SealMismatch { stored: to_hex(&seal.hash), computed: to_hex(&computed) }
            };
            let mut breach = self.seal_breach(kind);
            if let Some((position, stream, version)) = self.late.take() {
                breach.global_position = Some(position);
                breach.stream_id = Some(stream);
                breach.stream_version = Some(version);
            }
            return Err(breach);
        }
        self.current += 1;
        self.open_seal()
    }

    fn event(&mut self, e: HashedEvent) -> Result<(), Box<Breach>> {
        let checkpoint = e.checkpoint();
        while self.current < self.seals.len() && checkpoint > self.seals[self.current].last {
            self.close_seal()?;
        }
        let breach = |kind: BreachKind, e: &HashedEvent, events: u64| {
            Box::new(Breach {
                global_position: Some(e.global_position),
                stream_id: Some(e.stream_id.clone()),
                stream_version: Some(e.stream_version),
                seal: None,
                kind,
                events_checked: events,
            })
        };
        let (Some(hash), Some(prev_hash)) = (e.hash, e.prev_hash) else {
            return Err(breach(BreachKind::MissingHash, &e, self.events));
        };
        let head = self.streams.get(&e.stream_id).copied();
        let (last_version, expected_prev) = head.unwrap_or((0, ZERO_HASH));
        if e.stream_version != last_version + 1 {
            let kind = if e.stream_version > last_version + 1 {
                BreachKind::MissingVersion { expected: last_version + 1 }
            } else {
                BreachKind::VersionOutOfOrder { after: last_version }
            };
            return Err(breach(kind, &e, self.events));
        }
        let computed = e.computed_hash();
        if computed != hash {
            let kind = BreachKind::HashMismatch { stored: to_hex(&hash), computed: to_hex(&computed) };
            return Err(breach(kind, &e, self.events));
        }
        if prev_hash != expected_prev {
            let kind = BreachKind::BrokenLink { expected: to_hex(&expected_prev), found: to_hex(&prev_hash) };
            return Err(breach(kind, &e, self.events));
        }
        if let Some(hasher) = &mut self.hasher {
            hasher.add(&hash);
            if self.late.is_none() && e.recorded_at > self.seals[self.current].sealed_at {
                self.late = Some((e.global_position, e.stream_id.clone(), e.stream_version));
            }
        } else {
            self.unsealed += 1;
        }
        match head {
            Some(_) => {
                if let Some(entry) = self.streams.get_mut(&e.stream_id) {
                    *entry = (e.stream_version, hash);
                }
            }
            None => {
                self.streams.insert(e.stream_id, (e.stream_version, hash));
            }
        }
        self.events += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<Summary, Box<Breach>> {
        while self.current < self.seals.len() {
            self.close_seal()?;
        }
        let last_seal = self.seals.last().map(|s| SealSummary {
            seal_number: s.seal_number,
            hash: to_hex(&s.hash),
            last_global_position: s.last.global_position,
            sealed_at: s.sealed_at.clone(),
        });
        Ok(Summary {
            events: self.events,
            streams: self.streams.len() as u64,
            seals: self.seals.len() as u64,
            unsealed_events: self.unsealed,
            last_seal,
        })
    }
}

async fn count_events(store: &AnyStore) -> Result<u64, StoreError> {
    let n: i64 = match store {
        AnyStore::Postgres(s) => sqlx::query_scalar("select count(*) from events").fetch_one(s.pool()).await?,
        AnyStore::Sqlite(s) => sqlx::query_scalar("select count(*) from events").fetch_one(s.reader()).await?,
    };
    Ok(n as u64)
}

/// Verifies the whole log: one pass in reading order recomputing every hash, checking each
/// stream's chain and every seal (see the module's documentation). `on_progress` is called every
/// few thousand events and at the end. `Err` only when the database cannot be read; a log that
/// does not verify is `Ok(Report::Broken(…))`.
pub async fn verify(store: &AnyStore, on_progress: impl FnMut(Progress) + Send) -> Result<Report, StoreError> {
    verify_against(store, &[], on_progress).await
}

/// A seal's number and hash as an auditor recorded them outside the database, e.g. from an
/// earlier `carnet verify`; parsed from `NUMBER:HEX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordedSeal {
    pub seal_number: i64,
    pub hash: Hash,
}

impl std::str::FromStr for RecordedSeal {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let invalid = || format!("{s}: expected NUMBER:HASH, the hash in 64 hex digits");
        let (number, hash) = s.split_once(':').ok_or_else(invalid)?;
        Ok(Self {
            seal_number: number.trim().parse().map_err(|_| invalid())?,
            hash: from_hex(hash).ok_or_else(invalid)?,
        })
    }
}

/// [`verify`], and also that each seal in `recorded` still has the hash the auditor recorded:
/// the defence against someone who rewrote the whole database, hashes and seals included.
pub async fn verify_against(
    store: &AnyStore,
    recorded: &[RecordedSeal],
    mut on_progress: impl FnMut(Progress) + Send,
) -> Result<Report, StoreError> {
    // seals first: every event a seal read had committed before it, so the pass below sees it
    let seals = seals(store).await?;
    for r in recorded {
        let stored = seals.iter().position(|s| s.seal_number == r.seal_number);
        if stored.is_none_or(|i| seals[i].hash != r.hash) {
            let seal = stored.map(|i| SealRange {
                seal_number: r.seal_number,
                after: i.checked_sub(1).map(|p| seals[p].last),
                last: seals[i].last,
            });
            return Ok(Report::Broken(Breach {
                global_position: None,
                stream_id: None,
                stream_version: None,
                seal,
                kind: BreachKind::RecordedSealDiffers {
                    recorded: format!("{}:{}", r.seal_number, to_hex(&r.hash)),
                    stored: stored.map(|i| to_hex(&seals[i].hash)),
                },
                events_checked: 0,
            }));
        }
    }
    let total = count_events(store).await?;
    let mut verifier = match Verifier::new(seals) {
        Ok(v) => v,
        Err(breach) => return Ok(Report::Broken(*breach)),
    };
    let mut events = hashed_events(store, Checkpoint::START);
    while let Some(event) = events.try_next().await? {
        if let Err(breach) = verifier.event(event) {
            return Ok(Report::Broken(*breach));
        }
        if verifier.events % 4096 == 0 {
            on_progress(Progress { checked: verifier.events, total: total.max(verifier.events) });
        }
    }
    drop(events);
    let checked = verifier.events;
    let report = match verifier.finish() {
        Ok(summary) => Report::Intact(summary),
        Err(breach) => Report::Broken(*breach),
    };
    on_progress(Progress { checked, total: total.max(checked) });
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// Backfill (SQLite)

/// Hashes, once, the events of a SQLite database that predates the chains (pending while
/// `integrity_backfill` holds its row, which the migration writes). Returns how many it hashed.
pub(crate) async fn backfill_sqlite(writer: &sqlx::SqlitePool) -> Result<u64, StoreError> {
    let mut tx = writer.begin().await?;
    let pending: Option<i64> =
        sqlx::query_scalar("select pending from integrity_backfill").fetch_optional(&mut *tx).await?;
    if pending.is_none() {
        return Ok(0);
    }
    type Row = (i64, String, i64, String, String, i32, String, String, String, Option<Vec<u8>>);
    let rows: Vec<Row> = sqlx::query_as(
        "select global_position, stream_id, stream_version, event_id, event_type, schema_version, payload, \
         metadata, recorded_at, hash from events order by stream_id, stream_version",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut stream: Option<String> = None;
    let mut prev = ZERO_HASH;
    let mut hashed = 0;
    for (global_position, stream_id, version, event_id, event_type, schema_version, payload, metadata, at, hash) in rows
    {
        if stream.as_deref() != Some(stream_id.as_str()) {
            prev = ZERO_HASH;
        }
        if let Some(existing) = hash_column(hash) {
            prev = existing;
        } else {
            let fields = EventFields {
                global_position,
                stream_id: &stream_id,
                stream_version: version as u64,
                event_id: &event_id,
                event_type: &event_type,
                schema_version,
                payload: &payload,
                metadata: &metadata,
                recorded_at: &at,
            };
            let hash = event_hash(&prev, &fields);
            sqlx::query("update events set prev_hash = ?, hash = ? where global_position = ?")
                .bind(&prev[..])
                .bind(&hash[..])
                .bind(global_position)
                .execute(&mut *tx)
                .await?;
            prev = hash;
            hashed += 1;
        }
        stream = Some(stream_id);
    }
    sqlx::query("delete from integrity_backfill").execute(&mut *tx).await?;
    tx.commit().await?;
    if hashed > 0 {
        tracing::info!(events = hashed, "hash chains computed for the events of an older database");
    }
    Ok(hashed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resolvers (async-graphql) and spawned tasks need a `Send` future.
    #[allow(dead_code)]
    fn verification_and_sealing_are_send(store: &AnyStore) {
        fn send<T: Send>(_: T) {}
        send(verify(store, |_| {}));
        send(verify_against(store, &[], |_| {}));
        send(seal_pending(store));
    }

    #[test]
    fn hex_round_trips() {
        let h: Hash = std::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(from_hex(&to_hex(&h)), Some(h));
        assert_eq!(from_hex(&to_hex(&h).to_uppercase()), Some(h));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(to_hex(&ZERO_HASH), "0".repeat(64));
    }

    /// The recipe, spelled out with nothing but `sha2`, matches [`event_hash`].
    #[test]
    fn event_hash_is_the_documented_recipe() {
        let fields = EventFields {
            global_position: 42,
            stream_id: "project-0193",
            stream_version: 3,
            event_id: "01939f0c-0000-7000-8000-000000000001",
            event_type: "ProjectAccepted",
            schema_version: 1,
            payload: r#"{"note": "l'école \"du futur\" 🚀"}"#,
            metadata: r#"{"actor": {"id": "p", "issuer": "i"}}"#,
            recorded_at: "2026-11-29T07:41:48.123456Z",
        };
        let prev = [7u8; 32];
        let message = format!(
            "{}\n42\nproject-0193\n3\n01939f0c-0000-7000-8000-000000000001\nProjectAccepted\n1\n{}\n{}\n2026-11-29T07:41:48.123456Z\n",
            "07".repeat(32),
            fields.payload,
            fields.metadata
        );
        let expected: Hash = Sha256::digest(message.as_bytes()).into();
        assert_eq!(event_hash(&prev, &fields), expected);

        let mut seal = SealHasher::new(&ZERO_HASH);
        seal.add(&expected);
        let message = format!("{}\n{}\n", "0".repeat(64), to_hex(&expected));
        let expected_seal: Hash = Sha256::digest(message.as_bytes()).into();
        assert_eq!(seal.finish(), expected_seal);
    }

    #[test]
    fn timestamps_have_a_fixed_width() {
        let t = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").unwrap().with_timezone(&Utc);
        assert_eq!(timestamp_text(t), "2026-01-02T03:04:05.000000Z");
        let t = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.12345678+01:00").unwrap().with_timezone(&Utc);
        assert_eq!(timestamp_text(t), "2026-01-02T02:04:05.123456Z");
    }
}
