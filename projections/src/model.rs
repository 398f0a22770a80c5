//! What every read model shares: the batch projector ("load the rows a batch touches → apply
//! the events in memory → write each table once"), the names of live and shadow tables, and
//! keyset paging ([`Listing`], [`list`]). A read model says only what is its own through
//! [`Model`]: its columns and child tables, how an event creates or changes a row, which table
//! rows a row stands for, and which unique constraints a user can run into; the frame around
//! (the entity missing, the version stamp, the decoding, the refusals) is written here once.
//!
//! Why one mechanism rather than a projector per read model: idempotence by version, the
//! "write only what changed" rule and the shadow tables of a rebuild are subtle enough to be
//! written (and tested) once.

use crate::sql::{self, Arg, Backend, Conn, Reader};
use crate::timeline::{self, Timeline};
use crate::{Db, ProjectionError};
use carnet_domain::Decider;
use carnet_store::RecordedEvent;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Tables

/// The names of a read model's tables: the live ones (no suffix), a rebuild's shadow ones, or
/// — for reads only — the tables as they were at a past moment, from their timelines.
#[derive(Clone)]
pub(crate) struct Tables {
    suffix: String,
    /// Reading the timelines at this moment, bound first in every statement ([`Tables::binds`]),
    /// in the backend's words for "valid then".
    at: Option<(Backend, DateTime<Utc>)>,
}

impl Tables {
    /// The live tables.
    pub(crate) fn live() -> Self {
        Self::with_suffix("")
    }

    pub(crate) fn with_suffix(suffix: &str) -> Self {
        Self { suffix: suffix.to_owned(), at: None }
    }

    /// The live tables as they were at `at`, for reads: each named table stands for the rows of
    /// its timeline valid then ([`crate::timeline`]), with the columns the timeline keeps; a
    /// table without a timeline is an error of the database (no such table), never the live one.
    pub(crate) fn as_of(b: Backend, at: DateTime<Utc>) -> Self {
        Self { suffix: String::new(), at: Some((b, at)) }
    }

    /// The name of table `base` (e.g. `project_phase`) under this suffix, or what stands for it
    /// at the moment of [`Tables::as_of`].
    pub(crate) fn of(&self, base: &str) -> String {
        match self.at {
            None => format!("{base}{}", self.suffix),
            Some((b, _)) => timeline::valid_at_first_bind(b, &format!("{base}_timeline")),
        }
    }

    /// The values a statement over these tables binds first (the moment, when as of one).
    pub(crate) fn binds(&self) -> Binds {
        timeline::binds(self.at.map(|(_, at)| at))
    }
}

/// A child table of a read model: rows that belong to one entity and are replaced as a set
/// when they change.
pub(crate) struct Child<R> {
    pub table: &'static str,
    /// The columns as written; the first one holds the entity's id.
    pub columns: &'static [&'static str],
    /// The rows of this table for an entity, as JSON objects keyed by column, without the first
    /// (the projector adds the entity's id): most often its items as serde writes them
    /// ([`records`], [`values`]).
    pub rows: fn(&R) -> Vec<serde_json::Value>,
}

/// What the machinery needs of every entity row: its id and the stamp of the last event it
/// reflects (all three read models keep `id`, `version`, `updated_at` and `last_position`).
pub(crate) trait Entity {
    fn id(&self) -> Uuid;
    /// The stream version of the last event the row reflects.
    fn version(&self) -> u64;
    /// Records that the row now reflects `recorded`.
    fn stamp(&mut self, recorded: &RecordedEvent);
}

macro_rules! entities {
    ($($row:ty),*) => {$(
        impl Entity for $row {
            fn id(&self) -> Uuid {
                self.id
            }
            fn version(&self) -> u64 {
                self.version
            }
            fn stamp(&mut self, recorded: &RecordedEvent) {
                self.version = recorded.stream_version;
                self.updated_at = recorded.recorded_at;
                self.last_position = recorded.global_position;
            }
        }
    )*};
}

entities!(crate::ProjectRow, crate::SessionRow, crate::PersonRow);

