//! Erasure by crypto-shredding, end to end (DESIGN §3.2, issue 5 point 4, issue 10 §5): a person
//! registered, made holder of a project and facilitator of a session, whose profile was updated,
//! with a provider identity they logged in with, then erased, leaves nothing of their name, email
//! or provider `sub` in a dump of every table of the database, nor in the raw bytes of the
//! database's files (on SQLite every file of the data folder: the database, its `-wal` and
//! `-shm`; on PostgreSQL every relation file of the database, read by the server with
//! `pg_read_binary_file` after a `CHECKPOINT`), in clear, in base64 or in hex; nor does
//! `history` or `events` show the `sub`. Before erasure, the same searches find the name and
//! the `sub` (the searches read what they should), the log never holds them, and the identity
//! logs in. Master keys rotate with the binary.

use crate::support::*;
use carnet_domain::person::Role;
use carnet_lab::master_keys::MasterKeysConfig;
use carnet_store::MasterKeys;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const GIVEN: &str = "Zephirine";
const USUAL: &str = "Quenouillard";
const NEW_USUAL: &str = "Quenouillard-Vasseur";
const EMAIL: &str = "zephirine.quenouillard@ac-lille.fr";

/// The subject the person's provider gives them: personal data too.
const SUB: &str = "agent-zq-31415-erasure";

/// Everything that must not survive the erasure.
const SECRETS: [&str; 5] = [GIVEN, USUAL, NEW_USUAL, EMAIL, SUB];

const ERASED: &str = "Personne effacée";

// ---------------------------------------------------------------------------------------------
// Looking for a text in a dump

/// The ways `needle` can show in a text dump besides in clear: base64 (standard and URL-safe
/// alphabets, at each of the three alignments a text can take inside a longer base64 string:
/// only the characters it alone determines) and hex (compared in lower case).
fn encodings(needle: &str) -> Vec<String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut forms = vec![];
    for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        for shift in 0..3 {
            let mut bytes = vec![0u8; shift];
            bytes.extend_from_slice(needle.as_bytes());
            // whole 3-byte groups only: the last characters depend on what follows
            let whole = bytes.len() / 3 * 3;
            let text = engine.encode(&bytes[..whole]);
            // the first characters mix in the bytes before
            forms.push(text[[0, 2, 3][shift]..].to_owned());
        }
    }
    forms.push(needle.bytes().map(|b| format!("{b:02x}")).collect());
    forms
}

/// Where `needle` shows in `dump` (in clear whatever the case, base64 or hex), if anywhere.
fn found(dump: &str, needle: &str) -> Option<String> {
    found_in(dump, &dump.to_lowercase(), needle)
}

/// The same in `text`, whose lowercase form is `lower`.
fn found_in(text: &str, lower: &str, needle: &str) -> Option<String> {
    if lower.contains(&needle.to_lowercase()) {
        return Some("in clear".into());
    }
    let forms = encodings(needle);
    let (base64, hex) = forms.split_at(forms.len() - 1);
    if let Some(form) = base64.iter().find(|f| text.contains(f.as_str())) {
        return Some(format!("in base64 ({form})"));
    }
    lower.contains(&hex[0]).then(|| format!("in hex ({})", hex[0]))
}

/// Where `needle` (ASCII) shows in the raw `bytes` of a file (in clear whatever the case, base64
/// or hex in either case), if anywhere. The bytes are searched as text: a lossy conversion keeps
/// every ASCII byte where it was, and std's substring search is fast even in a debug build.
fn found_in_bytes(bytes: &[u8], needle: &str) -> Option<String> {
    assert!(needle.is_ascii(), "{needle}");
    let text = String::from_utf8_lossy(bytes);
    let lower = String::from_utf8_lossy(&bytes.to_ascii_lowercase()).into_owned();
    found_in(&text, &lower, needle)
}

