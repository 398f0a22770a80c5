//! Timelines: read-model columns kept over time, so that a question about a past moment
//! (`indicators(asOf)`) reads the state of that moment instead of re-projecting the log.
//!
//! A read model declares which of its tables' columns it keeps ([`Timeline`], in
//! `Model::TIMELINES`); the projector, as it applies each event in memory, compares what the
//! followed table's rows of the entity become with what they were, and records the difference:
//! a row that goes is *closed* (`valid_to` set to the event's `recorded_at`), a row that comes
//! is *opened* (`valid_from`). Only a change in a kept column makes a version, so the progress
//! updates that make most of a log add nothing to the project's timeline. The timeline is
//! written in the same transaction as the live tables, by the same batch (one `update` for the
//! rows closed and one `insert` for the rows opened, per timeline), and rebuilt with them. The
//! versions an entity opens wait with it ([`Pending`]) until it is written: at the end of the
//! batch for the live tables, when a rebuild's fill lets the entity go or at its end — a
//! version closed meanwhile is then inserted closed, and only versions already written are
//! closed by an `update`.
//!
//! Reading at `t`: [`Tables::as_of`] names, in place of a followed table, the rows of its
//! timeline valid at `t` — `valid_from <= t and (valid_to is null or valid_to > t)` — with
//! the same column names, so the indicators' statements run unchanged over the past. Recorded
//! time (the store's clock), as `project(id, asOf)` folds: within a stream events are recorded
//! in version order, so the versions of an entity's row follow one another without overlap.
//! On PostgreSQL the condition is written as the range `[valid_from, valid_to)` containing `t`,
//! which a GiST index on each timeline serves (migration 0018): the rows valid at `t` are found
//! without reading every version. A version closed before it opened (a clock stepped back)
//! is the empty range there and fails the comparisons here: valid at no moment on either.
//!
//! Decisions:
//! - **Rows by content.** A closed row is found by its entity and its values among the open
//!   ones; the kept columns must therefore include the followed table's key (an entity's open
//!   rows are a set), which a test of `model` checks against the catalog.
//! - **Versions never removed.** A row opened and closed at the same instant (two events of one
//!   transaction) stays, empty (`valid_from = valid_to`, true at no moment): whichever way
//!   batches cut the log, live and rebuilt timelines hold the same rows.
//! - **The key** is the entity, the global position of the event that opened the row and the
//!   row's place among those that event opened: the close finds an entity's rows by the key's
//!   first column, on both backends and in a rebuild's shadow tables (which keep their keys).
//! - **An upgraded database** whose log predates its timelines has them empty: the migration
//!   that adds a timeline marks its read model due for a rebuild (`read_model_rebuild_due`), and
//!   what reads timelines refuses until the rebuild has swapped in ([`rebuild_due`]).

use crate::model::{Binds, Child, ROWS_PER_STATEMENT, Tables, json_arg};
use crate::sql::{self, Arg, Backend, Conn};
use crate::{Db, ProjectionError};
use carnet_store::RecordedEvent;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

/// Columns of one read-model table kept over time, in a table of their own.
pub(crate) struct Timeline<R> {
    /// The timeline's table (`project_timeline`).
    pub name: &'static str,
    /// The columns kept, as the followed table names them; the first holds the entity's id. They
    /// include the followed table's key.
    pub columns: &'static [&'static str],
    /// The followed table's rows of an entity, as JSON objects keyed by column (the entity's
    /// id may be missing: it is taken from the entity).
    pub rows: fn(&R) -> Vec<Value>,
}

impl<R> Timeline<R> {
    /// The timeline of every column of a child table.
    pub(crate) const fn of_child(child: &Child<R>, name: &'static str) -> Self {
        Self { name, columns: child.columns, rows: child.rows }
    }

    /// The entity's rows, as the timeline keeps them: the values of the columns after the
    /// first, in order.
    fn slice(&self, row: &R) -> Vec<Vec<Value>> {
        (self.rows)(row)
            .into_iter()
            .map(|object| self.columns[1..].iter().map(|c| object.get(*c).cloned().unwrap_or(Value::Null)).collect())
            .collect()
    }
}

