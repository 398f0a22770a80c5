//! The auditors' feed on SQLite (see [`crate::feed`]): lists read by `json_each` (bound as one
//! JSON array, see [`crate::BindArgs`]); no horizon (one writer).

use super::{SqliteStore, decode_row};
use crate::arg::BindArgs;
use crate::error::StoreError;
use crate::feed::{Decode, FeedBackend, FeedDialect, FeedFilter, HASHED_COLUMNS, Page, Select, Statement};
use crate::integrity::HashedEvent;
use crate::model::RecordedEvent;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

pub(crate) const FEED_DIALECT: FeedDialect = FeedDialect {
    category: "(case when instr(stream_id, '-') > 0 then substr(stream_id, 1, instr(stream_id, '-') - 1) \
               else stream_id end)",
    any_of: super::any_of,
    actor_field: |field| format!("json_extract(metadata, '$.actor.{field}')"),
    // SQLite stores the JSON as the very text the hash covers
    hashed_columns: HASHED_COLUMNS,
};

impl FeedBackend for SqliteStore {
    type Row = SqliteRow;
    const EVENT: Decode<SqliteRow, RecordedEvent> = decode_row;
    const HASHED: Decode<SqliteRow, HashedEvent> = super::integrity::hashed_row;
    const COUNT: Decode<SqliteRow, i64> = |row| Ok(row.try_get("n")?);

    async fn rows(
        &self,
        select: Select,
        filter: &FeedFilter,
        page: Option<Page>,
        limit: usize,
    ) -> Result<Vec<SqliteRow>, StoreError> {
        let statement = Statement::build(&FEED_DIALECT, None, select, filter, page, limit);
        let arguments = sqlx::Sqlite::bind_args(statement.binds)?;
        Ok(sqlx::query_with(&statement.sql, arguments).fetch_all(self.reader()).await?)
    }
}
