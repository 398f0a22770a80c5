//! Personal data at rest, on both backends (DESIGN §3.2): Person profiles are stored sealed with
//! a per-person key wrapped by a master key, read back through every way of reading, never
//! snapshotted; erasure destroys the key in the append's transaction and the profile then reads
//! as erased; a sealed profile moved to another person or event does not open; master keys
//! rotate. Provider identities are sealed and shredded the same way; after an erasure, the
//! store's scrub leaves no byte of the destroyed key in the database's files.

use carnet_domain::Decider;
use carnet_domain::person::*;
use carnet_domain::values::*;
use carnet_store::Database;
use carnet_store::personal_data::{KeyError, rotate};
use carnet_store::*;
use carnet_testkit::{Backend, for_each_backend};
use chrono::NaiveDate;
use futures::future::BoxFuture;
use sqlx::Row;
use std::collections::BTreeSet;
use std::sync::Arc;

for_each_backend!(
    a_profile_is_sealed_at_rest_and_reads_back,
    erasure_destroys_the_key_with_the_event_and_the_profile_reads_as_erased,
    a_sealed_profile_opens_only_for_its_person_and_event,
    master_keys_rotate_and_old_ones_can_then_go,
    clear_profiles_from_before_sealing_still_read,
    an_identity_is_sealed_at_rest_and_shredded_with_the_profile,
    identities_linked_before_sealing_still_read,
    scrubbing_after_an_erasure_leaves_no_trace_of_the_key_in_the_files,
);

// ---------------------------------------------------------------------------------------------
// Helpers

use PersonCommand as C;

const GIVEN: &str = "Zéphyrine";
const USUAL: &str = "Quatremaire";
const EMAIL: &str = "zephyrine.quatremaire@ac-nantes.fr";

fn meta() -> Metadata {
    Metadata::new(Actor { id: "admin-1".into(), issuer: "carnet-local".into() })
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 4, d).unwrap()
}

fn profile(usual: &str) -> PersonalData {
    PersonalData {
        given_name: Label::parse(GIVEN).unwrap(),
        usual_name: Label::parse(usual).unwrap(),
        email: Some(Email::parse(EMAIL).unwrap()),
        organisation: Some(Label::parse("Rectorat de Nantes").unwrap()),
        affiliation: None,
        academie: Some(AcademieCode::parse("17").unwrap()),
        uai: None,
    }
}

fn master(current: &str, ids: &[&str]) -> Arc<MasterKeys> {
    let key = |id: &str| -> [u8; 32] { std::array::from_fn(|i| id.as_bytes()[i % id.len()] ^ i as u8) };
    Arc::new(MasterKeys::new(current, ids.iter().map(|id| (id.to_string(), key(id)))).unwrap())
}

fn sealing(keys: Arc<MasterKeys>) -> Arc<Codec> {
    Arc::new(carnet_testkit::carnet_codec().with_master_keys(keys))
}

fn repo<S: EventStore>(store: &S, codec: &Arc<Codec>) -> Repository<S, Person> {
    // a snapshot after every event, if Person states were ever snapshotted
    Repository::new(store.clone(), codec.clone()).with_snapshot_every(1)
}

async fn run<S: EventStore>(repo: &Repository<S, Person>, id: PersonId, command: C) -> Executed<Person> {
    repo.execute(id.0, &command, &meta(), None, None).await.unwrap_or_else(|e| panic!("{command:?}: {e}"))
}

fn register(id: PersonId) -> C {
    C::RegisterPerson { id, profile: profile(USUAL), registered_on: day(1) }
}

fn erase() -> C {
    C::ErasePerson { reason: LongText::parse("demande d'effacement RGPD").unwrap(), on: day(20) }
}

/// Every row of `sql`'s first column, as text.
async fn texts<S: EventStore>(store: &S, sql: &str) -> Vec<String> {
    match store.database() {
        Database::Postgres(pool) => sqlx::query(sql).fetch_all(pool).await.unwrap().iter().map(|r| r.get(0)).collect(),
        Database::Sqlite { reader, .. } => {
            sqlx::query(sql).fetch_all(reader).await.unwrap().iter().map(|r| r.get(0)).collect()
        }
    }
}

/// The `events` table as stored, every column of every row, as text.
async fn events_table<S: EventStore>(store: &S) -> String {
    let sql = match store.database() {
        Database::Postgres(_) => "select e::text from events e order by global_position",
        Database::Sqlite { .. } => {
            "select stream_id || event_id || event_type || payload || metadata from events order by global_position"
        }
    };
    texts(store, sql).await.join("\n")
}

