//! The log's Merkle tree (issue 12, `carnet_store::integrity::tree`): built off the append path
//! in reading order, its roots and proofs those of RFC 9162 over the events' hashes, on SQLite and
//! on PostgreSQL, each on a fresh database.

use carnet_store::integrity::merkle::{self, leaf_hash, verify_consistency, verify_inclusion};
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
