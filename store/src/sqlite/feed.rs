//! The auditors' feed on SQLite (see [`crate::feed`]): lists bound as one JSON array read by
//! `json_each`, times as the fixed-width text the store writes; no horizon (one writer).

use super::{SqliteStore, decode_row};
use crate::error::StoreError;
use crate::feed::{Bind, Feed, FeedDialect, FeedFilter, HASHED_COLUMNS, Page, Select, Statement, in_reading_order};
use crate::integrity::HashedEvent;
use crate::model::{Checkpoint, RecordedEvent, timestamp_text};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

pub(crate) const FEED_DIALECT: FeedDialect = FeedDialect {
    category: "(case when instr(stream_id, '-') > 0 then substr(stream_id, 1, instr(stream_id, '-') - 1) \
               else stream_id end)",
    any_of: |column, values| format!("{column} in (select value from json_each({values}))"),
    actor_field: |field| format!("json_extract(metadata, '$.actor.{field}')"),
    // SQLite stores the JSON as the very text the hash covers
    hashed_columns: HASHED_COLUMNS,
};

fn bound(statement: &Statement) -> sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'_>> {
    statement.binds.iter().fold(sqlx::query(&statement.sql), |query, bind| match bind {
        Bind::Int(v) => query.bind(*v),
        Bind::Text(v) => query.bind(v.as_str()),
        // a JSON array, read by `json_each`: one value, whatever the length
        Bind::Texts(v) => query.bind(serde_json::Value::from(v.clone()).to_string()),
        // as the SQLite store writes it: fixed width, so that text order is time order
        Bind::Time(v) => query.bind(timestamp_text(*v)),
    })
}

impl SqliteStore {
    async fn feed_rows<T>(
        &self,
        select: Select,
        filter: &FeedFilter,
        page: Page,
        limit: usize,
        decode: impl Fn(&SqliteRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let statement = Statement::build(&FEED_DIALECT, None, select, filter, Some(page), limit);
        let rows = bound(&statement).fetch_all(self.reader()).await?;
        Ok(in_reading_order(rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?, page))
    }
}

impl Feed for SqliteStore {
    async fn read_feed(
        &self,
        filter: &FeedFilter,
        after: Checkpoint,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.feed_rows(Select::Events, filter, Page::After(after), limit, decode_row).await
    }

    async fn read_feed_back(
        &self,
        filter: &FeedFilter,
        before: Option<Checkpoint>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.feed_rows(Select::Events, filter, Page::Before(before), limit, decode_row).await
    }

    async fn count_feed(&self, filter: &FeedFilter) -> Result<u64, StoreError> {
        let statement = Statement::build(&FEED_DIALECT, None, Select::Count, filter, None, 0);
        let n: i64 = bound(&statement).fetch_one(self.reader()).await?.try_get("n")?;
        Ok(n as u64)
    }

    async fn read_hashed(
        &self,
        filter: &FeedFilter,
        after: Checkpoint,
        limit: usize,
    ) -> Result<Vec<HashedEvent>, StoreError> {
        self.feed_rows(Select::Hashed, filter, Page::After(after), limit, super::integrity::hashed_row).await
    }
}