/// A unique constraint of a read model that a user can run into (a reference already taken…),
/// refused in words rather than as a database failure.
pub(crate) struct Unique<R> {
    /// Its name (PostgreSQL's reports name it; a shadow table's carries a suffix).
    pub constraint: &'static str,
    /// Its table and first column (SQLite's reports name only those).
    pub table: &'static str,
    pub column: &'static str,
    /// The rule a refusal names, as a domain rejection does.
    pub rule: &'static str,
    /// The refusal's message, from the entities the batch creates.
    pub message: fn(&[&R]) -> String,
}

/// `a, b` for the references of `new`, or « envoyée » when the batch creates none (a message's
/// words for the reference that is taken).
pub(crate) fn sent_references<'r>(new: impl Iterator<Item = &'r str>) -> String {
    let references: Vec<&str> = new.collect();
    if references.is_empty() { "envoyée".to_owned() } else { references.join(", ") }
}

impl<R> Child<R> {
    /// The JSON object of one row, as `c` (see [`Child::array`]): its columns but the first.
    pub(crate) fn object(&self, b: Backend) -> String {
        b.json_object(&column_pairs("c", &self.columns[1..]))
    }

    /// A JSON array of `element` over this table's rows, aliased `c`, of the entity aliased
    /// `parent` in the enclosing select, ordered by `order`.
    pub(crate) fn array(&self, b: Backend, t: &Tables, parent: &str, element: &str, order: &str) -> String {
        let from = format!("from {} c where c.{} = {parent}.id", t.of(self.table), self.columns[0]);
        b.json_array_subquery(element, &from, order)
    }
}

/// The domain events of a read model's stream.
pub(crate) type Event<M> = <<M as Model>::Aggregate as Decider>::Event;

/// A read model: one main table (one row per entity, keyed by `id`) and child tables.
pub(crate) trait Model: Send + Sync + 'static {
    /// An entity as the projector holds it in memory, children included.
    type Row: Entity + Clone + PartialEq + Send + Sync;
    /// An entity as [`Model::select`] gives it, turned into a row by `From`.
    type Stored: DeserializeOwned + Into<Self::Row>;
    /// The aggregate whose stream an entity is built from: its events and its category.
    type Aggregate: Decider;
    /// The stream category this read model follows (`project` for `project-<uuid>`).
    const CATEGORY: &'static str = <Self::Aggregate as Decider>::CATEGORY;
    /// The main table, named after the category (`project`).
    const TABLE: &'static str = Self::CATEGORY;
    /// The main table's columns as written; the first is `id`.
    const COLUMNS: &'static [&'static str];
    /// The child tables, each replaced as a set when its rows change.
    const CHILDREN: &'static [Child<Self::Row>];
    /// The id column of [`Model::select`], qualified by its alias (`p.id`).
    const ID: &'static str;
    /// The unique constraints refused in words (see [`Model::refine`]).
    const UNIQUE: &'static [Unique<Self::Row>] = &[];
    /// The columns kept over time ([`crate::timeline`]), for questions about past moments.
    const TIMELINES: &'static [Timeline<Self::Row>] = &[];

    /// The main table, the child tables, then the timelines: what a rebuild copies and swaps
    /// in.
    fn tables() -> Vec<&'static str> {
        std::iter::once(Self::TABLE)
            .chain(Self::CHILDREN.iter().map(|c| c.table))
            .chain(Self::TIMELINES.iter().map(|t| t.name))
            .collect()
    }

    /// `select <one JSON object per entity, children included> from <main table> <alias>`: what
    /// the projector loads (derived values that other read models feed may be left out).
    fn select(b: Backend, t: &Tables) -> String;

    /// Decodes one JSON row of [`Model::select`].
    fn decode(text: &str) -> Result<Self::Row, ProjectionError> {
        let stored: Self::Stored = serde_json::from_str(text)
            .map_err(|e| ProjectionError::Corrupt(format!("a {} row: {e}: {text}", Self::CATEGORY)))?;
        Ok(stored.into())
    }

    /// The entity that `event` creates (the first event of its stream); `None` for the others.
    fn create(id: Uuid, recorded: &RecordedEvent, event: &Event<Self>) -> Option<Self::Row>;

    /// What `event` changes in the entity: a plain function of the row and the event, the same
    /// facts as the decider's `evolve`, restricted to what the read model shows.
    fn change(row: &mut Self::Row, recorded: &RecordedEvent, event: &Event<Self>);

    /// Applies one event to the entity it belongs to (`None`: not in the read model yet).
    fn apply(
        row: &mut Option<Self::Row>,
        id: Uuid,
        recorded: &RecordedEvent,
        event: &Event<Self>,
    ) -> Result<(), ProjectionError> {
        if let Some(created) = Self::create(id, recorded, event) {
            *row = Some(created);
        }
        let Some(entity) = row.as_mut() else {
            return Err(ProjectionError::inconsistent(
                recorded,
                &format!(
                    "the read model has no such {} (was it appended without the inline projections? rebuild)",
                    Self::CATEGORY
                ),
            ));
        };
        Self::change(entity, recorded, event);
        entity.stamp(recorded);
        Ok(())
    }

    /// The main table's row of an entity, as a JSON object keyed by column.
    fn main_row(row: &Self::Row) -> serde_json::Value;

    /// What a failed write becomes: a refusal in words for a violation of one of
    /// [`Model::UNIQUE`], a database error otherwise. `new` are the entities the batch creates.
    fn refine(e: sqlx::Error, new: &[&Self::Row]) -> ProjectionError {
        match Self::UNIQUE.iter().find(|u| sql::violates_unique(&e, u.constraint, u.table, u.column)) {
            Some(u) => ProjectionError::Refused { rule: u.rule, message: (u.message)(new) },
            None => e.into(),
        }
    }
}

