//! # carnet-store — the event store
//!
//! The log of everything the lab did (DESIGN §3), behind one contract, [`EventStore`], with
//! two backends: [`SqliteStore`] (embedded default) and [`PgStore`] (production). [`AnyStore`]
//! picks one from a URL. Above the raw log: [`Codec`] turn domain events into rows and
//! back (upcasting old schema versions), [`Repository`] runs the way of a command (load
//! snapshot + events → decide → append, retrying conflicts only where that is safe), and
//! [`subscribe`] follows the global log live.
//!
//! Decisions a newcomer must know:
//! - **Reading order.** Readers follow `(transaction_id, global_position)`, a [`Checkpoint`].
//!   On PostgreSQL an identity value is taken before commit, so position N can become visible
//!   after N+1. `read_all` returns only events of transactions older than the oldest still
//!   running (`carnet_log_horizon()`, `pg_snapshot_xmin` plus an offset), so a reader never
//!   skips a late commit and never waits on a timer. SQLite has a single writer, so there the
//!   order is simply commit order.
//! - **Restores.** A log restored into another PostgreSQL cluster is adopted at start (its
//!   transaction ids are offset so that new ones sort after them), and a log found shorter
//!   than it was ever seen is reported, never read as intact: see [`extent`].
//! - **One round trip per append** on PostgreSQL: the `carnet_append` function checks the
//!   expected version, records the command id and inserts the events. Idempotency: a known
//!   `command_id` returns the first result — for the same request only: the same stream and
//!   the same `metadata.fingerprint` (the API's digest of the mutation and its input), else
//!   [`StoreError::CommandReused`] and nothing written. The id is stored on the append's first
//!   event (`events.command_id`, unique); a concurrent retry waits on the stream's lock and then
//!   finds it. The fingerprint lives in the metadata, hashed with the event and never edited, so
//!   no migration was needed; a command that writes no event records no key.
//! - **Several streams, one transaction.** [`EventStore::append_all`] commits appends to
//!   several streams together (a reference number and its entity:
//!   [`Repository::execute_after`]). On PostgreSQL it takes every stream's advisory lock first,
//!   in name order (no deadlock between two such appends, and no lock taken after the
//!   transaction got its id, which would let a stream's versions out of reading order), then
//!   calls `carnet_append` once per stream; on SQLite the one writer does it all in one
//!   transaction, sharing one `transaction_id`.
//! - **Conflicts are constraints.** A unique violation on `events_stream_version_key` is the
//!   optimistic-concurrency conflict, whoever checked the version first.
//! - **Inline work.** [`EventStore::append_with`] runs an [`InlineHook`] inside the append's
//!   transaction (inline projectors: read-your-writes).
//! - **Personal data sealed.** The personal fields of Person events are stored encrypted with a
//!   per-person key, itself wrapped by a configured master key; erasure deletes the key.
//!   Sealing happens in the codec around the store, with keys loaded per read: see [`personal_data`].
//! - **Tamper evidence.** Every event carries `hash`/`prev_hash`, a SHA-256 chain per stream
//!   over its stored form (payload and metadata as the database renders them), filled at
//!   append: in `carnet_append` on PostgreSQL, in Rust on SQLite. Global seals (`seals`) hash
//!   the event hashes in reading order up to a checkpoint the catch-up readers could reach.
//!   [`integrity::verify`] checks it all; the recipe a third party recomputes is in [`integrity`].
//! - **Beside the log:** [`feed`] (the auditors' filtered feed, in reading order) and
//!   [`access_log`] (who called the API; rows deleted after the retention, unlike events).
//! - **Database URLs** ([`database_url`]): a supported scheme is required (no bare paths),
//!   every printed URL goes through the one [`redact_url`], and a PostgreSQL server that does
//!   not answer fails the first connection within [`postgres::CONNECT_TIMEOUT`], naming its host
//!   and port. A new SQLite file and its folder are created private ([`private_files`]).
//! - No SQL is ever built from values: every value is a bind parameter, one type on both
//!   backends ([`Arg`], lowered once per backend by [`BindArgs`]; the read models bind with it too).

pub mod access_log;
pub mod any;
pub mod arg;
pub mod codec;
pub mod contract;
pub mod database_url;
pub mod error;
pub mod extent;
pub mod feed;
pub mod integrity;
mod key_table;
pub mod model;
pub mod personal_data;
pub mod postgres;
pub mod private_files;
pub mod repository;
mod shared_sql;
pub mod sqlite;
pub mod subscription;

pub use any::AnyStore;
pub use arg::{Arg, BindArgs};
pub use codec::Codec;
pub use contract::{Database, EventStore, InlineHook, StreamAppend, TxConn};
pub use database_url::redact as redact_url;
pub use error::StoreError;
pub use model::*;
pub use personal_data::{KeyStore, MasterKeys, PersonKeys};
pub use postgres::PgStore;
pub use repository::{CommandError, Executed, Loaded, Repository, StateCache};
pub use sqlite::SqliteStore;
pub use subscription::subscribe;

#[cfg(test)]
mod migration_numbering {
    use std::collections::BTreeMap;
    use std::path::Path;

    fn tree(backend: &str) -> BTreeMap<u32, String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations").join(backend);
        std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".sql"))
            .map(|name| {
                let number = name.split('_').next().and_then(|n| n.parse().ok()).expect("NNNN_name.sql");
                (number, name)
            })
            .collect()
    }

    /// migrations/README.md: from 0013 on, the same change has the same number and name in both
    /// trees.
    #[test]
    fn migrations_from_0013_pair_up() {
        let (postgres, sqlite) = (tree("postgres"), tree("sqlite"));
        let later = |t: &BTreeMap<u32, String>| t.range(13..).map(|(_, n)| n.clone()).collect::<Vec<_>>();
        assert_eq!(later(&postgres), later(&sqlite), "a migration from 0013 on exists in one tree only");
    }
}