/// One version of a row not written yet: open, or closed before it was written.
struct Opened {
    entity: Uuid,
    values: Vec<Value>,
    valid_from: DateTime<Utc>,
    valid_to: Option<DateTime<Utc>>,
    opened_by: i64,
    item: i64,
}

/// A row already written, open, that a later event closes.
struct Closed {
    entity: Uuid,
    values: Vec<Value>,
    valid_to: DateTime<Utc>,
}

/// What the projector has to write to a read model's timelines: the written rows to close and
/// the versions to insert (closed already, or open and let go with their entity).
pub(crate) struct Changes<R: 'static> {
    timelines: &'static [Timeline<R>],
    closed: Vec<Vec<Closed>>,
    finished: Vec<Vec<Opened>>,
}

/// The open versions of one entity's rows that are not written yet, per timeline: they travel
/// with the entity while the projector holds it, and are written with it ([`Changes::release`]).
pub(crate) struct Pending(Vec<Vec<Opened>>);

impl Pending {
    pub(crate) fn none<R>(timelines: &[Timeline<R>]) -> Self {
        Self(timelines.iter().map(|_| vec![]).collect())
    }
}

/// What an entity's rows are in each timeline, as the batch goes.
pub(crate) struct Open(Vec<Vec<Vec<Value>>>);

impl<R> Changes<R> {
    pub(crate) fn new(timelines: &'static [Timeline<R>]) -> Self {
        Self {
            timelines,
            closed: timelines.iter().map(|_| vec![]).collect(),
            finished: timelines.iter().map(|_| vec![]).collect(),
        }
    }

    /// The rows of an entity as the batch finds it (`None`: not in the read model yet).
    pub(crate) fn open(&self, row: Option<&R>) -> Open {
        Open(self.timelines.iter().map(|t| row.map_or(vec![], |r| t.slice(r))).collect())
    }

    /// Records what `recorded` made of entity `id`'s rows (`row`, once it is applied); the
    /// versions the entity opened and has not written are in `pending`.
    pub(crate) fn record(
        &mut self,
        open: &mut Open,
        pending: &mut Pending,
        id: Uuid,
        row: &R,
        recorded: &RecordedEvent,
    ) {
        let at = recorded.recorded_at;
        for (i, timeline) in self.timelines.iter().enumerate() {
            let now = timeline.slice(row);
            let was = &mut open.0[i];
            if *was == now {
                continue;
            }
            for gone in was.iter().filter(|v| !now.contains(v)) {
                // not written yet: close it in memory, it is ready to write; written: in the table
                match pending.0[i].iter().position(|o| o.values == *gone) {
                    Some(p) => {
                        let mut version = pending.0[i].swap_remove(p);
                        version.valid_to = Some(at);
                        self.finished[i].push(version);
                    }
                    None => self.closed[i].push(Closed { entity: id, values: gone.clone(), valid_to: at }),
                }
            }
            let came: Vec<Vec<Value>> = now.iter().filter(|v| !was.contains(v)).cloned().collect();
            for (item, values) in came.into_iter().enumerate() {
                pending.0[i].push(Opened {
                    entity: id,
                    values,
                    valid_from: at,
                    valid_to: None,
                    opened_by: recorded.global_position,
                    item: item as i64,
                });
            }
            *was = now;
        }
    }

    /// The open versions of an entity that is written now, to write with it.
    pub(crate) fn release(&mut self, pending: Pending) {
        for (finished, open) in self.finished.iter_mut().zip(pending.0) {
            finished.extend(open);
        }
    }

    /// How many rows wait to be written.
    pub(crate) fn len(&self) -> usize {
        self.closed.iter().map(Vec::len).chain(self.finished.iter().map(Vec::len)).sum()
    }

