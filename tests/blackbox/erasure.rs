//! Erasure by crypto-shredding, end to end (DESIGN §3.2, issue 5 point 4): a person registered,
//! made holder of a project and facilitator of a session, whose profile was updated, then
//! erased, leaves nothing of their name or email in a dump of every table of the database, in
//! clear, in base64 or in hex. Before erasure, the same dump finds the name in the read model
//! (the dump reads what it should) but never in the log. Master keys rotate with the binary.

use crate::support::*;
use carnet_api::master_keys::MasterKeysConfig;
use carnet_domain::person::Role;
use carnet_store::MasterKeys;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const GIVEN: &str = "Zephirine";
const USUAL: &str = "Quenouillard";
const NEW_USUAL: &str = "Quenouillard-Vasseur";
const EMAIL: &str = "zephirine.quenouillard@ac-lille.fr";

/// Everything that must not survive the erasure.
const SECRETS: [&str; 4] = [GIVEN, USUAL, NEW_USUAL, EMAIL];

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
    let lower = dump.to_lowercase();
    if lower.contains(&needle.to_lowercase()) {
        return Some("in clear".into());
    }
    let forms = encodings(needle);
    let (base64, hex) = forms.split_at(forms.len() - 1);
    if let Some(form) = base64.iter().find(|f| dump.contains(f.as_str())) {
        return Some(format!("in base64 ({form})"));
    }
    lower.contains(&hex[0]).then(|| format!("in hex ({})", hex[0]))
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
}

// ---------------------------------------------------------------------------------------------
// Dumps: every table, as text

/// Every row of every table of the PostgreSQL database, as text (`bytea` in hex), by table; and
/// `pg_dump --data-only` under `(pg_dump)` when it is on the PATH and fits the server.
async fn dump_postgres(db: &FreshPostgres) -> BTreeMap<String, String> {
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

async fn mutate(app: &TestApp, token: &str, name: &str, input: Value, fields: &str) -> Value {
    let input_type = format!("{}{}Input", name[..1].to_uppercase(), &name[1..]);
    let doc = format!("mutation($input: {input_type}!) {{ {name}(input: $input) {{ {fields} }} }}");
    let res = app.graphql_as(Some(token), &doc, json!({ "input": input })).await;
    assert!(res["errors"].is_null(), "{name}: {res}");
    res["data"][name].clone()
}

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
        mutate(app, &team, "registerPerson", json!({ "profile": profile }), "person { id displayName }").await;
    assert_eq!(registered["person"]["displayName"], format!("{GIVEN} {USUAL}"));
    let person = registered["person"]["id"].clone();

    let submit = json!({ "title": "Des cours d'école végétalisés", "problemStatement": "Les cours sont des îlots de chaleur.",
                         "supportMode": "INCUBATION", "academieCodes": ["20"] });
    let project = mutate(app, &team, "submitProject", submit, "project { id }").await["project"]["id"].clone();
    let holder = json!({ "projectId": project, "personId": person, "role": "porteuse principale" });
    mutate(app, &team, "addProjectHolder", holder, "project { id }").await;

    let request = json!({ "title": "Atelier cours oasis", "format": "IDEATION", "objective": "Imaginer la cour de demain.",
                          "requester": { "organisation": "Rectorat de Lille", "kind": "ACADEMIE" }, "requestedOn": "2026-03-02" });
    let session = mutate(app, &team, "requestSession", request, "session { id }").await["session"]["id"].clone();
    mutate(app, &team, "startSessionScoping", json!({ "sessionId": session }), "session { id }").await;
    mutate(app, &team, "assignFacilitator", json!({ "sessionId": session, "personId": person }), "session { id }")
        .await;

    let profile = json!({ "givenName": GIVEN, "usualName": NEW_USUAL, "email": EMAIL, "academieCode": "20" });
    let updated = mutate(
        app,
        &team,
        "updatePersonProfile",
        json!({ "personId": person, "profile": profile }),
        "person { usualName }",
    )
    .await;
    assert_eq!(updated["person"]["usualName"], NEW_USUAL);
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

async fn check_erased(app: &TestApp, used: &Used) {
    let (person, holder, facilitator) = shown(app, used).await;
    assert_eq!(person, json!({ "displayName": ERASED, "givenName": null, "email": null, "erased": true }));
    assert_eq!((holder.as_str(), facilitator.as_str()), (Some(ERASED), Some(ERASED)));
}

#[tokio::test]
async fn after_erasure_a_dump_of_every_postgres_table_holds_nothing_of_the_person() {
    let db = fresh_postgres().await;
    let app = spawn_app(&db.url).await;
    let used = register_and_use(&app).await;
    let (person, holder, _) = shown(&app, &used).await;
    assert_eq!(person["displayName"], format!("{GIVEN} {NEW_USUAL}"));
    assert_eq!(holder, format!("{GIVEN} {NEW_USUAL}"));

    // before: the read model holds the name (the dump reads it), the log never does
    let before = dump_postgres(&db).await;
    assert!(found(&before["person"], GIVEN).is_some() && found(&before["person"], EMAIL).is_some(), "{before:?}");
    assert_eq!(before["person_keys"].lines().count(), 1, "their data key, wrapped");
    let events = &before["events"];
    assert!(events.contains("PersonProfileUpdated") && events.contains("sealed"), "{events}");
    for secret in SECRETS {
        assert_eq!(found(events, secret), None, "{secret} in the log before erasure");
        assert_eq!(found(&before["snapshots"], secret), None, "{secret} in a snapshot");
    }

    erase(&app, &used).await;
    check_erased(&app, &used).await;
    let after = dump_postgres(&db).await;
    assert_nowhere(&after, "after erasure");
    assert!(after["events"].contains("Demande RGPD article 17"), "the reason is recorded, in the log");
    assert_eq!(after["person_keys"], "", "their key went with the erasure");

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
}

#[tokio::test]
async fn after_erasure_a_dump_of_every_sqlite_table_holds_nothing_of_the_person() {
    let dir = TempDir::new();
    let file = dir.path().join("carnet.db");
    let app = spawn_app(&format!("sqlite://{}", file.display())).await;
    let used = register_and_use(&app).await;

    let before = dump_sqlite(&file).await;
    assert!(found(&before["person"], GIVEN).is_some(), "the dump reads the read model: {before:?}");
    for secret in SECRETS {
        assert_eq!(found(&before["events"], secret), None, "{secret} in the log before erasure");
    }

    erase(&app, &used).await;
    check_erased(&app, &used).await;
    assert_nowhere(&dump_sqlite(&file).await, "after erasure");
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
    let db = fresh_postgres().await;
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
