//! The batch projector shared by every read model: load the rows a batch touches, apply the
//! events in memory, write each table once — live, at the end of each batch, or holding the
//! entities between batches for a rebuild's fill.

use super::{Entity, Event, Model, ROWS_PER_STATEMENT, Tables, entity_id, json_arg, load, replace};
use crate::ProjectionError;
use crate::sql::{self, Conn};
use crate::timeline::{self, Pending, Timeline};
use carnet_store::{Codec, RecordedEvent, TxConn};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Applies the events of one read model's category to its tables, inside the caller's
/// transaction, a batch at a time (see the crate doc).
///
/// Either way it works the same: the entities a batch touches are *held* — in memory, with
/// what their tables hold of them and their timeline versions not written yet — the events
/// change them there, and a write stores what changed. A live projector writes at the end of
/// each batch and forgets. A *holding* projector ([`Self::holding`], a rebuild's fill) keeps
/// them between batches and writes an entity only when it lets it go — the least recently
/// changed first, once it holds more than its limit — or at [`Self::finish`]: an entity of the
/// fill is then written about once, whatever the number of batches its events spread over.
pub(crate) struct ModelProjector<M: Model> {
    tables: Tables,
    codec: Arc<Codec>,
    /// Set for a holding projector.
    holding: Option<Holding<M::Row>>,
}

/// A holding projector's limit and what it holds (`None`: a batch failed and what it held is
/// lost; every later call fails).
struct Holding<R: 'static> {
    limit: usize,
    held: Mutex<Option<Held<R>>>,
}

/// An entity between the events that change it and the write that stores it.
struct HeldEntity<R> {
    /// As the events so far made it.
    row: R,
    /// As its tables hold it (`None`: not in them).
    stored: Option<R>,
    /// Its timeline versions not written yet.
    pending: Pending,
    /// The batch that last changed it.
    touched: u64,
}

/// What a projector holds between its writes.
struct Held<R: 'static> {
    entities: HashMap<Uuid, HeldEntity<R>>,
    /// Timeline rows to write (closes of written versions, versions closed in memory).
    changes: timeline::Changes<R>,
    /// Batches applied so far.
    batches: u64,
}

impl<R> Held<R> {
    fn new(timelines: &'static [Timeline<R>]) -> Self {
        Self { entities: HashMap::new(), changes: timeline::Changes::new(timelines), batches: 0 }
    }
}

impl<M: Model> ModelProjector<M> {
    pub(crate) fn new(codec: Arc<Codec>, suffix: &str) -> Self {
        Self { tables: Tables::with_suffix(suffix), codec, holding: None }
    }

    /// A projector that holds up to `limit` entities (and four times as many timeline rows)
    /// between batches and writes them when it lets them go or at [`Self::finish`]: only for
    /// tables nobody else writes or reads until `finish` has committed, and for a caller that
    /// starts over from empty tables when any batch fails (the rows it held are then lost:
    /// every later call fails).
    pub(crate) fn holding(codec: Arc<Codec>, suffix: &str, limit: usize) -> Self {
        let held = Held::new(M::TIMELINES);
        Self {
            holding: Some(Holding { limit: limit.max(1), held: Mutex::new(Some(held)) }),
            ..Self::new(codec, suffix)
        }
    }

    /// What a holding projector holds, taken out for a call (put back when it succeeds).
    fn take(&self) -> Result<Held<M::Row>, ProjectionError> {
        match &self.holding {
            None => Ok(Held::new(M::TIMELINES)),
            Some(h) => h.held.lock().expect("not poisoned").take().ok_or_else(|| {
                ProjectionError::Corrupt(format!(
                    "the {} projector lost what it held when a batch failed: start over",
                    M::CATEGORY
                ))
            }),
        }
    }

    fn put_back(&self, held: Held<M::Row>) {
        if let Some(h) = &self.holding {
            *h.held.lock().expect("not poisoned") = Some(held);
        }
    }