/// The entity id of a `<category>-<uuid>` stream.
fn entity_id(event: &RecordedEvent, category: &str) -> Result<Uuid, ProjectionError> {
    event
        .stream_id
        .as_str()
        .strip_prefix(category)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|raw| Uuid::parse_str(raw).ok())
        .ok_or_else(|| ProjectionError::inconsistent(event, &format!("the stream id is not {category}-<uuid>")))
}

/// The entities with these ids, children included, as the projector sees them.
pub(crate) async fn load<M: Model>(
    conn: &mut Conn<'_>,
    t: &Tables,
    ids: &[Uuid],
) -> Result<Vec<M::Row>, ProjectionError> {
    let select = M::select(conn.backend(), t);
    load_with(conn, &select, M::ID, ids, M::decode).await
}

/// The rows of `select` (one JSON object each) whose `id` column is one of `ids`: one
/// statement whatever their number, none for no id.
pub(crate) async fn load_with<R>(
    conn: &mut Conn<'_>,
    select: &str,
    id: &str,
    ids: &[Uuid],
    decode: impl Fn(&str) -> Result<R, ProjectionError>,
) -> Result<Vec<R>, ProjectionError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let sql = format!("{select} where {}", conn.backend().in_list(id, 1));
    let texts = sql::fetch_texts(conn, &sql, vec![Arg::Uuids(ids.to_vec())]).await?;
    texts.iter().map(|text| decode(text)).collect()
}

// ---------------------------------------------------------------------------------------------
// The projector (`projector.rs`)

mod projector;
pub(crate) use projector::ModelProjector;

/// Entities or rows a statement writes at most: a statement of a whole rebuild's entities would
/// cost its bound text's memory, and take no less time for being one.
pub(crate) const ROWS_PER_STATEMENT: usize = 5_000;

/// Rows as the JSON array bound for [`crate::sql::Dialect::json_rows`].
pub(crate) fn json_arg(rows: Vec<serde_json::Value>) -> Arg {
    Arg::Json(serde_json::Value::from(rows).to_string())
}

/// Replaces the rows of the entities `ids` in a child table by `rows`.
pub(crate) async fn replace(
    conn: &mut Conn<'_>,
    table: &str,
    columns: &[&str],
    ids: Vec<Uuid>,
    rows: Vec<serde_json::Value>,
) -> Result<(), ProjectionError> {
    if ids.is_empty() {
        return Ok(());
    }
    let b = conn.backend();
    let delete = format!("delete from {table} where {}", b.in_list(columns[0], 1));
    sql::execute(conn, &delete, vec![Arg::Uuids(ids)]).await?;
    if rows.is_empty() {
        return Ok(());
    }
    let cols = columns.join(", ");
    let insert = format!("insert into {table} ({cols}) select {cols} from {}", b.json_rows(1, table, columns));
    sql::execute(conn, &insert, vec![json_arg(rows)]).await?;
    Ok(())
}

