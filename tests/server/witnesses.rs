//! Witnesses (issue 12): two third parties run `carnet witness` against the server, cosign its
//! checkpoints as the log grows, and both refuse — exit code 3, the evidence kept — the
//! checkpoint of a forked log: an older dump restored (with the server's own files from the same
//! backup, so the server itself cannot tell) that then grows differently. The witness's record
//! then makes `carnet verify` fail too. On both backends, with a real restore on each
//! (`pg_dump`/`pg_restore`, SQLite's `VACUUM INTO` and a copy back).

use crate::checkpoints::served_checkpoint;
use crate::support::*;
use carnet_domain::person::Role;
use carnet_store::integrity::checkpoint::{self, CheckpointSigner, CheckpointVerifier};
use carnet_store::integrity::witness::{self, WitnessSigner, WitnessVerifier};
use serde_json::json;
use std::path::{Path, PathBuf};

const INTEGRITY: &str = "{ integrity { intact witnesses { witness keyId treeSize cosignedAt verified } } }";

pub(crate) struct Witness {
    pub(crate) key: PathBuf,
    pub(crate) state: PathBuf,
    pub(crate) public: String,
}

/// A new witness, its key made by `carnet witness-key --new`.
pub(crate) fn new_witness(dir: &Path, name: &str) -> Witness {
    let key = dir.join(format!("{}.key", name.replace('/', "_")));
    let out = carnet(&["witness-key", "--new", key.to_str().unwrap(), "--name", name], "sqlite://unused", Some(dir));
    assert!(out.status.success(), "{}{}", out.stdout, out.stderr);
    let public = out.stdout.trim().to_owned();
    WitnessVerifier::new(&public).unwrap_or_else(|e| panic!("`{public}`: {e}"));
    Witness { key, state: dir.join(format!("{}.record", name.replace('/', "_"))), public }
}

/// One round of `carnet witness`, off the test's thread (the server answers it meanwhile).
pub(crate) async fn witness_once(app: &TestApp, log_key: &str, w: &Witness) -> Output {
    let (key, state) = (w.key.display().to_string(), w.state.display().to_string());
    let args = ["witness", "--url", &app.address, "--log-key", log_key, "--key", &key, "--state", &state, "--once"];
    carnet_beside(&args, "sqlite://unused", None).await
}

pub(crate) async fn submit(app: &TestApp, team: &str, title: &str) {
    let res = app.graphql_as(Some(team), SUBMIT_TITLED, json!({ "t": title })).await;
    assert!(res["errors"].is_null(), "{res}");
}

/// The size of the checkpoint in `file`, its log signature checked.
pub(crate) fn size_of(file: &Path, log: &CheckpointVerifier) -> u64 {
    let note = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    checkpoint::open(&note, log).unwrap_or_else(|e| panic!("{}: {e}", file.display())).size
}

