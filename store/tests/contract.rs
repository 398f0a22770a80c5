//! The event store contract (DESIGN §3, §8), run against SQLite and PostgreSQL, each test on a
//! fresh database. `for_each_backend!` instantiates every generic test once per backend.

use carnet_store::*;
use carnet_testkit::{Backend, for_each_backend, whole_log};
use futures::StreamExt;
use futures::future::BoxFuture;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Barrier, oneshot};
use uuid::Uuid;

for_each_backend!(
    appends_and_reads_a_stream,
    expected_version_is_enforced,
    concurrent_appends_with_the_same_expected_version_conflict,
    a_retried_command_id_returns_the_first_result,
    concurrent_retries_of_one_command_write_once,
    one_command_sent_to_two_streams_at_once_writes_once,
    out_of_order_commits_are_never_skipped,
    many_writers_and_a_catch_up_reader_agree,
    the_global_log_reads_in_batches_from_any_checkpoint,
    an_inline_hook_that_fails_rolls_the_append_back,
    snapshots_are_keyed_by_decider_version,
    upcasters_bring_old_events_to_the_current_shape,
    unreadable_events_name_their_stream_and_position,
    text_is_stored_verbatim_and_nul_is_refused,
    the_repository_decides_appends_and_retries_only_when_safe,
    the_repository_loads_from_snapshots_and_replays_commands,
    cached_states_are_tried_never_trusted,
    a_command_id_reused_for_another_request_is_refused_and_writes_nothing,
    appends_to_several_streams_commit_all_or_nothing,
    eight_unpinned_writers_on_one_aggregate_all_land,
    a_number_and_its_entity_are_one_fact,
);

fn meta() -> Metadata {
    carnet_testkit::metadata("person-test")
}

fn stream() -> StreamId {
    StreamId::new("test", Uuid::now_v7())
}

