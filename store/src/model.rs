//! What goes into the log and what comes out of it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// `<category>-<uuid>`, e.g. `project-0193…`. At most 200 characters, no NUL.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StreamId(String);

impl StreamId {
    pub fn new(category: &str, id: Uuid) -> Self {
        Self(format!("{category}-{id}"))
    }
    /// Any text naming a stream; refused when empty, longer than 200 characters or with NUL.
    pub fn parse(raw: &str) -> Result<Self, crate::StoreError> {
        if raw.is_empty() || raw.len() > 200 || raw.contains('\0') {
            return Err(crate::StoreError::InvalidInput {
                reason: "a stream id is 1 to 200 characters, without NUL".into(),
            });
        }
        Ok(Self(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The part before the first `-`: `project`, `session`, `person`.
    pub fn category(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the writer believes the stream's version is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ExpectedVersion {
    /// Append whatever the version.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must be exactly at this version (≥ 1).
    Exact(u64),
}

impl ExpectedVersion {
    /// `NoStream` for 0, `Exact(n)` otherwise: what a writer that loaded version `n` expects.
    pub fn from_loaded(version: u64) -> Self {
        if version == 0 { Self::NoStream } else { Self::Exact(version) }
    }
    pub(crate) fn as_db(&self) -> Option<i64> {
        match self {
            Self::Any => None,
            Self::NoStream => Some(0),
            Self::Exact(n) => Some(*n as i64),
        }
    }
}

/// Who acted: an opaque person id and the issuer that vouched for it. Never a name.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Actor {
    pub id: String,
    pub issuer: String,
}

/// Stored with every event of an append (DESIGN §3).
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Metadata {
    pub actor: Actor,
    pub correlation_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    /// Idempotency key: a retried command with the same id returns the first result.
    pub command_id: Uuid,
    /// Business time: when it happened, as the user says.
    pub occurred_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the command was, for a client-chosen `command_id`: a digest of the request (see
    /// [`request_fingerprint`]). A replay of the id with another fingerprint, or on another
    /// stream, is [`crate::StoreError::CommandReused`]. Stored with the events (hashed, never
    /// edited); `None` for commands whose id nobody chooses twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// The fingerprint of a request: SHA-256 (lowercase hex) of the operation's name and its
/// canonical input, each line ended by a newline. The caller canonicalizes the input (sorted
/// keys, no insignificant whitespace); the target stream is compared apart, by the store.
pub fn request_fingerprint(operation: &str, canonical_input: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("carnet-request-v1\n{operation}\n{canonical_input}\n").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Metadata {
    /// Metadata for a new command by `actor`: fresh command and correlation ids, occurred now.
    pub fn new(actor: Actor) -> Self {
        let command_id = Uuid::now_v7();
        Self {
            actor,
            correlation_id: command_id,
            causation_id: None,
            command_id,
            occurred_at: Utc::now(),
            reason: None,
            fingerprint: None,
        }
    }
}

/// An event to append, already encoded.
#[derive(Clone, PartialEq, Debug)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: serde_json::Value,
}

impl NewEvent {
    pub fn new(event_type: impl Into<String>, payload: serde_json::Value) -> Self {
        Self { event_id: Uuid::now_v7(), event_type: event_type.into(), schema_version: 1, payload }
    }
}

/// A point in the global log. Readers follow `(transaction_id, global_position)`: on
/// PostgreSQL `global_position` alone is not commit order (DESIGN §3). `Checkpoint::START`
/// is before the first event.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash, Default, Serialize, Deserialize)]
pub struct Checkpoint {
    pub transaction_id: i64,
    pub global_position: i64,
}

impl Checkpoint {
    pub const START: Checkpoint = Checkpoint { transaction_id: 0, global_position: 0 };
}

/// An event as stored.
#[derive(Clone, PartialEq, Debug)]
pub struct RecordedEvent {
    pub global_position: i64,
    pub transaction_id: i64,
    pub stream_id: StreamId,
    pub stream_version: u64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: serde_json::Value,
    pub metadata: Metadata,
    pub recorded_at: DateTime<Utc>,
}

impl RecordedEvent {
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint { transaction_id: self.transaction_id, global_position: self.global_position }
    }
}

/// The outcome of an append. A replayed `command_id` gives back the first append's result
/// with `replayed: true`.
#[derive(Clone, PartialEq, Debug)]
pub struct AppendResult {
    pub stream_id: StreamId,
    /// The events written (or, for a replay, the events the first attempt wrote).
    pub events: Vec<RecordedEvent>,
    /// The stream's version after this append (for a replay: after the first attempt).
    pub stream_version: u64,
    pub replayed: bool,
}

/// A stored snapshot of an aggregate's state.
#[derive(Clone, PartialEq, Debug)]
pub struct Snapshot {
    pub stream_id: StreamId,
    pub decider_version: i32,
    pub stream_version: u64,
    pub state: serde_json::Value,
}

/// A timestamp as Carnet writes it in text: `YYYY-MM-DDTHH:MM:SS.ffffffZ` — what SQLite stores,
/// what PostgreSQL's `to_char(… 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` renders, and what the
/// integrity recipe hashes as `recorded_at`.
pub fn timestamp_text(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The columns of `events` that make a [`RecordedEvent`], in the order every reader selects them.
pub(crate) const EVENT_COLUMNS: &str = "global_position, transaction_id, stream_id, stream_version, event_id, \
     event_type, schema_version, payload, metadata, recorded_at";

#[cfg(test)]
mod timestamp_tests {
    use super::*;
    use chrono::{DateTime, Utc};

    #[test]
    fn timestamps_have_a_fixed_width() {
        let t = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").unwrap().with_timezone(&Utc);
        assert_eq!(timestamp_text(t), "2026-01-02T03:04:05.000000Z");
        let t = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.12345678+01:00").unwrap().with_timezone(&Utc);
        assert_eq!(timestamp_text(t), "2026-01-02T02:04:05.123456Z");
    }
}