async fn key_rows<S: EventStore>(store: &S, person: PersonId) -> Vec<String> {
    let sql = match store.database() {
        Database::Postgres(_) => format!("select master_key_id from person_keys where person_id = '{}'", person.0),
        Database::Sqlite { .. } => format!("select master_key_id from person_keys where person_id = '{}'", person.0),
    };
    texts(store, &sql).await
}

fn stream(person: PersonId) -> StreamId {
    StreamId::new(Person::CATEGORY, person.0)
}

/// Decodes the stream's events as a reader does: keys first, then each event.
async fn decoded<S: EventStore>(store: &S, codec: &Codec, person: PersonId) -> Vec<PersonEvent> {
    let events = store.read_stream(&stream(person), 1, None).await.unwrap();
    let keys = codec.load_keys(store, &events).await.unwrap();
    events.iter().map(|e| codec.decode_with(e, &keys).unwrap()).collect()
}

// ---------------------------------------------------------------------------------------------

async fn a_profile_is_sealed_at_rest_and_reads_back<S: EventStore>(store: S, _: Backend) {
    let codec = sealing(master("k1", &["k1"]));
    let repo = repo(&store, &codec);
    let id = PersonId::new();
    run(&repo, id, register(id)).await;
    run(&repo, id, C::GrantRole { role: Role::Reader, academies: BTreeSet::new() }).await;
    let done = run(&repo, id, C::UpdateProfile { profile: profile("Quatremaire-Lebrun") }).await;
    assert_eq!(done.state.profile, Some(profile("Quatremaire-Lebrun")));
    assert_eq!(done.events[0].payload["profile"]["key"].as_str().map(str::len), Some(36), "a key id");

    // at rest: the profile only, sealed; the rest of the payload as it was
    let stored = store.read_stream(&stream(id), 1, None).await.unwrap();
    let registered = &stored[0].payload;
    assert_eq!(registered["id"], serde_json::json!(id.0));
    assert_eq!(registered["registered_on"], "2026-04-01");
    let sealed = registered["profile"].as_object().unwrap();
    assert_eq!(sealed.keys().collect::<Vec<_>>(), ["key", "sealed"]);
    let table = events_table(&store).await;
    for clear in [GIVEN, USUAL, EMAIL, "Rectorat", "Nantes"] {
        assert!(!table.contains(clear), "{clear} in clear in the events table:\n{table}");
    }
    assert_eq!(key_rows(&store, id).await, ["k1"], "one data key, wrapped by k1");

    // read back: the repository (no snapshot of a Person: it would hold the profile in clear)
    let loaded = repo.load(id.0).await.unwrap();
    assert_eq!((loaded.version, loaded.state.profile), (3, Some(profile("Quatremaire-Lebrun"))));
    assert!(store.load_snapshot(&stream(id), Person::VERSION as i32).await.unwrap().is_none(), "never snapshotted");
    assert_eq!(texts(&store, "select stream_id from snapshots").await, Vec::<String>::new());
    assert_eq!(repo.load_at(id.0, 1).await.unwrap().state.profile, Some(profile(USUAL)));
    // … and any reader of the log, with the keys of what it read
    let keys = codec.load_keys(&store, &stored).await.unwrap();
    let opened = codec.open_payload(&stored[0], &keys).unwrap();
    assert_eq!(opened["profile"]["given_name"], GIVEN, "the payload as recorded, opened for display");

    // a reader without the key loaded, or without master keys, fails: never a silent erasure
    let unloaded = codec.decode::<PersonEvent>(&stored[0]).unwrap_err().to_string();
    assert!(unloaded.contains("was not loaded"), "{unloaded}");
    let clear_codec = Arc::new(carnet_testkit::carnet_codec());
    let refused = Repository::<S, Person>::new(store.clone(), clear_codec).load(id.0).await.unwrap_err();
    assert!(refused.to_string().contains("master key `k1` is not configured"), "{refused}");
}

/// A hook that fails: the append it runs in rolls back.
struct Fails;

impl InlineHook for Fails {
    fn run<'c>(&'c self, _: TxConn<'c>, _: &'c [RecordedEvent]) -> BoxFuture<'c, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::Refused { rule: "test.fails", reason: "refused".into() }) })
    }
}