/// Runs `task(i)` for each `i` in `0..n` at once, each in a task of its own, all released
/// together by a barrier: their results, in order.
async fn all_at_once<T: Send + 'static, F: Future<Output = T> + Send + 'static>(
    n: usize,
    task: impl Fn(usize) -> F,
) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (barrier, task) = (barrier.clone(), task(i));
            tokio::spawn(async move {
                barrier.wait().await;
                task.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for t in tasks {
        results.push(t.await.expect("a task"));
    }
    results
}

fn ev(n: u64) -> NewEvent {
    NewEvent::new("Happened", json!({ "n": n }))
}

async fn appends_and_reads_a_stream<S: EventStore>(store: S, _: Backend) {
    let s = stream();
    let mut m = meta();
    m.reason = Some("première saisie".into());
    let first = store.append(&s, ExpectedVersion::NoStream, &[ev(1), ev(2)], &m).await.unwrap();
    assert_eq!(first.stream_version, 2);
    assert!(!first.replayed);
    assert_eq!(first.events.iter().map(|e| e.stream_version).collect::<Vec<_>>(), vec![1, 2]);
    let second = store.append(&s, ExpectedVersion::Exact(2), &[ev(3)], &meta()).await.unwrap();
    assert_eq!(second.stream_version, 3);
    let any = store.append(&s, ExpectedVersion::Any, &[ev(4)], &meta()).await.unwrap();
    assert_eq!(any.stream_version, 4);

    let read = store.read_stream(&s, 1, None).await.unwrap();
    assert_eq!(read.len(), 4);
    assert_eq!(read[0], first.events[0], "what is read is what the append reported");
    assert_eq!(read[0].metadata, m, "metadata round-trips: actor, ids, occurred_at, reason");
    assert_eq!(read.iter().map(|e| e.payload["n"].as_u64().unwrap()).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert_eq!(store.read_stream(&s, 3, None).await.unwrap().len(), 2, "from a version");
    assert_eq!(store.read_stream(&s, 2, Some(3)).await.unwrap().len(), 2, "a version range");
    assert_eq!(store.stream_version(&s).await.unwrap(), 4);
    assert_eq!(store.stream_version(&stream()).await.unwrap(), 0);
    assert!(store.read_stream(&stream(), 1, None).await.unwrap().is_empty());
    let positions: Vec<i64> = read.iter().map(|e| e.global_position).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
}

async fn expected_version_is_enforced<S: EventStore>(store: S, _: Backend) {
    let s = stream();
    store.append(&s, ExpectedVersion::NoStream, &[ev(1)], &meta()).await.unwrap();
    for (expected, what) in [
        (ExpectedVersion::NoStream, "no stream on an existing stream"),
        (ExpectedVersion::Exact(2), "a version from the future"),
        (ExpectedVersion::Exact(0), "exact zero"),
    ] {
        match store.append(&s, expected, &[ev(2)], &meta()).await {
            Err(StoreError::Conflict { current_version, stream_id, .. }) => {
                assert_eq!(current_version, 1, "{what}");
                assert_eq!(stream_id, s);
            }
            other => panic!("{what}: expected a conflict, got {other:?}"),
        }
    }
    match store.append(&stream(), ExpectedVersion::Exact(1), &[ev(1)], &meta()).await {
        Err(StoreError::Conflict { current_version: 0, .. }) => {}
        other => panic!("exact on a missing stream: {other:?}"),
    }
    assert_eq!(store.stream_version(&s).await.unwrap(), 1, "nothing written by refused appends");
}

async fn concurrent_appends_with_the_same_expected_version_conflict<S: EventStore>(store: S, _: Backend) {
    for round in 0..10 {
        let s = stream();
        store.append(&s, ExpectedVersion::NoStream, &[ev(0)], &meta()).await.unwrap();
        let results = all_at_once(2, |i| {
            let (store, s) = (store.clone(), s.clone());
            async move {
                let events: Vec<NewEvent> = (0..=i as u64).map(ev).collect();
                store.append(&s, ExpectedVersion::Exact(1), &events, &meta()).await
            }
        })
        .await;
        let mut winners = vec![];
        let mut conflicts = vec![];
        for result in results {
            match result {
                Ok(r) => winners.push(r),
                Err(StoreError::Conflict { current_version, .. }) => conflicts.push(current_version),
                Err(e) => panic!("round {round}: unexpected {e:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one wins");
        assert_eq!(conflicts, vec![winners[0].stream_version], "round {round}: the loser learns the winner's version");
        assert_eq!(store.stream_version(&s).await.unwrap(), winners[0].stream_version);
    }
}

async fn a_retried_command_id_returns_the_first_result<S: EventStore>(store: S, _: Backend) {
    let s = stream();
    let m = meta();
    let first = store.append(&s, ExpectedVersion::NoStream, &[ev(1), ev(2)], &m).await.unwrap();
    // the retry carries other event ids and a stale expected version: still the first result
    let again = store.append(&s, ExpectedVersion::NoStream, &[ev(1), ev(2)], &m).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.events, first.events);
    assert_eq!(again.stream_version, first.stream_version);
    assert_eq!(store.read_stream(&s, 1, None).await.unwrap().len(), 2, "one set of events");
    let found = store.find_command(m.command_id).await.unwrap().expect("command recorded");
    assert_eq!(found.events, first.events);
    assert!(store.find_command(Uuid::now_v7()).await.unwrap().is_none());
}

async fn concurrent_retries_of_one_command_write_once<S: EventStore>(store: S, _: Backend) {
    let s = stream();
    let m = meta();
    let results = all_at_once(8, |_| {
        let (store, s, m) = (store.clone(), s.clone(), m.clone());
        async move {
            store.append(&s, ExpectedVersion::Any, &[ev(1), ev(2), ev(3)], &m).await.expect("every retry succeeds")
        }
    })
    .await;
    assert_eq!(results.iter().filter(|r| !r.replayed).count(), 1, "one attempt wrote");
    let written = results.iter().find(|r| !r.replayed).unwrap();
    for r in &results {
        assert_eq!(r.events, written.events, "every attempt gets the same result");
    }
    assert_eq!(store.read_stream(&s, 1, None).await.unwrap().len(), 3);
}

/// One command id sent to two streams at once: one of them writes, the other is another
/// request (another entity) and is refused, with nothing written on its stream.
async fn one_command_sent_to_two_streams_at_once_writes_once<S: EventStore>(store: S, _: Backend) {
    for _ in 0..5 {
        let m = meta();
        let streams = [stream(), stream()];
        let results = all_at_once(2, |i| {
            let (store, m, s) = (store.clone(), m.clone(), streams[i].clone());
            async move { store.append(&s, ExpectedVersion::Any, &[ev(1)], &m).await }
        })
        .await;
        let written: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(written.len(), 1, "one attempt wrote: {results:?}");
        assert!(!written[0].replayed);
        let refused = results.iter().find_map(|r| r.as_ref().err()).expect("the other refused");
        assert!(
            matches!(refused, StoreError::CommandReused { command_id } if *command_id == m.command_id),
            "{refused:?}"
        );
        let found = store.find_command(m.command_id).await.unwrap().unwrap();
        assert_eq!(found.events, written[0].events);
        let mut versions = vec![];
        for s in &streams {
            versions.push(store.stream_version(s).await.unwrap());
        }
        versions.sort();
        assert_eq!(versions, [0, 1], "nothing written on the other stream");
    }
}

fn fingerprinted(fingerprint: &str) -> Metadata {
    Metadata { fingerprint: Some(request_fingerprint("test", fingerprint)), ..meta() }
}

/// A command id comes back with another fingerprint (another operation or input) or on another
/// stream: refused, nothing written; with the same request: its first result.
async fn a_command_id_reused_for_another_request_is_refused_and_writes_nothing<S: EventStore>(store: S, _: Backend) {
    let (s, other) = (stream(), stream());
    let first = fingerprinted("{\"n\":1}");
    let written = store.append(&s, ExpectedVersion::NoStream, &[ev(1)], &first).await.unwrap();
    let again = store.append(&s, ExpectedVersion::Any, &[ev(1)], &first).await.unwrap();
    assert!(again.replayed && again.events == written.events, "the same request: its first result");
    let reused = |fp: &str| Metadata { fingerprint: Some(request_fingerprint("test", fp)), ..first.clone() };
    let another_input = reused("{\"n\":2}");
    for (stream, metadata) in [(&s, &another_input), (&other, &first), (&other, &another_input)] {
        let err = store.append(stream, ExpectedVersion::Any, &[ev(2)], metadata).await.unwrap_err();
        assert!(matches!(err, StoreError::CommandReused { command_id } if command_id == first.command_id), "{err:?}");
        let hooked = store
            .append_with(
                StreamAppend { stream, expected: ExpectedVersion::Any, events: &[ev(2)], metadata },
                Some(&FailInside),
            )
            .await;
        assert!(matches!(hooked, Err(StoreError::CommandReused { .. })), "{hooked:?}");
    }
    assert_eq!(store.stream_version(&s).await.unwrap(), 1, "nothing more written");
    assert_eq!(store.stream_version(&other).await.unwrap(), 0, "nothing written");

    // the repository checks before it decides
    use counter::*;
    let repo = Repository::<_, Counter>::new(store.clone(), Arc::new(carnet_testkit::carnet_codec()));
    let id = Uuid::now_v7();
    let m = fingerprinted("add 1");
    let done = repo.execute(id, &Command::Add(1), &m, None, None).await.unwrap();
    let retry = repo.execute(id, &Command::Add(1), &m, None, None).await.unwrap();
    assert!(retry.replayed && retry.version == done.version);
    let other_add = Metadata { fingerprint: Some(request_fingerprint("test", "add 2")), ..m.clone() };
    match repo.execute(id, &Command::Add(2), &other_add, None, None).await {
        Err(CommandError::Store(StoreError::CommandReused { .. })) => {}
        other => panic!("expected CommandReused, got {other:?}"),
    }
    match repo.execute(Uuid::now_v7(), &Command::Add(1), &m, None, None).await {
        Err(CommandError::Store(StoreError::CommandReused { .. })) => {}
        other => panic!("another entity: expected CommandReused, got {other:?}"),
    }
    assert_eq!(repo.load(id).await.unwrap().state, 1, "written once");
}

/// `append_all`: every stream or none — a failing hook, a conflict on the last part, a stream
/// named twice leave nothing; a retry of the whole gives the first results back.
async fn appends_to_several_streams_commit_all_or_nothing<S: EventStore>(store: S, _: Backend) {
    let (a, b) = (stream(), stream());
    let (ma, mb) = (meta(), meta());
    let events_a = [ev(1)];
    let events_b = [ev(2), ev(3)];
    let parts = [
        StreamAppend { stream: &a, expected: ExpectedVersion::NoStream, events: &events_a, metadata: &ma },
        StreamAppend { stream: &b, expected: ExpectedVersion::NoStream, events: &events_b, metadata: &mb },
    ];
    let err = store.append_all(&parts, Some(&FailInside)).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");
    let conflicting = [parts[0], StreamAppend { expected: ExpectedVersion::Exact(4), ..parts[1] }];
    let err = store.append_all(&conflicting, None).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { current_version: 0, .. }), "{err:?}");
    let twice = [parts[0], StreamAppend { metadata: &mb, ..parts[0] }];
    assert!(matches!(store.append_all(&twice, None).await, Err(StoreError::InvalidInput { .. })));
    for s in [&a, &b] {
        assert_eq!(store.stream_version(s).await.unwrap(), 0, "nothing written on {s}");
    }
    assert!(store.find_command(ma.command_id).await.unwrap().is_none());

    let done = store.append_all(&parts, None).await.unwrap();
    assert_eq!((done[0].stream_version, done[1].stream_version), (1, 2));
    assert!(!done[0].replayed && !done[1].replayed);
    assert_eq!(done[0].events[0].transaction_id, done[1].events[0].transaction_id, "one transaction");
    let again = store.append_all(&parts, None).await.unwrap();
    assert!(again[0].replayed && again[1].replayed);
    assert_eq!((&again[0].events, &again[1].events), (&done[0].events, &done[1].events));
    let all = whole_log(&store, 3).await;
    assert_eq!(all.len(), 3, "each event once");
}

/// 8 writers, none pinning a version, 25 commands each on one aggregate, all at once: every
/// command lands (no conflict reaches them), and the stream holds exactly 200 events.
async fn eight_unpinned_writers_on_one_aggregate_all_land<S: EventStore>(store: S, _: Backend) {
    use counter::*;
    let repo = Repository::<_, Counter>::new(store.clone(), Arc::new(carnet_testkit::carnet_codec()));
    let id = Uuid::now_v7();
    let conflicts: usize = all_at_once(8, |_| {
        let repo = repo.clone();
        async move {
            let mut conflicts = 0;
            for _ in 0..25 {
                match repo.execute(id, &Command::Add(1), &meta(), None, None).await {
                    Ok(_) => {}
                    Err(CommandError::Store(StoreError::Conflict { .. })) => conflicts += 1,
                    Err(e) => panic!("{e:?}"),
                }
            }
            conflicts
        }
    })
    .await
    .into_iter()
    .sum();
    assert_eq!(conflicts, 0, "unpinned commands are retried until they land");
    assert_eq!(store.read_stream(&StreamId::new("counter", id), 1, None).await.unwrap().len(), 200);
    assert_eq!(repo.load(id).await.unwrap().state, 200);
}

/// A sequence's number and the entity bearing it, appended together (`execute_after`): 8
/// concurrent creations take numbers 1 to 8, each to an entity that exists; a creation whose
/// inline work fails (the crash point between the two) leaves neither, and no hole.
async fn a_number_and_its_entity_are_one_fact<S: EventStore>(store: S, _: Backend) {
    use counter::*;
    let repo = Repository::<_, Counter>::new(store.clone(), Arc::new(carnet_testkit::carnet_codec()));
    let sequence = Uuid::now_v7();
    let sequence_meta = |m: &Metadata| Metadata { command_id: Uuid::new_v5(&m.command_id, b"n"), ..m.clone() };
    let create = async |id: Uuid, m: &Metadata, hook: Option<&dyn InlineHook>| {
        // the entity is a counter set to its number
        repo.execute_after::<Counter>(
            sequence,
            &Command::Add(1),
            &sequence_meta(m),
            id,
            |number: &u64| Ok(Command::Add(*number as u32)),
            m,
            hook,
        )
        .await
    };
    let failed = create(Uuid::now_v7(), &meta(), Some(&FailInside)).await;
    assert!(matches!(failed, Err(CommandError::Store(StoreError::InvalidInput { .. }))), "{failed:?}");
    assert_eq!(store.stream_version(&StreamId::new("counter", sequence)).await.unwrap(), 0, "no number taken");

    let created = all_at_once(8, |_| {
        let repo = repo.clone();
        async move {
            let (id, m) = (Uuid::now_v7(), meta());
            let done = repo
                .execute_after::<Counter>(
                    sequence,
                    &Command::Add(1),
                    &Metadata { command_id: Uuid::new_v5(&m.command_id, b"n"), ..m.clone() },
                    id,
                    |number: &u64| Ok(Command::Add(*number as u32)),
                    &m,
                    None,
                )
                .await
                .expect("created");
            (id, done.state)
        }
    })
    .await;
    let mut numbers = vec![];
    for (id, number) in created {
        assert_eq!(repo.load(id).await.unwrap().state, number, "the entity bears its number");
        numbers.push(number);
    }
    numbers.sort();
    assert_eq!(numbers, (1..=8).collect::<Vec<_>>(), "no hole, no duplicate");
    assert_eq!(repo.load(sequence).await.unwrap().state, 8);

    // a retry gets its entity and number back; a first part left alone (an older crash) is
    // taken again by the retry of its command
    let (id, m) = (Uuid::now_v7(), meta());
    let done = create(id, &m, None).await.unwrap();
    let retry = create(id, &m, None).await.unwrap();
    assert!(retry.replayed && retry.state == done.state && done.state == 9);
    let (lonely, m) = (Uuid::now_v7(), meta());
    let counter = StreamId::new("counter", sequence);
    let alone = NewEvent::new("Added", json!({ "n": 1 }));
    store.append(&counter, ExpectedVersion::Exact(9), &[alone], &sequence_meta(&m)).await.unwrap();
    let filled = create(lonely, &m, None).await.unwrap();
    assert_eq!(filled.state, 10, "the lone number goes to its entity");
    assert_eq!(repo.load(sequence).await.unwrap().state, 10, "and no other is taken");
}

/// Writer A takes its position and sleeps inside its transaction while writer B commits a
/// later event; a live reader must see both, once, and re-reading gives the same order.
async fn out_of_order_commits_are_never_skipped<S: EventStore>(store: S, backend: Backend) {
    struct SleepInside(std::sync::Mutex<Option<oneshot::Sender<()>>>);
    impl InlineHook for SleepInside {
        fn run<'c>(&'c self, _: TxConn<'c>, _: &'c [RecordedEvent]) -> BoxFuture<'c, Result<(), StoreError>> {
            Box::pin(async move {
                if let Some(inside) = self.0.lock().unwrap().take() {
                    let _ = inside.send(());
                }
                tokio::time::sleep(Duration::from_millis(1500)).await;
                Ok(())
            })
        }
    }
    store.append(&stream(), ExpectedVersion::NoStream, &[ev(0)], &meta()).await.unwrap();
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            subscribe(store, Checkpoint::START, 100, Duration::from_millis(20))
                .take(3)
                .map(|e| e.expect("subscription"))
                .collect::<Vec<_>>()
                .await
        })
    };
    let (inside_tx, inside_rx) = oneshot::channel();
    let hook = SleepInside(std::sync::Mutex::new(Some(inside_tx)));
    let writer_a = {
        let store = store.clone();
        tokio::spawn(async move {
            let r = store
                .append_with(
                    StreamAppend {
                        stream: &stream(),
                        expected: ExpectedVersion::NoStream,
                        events: &[ev(1)],
                        metadata: &meta(),
                    },
                    Some(&hook),
                )
                .await;
            (r.unwrap(), std::time::Instant::now())
        })
    };
    inside_rx.await.unwrap();
    let b = store.append(&stream(), ExpectedVersion::NoStream, &[ev(2)], &meta()).await.unwrap();
    let b_done = std::time::Instant::now();
    let (a, a_done) = writer_a.await.unwrap();
    if backend.concurrent_writers() {
        assert!(b_done < a_done, "B committed while A was still open");
        assert!(b.events[0].global_position > a.events[0].global_position, "A took the earlier position");
    }
    let seen = tokio::time::timeout(Duration::from_secs(20), reader).await.expect("reader sees all").unwrap();
    let ids: Vec<Uuid> = seen.iter().map(|e| e.event_id).collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 3, "each event exactly once");
    assert!(ids.contains(&a.events[0].event_id), "the late commit is not skipped");
    assert!(ids.contains(&b.events[0].event_id));
    let again = whole_log(&store, 3).await;
    assert_eq!(again.iter().map(|e| e.event_id).collect::<Vec<_>>(), ids, "re-reading gives the same order");
    for (i, e) in again.iter().enumerate() {
        let rest = store.read_all(e.checkpoint(), 100).await.unwrap();
        assert_eq!(rest, again[i + 1..].to_vec(), "reading from any checkpoint gives the same suffix");
    }
}

