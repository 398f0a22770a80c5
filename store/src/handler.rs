//! The way of a command: load (snapshot + events) → decide → append.
//!
//! Conflicts are retried only where re-deciding on the new state is safe: when the caller did
//! not pin the version it saw (`expected_version: None`). The decider checks every rule again
//! on the fresh state, so a retry can only produce events valid for that state. A caller that
//! pinned a version (the API's `expectedVersion`) gets the conflict back: the user decided on
//! what they saw, and only they can decide again.
//!
//! Personal data (DESIGN §3.2, [`crate::sealing`]): loads open sealed fields with the keys of the
//! events read; appends seal the new events' personal fields and insert or delete the stream's
//! data key inside the append's transaction; streams with personal data are never snapshotted.

use crate::codec::Upcasters;
use crate::contract::{EventStore, InlineHook};
use crate::error::StoreError;
use crate::model::{ExpectedVersion, Metadata, RecordedEvent, Snapshot, StreamId};
use crate::sealing::{KeyHook, PersonKeys};
use carnet_domain::{Decider, Rejection};
use std::marker::PhantomData;
use std::sync::Arc;
use uuid::Uuid;

/// Why a command did not produce events.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An aggregate's state as loaded, with the stream version it reflects.
pub struct Loaded<D: Decider> {
    pub state: D::State,
    pub version: u64,
}

/// What a handled command did.
pub struct Executed<D: Decider> {
    pub state: D::State,
    pub version: u64,
    pub events: Vec<RecordedEvent>,
    /// The command id was seen before: nothing was written, this is the first result again.
    pub replayed: bool,
}

impl<D: Decider> std::fmt::Debug for Loaded<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded").field("state", &self.state).field("version", &self.version).finish()
    }
}

impl<D: Decider> std::fmt::Debug for Executed<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executed")
            .field("state", &self.state)
            .field("version", &self.version)
            .field("events", &self.events)
            .field("replayed", &self.replayed)
            .finish()
    }
}

/// Loads and saves deciders on an event store.
pub struct Repository<S, D> {
    store: S,
    upcasters: Arc<Upcasters>,
    /// A snapshot is saved each time a stream crosses a multiple of this many events.
    snapshot_every: u64,
    /// How many times a conflict is re-decided when the caller did not pin a version. Each
    /// conflict means another command landed, so n concurrent writers of one aggregate need at
    /// most n - 1 retries.
    max_retries: u32,
    decider: PhantomData<fn() -> D>,
}

impl<S: Clone, D> Clone for Repository<S, D> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            upcasters: self.upcasters.clone(),
            snapshot_every: self.snapshot_every,
            max_retries: self.max_retries,
            decider: PhantomData,
        }
    }
}

impl<S: EventStore, D: Decider> Repository<S, D> {
    pub fn new(store: S, upcasters: Arc<Upcasters>) -> Self {
        Self { store, upcasters, snapshot_every: 50, max_retries: 8, decider: PhantomData }
    }

    pub fn with_snapshot_every(mut self, events: u64) -> Self {
        self.snapshot_every = events.max(1);
        self
    }

    pub fn stream_id(id: Uuid) -> StreamId {
        StreamId::new(D::CATEGORY, id)
    }

    /// Whether this decider's state may be snapshotted: not when its streams hold personal data,
    /// which a snapshot would keep in clear (DESIGN §3.2).
    fn snapshots(&self) -> bool {
        !self.upcasters.holds_personal_data(D::CATEGORY)
    }

    /// The current state: the latest snapshot of this decider version, then the events after it.
    pub async fn load(&self, id: Uuid) -> Result<Loaded<D>, StoreError> {
        let stream = Self::stream_id(id);
        let snapshot =
            if self.snapshots() { self.store.load_snapshot(&stream, D::VERSION as i32).await? } else { None };
        let (state, from) = match snapshot {
            Some(snap) => match serde_json::from_value::<D::State>(snap.state) {
                Ok(state) => (state, snap.stream_version),
                Err(e) => {
                    tracing::warn!(%stream, error = %e, "snapshot unreadable, folding from the start");
                    (D::initial_state(), 0)
                }
            },
            None => (D::initial_state(), 0),
        };
        let events = self.store.read_stream(&stream, from + 1, None).await?;
        self.fold(state, from, &events).await
    }