    /// Applies the events of `M::CATEGORY` among `events` (others are ignored), in their order.
    /// Returns how many it applied.
    pub(crate) async fn apply(&self, mut tx: TxConn<'_>, events: &[RecordedEvent]) -> Result<usize, ProjectionError> {
        let mine = || events.iter().filter(|e| e.stream_id.category() == M::CATEGORY);
        // the keys of the sealed personal fields among them, read in this transaction (it may
        // have just inserted one); none are read when there are none
        let keys = self.codec.load_keys_in(&mut tx, mine()).await?;
        let mut conn = Conn::from(tx);
        // group by entity, keeping the log order within each
        let mut order: Vec<Uuid> = vec![];
        let mut batches: HashMap<Uuid, Vec<(&RecordedEvent, Event<M>)>> = HashMap::new();
        for recorded in mine() {
            let id = entity_id(recorded, M::CATEGORY)?;
            let event: Event<M> = self.codec.decode_with(recorded, &keys)?;
            batches
                .entry(id)
                .or_insert_with(|| {
                    order.push(id);
                    vec![]
                })
                .push((recorded, event));
        }
        if order.is_empty() {
            return Ok(0);
        }
        let mut held = self.take()?;
        held.batches += 1;
        // even an entity created within the batch: the batch may be one applied before
        let unseen: Vec<Uuid> = order.iter().filter(|id| !held.entities.contains_key(id)).copied().collect();
        for stored in load::<M>(&mut conn, &self.tables, &unseen).await? {
            let entity = HeldEntity {
                row: stored.clone(),
                stored: Some(stored),
                pending: Pending::none(M::TIMELINES),
                touched: 0,
            };
            held.entities.insert(entity.row.id(), entity);
        }

        let mut applied = 0;
        for id in &order {
            let (mut row, stored, mut pending) = match held.entities.remove(id) {
                Some(e) => (Some(e.row), e.stored, e.pending),
                None => (None, None, Pending::none(M::TIMELINES)),
            };
            let mut open = held.changes.open(row.as_ref());
            for (recorded, event) in &batches[id] {
                let at = row.as_ref().map_or(0, Entity::version);
                if recorded.stream_version <= at {
                    continue; // already reflected
                }
                if recorded.stream_version != at + 1 {
                    tracing::warn!(
                        stream = %recorded.stream_id, read_model_version = at, event_version = recorded.stream_version,
                        "{} read model skipped events: rebuild it", M::CATEGORY
                    );
                }
                M::apply(&mut row, *id, recorded, event)?;
                if let Some(row) = &row {
                    held.changes.record(&mut open, &mut pending, *id, row, recorded);
                }
                applied += 1;
            }
            // (`None` only for an entity it did not hold and no event of which applied)
            if let Some(row) = row {
                held.entities.insert(*id, HeldEntity { row, stored, pending, touched: held.batches });
            }
        }

        match &self.holding {
            None => self.write_all(&mut conn, &mut held).await?,
            Some(Holding { limit, .. }) => {
                if held.entities.len() > *limit {
                    // down to three quarters, so that letting go is not a cost of every batch
                    let mut by_age: Vec<(u64, Uuid)> = held.entities.iter().map(|(id, e)| (e.touched, *id)).collect();
                    by_age.sort_unstable();
                    let going = held.entities.len() - limit * 3 / 4;
                    let going: Vec<HeldEntity<M::Row>> =
                        by_age[..going].iter().filter_map(|(_, id)| held.entities.remove(id)).collect();
                    self.write(&mut conn, &mut held.changes, going).await?;
                }
                // and four times as many timeline rows waiting (an entity has several versions)
                if held.changes.len() > limit * 4 {
                    held.changes.write(&mut conn, &self.tables).await?;
                }
                self.put_back(held);
            }
        }
        Ok(applied)
    }

    /// Writes everything a holding projector holds (nothing for a live one, which holds
    /// nothing between batches), inside the caller's transaction.
    pub(crate) async fn finish(&self, tx: TxConn<'_>) -> Result<(), ProjectionError> {
        if self.holding.is_none() {
            return Ok(());
        }
        let mut held = self.take()?;
        self.write_all(&mut Conn::from(tx), &mut held).await?;
        self.put_back(Held::new(M::TIMELINES));
        Ok(())
    }