struct FailInside;
impl InlineHook for FailInside {
    fn run<'c>(&'c self, _: TxConn<'c>, _: &'c [RecordedEvent]) -> BoxFuture<'c, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::InvalidInput { reason: "the inline projector refused".into() }) })
    }
}

/// 8 writers × 2 000 events on random streams, some appends rolled back, a catch-up reader
/// running all along: it sees exactly the committed events, once each; versions have no gaps.
async fn many_writers_and_a_catch_up_reader_agree<S: EventStore>(store: S, _: Backend) {
    const WRITERS: u64 = 8;
    const EVENTS: usize = 2_000;
    let streams: Arc<Vec<StreamId>> = Arc::new((0..40).map(|_| stream()).collect());
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut events = std::pin::pin!(subscribe(store, Checkpoint::START, 1000, Duration::from_millis(20)));
            while seen.len() < WRITERS as usize * EVENTS {
                seen.push(events.next().await.unwrap().expect("subscription"));
            }
            // anything more within a short while would be an extra (uncommitted or duplicate)
            let extra = tokio::time::timeout(Duration::from_millis(300), events.next()).await;
            (seen, extra.is_ok())
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, streams) = (store.clone(), streams.clone());
            tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(w);
                let (mut committed, mut rolled_back) = (vec![], vec![]);
                while committed.len() < EVENTS {
                    let n = rng.random_range(1..=4).min(EVENTS - committed.len());
                    let events: Vec<NewEvent> = (0..n).map(|i| ev(i as u64)).collect();
                    let s = &streams[rng.random_range(0..streams.len())];
                    if rng.random_ratio(1, 20) {
                        let r = store
                            .append_with(
                                StreamAppend {
                                    stream: s,
                                    expected: ExpectedVersion::Any,
                                    events: &events,
                                    metadata: &meta(),
                                },
                                Some(&FailInside),
                            )
                            .await;
                        assert!(r.is_err());
                        rolled_back.extend(events.iter().map(|e| e.event_id));
                    } else {
                        store.append(s, ExpectedVersion::Any, &events, &meta()).await.expect("append");
                        committed.extend(events.iter().map(|e| e.event_id));
                    }
                }
                (committed, rolled_back)
            })
        })
        .collect();
    let (mut committed, mut rolled_back) = (HashSet::new(), HashSet::new());
    for w in writers {
        let (c, r) = w.await.unwrap();
        committed.extend(c);
        rolled_back.extend(r);
    }
    assert_eq!(committed.len(), WRITERS as usize * EVENTS);
    let (seen, extra) = tokio::time::timeout(Duration::from_secs(60), reader).await.expect("reader caught up").unwrap();
    assert!(!extra, "the reader saw more events than were committed");
    let seen_ids: HashSet<Uuid> = seen.iter().map(|e| e.event_id).collect();
    assert_eq!(seen_ids.len(), seen.len(), "no duplicates");
    assert_eq!(seen_ids, committed, "exactly the committed set");
    assert!(seen_ids.is_disjoint(&rolled_back), "nothing rolled back is ever seen");
    let mut versions: BTreeMap<&StreamId, Vec<u64>> = BTreeMap::new();
    for e in &seen {
        versions.entry(&e.stream_id).or_default().push(e.stream_version);
    }
    for (s, v) in versions {
        assert_eq!(v, (1..=v.len() as u64).collect::<Vec<_>>(), "{s}: versions 1..n, in order, no gap");
    }
    let checkpoints: Vec<Checkpoint> = seen.iter().map(|e| e.checkpoint()).collect();
    assert!(checkpoints.windows(2).all(|w| w[0] < w[1]), "the reader moved strictly forward");
}