async fn erasure_destroys_the_key_with_the_event_and_the_profile_reads_as_erased<S: EventStore>(store: S, _: Backend) {
    let codec = sealing(master("k1", &["k1"]));
    let repo = repo(&store, &codec);
    let (id, other) = (PersonId::new(), PersonId::new());
    run(&repo, id, register(id)).await;
    run(&repo, other, register(other)).await;

    // an erasure whose transaction fails leaves the key, as it leaves the log
    let failed = repo.execute(id.0, &erase(), &meta(), None, Some(&Fails)).await.unwrap_err();
    assert!(failed.to_string().contains("refused"), "{failed}");
    assert_eq!(key_rows(&store, id).await, ["k1"]);
    assert_eq!(store.stream_version(&stream(id)).await.unwrap(), 1);

    let erased = run(&repo, id, erase()).await;
    assert_eq!(erased.state.display_name(), "Personne effacée");
    assert_eq!(key_rows(&store, id).await, Vec::<String>::new(), "the key went with the event");
    assert_eq!(key_rows(&store, other).await, ["k1"], "only theirs");

    // the log is untouched, and its profile now reads as erased: nothing fails
    assert_eq!(store.stream_version(&stream(id)).await.unwrap(), 2);
    let events = decoded(&store, &codec, id).await;
    assert!(matches!(&events[0], PersonEvent::PersonRegistered { profile: None, .. }), "{:?}", events[0]);
    let before = repo.load_at(id.0, 1).await.unwrap();
    assert_eq!((before.state.id, before.state.profile), (Some(id), None));
    let stored = store.read_stream(&stream(id), 1, Some(1)).await.unwrap();
    let keys = codec.load_keys(&store, &stored).await.unwrap();
    assert!(keys.is_shredded(id.0));
    assert_eq!(codec.open_payload(&stored[0], &keys).unwrap()["profile"], serde_json::Value::Null);
    assert_eq!(decoded(&store, &codec, other).await.len(), 1, "the other person still reads");

    // erasing twice is harmless: nothing appended, nothing fails
    let again = run(&repo, id, erase()).await;
    assert!(again.events.is_empty());
    assert_eq!(again.state.display_name(), "Personne effacée");
    // and nothing more can be written about them
    let refused = repo.execute(id.0, &C::UpdateProfile { profile: profile(USUAL) }, &meta(), None, None).await;
    assert!(matches!(refused, Err(CommandError::Rejected(r)) if r.rule == "person.erased"));
}

async fn a_sealed_profile_opens_only_for_its_person_and_event<S: EventStore>(store: S, _: Backend) {
    let codec = sealing(master("k1", &["k1"]));
    let repo = repo(&store, &codec);
    let (a, b) = (PersonId::new(), PersonId::new());
    run(&repo, a, register(a)).await;
    run(&repo, b, C::RegisterPerson { id: b, profile: profile("Autre"), registered_on: day(2) }).await;
    let a_registered = store.read_stream(&stream(a), 1, None).await.unwrap().remove(0);

    // A's sealed profile copied into B's stream, as if it were an update of B's
    let moved =
        NewEvent::new("PersonProfileUpdated", serde_json::json!({ "profile": a_registered.payload["profile"] }));
    store.append(&stream(b), ExpectedVersion::Exact(1), &[moved], &meta()).await.unwrap();
    let error = repo.load(b.0).await.unwrap_err().to_string();
    assert!(error.contains("cannot be read") && error.contains("PersonProfileUpdated.profile"), "{error}");

    // the same ciphertext claimed by B, under A's key id: the associated data (B's id) refuses it
    let mut claimed = a_registered.clone();
    claimed.stream_id = stream(b);
    let keys = codec.load_keys(&store, [&claimed]).await.unwrap();
    let error = codec.decode_with::<PersonEvent>(&claimed, &keys).unwrap_err().to_string();
    assert!(
        error.contains(&format!("is sealed with key {}", a_registered.payload["profile"]["key"].as_str().unwrap()))
    );

    // A's own key and ciphertext, but another event (its id is associated data too)
    let mut other_event = a_registered.clone();
    other_event.event_id = uuid::Uuid::now_v7();
    let keys = codec.load_keys(&store, [&other_event]).await.unwrap();
    let error = codec.decode_with::<PersonEvent>(&other_event, &keys).unwrap_err().to_string();
    assert!(error.contains("does not open"), "{error}");
    // and the event as it is still opens
    let keys = codec.load_keys(&store, [&a_registered]).await.unwrap();
    assert!(codec.decode_with::<PersonEvent>(&a_registered, &keys).is_ok());
}

