//! Auditors export the log with its hashes and re-verify it without Carnet (issue 5, point 5):
//! `carnet export` writes every event in the exact text its hash covers; the README's Python
//! script (`tools/verify_export.py`, standard library only) verifies an untouched export and
//! names the first broken line of an altered one; CSV carries the same rows.

use crate::history::feed_caught_up;
use crate::support::*;
use carnet_domain::person::Role;
use carnet_store::integrity::{EventFields, event_hash, from_hex, to_hex};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The third party's script, as the README gives it.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/verify_export.py")
}

/// Runs the script on `export`: whether it succeeded, and what it printed.
fn verify(export: &Path) -> (bool, String) {
    run_script(export, &[])
}

/// Runs the script on `export` with a checkpoint and the log's public key.
fn verify_with(export: &Path, checkpoint: &Path, key: &str) -> (bool, String) {
    run_script(export, &["--checkpoint", checkpoint.to_str().unwrap(), "--key", key])
}

/// Runs the script on a receipt alone.
pub(crate) fn verify_receipt(receipt: &Path, key: &str) -> (bool, String) {
    let out = std::process::Command::new("python3")
        .arg(script())
        .args(["--receipt", receipt.to_str().unwrap(), "--key", key])
        .output()
        .expect("run python3");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

pub(crate) fn run_script(export: &Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("python3").arg(script()).arg(export).args(args).output().expect("run python3");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// `line` re-hashed as a forger would, after its `prev_hash` became `prev_hash`.
fn rehashed(line: &str, prev_hash: &str) -> Value {
    let mut event: Value = serde_json::from_str(line).unwrap();
    event["prev_hash"] = json!(prev_hash);
    let text = |field: &str| event[field].as_str().unwrap().to_owned();
    let (stream_id, event_id, event_type) = (text("stream_id"), text("event_id"), text("event_type"));
    let (payload, metadata, recorded_at) = (text("payload"), text("metadata"), text("recorded_at"));
    let fields = EventFields {
        global_position: event["global_position"].as_i64().unwrap(),
        stream_id: &stream_id,
        stream_version: event["stream_version"].as_u64().unwrap(),
        event_id: &event_id,
        event_type: &event_type,
        schema_version: event["schema_version"].as_i64().unwrap() as i32,
        payload: &payload,
        metadata: &metadata,
        recorded_at: &recorded_at,
    };
    event["hash"] = json!(to_hex(&event_hash(&from_hex(prev_hash).unwrap(), &fields)));
    event
}

/// Runs `carnet export args…` on `url`; fails the test unless it succeeds.
fn export(url: &str, args: &[&str]) -> Output {
    let out = carnet(&[&["export"], args].concat(), url, None);
    assert!(out.status.success(), "carnet export {args:?}: {}", out.stderr);
    out
}

fn lines_of(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("the export");
    text.lines().map(|l| serde_json::from_str(l).expect("one JSON object a line")).collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).expect("write");
}

/// Some history through the API: two projects, one qualified, a person registered, updated and
/// erased (sealed profiles, a destroyed key: the chains hold all the same).
async fn some_history(app: &TestApp) {
    let team = app.token(Role::LabTeam, &[]);
    let admin = app.token(Role::Admin, &[]);
    let submit = |title: &str| {
        json!({ "title": title, "problemStatement": "Un besoin, « entre guillemets », et des\nlignes.",
                "supportMode": "INCUBATION", "academieCodes": ["24"] })
    };
    let first = app.execute(&team, "submitProject", "project", submit("Premier projet")).await;
    app.execute(&team, "submitProject", "project", submit("Second projet")).await;
    app.execute(&team, "startProjectQualification", "project", json!({ "projectId": first["id"] })).await;
    let register = json!({ "profile": { "givenName": "Zéphyrine", "usualName": "Quatremaire" } });
    let person = app.execute(&team, "registerPerson", "person", register).await;
    let update = json!({ "personId": person["id"], "profile": { "givenName": "Zéphyrine", "usualName": "Q." } });
    app.execute(&team, "updatePersonProfile", "person", update).await;
    app.execute(&admin, "erasePerson", "person", json!({ "personId": person["id"], "reason": "Demande RGPD" })).await;
}

#[tokio::test]
async fn a_third_party_reverifies_an_export_without_carnet_and_finds_a_changed_byte() {
    let (db, app) = fresh_app().await;
    some_history(&app).await;
    let total = feed_caught_up(&app, &app.token(Role::Auditor, &[]), &db).await;

    let dir = TempDir::new();
    let file = dir.path().join("log.jsonl");
    let out = export(&db.url, &["--format", "jsonl", "--output", file.to_str().unwrap()]);
    assert!(out.stderr.contains(&format!("{total} événements exportés")), "{}", out.stderr);
    let lines = lines_of(&file);
    assert_eq!(lines.len() as u64, total);
    // every line is the database's event, in reading order, with its stored hashes
    let stored: Vec<(i64, String, String)> = sqlx::query_as(
        "select global_position, encode(hash, 'hex'), encode(prev_hash, 'hex') from events \
         order by transaction_id, global_position",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    for (line, (position, hash, prev_hash)) in lines.iter().zip(&stored) {
        assert_eq!(
            (&line["global_position"], &line["hash"], &line["prev_hash"]),
            (&json!(position), &json!(hash), &json!(prev_hash))
        );
        assert!(line["payload"].is_string() && line["metadata"].is_string(), "JSON kept as text: {line}");
    }
    let person = lines.iter().find(|l| l["event_type"] == "PersonRegistered").expect("a person");
    assert!(!person["payload"].as_str().unwrap().contains("Quatremaire"), "sealed at rest: {person}");

    let (ok, said) = verify(&file);
    assert!(ok, "{said}");
    assert!(said.contains(&format!("OK: {total} events")), "{said}");
    let source = std::fs::read_to_string(script()).expect("the script");
    assert!(carnet_testkit::readme_blocks("python").contains(&source), "the README shows the script as it is");

    // one byte of one payload changed: the script names that line
    let texts: Vec<String> = std::fs::read_to_string(&file).unwrap().lines().map(str::to_owned).collect();
    let at = lines.iter().position(|l| l["payload"].as_str().unwrap().contains("Premier projet")).unwrap();
    let mut altered = texts.clone();
    altered[at] = altered[at].replacen("Premier projet", "Premier projat", 1);
    assert_eq!(altered[at].len(), texts[at].len(), "one byte");
    let tampered = dir.path().join("tampered.jsonl");
    write_lines(&tampered, &altered);
    let (ok, said) = verify(&tampered);
    assert!(!ok, "an altered payload verifies: {said}");
    assert!(said.contains(&format!("BROKEN at line {}:", at + 1)) && said.contains("does not match"), "{said}");

    // a forger who recomputes that event's hash breaks its stream's chain at the next version
    let mut forged: Value = serde_json::from_str(&altered[at]).unwrap();
    let text = |field: &str| forged[field].as_str().unwrap().to_owned();
    let (stream_id, event_id, event_type) = (text("stream_id"), text("event_id"), text("event_type"));
    let (payload, metadata, recorded_at) = (text("payload"), text("metadata"), text("recorded_at"));
    let fields = EventFields {
        global_position: forged["global_position"].as_i64().unwrap(),
        stream_id: &stream_id,
        stream_version: forged["stream_version"].as_u64().unwrap(),
        event_id: &event_id,
        event_type: &event_type,
        schema_version: forged["schema_version"].as_i64().unwrap() as i32,
        payload: &payload,
        metadata: &metadata,
        recorded_at: &recorded_at,
    };
    forged["hash"] = json!(to_hex(&event_hash(&from_hex(&text("prev_hash")).unwrap(), &fields)));
    altered[at] = forged.to_string();
    write_lines(&tampered, &altered);
    let next = lines.iter().enumerate().skip(at + 1).find(|(_, l)| l["stream_id"] == stream_id.as_str()).unwrap().0;
    let (ok, said) = verify(&tampered);
    assert!(!ok, "a re-hashed forgery verifies: {said}");
    assert!(said.contains(&format!("BROKEN at line {}:", next + 1)) && said.contains("prev_hash"), "{said}");

    // CSV (here on standard output): the same rows, RFC 4180
    let out = export(&db.url, &["--format", "csv"]);
    let mut reader = csv::Reader::from_reader(out.stdout.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let columns: Vec<String> = lines[0].as_object().unwrap().keys().cloned().collect();
    assert_eq!(header.iter().collect::<std::collections::BTreeSet<_>>(), columns.iter().collect());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("an RFC 4180 record")).collect();
    assert_eq!(rows.len(), lines.len());
    for (row, line) in rows.iter().zip(&lines) {
        for (column, value) in header.iter().zip(row.iter()) {
            let expected = match &line[column] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            assert_eq!(value, expected, "{column} at {}", line["global_position"]);
        }
    }
}

#[tokio::test]
async fn an_export_covers_its_period_on_sqlite_and_refuses_a_bad_one() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.path().join("carnet.db").display());
    let app = spawn_app(&url).await;
    some_history(&app).await;
    let all = dir.path().join("all.jsonl");
    export(&url, &["--output", all.to_str().unwrap()]);
    let lines = lines_of(&all);
    assert!(lines.len() >= 8, "{lines:?}");
    let (ok, said) = verify(&all);
    assert!(ok && said.contains(&format!("OK: {} events", lines.len())), "{said}");

    let today = chrono::Utc::now().date_naive().to_string();
    let day = dir.path().join("day.jsonl");
    export(&url, &["--from", &today, "--to", &today, "--output", day.to_str().unwrap()]);
    assert_eq!(lines_of(&day), lines, "today's events are all of them");
    let none = dir.path().join("none.jsonl");
    export(&url, &["--from", "2000-01-01", "--to", "2000-12-31", "--output", none.to_str().unwrap()]);
    assert!(lines_of(&none).is_empty());
    assert!(verify(&none).0, "an empty export verifies");

    // a period in the middle: what was recorded then, chains starting mid-stream
    let at = |i: usize| lines[i]["recorded_at"].as_str().unwrap().to_owned();
    let (from, to) = (at(3), at(lines.len() - 3));
    let part = dir.path().join("part.jsonl");
    export(&url, &["--from", &from, "--to", &to, "--output", part.to_str().unwrap()]);
    let expected: Vec<Value> = lines
        .iter()
        .filter(|l| (from.as_str()..=to.as_str()).contains(&l["recorded_at"].as_str().unwrap()))
        .cloned()
        .collect();
    assert_eq!(lines_of(&part), expected);
    assert!(expected.len() < lines.len() && !expected.is_empty());
    let (ok, said) = verify(&part);
    assert!(ok, "{said}");

    let out = carnet(&["export", "--from", "le 1er juin"], &url, None);
    assert!(!out.status.success() && out.stderr.contains("neither a date"), "{}", out.stderr);
    let out = carnet(&["export", "--from", "2026-07-01", "--to", "2026-06-30"], &url, None);
    assert!(!out.status.success() && out.stderr.contains("is after"), "{}", out.stderr);
}

