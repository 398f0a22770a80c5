//! Proofs over the log's Merkle tree against the checkpoints the server signed: one way for the
//! GraphQL queries (`inclusionProof`, `receipt`, `consistencyProof`) and `carnet prove`. Each
//! proof names the signed checkpoint it holds against, so that it verifies with the log's
//! public key alone.

use carnet_store::integrity::Hash;
use carnet_store::integrity::checkpoint::{self, StoredCheckpoint};
use carnet_store::integrity::tree::{self, EventRef, Leaf};
use carnet_store::{Actor, AnyStore, StoreError};

/// Why no proof is given.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("no checkpoint was signed yet")]
    NoCheckpoint,
    #[error("no checkpoint of {0} events was signed")]
    NoCheckpointOfSize(u64),
    /// Not in that tree: not yet (a checkpoint covers it within a second or so), not at all, or
    /// (for a receipt) another person's event.
    #[error("the event is not in the tree of the checkpoint of {size} events")]
    NotInTree { size: u64 },
    #[error("a tree of {from} events is not a prefix of the checkpoint of {to}")]
    SizesBackwards { from: u64, to: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The checkpoint of `size` events, or the latest.
pub async fn checkpoint_of(store: &AnyStore, size: Option<u64>) -> Result<StoredCheckpoint, ProofError> {
    match size {
        Some(size) => checkpoint::of_size(store, size).await?.ok_or(ProofError::NoCheckpointOfSize(size)),
        None => checkpoint::latest(store).await?.ok_or(ProofError::NoCheckpoint),
    }
}

/// An event's inclusion in a signed checkpoint.
#[derive(Clone, Debug)]
pub struct Inclusion {
    pub leaf: Leaf,
    /// RFC 9162 inclusion path, leaf to root.
    pub proof: Vec<Hash>,
    pub checkpoint: StoredCheckpoint,
    /// The same as a C2SP `tlog-proof` (`checkpoint::receipt`).
    pub receipt: String,
}

/// The inclusion proof of `event` in the checkpoint of `size` events (default: the latest);
/// with `author`, only of an event that author wrote (any other is [`ProofError::NotInTree`],
/// as if there were none).
pub async fn inclusion(
    store: &AnyStore,
    event: EventRef,
    size: Option<u64>,
    author: Option<&Actor>,
) -> Result<Inclusion, ProofError> {
    let checkpoint = checkpoint_of(store, size).await?;
    let leaf = tree::leaf_of(store, event)
        .await?
        .filter(|leaf| author.is_none_or(|a| &leaf.actor == a) && leaf.index < checkpoint.size)
        .ok_or(ProofError::NotInTree { size: checkpoint.size })?;
    let proof = tree::inclusion_proof(store, leaf.index, checkpoint.size).await?;
    let receipt = checkpoint::receipt(&leaf.event_hash, leaf.index, &proof, &checkpoint.note);
    Ok(Inclusion { leaf, proof, checkpoint, receipt })
}

/// That the checkpoint of `to` events (default: the latest) extends the tree of `from` events.
#[derive(Clone, Debug)]
pub struct Consistency {
    pub from: u64,
    pub proof: Vec<Hash>,
    pub checkpoint: StoredCheckpoint,
}

pub async fn consistency(store: &AnyStore, from: u64, to: Option<u64>) -> Result<Consistency, ProofError> {
    let checkpoint = checkpoint_of(store, to).await?;
    if from > checkpoint.size {
        return Err(ProofError::SizesBackwards { from, to: checkpoint.size });
    }
    let proof = tree::consistency_proof(store, from, checkpoint.size).await?;
    Ok(Consistency { from, proof, checkpoint })
}
