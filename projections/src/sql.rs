//! What differs between the backends, in one place: connections, binding, and the few SQL
//! fragments that are spelled differently.
//!
//! Rows travel between Rust and SQL as JSON on both backends: reads build one JSON object per
//! row in SQL (`json_build_object` / `json_object`) that serde decodes, and bulk writes bind one
//! JSON array of rows that SQL turns back into a record set (`jsonb_to_recordset` /
//! `json_each`). One Rust code path then serves both backends, and a batch of any size is one
//! statement per table. Placeholders are `$1, $2…` on both (sqlx's SQLite driver reads `$N`).
//! Values are always bound; only identifiers (our own table names) and these fragments are
//! formatted into SQL.

use carnet_store::TxConn;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, SqliteConnection};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Postgres,
    Sqlite,
}

/// A connection on either backend (a transaction's, or one taken from a pool).
pub(crate) enum Conn<'c> {
    Pg(&'c mut PgConnection),
    Lite(&'c mut SqliteConnection),
}

impl<'c> From<TxConn<'c>> for Conn<'c> {
    fn from(tx: TxConn<'c>) -> Self {
        match tx {
            TxConn::Postgres(c) => Conn::Pg(c),
            TxConn::Sqlite(c) => Conn::Lite(c),
        }
    }
}

impl Conn<'_> {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Conn::Pg(_) => Backend::Postgres,
            Conn::Lite(_) => Backend::Sqlite,
        }
    }
}

/// Reborrows a [`TxConn`] so that several pieces of work can share one transaction.
pub(crate) fn reborrow<'a>(tx: &'a mut TxConn<'_>) -> TxConn<'a> {
    match tx {
        TxConn::Postgres(c) => TxConn::Postgres(c),
        TxConn::Sqlite(c) => TxConn::Sqlite(c),
    }
}

/// A bound value. Each backend stores a few types its own way (see `bind_pg`, `bind_lite`).
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
    Date(NaiveDate),
    Time(DateTime<Utc>),
    Uuid(Uuid),
    /// Rows or values as JSON text; cast with `::jsonb` on PostgreSQL.
    Json(String),
    /// A list of text values, for [`in_list`].
    Texts(Vec<String>),
    /// A list of ids, for [`in_list`].
    Uuids(Vec<Uuid>),
}

/// Timestamps on SQLite: fixed width, UTC, microseconds, so that text order is time order — the
/// store's own format for `recorded_at`, so that the two always compare.
pub(crate) use carnet_store::integrity::timestamp_text;

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;
type LiteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