async fn the_global_log_reads_in_batches_from_any_checkpoint<S: EventStore>(store: S, _: Backend) {
    for i in 0..25 {
        store.append(&stream(), ExpectedVersion::NoStream, &[ev(i), ev(i)], &meta()).await.unwrap();
    }
    let all = whole_log(&store, 50).await;
    assert_eq!(all.len(), 50);
    let first = store.read_all(Checkpoint::START, 7).await.unwrap();
    assert_eq!(first, all[..7].to_vec());
    let next = store.read_all(first[6].checkpoint(), 7).await.unwrap();
    assert_eq!(next, all[7..14].to_vec());
    assert!(store.read_all(all[49].checkpoint(), 7).await.unwrap().is_empty());
}

async fn an_inline_hook_that_fails_rolls_the_append_back<S: EventStore>(store: S, _: Backend) {
    let s = stream();
    let m = meta();
    let err = store
        .append_with(
            StreamAppend { stream: &s, expected: ExpectedVersion::NoStream, events: &[ev(1)], metadata: &m },
            Some(&FailInside),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");
    assert_eq!(store.stream_version(&s).await.unwrap(), 0, "no event stored");
    assert!(store.find_command(m.command_id).await.unwrap().is_none(), "the command is not recorded either");
    let ok = store.append(&s, ExpectedVersion::NoStream, &[ev(1)], &m).await.unwrap();
    assert!(!ok.replayed, "the same command id can then succeed for real");
}

async fn snapshots_are_keyed_by_decider_version<S: EventStore>(store: S, _: Backend) {
    let s = stream();
    let snap = |v: i32, at: u64| Snapshot {
        stream_id: s.clone(),
        decider_version: v,
        stream_version: at,
        state: json!({ "at": at }),
    };
    assert!(store.load_snapshot(&s, 1).await.unwrap().is_none());
    store.save_snapshot(&snap(1, 50)).await.unwrap();
    assert_eq!(store.load_snapshot(&s, 1).await.unwrap(), Some(snap(1, 50)));
    store.save_snapshot(&snap(1, 40)).await.unwrap();
    assert_eq!(store.load_snapshot(&s, 1).await.unwrap(), Some(snap(1, 50)), "an older snapshot does not win");
    assert!(store.load_snapshot(&s, 2).await.unwrap().is_none(), "another decider version is ignored");
    store.save_snapshot(&snap(2, 10)).await.unwrap();
    assert_eq!(store.load_snapshot(&s, 2).await.unwrap(), Some(snap(2, 10)), "a new decider version replaces it");
    assert!(store.load_snapshot(&s, 1).await.unwrap().is_none());
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
#[serde(tag = "type", content = "payload")]
enum Greeting {
    Greeted { full_name: String, times: u32 },
}

async fn upcasters_bring_old_events_to_the_current_shape<S: EventStore>(store: S, _: Backend) {
    let s = stream();
    // version 1 of Greeted had `name` and no `times`; version 2 renamed it
    let old = NewEvent::new("Greeted", json!({ "name": "l'équipe" }));
    store.append(&s, ExpectedVersion::NoStream, &[old], &meta()).await.unwrap();
    let codec = Codec::default().register("Greeted", 1, |mut p| {
        let name = p.get_mut("name").map(serde_json::Value::take).ok_or("no name")?;
        Ok(json!({ "full_name": name, "times": 1 }))
    });
    assert_eq!(codec.current_version("Greeted"), 2);
    let new = codec.encode(&Greeting::Greeted { full_name: "le lab".into(), times: 2 }).unwrap();
    assert_eq!((new.event_type.as_str(), new.schema_version), ("Greeted", 2));
    store.append(&s, ExpectedVersion::Exact(1), &[new], &meta()).await.unwrap();
    let decoded: Vec<Greeting> =
        store.read_stream(&s, 1, None).await.unwrap().iter().map(|e| codec.decode(e).unwrap()).collect();
    assert_eq!(
        decoded,
        vec![
            Greeting::Greeted { full_name: "l'équipe".into(), times: 1 },
            Greeting::Greeted { full_name: "le lab".into(), times: 2 }
        ]
    );
    // a build without the upcaster does not guess: version 2 is from its future
    let recorded = store.read_stream(&s, 2, None).await.unwrap();
    let err = Codec::default().decode::<Greeting>(&recorded[0]).unwrap_err();
    assert!(matches!(err, StoreError::Unreadable { .. }), "{err:?}");
}

async fn unreadable_events_name_their_stream_and_position<S: EventStore>(store: S, _: Backend) {
    let s = stream();
    let bad = [NewEvent::new("NoSuchEvent", json!({})), NewEvent::new("Greeted", json!({ "full_name": 42 }))];
    store.append(&s, ExpectedVersion::NoStream, &bad, &meta()).await.unwrap();
    for recorded in store.read_stream(&s, 1, None).await.unwrap() {
        let err = carnet_testkit::carnet_codec().decode::<Greeting>(&recorded).unwrap_err();
        let StoreError::Unreadable { stream_id, global_position, stream_version, .. } = &err else {
            panic!("expected Unreadable, got {err:?}")
        };
        assert_eq!(
            (stream_id.as_str(), global_position.to_owned(), stream_version.to_owned()),
            (s.as_str(), recorded.global_position, recorded.stream_version)
        );
        let message = err.to_string();
        assert!(message.contains(s.as_str()) && message.contains(&recorded.global_position.to_string()), "{message}");
    }
}

async fn text_is_stored_verbatim_and_nul_is_refused<S: EventStore>(store: S, _: Backend) {
    let s = stream();
    let tricky = "l'« école » \"du futur\" ; drop table events; -- \\ ' '' 🚀 עברית 日本語 \u{202e} \t\n fin";
    let mut m = meta();
    m.reason = Some(tricky.into());
    m.actor.id = "o'brien\"; --".into();
    let payload = json!({ tricky: tricky, "nested": [tricky, { "k": tricky }] });
    store.append(&s, ExpectedVersion::NoStream, &[NewEvent::new("Noted", payload.clone())], &m).await.unwrap();
    let read = store.read_stream(&s, 1, None).await.unwrap();
    assert_eq!(read[0].payload, payload);
    assert_eq!(read[0].metadata, m);

    let s2 = stream();
    for (payload, reason) in
        [(json!({ "t": "a\u{0}b" }), None), (json!({ "a\u{0}": 1 }), None), (json!({}), Some("x\u{0}y"))]
    {
        let mut m = meta();
        m.reason = reason.map(str::to_owned);
        let err = store.append(&s2, ExpectedVersion::Any, &[NewEvent::new("Noted", payload)], &m).await.unwrap_err();
        assert!(matches!(&err, StoreError::InvalidInput { reason } if reason.contains("NUL")), "{err:?}");
    }
    assert_eq!(store.stream_version(&s2).await.unwrap(), 0, "nothing written");
}

/// A counter as a minimal decider, so the repository is tested on its own.
mod counter {
    use carnet_domain::{Decider, Rejection};
    use serde::{Deserialize, Serialize};

    pub struct Counter;
    #[derive(Debug)]
    pub enum Command {
        Add(u32),
    }
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", content = "payload")]
    pub enum Event {
        Added { n: u32 },
    }
    impl Decider for Counter {
        type State = u64;
        type Command = Command;
        type Event = Event;
        const CATEGORY: &'static str = "counter";
        const VERSION: u32 = 1;
        fn initial_state() -> u64 {
            0
        }
        fn decide(state: &u64, Command::Add(n): &Command) -> Result<Vec<Event>, Rejection> {
            if *n == 0 {
                return Err(Rejection::input("counter.zero", "ajouter zéro n'a pas de sens"));
            }
            if *state + u64::from(*n) > 1_000 {
                return Err(Rejection::transition("counter.max", "le compteur ne dépasse pas 1000"));
            }
            Ok(vec![Event::Added { n: *n }])
        }
        fn evolve(state: u64, Event::Added { n }: &Event) -> u64 {
            state + u64::from(*n)
        }
    }
}

async fn the_repository_decides_appends_and_retries_only_when_safe<S: EventStore>(store: S, _: Backend) {
    use counter::*;
    let repo = Repository::<_, Counter>::new(store.clone(), Arc::new(carnet_testkit::carnet_codec()));
    let id = Uuid::now_v7();
    let done = repo.execute(id, &Command::Add(5), &meta(), None, None).await.unwrap();
    assert_eq!((done.state, done.version), (5, 1));
    assert!(matches!(
        repo.execute(id, &Command::Add(0), &meta(), None, None).await,
        Err(CommandError::Rejected(r)) if r.rule == "counter.zero"
    ));
    assert_eq!(store.stream_version(&StreamId::new("counter", id)).await.unwrap(), 1, "a rejection writes nothing");

    // unpinned concurrent commands all land: conflicts are decided again on the new state
    let landed = all_at_once(6, |_| {
        let repo = repo.clone();
        async move { repo.execute(id, &Command::Add(1), &meta(), None, None).await }
    })
    .await;
    for result in landed {
        result.expect("retried until it lands");
    }
    assert_eq!(repo.load(id).await.unwrap().state, 11);

    // a pinned, stale version is the user's conflict, never retried
    match repo.execute(id, &Command::Add(1), &meta(), Some(3), None).await {
        Err(CommandError::Store(StoreError::Conflict { current_version: 7, .. })) => {}
        other => panic!("expected a conflict at version 7, got {other:?}"),
    }
    let pinned = repo.execute(id, &Command::Add(1), &meta(), Some(7), None).await.unwrap();
    assert_eq!((pinned.state, pinned.version), (12, 8));
}

async fn the_repository_loads_from_snapshots_and_replays_commands<S: EventStore>(store: S, _: Backend) {
    use counter::*;
    let repo =
        Repository::<_, Counter>::new(store.clone(), Arc::new(carnet_testkit::carnet_codec())).with_snapshot_every(10);
    let id = Uuid::now_v7();
    for _ in 0..25 {
        repo.execute(id, &Command::Add(2), &meta(), None, None).await.unwrap();
    }
    let s = StreamId::new("counter", id);
    let snap = store.load_snapshot(&s, 1).await.unwrap().expect("snapshot taken");
    assert_eq!((snap.stream_version, snap.state.clone()), (20, json!(40)));
    // prove the snapshot is used: a doctored snapshot changes what is loaded
    store.save_snapshot(&Snapshot { stream_version: 21, state: json!(1000), ..snap }).await.unwrap();
    assert_eq!(repo.load(id).await.unwrap().state, 1000 + 2 * 4);
    assert_eq!(repo.load_at(id, 25).await.unwrap().state, 50, "time travel folds the events themselves");
    assert_eq!(repo.load_at(id, 3).await.unwrap().state, 6);

    let m = meta();
    let other = Uuid::now_v7();
    let first = repo.execute(other, &Command::Add(7), &m, None, None).await.unwrap();
    let retry = repo.execute(other, &Command::Add(7), &m, None, None).await.unwrap();
    assert!(retry.replayed && !first.replayed);
    assert_eq!((retry.state, retry.version, retry.events.clone()), (first.state, first.version, first.events));
    assert_eq!(repo.load(other).await.unwrap().state, 7, "the retry wrote nothing");
}

/// A repository with a [`StateCache`] decides on the state its last command left, but the
/// append checks that state's version: what another instance wrote makes it stale, and the
/// command is then decided on a fresh load — the same answers as without a cache, whether the
/// fresh state refuses, accepts, or the caller pinned a version.
async fn cached_states_are_tried_never_trusted<S: EventStore>(store: S, backend: Backend) {
    use counter::*;
    let codec = Arc::new(carnet_testkit::carnet_codec());
    let cache = StateCache::new(std::num::NonZeroUsize::new(16).unwrap());
    let here = Repository::<_, Counter>::new(store.clone(), codec.clone()).with_cache(cache.clone());
    // another instance of the server: its own process, no shared cache
    let elsewhere = Repository::<_, Counter>::new(store.clone(), codec.clone());
    let id = Uuid::now_v7();
    let stream = StreamId::new("counter", id);
    here.execute(id, &Command::Add(5), &meta(), None, None).await.unwrap();
    assert_eq!(cache.len(), 1, "the state the command left is kept");

    // stale: the cache says 5, the log 995; 5 + 10 would pass, 995 + 10 is over the maximum
    elsewhere.execute(id, &Command::Add(990), &meta(), None, None).await.unwrap();
    match here.execute(id, &Command::Add(10), &meta(), None, None).await {
        Err(CommandError::Rejected(r)) => assert_eq!(r.rule, "counter.max"),
        other => panic!("decided on the fresh state, refused: {other:?}"),
    }
    assert_eq!(store.stream_version(&stream).await.unwrap(), 2, "nothing written on the stale state");

    // stale again, with a pinned version the cache does not know: no conflict the store would
    // not give
    here.execute(id, &Command::Add(1), &meta(), None, None).await.unwrap();
    elsewhere.execute(id, &Command::Add(1), &meta(), None, None).await.unwrap();
    let pinned = here.execute(id, &Command::Add(1), &meta(), Some(4), None).await.unwrap();
    assert_eq!((pinned.state, pinned.version), (998, 5));
    // a pinned version the cache holds, stale underneath: the store's conflict, with its version
    elsewhere.execute(id, &Command::Add(1), &meta(), None, None).await.unwrap();
    match here.execute(id, &Command::Add(1), &meta(), Some(5), None).await {
        Err(CommandError::Store(StoreError::Conflict { current_version: 6, .. })) => {}
        other => panic!("the user's conflict at version 6: {other:?}"),
    }

    // a cached state that refuses is not believed: the database was replaced under the process
    // (a backup restored), and its log allows what the cached state refuses
    let other = Uuid::now_v7();
    here.execute(other, &Command::Add(1000), &meta(), None, None).await.unwrap();
    let restored_db = carnet_testkit::EmptyDatabase::create(backend).await;
    let restored = AnyStore::connect(&restored_db.url()).await.unwrap();
    restored.migrate().await.unwrap();
    Repository::<_, Counter>::new(restored.clone(), codec.clone())
        .execute(other, &Command::Add(1), &meta(), None, None)
        .await
        .unwrap();
    let after = Repository::<_, Counter>::new(restored.clone(), codec.clone()).with_cache(cache.clone());
    let landed = after.execute(other, &Command::Add(999), &meta(), None, None).await.unwrap();
    assert_eq!((landed.state, landed.version), (1000, 2), "decided on the restored log");
    assert_eq!(here.load(id).await.unwrap().state, 999, "the log is what it would be without a cache");
}

/// PostgreSQL only: the appending backend is terminated inside its transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_terminated_mid_append_stores_nothing_and_recovers() {
    struct ReportPidAndWait(std::sync::Mutex<Option<oneshot::Sender<i32>>>);
    impl InlineHook for ReportPidAndWait {
        fn run<'c>(&'c self, tx: TxConn<'c>, _: &'c [RecordedEvent]) -> BoxFuture<'c, Result<(), StoreError>> {
            Box::pin(async move {
                let TxConn::Postgres(conn) = tx else { unreachable!("postgres test") };
                let pid: i32 = sqlx::query_scalar("select pg_backend_pid()").fetch_one(&mut *conn).await?;
                if let Some(tx) = self.0.lock().unwrap().take() {
                    let _ = tx.send(pid);
                }
                sqlx::query("select pg_sleep(30)").execute(&mut *conn).await?;
                Ok(())
            })
        }
    }
    let db = carnet_testkit::postgres().await;
    let store = db.store.clone();
    let s = stream();
    let (pid_tx, pid_rx) = oneshot::channel();
    let append = {
        let (store, s) = (store.clone(), s.clone());
        tokio::spawn(async move {
            let hook = ReportPidAndWait(std::sync::Mutex::new(Some(pid_tx)));
            store
                .append_with(
                    StreamAppend {
                        stream: &s,
                        expected: ExpectedVersion::NoStream,
                        events: &[ev(1), ev(2)],
                        metadata: &meta(),
                    },
                    Some(&hook),
                )
                .await
        })
    };
    let pid = pid_rx.await.unwrap();
    let killed: bool =
        sqlx::query_scalar("select pg_terminate_backend($1)").bind(pid).fetch_one(store.pool()).await.unwrap();
    assert!(killed);
    let err = append.await.unwrap().unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "the client gets an error: {err:?}");
    assert_eq!(store.stream_version(&s).await.unwrap(), 0, "nothing partial is stored");
    let n: i64 = sqlx::query_scalar("select count(*) from events").fetch_one(store.pool()).await.unwrap();
    assert_eq!(n, 0, "no event of any stream");
    let next = store.append(&s, ExpectedVersion::NoStream, &[ev(1)], &meta()).await.expect("the next append succeeds");
    assert_eq!(next.stream_version, 1);
}

