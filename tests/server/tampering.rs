//! Someone who can write to the database, and to the server's files but not read its key,
//! alters the log after a checkpoint was issued and a witness cosigned it (issue 12). Each
//! alteration is done in SQL, then covered up as well as the tables allow — seals, the log's
//! extent, the tree, the checkpoints, the cosignatures and the server's `.latest` file wiped, so
//! that the server rebuilds a tree of the altered log and signs it. Each is caught:
//! - by `carnet verify --checkpoint` with the checkpoint an auditor kept, and with the witness's
//!   record (the check of the checkpoint itself, `events_hold`, finds it on its own);
//! - by the witness, whose next round refuses what the server now signs (exit code 3).
//!
//! On both backends. The restore of an older dump is `witnesses.rs` (a fork) and
//! `checkpoints.rs` (a rollback the server sees by itself).

use crate::checkpoints::served_checkpoint;
use crate::support::*;
use carnet_domain::person::Role;
use carnet_store::AnyStore;
use carnet_store::integrity::checkpoint::{self, CheckpointVerifier};
use carnet_store::integrity::{self, Hash, ZERO_HASH};
use futures::TryStreamExt;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug)]
enum Tamper {
    /// The newest event of a stream deleted.
    DeleteNewestEvent,
    /// An event added at the end of the first project's stream, chained and hashed as Carnet
    /// would, in that stream's transaction: it reads before the later projects' events. (One
    /// added after every event, as a new transaction, is a new append like any other: no
    /// checkpoint can tell it from the server's own — only who may write can.)
    ForgeAtStreamEnd,
    /// The newest events deleted with the checkpoints that covered them.
    DeleteNewestEventsAndCheckpoints,
    /// `events` and every other Carnet table emptied (the tree's one row put back as a new
    /// database has it, so that the server can sign again).
    TruncateEverything,
    /// One payload changed and every hash chain recomputed.
    RewriteWithRecomputedHashes,
}

