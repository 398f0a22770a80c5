//! The log's Merkle tree (issue 12, `carnet_store::integrity::tree`): built off the append path
//! in reading order, its roots and proofs those of RFC 9162 over the events' hashes, on SQLite and
//! on PostgreSQL, each on a fresh database.

use carnet_store::integrity::checkpoint::{self, CheckpointSigner, CheckpointVerifier};
use carnet_store::integrity::merkle::{self, leaf_hash, verify_consistency, verify_inclusion};
use carnet_store::integrity::tree::Recomputed;
use carnet_store::integrity::{self, Hash, tree};
use carnet_store::*;
use futures::TryStreamExt;
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;

use carnet_testkit::{Backend, IntoAnyStore, for_each_backend};

for_each_backend!(
    the_tree_is_rfc_9162s_over_the_events_in_reading_order,
    every_event_is_proved_in_every_later_tree_and_every_tree_extends_the_earlier,
    two_extenders_at_once_build_one_tree,
    sizes_beyond_the_tree_are_refused,
    checkpoints_are_issued_signed_and_each_extends_the_one_before,
    a_checkpoint_catches_the_newest_event_deleted,
    a_checkpoint_catches_a_forged_event_with_a_correct_chain,
    a_checkpoint_catches_an_emptied_log,
);

async fn append(store: &AnyStore, category: &str, count: usize) {
    let events: Vec<NewEvent> = (0..count).map(|n| NewEvent::new("Happened", json!({ "n": n }))).collect();
    let metadata = carnet_testkit::metadata("person-tree");
    let stream = StreamId::new(category, Uuid::new_v4());
    store.append(&stream, ExpectedVersion::Any, &events, &metadata).await.expect("append");
}

/// The events' stored hashes, in reading order: the tree's leaf data.
async fn event_hashes(store: &AnyStore) -> Vec<Hash> {
    let events: Vec<_> = integrity::hashed_events(store, Checkpoint::START).try_collect().await.unwrap();
    events.iter().map(|e| e.hash.expect("a hash")).collect()
}

/// Extends the tree until it holds every event. On PostgreSQL a writing transaction still open
/// elsewhere on the server (another test) holds the tree back, by design: wait for it.
async fn extend_to_all(store: &AnyStore) -> tree::TreeHead {
    let total = event_hashes(store).await.len() as u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let head = tree::extend_all(store, 7).await.expect("extend");
        if head.size == total {
            return head;
        }
        assert!(Instant::now() < deadline, "the tree stays at {} of {total} events", head.size);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The RFC's `MTH` over leaf hashes, straight from the definition.
fn naive_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => merkle::empty_root(),
        1 => leaves[0],
        n => {
            let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
            merkle::node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
        }
    }
}

async fn the_tree_is_rfc_9162s_over_the_events_in_reading_order(store: impl IntoAnyStore, _: Backend) {
    let store = store.into_any();
    assert_eq!(tree::head(&store).await.unwrap().size, 0);
    assert_eq!(tree::head(&store).await.unwrap().root, merkle::empty_root(), "the empty tree");
    for (i, count) in [1, 2, 5, 13, 1].into_iter().enumerate() {
        append(&store, "project", count).await;
        let head = extend_to_all(&store).await;
        let leaves: Vec<Hash> = event_hashes(&store).await.iter().map(|h| leaf_hash(h)).collect();
        assert_eq!(head.size, leaves.len() as u64, "round {i}");
        assert_eq!(head.root, naive_root(&leaves), "round {i}: the root is the RFC's over the events' hashes");
        assert_eq!(tree::head(&store).await.unwrap(), head, "read back as built");
        let last = store.read_all(Checkpoint::START, 1000).await.unwrap().last().unwrap().checkpoint();
        assert_eq!(head.last, last, "the tree ends at the last event in reading order");
        for size in 1..=head.size {
            assert_eq!(tree::root_at(&store, size).await.unwrap(), naive_root(&leaves[..size as usize]));
        }
    }
    // each leaf is its event, in reading order
    let events = store.read_all(Checkpoint::START, 1000).await.unwrap();
    for (i, event) in events.iter().enumerate() {
        assert_eq!(tree::leaf_index(&store, event.global_position).await.unwrap(), Some(i as u64));
    }
    let leaves = tree::leaves(&store, 3, 6).await.unwrap();
    let positions: Vec<i64> = events[3..6].iter().map(|e| e.global_position).collect();
    assert_eq!(leaves.iter().map(|(_, p)| *p).collect::<Vec<_>>(), positions);
}

