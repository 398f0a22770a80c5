//! The auditors' global feed (store/src/feed.rs), on both backends: each filter selects in SQL
//! exactly what filtering the whole log would, in reading order; pages forward and backward
//! cover the feed once each; hashed events come in the recipe's canonical text. On PostgreSQL: a paging auditor never skips
//! an event that committed late, and the selective filters use their indexes.

use carnet_store::feed::{Feed, FeedFilter};
use carnet_store::integrity;
use carnet_store::*;
use carnet_testkit::{Backend, for_each_backend, whole_log};
use futures::TryStreamExt;
use serde_json::json;
use uuid::Uuid;

for_each_backend!(
    each_filter_selects_what_filtering_the_log_would,
    pages_forward_and_backward_cover_the_feed_once_in_order,
);

fn meta(actor: &str, issuer: &str) -> Metadata {
    Metadata::new(Actor { id: actor.into(), issuer: issuer.into() })
}

fn ev(event_type: &str, n: u64) -> NewEvent {
    NewEvent::new(event_type, json!({ "n": n }))
}

/// Every event of the feed for `filter`, paging forward `size` at a time from the start.
async fn page_forward<S: Feed>(store: &S, filter: &FeedFilter, size: usize) -> Vec<RecordedEvent> {
    let mut all: Vec<RecordedEvent> = Vec::new();
    loop {
        let after = all.last().map_or(Checkpoint::START, |e| e.checkpoint());
        let page = store.read_feed(filter, after, size).await.expect("read_feed");
        assert!(page.len() <= size);
        let done = page.len() < size;
        all.extend(page);
        if done {
            return all;
        }
    }
}

/// The same, paging backward from the end.
async fn page_backward<S: Feed>(store: &S, filter: &FeedFilter, size: usize) -> Vec<RecordedEvent> {
    let mut all: Vec<RecordedEvent> = Vec::new();
    loop {
        let before = all.first().map(|e| e.checkpoint());
        let page = store.read_feed_back(filter, before, size).await.expect("read_feed_back");
        assert!(page.len() <= size);
        let done = page.len() < size;
        all.splice(0..0, page);
        if done {
            return all;
        }
    }
}

/// A small lab: projects, a session, a person, by two actors of two issuers.
async fn a_scripted_log<S: EventStore>(store: &S) -> Vec<RecordedEvent> {
    let alice = meta("alice", "carnet-local");
    let bob = meta("bob", "carnet-local");
    let alice_elsewhere = meta("alice", "proconnect");
    let (p1, p2) = (StreamId::new("project", Uuid::now_v7()), StreamId::new("project", Uuid::now_v7()));
    let session = StreamId::new("session", Uuid::now_v7());
    let person = StreamId::new("person", Uuid::now_v7());
    let reference = StreamId::new("reference", Uuid::now_v7());
    let appends: Vec<(&StreamId, Vec<NewEvent>, &Metadata)> = vec![
        (&reference, vec![ev("ReferenceAllocated", 1)], &alice),
        (&p1, vec![ev("ProjectSubmitted", 1)], &alice),
        (&session, vec![ev("SessionRequested", 2)], &bob),
        (&p1, vec![ev("ProjectQualificationStarted", 3), ev("ProjectAccepted", 4)], &bob),
        (&person, vec![ev("PersonRegistered", 5)], &alice_elsewhere),
        (&reference, vec![ev("ReferenceAllocated", 6)], &bob),
        (&p2, vec![ev("ProjectSubmitted", 7)], &bob),
        (&session, vec![ev("SessionScheduled", 8), ev("SessionHeld", 9)], &alice),
        (&p2, vec![ev("ProjectDeclined", 10)], &alice),
        (&person, vec![ev("PersonErased", 11)], &alice),
    ];
    let mut total = 0;
    for (stream, events, metadata) in appends {
        let m = Metadata { command_id: Uuid::now_v7(), ..metadata.clone() };
        total += store.append(stream, ExpectedVersion::Any, &events, &m).await.expect("append").events.len();
    }
    whole_log(store, total).await
}

