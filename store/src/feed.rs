//! The global feed for auditors: the log in reading order, filtered in SQL, paged by checkpoint.
//!
//! [`Feed`] answers what an auditor asks of the whole log (the GraphQL `events` query, `carnet
//! export`): the events of some stream types, of some event types, by one actor, recorded within
//! a period, oldest first. It pages like [`crate::EventStore::read_all`], in reading order
//! `(transaction_id, global_position)` and, on PostgreSQL, only below the oldest transaction still
//! running (`pg_snapshot_xmin`): an auditor who pages through with the last [`Checkpoint`] never
//! skips an event whose transaction took its position early and committed late. A page may
//! therefore end short of events already committed above that horizon; they come in a later
//! page.
//!
//! Decisions:
//! - **Filters are SQL, values are bound.** The statement holds the conditions the filter asks
//!   for and nothing else (no `$n is null or …`, which would keep PostgreSQL's generic plans
//!   off every index); every value is a bind parameter.
//! - **Indexes for the selective filters.** A page walks the reading-order index from its
//!   checkpoint and stops after `limit` matches, so an unselective filter (a stream type: there
//!   are four; an actor: the lab team is a handful of people) costs a scan of the part of the
//!   log the page covers, and no more. The selective ones have an index of their own
//!   (migration `feed_indexes`): the period (`recorded_at`), so that a page of one month of an old
//!   log does not walk the years before it, and the event type, ordered by reading position
//!   within each type, so that `ProjectAccepted` events page without reading the others.
//!   `PgStore::explain_feed` shows the plan PostgreSQL picks (the tests check it).
//! - **The period is system time** (`recorded_at`, set by the store), both bounds included; the
//!   business time (`occurred_at`) is the user's word, in the metadata.
//! - **Hashes on demand.** [`Feed::read_hashed`] gives the events as the hash recipe sees them
//!   ([`crate::integrity::HashedEvent`]: the payload and metadata as the database renders them,
//!   `hash` and `prev_hash` as stored), for `carnet export`; the other reads decode the events.

use crate::arg::Arg;
use crate::error::StoreError;
use crate::integrity::HashedEvent;
use crate::model::{Checkpoint, EVENT_COLUMNS, RecordedEvent};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use std::future::Future;

/// Which events of the log a reader wants. Each list means "any of these" (empty: no
/// condition); the conditions add up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedFilter {
    /// Stream categories: `project`, `session`, `person`, `reference`…
    pub stream_types: Vec<String>,
    /// Event types, e.g. `ProjectAccepted`.
    pub event_types: Vec<String>,
    /// The actor's opaque id (`metadata.actor.id`).
    pub actor: Option<String>,
    /// The issuer that vouched for the actor (`metadata.actor.issuer`).
    pub actor_issuer: Option<String>,
    /// Recorded at or after this moment.
    pub from: Option<DateTime<Utc>>,
    /// Recorded at or before this moment.
    pub to: Option<DateTime<Utc>>,
}