/// Durability settings are the store's, not left to the server's defaults (DESIGN §3).
#[tokio::test]
async fn acknowledged_appends_are_durable_by_configuration() {
    let pg = carnet_testkit::postgres().await;
    // even where the server's default is off, Carnet's own connections commit synchronously
    sqlx::query(&format!("alter database \"{}\" set synchronous_commit = off", pg.name()))
        .execute(pg.store.pool())
        .await
        .unwrap();
    let store = PgStore::connect(pg.url(), 2).await.unwrap();
    let setting: String = sqlx::query_scalar("show synchronous_commit").fetch_one(store.pool()).await.unwrap();
    assert_eq!(setting, "on");
    // and compile no statement just in time, whatever the server's default (on in PostgreSQL 15)
    let jit: String = sqlx::query_scalar("show jit").fetch_one(store.pool()).await.unwrap();
    assert_eq!(jit, "off");
    let lite = carnet_testkit::sqlite().await;
    let journal: String = sqlx::query_scalar("pragma journal_mode").fetch_one(lite.store.writer()).await.unwrap();
    assert_eq!(journal, "wal");
    let synchronous: i64 = sqlx::query_scalar("pragma synchronous").fetch_one(lite.store.writer()).await.unwrap();
    assert_eq!(synchronous, 2, "FULL");
}