async fn every_event_is_proved_in_every_later_tree_and_every_tree_extends_the_earlier(
    store: impl IntoAnyStore,
    _: Backend,
) {
    let store = store.into_any();
    let mut heads = vec![];
    for count in [3, 1, 4, 1, 5, 9, 2, 6] {
        append(&store, "session", count).await;
        heads.push(extend_to_all(&store).await);
    }
    let leaves: Vec<Hash> = event_hashes(&store).await.iter().map(|h| leaf_hash(h)).collect();
    for head in &heads {
        for index in 0..head.size {
            let proof = tree::inclusion_proof(&store, index, head.size).await.unwrap();
            verify_inclusion(index, head.size, &leaves[index as usize], &proof, &head.root)
                .unwrap_or_else(|e| panic!("leaf {index} of {}: {e}", head.size));
        }
        for earlier in &heads {
            if earlier.size <= head.size {
                let proof = tree::consistency_proof(&store, earlier.size, head.size).await.unwrap();
                verify_consistency(earlier.size, head.size, &earlier.root, &head.root, &proof)
                    .unwrap_or_else(|e| panic!("{} to {}: {e}", earlier.size, head.size));
            }
        }
    }
    let (first, last) = (heads[0], heads[heads.len() - 1]);
    let proof = tree::inclusion_proof(&store, 0, last.size).await.unwrap();
    assert!(verify_inclusion(1, last.size, &leaves[0], &proof, &last.root).is_err(), "not for another leaf");
    let proof = tree::consistency_proof(&store, first.size, last.size).await.unwrap();
    assert!(verify_consistency(first.size, last.size, &last.root, &last.root, &proof).is_err(), "not another root");
}

async fn two_extenders_at_once_build_one_tree(store: impl IntoAnyStore, _: Backend) {
    let store = store.into_any();
    for _ in 0..4 {
        append(&store, "person", 25).await;
    }
    let (a, b) = tokio::join!(tree::extend_all(&store, 10), tree::extend_all(&store, 10));
    a.unwrap();
    b.unwrap();
    let head = extend_to_all(&store).await;
    let leaves: Vec<Hash> = event_hashes(&store).await.iter().map(|h| leaf_hash(h)).collect();
    assert_eq!((head.size, head.root), (100, naive_root(&leaves)));
}

async fn sizes_beyond_the_tree_are_refused(store: impl IntoAnyStore, _: Backend) {
    let store = store.into_any();
    append(&store, "project", 4).await;
    let head = extend_to_all(&store).await;
    let beyond = tree::root_at(&store, head.size + 1).await.unwrap_err().to_string();
    assert!(beyond.contains("4 leaves, not 5"), "{beyond}");
    assert!(tree::inclusion_proof(&store, 4, 4).await.is_err(), "leaf 4 of a tree of 4");
    assert!(tree::consistency_proof(&store, 3, 2).await.is_err(), "backwards");
    assert!(tree::consistency_proof(&store, 2, 5).await.is_err(), "beyond");
}

