//! The lab's command side, without HTTP: every change goes through [`Lab::execute`] — load the
//! aggregate, decide, append with the inline projections in the same transaction (DESIGN §2).
//! The GraphQL mutations and the demo data both use it, so demo history is real history.
//!
//! The reason a command carries (a decline, a cancellation, an erasure: `Decider::reason`) is
//! put in its events' metadata here, on every way in, so that `LogEvent.reason` shows it.

use carnet_domain::reference::{ReferenceKind, ReferenceSequence, SequenceCommand, SequenceState, Series};
use carnet_domain::{Decider, Rejection};
use carnet_projections::InlineProjections;
use carnet_store::{
    AnyStore, Codec, CommandError, Executed, KeyStore, MasterKeys, Metadata, Repository, StateCache, StoreError,
};
use std::sync::Arc;
use uuid::Uuid;

/// The command side of one lab.
#[derive(Clone)]
pub struct Lab {
    store: AnyStore,
    codec: Arc<Codec>,
    inline: Arc<InlineProjections>,
    /// The lab's reference prefix, e.g. `110B`.
    prefix: String,
    /// Taken while a reference is allocated: within one process, allocations wait their turn
    /// instead of racing on the series' stream. Racing lost too often under load (a burst of
    /// submissions exhausted the repository's conflict retries and answered `CONFLICT` to
    /// clients that had pinned no version); across instances the optimistic retry remains.
    allocating: Arc<tokio::sync::Mutex<()>>,
    /// The states commands left, tried before loading (`carnet_store::repository`, "Cached
    /// states"): the next command on an aggregate skips two of its round trips.
    states: StateCache,
}

/// Aggregate states kept in memory per process; a project's or a session's state is a few
/// kilobytes, so at most some tens of megabytes.
const CACHED_STATES: std::num::NonZeroUsize = std::num::NonZeroUsize::new(8192).unwrap();

impl Lab {
    /// The lab on `store`; personal data is sealed with data keys wrapped by `master_keys`
    /// (DESIGN §3.2, `crate::master_keys`).
    pub fn new(store: AnyStore, prefix: impl Into<String>, master_keys: Arc<MasterKeys>) -> Self {
        let codec = Arc::new(crate::codec::carnet_codec().with_master_keys(master_keys));
        let inline = Arc::new(InlineProjections::new(codec.clone()));
        let states = StateCache::new(CACHED_STATES);
        Self { store, codec, inline, prefix: prefix.into(), allocating: Arc::default(), states }
    }

    pub fn store(&self) -> &AnyStore {
        &self.store
    }

    /// How events of older schema versions are read, and personal fields opened (with keys
    /// loaded by `Codec::load_keys`).
    pub fn codec(&self) -> &Arc<Codec> {
        &self.codec
    }

    /// Handles `command` on aggregate `id` of decider `D`, the inline projections committing
    /// with the events. `expected_version`: the version the user saw (`CONFLICT` if it moved),
    /// or `None` to decide again on the fresh state after a concurrent change.
    #[tracing::instrument(name = "command", skip_all, fields(category = D::CATEGORY, %id))]
    pub async fn execute<D: Decider>(
        &self,
        id: Uuid,
        command: &D::Command,
        metadata: &Metadata,
        expected_version: Option<u64>,
    ) -> Result<Executed<D>, CommandError> {
        let reasoned;
        let metadata = match D::reason(command) {
            Some(reason) if metadata.reason.is_none() => {
                reasoned = Metadata { reason: Some(reason.to_owned()), ..metadata.clone() };
                &reasoned
            }
            _ => metadata,
        };
        Repository::<AnyStore, D>::new(self.store.clone(), self.codec.clone())
            .with_cache(self.states.clone())
            .execute(id, command, metadata, expected_version, Some(self.inline.as_ref()))
            .await
    }

    /// After `person` was erased: the access log's rows of their `identities` (issuer, sub)
    /// name the person by their opaque id instead, and the database's files are scrubbed of
    /// what the erasure deleted (`carnet_store::personal_data::scrub`: the SQLite WAL checkpointed
    /// and truncated, the PostgreSQL tables that held personal data rewritten). The access log
    /// is rewritten only when it held one of the subjects (`pseudonymised` rows changed before
    /// the erasure, or some now): it is the one large table among them.
    pub async fn scrub_erased(
        &self,
        person: Uuid,
        identities: &[(String, String)],
        pseudonymised: u64,
    ) -> Result<(), StoreError> {
        let now = carnet_store::access_log::pseudonymise(&self.store, identities, &person.to_string()).await?;
        let mut tables = carnet_projections::person::PERSONAL_TABLES.to_vec();
        if pseudonymised + now > 0 {
            tables.push("access_log");
        }
        self.store.scrub(&tables).await
    }

    /// Creates entity `id` of `D` with the next reference of its series (`year`): `build` makes
    /// the creating command from a reference. The command is checked first with a placeholder
    /// reference, so a refused creation takes no number. The number's `ReferenceAllocated` and
    /// the entity's creation are appended in one transaction (`Repository::execute_after`):
    /// a crash, a lost connection or a refusal of the read models leaves both or neither, never
    /// a number that points to no entity. Idempotent with the command: a retried command (same
    /// `command_id`) gets its entity, and its number, back.
    pub async fn create_numbered<D: Decider>(
        &self,
        kind: ReferenceKind,
        year: i32,
        id: Uuid,
        build: impl Fn(&str) -> Result<D::Command, Rejection>,
        metadata: &Metadata,
    ) -> Result<Executed<D>, CommandError> {
        let series = Series { lab: self.prefix.clone(), kind, year };
        D::decide(&D::initial_state(), &build(&series.reference(0))?)?;
        let sequence_metadata = Metadata {
            command_id: Uuid::new_v5(&metadata.command_id, b"reference"),
            causation_id: Some(metadata.command_id),
            ..metadata.clone()
        };
        let command = SequenceCommand::AllocateReference { series: series.clone(), to: id };
        let _turn = self.allocating.lock().await;
        Repository::<AnyStore, D>::new(self.store.clone(), self.codec.clone())
            .execute_after::<ReferenceSequence>(
                series.stream_key(),
                &command,
                &sequence_metadata,
                id,
                |sequence: &SequenceState| build(&series.reference(sequence.last)),
                metadata,
                Some(self.inline.as_ref()),
            )
            .await
    }
}