/// PostgreSQL only: a subscriber on one instance hears of an append made through another
/// within moments, long before its own poll interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_subscribers_hear_appends_of_other_instances() {
    let db = carnet_testkit::postgres().await;
    let (one, two) = (PgStore::connect(db.url(), 4).await.unwrap(), PgStore::connect(db.url(), 4).await.unwrap());
    one.start_notifications().await.unwrap();
    two.start_notifications().await.unwrap();
    let mut events = Box::pin(subscribe(two.clone(), Checkpoint::START, 100, Duration::from_secs(600)));
    // the subscriber is idle, waiting on its wake-up, before the other instance appends
    assert!(tokio::time::timeout(Duration::from_millis(300), events.next()).await.is_err());
    let written = one.append(&stream(), ExpectedVersion::NoStream, &[ev(1)], &meta()).await.unwrap();
    assert_eq!(
        next_within_10_s(&mut events, "woken by the notification, not by the 10-minute poll").await,
        written.events[0]
    );

    // the notification arrives while an older writing transaction still holds the event back:
    // the subscriber keeps re-reading until the horizon passes, it does not sleep until the poll
    let mut blocker = two.pool().begin().await.unwrap();
    sqlx::query("select pg_current_xact_id()").execute(&mut *blocker).await.unwrap();
    let held = one.append(&stream(), ExpectedVersion::NoStream, &[ev(2)], &meta()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    blocker.rollback().await.unwrap();
    assert_eq!(next_within_10_s(&mut events, "read once the older transaction ended").await, held.events[0]);
}

