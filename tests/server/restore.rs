//! Operators restore backups and empty tables by mistake (issue 10, §1). A `pg_dump` restored
//! into a new PostgreSQL cluster — a second cluster `initdb`-ed here in a temporary folder, on a
//! free port — or into another database of the same cluster gives a Carnet that reads, exports,
//! seals and subscribes to every restored event, numbers new events after them and verifies
//! intact, without loading demo data on top. A log emptied or cut behind the server's back is
//! an integrity failure (`integrity`, `carnet verify`) and `/readyz` fails, on both backends.

use crate::support::*;
use carnet_domain::person::Role;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const INTEGRITY: &str = "{ integrity { intact events breach { globalPosition streamId streamVersion kind message } } }";

const FEED: &str = "query($after: String) { events(first: 100, after: $after) { totalCount \
                    edges { node { globalPosition type } } pageInfo { hasNextPage endCursor } } }";

/// The folder of PostgreSQL's server programs (`initdb`, `pg_ctl`), the newest version
/// installed; fails with how to install them.
fn server_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).filter(|p| p.join("initdb").exists()).collect())
        .unwrap_or_default();
    versions.sort_by_key(|p| {
        p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok())
    });
    versions.pop().unwrap_or_else(|| {
        panic!(
            "initdb and pg_ctl not found under /usr/lib/postgresql/*/bin: install the PostgreSQL server package \
             (apt-get install postgresql)"
        )
    })
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A PostgreSQL cluster of its own, in a temporary folder, on a free port; stopped when dropped.
/// As root (CI), its programs run as the `postgres` user, as initdb requires.
struct Cluster {
    dir: TempDir,
    port: u16,
    bin: PathBuf,
}

impl Cluster {
    fn command(&self, program: &str) -> Command {
        as_postgres(&self.bin.join(program))
    }