    /// Writes what waits under `tables`' suffix, and forgets it: per timeline, `update`s closing
    /// written rows, then `insert`s of the versions (one of each for at most
    /// `ROWS_PER_STATEMENT` rows) — in this order, so that a row closed and then opened again
    /// with the same values is not closed twice.
    pub(crate) async fn write(&mut self, conn: &mut Conn<'_>, tables: &Tables) -> Result<(), ProjectionError> {
        let b = conn.backend();
        for ((timeline, closed), opened) in self.timelines.iter().zip(&mut self.closed).zip(&mut self.finished) {
            let table = tables.of(timeline.name);
            let (entity, kept) = (timeline.columns[0], &timeline.columns[1..]);
            let mut closed = std::mem::take(closed).into_iter().peekable();
            while closed.peek().is_some() {
                let rows: Vec<Value> = closed
                    .by_ref()
                    .take(ROWS_PER_STATEMENT)
                    .map(|c| {
                        let mut object = object(timeline.columns, c.entity, c.values);
                        object.insert("valid_to".into(), Value::from(sql::timestamp_text(c.valid_to)));
                        Value::Object(object)
                    })
                    .collect();
                let mut columns = timeline.columns.to_vec();
                columns.push("valid_to");
                let same: Vec<String> = kept.iter().map(|c| b.same(&format!("t.{c}"), &format!("x.{c}"))).collect();
                let update = format!(
                    "update {table} as t set valid_to = x.valid_to from {} \
                     where t.{entity} = x.{entity} and t.valid_to is null and {}",
                    b.json_rows(1, &table, &columns),
                    same.join(" and "),
                );
                sql::execute(conn, &update, vec![json_arg(rows)]).await?;
            }
            let mut opened = std::mem::take(opened).into_iter().peekable();
            while opened.peek().is_some() {
                let rows: Vec<Value> = opened
                    .by_ref()
                    .take(ROWS_PER_STATEMENT)
                    .map(|o| {
                        let mut object = object(timeline.columns, o.entity, o.values);
                        object.insert("valid_from".into(), Value::from(sql::timestamp_text(o.valid_from)));
                        object.insert(
                            "valid_to".into(),
                            o.valid_to.map_or(Value::Null, |t| sql::timestamp_text(t).into()),
                        );
                        object.insert("opened_by".into(), Value::from(o.opened_by));
                        object.insert("item".into(), Value::from(o.item));
                        Value::Object(object)
                    })
                    .collect();
                let mut columns = timeline.columns.to_vec();
                columns.extend(["valid_from", "valid_to", "opened_by", "item"]);
                let cols = columns.join(", ");
                let insert =
                    format!("insert into {table} ({cols}) select {cols} from {}", b.json_rows(1, &table, &columns));
                sql::execute(conn, &insert, vec![json_arg(rows)]).await?;
            }
        }
        Ok(())
    }
}

/// A timeline row as a JSON object keyed by column.
fn object(columns: &[&str], entity: Uuid, values: Vec<Value>) -> serde_json::Map<String, Value> {
    let mut object = serde_json::Map::new();
    object.insert(columns[0].to_owned(), Value::from(entity.to_string()));
    for (c, v) in columns[1..].iter().zip(values) {
        object.insert((*c).to_owned(), v);
    }
    object
}

/// In place of a followed table, the rows of its timeline valid at the moment bound at `$1`.
pub(crate) fn valid_at_first_bind(b: Backend, timeline: &str) -> String {
    format!("(select * from {timeline} where {})", b.valid_at(1))
}

/// The bound values of a statement over `tables`: the moment first when they are as of one.
pub(crate) fn binds(at: Option<DateTime<Utc>>) -> Binds {
    Binds(at.map(Arg::Time).into_iter().collect())
}

/// The read models among `names` that a migration marked due for a rebuild, with the reason.
pub(crate) async fn rebuild_due(db: Db<'_>, names: &[&str]) -> Result<Vec<(String, String)>, ProjectionError> {
    let b = db.backend();
    let sql = format!(
        "select read_model, reason from read_model_rebuild_due where {} order by read_model",
        b.in_list("read_model", 1)
    );
    let due: Vec<(String, String)> =
        sql::read(db, &sql, vec![Arg::Texts(names.iter().map(|n| (*n).to_owned()).collect())]).await?;
    Ok(due)
}

/// Clears the marks of `names` (a rebuild of them swaps in, in the caller's transaction).
pub(crate) async fn clear_rebuild_due(conn: &mut Conn<'_>, names: &[&str]) -> Result<(), sqlx::Error> {
    let sql = format!("delete from read_model_rebuild_due where {}", conn.backend().in_list("read_model", 1));
    sql::execute(conn, &sql, vec![Arg::Texts(names.iter().map(|n| (*n).to_owned()).collect())]).await?;
    Ok(())
}