    async fn write_all(&self, conn: &mut Conn<'_>, held: &mut Held<M::Row>) -> Result<(), ProjectionError> {
        let entities: Vec<HeldEntity<M::Row>> = held.entities.drain().map(|(_, e)| e).collect();
        self.write(conn, &mut held.changes, entities).await
    }

    /// Writes `entities` ([`Self::write_rows`]), then the timelines' rows waiting in
    /// `changes`, the entities' open versions with them.
    async fn write(
        &self,
        conn: &mut Conn<'_>,
        changes: &mut timeline::Changes<M::Row>,
        entities: Vec<HeldEntity<M::Row>>,
    ) -> Result<(), ProjectionError> {
        let mut changed: Vec<(Option<M::Row>, M::Row)> = Vec::with_capacity(entities.len());
        // in the order of their ids, whatever order they were held in: concurrent writers of
        // the same rows take their locks in one order
        let mut entities = entities;
        entities.sort_unstable_by_key(|e| e.row.id());
        for e in entities {
            changes.release(e.pending);
            if e.stored.as_ref() != Some(&e.row) {
                changed.push((e.stored, e.row));
            }
        }
        self.write_rows(conn, &changed).await?;
        changes.write(conn, &self.tables).await
    }

    /// Writes the entities that changed, each with what its tables hold of it (`None`: not in
    /// them), [`ROWS_PER_STATEMENT`] at a time: one upsert of their main rows, and per child
    /// table whose rows changed for some of them, one delete and one insert.
    async fn write_rows(
        &self,
        conn: &mut Conn<'_>,
        changed: &[(Option<M::Row>, M::Row)],
    ) -> Result<(), ProjectionError> {
        for part in changed.chunks(ROWS_PER_STATEMENT) {
            self.write_part(conn, part).await?;
        }
        Ok(())
    }

    async fn write_part(
        &self,
        conn: &mut Conn<'_>,
        changed: &[(Option<M::Row>, M::Row)],
    ) -> Result<(), ProjectionError> {
        let new: Vec<&M::Row> = changed.iter().filter(|(stored, _)| stored.is_none()).map(|(_, row)| row).collect();
        let b = conn.backend();
        let rows: Vec<serde_json::Value> = changed.iter().map(|(_, row)| M::main_row(row)).collect();
        let updates: Vec<String> = M::COLUMNS[1..].iter().map(|c| format!("{c} = excluded.{c}")).collect();
        let table = self.tables.of(M::TABLE);
        let upsert = format!(
            "insert into {table} ({cols}) select {cols} from {} where true on conflict (id) do update set {}",
            b.json_rows(1, &table, M::COLUMNS),
            updates.join(", "),
            cols = M::COLUMNS.join(", "),
        );
        if let Err(e) = sql::execute(conn, &upsert, vec![json_arg(rows)]).await {
            return Err(M::refine(e, &new));
        }

        for child in M::CHILDREN {
            // the entities whose rows in this table change: a new entity with none has nothing
            // to write there
            let mut ids = vec![];
            let mut rows = vec![];
            for (stored, row) in changed {
                let now = (child.rows)(row);
                let changed = stored.as_ref().map_or(!now.is_empty(), |old| (child.rows)(old) != now);
                if changed {
                    ids.push(row.id());
                    rows.extend(now.into_iter().map(|mut item| {
                        if let Some(columns) = item.as_object_mut() {
                            columns.insert(child.columns[0].to_owned(), serde_json::json!(row.id()));
                        }
                        item
                    }));
                }
            }
            if let Err(e) = replace(conn, &self.tables.of(child.table), child.columns, ids, rows).await {
                return Err(match e {
                    ProjectionError::Database(e) => M::refine(e, &new),
                    other => other,
                });
            }
        }
        Ok(())
    }
}
