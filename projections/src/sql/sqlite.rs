//! SQLite's side of the seam (compare with `postgres.rs`, in the same order): ids, timestamps
//! and lists bound as text (timestamps fixed-width, so that text order is time order), JSON as
//! text, `json_each`, no row locks (a transaction holds the only writer), and shadow tables
//! copied from the `create table` statement that `sqlite_master` keeps.
//!
//! Constraint names are scoped to their table, so a copy keeps them; an index cannot be
//! renamed, so a copy gets none until it replaces the live table, and then the live table's own.

use super::Dialect;

pub(super) struct Sqlite;

impl Dialect for Sqlite {
    fn in_list(&self, column: &str, n: usize) -> String {
        format!("{column} in (select value from json_each(${n}))")
    }

    fn json_object_function(&self) -> &'static str {
        "json_object"
    }

    fn json_text(&self, object: String) -> String {
        object
    }

    /// SQLite's default collation is already bytewise.
    fn bytewise(&self, expr: &str) -> String {
        expr.to_owned()
    }

    fn json_column(&self, column: &str) -> String {
        format!("json({column})")
    }

    /// A subquery loses SQLite's JSON subtype: `json()` gives it back, so it nests as an array.
    fn json_array_subquery(&self, element: &str, from_where: &str, order: &str) -> String {
        format!("json((select json_group_array({element} order by {order}) {from_where}))")
    }

    fn json_rows(&self, n: usize, _table: &str, columns: &[&str]) -> String {
        let cols: Vec<String> = columns.iter().map(|c| format!("value ->> '{c}' as {c}")).collect();
        format!("(select {} from json_each(${n})) as x", cols.join(", "))
    }

    fn same(&self, a: &str, b: &str) -> String {
        format!("{a} is {b}")
    }

    fn valid_at(&self, n: usize) -> String {
        format!("valid_from <= ${n} and (valid_to is null or valid_to > ${n})")
    }

    fn id_text(&self, column: &str) -> String {
        column.to_owned()
    }

    fn for_update(&self) -> &'static str {
        ""
    }

    fn lock_tables(&self, _tables: &[&str], _timeout_ms: u64) -> Vec<String> {
        vec![]
    }

    /// The live table's statement under the copy's name: what follows the name is kept as
    /// written (columns, constraints and their names; a rename rewrites only the name).
    fn create_copy(&self) -> &'static str {
        "select 'create table ' || $1 || $2 || ' ' || substr(sql, instr(sql, '('))
         from sqlite_master where type = 'table' and name = $1"
    }

    fn analyze(&self, _: &str) -> Option<String> {
        None
    }

    fn index_copy(&self) -> Option<&'static str> {
        None
    }

    /// The live table's secondary indexes, as created (the keys' automatic indexes follow a
    /// renamed table by themselves).
    fn after_swap(&self) -> &'static str {
        "select sql from sqlite_master where type = 'index' and tbl_name = $1 and sql is not null
         order by name"
    }
}

/// SQLite names no constraint: `UNIQUE constraint failed: <table>.<column>, …` (a shadow
/// table's name starts with the live one's).
pub(super) fn violates_unique(message: &str, table: &str, column: &str) -> bool {
    message.contains(&format!("UNIQUE constraint failed: {table}")) && message.contains(&format!(".{column}"))
}