/// `(column, <alias>.<column>)` for each of `columns`: the pairs of a JSON object of a row.
pub(crate) fn column_pairs<'c>(alias: &str, columns: impl IntoIterator<Item = &'c &'c str>) -> Vec<(&'c str, String)> {
    columns.into_iter().map(|c| (*c, format!("{alias}.{c}"))).collect()
}

/// The rows of a child table whose columns are the serde fields of its items (codes as their
/// serde names, as [`code`] stores them).
pub(crate) fn records<T: Serialize>(items: &[T]) -> Vec<serde_json::Value> {
    items.iter().map(|item| serde_json::to_value(item).expect("a read-model row serializes")).collect()
}

/// The rows of a child table of one column (besides the entity's id) holding `items`.
pub(crate) fn values<T: Serialize>(column: &str, items: &[T]) -> Vec<serde_json::Value> {
    items.iter().map(|item| serde_json::json!({ column: item })).collect()
}

/// Decodes one JSON row of `what` (for [`ProjectionError::Corrupt`]'s message).
pub(crate) fn decode_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T, ProjectionError> {
    serde_json::from_str(text).map_err(|e| ProjectionError::Corrupt(format!("{what}: {e}: {text}")))
}

// ---------------------------------------------------------------------------------------------
// Values

/// The code a domain enum is stored as: its serde name (`ACTIVE`, `NETWORK_LAB`).
pub(crate) fn code<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => unreachable!("domain codes serialize as strings, got {other:?}"),
    }
}

/// Midnight UTC starting `day`.
pub(crate) fn midnight(day: chrono::NaiveDate) -> chrono::DateTime<chrono::Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// Inserts `value` into a sorted list unless it is there already.
pub(crate) fn insert_sorted<T: Ord>(list: &mut Vec<T>, value: T) {
    if let Err(at) = list.binary_search(&value) {
        list.insert(at, value);
    }
}

/// Lowercase, without the accents of French and its neighbours: what the `text` filters compare,
/// identically on both backends (SQLite's `lower` knows ASCII only).
pub(crate) fn fold_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => out.push('a'),
            'ç' => out.push('c'),
            'è' | 'é' | 'ê' | 'ë' => out.push('e'),
            'ì' | 'í' | 'î' | 'ï' => out.push('i'),
            'ñ' => out.push('n'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => out.push('o'),
            'ù' | 'ú' | 'û' | 'ü' => out.push('u'),
            'ý' | 'ÿ' => out.push('y'),
            'œ' => out.push_str("oe"),
            'æ' => out.push_str("ae"),
            '’' | '‘' => out.push('\''),
            c => out.push(c),
        }
    }
    out
}

/// The condition "`column` is one of `values`" (stored as their codes), or `None` for no value:
/// an empty list does not filter.
pub(crate) fn any_code<T: Serialize>(b: Backend, column: &str, values: &[T], binds: &mut Binds) -> Option<String> {
    if values.is_empty() {
        return None;
    }
    Some(any_of(b, column, values.iter().map(code).collect(), binds))
}

/// The condition "`column` is one of `values`" (at least one), its values bound: an equality
/// for a single value — the common case, one académie, one status — which PostgreSQL's generic
/// plan (it keeps one per statement: `carnet_store::PgStore::connect_options`) estimates from
/// the column's statistics and serves by index, where `= any($n)` of an unknown length is
/// planned as a scan of the table (BENCHMARKS.md, "Plans kept").
pub(crate) fn any_of(b: Backend, column: &str, mut values: Vec<String>, binds: &mut Binds) -> String {
    if values.len() == 1 {
        let n = binds.push(Arg::Text(values.remove(0)));
        return format!("{column} = ${n}");
    }
    let n = binds.push(Arg::Texts(values));
    b.in_list(column, n)
}