/// The next event of a subscription, which comes within 10 s (`why` so soon).
async fn next_within_10_s(
    events: &mut (impl futures::Stream<Item = Result<RecordedEvent, StoreError>> + Unpin),
    why: &str,
) -> RecordedEvent {
    tokio::time::timeout(Duration::from_secs(10), events.next()).await.expect(why).unwrap().unwrap()
}

/// Two stores on one SQLite file — a server and `carnet seal` or `carnet checkpoint` beside it,
/// or two servers — write at the same time: each append reads its stream before it writes, and
/// waits for the other's write lock (`sqlite::begin_write`) instead of failing at once with
/// SQLITE_BUSY_SNAPSHOT, a 503 for a write that only had to wait its turn.
#[tokio::test]
async fn two_processes_writing_one_sqlite_file_wait_their_turn() {
    let first = carnet_testkit::sqlite().await;
    let url = format!("sqlite://{}", first.dir.path().join("carnet.db").display());
    let second = carnet_store::sqlite::SqliteStore::connect(&url).await.expect("a second store on the file");
    let writes = |store: carnet_store::sqlite::SqliteStore| async move {
        let s = stream();
        for version in 0..40u64 {
            let expected = if version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(version) };
            store.append(&s, expected, &[ev(version)], &meta()).await?;
        }
        Ok::<_, StoreError>(())
    };
    let (a, b) = tokio::join!(tokio::spawn(writes(first.store.clone())), tokio::spawn(writes(second)));
    a.unwrap().expect("every write of the first store landed");
    b.unwrap().expect("every write of the second store landed");
    assert_eq!(whole_log(&first.store, 80).await.len(), 80);
}
