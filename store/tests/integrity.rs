//! Tamper evidence (DESIGN §3.3, issue 5): hash chains filled at append, seals, and a
//! verification that finds each kind of tampering, done directly in SQL, at the right place.
//! Every test runs on SQLite and on PostgreSQL, each on a fresh database (`for_each_backend!`).

use carnet_store::integrity::{self, Breach, BreachKind, EventFields, Hash, Progress, Report, Summary, ZERO_HASH};
use carnet_store::*;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use uuid::Uuid;

use carnet_testkit::{Backend, IntoAnyStore, for_each_backend};

/// The store under test as the integrity functions take it, with the SQL to tamper with it.
struct Db {
    store: AnyStore,
}

impl Db {
    fn is_postgres(&self) -> bool {
        matches!(self.store, AnyStore::Postgres(_))
    }
    /// Tampering, as someone with write access to the database would do it.
    async fn exec(&self, sql: &str) {
        match &self.store {
            AnyStore::Postgres(s) => sqlx::query(sql).execute(s.pool()).await.map(|_| ()),
            AnyStore::Sqlite(s) => sqlx::query(sql).execute(s.writer()).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    /// The SQL of the backend at hand.
    async fn exec2(&self, postgres: &str, sqlite: &str) {
        self.exec(if self.is_postgres() { postgres } else { sqlite }).await;
    }
}

for_each_backend!(
    an_untouched_log_of_100_000_events_verifies,
    a_changed_payload_byte_is_found_at_its_event,
    an_event_deleted_in_the_middle_of_a_stream_is_a_missing_version,
    the_last_event_of_a_stream_deleted_inside_a_sealed_range_is_caught_by_the_seal,
    a_forged_event_with_a_wrong_hash_is_found,
    a_forged_event_with_a_correct_chain_inside_a_sealed_range_is_caught_by_the_seal,
    a_forged_event_dated_before_the_seal_is_still_caught_by_the_seal,
    two_events_with_swapped_positions_are_found,
    an_edited_or_deleted_seal_is_found,
    a_rewritten_log_is_caught_by_a_seal_hash_recorded_elsewhere,
    a_removed_hash_is_found,
    seals_never_cover_an_event_still_in_flight,
    a_third_party_recomputes_every_hash_with_sha2_alone,
    control_characters_in_stream_ids_and_types_are_refused,
);

fn events(from: u64, count: u64) -> Vec<NewEvent> {
    (from..from + count)
        .map(|n| NewEvent::new("Happened", json!({ "n": n, "note": "une ligne ordinaire", "é": ["ü", 1.5] })))
        .collect()
}

fn meta() -> Metadata {
    carnet_testkit::metadata("person-auditee")
}

/// Seals every committed event. On PostgreSQL a writing transaction still open elsewhere on the
/// server (another test) holds the sealer back, by design: wait for it.
async fn seal_everything(store: &AnyStore) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let total: i64 = match store {
        AnyStore::Postgres(s) => sqlx::query_scalar("select count(*) from events").fetch_one(s.pool()).await,
        AnyStore::Sqlite(s) => sqlx::query_scalar("select count(*) from events").fetch_one(s.reader()).await,
    }
    .unwrap();
    loop {
        integrity::seal_pending(store).await.expect("seal");
        let sealed: u64 = integrity::seals(store).await.unwrap().iter().map(|s| s.event_count).sum();
        if sealed == total as u64 {
            assert_eq!(integrity::unsealed_events(store, 1).await.unwrap(), 0);
            return;
        }
        assert!(Instant::now() < deadline, "events stay unsealable");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// 10 streams. Round 1: 5 events each (one append per stream), sealed; round 2: 5 more on
/// streams 5..10, sealed; round 3: 2 more on streams 5..10, not sealed. Streams 0..5 end inside
/// the first sealed range.
struct Fixture {
    streams: Vec<StreamId>,
    /// Every event, in the order appended.
    events: Vec<RecordedEvent>,
}

impl Fixture {
    async fn build(store: &AnyStore) -> Self {
        let streams: Vec<StreamId> = (0..10).map(|_| StreamId::new("test", Uuid::now_v7())).collect();
        let mut all = Vec::new();
        for (round, range, count) in [(1, 0..10, 5), (2, 5..10, 5), (3, 5..10, 2)] {
            for s in &streams[range] {
                let version = store.stream_version(s).await.unwrap();
                let expected = ExpectedVersion::from_loaded(version);
                let r = store.append(s, expected, &events(version + 1, count), &meta()).await.unwrap();
                all.extend(r.events);
            }
            if round < 3 {
                seal_everything(store).await;
            }
        }
        Self { streams, events: all }
    }

    fn event(&self, stream: usize, version: u64) -> &RecordedEvent {
        self.events
            .iter()
            .find(|e| e.stream_id == self.streams[stream] && e.stream_version == version)
            .expect("event in the fixture")
    }
}

async fn verify(store: &AnyStore) -> Report {
    integrity::verify(store, |_| {}).await.expect("verification runs")
}

async fn intact(store: &AnyStore) -> Summary {
    match verify(store).await {
        Report::Intact(summary) => summary,
        Report::Broken(breach) => panic!("expected an intact log, got: {breach}"),
    }
}

async fn broken(store: &AnyStore) -> Breach {
    match verify(store).await {
        Report::Broken(breach) => breach,
        Report::Intact(summary) => panic!("tampering not detected: {summary:?}"),
    }
}

/// The seal whose range holds `at`.
async fn seal_holding(store: &AnyStore, at: Checkpoint) -> integrity::Seal {
    integrity::seals(store).await.unwrap().into_iter().find(|s| at <= s.last).expect("a seal covers it")
}

fn assert_at(breach: &Breach, event: &RecordedEvent) {
    assert_eq!(
        (breach.global_position, breach.stream_id.as_deref(), breach.stream_version),
        (Some(event.global_position), Some(event.stream_id.as_str()), Some(event.stream_version)),
        "reported at the wrong place: {breach}"
    );
}

/// The stored form of one event as an export gives it (see `integrity::hashed_events`).
async fn hashed(store: &AnyStore, global_position: i64) -> integrity::HashedEvent {
    use futures::TryStreamExt;
    integrity::hashed_events(store, Checkpoint::START)
        .try_filter(|e| std::future::ready(e.global_position == global_position))
        .try_next()
        .await
        .unwrap()
        .expect("event")
}

/// An event written directly into the table, as a forger would.
struct Forged {
    transaction_id: Option<i64>,
    global_position: Option<i64>,
    stream_id: String,
    stream_version: u64,
    payload: &'static str,
    metadata: String,
    recorded_at: DateTime<Utc>,
    prev_hash: Hash,
    /// `None`: the correct hash, recomputed with the published recipe.
    hash: Option<Hash>,
}

/// Inserts `f`, returning its position.
async fn forge(db: &Db, f: Forged) -> i64 {
    let event_id = Uuid::now_v7();
    let recorded_at = f.recorded_at.trunc_subsecs(6);
    let at_text = carnet_store::timestamp_text(recorded_at);
    // `f` through `$pool` with its backend's statements, the event id and the time bound as that
    // backend stores them; then its hash, `f`'s own or else the correct one
    macro_rules! insert {
        ($pool:expr, $insert:literal, $update:literal, $event_id:expr, $recorded_at:expr) => {{
            let position: i64 = sqlx::query_scalar($insert)
                .bind(f.global_position)
                .bind(f.transaction_id)
                .bind(&f.stream_id)
                .bind(f.stream_version as i64)
                .bind($event_id)
                .bind(f.payload)
                .bind(&f.metadata)
                .bind($recorded_at)
                .bind(&f.prev_hash[..])
                .bind(&ZERO_HASH[..])
                .fetch_one($pool)
                .await
                .unwrap();
            let hash = f.hash.unwrap_or_else(|| recipe(&f, position, &event_id, &at_text));
            sqlx::query($update).bind(&hash[..]).bind(position).execute($pool).await.unwrap();
            position
        }};
    }
    match &db.store {
        AnyStore::Postgres(s) => insert!(
            s.pool(),
            "insert into events (global_position, transaction_id, stream_id, stream_version, event_id, event_type, \
             schema_version, payload, metadata, recorded_at, prev_hash, hash) overriding system value \
             values (coalesce($1, nextval('events_global_position_seq')), \
                     coalesce($2, pg_current_xact_id()::text::bigint), $3, $4, $5, 'Happened', 1, \
                     $6::jsonb, $7::jsonb, $8, $9, $10) returning global_position",
            "update events set hash = $1 where global_position = $2",
            event_id,
            recorded_at
        ),
        AnyStore::Sqlite(s) => insert!(
            s.writer(),
            "insert into events (global_position, transaction_id, stream_id, stream_version, event_id, event_type, \
             schema_version, payload, metadata, recorded_at, prev_hash, hash) \
             values (?, coalesce(?, (select max(transaction_id) + 1 from events)), ?, ?, ?, 'Happened', 1, \
                     ?, ?, ?, ?, ?) returning global_position",
            "update events set hash = ? where global_position = ?",
            event_id.to_string(),
            &at_text
        ),
    }
}

fn recipe(f: &Forged, global_position: i64, event_id: &Uuid, recorded_at: &str) -> Hash {
    integrity::event_hash(
        &f.prev_hash,
        &EventFields {
            global_position,
            stream_id: &f.stream_id,
            stream_version: f.stream_version,
            event_id: &event_id.to_string(),
            event_type: "Happened",
            schema_version: 1,
            payload: f.payload,
            metadata: &f.metadata,
            recorded_at,
        },
    )
}

// ---------------------------------------------------------------------------------------------

async fn an_untouched_log_of_100_000_events_verifies(store: impl IntoAnyStore, _: Backend) {
    let db = Db { store: store.into_any() };
    let store = &db.store;
    // 1 000 streams of 100 events, one append each, 4 writers; sealed halfway and at the end
    for half in 0..2 {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    for _ in 0..125 {
                        let s = StreamId::new("bulk", Uuid::now_v7());
                        store.append(&s, ExpectedVersion::NoStream, &events(1, 100), &meta()).await?;
                    }
                    Ok::<_, StoreError>(())
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        if half == 0 {
            seal_everything(store).await;
        }
    }
    seal_everything(store).await;
    let mut last = Progress { checked: 0, total: 0 };
    let report = integrity::verify(store, |p| last = p).await.unwrap();
    let Report::Intact(summary) = report else { panic!("{report:?}") };
    assert_eq!((summary.events, summary.streams, summary.unsealed_events), (100_000, 1_000, 0));
    assert!(summary.seals >= 2, "{summary:?}");
    let seals = integrity::seals(store).await.unwrap();
    let latest = seals.last().unwrap();
    let last_seal = summary.last_seal.expect("the last seal is reported");
    assert_eq!((last_seal.seal_number, last_seal.hash), (latest.seal_number, integrity::to_hex(&latest.hash)));
    assert_eq!(seals.iter().map(|s| s.event_count).sum::<u64>(), 100_000, "each event sealed once");
    assert_eq!(last, Progress { checked: 100_000, total: 100_000 }, "progress ends at the total");
}

async fn a_changed_payload_byte_is_found_at_its_event(store: impl IntoAnyStore, _: Backend) {
    let db = Db { store: store.into_any() };
    let f = Fixture::build(&db.store).await;
    let fresh = intact(&db.store).await;
    assert_eq!((fresh.events, fresh.streams, fresh.unsealed_events), (85, 10, 10));
    let target = f.event(2, 3);
    let p = target.global_position;
    db.exec2(
        &format!("update events set payload = replace(payload::text, 'ordinaire', 'ordinairf')::jsonb where global_position = {p}"),
        &format!("update events set payload = replace(payload, 'ordinaire', 'ordinairf') where global_position = {p}"),
    )
    .await;
    let breach = broken(&db.store).await;
    assert_at(&breach, target);
    assert!(matches!(breach.kind, BreachKind::HashMismatch { .. }), "{breach}");
}

async fn an_event_deleted_in_the_middle_of_a_stream_is_a_missing_version(store: impl IntoAnyStore, _: Backend) {
    let db = Db { store: store.into_any() };
    let f = Fixture::build(&db.store).await;
    db.exec(&format!("delete from events where global_position = {}", f.event(7, 6).global_position)).await;
    let breach = broken(&db.store).await;
    assert_at(&breach, f.event(7, 7));
    assert_eq!(breach.kind, BreachKind::MissingVersion { expected: 6 }, "{breach}");
}

async fn the_last_event_of_a_stream_deleted_inside_a_sealed_range_is_caught_by_the_seal(
    store: impl IntoAnyStore,
    _: Backend,
) {
    let db = Db { store: store.into_any() };
    let f = Fixture::build(&db.store).await;
    // stream 1 ends with version 5, inside the first sealed range: its chain alone looks fine
    let last = f.event(1, 5);
    let seal = seal_holding(&db.store, last.checkpoint()).await;
    db.exec(&format!("delete from events where global_position = {}", last.global_position)).await;
    let breach = broken(&db.store).await;
    assert_eq!(
        breach.kind,
        BreachKind::MissingSealedEvents { expected: seal.event_count, found: seal.event_count - 1 },
        "{breach}"
    );
    let range = breach.seal.expect("the seal is named");
    assert_eq!((range.seal_number, range.last), (seal.seal_number, seal.last));
    assert_eq!(breach.global_position, None, "the seal cannot tell which event");
}

async fn a_forged_event_with_a_wrong_hash_is_found(store: impl IntoAnyStore, _: Backend) {
    let db = Db { store: store.into_any() };
    let f = Fixture::build(&db.store).await;
    let head = hashed(&db.store, f.event(7, 12).global_position).await;
    let position = forge(
        &db,
        Forged {
            transaction_id: None,
            global_position: None,
            stream_id: head.stream_id.clone(),
            stream_version: 13,
            payload: r#"{"n": 13, "note": "faux"}"#,
            metadata: head.metadata.clone(),
            recorded_at: Utc::now(),
            // plausible: it chains to the real head, but its own hash is made up
            prev_hash: head.hash.unwrap(),
            hash: Some(Sha256::digest(b"looks like a hash").into()),
        },
    )
    .await;
    let breach = broken(&db.store).await;
    assert_eq!(
        (breach.global_position, breach.stream_id.as_deref(), breach.stream_version),
        (Some(position), Some(head.stream_id.as_str()), Some(13))
    );
    assert!(matches!(breach.kind, BreachKind::HashMismatch { .. }), "{breach}");
}

/// The forger knows the recipe: the event chains to its stream's head and hashes correctly.
/// It is slipped into the first sealed range, right after the head's own append; the seal
/// sees one event too many, and names it because it was recorded after the seal was written.
async fn a_forged_event_with_a_correct_chain_inside_a_sealed_range_is_caught_by_the_seal(
    store: impl IntoAnyStore,
    _: Backend,
) {
    let db = Db { store: store.into_any() };
    forged_inside_a_sealed_range(db, true).await;
}

/// The same, dated before the seal: the seal still sees one event too many, without knowing
/// which.
async fn a_forged_event_dated_before_the_seal_is_still_caught_by_the_seal(store: impl IntoAnyStore, _: Backend) {
    let db = Db { store: store.into_any() };
    forged_inside_a_sealed_range(db, false).await;
}

async fn forged_inside_a_sealed_range(db: Db, dated_now: bool) {
    let f = Fixture::build(&db.store).await;
    let real_head = f.event(0, 5);
    let head = hashed(&db.store, real_head.global_position).await;
    let at = Checkpoint { transaction_id: head.transaction_id, global_position: 10_000_000 };
    let seal = seal_holding(&db.store, at).await;
    assert!(intact(&db.store).await.events == 85);
    let position = forge(
        &db,
        Forged {
            transaction_id: Some(head.transaction_id),
            global_position: Some(10_000_000),
            stream_id: head.stream_id.clone(),
            stream_version: 6,
            payload: r#"{"n": 6, "note": "ajouté après coup"}"#,
            metadata: head.metadata.clone(),
            recorded_at: if dated_now { Utc::now() } else { real_head.recorded_at },
            prev_hash: head.hash.unwrap(),
            hash: None,
        },
    )
    .await;
    let forged = hashed(&db.store, position).await;
    assert_eq!(forged.hash, Some(forged.computed_hash()), "the forgery hashes correctly");
    let breach = broken(&db.store).await;
    assert_eq!(
        breach.kind,
        BreachKind::UnexpectedEvents { expected: seal.event_count, found: seal.event_count + 1 },
        "{breach}"
    );
    assert_eq!(breach.seal.expect("the seal is named").seal_number, seal.seal_number);
    if dated_now {
        assert_eq!(
            (breach.global_position, breach.stream_id.as_deref(), breach.stream_version),
            (Some(10_000_000), Some(head.stream_id.as_str()), Some(6)),
            "recorded after its seal: named"
        );
    } else {
        assert_eq!(breach.global_position, None);
    }
}

async fn two_events_with_swapped_positions_are_found(store: impl IntoAnyStore, _: Backend) {
    let db = Db { store: store.into_any() };
    let f = Fixture::build(&db.store).await;
    // the last event of stream 3's only append, and the first of stream 8's second append
    let (a, b) = (f.event(3, 5), f.event(8, 6));
    let (pa, pb) = (a.global_position, b.global_position);
    if db.is_postgres() {
        db.exec("alter table events alter column global_position set generated by default").await;
    }
    db.exec(&format!("update events set global_position = -1 where global_position = {pa}")).await;
    db.exec(&format!("update events set global_position = {pa} where global_position = {pb}")).await;
    db.exec(&format!("update events set global_position = {pb} where global_position = -1")).await;
    let breach = broken(&db.store).await;
    // the reading order is unchanged (transaction ids), but A now claims B's position
    assert_eq!(
        (breach.global_position, breach.stream_id.as_deref(), breach.stream_version),
        (Some(pb), Some(a.stream_id.as_str()), Some(5)),
        "{breach}"
    );
    assert!(matches!(breach.kind, BreachKind::HashMismatch { .. }), "{breach}");
}

async fn an_edited_or_deleted_seal_is_found(store: impl IntoAnyStore, _: Backend) {
    let db = Db { store: store.into_any() };
    Fixture::build(&db.store).await;
    let seals = integrity::seals(&db.store).await.unwrap();
    assert!(seals.len() >= 2);
    let first = &seals[0];
    db.exec2(
        "update seals set hash = sha256('not the seal') where seal_number = 1",
        "update seals set hash = randomblob(32) where seal_number = 1",
    )
    .await;
    let breach = broken(&db.store).await;
    let BreachKind::SealMismatch { stored, computed } = &breach.kind else { panic!("{breach}") };
    assert_eq!(computed, &integrity::to_hex(&first.hash), "what the events say");
    assert_ne!(stored, computed);
    assert_eq!(breach.seal.as_ref().unwrap().seal_number, 1);

    // put it back: intact again
    let original = integrity::to_hex(&first.hash);
    db.exec2(
        &format!("update seals set hash = decode('{original}', 'hex') where seal_number = 1"),
        &format!("update seals set hash = x'{original}' where seal_number = 1"),
    )
    .await;
    intact(&db.store).await;

    // an edited count
    db.exec("update seals set event_count = event_count + 1 where seal_number = 1").await;
    let breach = broken(&db.store).await;
    assert_eq!(
        breach.kind,
        BreachKind::MissingSealedEvents { expected: first.event_count + 1, found: first.event_count }
    );
    db.exec("update seals set event_count = event_count - 1 where seal_number = 1").await;

    // a seal deleted: the next one no longer chains
    db.exec("delete from seals where seal_number = 1").await;
    let breach = broken(&db.store).await;
    assert!(matches!(breach.kind, BreachKind::BrokenSealChain { .. }), "{breach}");
    assert_eq!(breach.seal.unwrap().seal_number, 2);
}

/// Someone who can write the database and knows the recipe rewrites an event, its hash, and
/// every seal: the log verifies on its own. Only a seal hash recorded outside the database
/// (printed by an earlier `carnet verify`) shows it.
async fn a_rewritten_log_is_caught_by_a_seal_hash_recorded_elsewhere(store: impl IntoAnyStore, _: Backend) {
    let db = Db { store: store.into_any() };
    let f = Fixture::build(&db.store).await;
    let first = integrity::seals(&db.store).await.unwrap().remove(0);
    let recorded: integrity::RecordedSeal = format!("1:{}", integrity::to_hex(&first.hash)).parse().unwrap();
    assert!(matches!(integrity::verify_against(&db.store, &[recorded], |_| {}).await.unwrap(), Report::Intact(_)));

    let target = f.event(1, 5).global_position;
    db.exec(&format!(
        r#"update events set payload = '{{"n": 5, "note": "réécrit"}}' where global_position = {target}"#
    ))
    .await;
    let rewritten = hashed(&db.store, target).await.computed_hash();
    let hex = integrity::to_hex(&rewritten);
    db.exec2(
        &format!("update events set hash = decode('{hex}', 'hex') where global_position = {target}"),
        &format!("update events set hash = x'{hex}' where global_position = {target}"),
    )
    .await;
    db.exec("delete from seals").await;
    seal_everything(&db.store).await;
    intact(&db.store).await;

    let report = integrity::verify_against(&db.store, &[recorded], |_| {}).await.unwrap();
    let Report::Broken(breach) = report else { panic!("{report:?}") };
    let new_first = integrity::seals(&db.store).await.unwrap().remove(0);
    assert_eq!(
        breach.kind,
        BreachKind::RecordedSealDiffers {
            recorded: format!("1:{}", integrity::to_hex(&first.hash)),
            stored: Some(integrity::to_hex(&new_first.hash)),
        }
    );
}

async fn a_removed_hash_is_found(store: impl IntoAnyStore, _: Backend) {
    let db = Db { store: store.into_any() };
    let f = Fixture::build(&db.store).await;
    let target = f.event(9, 11);
    db.exec(&format!("update events set hash = null where global_position = {}", target.global_position)).await;
    let breach = broken(&db.store).await;
    assert_at(&breach, target);
    assert_eq!(breach.kind, BreachKind::MissingHash);
}

/// Writer A takes its position and waits inside its transaction while writer B commits a later
/// event (PostgreSQL; SQLite's single writer queues B behind A). A seal made meanwhile stops
/// before A's event, so never covers B's either: sealing by position alone would have sealed B
/// and left A to land later inside a sealed range. No timer: A waits until the test lets it go.
async fn seals_never_cover_an_event_still_in_flight(store: impl IntoAnyStore, _: Backend) {
    let db = Db { store: store.into_any() };
    use futures::future::BoxFuture;
    use tokio::sync::oneshot;
    type Signals = (Option<oneshot::Sender<()>>, Option<oneshot::Receiver<()>>);
    struct WaitInside(std::sync::Mutex<Signals>);
    impl InlineHook for WaitInside {
        fn run<'c>(&'c self, _: TxConn<'c>, _: &'c [RecordedEvent]) -> BoxFuture<'c, Result<(), StoreError>> {
            Box::pin(async move {
                let (inside, release) = std::mem::take(&mut *self.0.lock().unwrap());
                if let Some(inside) = inside {
                    let _ = inside.send(());
                }
                if let Some(release) = release {
                    let _ = release.await;
                }
                Ok(())
            })
        }
    }
    let store = db.store.clone();
    let before = StreamId::new("test", Uuid::now_v7());
    store.append(&before, ExpectedVersion::NoStream, &events(1, 3), &meta()).await.unwrap();
    let (inside_tx, inside_rx) = oneshot::channel();
    let (release_tx, release_rx) = oneshot::channel();
    let writer_a = {
        let store = store.clone();
        tokio::spawn(async move {
            let hook = WaitInside(std::sync::Mutex::new((Some(inside_tx), Some(release_rx))));
            let s = StreamId::new("test", Uuid::now_v7());
            store
                .append_with(
                    StreamAppend {
                        stream: &s,
                        expected: ExpectedVersion::NoStream,
                        events: &events(1, 1),
                        metadata: &meta(),
                    },
                    Some(&hook),
                )
                .await
        })
    };
    inside_rx.await.unwrap();
    let writer_b = {
        let store = store.clone();
        tokio::spawn(async move {
            let s = StreamId::new("test", Uuid::now_v7());
            store.append(&s, ExpectedVersion::NoStream, &events(1, 1), &meta()).await
        })
    };
    if db.is_postgres() {
        // B commits while A is still open, then a seal is made
        let b = writer_b.await.unwrap().unwrap();
        let sealed = integrity::seal_pending(&store).await.unwrap();
        release_tx.send(()).unwrap();
        let a = writer_a.await.unwrap().unwrap();
        assert!(b.events[0].global_position > a.events[0].global_position, "A took the earlier position");
        for seal in &sealed {
            assert!(seal.last < a.events[0].checkpoint(), "a seal went past A's event still in flight: {seal:?}");
            assert!(seal.last < b.events[0].checkpoint());
        }
    } else {
        // one writer: B waits for A, and so would the seal's insert
        release_tx.send(()).unwrap();
        writer_a.await.unwrap().unwrap();
        writer_b.await.unwrap().unwrap();
    }
    seal_everything(&store).await;
    let summary = intact(&store).await;
    assert_eq!((summary.events, summary.unsealed_events), (5, 0));
    let seals = integrity::seals(&store).await.unwrap();
    assert_eq!(seals.iter().map(|s| s.event_count).sum::<u64>(), 5, "every event sealed exactly once");
}

/// The recipe in the documentation, applied by someone who has only an export (here: the
/// columns an export writes, read with plain SQL) and `sha2`: every event hash, every link and
/// every seal hash comes out as stored. Proves the recipe, including PostgreSQL's rendering of
/// `jsonb` and `to_char` of `recorded_at`, on text with quotes, accents, emoji and newlines.
async fn a_third_party_recomputes_every_hash_with_sha2_alone(store: impl IntoAnyStore, _: Backend) {
    let db = Db { store: store.into_any() };
    let store = &db.store;
    Fixture::build(store).await;
    let tricky = "l'« école » \"du futur\" \\ 🚀 日本語 \u{202e} \t\n fin";
    let person = StreamId::new("person", Uuid::now_v7());
    let mut m = meta();
    m.reason = Some(tricky.into());
    let sealed_profile =
        json!({ "profile": { "sealed": "q83vEjRWeJA=", "key": Uuid::now_v7() }, "z": 1e-7, "a": -0.0 });
    store
        .append(&person, ExpectedVersion::NoStream, &[NewEvent::new("PersonRegistered", sealed_profile)], &m)
        .await
        .unwrap();
    let note = json!({ tricky: tricky, "nested": [tricky, { "k": tricky, "big": 12345678901234567890u64 }] });
    m.command_id = Uuid::now_v7();
    store.append(&person, ExpectedVersion::Exact(1), &[NewEvent::new("Noted", note)], &m).await.unwrap();
    seal_everything(store).await;

    // what an export carries, every field as text
    type Exported = (i64, i64, String, i64, String, String, i32, String, String, String, String, String);
    let export: Vec<Exported> = match store {
        AnyStore::Postgres(s) => sqlx::query_as(
            "select transaction_id, global_position, stream_id, stream_version, event_id::text, event_type, \
             schema_version, payload::text, metadata::text, \
             to_char(recorded_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
             encode(prev_hash, 'hex'), encode(hash, 'hex') \
             from events order by transaction_id, global_position",
        )
        .fetch_all(s.pool())
        .await
        .unwrap(),
        AnyStore::Sqlite(s) => sqlx::query_as(
            "select transaction_id, global_position, stream_id, stream_version, event_id, event_type, \
             schema_version, payload, metadata, recorded_at, lower(hex(prev_hash)), lower(hex(hash)) \
             from events order by transaction_id, global_position",
        )
        .fetch_all(s.reader())
        .await
        .unwrap(),
    };
    let seals: Vec<(i64, i64, i64, String, String)> = match store {
        AnyStore::Postgres(s) => sqlx::query_as(
            "select last_transaction_id, last_global_position, event_count, encode(prev_hash, 'hex'), \
             encode(hash, 'hex') from seals order by seal_number",
        )
        .fetch_all(s.pool())
        .await
        .unwrap(),
        AnyStore::Sqlite(s) => sqlx::query_as(
            "select last_transaction_id, last_global_position, event_count, lower(hex(prev_hash)), \
             lower(hex(hash)) from seals order by seal_number",
        )
        .fetch_all(s.reader())
        .await
        .unwrap(),
    };
    assert_eq!(export.len(), 87);

    let sha256_hex =
        |message: &str| -> String { Sha256::digest(message.as_bytes()).iter().map(|b| format!("{b:02x}")).collect() };
    let mut heads: std::collections::HashMap<String, (i64, String)> = Default::default();
    for (_, position, stream, version, id, kind, schema, payload, metadata, at, prev, hash) in &export {
        let fields = [
            prev.clone(),
            position.to_string(),
            stream.clone(),
            version.to_string(),
            id.clone(),
            kind.clone(),
            schema.to_string(),
            payload.clone(),
            metadata.clone(),
            at.clone(),
        ];
        let message: String = fields.iter().map(|f| format!("{f}\n")).collect();
        assert_eq!(&sha256_hex(&message), hash, "event at {position}");
        let (head_version, head_hash) = heads.get(stream).cloned().unwrap_or((0, "0".repeat(64)));
        assert_eq!((*version, prev), (head_version + 1, &head_hash), "chain of {stream}");
        heads.insert(stream.clone(), (*version, hash.clone()));
    }
    // seals: the previous seal's hash, then the covered hashes in reading order, one per line
    let mut prev_seal = "0".repeat(64);
    let mut covered = export.iter().peekable();
    for (last_tx, last_position, count, prev, hash) in &seals {
        assert_eq!(prev, &prev_seal);
        let mut message = format!("{prev}\n");
        let mut n = 0;
        while let Some(e) = covered.next_if(|e| (e.0, e.1) <= (*last_tx, *last_position)) {
            message.push_str(&e.11);
            message.push('\n');
            n += 1;
        }
        assert_eq!(n, *count);
        assert_eq!(&sha256_hex(&message), hash);
        prev_seal = hash.clone();
    }
    assert!(covered.next().is_none(), "everything sealed");

    if let AnyStore::Postgres(s) = store {
        // the SQL form of the recipe agrees with the append's
        let differing: i64 = sqlx::query_scalar(
            "select count(*) from events where hash is distinct from carnet_event_hash(prev_hash, global_position, \
             stream_id, stream_version, event_id, event_type, schema_version, payload, metadata, recorded_at)",
        )
        .fetch_one(s.pool())
        .await
        .unwrap();
        assert_eq!(differing, 0);
    }
    intact(store).await;
}

async fn control_characters_in_stream_ids_and_types_are_refused(store: impl IntoAnyStore, _: Backend) {
    let db = Db { store: store.into_any() };
    let bad = StreamId::parse("test-a\nb").unwrap();
    let err = db.store.append(&bad, ExpectedVersion::Any, &events(1, 1), &meta()).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");
    let s = StreamId::new("test", Uuid::now_v7());
    let err = db
        .store
        .append(&s, ExpectedVersion::Any, &[NewEvent::new("Hap\npened", json!({}))], &meta())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");
    assert_eq!(db.store.stream_version(&s).await.unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// A database from before the hash chains gets them once, on migrating.

/// The migrations of `all` older than `version`: the schema an older Carnet left.
fn migrations_before(all: &sqlx::migrate::Migrator, version: i64) -> sqlx::migrate::Migrator {
    sqlx::migrate::Migrator {
        migrations: all.migrations.iter().filter(|m| m.version < version).cloned().collect::<Vec<_>>().into(),
        ..sqlx::migrate::Migrator::DEFAULT
    }
}

/// PostgreSQL: events written by the old `carnet_append` (migrations up to 0004), then the
/// tamper-evidence migration hashes them; appends after it chain on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_events_from_before_the_chains_are_hashed_by_the_migration() {
    let db = carnet_testkit::FreshDatabase::create().await;
    let store = PgStore::connect(&db.url, 4).await.unwrap();
    let old = migrations_before(&sqlx::migrate!("../migrations/postgres"), 5);
    old.run(store.pool()).await.unwrap();
    let s = StreamId::new("old", Uuid::now_v7());
    for v in 0..3i64 {
        sqlx::query("select * from carnet_append($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(s.as_str())
            .bind(v * 2)
            .bind(Uuid::now_v7())
            .bind(vec![Uuid::now_v7(), Uuid::now_v7()])
            .bind(vec!["Happened", "Happened"])
            .bind(vec![1i32, 1])
            .bind(vec![json!({ "n": v }), json!({ "n": v, "second": true })])
            .bind(json!({ "actor": { "id": "x", "issuer": "y" } }))
            .fetch_all(store.pool())
            .await
            .unwrap();
    }
    let unhashed: i64 =
        sqlx::query_scalar("select count(*) from events where hash is null").fetch_one(store.pool()).await.unwrap();
    assert_eq!(unhashed, 6, "the old function leaves hashes empty");
    store.migrate().await.unwrap();
    let any = AnyStore::Postgres(store.clone());
    assert_eq!(intact(&any).await.events, 6);
    store.append(&s, ExpectedVersion::Exact(6), &events(7, 2), &meta()).await.unwrap();
    seal_everything(&any).await;
    let summary = intact(&any).await;
    assert_eq!((summary.events, summary.streams, summary.unsealed_events), (8, 1, 0));
}

/// PostgreSQL: events chained by 0005's `carnet_append` (one row back per event), then the
/// database upgraded to 0017's (one row back per append): the new function chains on the old
/// heads, single and batched appends and a replayed command answer as before, and a third party
/// recomputes every hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_appends_chain_on_across_the_lean_append_migration() {
    let db = carnet_testkit::FreshDatabase::create().await;
    let store = PgStore::connect(&db.url, 4).await.unwrap();
    migrations_before(&sqlx::migrate!("../migrations/postgres"), 17).run(store.pool()).await.unwrap();
    let s = StreamId::new("old", Uuid::now_v7());
    let first = Metadata { command_id: Uuid::now_v7(), ..meta() };
    for v in 0..2i64 {
        let metadata = if v == 0 { first.clone() } else { meta() };
        let answered: Vec<(i64, i64, i64, Uuid, DateTime<Utc>, bool)> = sqlx::query_as(
            "select global_position, transaction_id, stream_version, event_id, recorded_at, replayed \
             from carnet_append($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(s.as_str())
        .bind(v * 2)
        .bind(metadata.command_id)
        .bind(vec![Uuid::now_v7(), Uuid::now_v7()])
        .bind(vec!["Happened", "Happened"])
        .bind(vec![1i32, 1])
        .bind(vec![json!({ "n": v }), json!({ "n": v, "second": true })])
        .bind(serde_json::to_value(&metadata).unwrap())
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(answered.len(), 2, "0005's function answers a row per event");
    }
    store.migrate().await.unwrap();
    let any = AnyStore::Postgres(store.clone());
    assert_eq!(intact(&any).await.events, 4);

    let one = store.append(&s, ExpectedVersion::Exact(4), &events(5, 1), &meta()).await.unwrap();
    let batch = store.append(&s, ExpectedVersion::Exact(5), &events(6, 100), &meta()).await.unwrap();
    assert_eq!((one.stream_version, batch.stream_version, batch.events.len()), (5, 105, 100));
    // what the append answered is what was stored, event by event
    let stored = store.read_stream(&s, 5, None).await.unwrap();
    let answered: Vec<RecordedEvent> = one.events.into_iter().chain(batch.events).collect();
    assert_eq!(stored, answered);
    let positions: Vec<i64> = stored.iter().map(|e| e.global_position).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "positions follow the versions: {positions:?}");
    assert!(
        stored[1..]
            .iter()
            .all(|e| e.transaction_id == stored[1].transaction_id && e.recorded_at == stored[1].recorded_at),
        "one append, one transaction, one recorded_at"
    );

    // a command written by the old function replays through the new one: the first result
    let replay = store.append(&s, ExpectedVersion::Exact(0), &events(1, 2), &first).await.unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.events.iter().map(|e| e.stream_version).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(replay.events[0].payload, json!({ "n": 0 }));
    seal_everything(&any).await;
    let summary = intact(&any).await;
    assert_eq!((summary.events, summary.streams, summary.unsealed_events), (105, 1, 0));
}

/// SQLite: events written before migration 0004, hashed by the store right after it, once: a
/// hash nulled later is reported, not recomputed by the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_events_from_before_the_chains_are_hashed_once_after_migrating() {
    let dir = carnet_testkit::TempDir::new();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    let old = migrations_before(&sqlx::migrate!("../migrations/sqlite"), 4);
    old.run(store.writer()).await.unwrap();
    let s = StreamId::new("old", Uuid::now_v7());
    for v in 1..=4i64 {
        sqlx::query(
            "insert into events (transaction_id, stream_id, stream_version, event_id, event_type, schema_version, \
             payload, metadata, recorded_at) values (?, ?, ?, ?, 'Happened', 1, ?, '{}', ?)",
        )
        .bind(v)
        .bind(s.as_str())
        .bind(v)
        .bind(Uuid::now_v7().to_string())
        .bind(json!({ "n": v }).to_string())
        .bind(carnet_store::timestamp_text(Utc::now()))
        .execute(store.writer())
        .await
        .unwrap();
    }
    store.migrate().await.unwrap();
    let any = AnyStore::Sqlite(store.clone());
    assert_eq!(intact(&any).await.events, 4);
    store.append(&s, ExpectedVersion::Exact(4), &events(5, 1), &meta()).await.unwrap();
    assert_eq!(intact(&any).await.events, 5);

    sqlx::query("update events set hash = null where stream_version = 2").execute(store.writer()).await.unwrap();
    store.migrate().await.unwrap();
    let breach = broken(&any).await;
    assert_eq!((breach.stream_version, breach.kind), (Some(2), BreachKind::MissingHash));
}