    /// The state as of `version` (time travel), folded from the first event.
    pub async fn load_at(&self, id: Uuid, version: u64) -> Result<Loaded<D>, StoreError> {
        let events = self.store.read_stream(&Self::stream_id(id), 1, Some(version)).await?;
        self.fold(D::initial_state(), 0, &events).await
    }

    /// Folds `events`, their sealed fields opened with keys loaded for them (none when there are
    /// none).
    async fn fold(
        &self,
        mut state: D::State,
        mut version: u64,
        events: &[RecordedEvent],
    ) -> Result<Loaded<D>, StoreError> {
        let keys: PersonKeys = self.upcasters.load_keys(&self.store, events).await?;
        for recorded in events {
            let event: D::Event = self.upcasters.decode_with(recorded, &keys)?;
            state = D::evolve(state, &event);
            version = recorded.stream_version;
        }
        Ok(Loaded { state, version })
    }

    /// Handles `command` on aggregate `id`. `expected_version`: the version the user saw, or
    /// `None` to let the handler re-decide on conflicts. `hook` runs inside the append.
    pub async fn execute(
        &self,
        id: Uuid,
        command: &D::Command,
        metadata: &Metadata,
        expected_version: Option<u64>,
        hook: Option<&dyn InlineHook>,
    ) -> Result<Executed<D>, CommandError> {
        if let Some(first) = self.store.find_command(metadata.command_id).await? {
            return Ok(self.replay(id, first.events).await?);
        }
        let stream = Self::stream_id(id);
        let mut attempt = 0;
        loop {
            let loaded = self.load(id).await?;
            if let Some(seen) = expected_version
                && seen != loaded.version
            {
                return Err(StoreError::Conflict {
                    stream_id: stream,
                    expected: ExpectedVersion::Exact(seen),
                    current_version: loaded.version,
                }
                .into());
            }
            let decided = D::decide(&loaded.state, command)?;
            let mut new_events = decided.iter().map(|e| self.upcasters.encode(e)).collect::<Result<Vec<_>, _>>()?;
            // personal fields sealed; a new data key inserted, or an erased person's deleted, in
            // the append's transaction, before the caller's hook
            let keys = self.upcasters.prepare_append(&self.store, &stream, &mut new_events).await?;
            let keyed = (!keys.is_empty()).then(|| KeyHook::new(keys, hook));
            let append_hook = match &keyed {
                Some(keyed) => Some(keyed as &dyn InlineHook),
                None => hook,
            };
            let expected = ExpectedVersion::from_loaded(loaded.version);
            match self.store.append_with(&stream, expected, &new_events, metadata, append_hook).await {
                Ok(result) if result.replayed => return Ok(self.replay(id, result.events).await?),
                Ok(result) => {
                    let state = D::fold(loaded.state, &decided);
                    self.maybe_snapshot(&stream, loaded.version, result.stream_version, &state).await;
                    return Ok(Executed {
                        state,
                        version: result.stream_version,
                        events: result.events,
                        replayed: false,
                    });
                }
                Err(StoreError::Conflict { .. }) if expected_version.is_none() && attempt < self.max_retries => {
                    attempt += 1;
                    tracing::debug!(%stream, attempt, "conflict, deciding again on the new state");
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn replay(&self, id: Uuid, events: Vec<RecordedEvent>) -> Result<Executed<D>, StoreError> {
        let version = events.last().map(|e| e.stream_version).unwrap_or_default();
        let loaded = self.load_at(id, version).await?;
        Ok(Executed { state: loaded.state, version: loaded.version, events, replayed: true })
    }

    /// Best effort: a failed snapshot costs a longer load later, never a failed command.
    async fn maybe_snapshot(&self, stream: &StreamId, before: u64, after: u64, state: &D::State) {
        if !self.snapshots() || after / self.snapshot_every == before / self.snapshot_every {
            return;
        }
        let snapshot = match serde_json::to_value(state) {
            Ok(state) => {
                Snapshot { stream_id: stream.clone(), decider_version: D::VERSION as i32, stream_version: after, state }
            }
            Err(e) => return tracing::warn!(%stream, error = %e, "state not serializable, no snapshot"),
        };
        if let Err(e) = self.store.save_snapshot(&snapshot).await {
            tracing::warn!(%stream, error = %e, "snapshot not saved");
        }
    }
}