async fn two_witnesses_cosign_a_growing_log_and_refuse_a_fork(
    url: &str,
    backup: impl AsyncFn(&Path),
    restore: impl AsyncFn(&Path),
) {
    let dir = TempDir::new();
    let (w1, w2) =
        (new_witness(dir.path(), "inspection.test/witness"), new_witness(dir.path(), "ccomptes.test/witness"));
    let key_file = dir.path().join("checkpoint-key").display().to_string();
    let witnesses = vec![w1.public.clone(), w2.public.clone()];
    let config = |c: &mut carnet_api::config::Config| {
        c.demo_data = Some(false);
        c.checkpoints.key_file = key_file.clone();
        c.checkpoints.witnesses = witnesses.clone();
    };
    let app = spawn_app_with(url, config).await;
    let team = app.token(Role::LabTeam, &[]);
    let log_key = app.get("/checkpoint/key").await.text().await.expect("key").trim().to_owned();
    let log = CheckpointVerifier::new(&log_key).expect("the log's key");

    // both cosign the log as it is, then as it grew (a consistency proof from what they cosigned)
    for (round, titles) in [["Premier", "Deuxième"].as_slice(), ["Troisième"].as_slice()].into_iter().enumerate() {
        for title in titles {
            submit(&app, &team, title).await;
        }
        let size = committed_events(url).await;
        served_checkpoint(&app, size).await;
        for w in [&w1, &w2] {
            let out = witness_once(&app, &log_key, w).await;
            assert!(out.status.success(), "round {round}: {}{}", out.stdout, out.stderr);
            assert!(out.stdout.contains(&format!("cosigned the checkpoint of {size} events")), "{}", out.stdout);
            assert_eq!(size_of(&w.state.join("cosigned"), &log), size, "the witness's record");
        }
        // the log serves both cosignatures, each verifying with its witness's key alone
        let served = app.get("/checkpoint").await.text().await.unwrap();
        let keys = [WitnessVerifier::new(&w1.public).unwrap(), WitnessVerifier::new(&w2.public).unwrap()];
        let cosigned = witness::cosignatures(&served, &keys).expect("valid cosignatures");
        assert_eq!(cosigned.len(), 2, "{served}");
        assert!(checkpoint::open(&served, &log).is_ok_and(|c| c.size == size), "{served}");
        let report = app.graphql_as(Some(&app.token(Role::Auditor, &[])), INTEGRITY, json!({})).await;
        let reported = report["data"]["integrity"]["witnesses"].as_array().cloned().unwrap_or_default();
        assert_eq!(reported.len(), 2, "{report}");
        assert!(reported.iter().all(|w| w["treeSize"] == size && w["verified"] == true), "{report}");
        if round == 0 {
            // nothing new: nothing cosigned again, nothing refused
            let out = witness_once(&app, &log_key, &w1).await;
            assert!(out.status.success() && out.stdout.is_empty(), "{}{}", out.stdout, out.stderr);
            // the operator's backup of this moment: the database and the server's own files
            backup(dir.path()).await;
            std::fs::copy(format!("{key_file}.latest"), dir.path().join("latest.backup")).expect("the .latest file");
        }
    }
    let cosigned_size = size_of(&w1.state.join("cosigned"), &log);

    // an export carries the cosignatures: the offline verifier checks them with the witnesses' keys
    let export = dir.path().join("log.jsonl");
    let exported_checkpoint = dir.path().join("checkpoint.txt");
    let args = ["export", "--output", export.to_str().unwrap(), "--checkpoint", exported_checkpoint.to_str().unwrap()];
    let out = carnet_beside(&args, url, Some(dir.path())).await;
    assert!(out.status.success(), "{}", out.stderr);
    let script = |witnesses: &[&str]| {
        let mut args = vec!["--checkpoint", exported_checkpoint.to_str().unwrap(), "--key", &log_key];
        for w in witnesses {
            args.extend(["--witness", w]);
        }
        crate::export::run_script(&export, &args)
    };
    let (ok, printed) = script(&[&w1.public, &w2.public]);
    assert!(ok, "{printed}");
    for name in ["inspection.test/witness", "ccomptes.test/witness"] {
        assert!(printed.contains(&format!("OK: cosigned by the witness {name}")), "{printed}");
    }
    let (_, unknown) = WitnessSigner::generate("absent.test/witness").unwrap();
    let (ok, printed) = script(&[&unknown.verifier_key()]);
    assert!(!ok && printed.contains("carries no signature by absent.test/witness"), "{printed}");
    let forged = std::fs::read_to_string(&exported_checkpoint).unwrap();
    let line = forged.lines().last().unwrap().to_owned();
    let mut blob =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, line.rsplit(' ').next().unwrap()).unwrap();
    blob[6] ^= 1; // the cosignature's time
    let altered = format!(
        "{} {}",
        line.rsplit_once(' ').unwrap().0,
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &blob)
    );
    std::fs::write(&exported_checkpoint, forged.replace(&line, &altered)).unwrap();
    let (ok, printed) = script(&[&w1.public, &w2.public]);
    assert!(!ok && printed.contains("does not verify with its key"), "an altered cosignature: {printed}");

    // the server keeps only what verifies: not this log's, no such checkpoint, another root,
    // a witness it does not know
    let post = async |body: String| {
        let res = app.client.post(format!("{}/checkpoint/cosignature", app.address)).body(body).send().await.unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    };
    let served = app.get("/checkpoint").await.text().await.unwrap();
    assert_eq!(post("pas une note".into()).await.0, 400);
    let w1_key = WitnessSigner::from_key(&std::fs::read_to_string(&w1.key).unwrap()).unwrap();
    let signer = CheckpointSigner::from_key(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    let (status, body) = post(w1_key.cosign(&signer.sign(999, &[1; 32]).unwrap(), 1).unwrap()).await;
    assert_eq!((status, body.contains("no checkpoint of 999 events")), (404, true), "{body}");
    let (status, body) = post(w1_key.cosign(&signer.sign(cosigned_size, &[1; 32]).unwrap(), 1).unwrap()).await;
    assert_eq!((status, body.contains("another root")), (409, true), "{body}");
    let (_, stranger) = WitnessSigner::generate("stranger.test/witness").unwrap();
    let root = checkpoint::open(&served, &log).unwrap().root;
    let (status, body) = post(stranger.cosign(&signer.sign(cosigned_size, &root).unwrap(), 1).unwrap()).await;
    assert_eq!((status, body.contains("no cosignature by a configured witness")), (403, true), "{body}");
    drop(app);

    // the backup restored over the database, the server's files with it; then the log grows
    // differently: the server itself sees nothing wrong and signs the forked history
    restore(dir.path()).await;
    std::fs::copy(dir.path().join("latest.backup"), format!("{key_file}.latest")).unwrap();
    let forked = spawn_app_with(url, config).await;
    assert_eq!(forked.get("/readyz").await.status(), 200, "the server cannot tell, by design of this case");
    let team = forked.token(Role::LabTeam, &[]);
    for title in ["Autre troisième", "Autre quatrième"] {
        submit(&forked, &team, title).await;
    }
    let size = committed_events(url).await;
    assert!(size > cosigned_size, "{size} events after the fork, {cosigned_size} cosigned");
    served_checkpoint(&forked, size).await;
    for w in [&w1, &w2] {
        let out = witness_once(&forked, &log_key, w).await;
        assert_eq!(out.status.code(), Some(3), "{}{}", out.stdout, out.stderr);
        assert!(
            out.stdout
                .contains(&format!("REFUSED: the log of {size} events does not extend the {cosigned_size} cosigned")),
            "{}",
            out.stdout
        );
        assert!(out.stderr.contains("REFUSED"), "a log line says so: {}", out.stderr);
        // the evidence: both checkpoints, each signed by the log's key, and why
        let evidence: Vec<PathBuf> = std::fs::read_dir(&w.state)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("refused-")))
            .collect();
        assert_eq!(evidence.len(), 1, "{evidence:?}");
        assert_eq!(size_of(&evidence[0].join("cosigned"), &log), cosigned_size);
        assert_eq!(size_of(&evidence[0].join("offered"), &log), size);
        let reason = std::fs::read_to_string(evidence[0].join("reason")).unwrap();
        assert!(reason.contains("does not extend"), "{reason}");
        assert_eq!(size_of(&w.state.join("cosigned"), &log), cosigned_size, "its record is unchanged");
    }

    // an auditor with a witness's record finds the fork with `carnet verify`
    let record = w2.state.join("cosigned");
    let out =
        carnet_beside(&["verify", "--checkpoint", record.to_str().unwrap(), "--key", &log_key], url, Some(dir.path()))
            .await;
    assert_eq!(out.status.code(), Some(2), "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("LOG ALTERED") && out.stdout.contains("are not those of"), "{}", out.stdout);
}