/// The global feed, on either backend (see the module doc).
pub trait Feed {
    /// Up to `limit` events matching `filter` after `after`, in reading order. Never returns an
    /// event while an earlier one may still commit.
    fn read_feed(
        &self,
        filter: &FeedFilter,
        after: Checkpoint,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// The last `limit` events matching `filter` before `before` (before the horizon when
    /// `None`), in reading order: the end of the feed, paged backward.
    fn read_feed_back(
        &self,
        filter: &FeedFilter,
        before: Option<Checkpoint>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// How many events match `filter`, up to the horizon.
    fn count_feed(&self, filter: &FeedFilter) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// As [`Self::read_feed`], each event as hashed: its fields in the recipe's canonical text
    /// and its stored `hash` and `prev_hash` (see [`crate::integrity`]).
    fn read_hashed(
        &self,
        filter: &FeedFilter,
        after: Checkpoint,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<HashedEvent>, StoreError>> + Send;
}

// ---------------------------------------------------------------------------------------------
// The statement, written once; what each backend writes its own way is its [`FeedDialect`]

/// How a backend writes the parts of a feed statement that differ (`postgres/feed.rs`,
/// `sqlite/feed.rs`).
pub(crate) struct FeedDialect {
    /// The stream's category: the part of `stream_id` before the first `-`.
    pub category: &'static str,
    /// `column` is one of the values bound as one list at `placeholder`.
    pub any_of: fn(column: &str, placeholder: &str) -> String,
    /// `metadata.actor.<field>` as text.
    pub actor_field: fn(field: &str) -> String,
    /// The columns of [`Feed::read_hashed`]: the JSON as the text the hash covers.
    pub hashed_columns: &'static str,
}

/// Where a page starts, and which way it goes.
#[derive(Clone, Copy)]
pub(crate) enum Page {
    After(Checkpoint),
    Before(Option<Checkpoint>),
}

/// What [`Feed::read_hashed`] selects (PostgreSQL renders the JSON columns as text).
pub(crate) const HASHED_COLUMNS: &str = "transaction_id, global_position, stream_id, stream_version, event_id, \
     event_type, schema_version, payload, metadata, recorded_at, prev_hash, hash";

/// The SQL of a feed read and its values, in the order of their `$n` placeholders.
pub(crate) struct Statement {
    pub sql: String,
    pub binds: Vec<Arg>,
}

/// What is selected: the events, or their count.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Select {
    Events,
    Hashed,
    Count,
}

impl Statement {
    /// `horizon`: PostgreSQL's oldest running transaction (see `PgStore::horizon`); SQLite, with
    /// its single writer, has none.
    pub(crate) fn build(
        dialect: &FeedDialect,
        horizon: Option<i64>,
        select: Select,
        filter: &FeedFilter,
        page: Option<Page>,
        limit: usize,
    ) -> Self {
        let mut binds = vec![];
        let mut next = |bind: Arg| {
            binds.push(bind);
            format!("${}", binds.len())
        };
        let mut conditions = vec![];
        match page {
            Some(Page::After(after)) => {
                let (tx, pos) = (next(Arg::Int(after.transaction_id)), next(Arg::Int(after.global_position)));
                conditions.push(format!("(transaction_id, global_position) > ({tx}, {pos})"));
            }
            Some(Page::Before(Some(before))) => {
                let (tx, pos) = (next(Arg::Int(before.transaction_id)), next(Arg::Int(before.global_position)));
                conditions.push(format!("(transaction_id, global_position) < ({tx}, {pos})"));
            }
            Some(Page::Before(None)) | None => {}
        }
        if let Some(horizon) = horizon {
            conditions.push(format!("transaction_id < {}", next(Arg::Int(horizon))));
        }
        for (column, values) in [(dialect.category, &filter.stream_types), ("event_type", &filter.event_types)] {
            match values.as_slice() {
                [] => {}
                // one value: an equality, which an index walks in order (`= any` would be sorted)
                [one] => conditions.push(format!("{column} = {}", next(Arg::Text(one.clone())))),
                many => {
                    let values = next(Arg::Texts(many.to_vec()));
                    conditions.push((dialect.any_of)(column, &values));
                }
            }
        }
        for (field, value) in [("id", &filter.actor), ("issuer", &filter.actor_issuer)] {
            if let Some(value) = value {
                let value = next(Arg::Text(value.clone()));
                conditions.push(format!("{} = {value}", (dialect.actor_field)(field)));
            }
        }
        if let Some(from) = filter.from {
            // stored to the microsecond: a bound finer than that is rounded inwards
            let floor = from.trunc_subsecs(6);
            let from = if floor < from { floor + Duration::microseconds(1) } else { floor };
            conditions.push(format!("recorded_at >= {}", next(Arg::Time(from))));
        }
        if let Some(to) = filter.to {
            conditions.push(format!("recorded_at <= {}", next(Arg::Time(to.trunc_subsecs(6)))));
        }
        let columns = match select {
            Select::Events => EVENT_COLUMNS,
            Select::Hashed => dialect.hashed_columns,
            Select::Count => "count(*) as n",
        };
        let mut sql = format!("select {columns} from events");
        if !conditions.is_empty() {
            sql.push_str(" where ");
            sql.push_str(&conditions.join(" and "));
        }
        if select != Select::Count {
            let order = match page {
                Some(Page::Before(_)) => "transaction_id desc, global_position desc",
                _ => "transaction_id, global_position",
            };
            // the limit written in (Carnet's own integer): a generic plan sees it
            // (`PgStore::connect_options`, "Generic plans")
            sql.push_str(&format!(" order by {order} limit {}", i64::try_from(limit).unwrap_or(i64::MAX)));
        }
        Self { sql, binds }
    }
}

/// What a backend gives the feed (`postgres/feed.rs`, `sqlite/feed.rs`): the rows of a
/// statement built with its [`FeedDialect`], and how it decodes them. [`Feed`] is written once
/// on top, for every store that has this.
pub(crate) trait FeedBackend: Sync {
    type Row;
    /// How a row of [`Select::Events`] decodes.
    const EVENT: Decode<Self::Row, RecordedEvent>;
    /// How a row of [`Select::Hashed`] decodes.
    const HASHED: Decode<Self::Row, HashedEvent>;
    /// The `n` of [`Select::Count`].
    const COUNT: Decode<Self::Row, i64>;
    /// The rows of [`Statement::build`] with this backend's dialect (and horizon).
    fn rows(
        &self,
        select: Select,
        filter: &FeedFilter,
        page: Option<Page>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Self::Row>, StoreError>> + Send;
}

/// A backend's decoding of one row.
pub(crate) type Decode<R, T> = fn(&R) -> Result<T, StoreError>;

/// One page of `select`, decoded, in reading order.
async fn page<S: FeedBackend, T>(
    store: &S,
    select: Select,
    filter: &FeedFilter,
    page: Page,
    limit: usize,
    decode: Decode<S::Row, T>,
) -> Result<Vec<T>, StoreError> {
    let rows = store.rows(select, filter, Some(page), limit).await?;
    Ok(in_reading_order(rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?, page))
}

impl<S: FeedBackend> Feed for S {
    async fn read_feed(
        &self,
        filter: &FeedFilter,
        after: Checkpoint,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        page(self, Select::Events, filter, Page::After(after), limit, S::EVENT).await
    }

    async fn read_feed_back(
        &self,
        filter: &FeedFilter,
        before: Option<Checkpoint>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        page(self, Select::Events, filter, Page::Before(before), limit, S::EVENT).await
    }

    async fn count_feed(&self, filter: &FeedFilter) -> Result<u64, StoreError> {
        let rows = self.rows(Select::Count, filter, None, 0).await?;
        let row = rows.first().ok_or_else(|| StoreError::unexpected("a count returned no row"))?;
        Ok((S::COUNT)(row)?.max(0) as u64)
    }

    async fn read_hashed(
        &self,
        filter: &FeedFilter,
        after: Checkpoint,
        limit: usize,
    ) -> Result<Vec<HashedEvent>, StoreError> {
        page(self, Select::Hashed, filter, Page::After(after), limit, S::HASHED).await
    }
}

/// Rows of a backward page come newest first: put them back in reading order.
pub(crate) fn in_reading_order<T>(mut rows: Vec<T>, page: Page) -> Vec<T> {
    if matches!(page, Page::Before(_)) {
        rows.reverse();
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_holds_only_the_conditions_asked_and_binds_every_value() {
        let bare = Statement::build(
            &crate::postgres::FEED_DIALECT,
            Some(42),
            Select::Events,
            &FeedFilter::default(),
            Some(Page::After(Checkpoint::START)),
            10,
        );
        assert_eq!(bare.binds.len(), 3, "checkpoint and horizon: {}", bare.sql);
        assert!(bare.sql.ends_with(" limit 10"), "the limit written in, for the generic plan: {}", bare.sql);
        assert!(!bare.sql.contains("event_type =") && !bare.sql.contains("recorded_at >"), "{}", bare.sql);

        let filter = FeedFilter {
            stream_types: vec!["project".into()],
            event_types: vec!["ProjectAccepted'; drop table events; --".into()],
            actor: Some("alice".into()),
            actor_issuer: None,
            from: Some(Utc::now()),
            to: None,
        };
        for (dialect, horizon) in [(&crate::postgres::FEED_DIALECT, Some(42)), (&crate::sqlite::FEED_DIALECT, None)] {
            let statement =
                Statement::build(dialect, horizon, Select::Events, &filter, Some(Page::After(Checkpoint::START)), 10);
            assert!(!statement.sql.contains("drop table") && !statement.sql.contains("alice"), "{}", statement.sql);
            assert_eq!(statement.binds.len(), 6 + usize::from(horizon.is_some()), "{}", statement.sql);
            let placeholders = statement.sql.matches('$').count() - statement.sql.matches("'$.").count();
            assert_eq!(placeholders, statement.binds.len(), "{}", statement.sql);
        }
    }
}
