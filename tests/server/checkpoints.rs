//! Signed checkpoints of the log's Merkle tree (issue 12), as the server serves them: `GET
//! /checkpoint` soon after a mutation, a signature `openssl` verifies with the key `GET
//! /checkpoint/key` gives, and a log that goes back behind the server's last checkpoint failing
//! `/readyz` and `integrity`, on both backends.

use crate::support::*;
use base64::Engine;
use carnet_domain::person::Role;
use carnet_store::integrity::checkpoint::{self, CheckpointVerifier};
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

const SUBMIT: &str = "mutation($t: String!) { submitProject(input: { title: $t, problemStatement: \"Un problème réel.\", \
                      supportMode: INCUBATION, academieCodes: [\"17\"] }) { project { id } } }";

const INTEGRITY: &str = "{ integrity { intact breach { kind message } } }";

/// Events in the log now.
async fn events(app: &TestApp, auditor: &str) -> u64 {
    let res = app.graphql_as(Some(auditor), "{ events(first: 1) { totalCount } }", json!({})).await;
    res["data"]["events"]["totalCount"].as_u64().unwrap_or_else(|| panic!("{res}"))
}

/// The checkpoint served once it covers `size` events or more (the checkpointer runs every
/// second; a deadline, not a timing claim: the latency is measured in BENCHMARKS.md).
pub(crate) async fn served_checkpoint(app: &TestApp, size: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let res = app.get("/checkpoint").await;
        if res.status() == 200 {
            let note = res.text().await.expect("body");
            let served: u64 = note.lines().nth(1).and_then(|l| l.parse().ok()).unwrap_or_else(|| panic!("{note}"));
            if served >= size {
                return note;
            }
        }
        assert!(Instant::now() < deadline, "no checkpoint of {size} events served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Verifies `note`'s signature with the `openssl` command alone, from the verifier key: the
/// signed message is the note's text (its first three lines), the signature the base64 of the
/// signature line without its 4-byte key id.
fn openssl_verifies(note: &str, verifier_key: &str) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let (text, signatures) = note.split_once("\n\n").expect("a signed note");
    let signature = signatures.lines().next().and_then(|l| l.rsplit(' ').next()).expect("a signature line");
    let signature = b64.decode(signature).expect("base64");
    let public = b64.decode(verifier_key.trim().splitn(3, '+').nth(2).expect("the key")).expect("base64");
    assert_eq!((signature.len(), public.len(), public[0]), (68, 33, 1), "Ed25519: id + 64 bytes; type 1 + 32 bytes");
    // SubjectPublicKeyInfo of an Ed25519 key (RFC 8410), then the key
    let mut spki = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
    spki.extend_from_slice(&public[1..]);
    let dir = TempDir::new();
    std::fs::write(dir.path().join("key.der"), &spki).unwrap();
    std::fs::write(dir.path().join("message"), format!("{text}\n")).unwrap();
    std::fs::write(dir.path().join("signature"), &signature[4..]).unwrap();
    let out = Command::new("openssl")
        .current_dir(dir.path())
        .args(["pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", "key.der", "-rawin"])
        .args(["-in", "message", "-sigfile", "signature"])
        .output()
        .expect("openssl (apt-get install openssl)");
    out.status.success()
}

async fn served_checkpoints_verify_with_openssl_and_cover_each_mutation(url: &str) {
    let app = spawn_app_with(url, |c| c.demo_data = Some(false)).await;
    let team = app.token(Role::LabTeam, &[]);
    let auditor = app.token(Role::Auditor, &[]);
    let key = app.get("/checkpoint/key").await.text().await.expect("key");
    let verifier = CheckpointVerifier::new(&key).expect("a verifier key");
    assert_eq!(verifier.origin(), "carnet.test/log");
    let mut sizes = vec![];
    for title in ["Premier projet", "Deuxième projet"] {
        let res = app.graphql_as(Some(&team), SUBMIT, json!({ "t": title })).await;
        assert!(res["errors"].is_null(), "{res}");
        let size = events(&app, &auditor).await;
        let note = served_checkpoint(&app, size).await;
        let opened = checkpoint::open(&note, &verifier).expect("the served checkpoint verifies");
        assert!(opened.size >= size);
        assert!(openssl_verifies(&note, &key), "openssl refuses the signature of\n{note}");
        assert!(!openssl_verifies(&note.replacen(&format!("\n{}\n", opened.size), "\n1\n", 1), &key), "a forged size");
        sizes.push(opened.size);
    }
    assert!(sizes[1] > sizes[0], "{sizes:?}");
    let res = app.graphql_as(Some(&auditor), INTEGRITY, json!({})).await;
    assert_eq!(res["data"]["integrity"]["intact"], true, "{res}");

    // an auditor keeps the checkpoint, and later checks the log against it with the key alone
    let dir = TempDir::new();
    let kept = dir.path().join("checkpoint.txt");
    std::fs::write(&kept, app.get("/checkpoint").await.text().await.unwrap()).unwrap();
    let args = ["verify", "--checkpoint", kept.to_str().unwrap(), "--key", key.trim()];
    let out = carnet_beside(&args, url, Some(dir.path())).await;
    assert!(out.status.success() && out.stdout.contains("holds"), "{}{}", out.stdout, out.stderr);
    let forged = dir.path().join("forged.txt");
    std::fs::write(&forged, std::fs::read_to_string(&kept).unwrap().replacen("\n", "\n1", 1)).unwrap();
    let out = carnet_beside(
        &["verify", "--checkpoint", forged.to_str().unwrap(), "--key", key.trim()],
        url,
        Some(dir.path()),
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "a forged checkpoint is refused before anything: {}{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stderr.contains("not signed by"), "{}", out.stderr);
}

#[tokio::test]
async fn served_checkpoints_verify_with_openssl_and_cover_each_mutation_on_postgres() {
    let db = FreshDatabase::create().await;
    served_checkpoints_verify_with_openssl_and_cover_each_mutation(&db.url).await;
}

#[tokio::test]
async fn served_checkpoints_verify_with_openssl_and_cover_each_mutation_on_sqlite() {
    let dir = TempDir::new();
    served_checkpoints_verify_with_openssl_and_cover_each_mutation(&format!(
        "sqlite://{}",
        dir.path().join("carnet.db").display()
    ))
    .await;
}

/// An older copy of the database put back behind the server (the newest event gone, with the
/// tree, the checkpoints, the seals and the read-model rows that covered it, as a restored dump
/// has them), and the server restarted: the log is shorter than the last checkpoint the server
/// issued, which it kept outside the database. It is not ready, `integrity` names the sizes, and
/// it signs no checkpoint of the shorter log.
async fn a_log_rolled_back_behind_the_last_checkpoint_is_not_whole(url: &str, run_sql: impl AsyncFn(&str)) {
    let dir = TempDir::new();
    let key_file = dir.path().join("checkpoint-key").display().to_string();
    let config = |c: &mut carnet_api::config::Config| {
        c.demo_data = Some(false);
        c.checkpoints.key_file = key_file.clone();
    };
    let before = spawn_app_with(url, config).await;
    let team = before.token(Role::LabTeam, &[]);
    for title in ["Avant la sauvegarde", "Après la sauvegarde"] {
        let res = before.graphql_as(Some(&team), SUBMIT, json!({ "t": title })).await;
        assert!(res["errors"].is_null(), "{res}");
    }
    let size = events(&before, &before.token(Role::Auditor, &[])).await;
    served_checkpoint(&before, size).await;
    let latest = std::path::PathBuf::from(format!("{key_file}.latest"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&latest).is_ok_and(|n| n.lines().nth(1) == Some(size.to_string().as_str())) {
        assert!(Instant::now() < deadline, "the server does not remember its checkpoint of {size} events");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(before);

    let newest = "(select max(global_position) from events)";
    let newest_project = format!("(select id from project where last_position = {newest})");
    let mut rollback = vec![
        "delete from log_tree_nodes".to_owned(),
        "delete from log_leaves".to_owned(),
        "update log_tree set size = 0, last_transaction_id = 0, last_global_position = 0".to_owned(),
        "delete from checkpoints".to_owned(),
        "delete from seals".to_owned(),
        "delete from log_extent".to_owned(),
    ];
    for child in ["project_phase", "project_holder", "project_academie", "project_establishment", "project_theme"] {
        rollback.push(format!("delete from {child} where project_id = {newest_project}"));
    }
    rollback.push(format!("delete from project where id = {newest_project}"));
    rollback.push(format!("delete from events where global_position = {newest}"));
    for sql in rollback {
        run_sql(&sql).await;
    }

    let after = spawn_app_with(url, config).await;
    let res = after.get("/readyz").await;
    assert_eq!(res.status(), 503, "ready on a rolled-back log");
    let body = res.text().await.expect("body");
    assert!(
        body.contains(&format!("fewer than the {size}")) && body.contains("last checkpoint this server issued"),
        "{body}"
    );
    let res = after.graphql_as(Some(&after.token(Role::Auditor, &[])), INTEGRITY, json!({})).await;
    assert_eq!(res["data"]["integrity"]["intact"], false, "{res}");
    assert_eq!(res["data"]["integrity"]["breach"]["kind"], "CheckpointDiffers", "{res}");
    let message = res["data"]["integrity"]["breach"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("holds {} events, fewer than the {size}", size - 1)),
        "names the sizes: {message}"
    );
    // and it signs nothing of the shorter history, however long it runs
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(after.get("/checkpoint").await.status(), 404, "a checkpoint of the rolled-back log was signed");
}

#[tokio::test]
async fn a_log_rolled_back_behind_the_last_checkpoint_is_not_whole_on_postgres() {
    let db = FreshDatabase::create().await;
    let pool = db.pool.clone();
    a_log_rolled_back_behind_the_last_checkpoint_is_not_whole(&db.url, async |sql: &str| {
        sqlx::query(sql).execute(&pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    })
    .await;
}

#[tokio::test]
async fn a_log_rolled_back_behind_the_last_checkpoint_is_not_whole_on_sqlite() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.path().join("carnet.db").display());
    let pool = sqlx::SqlitePool::connect_lazy(&format!("{url}?mode=rwc")).expect("sqlite");
    a_log_rolled_back_behind_the_last_checkpoint_is_not_whole(&url, async |sql: &str| {
        sqlx::query(sql).execute(&pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    })
    .await;
}

const PROOFS: &str = "query($position: Int!, $from: Int!) {
  inclusionProof(globalPosition: $position) { globalPosition eventHash leafIndex treeSize hashes receipt checkpoint { treeSize rootHash note } }
  consistencyProof(fromSize: $from) { fromSize toSize hashes checkpoint { treeSize rootHash } }
}";

/// An auditor gets an event's inclusion proof and receipt, and a consistency proof; the receipt
/// verifies with the public key alone, and no longer does once the event was tampered with.
async fn receipts_verify_with_the_public_key_alone(url: &str, run_sql: impl AsyncFn(&str)) {
    let app = spawn_app_with(url, |c| c.demo_data = Some(false)).await;
    let team = app.token(Role::LabTeam, &[]);
    let auditor = app.token(Role::Auditor, &[]);
    for title in ["Premier", "Deuxième", "Troisième"] {
        let res = app.graphql_as(Some(&team), SUBMIT, json!({ "t": title })).await;
        assert!(res["errors"].is_null(), "{res}");
    }
    let size = events(&app, &auditor).await;
    served_checkpoint(&app, size).await;
    let key = app.get("/checkpoint/key").await.text().await.expect("key");
    let verifier = CheckpointVerifier::new(&key).expect("key");
    let feed =
        app.graphql_as(Some(&auditor), "{ events(first: 100) { edges { node { globalPosition } } } }", json!({})).await;
    let positions: Vec<i64> = feed["data"]["events"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{feed}"))
        .iter()
        .map(|e| e["node"]["globalPosition"].as_i64().unwrap())
        .collect();
    let target = positions[1];
    let res = app.graphql_as(Some(&auditor), PROOFS, json!({ "position": target, "from": 1 })).await;
    assert!(res["errors"].is_null(), "{res}");
    let proof = &res["data"]["inclusionProof"];
    assert_eq!((proof["globalPosition"].as_i64(), proof["leafIndex"].as_u64()), (Some(target), Some(1)), "{res}");
    let receipt = proof["receipt"].as_str().unwrap();
    assert!(receipt.starts_with("c2sp.org/tlog-proof@v1\nextra "), "{receipt}");
    let verified = checkpoint::verify_receipt(receipt, &verifier).expect("the receipt verifies with the public key");
    assert_eq!(verified.index, 1);
    assert_eq!(carnet_store::integrity::to_hex(&verified.event_hash), proof["eventHash"].as_str().unwrap());
    let consistency = &res["data"]["consistencyProof"];
    assert_eq!(consistency["toSize"], proof["treeSize"], "{res}");
    assert!(consistency["hashes"].as_array().is_some_and(|h| !h.is_empty()), "{res}");

    // others may not; a size no checkpoint has is refused, naming the rule
    let denied = app.graphql_as(Some(&team), PROOFS, json!({ "position": target, "from": 1 })).await;
    assert_eq!(denied["errors"][0]["extensions"]["code"], "FORBIDDEN", "{denied}");
    let q = "query($p: Int!) { inclusionProof(globalPosition: $p, treeSize: 999999) { leafIndex } }";
    let res = app.graphql_as(Some(&auditor), q, json!({ "p": target })).await;
    assert_eq!(res["errors"][0]["extensions"]["rule"], "proof.no_checkpoint_of_size", "{res}");

    // the event's hash changed in the database: a receipt fetched now no longer verifies
    run_sql(&format!("update events set hash = prev_hash where global_position = {target}")).await;
    let res = app.graphql_as(Some(&auditor), PROOFS, json!({ "position": target, "from": 1 })).await;
    let receipt = res["data"]["inclusionProof"]["receipt"].as_str().unwrap_or_else(|| panic!("{res}"));
    let refused = checkpoint::verify_receipt(receipt, &verifier).unwrap_err().to_string();
    assert!(refused.contains("the proof does not hold"), "{refused}");
}

#[tokio::test]
async fn receipts_verify_with_the_public_key_alone_on_postgres() {
    let db = FreshDatabase::create().await;
    let pool = db.pool.clone();
    receipts_verify_with_the_public_key_alone(&db.url, async |sql: &str| {
        sqlx::query(sql).execute(&pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    })
    .await;
}

#[tokio::test]
async fn receipts_verify_with_the_public_key_alone_on_sqlite() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.path().join("carnet.db").display());
    let pool = sqlx::SqlitePool::connect_lazy(&format!("{url}?mode=rwc")).expect("sqlite");
    receipts_verify_with_the_public_key_alone(&url, async |sql: &str| {
        sqlx::query(sql).execute(&pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    })
    .await;
}

const SUBMIT_WITH_EVENTS: &str = "mutation($t: String!) { submitProject(input: { title: $t, problemStatement: \"Un problème réel.\", \
                                  supportMode: INCUBATION, academieCodes: [\"17\"] }) { events { eventId globalPosition leafIndex } } }";

const RECEIPT: &str = "query($id: String!) { receipt(eventId: $id) { leafIndex globalPosition eventHash receipt } }";

/// A client asks its mutation for the leaf of the event it wrote, then for that event's receipt,
/// which verifies with the public key alone; nobody else gets it but auditors; once the event is
/// altered in the database, the receipt no longer matches it.
async fn a_writer_gets_the_receipt_of_its_own_event(url: &str, run_sql: impl AsyncFn(&str)) {
    let app = spawn_app_with(url, |c| c.demo_data = Some(false)).await;
    let team = app.token(Role::LabTeam, &[]);
    let res = app.graphql_as(Some(&team), SUBMIT_WITH_EVENTS, json!({ "t": "Avec reçu" })).await;
    let written = res["data"]["submitProject"]["events"].as_array().cloned().unwrap_or_else(|| panic!("{res}"));
    assert_eq!(written.len(), 1, "one ProjectSubmitted on the project's stream: {res}");
    let leaf = written[0]["leafIndex"].as_u64().unwrap_or_else(|| panic!("the leaf, within 2 s: {res}"));
    let event_id = written[0]["eventId"].as_str().unwrap().to_owned();
    let position = written[0]["globalPosition"].as_i64().unwrap();

    // once a checkpoint covers it, its receipt
    let size = events(&app, &app.token(Role::Auditor, &[])).await;
    served_checkpoint(&app, size).await;
    let res = app.graphql_as(Some(&team), RECEIPT, json!({ "id": event_id })).await;
    let receipt = res["data"]["receipt"]["receipt"].as_str().unwrap_or_else(|| panic!("{res}")).to_owned();
    assert_eq!(res["data"]["receipt"]["leafIndex"], leaf, "{res}");
    let key = app.get("/checkpoint/key").await.text().await.unwrap();
    let verified = checkpoint::verify_receipt(&receipt, &CheckpointVerifier::new(&key).unwrap()).expect("verifies");
    assert_eq!(verified.index, leaf);
    assert_eq!(
        carnet_store::integrity::to_hex(&verified.event_hash),
        res["data"]["receipt"]["eventHash"].as_str().unwrap()
    );
    // the offline verifier agrees, and refuses the receipt of another leaf; `carnet prove`
    // prints the same receipt
    let dir = TempDir::new();
    let file = dir.path().join("receipt.txt");
    std::fs::write(&file, &receipt).unwrap();
    let (ok, out) = crate::export::verify_receipt(&file, key.trim());
    assert!(ok && out.contains(&format!("is leaf {leaf} of the signed tree of {}", verified.checkpoint.size)), "{out}");
    let moved = receipt.replacen(&format!("\nindex {leaf}\n"), &format!("\nindex {}\n", leaf + 1), 1);
    std::fs::write(&file, &moved).unwrap();
    let (ok, out) = crate::export::verify_receipt(&file, key.trim());
    assert!(!ok && out.contains("the inclusion proof does not hold"), "{out}");
    let size = verified.checkpoint.size.to_string();
    let out =
        carnet_beside(&["prove", "inclusion", "--event", &event_id, "--size", &size], url, Some(dir.path())).await;
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, receipt, "carnet prove inclusion");
    let out = carnet_beside(&["prove", "consistency", "--from", "1", "--to", &size], url, Some(dir.path())).await;
    assert!(out.status.success() && out.stdout.ends_with(&verified.checkpoint.note), "{}{}", out.stdout, out.stderr);
    let out =
        carnet_beside(&["prove", "inclusion", "--position", "1", "--size", "999999"], url, Some(dir.path())).await;
    assert!(!out.status.success() && out.stderr.contains("no checkpoint of 999999 events"), "{}", out.stderr);

    // another person's event is not found (as no event at all); auditors get any; a bad id is named
    let other = carnet_api::auth::TokenVerifier::load_or_create(&app.secret).unwrap().mint(
        "someone-else",
        &[Role::LabTeam],
        &[],
        1,
    );
    let res = app.graphql_as(Some(&other), RECEIPT, json!({ "id": event_id })).await;
    assert_eq!(res["errors"][0]["extensions"]["code"], "NOT_FOUND", "{res}");
    let res = app.graphql_as(Some(&app.token(Role::Auditor, &[])), RECEIPT, json!({ "id": event_id })).await;
    assert_eq!(res["data"]["receipt"]["leafIndex"], leaf, "{res}");
    let res = app.graphql_as(Some(&team), RECEIPT, json!({ "id": "pas-un-uuid" })).await;
    assert_eq!(res["errors"][0]["extensions"]["rule"], "proof.event_id", "{res}");

    // the event altered behind Carnet's back: the receipt kept no longer matches it
    run_sql(&format!("update events set event_type = 'ProjectAbandoned' where global_position = {position}")).await;
    let store = carnet_api::startup::open_store(url).await.unwrap();
    use futures::TryStreamExt;
    let now: Vec<_> =
        carnet_store::integrity::hashed_events(&store, carnet_store::Checkpoint::START).try_collect().await.unwrap();
    let altered = now.iter().find(|e| e.global_position == position).expect("the event");
    assert_ne!(altered.computed_hash(), verified.event_hash, "the receipt no longer matches the event");
}

#[tokio::test]
async fn a_writer_gets_the_receipt_of_its_own_event_on_postgres() {
    let db = FreshDatabase::create().await;
    let pool = db.pool.clone();
    a_writer_gets_the_receipt_of_its_own_event(&db.url, async |sql: &str| {
        sqlx::query(sql).execute(&pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    })
    .await;
}

#[tokio::test]
async fn a_writer_gets_the_receipt_of_its_own_event_on_sqlite() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.path().join("carnet.db").display());
    let pool = sqlx::SqlitePool::connect_lazy(&format!("{url}?mode=rwc")).expect("sqlite");
    a_writer_gets_the_receipt_of_its_own_event(&url, async |sql: &str| {
        sqlx::query(sql).execute(&pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    })
    .await;
}
