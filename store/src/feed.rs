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
//!   `explain_postgres` shows the plan PostgreSQL picks (the tests check it).
//! - **The period is system time** (`recorded_at`, set by the store), both bounds included; the
//!   business time (`occurred_at`) is the user's word, in the metadata.
//! - **Hashes on demand.** [`Feed::read_hashed`] gives the events as the hash recipe sees them
//!   ([`crate::integrity::HashedEvent`]: the payload and metadata as the database renders them,
//!   `hash` and `prev_hash` as stored), for `carnet export`; the other reads decode the events.

use crate::any::AnyStore;
use crate::error::StoreError;
use crate::integrity::{Hash, HashedEvent, timestamp_text};
use crate::model::{Checkpoint, RecordedEvent};
use crate::postgres::{self, PgStore};
use crate::sqlite::{self, SqliteStore};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
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
// The statement

#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    /// With the horizon: transactions below it have all ended (see [`PgStore::horizon`]).
    Postgres {
        horizon: i64,
    },
    Sqlite,
}

/// A bound value.
enum Bind {
    Int(i64),
    Text(String),
    Texts(Vec<String>),
    Time(DateTime<Utc>),
}

/// Where a page starts, and which way it goes.
#[derive(Clone, Copy)]
enum Page {
    After(Checkpoint),
    Before(Option<Checkpoint>),
}

/// What [`Feed::read_hashed`] selects (PostgreSQL renders the JSON columns as text).
const HASHED_COLUMNS: &str = "transaction_id, global_position, stream_id, stream_version, event_id, event_type, \
     schema_version, payload, metadata, recorded_at, prev_hash, hash";
const PG_JSON_TEXT: &str = "payload::text as payload, metadata::text as metadata";

/// The SQL of a feed read and its values, in the order of their placeholders.
struct Statement {
    sql: String,
    binds: Vec<Bind>,
}

/// What is selected: the events, or their count.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Select {
    Events,
    Hashed,
    Count,
}

