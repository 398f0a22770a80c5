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
use carnet_store::{Codec, EventStore, StreamId};
use chrono::{DateTime, Utc};
use uuid::Uuid;

async fn as_of<M: Model, S: EventStore>(
    store: &S,
    codec: &Codec,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<Option<M::Row>, ProjectionError> {
    let events = store.read_stream(&StreamId::new(M::CATEGORY, id), 1, None).await?;
    // what a fold costs, at `/metrics`: the API checks access before it folds (a test counts it)
    metrics::counter!(crate::metrics::LOG_EVENTS_READ, "reader" => "as_of").increment(events.len() as u64);
    let mut row = None;
    let keys = codec.load_keys(store, &events).await?;
    // a stream's events are recorded in version order, so the first one after `at` ends it
    for recorded in events.iter().take_while(|e| e.recorded_at <= at) {
        let event: crate::model::Event<M> = codec.decode_with(recorded, &keys)?;
        M::apply(&mut row, id, recorded, &event)?;
    }
    Ok(row)
}

/// Declares the public as-of fold of a read model: `$name(store, codec, id, at)`.
macro_rules! as_of_fold {
    ($(#[$doc:meta])* $name:ident, $model:ty, $row:ty) => {
        $(#[$doc])*
        pub async fn $name<S: EventStore>(
            store: &S,
            codec: &Codec,
            id: Uuid,
            at: DateTime<Utc>,
        ) -> Result<Option<$row>, ProjectionError> {
            as_of::<$model, S>(store, codec, id, at).await
        }
    };
}

as_of_fold!(
    /// Project `id` as the read model held it at `at`; `None` if it did not exist yet.
    project_as_of,
    ProjectModel,
    ProjectRow
);

as_of_fold!(
    /// Session `id` as it stood at `at`; `None` if it did not exist yet. Its `academies` are
    /// those of its attendance only (see the module doc).
    session_as_of,
    SessionModel,
    SessionRow
);