async fn each_filter_selects_what_filtering_the_log_would<S: EventStore + Feed>(store: S, _: Backend) {
    let log = a_scripted_log(&store).await;
    let texts = |values: &[&str]| values.iter().map(|v| v.to_string()).collect::<Vec<_>>();
    // the period: from the 4th event's recording to the 9th's, both included
    let (from, to) = (log[3].recorded_at, log[8].recorded_at);
    let (lo, hi) = (log[1].recorded_at, log[11].recorded_at);
    type Keep = Box<dyn Fn(&RecordedEvent) -> bool>;
    let filters: Vec<(&str, FeedFilter, Keep)> = vec![
        ("nothing", FeedFilter::default(), Box::new(|_| true)),
        (
            "one stream type",
            FeedFilter { stream_types: texts(&["project"]), ..Default::default() },
            Box::new(|e| e.stream_id.category() == "project"),
        ),
        (
            "two stream types",
            FeedFilter { stream_types: texts(&["session", "person"]), ..Default::default() },
            Box::new(|e| ["session", "person"].contains(&e.stream_id.category())),
        ),
        (
            "one event type",
            FeedFilter { event_types: texts(&["ProjectSubmitted"]), ..Default::default() },
            Box::new(|e| e.event_type == "ProjectSubmitted"),
        ),
        (
            "two event types",
            FeedFilter { event_types: texts(&["ProjectAccepted", "ProjectDeclined"]), ..Default::default() },
            Box::new(|e| ["ProjectAccepted", "ProjectDeclined"].contains(&e.event_type.as_str())),
        ),
        (
            "an actor, any issuer",
            FeedFilter { actor: Some("alice".into()), ..Default::default() },
            Box::new(|e| e.metadata.actor.id == "alice"),
        ),
        (
            "an actor of one issuer",
            FeedFilter { actor: Some("alice".into()), actor_issuer: Some("proconnect".into()), ..Default::default() },
            Box::new(|e| e.metadata.actor.id == "alice" && e.metadata.actor.issuer == "proconnect"),
        ),
        (
            "a period",
            FeedFilter { from: Some(from), to: Some(to), ..Default::default() },
            Box::new(move |e| from <= e.recorded_at && e.recorded_at <= to),
        ),
        ("from only", FeedFilter { from: Some(to), ..Default::default() }, Box::new(move |e| to <= e.recorded_at)),
        (
            "everything at once",
            FeedFilter {
                stream_types: texts(&["project", "session"]),
                event_types: texts(&["ProjectAccepted", "SessionHeld", "SessionRequested"]),
                actor: Some("bob".into()),
                actor_issuer: Some("carnet-local".into()),
                from: Some(lo),
                to: Some(hi),
            },
            Box::new(move |e| {
                ["project", "session"].contains(&e.stream_id.category())
                    && ["ProjectAccepted", "SessionHeld", "SessionRequested"].contains(&e.event_type.as_str())
                    && e.metadata.actor.id == "bob"
                    && lo <= e.recorded_at
                    && e.recorded_at <= hi
            }),
        ),
        (
            "a type nobody wrote",
            FeedFilter { event_types: texts(&["ProjectAccepted'; drop table events; --"]), ..Default::default() },
            Box::new(|_| false),
        ),
    ];
    for (name, filter, keep) in &filters {
        let expected: Vec<RecordedEvent> = log.iter().filter(|e| keep(e)).cloned().collect();
        assert_eq!(page_forward(&store, filter, 100).await, expected, "{name}");
        assert_eq!(store.count_feed(filter).await.unwrap(), expected.len() as u64, "{name}: count");
    }
    let accepted = filters.iter().find(|(name, ..)| *name == "two event types").map(|(_, f, _)| f).unwrap();
    assert_eq!(page_forward(&store, accepted, 100).await.len(), 2, "the oracle is not empty");
    assert_eq!(log.len(), 12, "the table is still there");
}

