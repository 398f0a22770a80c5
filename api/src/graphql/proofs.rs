//! Proofs over the log's Merkle tree (issue 12, `carnet_store::integrity::tree`): an event's
//! inclusion in a signed checkpoint, and a checkpoint's consistency with an earlier one, for
//! `AUDITOR` and `ADMIN`. Each proof is given against a checkpoint the server signed (its note
//! is in the answer), so that it verifies with the log's public key alone; an inclusion proof
//! comes with its receipt, the same proof as a C2SP `tlog-proof` file.
//!
//! Hashes are base64 (as in checkpoints and C2SP proofs), except `eventHash`, lowercase hex as
//! everywhere else events' hashes are shown.

use super::access::{self, Caller};
use super::error::ApiError;
use async_graphql::{ComplexObject, Context, Object, SimpleObject};
use base64::Engine;
use carnet_domain::person::Role;
use carnet_lab::proofs::{self, Consistency, Inclusion, ProofError};
use carnet_store::integrity::checkpoint::StoredCheckpoint;
use carnet_store::integrity::tree::{self, EventRef};
use carnet_store::integrity::{Hash, to_hex};

#[derive(Default)]
pub struct ProofQuery;

/// A signed checkpoint of the log's tree.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Checkpoint {
    /// Events in the tree.
    tree_size: u64,
    /// The tree's root, base64.
    root_hash: String,
    /// The C2SP signed note, as issued: verify it with the log's public key
    /// (`GET /checkpoint/key`).
    note: String,
    issued_at: String,
}

/// An RFC 3161 timestamp token of a checkpoint (`[checkpoints] tsa_url`).
#[derive(SimpleObject)]
pub struct CheckpointTimestamp {
    /// The time-stamping authority's URL.
    tsa: String,
    /// The time the authority vouches for: the checkpoint existed then.
    stamped_at: chrono::DateTime<chrono::Utc>,
    /// The `TimeStampToken`, DER in base64, over the SHA-256 of the checkpoint's `note`:
    /// `openssl ts -verify -token_in -in TOKEN -data NOTE -CAfile TSA_CA` checks it.
    token: String,
}

#[ComplexObject]
impl Checkpoint {
    /// Its RFC 3161 timestamp tokens, if a time-stamping authority is configured.
    async fn timestamps(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CheckpointTimestamp>> {
        let caller = access::authenticated(ctx)?;
        let stamps = carnet_store::integrity::timestamp::of_size(&caller.state.store, self.tree_size)
            .await
            .map_err(|e| caller.fail(e))?;
        Ok(stamps
            .into_iter()
            .map(|s| CheckpointTimestamp {
                tsa: s.tsa,
                stamped_at: s.stamp.gen_time,
                token: base64::engine::general_purpose::STANDARD.encode(&s.stamp.token),
            })
            .collect())
    }
}

impl From<StoredCheckpoint> for Checkpoint {
    fn from(c: StoredCheckpoint) -> Self {
        Self { tree_size: c.size, root_hash: b64(&c.root), note: c.note, issued_at: c.issued_at }
    }
}

/// An event's place in a signed checkpoint's tree.
#[derive(SimpleObject)]
pub struct InclusionProof {
    global_position: i64,
    /// The event's stored hash (lowercase hex): the leaf is `SHA-256(0x00 ‖ this hash's bytes)`.
    event_hash: String,
    /// Its leaf, from 0, in the log's reading order.
    leaf_index: u64,
    tree_size: u64,
    /// RFC 9162 inclusion path, leaf to root, base64.
    hashes: Vec<String>,
    checkpoint: Checkpoint,
    /// The same, as a C2SP `tlog-proof` file: verifiable offline with the public key alone.
    receipt: String,
}

/// That a checkpoint's tree extends an earlier one's, appending only.
#[derive(SimpleObject)]
pub struct ConsistencyProof {
    from_size: u64,
    to_size: u64,
    /// RFC 9162 consistency proof, base64.
    hashes: Vec<String>,
    /// The checkpoint of `toSize`.
    checkpoint: Checkpoint,
}

fn b64(hash: &Hash) -> String {
    base64::engine::general_purpose::STANDARD.encode(hash)
}

/// The GraphQL error of a refused proof.
fn refused(caller: &Caller<'_>, e: ProofError) -> async_graphql::Error {
    match e {
        ProofError::NoCheckpoint => caller.not_found("aucun point de contrôle n'a encore été signé"),
        ProofError::NoCheckpointOfSize(size) => caller.fail(ApiError::BadUserInput(
            format!("aucun point de contrôle signé ne porte sur {size} événements : donnez la taille d'un point de contrôle émis"),
            "proof.no_checkpoint_of_size",
        )),
        ProofError::NotInTree { size } => caller.not_found(&format!(
            "cet événement n'est pas dans l'arbre du point de contrôle de {size} événements (pas encore, ou pas du tout)"
        )),
        ProofError::SizesBackwards { from, to } => caller.fail(ApiError::BadUserInput(
            format!("fromSize ({from}) dépasse la taille du point de contrôle ({to})"),
            "proof.sizes_backwards",
        )),
        ProofError::Store(e) => caller.fail(e),
    }
}

/// The inclusion proof of `event` in the checkpoint of `tree_size` (default: the latest); with
/// `own_only`, of an event the caller wrote, `NOT_FOUND` for any other (as for no event at all).
async fn prove(
    caller: &Caller<'_>,
    event: EventRef,
    tree_size: Option<u64>,
    own_only: bool,
) -> async_graphql::Result<InclusionProof> {
    let author = own_only.then(|| super::mutation::actor(&caller.identity));
    let found = proofs::inclusion(&caller.state.store, event, tree_size, author.as_ref()).await;
    let Inclusion { leaf, proof, checkpoint, receipt } = found.map_err(|e| refused(caller, e))?;
    Ok(InclusionProof {
        global_position: leaf.global_position,
        event_hash: to_hex(&leaf.event_hash),
        leaf_index: leaf.index,
        tree_size: checkpoint.size,
        receipt,
        hashes: proof.iter().map(b64).collect(),
        checkpoint: checkpoint.into(),
    })
}

/// An event a mutation wrote on its entity's stream: what a receipt is asked for with.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct WrittenEvent {
    /// The event's id (a UUID): give it to `receipt` once a checkpoint covers it.
    event_id: String,
    global_position: i64,
}

