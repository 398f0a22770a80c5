//! Do the read models stand on the log? Each entity a read model holds (a project, a session, a
//! person) was built from its stream's events, up to the version it records; that event must be
//! in the log. An entity whose version the log does not have means the log lost events the
//! read models were built from: emptied (`truncate events`), cut, or restored from an older
//! copy beside newer read models. The API reports it as an integrity failure (`integrity`,
//! `carnet verify`) and `/readyz` as not ready (carnet-store's `extent` module covers the
//! log's own end; this covers every stream's).
//!
//! One anti-join per read model on the log's `(stream_id, stream_version)` unique index:
//! milliseconds for thousands of entities.

use crate::sql;
use crate::{ProjectionError, ProjectionStore, ReadModel};
use carnet_store::AnyStore;

/// A read model's entity whose version the log does not have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unbacked {
    /// `projects`, `sessions` or `people` (as `carnet rebuild` names them).
    pub read_model: &'static str,
    pub stream_id: String,
    pub version: u64,
}

/// The first entity of a read model that the log does not back, if any.
pub async fn first_unbacked(store: &AnyStore) -> Result<Option<Unbacked>, ProjectionError> {
    let db = store.db();
    let b = db.backend();
    for model in ReadModel::ALL {
        // a main table is named after its stream category
        let table = model.tables()[0];
        let stream_id = format!("'{table}-' || {}", b.id_text("m.id"));
        let sql = format!(
            "select {stream_id}, m.version from {table} m \
             where not exists (select 1 from events e \
               where e.stream_id = {stream_id} and e.stream_version = m.version) \
             order by m.version desc limit 1"
        );
        let found: Option<(String, i64)> = sql::read(db, &sql, vec![]).await?.into_iter().next();
        if let Some((stream_id, version)) = found {
            return Ok(Some(Unbacked { read_model: model.name(), stream_id, version: version as u64 }));
        }
    }
    Ok(None)
}

/// Whether any read model holds an entity (a database that has never held events holds none).
pub async fn holds_entities(store: &AnyStore) -> Result<bool, ProjectionError> {
    for model in ReadModel::ALL {
        let sql = format!("select exists (select 1 from {})", model.tables()[0]);
        if sql::read::<(bool,)>(store.db(), &sql, vec![]).await?.first().is_some_and(|(found,)| *found) {
            return Ok(true);
        }
    }
    Ok(false)
}