fn bind_pg(mut q: PgQuery<'_>, args: Vec<Arg>) -> PgQuery<'_> {
    for arg in args {
        q = match arg {
            Arg::Text(v) | Arg::Json(v) => q.bind(v),
            Arg::Int(v) => q.bind(v),
            Arg::Date(v) => q.bind(v),
            Arg::Time(v) => q.bind(v),
            Arg::Uuid(v) => q.bind(v),
            Arg::Texts(v) => q.bind(v),
            Arg::Uuids(v) => q.bind(v),
        };
    }
    q
}

fn bind_lite(mut q: LiteQuery<'_>, args: Vec<Arg>) -> LiteQuery<'_> {
    for arg in args {
        q = match arg {
            Arg::Text(v) | Arg::Json(v) => q.bind(v),
            Arg::Int(v) => q.bind(v),
            Arg::Date(v) => q.bind(v),
            Arg::Time(v) => q.bind(timestamp_text(v)),
            Arg::Uuid(v) => q.bind(v.to_string()),
            Arg::Texts(v) => q.bind(serde_json::Value::from(v).to_string()),
            Arg::Uuids(v) => q.bind(serde_json::Value::from_iter(v.iter().map(Uuid::to_string)).to_string()),
        };
    }
    q
}

/// Counts a statement in `carnet_read_model_statements_total` (Prometheus, at `/metrics`): how
/// many statements the read models cost, so that an N+1 regression shows in production and in
/// the test that guards against it.
fn count_statement(kind: &'static str) {
    metrics::counter!("carnet_read_model_statements_total", "kind" => kind).increment(1);
}

/// Runs a statement; returns the number of rows it touched.
pub(crate) async fn execute(conn: &mut Conn<'_>, sql: &str, args: Vec<Arg>) -> Result<u64, sqlx::Error> {
    count_statement("write");
    match conn {
        Conn::Pg(c) => Ok(bind_pg(sqlx::query(sql), args).execute(&mut **c).await?.rows_affected()),
        Conn::Lite(c) => Ok(bind_lite(sqlx::query(sql), args).execute(&mut **c).await?.rows_affected()),
    }
}

/// The first column of each row, as text (the JSON rows of this crate's reads).
pub(crate) async fn fetch_texts(conn: &mut Conn<'_>, sql: &str, args: Vec<Arg>) -> Result<Vec<String>, sqlx::Error> {
    use sqlx::Row;
    count_statement("read");
    match conn {
        Conn::Pg(c) => {
            let rows = bind_pg(sqlx::query(sql), args).fetch_all(&mut **c).await?;
            rows.iter().map(|r| r.try_get(0)).collect()
        }
        Conn::Lite(c) => {
            let rows = bind_lite(sqlx::query(sql), args).fetch_all(&mut **c).await?;
            rows.iter().map(|r| r.try_get(0)).collect()
        }
    }
}

/// The first two columns of each row, as integers (counts, checkpoints).
pub(crate) async fn fetch_ints(conn: &mut Conn<'_>, sql: &str, args: Vec<Arg>) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    use sqlx::Row;
    count_statement("read");
    match conn {
        Conn::Pg(c) => {
            let rows = bind_pg(sqlx::query(sql), args).fetch_all(&mut **c).await?;
            rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
        }
        Conn::Lite(c) => {
            let rows = bind_lite(sqlx::query(sql), args).fetch_all(&mut **c).await?;
            rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fragments

/// `column` is one of the values of the list bound at `$n` ([`Arg::Texts`] or [`Arg::Uuids`]).
pub(crate) fn in_list(b: Backend, column: &str, n: usize) -> String {
    match b {
        Backend::Postgres => format!("{column} = any(${n})"),
        Backend::Sqlite => format!("{column} in (select value from json_each(${n}))"),
    }
}

/// A JSON object of `(key, SQL expression)` pairs.
pub(crate) fn json_object(b: Backend, pairs: &[(&str, String)]) -> String {
    let f = match b {
        Backend::Postgres => "json_build_object",
        Backend::Sqlite => "json_object",
    };
    let args: Vec<String> = pairs.iter().map(|(k, e)| format!("'{k}', {e}")).collect();
    format!("{f}({})", args.join(", "))
}

/// A JSON object as the text a query returns.
pub(crate) fn json_text(b: Backend, object: String) -> String {
    match b {
        Backend::Postgres => format!("{object}::text"),
        Backend::Sqlite => object,
    }
}

/// `expr` compared byte by byte, as Rust compares strings, whatever the database's collation
/// (SQLite's default is already bytewise).
pub(crate) fn bytewise(b: Backend, expr: &str) -> String {
    match b {
        Backend::Postgres => format!("{expr} collate \"C\""),
        Backend::Sqlite => expr.to_owned(),
    }
}

/// A JSON column (`jsonb` on PostgreSQL, JSON text on SQLite) as a value inside
/// [`json_object`], so that it nests as JSON rather than as a string.
pub(crate) fn json_column(b: Backend, column: &str) -> String {
    match b {
        Backend::Postgres => column.to_owned(),
        Backend::Sqlite => format!("json({column})"),
    }
}

/// A scalar subquery aggregating `element` over `from_where` into a JSON array ordered by
/// `order`, `[]` when there is no row; usable as a value inside [`json_object`].
pub(crate) fn json_array_subquery(b: Backend, element: &str, from_where: &str, order: &str) -> String {
    match b {
        Backend::Postgres => {
            format!("coalesce((select json_agg({element} order by {order}) {from_where}), '[]'::json)")
        }
        // a subquery loses SQLite's JSON subtype: json() gives it back, so it nests as an array
        Backend::Sqlite => format!("json((select json_group_array({element} order by {order}) {from_where}))"),
    }
}

/// The rows of the JSON array bound at `$n`, as a record set with `columns` (`(name, PostgreSQL
/// type)`), aliased `x`.
pub(crate) fn json_rows(b: Backend, n: usize, columns: &[(&str, &str)]) -> String {
    match b {
        Backend::Postgres => {
            let defs: Vec<String> = columns.iter().map(|(c, t)| format!("{c} {t}")).collect();
            format!("jsonb_to_recordset(${n}::jsonb) as x({})", defs.join(", "))
        }
        Backend::Sqlite => {
            let cols: Vec<String> = columns.iter().map(|(c, _)| format!("value ->> '{c}' as {c}")).collect();
            format!("(select {} from json_each(${n})) as x", cols.join(", "))
        }
    }
}
