//! The one seam between the read models and their two backends. Everything that differs
//! between PostgreSQL and SQLite is here, and only here: what differs in SQL is spelled by the
//! [`Dialect`] of each backend, side by side in `postgres.rs` and `sqlite.rs` (read the two
//! files together: same functions, same order); this file holds what both share — the bound
//! values ([`Arg`]), the connections ([`Db`], [`Conn`], [`Reader`], [`Tx`]) and running a
//! statement — dispatching to the backend's file where a type differs. No module outside this
//! one matches on the backend: they take a [`Backend`] (a dialect) and call its fragments.
//!
//! Rows travel between Rust and SQL as JSON on both backends: reads build one JSON object per
//! row in SQL ([`Dialect::json_object`]) that serde decodes, and bulk writes bind one JSON array
//! of rows that SQL turns back into a record set ([`Dialect::json_rows`]). One Rust code path
//! then serves both backends, and a batch of any size is one statement per table. Placeholders
//! are `$1, $2…` on both (sqlx's SQLite driver reads `$N`, and a `$N` used twice is one
//! value). Values are always bound; only identifiers (our own table names) and the dialect's
//! fragments are formatted into SQL.

mod postgres;
mod sqlite;

use carnet_store::{AnyStore, BindArgs, PgStore, SqliteStore, TxConn};
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, PgConnection, PgPool, SqliteConnection, SqlitePool, Transaction};
use std::ops::DerefMut;

/// The read models' database: the store's own (read models live beside the log, so inline
/// projectors share the append's transaction).
#[derive(Clone, Copy, Debug)]
pub enum Db<'a> {
    Postgres(&'a PgPool),
    /// Writes go through the store's single writer, reads through its readers.
    Sqlite {
        writer: &'a SqlitePool,
        reader: &'a SqlitePool,
    },
}

/// An event store whose database also holds the read models.
pub trait ProjectionStore: carnet_store::EventStore {
    fn db(&self) -> Db<'_>;
}

impl ProjectionStore for PgStore {
    fn db(&self) -> Db<'_> {
        Db::Postgres(self.pool())
    }
}

impl ProjectionStore for SqliteStore {
    fn db(&self) -> Db<'_> {
        Db::Sqlite { writer: self.writer(), reader: self.reader() }
    }
}

impl ProjectionStore for AnyStore {
    fn db(&self) -> Db<'_> {
        match self {
            AnyStore::Postgres(s) => s.db(),
            AnyStore::Sqlite(s) => s.db(),
        }
    }
}

impl Db<'_> {
    /// The SQL dialect of this database.
    pub(crate) fn backend(self) -> Backend {
        match self {
            Db::Postgres(_) => &postgres::Postgres,
            Db::Sqlite { .. } => &sqlite::Sqlite,
        }
    }
}

/// Locks held across every instance sharing the database until [`Exclusive::release`] (or a
/// drop midway): PostgreSQL session advisory locks on a connection detached from the pool, so
/// that they end with it. On SQLite none: one process owns the file.
pub(crate) struct Exclusive(Option<PgConnection>);

impl Exclusive {
    /// Takes one lock per name, or none: `Err(name)` is the first one another session holds.
    pub(crate) async fn take(db: Db<'_>, names: &[String]) -> Result<Result<Self, String>, sqlx::Error> {
        match db {
            Db::Postgres(pool) => Ok(postgres::advisory_locks(pool, names).await?.map(|c| Exclusive(Some(c)))),
            Db::Sqlite { .. } => Ok(Ok(Exclusive(None))),
        }
    }