async fn rows(store: &AnyStore, sql: &str) -> Vec<String> {
    match store {
        AnyStore::Postgres(s) => sqlx::query_scalar(sql).fetch_all(s.pool()).await,
        AnyStore::Sqlite(s) => sqlx::query_scalar(sql).fetch_all(s.writer()).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A hash as an SQL literal of the backend.
fn literal(store: &AnyStore, hash: &Hash) -> String {
    match store {
        AnyStore::Postgres(_) => format!("'\\x{}'::bytea", integrity::to_hex(hash)),
        AnyStore::Sqlite(_) => format!("X'{}'", integrity::to_hex(hash)),
    }
}

/// Recomputes every stream's hash chain with Carnet's recipe, as a forger who read the code.
async fn rechain(store: &AnyStore) {
    let events: Vec<_> = integrity::hashed_events(store, carnet_store::Checkpoint::START).try_collect().await.unwrap();
    let mut heads: HashMap<String, Hash> = HashMap::new();
    for e in events {
        let prev = if e.stream_version == 1 { ZERO_HASH } else { heads[&e.stream_id] };
        let hash = integrity::event_hash(&prev, &e.fields());
        heads.insert(e.stream_id.clone(), hash);
        if e.prev_hash != Some(prev) || e.hash != Some(hash) {
            let sql = format!(
                "update events set prev_hash = {}, hash = {} where global_position = {}",
                literal(store, &prev),
                literal(store, &hash),
                e.global_position
            );
            carnet_testkit::tamper(store, &sql).await;
        }
    }
}

async fn apply(store: &AnyStore, tamper: Tamper) {
    let pg = matches!(store, AnyStore::Postgres(_));
    let newest = "(select max(global_position) from events)";
    match tamper {
        Tamper::DeleteNewestEvent => {
            carnet_testkit::tamper(store, &format!("delete from events where global_position = {newest}")).await
        }
        Tamper::ForgeAtStreamEnd => {
            let id = uuid::Uuid::now_v7();
            let sql = format!(
                "insert into events (transaction_id, stream_id, stream_version, event_id, event_type, schema_version, \
                 payload, metadata, recorded_at) select transaction_id, stream_id, stream_version + 1, '{id}', \
                 event_type, schema_version, payload, metadata, recorded_at from events where global_position = \
                 (select min(global_position) from events where event_type = 'ProjectSubmitted')"
            );
            carnet_testkit::tamper(store, &sql).await;
            rechain(store).await;
        }
        Tamper::DeleteNewestEventsAndCheckpoints => {
            let sql = "delete from events where global_position in \
                       (select global_position from events order by global_position desc limit 3)";
            carnet_testkit::tamper(store, sql).await;
        }
        Tamper::TruncateEverything => {
            let tables = if pg {
                "select tablename::text from pg_tables where schemaname = current_schema() and tablename <> '_sqlx_migrations'"
            } else {
                "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name <> '_sqlx_migrations'"
            };
            for table in rows(store, tables).await {
                carnet_testkit::tamper(store, &format!("delete from \"{table}\"")).await;
            }
            let sql = "insert into log_tree (id, size, last_transaction_id, last_global_position) values (1, 0, 0, 0)";
            carnet_testkit::tamper(store, sql).await;
        }
        Tamper::RewriteWithRecomputedHashes => {
            let first = "(select min(global_position) from events where event_type = 'ProjectSubmitted')";
            let sql = if pg {
                format!(
                    "update events set payload = jsonb_set(payload, '{{title}}', '\"Réécrit\"') where global_position = {first}"
                )
            } else {
                format!(
                    "update events set payload = json_set(payload, '$.title', 'Réécrit') where global_position = {first}"
                )
            };
            carnet_testkit::tamper(store, &sql).await;
            rechain(store).await;
        }
    }
    // the cover-up: everything derived from the log that the tables hold (the tree is rebuilt
    // from the altered events by the server, which then signs it)
    for sql in [
        "delete from seals",
        "delete from log_extent",
        "delete from log_tree_nodes",
        "delete from log_leaves",
        "update log_tree set size = 0, last_transaction_id = 0, last_global_position = 0",
        "delete from checkpoints",
        "delete from cosignatures",
    ] {
        carnet_testkit::tamper(store, sql).await;
    }
}

async fn tampering_is_caught(url: &str, tamper: Tamper) {
    let dir = TempDir::new();
    let w = crate::witnesses::new_witness(dir.path(), "inspection.test/witness");
    let key_file = dir.path().join("checkpoint-key").display().to_string();
    let witness_keys = vec![w.public.clone()];
    let config = |c: &mut carnet_api::config::Config| {
        c.demo_data = Some(false);
        c.checkpoints.key_file = key_file.clone();
        c.checkpoints.witnesses = witness_keys.clone();
    };
    let app = spawn_app_with(url, config).await;
    let team = app.token(Role::LabTeam, &[]);
    for title in ["Premier", "Deuxième", "Troisième"] {
        crate::witnesses::submit(&app, &team, title).await;
    }
    let size = committed_events(url).await;
    let kept = dir.path().join("kept-checkpoint");
    std::fs::write(&kept, served_checkpoint(&app, size).await).unwrap();
    let log_key = app.get("/checkpoint/key").await.text().await.unwrap().trim().to_owned();
    let log = CheckpointVerifier::new(&log_key).unwrap();
    let out = crate::witnesses::witness_once(&app, &log_key, &w).await;
    assert!(out.status.success(), "{}{}", out.stdout, out.stderr);
    drop(app);

    let store = carnet_api::startup::open_store(url).await.expect("store");
    apply(&store, tamper).await;
    std::fs::remove_file(format!("{key_file}.latest")).expect("the server's .latest");

    // the checkpoint kept by an auditor, and the witness's record, each catch it
    let record = w.state.join("cosigned");
    for file in [&kept, &record] {
        let opened = checkpoint::open(&std::fs::read_to_string(file).unwrap(), &log).unwrap();
        let found = carnet_lab::checkpoints::events_hold(&store, &opened, "the kept checkpoint").await.unwrap();
        assert!(found.is_some(), "{tamper:?}: the log still holds {}", file.display());
        let args = ["verify", "--checkpoint", file.to_str().unwrap(), "--key", &log_key];
        let out = carnet_beside(&args, url, Some(dir.path())).await;
        assert_eq!(out.status.code(), Some(2), "{tamper:?}: {}{}", out.stdout, out.stderr);
        assert!(out.stdout.contains("LOG ALTERED"), "{}", out.stdout);
    }

    // the server, restarted on the altered log, signs it; the witness refuses
    let after = spawn_app_with(url, config).await;
    if matches!(tamper, Tamper::TruncateEverything) {
        crate::witnesses::submit(&after, &after.token(Role::LabTeam, &[]), "Nouveau départ").await;
    }
    let now = committed_events(url).await;
    served_checkpoint(&after, now).await;
    let out = crate::witnesses::witness_once(&after, &log_key, &w).await;
    assert_eq!(out.status.code(), Some(3), "{tamper:?}: {}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("REFUSED"), "{}", out.stdout);
    assert_eq!(crate::witnesses::size_of(&record, &log), size, "the witness's record is unchanged");
}

macro_rules! on_both_backends {
    ($($name:ident: $tamper:expr,)*) => {
        mod postgres {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let db = FreshDatabase::create().await;
                    tampering_is_caught(&db.url, $tamper).await;
                }
            )*
        }
        mod sqlite {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = TempDir::new();
                    tampering_is_caught(&format!("sqlite://{}", dir.path().join("carnet.db").display()), $tamper).await;
                }
            )*
        }
    };
}

on_both_backends! {
    deleting_the_newest_event_of_a_stream_is_caught: Tamper::DeleteNewestEvent,
    forging_an_event_at_a_streams_end_with_a_correct_chain_is_caught: Tamper::ForgeAtStreamEnd,
    deleting_the_newest_events_and_their_checkpoints_is_caught: Tamper::DeleteNewestEventsAndCheckpoints,
    truncating_every_table_is_caught: Tamper::TruncateEverything,
    rewriting_the_whole_log_with_recomputed_hashes_is_caught: Tamper::RewriteWithRecomputedHashes,
}