impl WrittenEvent {
    pub(crate) fn of(event: &carnet_store::RecordedEvent) -> Self {
        Self { event_id: event.event_id.to_string(), global_position: event.global_position }
    }
}

/// How long `leafIndex` waits for the tree to reach an event: transactions that began before
/// the mutation's may still be running.
const LEAF_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

#[ComplexObject]
impl WrittenEvent {
    /// The event's leaf in the log's Merkle tree, from 0. Asking for it extends the tree now,
    /// waiting up to 2 s for transactions begun before this mutation to end; `null` if the tree
    /// has not reached the event by then (its `receipt` gives the leaf later).
    async fn leaf_index(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<u64>> {
        let caller = access::authenticated(ctx)?;
        let store = &caller.state.store;
        let deadline = tokio::time::Instant::now() + LEAF_WAIT;
        for attempt in 0.. {
            let leaf =
                tree::leaf_of(store, EventRef::Position(self.global_position)).await.map_err(|e| caller.fail(e))?;
            if let Some(leaf) = leaf {
                return Ok(Some(leaf.index));
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            tree::extend_all(store, 100_000).await.map_err(|e| caller.fail(e))?;
        }
        Ok(None)
    }
}

#[Object]
impl ProofQuery {
    /// The latest signed checkpoint of the log's tree (`GET /checkpoint` serves it too).
    async fn checkpoint(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Checkpoint>> {
        let caller = access::authenticated(ctx)?;
        caller.require(&[Role::Auditor, Role::Admin])?;
        match proofs::checkpoint_of(&caller.state.store, None).await {
            Ok(latest) => Ok(Some(latest.into())),
            Err(ProofError::NoCheckpoint) => Ok(None),
            Err(e) => Err(refused(&caller, e)),
        }
    }

    /// The inclusion proof of one event, by `globalPosition` or `eventId` (exactly one), in the
    /// tree of the checkpoint of `treeSize` events (default: the latest checkpoint). An event
    /// committed after that checkpoint is `NOT_FOUND` until the next one (a second or so).
    async fn inclusion_proof(
        &self,
        ctx: &Context<'_>,
        global_position: Option<i64>,
        event_id: Option<String>,
        tree_size: Option<u64>,
    ) -> async_graphql::Result<InclusionProof> {
        let caller = access::authenticated(ctx)?;
        caller.require(&[Role::Auditor, Role::Admin])?;
        let event = match (global_position, event_id.as_deref().map(uuid::Uuid::parse_str)) {
            (Some(p), None) => EventRef::Position(p),
            (None, Some(Ok(id))) => EventRef::Id(id),
            _ => {
                return Err(caller.fail(ApiError::BadUserInput(
                    "donnez soit globalPosition, soit eventId (un UUID), pas les deux".into(),
                    "proof.one_event",
                )));
            }
        };
        prove(&caller, event, tree_size, false).await
    }

    /// The receipt of one of your own events — one you wrote, as its metadata's actor (a
    /// mutation's payload lists them in `events`) — or, for `AUDITOR` and `ADMIN`, of any event:
    /// its inclusion proof in the latest signed checkpoint, `receipt` being the C2SP
    /// `tlog-proof` anyone verifies with the log's public key alone. `NOT_FOUND` for another
    /// person's event, and until a checkpoint covers the event (a second or so).
    async fn receipt(&self, ctx: &Context<'_>, event_id: String) -> async_graphql::Result<InclusionProof> {
        let caller = access::authenticated(ctx)?;
        let Ok(id) = uuid::Uuid::parse_str(&event_id) else {
            return Err(caller.fail(ApiError::BadUserInput("eventId : un UUID est attendu".into(), "proof.event_id")));
        };
        let anyone = caller.has_any(&[Role::Auditor, Role::Admin]);
        prove(&caller, EventRef::Id(id), None, !anyone).await
    }

    /// The consistency proof from the tree of `fromSize` events to that of the checkpoint of
    /// `toSize` (default: the latest): the later log holds the earlier one unchanged.
    async fn consistency_proof(
        &self,
        ctx: &Context<'_>,
        from_size: u64,
        to_size: Option<u64>,
    ) -> async_graphql::Result<ConsistencyProof> {
        let caller = access::authenticated(ctx)?;
        caller.require(&[Role::Auditor, Role::Admin])?;
        let found = proofs::consistency(&caller.state.store, from_size, to_size).await;
        let Consistency { from, proof, checkpoint } = found.map_err(|e| refused(&caller, e))?;
        Ok(ConsistencyProof {
            from_size: from,
            to_size: checkpoint.size,
            hashes: proof.iter().map(b64).collect(),
            checkpoint: checkpoint.into(),
        })
    }
}