async fn master_keys_rotate_and_old_ones_can_then_go<S: EventStore>(store: S, _: Backend) {
    let old = sealing(master("k1", &["k1"]));
    let people: Vec<PersonId> = (0..3).map(|_| PersonId::new()).collect();
    for id in &people {
        run(&repo(&store, &old), *id, register(*id)).await;
    }
    run(&repo(&store, &old), people[2], erase()).await;

    // k2 becomes current: new keys are wrapped with it, old ones still open with k1
    let both = master("k2", &["k1", "k2"]);
    let newcomer = PersonId::new();
    run(&repo(&store, &sealing(both.clone())), newcomer, register(newcomer)).await;
    assert_eq!(key_rows(&store, newcomer).await, ["k2"]);
    assert_eq!(
        repo(&store, &sealing(both.clone())).load(people[0].0).await.unwrap().state.profile,
        Some(profile(USUAL))
    );

    // before rotation, k1 cannot leave: decoding fails, naming it and printing no key
    let only_k2 = master("k2", &["k2"]);
    let error = repo(&store, &sealing(only_k2.clone())).load(people[0].0).await.unwrap_err().to_string();
    assert!(error.contains("master key `k1` is not configured"), "{error}");
    assert!(!error.contains(&MasterKeys::encode_key(&[0; 32])[..8]));
    let refused = rotate(&store, &only_k2).await.unwrap_err();
    assert!(matches!(&refused, StoreError::Key(KeyError::MissingMasterKey(id)) if id == "k1"), "{refused}");

    let done = rotate(&store, &both).await.unwrap();
    assert_eq!((done.rewrapped, done.already_current), (2, 1), "the two live keys of k1; the erased one stays gone");
    for id in &people[..2] {
        assert_eq!(key_rows(&store, *id).await, ["k2"]);
    }
    assert_eq!(key_rows(&store, people[2]).await, Vec::<String>::new(), "rotation brings no key back");

    // after rotation, k1 may go: everything still opens with k2 alone
    let after = sealing(only_k2.clone());
    for id in [people[0], people[1], newcomer] {
        assert_eq!(repo(&store, &after).load(id.0).await.unwrap().state.profile, Some(profile(USUAL)));
    }
    assert_eq!(repo(&store, &after).load(people[2].0).await.unwrap().state.display_name(), "Personne effacée");
    let again = rotate(&store, &only_k2).await.unwrap();
    assert_eq!((again.rewrapped, again.already_current), (0, 3), "running it again is harmless");
}

async fn clear_profiles_from_before_sealing_still_read<S: EventStore>(store: S, _: Backend) {
    let id = PersonId::new();
    let clear = Arc::new(carnet_testkit::carnet_codec());
    run(&repo(&store, &clear), id, register(id)).await;
    assert!(events_table(&store).await.contains(GIVEN), "a codec without master keys writes clear profiles");

    let sealed = sealing(master("k1", &["k1"]));
    let updated = run(&repo(&store, &sealed), id, C::UpdateProfile { profile: profile("Nouveau") }).await;
    assert_eq!(updated.state.profile, Some(profile("Nouveau")));
    assert_eq!(key_rows(&store, id).await, ["k1"], "a key made at the first sealed write");
    let events = decoded(&store, &sealed, id).await;
    assert!(matches!(&events[0], PersonEvent::PersonRegistered { profile: Some(p), .. } if *p == profile(USUAL)));
    assert!(matches!(&events[1], PersonEvent::PersonProfileUpdated { profile: Some(p) } if *p == profile("Nouveau")));
    assert!(!events_table(&store).await.contains("Nouveau"));
}

const SUB: &str = "agent-7f3a-sealing";

fn identity() -> ExternalIdentity {
    ExternalIdentity { issuer: Label::parse("https://auth.example.gouv.fr").unwrap(), sub: Label::parse(SUB).unwrap() }
}

