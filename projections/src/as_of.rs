//! Entities as they stood at a past moment (`project(id, asOf)`, DESIGN §3.1, §5): the
//! entity's stream folded up to the last event *recorded* by then, through the very `apply`
//! the projector uses, so an `asOf` answer is the row the read model held at that moment, not
//! a second interpretation of the events.
//!
//! Recorded time (the store's clock), not business time: "as of" answers what Carnet knew then,
//! which is what an auditor compares with what the API answered then. Derived values that other
//! streams feed (a session's académies through its linked projects) are not part of the fold.

use crate::ProjectionError;
use crate::model::Model;
use crate::project::ProjectModel;
use crate::session::SessionModel;
use crate::{ProjectRow, SessionRow};
use carnet_store::{EventStore, StreamId, Upcasters};
use chrono::{DateTime, Utc};
use uuid::Uuid;

async fn as_of<M: Model, S: EventStore>(
    store: &S,
    upcasters: &Upcasters,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<Option<M::Row>, ProjectionError> {
    let events = store.read_stream(&StreamId::new(M::CATEGORY, id), 1, None).await?;
    // what a fold costs, at `/metrics`: the API checks access before it folds (a test counts it)
    metrics::counter!("carnet_log_events_read_total", "reader" => "as_of").increment(events.len() as u64);
    let mut row = None;
    let keys = upcasters.load_keys(store, &events).await?;
    // a stream's events are recorded in version order, so the first one after `at` ends it
    for recorded in events.iter().take_while(|e| e.recorded_at <= at) {
        let event: M::Event = upcasters.decode_with(recorded, &keys)?;
        M::apply(&mut row, id, recorded, &event)?;
    }
    Ok(row)
}

/// Project `id` as the read model held it at `at`; `None` if it did not exist yet.
pub async fn project_as_of<S: EventStore>(
    store: &S,
    upcasters: &Upcasters,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<Option<ProjectRow>, ProjectionError> {
    as_of::<ProjectModel, S>(store, upcasters, id, at).await
}

/// Session `id` as it stood at `at`; `None` if it did not exist yet. Its `academies` are those
/// of its attendance only (see the module doc).
pub async fn session_as_of<S: EventStore>(
    store: &S,
    upcasters: &Upcasters,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<Option<SessionRow>, ProjectionError> {
    as_of::<SessionModel, S>(store, upcasters, id, at).await
}