/// The condition "`column` contains the words of `text`" (case and accents ignored, LIKE's
/// wildcards taken literally), or `None` for blank text.
pub(crate) fn text_condition(column: &str, text: Option<&str>, binds: &mut Binds) -> Option<String> {
    let text = text.map(str::trim).filter(|t| !t.is_empty())?;
    let escaped = fold_text(text).replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    let n = binds.push(Arg::Text(format!("%{escaped}%")));
    Some(format!("{column} like ${n} escape '\\'"))
}

// ---------------------------------------------------------------------------------------------
// Keyset paging

/// The largest page a list returns (DESIGN §5: `first`/`last` between 1 and 100).
pub const MAX_PAGE_SIZE: u32 = 100;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Direction {
    #[default]
    Asc,
    Desc,
}

/// The order of a list: a field of the read model's (`ProjectOrderField`…) and a direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Order<F> {
    pub field: F,
    pub direction: Direction,
}

impl<F> Order<F> {
    pub fn new(field: F, direction: Direction) -> Self {
        Self { field, direction }
    }
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<R> {
    /// In the requested order, whichever way the list is paged.
    pub rows: Vec<R>,
    /// Paging forward: more rows follow. Paging backward: a `before` cursor was given (rows
    /// may follow it; not checked).
    pub has_next_page: bool,
    /// Paging backward: more rows precede. Paging forward: an `after` cursor was given.
    pub has_previous_page: bool,
    /// How many entities match the filter, all pages together; 0 when the list was asked not
    /// to count ([`Fetch::count`]).
    pub total_count: u64,
}

/// Bound values and their `$n` numbers.
pub(crate) struct Binds(pub Vec<Arg>);

impl Binds {
    pub(crate) fn push(&mut self, arg: Arg) -> usize {
        self.0.push(arg);
        self.0.len()
    }
}

/// A value's name as the API spells it (its serde name, `CREATED_AT`), for messages: never a
/// Rust name.
fn graphql_name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// Refuses a page size outside 1..=[`MAX_PAGE_SIZE`]; `what` names the entities (« projets »).
fn check_page_size(size: u32, what: &str) -> Result<(), ProjectionError> {
    if (1..=MAX_PAGE_SIZE).contains(&size) {
        Ok(())
    } else {
        Err(ProjectionError::InvalidArgument(format!(
            "une page compte de 1 à {MAX_PAGE_SIZE} {what} (demandé : {size})"
        )))
    }
}

/// What a list fetches of each row, and whether it counts: the API asks only for what its
/// caller selected. A part left out decodes as empty (its `#[serde(default)]`); the API knows
/// which it left out and reads the whole row if it needs one after all, so a part can only cost
/// time, never be answered wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetch<P> {
    /// Parts of the rows left out.
    pub omit: Vec<P>,
    /// Whether the filter is counted ([`Page::total_count`], 0 otherwise).
    pub count: bool,
}

impl<P> Fetch<P> {
    /// Every part, and the count.
    pub fn everything() -> Self {
        Self { omit: vec![], count: true }
    }
}

/// A read model's paged lists: what [`list`] needs to know of them.
pub(crate) trait Listing {
    type Row;
    type Filter;
    /// What a list can be ordered by.
    type Field: Copy + Serialize;
    /// A position in a list ordered by one field.
    type Cursor;
    /// The parts of a row a list may leave out ([`Fetch`]).
    type Part: Copy + PartialEq;
    /// The entities, in French, for messages (« projets »).
    const WHAT: &'static str;
    /// `<main table> <alias>`.
    const FROM: &'static str;

    /// One row as the JSON text a list decodes, without the parts in `omit`: an expression
    /// over the main table's alias.
    fn page_row(b: Backend, omit: &[Self::Part]) -> String;
    fn page_decode(text: &str) -> Result<Self::Row, ProjectionError>;
    /// The conditions of `filter`, values bound into `binds`.
    fn conditions(b: Backend, filter: &Self::Filter, binds: &mut Binds) -> Result<Vec<String>, ProjectionError>;
    /// The `order by` terms of `field`, one way or the other.
    fn order_by(field: Self::Field, ascending: bool) -> Vec<String>;
    /// Where `cursor` leaves off in the order of `field`; `None` for a cursor taken in a list
    /// ordered by another field.
    fn keyset(field: Self::Field, cursor: &Self::Cursor, ascending: bool, binds: &mut Binds) -> Option<String>;
}