async fn pages_forward_and_backward_cover_the_feed_once_in_order<S: EventStore + Feed>(store: S, _: Backend) {
    let streams: Vec<StreamId> = (0..5).map(|_| StreamId::new("project", Uuid::now_v7())).collect();
    for i in 0..23u64 {
        let stream = &streams[(i * 7 % 5) as usize];
        let types = if i % 3 == 0 { "ProjectAccepted" } else { "ProjectMilestoneRecorded" };
        let events: Vec<NewEvent> = (0..=(i % 2)).map(|k| ev(types, i * 10 + k)).collect();
        store.append(stream, ExpectedVersion::Any, &events, &meta("alice", "carnet-local")).await.unwrap();
    }
    let log = whole_log(&store, 34).await;
    let accepted = FeedFilter { event_types: vec!["ProjectAccepted".into()], ..Default::default() };
    let only_accepted: Vec<RecordedEvent> = log.iter().filter(|e| e.event_type == "ProjectAccepted").cloned().collect();
    for size in [1, 4, 5, 34, 100] {
        assert_eq!(page_forward(&store, &FeedFilter::default(), size).await, log, "forward by {size}");
        assert_eq!(page_backward(&store, &FeedFilter::default(), size).await, log, "backward by {size}");
        assert_eq!(page_forward(&store, &accepted, size).await, only_accepted, "forward by {size}, filtered");
        assert_eq!(page_backward(&store, &accepted, size).await, only_accepted, "backward by {size}, filtered");
    }
    // from any checkpoint, the rest of the feed; before it, what precedes
    for (i, e) in log.iter().enumerate() {
        assert_eq!(store.read_feed(&FeedFilter::default(), e.checkpoint(), 100).await.unwrap(), log[i + 1..]);
        assert_eq!(store.read_feed_back(&FeedFilter::default(), Some(e.checkpoint()), 100).await.unwrap(), log[..i]);
    }
}

