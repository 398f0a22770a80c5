//! The one type for a value bound to a statement, on either backend: the store's own statements
//! and the read models' (`carnet-projections`) build a `Vec<Arg>` beside their `$n` SQL, and
//! each backend lowers it once ([`BindArgs`], in `postgres/mod.rs` and `sqlite/mod.rs`), storing
//! the few types it has no column type for its own way: a UUID and a time as text on SQLite, a
//! list as one JSON array read by `json_each` (a PostgreSQL array there).

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

/// A bound value.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Text(String),
    Int(i64),
    Bytes(Vec<u8>),
    Date(NaiveDate),
    Time(DateTime<Utc>),
    Uuid(Uuid),
    /// Rows or values as JSON text; cast with `::jsonb` on PostgreSQL.
    Json(String),
    /// A list of text values (`= any($n)` on PostgreSQL, `in (select value from json_each($n))`
    /// on SQLite).
    Texts(Vec<String>),
    /// A list of ids, as [`Arg::Texts`].
    Uuids(Vec<Uuid>),
}

/// A backend's way of binding [`Arg`]s (implemented for `sqlx::Postgres` and `sqlx::Sqlite`).
pub trait BindArgs: sqlx::Database {
    /// `args` as this backend's arguments, in the order of the statement's `$1, $2…`.
    fn bind_args(args: Vec<Arg>) -> Result<<Self as sqlx::Database>::Arguments<'static>, sqlx::Error>;
}