async fn checkpoints_are_issued_signed_and_each_extends_the_one_before(store: impl IntoAnyStore, _: Backend) {
    let store = store.into_any();
    let (_, signer) = CheckpointSigner::generate("carnet.test/log").unwrap();
    let verifier = CheckpointVerifier::new(signer.verifier_key()).unwrap();
    assert_eq!(checkpoint::issue(&store, &signer).await.unwrap(), None, "nothing to sign in an empty log");
    let mut issued = vec![];
    for count in [2, 3, 1] {
        append(&store, "project", count).await;
        let total = event_hashes(&store).await.len() as u64;
        let deadline = Instant::now() + Duration::from_secs(60);
        let stored = loop {
            // another test's open transaction on the same PostgreSQL server holds the tree back
            match checkpoint::issue(&store, &signer).await.unwrap() {
                Some(c) if c.size == total => break c,
                _ => assert!(Instant::now() < deadline, "no checkpoint of all {total} events"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let opened = checkpoint::open(&stored.note, &verifier).unwrap();
        assert_eq!((opened.size, opened.root), (stored.size, stored.root));
        assert_eq!(opened.root, tree::root_at(&store, opened.size).await.unwrap());
        assert_eq!(checkpoint::latest(&store).await.unwrap().as_ref(), Some(&stored));
        assert_eq!(checkpoint::issue(&store, &signer).await.unwrap(), None, "nothing new: no new checkpoint");
        issued.push(opened);
    }
    for pair in issued.windows(2) {
        let proof = tree::consistency_proof(&store, pair[0].size, pair[1].size).await.unwrap();
        verify_consistency(pair[0].size, pair[1].size, &pair[0].root, &pair[1].root, &proof).unwrap();
    }
    let first = checkpoint::covering(&store, 1).await.unwrap().unwrap();
    assert_eq!(first.size, issued[0].size, "the first checkpoint that holds leaf 0");
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: a transaction that took its position early and commits late

/// No tree (and so no checkpoint) ever covers a place where an event may still commit: while a
/// transaction that took its position early is open, the tree stops before it, though a later
/// one committed; once it commits, both come in, in reading order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_the_tree_never_covers_an_event_in_flight() {
    let db = carnet_testkit::postgres().await;
    let store = db.store.clone().into_any();
    append(&store, "project", 1).await;
    let before = extend_to_all(&store).await;

    let (hold, inside_rx, release_tx) = carnet_testkit::HoldOpen::new();
    let late = {
        let store = store.clone();
        tokio::spawn(async move {
            let events = [NewEvent::new("Happened", json!({ "late": true }))];
            let stream = StreamId::new("project", Uuid::new_v4());
            let metadata = carnet_testkit::metadata("person-tree");
            let part = StreamAppend {
                stream: &stream,
                expected: ExpectedVersion::NoStream,
                events: &events,
                metadata: &metadata,
            };
            store.append_with(part, Some(&hold)).await
        })
    };
    inside_rx.await.unwrap();
    append(&store, "project", 1).await;
    let (_, signer) = CheckpointSigner::generate("carnet.test/log").unwrap();
    let during = tree::extend_all(&store, 100).await.unwrap();
    assert_eq!(during.size, before.size, "the tree went past an open transaction");
    assert_eq!(checkpoint::issue(&store, &signer).await.unwrap().map(|c| c.size), Some(before.size));

    release_tx.send(()).unwrap();
    late.await.unwrap().unwrap();
    let after = extend_to_all(&store).await;
    assert_eq!(after.size, before.size + 2);
    let leaves: Vec<Hash> = event_hashes(&store).await.iter().map(|h| leaf_hash(h)).collect();
    assert_eq!(after.root, naive_root(&leaves), "both, in reading order");
}

// ---------------------------------------------------------------------------------------------
// What the chains cannot see, a checkpoint recomputed from the events can (the stored tree is
// left untouched, as someone who can write the events table would leave it)

/// Three streams, a tree and a signed checkpoint of them: the checkpoint's size and root.
async fn checkpointed(store: &AnyStore) -> (u64, Hash) {
    for count in [3, 2, 4] {
        append(store, "project", count).await;
    }
    let head = extend_to_all(store).await;
    assert_eq!(tree::root_from_events(store, head.size).await.unwrap(), Recomputed::Root(head.root), "untouched");
    (head.size, head.root)
}

async fn a_checkpoint_catches_the_newest_event_deleted(store: impl IntoAnyStore, _: Backend) {
    let store = store.into_any();
    let (size, root) = checkpointed(&store).await;
    carnet_testkit::tamper(
        &store,
        "delete from events where global_position = (select max(global_position) from events)",
    )
    .await;
    assert!(
        matches!(integrity::verify(&store, |_| {}).await.unwrap(), integrity::Report::Intact(_)),
        "the chains cannot tell"
    );
    assert_eq!(tree::root_at(&store, size).await.unwrap(), root, "the stored tree, left untouched, cannot either");
    assert_eq!(tree::root_from_events(&store, size).await.unwrap(), Recomputed::Short(size - 1), "the log is shorter");
}

async fn a_checkpoint_catches_a_forged_event_with_a_correct_chain(store: impl IntoAnyStore, _: Backend) {
    let store = store.into_any();
    let (size, root) = checkpointed(&store).await;
    // the newest event's payload replaced, its hash recomputed by the recipe: a correct chain
    let postgres = matches!(store, AnyStore::Postgres(_));
    let newest = "(select max(global_position) from events)";
    let payload = if postgres { "'{\"n\": 99}'::jsonb" } else { "'{\"n\":99}'" };
    carnet_testkit::tamper(&store, &format!("update events set payload = {payload} where global_position = {newest}"))
        .await;
    let events: Vec<_> = integrity::hashed_events(&store, Checkpoint::START).try_collect().await.unwrap();
    let forged = events.last().unwrap();
    let hex = integrity::to_hex(&forged.computed_hash());
    let literal = if postgres { format!("decode('{hex}', 'hex')") } else { format!("x'{hex}'") };
    carnet_testkit::tamper(&store, &format!("update events set hash = {literal} where global_position = {newest}"))
        .await;
    assert!(
        matches!(integrity::verify(&store, |_| {}).await.unwrap(), integrity::Report::Intact(_)),
        "the chains cannot tell"
    );
    let recomputed = tree::root_from_events(&store, size).await.unwrap();
    assert!(matches!(recomputed, Recomputed::Root(r) if r != root), "the forged event changes the tree's root");
}

async fn a_checkpoint_catches_an_emptied_log(store: impl IntoAnyStore, _: Backend) {
    let store = store.into_any();
    let (size, _) = checkpointed(&store).await;
    for table in ["events", "log_leaves", "log_tree_nodes", "checkpoints", "seals"] {
        carnet_testkit::tamper(&store, &format!("delete from {table}")).await;
    }
    assert_eq!(tree::root_from_events(&store, size).await.unwrap(), Recomputed::Short(0));
}