/// The export's read gives each event as the hash recipe sees it: the same canonical text as
/// the verifier's own reading, hashes as stored, and the recipe holds for every event.
async fn hashes_come_as_the_recipe_reads_them(store: AnyStore) {
    let log = a_scripted_log(&store).await;
    let hashed = store.read_hashed(&FeedFilter::default(), Checkpoint::START, 100).await.unwrap();
    let verifier: Vec<integrity::HashedEvent> =
        integrity::hashed_events(&store, Checkpoint::START).try_collect().await.unwrap();
    assert_eq!(hashed, verifier, "the very text the hashes cover");
    let mut heads = std::collections::HashMap::new();
    for (h, e) in hashed.iter().zip(&log) {
        assert_eq!((h.global_position, h.event_id.as_str()), (e.global_position, e.event_id.to_string().as_str()));
        assert_eq!(h.hash, Some(h.computed_hash()), "the recipe holds at {}", h.global_position);
        let head = heads.insert(h.stream_id.clone(), h.hash.unwrap()).unwrap_or(integrity::ZERO_HASH);
        assert_eq!(h.prev_hash, Some(head), "chained at {}", h.global_position);
        let payload: serde_json::Value = serde_json::from_str(&h.payload).unwrap();
        assert_eq!(payload, e.payload);
    }
    let since = FeedFilter { from: Some(log[5].recorded_at), ..Default::default() };
    let page = store.read_hashed(&since, log[6].checkpoint(), 3).await.unwrap();
    assert_eq!(page, hashed[7..10]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_hashes_come_as_the_recipe_reads_them() {
    let db = carnet_testkit::sqlite().await;
    hashes_come_as_the_recipe_reads_them(AnyStore::Sqlite(db.store.clone())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_hashes_come_as_the_recipe_reads_them() {
    let db = carnet_testkit::postgres().await;
    hashes_come_as_the_recipe_reads_them(AnyStore::Postgres(db.store.clone())).await;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: commits out of order, and plans

/// Appends `events` to a new project stream.
async fn put(store: &PgStore, events: Vec<NewEvent>) -> AppendResult {
    let stream = StreamId::new("project", Uuid::now_v7());
    store.append(&stream, ExpectedVersion::NoStream, &events, &meta("a", "i")).await.expect("append")
}

/// An auditor pages through the feed while a transaction that took its position early is
/// still open and a later one has committed: the page stops before both, and the next page,
/// from the last checkpoint, has the late commit and then the other, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_paging_auditor_never_skips_a_late_commit() {
    let db = carnet_testkit::postgres().await;
    let store = db.store.clone();
    let accepted = FeedFilter { event_types: vec!["ProjectAccepted".into()], ..Default::default() };
    let first = put(&store, vec![ev("ProjectAccepted", 0)]).await.events[0].clone();
    whole_log(&store, 1).await;
    let seen = store.read_feed(&accepted, Checkpoint::START, 10).await.unwrap();
    assert_eq!(seen, std::slice::from_ref(&first));

    let (hold, inside_rx, release_tx) = carnet_testkit::HoldOpen::new();
    let late = {
        let store = store.clone();
        tokio::spawn(async move {
            let event = ev("ProjectAccepted", 1);
            let stream = StreamId::new("project", Uuid::now_v7());
            store
                .append_with(
                    StreamAppend {
                        stream: &stream,
                        expected: ExpectedVersion::NoStream,
                        events: &[event],
                        metadata: &meta("a", "i"),
                    },
                    Some(&hold),
                )
                .await
        })
    };
    inside_rx.await.unwrap();
    let early = put(&store, vec![ev("ProjectAccepted", 2)]).await.events[0].clone();
    // the late transaction is open: nothing after `first` may be read, though `early` committed
    let page = store.read_feed(&accepted, first.checkpoint(), 10).await.unwrap();
    assert!(page.is_empty(), "an event read past an open transaction: {page:?}");
    assert!(store.read_feed_back(&accepted, None, 10).await.unwrap().iter().all(|e| e.event_id != early.event_id));

    release_tx.send(()).unwrap();
    let late = late.await.unwrap().unwrap().events[0].clone();
    assert!(late.global_position < early.global_position, "the late one took its position first");
    whole_log(&store, 3).await;
    let rest = store.read_feed(&accepted, first.checkpoint(), 10).await.unwrap();
    let ids: Vec<Uuid> = rest.iter().map(|e| e.event_id).collect();
    assert_eq!(ids, [late.event_id, early.event_id], "each once, in reading order");
    assert_eq!(store.count_feed(&accepted).await.unwrap(), 3);
}

/// Every scan node of a plan: its type and, for index scans, the index.
fn scans(plan: &serde_json::Value, found: &mut Vec<String>) {
    let node = plan["Node Type"].as_str().unwrap_or_default();
    if node.contains("Scan") {
        found.push(format!("{node} {}", plan["Index Name"].as_str().unwrap_or_default()).trim().to_owned());
    }
    for child in plan["Plans"].as_array().into_iter().flatten() {
        scans(child, found);
    }
}

/// On a log of a few thousand events, a page of a rare event type or of a short period reads
/// through its index, not the whole log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_selective_filters_use_their_indexes() {
    let db = carnet_testkit::postgres().await;
    let store = db.store.clone();
    let bulk = |n: u64| (0..100).map(|k| ev("ProjectMilestoneRecorded", n * 100 + k)).collect::<Vec<_>>();
    for n in 0..30 {
        store
            .append(&StreamId::new("project", Uuid::now_v7()), ExpectedVersion::Any, &bulk(n), &meta("a", "i"))
            .await
            .unwrap();
    }
    let rare = put(&store, (0..5).map(|k| ev("ProjectAccepted", k)).collect()).await;
    for n in 30..60 {
        store
            .append(&StreamId::new("project", Uuid::now_v7()), ExpectedVersion::Any, &bulk(n), &meta("a", "i"))
            .await
            .unwrap();
    }
    // readable first: while another test's transaction holds the horizon below these events,
    // the planner rightly finds nothing to read and any plan will do
    whole_log(&store, 6005).await;
    sqlx::query("analyze events").execute(store.pool()).await.unwrap();

    let by_type = FeedFilter { event_types: vec!["ProjectAccepted".into()], ..Default::default() };
    let (first, last) = (&rare.events[0], &rare.events[4]);
    let by_period = FeedFilter { from: Some(first.recorded_at), to: Some(last.recorded_at), ..Default::default() };
    for (name, filter, index) in [
        ("a rare type", &by_type, "events_type_log_order_idx"),
        ("a short period", &by_period, "events_recorded_at_idx"),
    ] {
        let plan = store.explain_feed(filter, Checkpoint::START, 20).await.unwrap();
        let mut found = vec![];
        scans(&plan, &mut found);
        assert!(found.iter().any(|s| s.ends_with(index)), "{name}: {found:?} in {plan}");
        assert!(!found.iter().any(|s| s == "Seq Scan"), "{name}: {found:?}");
    }
    assert_eq!(store.read_feed(&by_type, Checkpoint::START, 20).await.unwrap(), rare.events);
}
