//! The auditors' feed on PostgreSQL (see [`crate::feed`]): lists bound as arrays, the JSON
//! rendered as text for the hash recipe, and every page below the horizon.

use super::{PgStore, decode_row};
use crate::arg::BindArgs;
use crate::error::StoreError;
use crate::feed::{Decode, FeedBackend, FeedDialect, FeedFilter, Page, Select, Statement};
use crate::integrity::HashedEvent;
use crate::model::{Checkpoint, RecordedEvent};
use sqlx::Row;
use sqlx::postgres::PgRow;

pub(crate) const FEED_DIALECT: FeedDialect = FeedDialect {
    category: "split_part(stream_id, '-', 1)",
    any_of: super::any_of,
    actor_field: |field| format!("metadata -> 'actor' ->> '{field}'"),
    // the JSON as the database renders it: the text the hash covers
    hashed_columns: "transaction_id, global_position, stream_id, stream_version, event_id, event_type, \
                     schema_version, payload::text as payload, metadata::text as metadata, recorded_at, prev_hash, hash",
};

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
        let arguments = sqlx::Postgres::bind_args(statement.binds)?;
        let plan: serde_json::Value =
            sqlx::query_with(&statement.sql, arguments).fetch_one(self.pool()).await?.try_get(0)?;
        Ok(plan[0]["Plan"].clone())
    }
}

impl FeedBackend for PgStore {
    type Row = PgRow;
    const EVENT: Decode<PgRow, RecordedEvent> = decode_row;
    const HASHED: Decode<PgRow, HashedEvent> = super::integrity::hashed_row;
    const COUNT: Decode<PgRow, i64> = |row| Ok(row.try_get("n")?);

    async fn rows(
        &self,
        select: Select,
        filter: &FeedFilter,
        page: Option<Page>,
        limit: usize,
    ) -> Result<Vec<PgRow>, StoreError> {
        let statement = self.feed_statement(select, filter, page, limit).await?;
        let arguments = sqlx::Postgres::bind_args(statement.binds)?;
        Ok(sqlx::query_with(&statement.sql, arguments).fetch_all(self.pool()).await?)
    }
}