async fn an_identity_is_sealed_at_rest_and_shredded_with_the_profile<S: EventStore>(store: S, _: Backend) {
    let codec = sealing(master("k1", &["k1"]));
    let repo = repo(&store, &codec);
    let id = PersonId::new();
    run(&repo, id, register(id)).await;
    let linked = run(&repo, id, C::LinkIdentity { identity: identity() }).await;
    assert!(linked.state.identities.contains(&identity()));
    let stored = store.read_stream(&stream(id), 2, None).await.unwrap();
    let sealed = stored[0].payload["identity"].as_object().unwrap();
    assert_eq!(sealed.keys().collect::<Vec<_>>(), ["key", "sealed"], "{:?}", stored[0].payload);
    let table = events_table(&store).await;
    assert!(!table.contains(SUB) && !table.contains("auth.example"), "the identity in clear in the log:\n{table}");
    let events = decoded(&store, &codec, id).await;
    assert_eq!(events[1], PersonEvent::PersonIdentityLinked { identity: Some(identity()) }, "it reads back");
    assert!(repo.load(id.0).await.unwrap().state.identities.contains(&identity()));

    run(&repo, id, erase()).await;
    let events = decoded(&store, &codec, id).await;
    assert_eq!(events[1], PersonEvent::PersonIdentityLinked { identity: None }, "shredded with the key");
    assert!(repo.load_at(id.0, 2).await.unwrap().state.identities.is_empty());
    assert!(!events_table(&store).await.contains(SUB));
}

async fn identities_linked_before_sealing_still_read<S: EventStore>(store: S, _: Backend) {
    let id = PersonId::new();
    let clear = Arc::new(carnet_testkit::carnet_codec());
    run(&repo(&store, &clear), id, register(id)).await;
    run(&repo(&store, &clear), id, C::LinkIdentity { identity: identity() }).await;
    assert!(events_table(&store).await.contains(SUB), "a codec without master keys writes them clear");
    let sealed = sealing(master("k1", &["k1"]));
    let events = decoded(&store, &sealed, id).await;
    assert_eq!(events[1], PersonEvent::PersonIdentityLinked { identity: Some(identity()) }, "as written");
}

/// The raw bytes of the database's files: on SQLite every file of its folder (the database, its
/// WAL and shared memory), on PostgreSQL the relation file of `person_keys` once a `CHECKPOINT`
/// (a superuser's) wrote it.
async fn database_files<S: EventStore>(store: &S, sqlite_dir: Option<&std::path::Path>) -> Vec<Vec<u8>> {
    match store.database() {
        Database::Sqlite { .. } => {
            let dir = sqlite_dir.expect("the SQLite folder");
            std::fs::read_dir(dir).unwrap().map(|e| std::fs::read(e.unwrap().path()).unwrap()).collect()
        }
        Database::Postgres(pool) => {
            sqlx::query("checkpoint").execute(pool).await.unwrap();
            let bytes: Vec<u8> = sqlx::query_scalar("select pg_read_binary_file(pg_relation_filepath('person_keys'))")
                .fetch_one(pool)
                .await
                .unwrap();
            vec![bytes]
        }
    }
}

fn holds(files: &[Vec<u8>], needle: &[u8]) -> bool {
    files.iter().any(|f| f.windows(needle.len()).any(|w| w == needle))
}

async fn scrubbing_after_an_erasure_leaves_no_trace_of_the_key_in_the_files<S: EventStore>(store: S, _: Backend) {
    // (the generic tests get the store alone: find the SQLite file's folder from the database)
    let dir = match store.database() {
        Database::Sqlite { reader, .. } => {
            let file: String = sqlx::query_scalar("select file from pragma_database_list where name = 'main'")
                .fetch_one(reader)
                .await
                .unwrap();
            Some(std::path::PathBuf::from(file).parent().unwrap().to_path_buf())
        }
        Database::Postgres(_) => None,
    };
    let codec = sealing(master("k1", &["k1"]));
    let repo = repo(&store, &codec);
    let id = PersonId::new();
    run(&repo, id, register(id)).await;
    let wrapped: Vec<u8> = match store.database() {
        Database::Postgres(pool) => {
            sqlx::query_scalar("select wrapped from person_keys").fetch_one(pool).await.unwrap()
        }
        Database::Sqlite { reader, .. } => {
            sqlx::query_scalar("select wrapped from person_keys").fetch_one(reader).await.unwrap()
        }
    };
    assert_eq!(wrapped.len(), 60);
    assert!(holds(&database_files(&store, dir.as_deref()).await, &wrapped), "the search finds the live key");

    run(&repo, id, erase()).await;
    store.scrub(&[]).await.unwrap();
    let files = database_files(&store, dir.as_deref()).await;
    assert!(!holds(&files, &wrapped), "the erased person's wrapped key is still in the database's files");
    assert!(!holds(&files, &wrapped[12..28]), "nor a part of it");
}