/// Runs `program` off the test's thread: the in-process server (still running, as a dropped
/// `TestApp` does) must be free to end the transactions `pg_restore` waits for.
async fn run(program: &str, args: Vec<String>) {
    let program = program.to_owned();
    let out = tokio::task::spawn_blocking(move || std::process::Command::new(&program).args(&args).output())
        .await
        .expect("the command")
        .unwrap_or_else(|e| panic!("cannot run pg_dump/pg_restore: {e} (apt-get install postgresql-client)"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn two_witnesses_cosign_a_growing_log_and_refuse_a_fork_on_postgres() {
    let db = FreshDatabase::create().await;
    let url = db.url.clone();
    two_witnesses_cosign_a_growing_log_and_refuse_a_fork(
        &db.url,
        async |dir: &Path| {
            let dump = dir.join("dump").display().to_string();
            run("pg_dump", ["-Fc", "--no-owner", "-d", &url, "-f", &dump].map(String::from).to_vec()).await
        },
        async |dir: &Path| {
            let dump = dir.join("dump").display().to_string();
            run("pg_restore", ["--clean", "--if-exists", "--no-owner", "-d", &url, &dump].map(String::from).to_vec())
                .await
        },
    )
    .await;
}

#[tokio::test]
async fn two_witnesses_cosign_a_growing_log_and_refuse_a_fork_on_sqlite() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.path().join("carnet.db").display());
    let pool = sqlx::SqlitePool::connect_lazy(&format!("{url}?mode=rwc")).expect("sqlite");
    two_witnesses_cosign_a_growing_log_and_refuse_a_fork(
        &url,
        async |dir: &Path| {
            let backup = dir.join("backup.db").display().to_string();
            sqlx::query(&format!("vacuum into '{backup}'")).execute(&pool).await.expect("vacuum into");
        },
        // the backup's rows put back in every table, in one transaction, as a restore does
        async |dir: &Path| {
            let backup = dir.join("backup.db").display().to_string();
            let mut conn = pool.acquire().await.expect("a connection");
            sqlx::query(&format!("attach database '{backup}' as backup")).execute(&mut *conn).await.expect("attach");
            let tables: Vec<String> = sqlx::query_scalar(
                "select name from backup.sqlite_master where type = 'table' and name not like 'sqlite_%'",
            )
            .fetch_all(&mut *conn)
            .await
            .expect("tables");
            sqlx::query("begin immediate").execute(&mut *conn).await.unwrap();
            for table in tables {
                for sql in [
                    format!("delete from main.\"{table}\""),
                    format!("insert into main.\"{table}\" select * from backup.\"{table}\""),
                ] {
                    sqlx::query(&sql).execute(&mut *conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
                }
            }
            sqlx::query("commit").execute(&mut *conn).await.unwrap();
            sqlx::query("detach database backup").execute(&mut *conn).await.expect("detach");
        },
    )
    .await;
}