/// One page of `size` entities matching `filter` in `order`: after `cursor`, or before it when
/// paging `backward` (Relay's `last`/`before`; the rows still come in `order`), with what
/// `fetch` asks of them.
pub(crate) async fn list<L: Listing>(
    db: Db<'_>,
    filter: &L::Filter,
    order: Order<L::Field>,
    size: u32,
    cursor: Option<&L::Cursor>,
    backward: bool,
    fetch: &Fetch<L::Part>,
) -> Result<Page<L::Row>, ProjectionError> {
    check_page_size(size, L::WHAT)?;
    let b = db.backend();
    let mut binds = Binds(vec![]);
    let filter = L::conditions(b, filter, &mut binds)?;
    let filter_binds = binds.0.len();
    // paging backward walks the order in reverse, then turns the page around
    let ascending = (order.direction == Direction::Asc) != backward;
    let keyset = match cursor {
        None => None,
        Some(cursor) => Some(L::keyset(order.field, cursor, ascending, &mut binds).ok_or_else(|| {
            ProjectionError::InvalidCursor(format!(
                "ce curseur a été pris dans une liste triée autrement que par « {} »",
                graphql_name(&order.field)
            ))
        })?),
    };
    let query = PageQuery {
        row: L::page_row(b, &fetch.omit),
        from: L::FROM.to_owned(),
        filter,
        filter_binds,
        keyset,
        order_by: L::order_by(order.field, ascending),
        binds,
        size,
        backward,
        count: fetch.count,
    };
    fetch_page(db, query, L::page_decode).await
}

/// A list query: its filter, its keyset condition and order.
struct PageQuery {
    /// One row's JSON text, over the main table's alias.
    pub row: String,
    /// `<main table> <alias>`.
    pub from: String,
    /// The filter's conditions; their values are the first `filter_binds` of `binds`.
    pub filter: Vec<String>,
    pub filter_binds: usize,
    /// Where the cursor leaves off (values bound after the filter's), if a cursor was given.
    pub keyset: Option<String>,
    /// `order by` terms, already turned around when paging backward.
    pub order_by: Vec<String>,
    pub binds: Binds,
    pub size: u32,
    pub backward: bool,
    /// Whether the filter is counted.
    pub count: bool,
}

/// Runs a list query: one page (one row more than asked, to know whether more follow) and, when
/// asked, the total count of the filter — in **one** statement, the count an uncorrelated
/// subquery that both backends evaluate once and that reuses the filter's parameters. Only a
/// page that comes back empty while counting (a cursor past the end) costs a second statement,
/// as the count then has no row to ride on.
async fn fetch_page<R>(
    db: Db<'_>,
    q: PageQuery,
    decode: impl Fn(&str) -> Result<R, ProjectionError>,
) -> Result<Page<R>, ProjectionError> {
    let where_ = |conditions: &[String]| {
        if conditions.is_empty() { String::new() } else { format!(" where {}", conditions.join(" and ")) }
    };
    let counted_from = format!(" from {}{}", q.from, where_(&q.filter));
    let binds = q.binds;
    let count_args = binds.0[..q.filter_binds].to_vec();
    let has_cursor = q.keyset.is_some();
    let mut conditions = q.filter;
    conditions.extend(q.keyset);
    // the limit is written into the statement, not bound, so that the generic plan PostgreSQL
    // keeps (`carnet_store::PgStore::connect_options`) is costed for this page size; `size` is
    // Carnet's own integer, and a list shape has at most as many texts as page sizes
    let limit = u64::from(q.size) + 1;
    // the count column is the same on every row; 0 when not asked
    let counted = if q.count { format!("(select count(*){counted_from})") } else { "cast(0 as bigint)".to_owned() };
    let list_sql = format!(
        "select {}, {counted} from {}{} order by {} limit {limit}",
        q.row,
        q.from,
        where_(&conditions),
        q.order_by.join(", ")
    );

    let mut reader = Reader::acquire(db).await?;
    let fetched = sql::fetch::<(String, i64)>(&mut reader.conn(), &list_sql, binds.0).await?;
    let total_count = match fetched.first() {
        Some((_, n)) => u64::try_from(*n).unwrap_or(0),
        None if q.count && has_cursor => {
            let select = format!("select count(*), cast(0 as bigint){counted_from}");
            sql::fetch_ints(&mut reader.conn(), &select, count_args).await?.first().map_or(0, |(n, _)| *n as u64)
        }
        None => 0,
    };
    drop(reader);
    let mut rows = fetched.iter().map(|(t, _)| decode(t)).collect::<Result<Vec<R>, _>>()?;
    let more = rows.len() > q.size as usize;
    rows.truncate(q.size as usize);
    if q.backward {
        rows.reverse();
    }
    let (has_next_page, has_previous_page) = if q.backward { (has_cursor, more) } else { (more, has_cursor) };
    Ok(Page { rows, has_next_page, has_previous_page, total_count })
}