/// Every file under `dir` (recursively), by path, with its bytes.
fn files_under(dir: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                files.insert(path.display().to_string(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// Panics naming the first secret found in `files`.
fn assert_no_bytes(files: &BTreeMap<String, Vec<u8>>, what: &str) {
    assert!(!files.is_empty(), "{what}: no file read");
    for (file, bytes) in files {
        for secret in SECRETS {
            if let Some(how) = found_in_bytes(bytes, secret) {
                panic!("{what}: {secret} is in file {file} ({} bytes), {how}", bytes.len());
            }
        }
    }
}

/// Whether `needle` is in some of `files`.
fn in_some_file(files: &BTreeMap<String, Vec<u8>>, needle: &str) -> bool {
    files.values().any(|bytes| found_in_bytes(bytes, needle).is_some())
}

fn assert_nowhere(dump: &BTreeMap<String, String>, what: &str) {
    for (table, text) in dump {
        for secret in SECRETS {
            if let Some(how) = found(text, secret) {
                panic!("{what}: {secret} is in table {table}, {how}");
            }
        }
    }
}

#[test]
fn the_search_finds_every_encoding() {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    for prefix in ["", "a", "ab", "abc"] {
        let embedded = format!("{prefix}{{\"name\": \"{EMAIL}\"}}");
        for text in [STANDARD.encode(&embedded), URL_SAFE.encode(&embedded)] {
            assert!(found(&format!("xx{text}yy"), EMAIL).is_some(), "{prefix:?}: {text}");
        }
        let hex: String = embedded.bytes().map(|b| format!("{b:02X}")).collect();
        assert!(found(&hex, EMAIL).is_some());
    }
    assert!(found("ZEPHIRINE", GIVEN).is_some());
    assert_eq!(found("rien de personnel", GIVEN), None);
    // the same in raw bytes, amid binary noise
    for prefix in ["", "a", "ab", "abc"] {
        let embedded = format!("{prefix}{{\"sub\": \"{SUB}\"}}");
        for text in [STANDARD.encode(&embedded), URL_SAFE.encode(&embedded)] {
            let bytes = [&[0u8, 0xff, 7][..], text.as_bytes(), &[0u8; 3]].concat();
            assert!(found_in_bytes(&bytes, SUB).is_some(), "{prefix:?}: {text}");
        }
        let hex: String = embedded.bytes().map(|b| format!("{b:02X}")).collect();
        assert!(found_in_bytes(hex.as_bytes(), SUB).is_some());
    }
    assert!(found_in_bytes(&[&[1u8, 2][..], b"zePHirine"].concat(), GIVEN).is_some());
    assert_eq!(found_in_bytes(&[0u8; 4096], GIVEN), None);
}

// ---------------------------------------------------------------------------------------------
// Dumps: every table, as text

/// Every row of every table of the PostgreSQL database, as text (`bytea` in hex), by table; and
/// `pg_dump --data-only` under `(pg_dump)` when it is on the PATH and fits the server.
async fn dump_postgres(db: &FreshDatabase) -> BTreeMap<String, String> {
    let tables: Vec<(String, String)> = sqlx::query_as(
        "select table_schema::text, table_name::text from information_schema.tables \
         where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema') order by 1, 2",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(tables.iter().any(|(_, t)| t == "person_keys"), "{tables:?}");
    let mut dump = BTreeMap::new();
    for (schema, table) in tables {
        // names from the catalog, quoted
        let sql = format!("select t::text from \"{schema}\".\"{table}\" t");
        let rows: Vec<String> = sqlx::query_scalar(&sql).fetch_all(&db.pool).await.unwrap();
        dump.insert(table, rows.join("\n"));
    }
    if let Ok(out) = std::process::Command::new("pg_dump").args(["--data-only", &db.url]).output()
        && out.status.success()
    {
        dump.insert("(pg_dump)".into(), String::from_utf8_lossy(&out.stdout).into_owned());
    }
    dump
}

/// The raw bytes of every file of the PostgreSQL database's directory (`base/<oid>/`): every
/// table, index, TOAST table and sequence, the system catalogs included (`pg_statistic` keeps
/// sampled values), the files of rewritten or dropped tables not yet unlinked, the free-space
/// and visibility maps; as they are once a `CHECKPOINT` wrote every dirty page. Read by the
/// server itself (`pg_ls_dir`, `pg_read_binary_file`: for a superuser, as the tests' database
/// user is), so the test needs neither the data directory's OS permissions nor the server on
/// this machine. By `file (relation)`. Not read: the cluster's WAL (`pg_wal`), which Carnet
/// cannot scrub (see `carnet_store::sealing`).
async fn raw_postgres(db: &FreshDatabase) -> BTreeMap<String, Vec<u8>> {
    sqlx::query("checkpoint").execute(&db.pool).await.expect("CHECKPOINT (the test database user is a superuser)");
    let dir: String = sqlx::query_scalar("select 'base/' || oid from pg_database where datname = current_database()")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let names: BTreeMap<String, String> = sqlx::query_as::<_, (String, String)>(
        "select pg_relation_filenode(oid)::text, relname::text from pg_class where pg_relation_filenode(oid) <> 0",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    // one round trip (a file unlinked meanwhile, a dropped table's at a checkpoint: null)
    let entries: Vec<(String, Option<Vec<u8>>)> = sqlx::query_as(
        "select f, case when (pg_stat_file($1 || '/' || f, true)).size is not null \
                        then pg_read_binary_file($1 || '/' || f) end \
         from pg_ls_dir($1) f order by f",
    )
    .bind(&dir)
    .fetch_all(&db.pool)
    .await
    .expect("read the database's files");
    let mut files = BTreeMap::new();
    for (entry, bytes) in entries {
        let node = entry.split(['_', '.']).next().unwrap_or_default();
        let relation = names.get(node).map_or("no relation now", String::as_str);
        if let Some(bytes) = bytes {
            files.insert(format!("{dir}/{entry} ({relation})"), bytes);
        }
    }
    assert!(files.keys().any(|f| f.ends_with("(person_keys)")), "{:?}", files.keys());
    files
}

/// Every row of every table of the SQLite database, each value through `quote()` (blobs in hex),
/// by table. A dump of the tables, as the issue asks: SQLite keeps deleted bytes in free pages
/// and in the WAL of the *file* until they are reused or `VACUUM`ed, which no dump shows.
async fn dump_sqlite(path: &std::path::Path) -> BTreeMap<String, String> {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path).read_only(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar("select name from sqlite_master where type = 'table' order by name")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(tables.iter().any(|t| t == "person_keys"), "{tables:?}");
    let mut dump = BTreeMap::new();
    for table in tables {
        let columns: Vec<String> = sqlx::query_scalar("select name from pragma_table_info(?) order by cid")
            .bind(&table)
            .fetch_all(&pool)
            .await
            .unwrap();
        let values: Vec<String> = columns.iter().map(|c| format!("quote(\"{c}\")")).collect();
        let sql = format!("select {} from \"{table}\"", values.join(" || ',' || "));
        let rows: Vec<String> = sqlx::query_scalar(&sql).fetch_all(&pool).await.unwrap();
        dump.insert(table, rows.join("\n"));
    }
    pool.close().await;
    dump
}

// ---------------------------------------------------------------------------------------------
// The scenario

struct Used {
    person: Value,
    project: Value,
    session: Value,
}

/// Registers the person, makes them holder of a project and facilitator of a session, updates
/// their profile once.
async fn register_and_use(app: &TestApp) -> Used {
    let team = app.token(Role::LabTeam, &[]);
    let profile = json!({ "givenName": GIVEN, "usualName": USUAL, "email": EMAIL, "academieCode": "20" });
    let registered =
        app.mutate(&team, "registerPerson", json!({ "profile": profile }), "person", "id displayName").await;
    assert_eq!(registered["displayName"], format!("{GIVEN} {USUAL}"));
    let person = registered["id"].clone();

    let submit = json!({ "title": "Des cours d'école végétalisés", "problemStatement": "Les cours sont des îlots de chaleur.",
                         "supportMode": "INCUBATION", "academieCodes": ["20"] });
    let project = app.mutate(&team, "submitProject", submit, "project", "id").await["id"].clone();
    let holder = json!({ "projectId": project, "personId": person, "role": "porteuse principale" });
    app.mutate(&team, "addProjectHolder", holder, "project", "id").await;

    let request = json!({ "title": "Atelier cours oasis", "format": "IDEATION", "objective": "Imaginer la cour de demain.",
                          "requester": { "organisation": "Rectorat de Lille", "kind": "ACADEMIE" }, "requestedOn": "2026-03-02" });
    let session = app.mutate(&team, "requestSession", request, "session", "id").await["id"].clone();
    app.mutate(&team, "startSessionScoping", json!({ "sessionId": session }), "session", "id").await;
    app.mutate(&team, "assignFacilitator", json!({ "sessionId": session, "personId": person }), "session", "id").await;

    let profile = json!({ "givenName": GIVEN, "usualName": NEW_USUAL, "email": EMAIL, "academieCode": "20" });
    let updated = app
        .mutate(&team, "updatePersonProfile", json!({ "personId": person, "profile": profile }), "person", "usualName")
        .await;
    assert_eq!(updated["usualName"], NEW_USUAL);
    Used { person, project, session }
}

/// What the API shows of the person, as the holder of the project and the facilitator of the
/// session.
async fn shown(app: &TestApp, used: &Used) -> (Value, Value, Value) {
    let team = app.token(Role::LabTeam, &[]);
    let res = app
        .graphql_as(
            Some(&team),
            "query($p: ID!, $j: ID!, $s: ID!) { person(id: $p) { displayName givenName email erased }
               project(id: $j) { holders { person { displayName } } }
               session(id: $s) { facilitators { displayName } } }",
            json!({ "p": used.person, "j": used.project, "s": used.session }),
        )
        .await;
    assert!(res["errors"].is_null(), "{res}");
    let data = &res["data"];
    (
        data["person"].clone(),
        data["project"]["holders"][0]["person"]["displayName"].clone(),
        data["session"]["facilitators"][0]["displayName"].clone(),
    )
}

/// Erases the person as an administrator: the reason is required and recorded; twice is
/// harmless; an unknown person is NOT_FOUND.
async fn erase(app: &TestApp, used: &Used) {
    let admin = app.token(Role::Admin, &[]);
    let doc = "mutation($input: ErasePersonInput!) { erasePerson(input: $input) { person { displayName erased } } }";
    let no_reason =
        app.graphql_as(Some(&admin), doc, json!({ "input": { "personId": used.person, "reason": " " } })).await;
    assert_eq!(no_reason["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "a reason is required: {no_reason}");
    let input = json!({ "personId": used.person, "reason": "Demande RGPD article 17 du 2026-05-12" });
    let team = app.token(Role::LabTeam, &[]);
    let refused = app.graphql_as(Some(&team), doc, json!({ "input": input })).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN", "administrators only: {refused}");
    for _ in 0..2 {
        let res = app.graphql_as(Some(&admin), doc, json!({ "input": input })).await;
        assert_eq!(res["data"]["erasePerson"]["person"], json!({ "displayName": ERASED, "erased": true }), "{res}");
    }
    let unknown = json!({ "personId": "UGVyc29uOjAxOWFhYWFhLWFhYWEtN2FhYS1hYWFhLWFhYWFhYWFhYWFhYQ", "reason": "x" });
    let res = app.graphql_as(Some(&admin), doc, json!({ "input": unknown })).await;
    assert_eq!(res["errors"][0]["extensions"]["code"], "NOT_FOUND", "{res}");
}

/// A token of the test provider for the person's identity.
fn provider_token() -> String {
    crate::tokens::token(jsonwebtoken::Algorithm::RS256, "rsa-1", &crate::tokens::claims(SUB))
}

/// An application whose tokens may come from the test provider as well.
async fn spawn_with_provider(url: &str) -> TestApp {
    spawn_app_with(url, |c| c.oidc = vec![crate::tokens::provider(crate::tokens::ISSUER)]).await
}

/// The administrator links the provider identity `(ISSUER, SUB)` to the person; the person logs
/// in with it (the access log records the request under that subject).
async fn link_and_log_in(app: &TestApp, used: &Used) {
    let admin = app.token(Role::Admin, &[]);
    let link = json!({ "personId": used.person, "issuer": crate::tokens::ISSUER, "sub": SUB });
    app.mutate(&admin, "linkPersonIdentity", link, "person", "id").await;
    let me = app.graphql_as(Some(&provider_token()), "{ me { sub issuer } }", json!({})).await;
    assert_eq!(me["data"]["me"], json!({ "sub": SUB, "issuer": crate::tokens::ISSUER }), "the identity logs in: {me}");
}

/// Whether the identity's token is accepted.
async fn logs_in(app: &TestApp) -> bool {
    let res = app
        .post_graphql()
        .header("content-type", "application/json")
        .bearer_auth(provider_token())
        .body(json!({ "query": "{ me { sub } }" }).to_string())
        .send()
        .await
        .expect("request");
    res.status() == 200
}

/// The person's `history` (as ADMIN, who sees personal data) and the whole `events` feed (as
/// AUDITOR), as JSON text, and the payloads of the person's `PersonIdentityLinked` and
/// `PersonErased` (if any) in the history, with the reason.
async fn log_as_shown(app: &TestApp, used: &Used) -> (String, String, Value, Value) {
    let fields = "edges { node { type entityId actor { id issuer } reason payload } }";
    let admin = app.token(Role::Admin, &[]);
    let doc = format!("query($id: ID!) {{ history(id: $id, first: 100) {{ {fields} }} }}");
    let history = app.graphql_as(Some(&admin), &doc, json!({ "id": used.person })).await;
    assert!(history["errors"].is_null(), "{history}");
    let auditor = app.token(Role::Auditor, &[]);
    let events = app.graphql_as(Some(&auditor), &format!("{{ events(first: 100) {{ {fields} }} }}"), json!({})).await;
    assert!(events["errors"].is_null(), "{events}");
    let edges = history["data"]["history"]["edges"].as_array().expect("edges").clone();
    let of = |t: &str| edges.iter().map(|e| e["node"].clone()).find(|n| n["type"] == t).unwrap_or(Value::Null);
    (history.to_string(), events.to_string(), of("PersonIdentityLinked"), of("PersonErased"))
}

async fn check_erased(app: &TestApp, used: &Used) {
    let (person, holder, facilitator) = shown(app, used).await;
    assert_eq!(person, json!({ "displayName": ERASED, "givenName": null, "email": null, "erased": true }));
    assert_eq!((holder.as_str(), facilitator.as_str()), (Some(ERASED), Some(ERASED)));
}

/// Before the erasure: the identity opens for whoever sees personal data, is masked for an
/// auditor, and is sealed in the log; the access log holds the subject (waited for: it is
/// written off the request path).
async fn check_before(app: &TestApp, used: &Used, access_log: impl AsyncFn() -> String) {
    // the feed shows an event once no transaction still open on the server can precede it
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let (history, events, linked, _) = loop {
        let shown = log_as_shown(app, used).await;
        if shown.1.contains("PersonIdentityLinked") || std::time::Instant::now() > deadline {
            break shown;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(linked["payload"]["identity"], json!({ "issuer": crate::tokens::ISSUER, "sub": SUB }), "{history}");
    assert!(events.contains("PersonIdentityLinked") && !events.contains(SUB), "masked for the auditor: {events}");
    assert!(events.contains("Données personnelles masquées"), "{events}");
    for _ in 0..100 {
        if found(&access_log().await, SUB).is_some() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the access log never recorded the identity's request");
}

/// After the erasure: nothing of the person in `history` or `events`, the identity event reads
/// as erased, the erasure shows its reason, and the identity no longer logs in.
async fn check_log_after(app: &TestApp, used: &Used) {
    let (history, events, linked, erased) = log_as_shown(app, used).await;
    for secret in SECRETS {
        assert_eq!(found(&history, secret), None, "{secret} in history: {history}");
        assert_eq!(found(&events, secret), None, "{secret} in events: {events}");
    }
    assert_eq!(linked["payload"]["identity"], ERASED, "{history}");
    assert_eq!(erased["reason"], "Demande RGPD article 17 du 2026-05-12", "{history}");
    assert!(!logs_in(app).await, "an erased identity does not log in");
}

#[tokio::test]
async fn after_erasure_a_dump_of_every_postgres_table_holds_nothing_of_the_person() {
    let db = FreshDatabase::create().await;
    let app = spawn_with_provider(&db.url).await;
    let used = register_and_use(&app).await;
    let (person, holder, _) = shown(&app, &used).await;
    assert_eq!(person["displayName"], format!("{GIVEN} {NEW_USUAL}"));
    assert_eq!(holder, format!("{GIVEN} {NEW_USUAL}"));
    link_and_log_in(&app, &used).await;
    check_before(&app, &used, async || dump_postgres(&db).await["access_log"].clone()).await;

    // before: the read model holds the name and the identity (the dump reads it), the log never does
    let before = dump_postgres(&db).await;
    assert!(found(&before["person"], GIVEN).is_some() && found(&before["person"], EMAIL).is_some(), "{before:?}");
    assert!(found(&before["person_identity"], SUB).is_some(), "{before:?}");
    assert_eq!(before["person_keys"].lines().count(), 1, "their data key, wrapped");
    let events = &before["events"];
    assert!(events.contains("PersonProfileUpdated") && events.contains("sealed"), "{events}");
    for secret in SECRETS {
        assert_eq!(found(events, secret), None, "{secret} in the log before erasure");
        assert_eq!(found(&before["snapshots"], secret), None, "{secret} in a snapshot");
    }
    // and the database's files hold them: the search of raw bytes finds what is there
    let files = raw_postgres(&db).await;
    for secret in [GIVEN, EMAIL, SUB] {
        assert!(in_some_file(&files, secret), "{secret} in no relation file before erasure");
    }

    erase(&app, &used).await;
    check_erased(&app, &used).await;
    let after = dump_postgres(&db).await;
    assert_nowhere(&after, "after erasure");
    assert!(after["events"].contains("Demande RGPD article 17"), "the reason is recorded, in the log");
    assert_eq!(after["person_keys"], "", "their key went with the erasure");
    assert!(after["access_log"].contains(&person_uuid(&used)), "the access log names them by opaque id");
    check_log_after(&app, &used).await;
    // the server vacuumed the tables that held the person: once checkpointed, the files are clean
    assert_no_bytes(&raw_postgres(&db).await, "relation files after erasure");

    // the log was not touched: every hash chain still verifies (the hash covers the sealed form)
    let store = carnet_api::startup::open_store(&db.url).await.expect("store");
    carnet_store::integrity::seal_pending(&store).await.expect("seal");
    let report = carnet_store::integrity::verify(&store, |_| {}).await.expect("verify");
    assert!(matches!(report, carnet_store::integrity::Report::Intact(_)), "{report:?}");

    // a rebuild of every read model from the log brings nothing back
    let dir = TempDir::new();
    let keys = env_of(&MasterKeysConfig::of(&test_master_keys()));
    let out = carnet_with(&["rebuild"], &db.url, dir.path(), &keys);
    assert!(out.status.success(), "{}", out.stderr);
    check_erased(&app, &used).await;
    assert_nowhere(&dump_postgres(&db).await, "after a rebuild");
    assert_no_bytes(&raw_postgres(&db).await, "relation files after a rebuild");
    check_log_after(&app, &used).await;
}

/// The uuid inside the person's GraphQL id (`Person:<uuid>` in base64url).
fn person_uuid(used: &Used) -> String {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(used.person.as_str().expect("an id")).unwrap();
    String::from_utf8(raw).unwrap().trim_start_matches("Person:").to_owned()
}

#[tokio::test]
async fn after_erasure_no_file_of_the_sqlite_data_folder_holds_anything_of_the_person() {
    let dir = TempDir::new();
    let file = dir.path().join("carnet.db");
    let url = format!("sqlite://{}", file.display());
    let app = spawn_with_provider(&url).await;
    let used = register_and_use(&app).await;
    link_and_log_in(&app, &used).await;
    check_before(&app, &used, async || dump_sqlite(&file).await["access_log"].clone()).await;

    let before = dump_sqlite(&file).await;
    assert!(found(&before["person"], GIVEN).is_some(), "the dump reads the read model: {before:?}");
    assert!(found(&before["person_identity"], SUB).is_some(), "{before:?}");
    for secret in SECRETS {
        assert_eq!(found(&before["events"], secret), None, "{secret} in the log before erasure");
    }
    // the raw files (the database, its WAL) hold them: the search finds what is there
    let files = files_under(dir.path());
    assert!(files.keys().any(|f| f.ends_with("carnet.db-wal")), "{:?}", files.keys());
    for secret in [GIVEN, EMAIL, SUB] {
        assert!(in_some_file(&files, secret), "{secret} in no file before erasure: {:?}", files.keys());
    }

    erase(&app, &used).await;
    check_erased(&app, &used).await;
    assert_nowhere(&dump_sqlite(&file).await, "after erasure");
    assert_no_bytes(&files_under(dir.path()), "the data folder after erasure");
    check_log_after(&app, &used).await;

    // a rebuild, whose table swap frees the old tables' pages, leaves nothing either. What
    // `carnet rebuild` runs, run here, on a second store beside the server's: SQLite has one
    // writer, and a second one is told "database is locked" now and then (a deferred transaction
    // that cannot become a writer): tried again, as an operator would
    let store = carnet_api::startup::open_store(&url).await.expect("store");
    let codec = std::sync::Arc::new(carnet_lab::codec::carnet_codec().with_master_keys(test_master_keys()));
    for attempt in 1.. {
        match carnet_projections::rebuild_with(&store, codec.clone(), None, 1_000, &mut |_| {}).await {
            Ok(_) => break,
            Err(e) if attempt < 10 && format!("{e:?}").contains("database is locked") => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => panic!("rebuild: {e:?}"),
        }
    }
    check_erased(&app, &used).await;
    assert_nowhere(&dump_sqlite(&file).await, "after a rebuild");
    assert_no_bytes(&files_under(dir.path()), "the data folder after a rebuild");
    check_log_after(&app, &used).await;
}

/// An identity linked before identities were sealed stays in the log as written (its hash covers
/// it), and reads as before; once the person is erased, `history` and `events` show it erased.
#[tokio::test]
async fn an_identity_linked_in_clear_before_sealing_reads_as_erased_after_erasure() {
    use carnet_store::EventStore;
    let (db, app) = fresh_app().await;
    let used = register_and_use(&app).await;
    // the old way: the event appended with its identity in clear, as Carnet wrote identities
    // before, the inline projections included
    let store = carnet_store::AnyStore::connect(&db.url).await.expect("store");
    let codec = std::sync::Arc::new(carnet_lab::codec::carnet_codec().with_master_keys(test_master_keys()));
    let inline = carnet_projections::InlineProjections::new(codec);
    let person = uuid::Uuid::parse_str(&person_uuid(&used)).unwrap();
    let linked = carnet_store::NewEvent::new(
        "PersonIdentityLinked",
        json!({ "identity": { "issuer": "https://old.example.gouv.fr", "sub": SUB } }),
    );
    let actor = carnet_store::Actor { id: "seed".into(), issuer: "carnet-test".into() };
    let stream = carnet_store::StreamId::new("person", person);
    store
        .append_with(
            carnet_store::StreamAppend {
                stream: &stream,
                expected: carnet_store::ExpectedVersion::Any,
                events: &[linked],
                metadata: &carnet_store::Metadata::new(actor),
            },
            Some(&inline),
        )
        .await
        .expect("link");
    let stored: i64 = sqlx::query_scalar("select count(*) from events where payload::text like $1")
        .bind(format!("%{SUB}%"))
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 1, "written in clear, as before");
    let (history, _, linked, _) = log_as_shown(&app, &used).await;
    assert_eq!(linked["payload"]["identity"]["sub"], SUB, "it reads as before: {history}");

    erase(&app, &used).await;
    let (history, events, linked, _) = log_as_shown(&app, &used).await;
    assert_eq!(linked["payload"]["identity"], ERASED, "{history}");
    assert!(!history.contains(SUB) && !events.contains(SUB), "{history}\n{events}");
}

// ---------------------------------------------------------------------------------------------
// Master-key rotation, with the binary

/// `CARNET_MASTER_KEYS` for `config`.
fn env_of(config: &MasterKeysConfig) -> String {
    let keys: Vec<String> = config.keys.iter().map(|(id, key)| format!("{id}=\"{}\"", key.expose())).collect();
    format!("{{current=\"{}\",keys={{{}}}}}", config.current, keys.join(","))
}

/// Runs `carnet args…` in `dir` with `CARNET_MASTER_KEYS=master_keys`.
fn carnet_with(args: &[&str], url: &str, dir: &std::path::Path, master_keys: &str) -> Output {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carnet"))
        .args(args)
        .env("CARNET_DATABASE_URL", url)
        .env("CARNET_MASTER_KEYS", master_keys)
        .env("RUST_LOG", "warn")
        .current_dir(dir)
        .output()
        .expect("run carnet");
    Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn an_operator_rotates_the_master_key_then_retires_the_old_one() {
    let db = FreshDatabase::create().await;
    let k1 = MasterKeysConfig::of(&MasterKeys::generate("k1"));
    let app = spawn_app_with(&db.url, |c| c.master_keys = Some(k1.clone())).await;
    let kept = register_and_use(&app).await;
    let erased = register_and_use(&app).await;
    erase(&app, &erased).await;

    let k2 = MasterKeysConfig::of(&MasterKeys::generate("k2"));
    let only_k2 = env_of(&k2);
    let mut both = k2.clone();
    both.keys.extend(k1.keys.clone());
    let both = env_of(&both);
    let secrets = [k1.keys["k1"].expose(), k2.keys["k2"].expose()];
    let dir = TempDir::new();

    // before rotation, k1 cannot go: reading the log fails, naming it, printing no key
    let out = carnet_with(&["rebuild", "people"], &db.url, dir.path(), &only_k2);
    assert!(!out.status.success(), "{}", out.stdout);
    assert!(out.stderr.contains("master key `k1` is not configured"), "{}", out.stderr);
    assert!(secrets.iter().all(|k| !out.stderr.contains(k) && !out.stdout.contains(k)), "a key was printed");
    let out = carnet_with(&["rotate-master-key"], &db.url, dir.path(), &only_k2);
    assert!(!out.status.success() && out.stderr.contains("`k1`"), "{}", out.stderr);

    // rotation re-wraps the one live key (the erased person's is gone for good)
    let out = carnet_with(&["rotate-master-key"], &db.url, dir.path(), &both);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout.contains("1 data key(s) re-wrapped with master key `k2`, 0 already were"), "{}", out.stdout);
    let wrapped_by: Vec<String> =
        sqlx::query_scalar("select master_key_id from person_keys").fetch_all(&db.pool).await.unwrap();
    assert_eq!(wrapped_by, ["k2"]);
    assert!(secrets.iter().all(|k| !out.stdout.contains(k) && !out.stderr.contains(k)));

    // after it, k1 may go: everything still opens with k2 alone
    let out = carnet_with(&["rebuild", "people"], &db.url, dir.path(), &only_k2);
    assert!(out.status.success(), "{}", out.stderr);
    let (person, _, _) = shown(&app, &kept).await;
    assert_eq!(person["displayName"], format!("{GIVEN} {NEW_USUAL}"), "rebuilt from the log with k2 alone");
    check_erased(&app, &erased).await;
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no key file made with configured keys");
}
