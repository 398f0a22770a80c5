//! The auditors' feed on PostgreSQL (see [`crate::feed`]): lists bound as arrays, the JSON
//! rendered as text for the hash recipe, and every page below the horizon.

use super::{PgStore, decode_row};
use crate::error::StoreError;
use crate::feed::{Bind, Feed, FeedDialect, FeedFilter, Page, Select, Statement, in_reading_order};
use crate::integrity::HashedEvent;
use crate::model::{Checkpoint, RecordedEvent};
use sqlx::Row;
use sqlx::postgres::PgRow;

pub(crate) const FEED_DIALECT: FeedDialect = FeedDialect {
    category: "split_part(stream_id, '-', 1)",
    any_of: |column, values| format!("{column} = any({values})"),
    actor_field: |field| format!("metadata -> 'actor' ->> '{field}'"),
    // the JSON as the database renders it: the text the hash covers
    hashed_columns: "transaction_id, global_position, stream_id, stream_version, event_id, event_type, \
                     schema_version, payload::text as payload, metadata::text as metadata, recorded_at, prev_hash, hash",
};

fn bound(statement: &Statement) -> sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments> {
    statement.binds.iter().fold(sqlx::query(&statement.sql), |query, bind| match bind {
        Bind::Int(v) => query.bind(*v),
        Bind::Text(v) => query.bind(v),
        Bind::Texts(v) => query.bind(v),
        Bind::Time(v) => query.bind(*v),
    })
}

impl PgStore {
    /// The oldest transaction still running: every transaction below it has ended, so its
    /// events are all visible, now and to any later statement (DESIGN §3, as `read_all`).
    /// Read apart and bound as a value, so that the planner knows it covers nearly the whole
    /// log: inline, an unknown bound beside the checkpoint's made PostgreSQL take the range for
    /// a tiny one and walk the reading order instead of the period's index.
    async fn horizon(&self) -> Result<i64, StoreError> {
        let horizon = sqlx::query_scalar("select carnet_log_horizon()").fetch_one(self.pool()).await?;
        Ok(horizon)
    }

    async fn feed_statement(
        &self,
        select: Select,
        filter: &FeedFilter,
        page: Option<Page>,
        limit: usize,
    ) -> Result<Statement, StoreError> {
        Ok(Statement::build(&FEED_DIALECT, Some(self.horizon().await?), select, filter, page, limit))
    }

    async fn feed_rows<T>(
        &self,
        select: Select,
        filter: &FeedFilter,
        page: Page,
        limit: usize,
        decode: impl Fn(&PgRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let statement = self.feed_statement(select, filter, Some(page), limit).await?;
        let rows = bound(&statement).fetch_all(self.pool()).await?;
        Ok(in_reading_order(rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?, page))
    }

    /// The plan PostgreSQL chooses for a forward page of `filter` (`explain (format json)`'s
    /// `Plan`), to check that a filter uses its index: for tests and operators.
    pub async fn explain_feed(
        &self,
        filter: &FeedFilter,
        after: Checkpoint,
        limit: usize,
    ) -> Result<serde_json::Value, StoreError> {
        let mut statement = self.feed_statement(Select::Events, filter, Some(Page::After(after)), limit).await?;
        statement.sql = format!("explain (format json) {}", statement.sql);
        let plan: serde_json::Value = bound(&statement).fetch_one(self.pool()).await?.try_get(0)?;
        Ok(plan[0]["Plan"].clone())
    }
}

impl Feed for PgStore {
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
        let statement = self.feed_statement(Select::Count, filter, None, 0).await?;
        let n: i64 = bound(&statement).fetch_one(self.pool()).await?.try_get("n")?;
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
