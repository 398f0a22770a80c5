//! The way of a command: load (snapshot + events) → decide → append.
//!
//! Conflicts are retried only where re-deciding on the new state is safe: when the caller did
//! not pin the version it saw (`expected_version: None`). The decider checks every rule again
//! on the fresh state, so a retry can only produce events valid for that state. A caller that
//! pinned a version (the API's `expectedVersion`) gets the conflict back: the user decided on
//! what they saw, and only they can decide again.
//!
//! An unpinned command is retried until it applies, within a deadline ([`RETRY_DEADLINE`]),
//! each retry after a random pause (full jitter, growing from 1 ms to at most 50 ms), so that
//! writers that collided do not collide again in step. A count of retries is not a bound: under
//! a sustained burst of n writers on one aggregate a writer can lose more than n - 1 times in a
//! row (each loss is another writer's success, and those writers come back). The conflict
//! reaches the caller only when the stream kept moving for the whole deadline, that is when
//! other commands on that one aggregate kept landing for that long: the store is saturated on
//! it, and the API answers `CONFLICT` with the current version.
//!
//! Idempotency: a command id seen before returns its first result only for the same request —
//! same stream, same [`Metadata::fingerprint`] — and is refused otherwise
//! ([`StoreError::CommandReused`]), before anything is decided.
//!
//! Personal data (DESIGN §3.2, [`crate::sealing`]): loads open sealed fields with the keys of the
//! events read; appends seal the new events' personal fields and insert or delete the stream's
//! data key inside the append's transaction; streams with personal data are never snapshotted.
//!
//! **Cached states** ([`StateCache`], [`Repository::with_cache`]): the state a command left is
//! kept in memory with its version, so that the next command on that aggregate skips the load
//! (a snapshot read and a stream read, two round trips of four before the append). The cache is
//! never trusted, only tried: the append expects exactly the cached version, so a state that
//! another instance, a restore or a rebuild made stale fails the append with a conflict, and the
//! command is decided again on a fresh load, at once. A cached state that refuses the command is
//! not believed either: the refusal is decided again on a fresh load. A caller's pinned version
//! other than the cached one loads fresh, so a stale cache never answers a conflict the store
//! would not. Streams with personal data are never cached, as they are never snapshotted.

use crate::codec::Codec;
use crate::contract::{EventStore, InlineHook, StreamAppend, same_request};
use crate::error::StoreError;
use crate::model::{AppendResult, ExpectedVersion, Metadata, NewEvent, RecordedEvent, Snapshot, StreamId};
use crate::personal_data::{KeyHook, PersonKeys};
use carnet_domain::{Decider, Rejection};
use std::any::Any;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Aggregate states by stream, with the version each reflects, the least recently used going
/// first past the capacity; shared by the repositories of one process (see the module doc).
#[derive(Clone)]
pub struct StateCache(Arc<Mutex<lru::LruCache<StreamId, CachedState>>>);

/// A stream's version and the state it gives (of the stream's decider's `State`).
type CachedState = (u64, Arc<dyn Any + Send + Sync>);

impl StateCache {
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self(Arc::new(Mutex::new(lru::LruCache::new(capacity))))
    }

    fn get<T: Clone + 'static>(&self, stream: &StreamId) -> Option<(T, u64)> {
        let mut cache = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (version, state) = cache.get(stream)?;
        Some((state.downcast_ref::<T>()?.clone(), *version))
    }

    fn put<T: Send + Sync + 'static>(&self, stream: &StreamId, state: T, version: u64) {
        let mut cache = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.put(stream.clone(), (version, Arc::new(state)));
    }

    fn forget(&self, stream: &StreamId) {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop(stream);
    }

    /// How many states it holds.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

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

/// How long an unpinned command is re-decided after conflicts before the conflict reaches the
/// caller.
pub const RETRY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// The pause before retry `attempt` (1, 2…): uniform in [0, min(2^attempt, 50)] ms.
fn retry_pause(attempt: u32) -> std::time::Duration {
    let cap_us = 1_000u64.saturating_mul(1 << attempt.min(6)).min(50_000);
    std::time::Duration::from_micros(rand::random_range(0..=cap_us))
}

/// Loads and saves deciders on an event store.
pub struct Repository<S, D> {
    store: S,
    codec: Arc<Codec>,
    /// A snapshot is saved each time a stream crosses a multiple of this many events.
    snapshot_every: u64,
    /// How long conflicts are re-decided when the caller did not pin a version.
    retry_deadline: std::time::Duration,
    /// States left by earlier commands, tried before loading (see the module doc).
    cache: Option<StateCache>,
    decider: PhantomData<fn() -> D>,
}

impl<S: Clone, D> Clone for Repository<S, D> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            codec: self.codec.clone(),
            snapshot_every: self.snapshot_every,
            retry_deadline: self.retry_deadline,
            cache: self.cache.clone(),
            decider: PhantomData,
        }
    }
}

