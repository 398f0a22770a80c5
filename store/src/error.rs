//! The store's failures, one variant per thing a caller does differently.

use crate::model::{ExpectedVersion, StreamId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Optimistic concurrency: the stream was not at the expected version.
    #[error("conflict on {stream_id}: expected {expected:?}, the stream is at version {current_version}")]
    Conflict { stream_id: StreamId, expected: ExpectedVersion, current_version: u64 },

    /// A stored event cannot be read back (unknown type, shape, or schema version).
    #[error(
        "event at global position {global_position} (stream {stream_id}, version {stream_version}) cannot be read: {reason}"
    )]
    Unreadable { stream_id: String, stream_version: u64, global_position: i64, reason: String },

    /// The caller gave something the store refuses to write (NUL in text, empty stream id…).
    #[error("refused: {reason}")]
    InvalidInput { reason: String },

    /// A rule of a read model refused what the events say (an inline projector: a reference
    /// already taken, an identity already linked): nothing was written. `rule` names it.
    #[error("refused by {rule}: {reason}")]
    Refused { rule: &'static str, reason: String },

    /// A command id seen before, for another request: another operation or input (another
    /// fingerprint), or another stream. Nothing was written.
    #[error("command id {command_id} was already used for another request")]
    CommandReused { command_id: uuid::Uuid },

    /// An event id that is already in the log, outside an idempotent command retry.
    #[error("event {event_id} is already in the log")]
    DuplicateEvent { event_id: uuid::Uuid },

    /// The database could not be reached or the connection was lost; nothing was written.
    #[error("the event store is unavailable")]
    Unavailable(#[source] sqlx::Error),

    /// A database URL Carnet cannot use: its scheme, a parameter, its form (see
    /// [`crate::database_url`]). The reason never holds the URL, which may hold a password.
    #[error("invalid database URL: {reason}")]
    InvalidUrl { reason: String },

    /// The PostgreSQL server did not answer the first connection, at `address` (`host:port`,
    /// or a Unix socket), within [`crate::postgres::CONNECT_TIMEOUT`] or at all.
    #[error("PostgreSQL at {address} did not answer: {cause}")]
    Unreachable { address: String, cause: String },

    /// A key needed to seal or open personal data cannot be used (DESIGN §3.2): a master key
    /// missing from the configuration, say. Names keys by id, never prints one.
    #[error(transparent)]
    Key(#[from] crate::personal_data::KeyError),

    /// Anything else: a bug or an unexpected database state.
    #[error("unexpected event store failure")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Whether the store's pool was closed (the process is stopping): a background task ends.
    pub fn is_pool_closed(&self) -> bool {
        matches!(self, Self::Unavailable(sqlx::Error::PoolClosed))
    }

    pub(crate) fn unexpected(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Unexpected(e.into())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable(&e) { Self::Unavailable(e) } else { Self::Unexpected(Box::new(e)) }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Unexpected(Box::new(e))
    }
}

impl StoreError {
    /// Whether the database could not be reached: this error, or one it wraps (a read model's,
    /// a hook's). A client may retry such a failure later, unchanged.
    pub fn is_unavailable(error: &(dyn std::error::Error + 'static)) -> bool {
        let mut cause = Some(error);
        while let Some(e) = cause {
            if matches!(e.downcast_ref::<StoreError>(), Some(StoreError::Unavailable(_)))
                || e.downcast_ref::<sqlx::Error>().is_some_and(is_unavailable)
            {
                return true;
            }
            cause = e.source();
        }
        false
    }
}

/// Connection-level failures: the database went away, was shut down, refuses connections, or
/// the pool gave up.
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // class 57: operator intervention (admin shutdown, pg_terminate_backend, crash);
        // class 08: connection exception; 55000 at connection: the database does not accept
        // connections (`ALTER DATABASE … ALLOW_CONNECTIONS false`, Carnet issues no statement
        // that raises 55000 otherwise); 3D000: the database is gone; 53300: too many
        // connections; SQLite: SQLITE_BUSY (5, 517: busy snapshot) after the busy timeout,
        // SQLITE_CANTOPEN (14), SQLITE_IOERR (10 and its extended codes, which end in 10 in
        // their low byte)
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            c.starts_with("57")
                || c.starts_with("08")
                || matches!(c.as_ref(), "55000" | "3D000" | "53300" | "5" | "517" | "14")
                // PostgreSQL's codes are five characters, SQLite's are shorter numbers
                || c.len() < 5 && c.parse::<u32>().is_ok_and(|n| n & 0xff == 10)
        }),
        _ => false,
    }
}

/// The store's unique constraints, as the append tells them apart (each backend maps its own
/// errors to these: `postgres::unique_violation`, `sqlite::unique_violation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unique {
    /// `(stream_id, stream_version)`: the optimistic-concurrency conflict.
    StreamVersion,
    /// `event_id`: an event appended twice.
    EventId,
    /// `command_id`: a retried command.
    CommandId,
}