impl Statement {
    fn build(backend: Backend, select: Select, filter: &FeedFilter, page: Option<Page>, limit: usize) -> Self {
        let mut binds = vec![];
        let mut next = |bind: Bind| {
            binds.push(bind);
            match backend {
                Backend::Postgres { .. } => format!("${}", binds.len()),
                Backend::Sqlite => "?".to_owned(),
            }
        };
        let mut conditions = vec![];
        match page {
            Some(Page::After(after)) => {
                let (tx, pos) = (next(Bind::Int(after.transaction_id)), next(Bind::Int(after.global_position)));
                conditions.push(format!("(transaction_id, global_position) > ({tx}, {pos})"));
            }
            Some(Page::Before(Some(before))) => {
                let (tx, pos) = (next(Bind::Int(before.transaction_id)), next(Bind::Int(before.global_position)));
                conditions.push(format!("(transaction_id, global_position) < ({tx}, {pos})"));
            }
            Some(Page::Before(None)) | None => {}
        }
        if let Backend::Postgres { horizon } = backend {
            conditions.push(format!("transaction_id < {}", next(Bind::Int(horizon))));
        }
        // the category is the part before the first `-`, as `StreamId::category`
        let category = match backend {
            Backend::Postgres { .. } => "split_part(stream_id, '-', 1)",
            Backend::Sqlite => {
                "(case when instr(stream_id, '-') > 0 then substr(stream_id, 1, instr(stream_id, '-') - 1) \
                 else stream_id end)"
            }
        };
        for (column, values) in [(category, &filter.stream_types), ("event_type", &filter.event_types)] {
            match values.as_slice() {
                [] => {}
                // one value: an equality, which an index walks in order (`= any` would be sorted)
                [one] => conditions.push(format!("{column} = {}", next(Bind::Text(one.clone())))),
                many => {
                    let values = next(Bind::Texts(many.to_vec()));
                    conditions.push(match backend {
                        Backend::Postgres { .. } => format!("{column} = any({values})"),
                        Backend::Sqlite => format!("{column} in (select value from json_each({values}))"),
                    });
                }
            }
        }
        for (field, value) in [("id", &filter.actor), ("issuer", &filter.actor_issuer)] {
            if let Some(value) = value {
                let value = next(Bind::Text(value.clone()));
                conditions.push(match backend {
                    Backend::Postgres { .. } => format!("metadata -> 'actor' ->> '{field}' = {value}"),
                    Backend::Sqlite => format!("json_extract(metadata, '$.actor.{field}') = {value}"),
                });
            }
        }
        if let Some(from) = filter.from {
            // stored to the microsecond: a bound finer than that is rounded inwards
            let floor = from.trunc_subsecs(6);
            let from = if floor < from { floor + Duration::microseconds(1) } else { floor };
            conditions.push(format!("recorded_at >= {}", next(Bind::Time(from))));
        }
        if let Some(to) = filter.to {
            conditions.push(format!("recorded_at <= {}", next(Bind::Time(to.trunc_subsecs(6)))));
        }
        let columns = match select {
            Select::Events => postgres::EVENT_COLUMNS.to_owned(),
            Select::Hashed => match backend {
                // the JSON as the database renders it: the text the hash covers
                Backend::Postgres { .. } => HASHED_COLUMNS.replace("payload, metadata", PG_JSON_TEXT),
                Backend::Sqlite => HASHED_COLUMNS.to_owned(),
            },
            Select::Count => "count(*) as n".to_owned(),
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
            let limit = next(Bind::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
            sql.push_str(&format!(" order by {order} limit {limit}"));
        }
        Self { sql, binds }
    }

    fn postgres(&self) -> sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments> {
        self.binds.iter().fold(sqlx::query(&self.sql), |query, bind| match bind {
            Bind::Int(v) => query.bind(*v),
            Bind::Text(v) => query.bind(v),
            Bind::Texts(v) => query.bind(v),
            Bind::Time(v) => query.bind(*v),
        })
    }

    fn sqlite(&self) -> sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'_>> {
        self.binds.iter().fold(sqlx::query(&self.sql), |query, bind| match bind {
            Bind::Int(v) => query.bind(*v),
            Bind::Text(v) => query.bind(v.as_str()),
            // a JSON array, read by `json_each`: one value, whatever the length
            Bind::Texts(v) => query.bind(serde_json::Value::from(v.clone()).to_string()),
            // as the SQLite store writes it: fixed width, so that text order is time order
            Bind::Time(v) => query.bind(timestamp_text(*v)),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The backends

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

    async fn feed_rows<T>(
        &self,
        select: Select,
        filter: &FeedFilter,
        page: Page,
        limit: usize,
        decode: impl Fn(&PgRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let backend = Backend::Postgres { horizon: self.horizon().await? };
        let statement = Statement::build(backend, select, filter, Some(page), limit);
        let rows = statement.postgres().fetch_all(self.pool()).await?;
        let mut events = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        if matches!(page, Page::Before(_)) {
            events.reverse();
        }
        Ok(events)
    }
}

impl Feed for PgStore {
    async fn read_feed(
        &self,
        filter: &FeedFilter,
        after: Checkpoint,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.feed_rows(Select::Events, filter, Page::After(after), limit, postgres::decode_row).await
    }

    async fn read_feed_back(
        &self,
        filter: &FeedFilter,
        before: Option<Checkpoint>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.feed_rows(Select::Events, filter, Page::Before(before), limit, postgres::decode_row).await
    }

    async fn count_feed(&self, filter: &FeedFilter) -> Result<u64, StoreError> {
        let backend = Backend::Postgres { horizon: self.horizon().await? };
        let statement = Statement::build(backend, Select::Count, filter, None, 0);
        let n: i64 = statement.postgres().fetch_one(self.pool()).await?.try_get("n")?;
        Ok(n as u64)
    }

    async fn read_hashed(
        &self,
        filter: &FeedFilter,
        after: Checkpoint,
        limit: usize,
    ) -> Result<Vec<HashedEvent>, StoreError> {
        self.feed_rows(Select::Hashed, filter, Page::After(after), limit, |row: &PgRow| {
            let recorded_at: DateTime<Utc> = row.try_get("recorded_at")?;
            let event_id: uuid::Uuid = row.try_get("event_id")?;
            Ok(HashedEvent {
                transaction_id: row.try_get("transaction_id")?,
                global_position: row.try_get("global_position")?,
                stream_id: row.try_get("stream_id")?,
                stream_version: row.try_get::<i64, _>("stream_version")? as u64,
                event_id: event_id.hyphenated().to_string(),
                event_type: row.try_get("event_type")?,
                schema_version: row.try_get("schema_version")?,
                payload: row.try_get("payload")?,
                metadata: row.try_get("metadata")?,
                recorded_at: timestamp_text(recorded_at),
                prev_hash: hash_column(row.try_get("prev_hash")?),
                hash: hash_column(row.try_get("hash")?),
            })
        })
        .await
    }
}

/// A stored hash; `None` when missing or not 32 bytes (only in a database someone altered).
fn hash_column(bytes: Option<Vec<u8>>) -> Option<Hash> {
    bytes.and_then(|b| b.try_into().ok())
}

/// The plan PostgreSQL chooses for a forward page of `filter` (`explain (format json)`'s
/// `Plan`), to check that a filter uses its index: for tests and operators.
pub async fn explain_postgres(
    store: &PgStore,
    filter: &FeedFilter,
    after: Checkpoint,
    limit: usize,
) -> Result<serde_json::Value, StoreError> {
    let backend = Backend::Postgres { horizon: store.horizon().await? };
    let mut statement = Statement::build(backend, Select::Events, filter, Some(Page::After(after)), limit);
    statement.sql = format!("explain (format json) {}", statement.sql);
    let plan: serde_json::Value = statement.postgres().fetch_one(store.pool()).await?.try_get(0)?;
    Ok(plan[0]["Plan"].clone())
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
        let statement = Statement::build(Backend::Sqlite, select, filter, Some(page), limit);
        let rows = statement.sqlite().fetch_all(self.reader()).await?;
        let mut events = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        if matches!(page, Page::Before(_)) {
            events.reverse();
        }
        Ok(events)
    }
}

impl Feed for SqliteStore {
    async fn read_feed(
        &self,
        filter: &FeedFilter,
        after: Checkpoint,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.feed_rows(Select::Events, filter, Page::After(after), limit, sqlite::decode_row).await
    }

    async fn read_feed_back(
        &self,
        filter: &FeedFilter,
        before: Option<Checkpoint>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.feed_rows(Select::Events, filter, Page::Before(before), limit, sqlite::decode_row).await
    }

    async fn count_feed(&self, filter: &FeedFilter) -> Result<u64, StoreError> {
        let statement = Statement::build(Backend::Sqlite, Select::Count, filter, None, 0);
        let n: i64 = statement.sqlite().fetch_one(self.reader()).await?.try_get("n")?;
        Ok(n as u64)
    }

    async fn read_hashed(
        &self,
        filter: &FeedFilter,
        after: Checkpoint,
        limit: usize,
    ) -> Result<Vec<HashedEvent>, StoreError> {
        // SQLite stores the JSON and the timestamp as the very text the hash covers
        self.feed_rows(Select::Hashed, filter, Page::After(after), limit, |row: &SqliteRow| {
            Ok(HashedEvent {
                transaction_id: row.try_get("transaction_id")?,
                global_position: row.try_get("global_position")?,
                stream_id: row.try_get("stream_id")?,
                stream_version: row.try_get::<i64, _>("stream_version")? as u64,
                event_id: row.try_get("event_id")?,
                event_type: row.try_get("event_type")?,
                schema_version: row.try_get("schema_version")?,
                payload: row.try_get("payload")?,
                metadata: row.try_get("metadata")?,
                recorded_at: row.try_get("recorded_at")?,
                prev_hash: hash_column(row.try_get("prev_hash")?),
                hash: hash_column(row.try_get("hash")?),
            })
        })
        .await
    }
}

impl Feed for AnyStore {
    async fn read_feed(
        &self,
        filter: &FeedFilter,
        after: Checkpoint,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        match self {
            AnyStore::Postgres(s) => s.read_feed(filter, after, limit).await,
            AnyStore::Sqlite(s) => s.read_feed(filter, after, limit).await,
        }
    }

    async fn read_feed_back(
        &self,
        filter: &FeedFilter,
        before: Option<Checkpoint>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        match self {
            AnyStore::Postgres(s) => s.read_feed_back(filter, before, limit).await,
            AnyStore::Sqlite(s) => s.read_feed_back(filter, before, limit).await,
        }
    }

    async fn count_feed(&self, filter: &FeedFilter) -> Result<u64, StoreError> {
        match self {
            AnyStore::Postgres(s) => s.count_feed(filter).await,
            AnyStore::Sqlite(s) => s.count_feed(filter).await,
        }
    }

    async fn read_hashed(
        &self,
        filter: &FeedFilter,
        after: Checkpoint,
        limit: usize,
    ) -> Result<Vec<HashedEvent>, StoreError> {
        match self {
            AnyStore::Postgres(s) => s.read_hashed(filter, after, limit).await,
            AnyStore::Sqlite(s) => s.read_hashed(filter, after, limit).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_holds_only_the_conditions_asked_and_binds_every_value() {
        let bare = Statement::build(
            Backend::Postgres { horizon: 42 },
            Select::Events,
            &FeedFilter::default(),
            Some(Page::After(Checkpoint::START)),
            10,
        );
        assert_eq!(bare.binds.len(), 4, "checkpoint, horizon and limit: {}", bare.sql);
        assert!(!bare.sql.contains("event_type =") && !bare.sql.contains("recorded_at >"), "{}", bare.sql);

        let filter = FeedFilter {
            stream_types: vec!["project".into()],
            event_types: vec!["ProjectAccepted'; drop table events; --".into()],
            actor: Some("alice".into()),
            actor_issuer: None,
            from: Some(Utc::now()),
            to: None,
        };
        for backend in [Backend::Postgres { horizon: 42 }, Backend::Sqlite] {
            let statement =
                Statement::build(backend, Select::Events, &filter, Some(Page::After(Checkpoint::START)), 10);
            assert!(!statement.sql.contains("drop table") && !statement.sql.contains("alice"), "{}", statement.sql);
            let horizon = usize::from(backend != Backend::Sqlite);
            assert_eq!(statement.binds.len(), 7 + horizon, "{}", statement.sql);
            let placeholders = match backend {
                Backend::Postgres { .. } => statement.sql.matches('$').count(),
                Backend::Sqlite => statement.sql.matches('?').count(),
            };
            assert_eq!(placeholders, statement.binds.len(), "{}", statement.sql);
        }
    }
}