impl<S: EventStore, D: Decider> Repository<S, D> {
    pub fn new(store: S, codec: Arc<Codec>) -> Self {
        Self { store, codec, snapshot_every: 50, retry_deadline: RETRY_DEADLINE, cache: None, decider: PhantomData }
    }

    /// This repository, trying `cache`'s states before loading and keeping there what its
    /// commands leave (see the module doc).
    pub fn with_cache(mut self, cache: StateCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The cached state of `stream`, if any may be used: none for streams with personal data.
    /// The cache, for this decider's streams: none when they hold personal data.
    fn cache(&self) -> Option<&StateCache> {
        self.cache.as_ref().filter(|_| self.snapshots())
    }

    fn cached(&self, stream: &StreamId) -> Option<Loaded<D>> {
        let (state, version) = self.cache()?.get::<D::State>(stream)?;
        Some(Loaded { state, version })
    }

    /// How long an unpinned command keeps re-deciding after conflicts ([`RETRY_DEADLINE`] by
    /// default).
    pub fn with_retry_deadline(mut self, deadline: std::time::Duration) -> Self {
        self.retry_deadline = deadline;
        self
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
        !self.codec.holds_personal_data(D::CATEGORY)
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
        let keys: PersonKeys = self.codec.load_keys(&self.store, events).await?;
        for recorded in events {
            let event: D::Event = self.codec.decode_with(recorded, &keys)?;
            state = D::evolve(state, &event);
            version = recorded.stream_version;
        }
        Ok(Loaded { state, version })
    }

    /// Handles `command` on aggregate `id`. `expected_version`: the version the user saw, or
    /// `None` to let the repository re-decide on conflicts. `hook` runs inside the append.
    #[tracing::instrument(level = "debug", name = "repository.execute", skip_all, fields(category = D::CATEGORY, %id))]
    pub async fn execute(
        &self,
        id: Uuid,
        command: &D::Command,
        metadata: &Metadata,
        expected_version: Option<u64>,
        hook: Option<&dyn InlineHook>,
    ) -> Result<Executed<D>, CommandError> {
        let stream = Self::stream_id(id);
        if let Some(first) = self.store.find_command(metadata.command_id).await? {
            let first = same_request(first, &stream, metadata)?;
            return Ok(self.replay(id, first.events).await?);
        }
        let deadline = tokio::time::Instant::now() + self.retry_deadline;
        let mut attempt: u32 = 0;
        // a cached state is tried once; a conflict or a refusal on it is decided again fresh
        let mut cached = self.cached(&stream).filter(|c| expected_version.is_none_or(|seen| seen == c.version));
        loop {
            let from_cache = cached.is_some();
            let loaded = match cached.take() {
                Some(loaded) => loaded,
                None => self.load(id).await?,
            };
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
            let decided = match D::decide(&loaded.state, command) {
                Ok(decided) => decided,
                Err(_) if from_cache => {
                    tracing::debug!(%stream, "refused on the cached state, deciding again on a fresh load");
                    continue;
                }
                Err(rejection) => return Err(rejection.into()),
            };
            let (new_events, keyed) = self.encode(&stream, &decided, hook).await?;
            let expected = ExpectedVersion::from_loaded(loaded.version);
            let part = StreamAppend { stream: &stream, expected, events: &new_events, metadata };
            match self.store.append_with(part, with_keys(&keyed, hook)).await {
                Ok(result) if result.replayed => return Ok(self.replay(id, result.events).await?),
                Ok(result) => return Ok(self.executed(&stream, loaded, &decided, result).await),
                Err(StoreError::Conflict { .. }) if from_cache => {
                    tracing::debug!(%stream, "the cached state was stale, deciding again on a fresh load");
                    if let Some(cache) = self.cache() {
                        cache.forget(&stream);
                    }
                }
                Err(StoreError::Conflict { .. })
                    if expected_version.is_none() && tokio::time::Instant::now() < deadline =>
                {
                    attempt += 1;
                    tracing::debug!(%stream, attempt, "conflict, deciding again on the new state");
                    tokio::time::sleep(retry_pause(attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Decides `first` on aggregate `first_id` of decider `F` (a reference sequence), then the
    /// command `build` makes from `F`'s new state (its number) on aggregate `id`, and appends
    /// both in **one** transaction ([`EventStore::append_all`]): the number and the entity that
    /// bears it are one fact, which no crash or lost connection separates. Both are decided
    /// again on a conflict of either, within the retry deadline. A retry of the command (same
    /// `metadata.command_id`, same request) returns its first result. `F` holds no personal
    /// data. Returns what the command did on `id`.
    ///
    /// A first part recorded alone (before the two appends were joint, a crash between them
    /// left a number to no entity) is taken again by a retry of that same command: the number
    /// goes to the entity after all, and the hole fills.
    #[allow(clippy::too_many_arguments)]
    pub async fn execute_after<F: Decider>(
        &self,
        first_id: Uuid,
        first: &F::Command,
        first_metadata: &Metadata,
        id: Uuid,
        build: impl Fn(&F::State) -> Result<D::Command, Rejection>,
        metadata: &Metadata,
        hook: Option<&dyn InlineHook>,
    ) -> Result<Executed<D>, CommandError> {
        let stream = Self::stream_id(id);
        if let Some(done) = self.store.find_command(metadata.command_id).await? {
            let done = same_request(done, &stream, metadata)?;
            return Ok(self.replay(id, done.events).await?);
        }
        let firsts = Repository::<S, F>::new(self.store.clone(), self.codec.clone());
        let first_stream = Repository::<S, F>::stream_id(first_id);
        if self.codec.holds_personal_data(F::CATEGORY) {
            return Err(StoreError::unexpected("a joint append's first part holds no personal data").into());
        }
        if let Some(done) = self.store.find_command(first_metadata.command_id).await? {
            let done = same_request(done, &first_stream, first_metadata)?;
            let taken = firsts.replay(first_id, done.events).await?;
            return self.execute(id, &build(&taken.state)?, metadata, None, hook).await;
        }
        let deadline = tokio::time::Instant::now() + self.retry_deadline;
        let mut attempt: u32 = 0;
        loop {
            let loaded_first = firsts.load(first_id).await?;
            let first_decided = F::decide(&loaded_first.state, first)?;
            let first_events = first_decided.iter().map(|e| self.codec.encode(e)).collect::<Result<Vec<_>, _>>()?;
            let first_state = F::fold(loaded_first.state, &first_decided);
            let loaded = self.load(id).await?;
            let decided = D::decide(&loaded.state, &build(&first_state)?)?;
            let (new_events, keyed) = self.encode(&stream, &decided, hook).await?;
            let parts = [
                StreamAppend {
                    stream: &first_stream,
                    expected: ExpectedVersion::from_loaded(loaded_first.version),
                    events: &first_events,
                    metadata: first_metadata,
                },
                StreamAppend {
                    stream: &stream,
                    expected: ExpectedVersion::from_loaded(loaded.version),
                    events: &new_events,
                    metadata,
                },
            ];
            match self.store.append_all(&parts, with_keys(&keyed, hook)).await {
                Ok(results) => {
                    let [numbered, result] = <[AppendResult; 2]>::try_from(results)
                        .map_err(|_| StoreError::unexpected("a joint append of two streams gave another count"))?;
                    if result.replayed {
                        return Ok(self.replay(id, result.events).await?);
                    }
                    firsts
                        .maybe_snapshot(&first_stream, loaded_first.version, numbered.stream_version, &first_state)
                        .await;
                    return Ok(self.executed(&stream, loaded, &decided, result).await);
                }
                Err(StoreError::Conflict { .. }) if tokio::time::Instant::now() < deadline => {
                    attempt += 1;
                    tracing::debug!(%stream, %first_stream, attempt, "conflict, deciding both again");
                    tokio::time::sleep(retry_pause(attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// `decided` as the log stores it: encoded, personal fields sealed; and, when the key table
    /// changes (a new data key inserted, or an erased person's deleted), the hook that does it
    /// in the append's transaction before the caller's `hook`.
    async fn encode<'h>(
        &self,
        stream: &StreamId,
        decided: &[D::Event],
        hook: Option<&'h dyn InlineHook>,
    ) -> Result<(Vec<NewEvent>, Option<KeyHook<'h>>), CommandError> {
        let mut new_events = decided.iter().map(|e| self.codec.encode(e)).collect::<Result<Vec<_>, _>>()?;
        let keys = self.codec.prepare_append(&self.store, stream, &mut new_events).await?;
        Ok((new_events, (!keys.is_empty()).then(|| KeyHook::new(keys, hook))))
    }

    /// What a written command gives back: the state after `decided`, snapshotted when due.
    async fn executed(
        &self,
        stream: &StreamId,
        loaded: Loaded<D>,
        decided: &[D::Event],
        result: AppendResult,
    ) -> Executed<D> {
        let state = D::fold(loaded.state, decided);
        self.maybe_snapshot(stream, loaded.version, result.stream_version, &state).await;
        if let Some(cache) = self.cache() {
            cache.put(stream, state.clone(), result.stream_version);
        }
        Executed { state, version: result.stream_version, events: result.events, replayed: false }
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

/// The append's hook: the key work when there is some (which then runs `hook`), else `hook`.
fn with_keys<'h>(keyed: &'h Option<KeyHook<'h>>, hook: Option<&'h dyn InlineHook>) -> Option<&'h dyn InlineHook> {
    match keyed {
        Some(keyed) => Some(keyed as &dyn InlineHook),
        None => hook,
    }
}