    pub(crate) async fn release(self) {
        if let Some(conn) = self.0 {
            let _ = sqlx::Connection::close(conn).await; // ends the advisory locks
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The dialect

/// A backend, as the rest of the crate sees it: the SQL it speaks.
pub(crate) type Backend = &'static dyn Dialect;

/// The SQL fragments and catalog statements each backend spells its own way. Each fragment
/// returns SQL text to format into a statement; identifiers in arguments are our own.
pub(crate) trait Dialect: Sync {
    /// `column` is one of the values of the list bound at `$n` ([`Arg::Texts`] or
    /// [`Arg::Uuids`]).
    fn in_list(&self, column: &str, n: usize) -> String;

    /// The name of the SQL function building a JSON object (see [`Dialect::json_object`]).
    fn json_object_function(&self) -> &'static str;

    /// A JSON object of `(key, SQL expression)` pairs.
    fn json_object(&self, pairs: &[(&str, String)]) -> String {
        let args: Vec<String> = pairs.iter().map(|(k, e)| format!("'{k}', {e}")).collect();
        format!("{}({})", self.json_object_function(), args.join(", "))
    }

    /// A JSON object as the text a query returns.
    fn json_text(&self, object: String) -> String;

    /// `expr` compared byte by byte, as Rust compares strings, whatever the database's
    /// collation.
    fn bytewise(&self, expr: &str) -> String;

    /// A JSON column as a value inside [`Dialect::json_object`], so that it nests as JSON
    /// rather than as a string.
    fn json_column(&self, column: &str) -> String;

    /// A scalar subquery aggregating `element` over `from_where` into a JSON array ordered by
    /// `order`, `[]` when there is no row; usable as a value inside [`Dialect::json_object`].
    fn json_array_subquery(&self, element: &str, from_where: &str, order: &str) -> String;

    /// The rows of the JSON array bound at `$n`, as a record set aliased `x` with the columns
    /// `columns` of `table` (whose types the database knows).
    fn json_rows(&self, n: usize, table: &str, columns: &[&str]) -> String;

    /// `a` and `b` are equal, two nulls included (`is not distinct from`).
    fn same(&self, a: &str, b: &str) -> String;

    /// A timeline's row is valid at the moment bound at `$n`: `valid_from <= $n` and
    /// (`valid_to` is null or `valid_to > $n`) — on PostgreSQL as the range its GiST index
    /// holds (migration 0018), where a row whose `valid_to` came before its `valid_from` (a
    /// clock stepped back) is the empty range, true at no moment, as it is here.
    fn valid_at(&self, n: usize) -> String;

    /// An id column as text (`<category>-<id>` stream ids).
    fn id_text(&self, column: &str) -> String;

    /// What ends a `select` that locks the rows it reads until commit (nothing where the
    /// transaction already holds the only writer).
    fn for_update(&self) -> &'static str;

    /// The statements that take `tables` from everyone until commit, waiting at most
    /// `timeout_ms` (none where the transaction already holds the only writer).
    fn lock_tables(&self, tables: &[&str], timeout_ms: u64) -> Vec<String>;

    /// A catalog query (`$1`: a live table, `$2`: a suffix) whose rows are the statements that
    /// create the table `$1$2`, empty, as the live one is (the migrations are the one
    /// declaration of a table), without its secondary indexes.
    fn create_copy(&self) -> &'static str;

    /// A catalog query, as [`Dialect::create_copy`], whose rows are the statements that give
    /// the filled copy its secondary indexes before it is swapped in; `None` where an index
    /// cannot be renamed and is made by [`Dialect::after_swap`] instead.
    fn index_copy(&self) -> Option<&'static str>;

    /// The statement that gathers the planner's statistics of a filled copy before it is
    /// swapped in (its first readers get the plans of its real size, not of an empty table);
    /// `None` where the planner keeps none unless asked (SQLite: no `sqlite_stat1` is made).
    fn analyze(&self, table: &str) -> Option<String>;

    /// A catalog query, as [`Dialect::create_copy`], run before `$1$2` replaces `$1`; its rows
    /// are the statements that, once it has and the old table is gone, give the new `$1` the
    /// names and indexes of the old one.
    fn after_swap(&self) -> &'static str;
}

// ---------------------------------------------------------------------------------------------
// Values

/// A bound value: the store's own type, which each backend lowers once
/// ([`carnet_store::BindArgs`]).
pub(crate) use carnet_store::Arg;

/// Timestamps on SQLite: fixed width, UTC, microseconds, so that text order is time order — the
/// store's own format for `recorded_at`, so that the two always compare.
pub(crate) use carnet_store::timestamp_text;

// ---------------------------------------------------------------------------------------------
// Connections

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
            Conn::Pg(_) => &postgres::Postgres,
            Conn::Lite(_) => &sqlite::Sqlite,
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

/// A connection held on either backend: taken from a pool ([`Reader`]) or a transaction
/// ([`Tx`]).
pub(crate) enum Held<P, L> {
    Pg(P),
    Lite(L),
}

impl<P: DerefMut<Target = PgConnection>, L: DerefMut<Target = SqliteConnection>> Held<P, L> {
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match self {
            Held::Pg(c) => Conn::Pg(c),
            Held::Lite(c) => Conn::Lite(c),
        }
    }
}

/// A connection taken for reads: from the pool on PostgreSQL, from the readers on SQLite.
pub(crate) type Reader = Held<PoolConnection<sqlx::Postgres>, PoolConnection<sqlx::Sqlite>>;

impl Reader {
    pub(crate) async fn acquire(db: Db<'_>) -> Result<Self, sqlx::Error> {
        Ok(match db {
            Db::Postgres(pool) => Held::Pg(pool.acquire().await?),
            Db::Sqlite { reader, .. } => Held::Lite(reader.acquire().await?),
        })
    }
}

/// A transaction on either backend (the writer on SQLite).
pub(crate) type Tx = Held<Transaction<'static, sqlx::Postgres>, Transaction<'static, sqlx::Sqlite>>;

impl Tx {
    pub(crate) async fn begin(db: Db<'_>) -> Result<Self, sqlx::Error> {
        Ok(match db {
            Db::Postgres(pool) => Held::Pg(pool.begin().await?),
            Db::Sqlite { writer, .. } => Held::Lite(carnet_store::sqlite::begin_write(writer).await?),
        })
    }

    pub(crate) fn tx_conn(&mut self) -> TxConn<'_> {
        match self {
            Held::Pg(tx) => TxConn::Postgres(tx),
            Held::Lite(tx) => TxConn::Sqlite(tx),
        }
    }

    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Held::Pg(tx) => tx.commit().await,
            Held::Lite(tx) => tx.commit().await,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running statements

/// Counts a statement in `carnet_read_model_statements_total` (Prometheus, at `/metrics`): how
/// many statements the read models cost, so that an N+1 regression shows in production and in
/// the test that guards against it.
fn count_statement(kind: &'static str) {
    metrics::counter!(crate::metrics::READ_MODEL_STATEMENTS, "kind" => kind).increment(1);
}

/// Runs a statement; returns the number of rows it touched.
pub(crate) async fn execute(conn: &mut Conn<'_>, sql: &str, args: Vec<Arg>) -> Result<u64, sqlx::Error> {
    count_statement("write");
    match conn {
        Conn::Pg(c) => {
            Ok(sqlx::query_with(sql, sqlx::Postgres::bind_args(args)?).execute(&mut **c).await?.rows_affected())
        }
        Conn::Lite(c) => {
            Ok(sqlx::query_with(sql, sqlx::Sqlite::bind_args(args)?).execute(&mut **c).await?.rows_affected())
        }
    }
}

/// The rows of a query, as tuples of columns.
pub(crate) async fn fetch<T>(conn: &mut Conn<'_>, sql: &str, args: Vec<Arg>) -> Result<Vec<T>, sqlx::Error>
where
    T: for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
{
    count_statement("read");
    match conn {
        Conn::Pg(c) => sqlx::query_as_with(sql, sqlx::Postgres::bind_args(args)?).fetch_all(&mut **c).await,
        Conn::Lite(c) => sqlx::query_as_with(sql, sqlx::Sqlite::bind_args(args)?).fetch_all(&mut **c).await,
    }
}

/// The first column of each row, as text (the JSON rows of this crate's reads).
pub(crate) async fn fetch_texts(conn: &mut Conn<'_>, sql: &str, args: Vec<Arg>) -> Result<Vec<String>, sqlx::Error> {
    Ok(fetch::<(String,)>(conn, sql, args).await?.into_iter().map(|(t,)| t).collect())
}

/// The first two columns of each row, as integers (counts, checkpoints).
pub(crate) async fn fetch_ints(conn: &mut Conn<'_>, sql: &str, args: Vec<Arg>) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    fetch::<(i64, i64)>(conn, sql, args).await
}

/// [`fetch`] on a connection taken for reads.
pub(crate) async fn read<T>(db: Db<'_>, sql: &str, args: Vec<Arg>) -> Result<Vec<T>, sqlx::Error>
where
    T: for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
{
    fetch(&mut Reader::acquire(db).await?.conn(), sql, args).await
}

/// [`fetch_texts`] on a connection taken for reads.
pub(crate) async fn read_texts(db: Db<'_>, sql: &str, args: Vec<Arg>) -> Result<Vec<String>, sqlx::Error> {
    fetch_texts(&mut Reader::acquire(db).await?.conn(), sql, args).await
}

/// [`fetch_ints`] on a connection taken for reads.
pub(crate) async fn read_ints(db: Db<'_>, sql: &str, args: Vec<Arg>) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    fetch_ints(&mut Reader::acquire(db).await?.conn(), sql, args).await
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Whether `e` is a violation of the unique constraint `constraint` on `table (column, …)`:
/// PostgreSQL names the constraint (a shadow table's carries a suffix), SQLite names only the
/// table and the columns, in its message.
pub(crate) fn violates_unique(e: &sqlx::Error, constraint: &str, table: &str, column: &str) -> bool {
    let sqlx::Error::Database(db) = e else { return false };
    match db.constraint() {
        Some(name) => name.starts_with(constraint),
        None => sqlite::violates_unique(db.message(), table, column),
    }
}

/// Whether `e` is a lock wait that timed out (see [`Dialect::lock_tables`]).
pub(crate) fn lock_timed_out(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some(postgres::LOCK_NOT_AVAILABLE))
}