/// With the signed checkpoint beside it, an export can be checked for what its chains cannot
/// show: lines dropped at the end, a whole stream removed, lines of two streams swapped, a middle
/// event removed and its stream re-chained, and a checkpoint altered are each refused.
#[tokio::test]
async fn an_export_is_checked_against_its_signed_checkpoint() {
    let (db, app) = fresh_app().await;
    some_history(&app).await;
    let total = feed_caught_up(&app, &app.token(Role::Auditor, &[]), &db).await;
    crate::checkpoints::served_checkpoint(&app, total).await;
    let key = app.get("/checkpoint/key").await.text().await.expect("the key");

    let dir = TempDir::new();
    let (file, checkpoint) = (dir.path().join("log.jsonl"), dir.path().join("checkpoint.txt"));
    let out = export(&db.url, &["--output", file.to_str().unwrap(), "--checkpoint", checkpoint.to_str().unwrap()]);
    assert!(out.stderr.contains(&format!("des {total} premiers événements")), "{}", out.stderr);
    let (ok, said) = verify_with(&file, &checkpoint, &key);
    assert!(ok && said.contains(&format!("the signed checkpoint of {total} events holds")), "{said}");

    let texts: Vec<String> = std::fs::read_to_string(&file).unwrap().lines().map(str::to_owned).collect();
    let lines = lines_of(&file);
    let stream = |i: usize| lines[i]["stream_id"].as_str().unwrap().to_owned();
    let tampered = dir.path().join("tampered.jsonl");
    let refused = |altered: &[String], why: &str| {
        write_lines(&tampered, altered);
        let (chains_ok, chains) = verify(&tampered);
        let (ok, said) = verify_with(&tampered, &checkpoint, &key);
        assert!(!ok && said.contains("CHECKPOINT REFUSED"), "{why} passes the checkpoint: {said}");
        (chains_ok, chains, said)
    };

    // the last lines dropped: the chains cannot tell, the checkpoint can
    let (chains_ok, chains, said) = refused(&texts[..texts.len() - 2], "two lines dropped");
    assert!(chains_ok, "{chains}");
    assert!(said.contains("events were removed"), "{said}");

    // a whole stream removed
    let gone = stream(0);
    let without: Vec<String> =
        texts.iter().zip(&lines).filter(|(_, l)| l["stream_id"] != gone.as_str()).map(|(t, _)| t.clone()).collect();
    let (chains_ok, chains, _) = refused(&without, "a stream removed");
    assert!(chains_ok, "{chains}");

    // two lines of different streams swapped
    let i = (0..texts.len() - 1).find(|&i| stream(i) != stream(i + 1)).expect("two streams side by side");
    let mut swapped = texts.clone();
    swapped.swap(i, i + 1);
    let (chains_ok, chains, said) = refused(&swapped, "two lines swapped");
    assert!(chains_ok, "{chains}");
    assert!(said.contains("reordered"), "{said}");

    // a middle event removed and its stream re-chained by a forger
    let (middle, longest) = (1..texts.len())
        .filter(|&i| lines[i]["stream_version"] == 2)
        .find(|&i| lines.iter().any(|l| l["stream_id"] == lines[i]["stream_id"] && l["stream_version"] == 3))
        .map(|i| (i, stream(i)))
        .expect("a stream of three events");
    let mut rechained: Vec<String> = vec![];
    let mut prev: Option<String> = None;
    for (at, (text, line)) in texts.iter().zip(&lines).enumerate() {
        if at == middle {
            continue;
        }
        if line["stream_id"] == longest.as_str() && line["stream_version"].as_u64() > Some(2) {
            let mut event = rehashed(text, prev.as_deref().unwrap());
            event["stream_version"] = json!(line["stream_version"].as_u64().unwrap() - 1);
            let event = rehashed(&event.to_string(), prev.as_deref().unwrap());
            prev = Some(event["hash"].as_str().unwrap().to_owned());
            rechained.push(event.to_string());
            continue;
        }
        if line["stream_id"] == longest.as_str() {
            prev = Some(line["hash"].as_str().unwrap().to_owned());
        }
        rechained.push(text.clone());
    }
    let (chains_ok, chains, _) = refused(&rechained, "a middle event removed and re-chained");
    assert!(chains_ok, "the forger's chains verify: {chains}");

    // the checkpoint altered: its signature no longer holds
    let note = std::fs::read_to_string(&checkpoint).unwrap();
    let size_line = format!("\n{total}\n");
    std::fs::write(&checkpoint, note.replacen(&size_line, &format!("\n{}\n", total - 1), 1)).unwrap();
    let (ok, said) = verify_with(&file, &checkpoint, &key);
    assert!(!ok && said.contains("signature does not verify"), "{said}");
}