/// `order by` terms for `columns` in one direction.
pub(crate) fn order_terms(columns: &[&str], ascending: bool) -> Vec<String> {
    let direction = if ascending { "asc" } else { "desc" };
    columns.iter().map(|c| format!("{c} {direction}")).collect()
}

/// The keyset condition "after the row whose key is `values`" on `columns` (a row-value
/// comparison, which both backends index).
pub(crate) fn after_key(columns: &[&str], values: Vec<Arg>, ascending: bool, binds: &mut Binds) -> String {
    let params: Vec<String> = values.into_iter().map(|v| format!("${}", binds.push(v))).collect();
    let op = if ascending { ">" } else { "<" };
    format!("({}) {op} ({})", columns.join(", "), params.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProjectionStore;
    use crate::person::PersonModel;
    use crate::project::ProjectModel;
    use crate::session::SessionModel;
    use std::collections::BTreeSet;

    /// Every table the read models write, with the columns Rust names for it.
    fn declared() -> Vec<(&'static str, Vec<&'static str>)> {
        fn of<M: Model>() -> Vec<(&'static str, Vec<&'static str>)> {
            std::iter::once((M::TABLE, M::COLUMNS.to_vec()))
                .chain(M::CHILDREN.iter().map(|c| (c.table, c.columns.to_vec())))
                .chain(
                    M::TIMELINES
                        .iter()
                        .map(|t| (t.name, [t.columns, &["valid_from", "valid_to", "opened_by", "item"]].concat())),
                )
                .collect()
        }
        [of::<ProjectModel>(), of::<SessionModel>(), of::<PersonModel>()].concat()
    }

    /// Each timeline, the table it follows (`<table>_timeline`: what `Tables::as_of` reads in
    /// its place) and that table's columns.
    fn followed() -> Vec<(&'static str, &'static [&'static str], &'static [&'static str])> {
        fn of<M: Model>() -> Vec<(&'static str, &'static [&'static str], &'static [&'static str])> {
            M::TIMELINES
                .iter()
                .map(|t| {
                    let table = t.name.strip_suffix("_timeline").expect("a timeline is named <table>_timeline");
                    let columns = std::iter::once((M::TABLE, M::COLUMNS))
                        .chain(M::CHILDREN.iter().map(|c| (c.table, c.columns)))
                        .find(|(name, _)| *name == table)
                        .unwrap_or_else(|| panic!("{} follows no table of its read model", t.name))
                        .1;
                    (t.name, t.columns, columns)
                })
                .collect()
        }
        [of::<ProjectModel>(), of::<SessionModel>(), of::<PersonModel>()].concat()
    }

    /// The migrations declare the tables; Rust names their columns once. A column added on one
    /// side only fails here (`catalog`: the column names of the table bound at `$1`). A
    /// timeline keeps columns of the table it follows, its key among them (`keys`: the primary
    /// key's columns of the table bound at `$1`), so that an entity's open rows are a set.
    async fn columns_named_as_migrated(store: &impl ProjectionStore, catalog: &str, keys: &str) {
        let read = async |sql: &str, table: &str| -> BTreeSet<String> {
            sql::read_texts(store.db(), sql, vec![Arg::Text(table.to_owned())]).await.unwrap().into_iter().collect()
        };
        for (table, columns) in declared() {
            let named: BTreeSet<String> = columns.iter().map(|c| c.to_string()).collect();
            assert_eq!(named, read(catalog, table).await, "the columns of {table}");
        }
        for (timeline, kept, columns) in followed() {
            let table = timeline.strip_suffix("_timeline").unwrap();
            assert!(kept.iter().all(|c| columns.contains(c)), "{timeline} keeps columns of {table} only");
            assert_eq!(kept[0], columns[0], "{timeline} starts with the entity's id");
            let key = read(keys, table).await;
            assert!(!key.is_empty(), "{table} has a primary key");
            assert!(key.iter().all(|k| kept.contains(&k.as_str())), "{timeline} keeps the key of {table}: {key:?}");
        }
    }

    #[tokio::test]
    async fn sqlite_columns_are_named_as_migrated() {
        let db = carnet_testkit::sqlite().await;
        let keys = "select name from pragma_table_info($1) where pk > 0";
        columns_named_as_migrated(&db.store, "select name from pragma_table_info($1)", keys).await;
    }

    #[tokio::test]
    async fn postgres_columns_are_named_as_migrated() {
        let db = carnet_testkit::postgres().await;
        let catalog = "select column_name::text from information_schema.columns \
                       where table_schema = current_schema() and table_name = $1";
        let keys = "select k.column_name::text from information_schema.table_constraints c \
                    join information_schema.key_column_usage k using (constraint_schema, constraint_name) \
                    where c.table_schema = current_schema() and c.table_name = $1 \
                      and c.constraint_type = 'PRIMARY KEY'";
        columns_named_as_migrated(&db.store, catalog, keys).await;
    }

    /// One value is an equality, which a generic plan serves from the column's statistics and
    /// index; several are the dialect's list (`= any($n)` on PostgreSQL).
    #[tokio::test]
    async fn a_filter_on_one_value_is_an_equality_on_several_a_list() {
        for b in
            [carnet_testkit::sqlite().await.store.db().backend(), carnet_testkit::postgres().await.store.db().backend()]
        {
            let mut binds = Binds(vec![Arg::Int(7)]);
            assert_eq!(any_of(b, "a.academie_code", vec!["24".into()], &mut binds), "a.academie_code = $2");
            assert!(matches!(&binds.0[1], Arg::Text(code) if code == "24"), "{:?}", binds.0);
            let several = any_of(b, "a.academie_code", vec!["24".into(), "01".into()], &mut binds);
            assert_eq!(several, b.in_list("a.academie_code", 3));
            assert!(matches!(&binds.0[2], Arg::Texts(codes) if codes.len() == 2), "{:?}", binds.0);
            let codes = any_code(b, "p.status", &[carnet_domain::project::ProjectStatus::Active], &mut binds);
            assert_eq!(codes.as_deref(), Some("p.status = $4"), "the codes' filters too");
        }
    }

    /// What `Tables::as_of` reads of each timeline is served by the range index of migration
    /// 0018: the condition's text and the index's expression must stay the same, or the planner
    /// falls back to reading every version (a slow answer, not a wrong one, hence this test).
    #[tokio::test]
    async fn postgres_timelines_are_read_at_a_moment_through_their_range_index() {
        let db = carnet_testkit::postgres().await;
        let b = db.store.db().backend();
        let mut tx = crate::sql::Tx::begin(db.store.db()).await.unwrap();
        // with any other plan possible, an empty table would be scanned
        sql::execute(&mut tx.conn(), "set local enable_seqscan = off", vec![]).await.unwrap();
        for (timeline, _, _) in followed() {
            let table = timeline.strip_suffix("_timeline").unwrap();
            let read = Tables::as_of(b, Utc::now()).of(table);
            let plan = sql::fetch_texts(
                &mut tx.conn(),
                &format!("explain select count(*) from {read} t"),
                vec![Arg::Time(Utc::now())],
            )
            .await
            .unwrap()
            .join("\n");
            assert!(plan.contains(&format!("{timeline}_validity_idx")), "{timeline} at a moment:\n{plan}");
        }
    }
}
