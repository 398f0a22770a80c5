//! # Tamper evidence: per-stream hash chains, global seals, the Merkle tree and its signed
//! checkpoints, verification (DESIGN §3.3)
//!
//! Four layers: each event's `hash` chains it to its stream's previous event; seals (below) hash
//! stretches of the log in reading order; [`tree`] keeps the whole log as an RFC 9162 Merkle tree
//! ([`merkle`]: the hashing, the proofs and their verification), whose roots [`checkpoint`] signs
//! as C2SP checkpoints with a key the database never holds. Chains and seals are checked against
//! the database itself; a checkpoint is checked against a public key, so that a log rewritten by
//! someone who can write every table still fails against a checkpoint kept elsewhere. Around the
//! checkpoints: [`witness`] (third parties' cosignatures, C2SP tlog-cosignature, and the
//! witness's decision to cosign or refuse) and [`timestamp`] (RFC 3161 tokens from a
//! time-stamping authority).
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
//!   `sqlite::integrity::backfill` right after the migration that marks it pending. Neither runs again,
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

use crate::any::{AnyStore, on_backend};
use crate::error::StoreError;
use crate::model::{Checkpoint, NewEvent, StreamId};
use futures::stream::{BoxStream, TryStreamExt};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::io::Write;

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

/// A stored hash; `None` when missing or not 32 bytes (only in a database someone altered).
pub(crate) fn hash_column(bytes: Option<Vec<u8>>) -> Option<Hash> {
    bytes.and_then(|b| b.try_into().ok())
}

/// Every committed event after `after`, in reading order, as hashed (one query, streamed). It
/// reads what is committed when it starts, in-flight transactions aside: for verification and
/// export, not for following the log (use `read_all`).
pub fn hashed_events(store: &AnyStore, after: Checkpoint) -> BoxStream<'_, Result<HashedEvent, StoreError>> {
    on_backend!(store, s => s.hashed_events(after))
}

pub mod checkpoint;
pub mod merkle;
mod seals;
pub mod timestamp;
pub mod tree;
mod verify;
pub mod witness;
pub use seals::*;
pub use verify::*;

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
}