    fn start() -> Self {
        let bin = server_bin();
        let dir = TempDir::new();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("data folder");
        chown_to_postgres(dir.path());
        chown_to_postgres(&data);
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("port").port();
        let cluster = Self { dir, port, bin };
        run(cluster.command("initdb").args(["-D"]).arg(&data).args(["-U", "postgres", "--auth=trust", "-E", "UTF8"]));
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            cluster.dir.path().display()
        );
        run(cluster
            .command("pg_ctl")
            .args(["-D"])
            .arg(&data)
            .args(["-o", &options, "-w", "-t", "60", "-l"])
            .arg(cluster.dir.path().join("log"))
            .arg("start"));
        cluster
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D"])
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn chown_to_postgres(path: &Path) {
    if is_root() {
        run(Command::new("chown").arg("postgres:postgres").arg(path));
    }
}

/// Every event of the auditors' feed, in reading order: (position, type).
async fn feed(app: &TestApp, auditor: &str) -> Vec<(i64, String)> {
    let mut all = Vec::new();
    let mut after = Value::Null;
    loop {
        let res = app.graphql_as(Some(auditor), FEED, json!({ "after": after })).await;
        let page = &res["data"]["events"];
        assert!(page.is_object(), "{res}");
        for edge in page["edges"].as_array().expect("edges") {
            all.push((
                edge["node"]["globalPosition"].as_i64().expect("position"),
                edge["node"]["type"].as_str().expect("type").to_owned(),
            ));
        }
        if page["pageInfo"]["hasNextPage"] != true {
            return all;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

async fn submit(app: &TestApp, token: &str, title: &str) {
    let res = app.graphql_as(Some(token), SUBMIT_TITLED, json!({ "t": title })).await;
    assert!(res["errors"].is_null(), "{res}");
}

/// Spends transaction ids on `pool`'s cluster until its counter passes `floor`.
async fn spend_transaction_ids(pool: &sqlx::PgPool, floor: i64) {
    loop {
        let now: i64 =
            sqlx::query_scalar("select pg_current_xact_id()::text::bigint").fetch_one(pool).await.expect("xid");
        if now > floor {
            return;
        }
    }
}

/// What every restore must give: the restored log read, exported, sealed and subscribed to;
/// new events after it; verification intact; no demo data on top.
async fn a_restored_log_is_whole(url: &str, restored_events: usize) {
    let lab = lab(url).await;
    let today = chrono::Utc::now().date_naive();
    assert!(
        carnet_lab::demo::load_if_empty(&lab, today).await.expect("demo check").is_none(),
        "no demo data on top of a restored log"
    );
    let app = spawn_app(url).await;
    let auditor = app.token(Role::Auditor, &[]);
    let team = app.token(Role::LabTeam, &[]);
    let before = feed(&app, &auditor).await;
    assert_eq!(before.len(), restored_events, "every restored event is read: {before:?}");
    assert_eq!(app.get("/readyz").await.status(), 200);

    // subscribed: a new event arrives live, and sorts after every restored one
    let mut ws = app.ws_as(&auditor).await;
    ws.subscribe("a", "subscription { activity { globalPosition eventType } }", json!({})).await;
    // the subscription is in place once a query on the same socket answers (operations run in order)
    ws.subscribe("barrier", "query { me { roles } }", json!({})).await;
    let _ = ws.next_of("barrier").await;
    submit(&app, &team, "Après la restauration").await;
    let live = ws.next_data("a").await;
    assert!(live["data"]["activity"]["globalPosition"].is_i64(), "{live}");
    let after = feed(&app, &auditor).await;
    assert_eq!(&after[..restored_events], &before[..], "the restored events keep their order");
    assert!(after.len() > restored_events, "{after:?}");
    assert!(after[restored_events..].iter().any(|(_, t)| t == "ProjectSubmitted"), "new events come after: {after:?}");

    // exported, sealed, verified
    let dir = TempDir::new();
    let export = dir.path().join("log.jsonl");
    let out = carnet(&["export", "--output", export.to_str().expect("path")], url, Some(dir.path()));
    assert!(out.status.success(), "{}", out.stderr);
    let lines = std::fs::read_to_string(&export).expect("export").lines().count();
    assert_eq!(lines, after.len(), "the export holds every event");
    let out = carnet(&["seal"], url, Some(dir.path()));
    assert!(out.status.success(), "{}{}", out.stdout, out.stderr);
    let pool = sqlx::PgPool::connect(url).await.expect("connect");
    let sealed: i64 = sqlx::query_scalar("select coalesce(sum(event_count), 0)::bigint from seals")
        .fetch_one(&pool)
        .await
        .expect("seals");
    assert_eq!(sealed as usize, after.len(), "every event is sealed: {}", out.stdout);
    let out = carnet(&["verify"], url, Some(dir.path()));
    assert!(out.status.success() && out.stdout.contains("log intact"), "{}{}", out.stdout, out.stderr);
    let res = app.graphql_as(Some(&auditor), INTEGRITY, json!({})).await;
    assert_eq!(res["data"]["integrity"]["intact"], true, "{res}");
}

#[tokio::test]
async fn a_dump_restored_into_a_new_cluster_or_another_database_is_whole() {
    let source = FreshDatabase::create().await;
    // the source's transaction ids must be above the new cluster's counter (a few hundred after
    // initdb), as they are in production: that is the case that hid the whole log
    spend_transaction_ids(&source.pool, 5_000).await;
    let app = spawn_app(&source.url).await;
    let team = app.token(Role::LabTeam, &[]);
    for title in ["Premier", "Deuxième", "Troisième"] {
        submit(&app, &team, title).await;
    }
    let events: i64 = sqlx::query_scalar("select count(*) from events").fetch_one(&source.pool).await.expect("count");
    let dir = TempDir::new();
    let dump = dir.path().join("carnet.dump");
    chown_to_postgres(dir.path());
    run(Command::new("pg_dump").args(["-Fc", "--no-owner", "-d", &source.url, "-f"]).arg(&dump));

    // a new cluster
    let cluster = Cluster::start();
    run(cluster.command("createdb").args([
        "-h",
        "127.0.0.1",
        "-p",
        &cluster.port.to_string(),
        "-U",
        "postgres",
        "carnet",
    ]));
    run(Command::new("pg_restore").args(["--no-owner", "-d", &cluster.url("carnet")]).arg(&dump));
    let restored = sqlx::PgPool::connect(&cluster.url("carnet")).await.expect("connect to the new cluster");
    let (max, now): (i64, i64) =
        sqlx::query_as("select (select max(transaction_id) from events), pg_current_xact_id()::text::bigint")
            .fetch_one(&restored)
            .await
            .expect("transaction ids");
    assert!(max > now, "the restored ids ({max}) are above the new cluster's counter ({now})");
    restored.close().await;
    a_restored_log_is_whole(&cluster.url("carnet"), events as usize).await;

    // another database of the same cluster
    let copy = FreshDatabase::create().await;
    run(Command::new("pg_restore").args(["--no-owner", "--clean", "--if-exists", "-d", &copy.url]).arg(&dump));
    a_restored_log_is_whole(&copy.url, events as usize).await;
}

/// Empties or cuts the log under a running server, on `url`; `sql` runs `statements` directly.
async fn a_cut_log_is_not_whole(url: &str, run_sql: impl AsyncFn(&str)) {
    let app = spawn_app_with(url, |c| c.demo_data = Some(false)).await;
    let team = app.token(Role::LabTeam, &[]);
    let auditor = app.token(Role::Auditor, &[]);
    for title in ["Premier", "Deuxième"] {
        submit(&app, &team, title).await;
    }
    let res = app.graphql_as(Some(&auditor), INTEGRITY, json!({})).await;
    assert_eq!(res["data"]["integrity"]["intact"], true, "{res}");
    assert_eq!(app.get("/readyz").await.status(), 200);
    let dir = TempDir::new();

    // the newest event of one project's stream, not the log's last: the read model says so
    run_sql(
        "delete from events where global_position = (select max(global_position) from events \
         where stream_id like 'project-%' and global_position < (select max(global_position) from events))",
    )
    .await;
    let res = app.graphql_as(Some(&auditor), INTEGRITY, json!({})).await;
    assert_eq!(res["data"]["integrity"]["intact"], false, "{res}");
    assert_eq!(res["data"]["integrity"]["breach"]["kind"], "ReadModelAhead", "{res}");

    // the whole log emptied
    run_sql("delete from seals").await;
    run_sql("delete from events").await;
    let res = app.graphql_as(Some(&auditor), INTEGRITY, json!({})).await;
    let breach = &res["data"]["integrity"]["breach"];
    assert_eq!(res["data"]["integrity"]["intact"], false, "{res}");
    assert_eq!(breach["kind"], "LogCut", "{res}");
    assert!(breach["message"].as_str().is_some_and(|m| m.contains("emptied")), "{res}");
    let out = carnet(&["verify"], url, Some(dir.path()));
    assert_eq!(out.status.code(), Some(2), "carnet verify fails: {}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("LOG ALTERED") && out.stdout.contains("emptied"), "{}", out.stdout);
    // readyz fails within the guard's period, naming why
    let deadline = std::time::Instant::now() + carnet_lab::log_check::GUARD_PERIOD * 4;
    loop {
        let res = app.get("/readyz").await;
        if res.status() == 503 {
            let body = res.text().await.expect("body");
            assert!(body.contains("not whole"), "{body}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "/readyz still answers {}", res.status());
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // the recorded mark emptied too: the read models still tell, and no demo data lands
    run_sql("delete from log_extent").await;
    let out = carnet(&["verify"], url, Some(dir.path()));
    assert_eq!(out.status.code(), Some(2), "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("read model"), "{}", out.stdout);
    let lab = lab(url).await;
    assert!(carnet_lab::demo::load_if_empty(&lab, chrono::Utc::now().date_naive()).await.expect("demo").is_none());
}

#[tokio::test]
async fn an_emptied_or_cut_log_is_an_integrity_failure_on_postgres() {
    let db = FreshDatabase::create().await;
    let pool = db.pool.clone();
    a_cut_log_is_not_whole(&db.url, async |sql: &str| {
        sqlx::query(sql).execute(&pool).await.expect("tamper");
    })
    .await;
}

#[tokio::test]
async fn an_emptied_or_cut_log_is_an_integrity_failure_on_sqlite() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.path().join("carnet.db").display());
    let pool = sqlx::SqlitePool::connect_lazy(&format!("{url}?mode=rwc")).expect("sqlite");
    a_cut_log_is_not_whole(&url, async |sql: &str| {
        sqlx::query(sql).execute(&pool).await.expect("tamper");
    })
    .await;
}

#[tokio::test]
async fn demo_data_loads_only_into_a_database_that_never_held_events() {
    for emptied in [false, true] {
        let db = FreshDatabase::create().await;
        let lab = lab(&db.url).await;
        if emptied {
            seed_project(&db.url, "110B-P-2026-001", "24", "2026-01-05").await;
            // everything a careless operator can empty
            sqlx::query("truncate events, seals, log_extent, project, session, person")
                .execute(&db.pool)
                .await
                .expect("truncate");
        }
        let loaded = carnet_lab::demo::load_if_empty(&lab, chrono::Utc::now().date_naive()).await.expect("demo");
        assert_eq!(loaded.is_some(), !emptied, "emptied: {emptied}");
    }
}
