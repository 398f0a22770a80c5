//! Black-box tests: the `carnet` binary, as an operator runs it, against real databases.
//! PostgreSQL comes from `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! a missing server fails the test with instructions, it is never skipped.

mod support;

use support::*;

#[tokio::test]
async fn migrate_then_serve_reports_an_empty_log_on_postgres() {
    let db = fresh_postgres().await;
    let out = carnet(&["migrate"], &db.url, None);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout.contains("migrations applied"), "{}", out.stdout);
    // applying them again is harmless
    assert!(carnet(&["migrate"], &db.url, None).status.success());
    let out = carnet(&["serve"], &db.url, None);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout.contains("postgresql event store ready, 0 events"), "{}", out.stdout);
    let tables: Vec<String> = sqlx::query_scalar(
        "select table_name::text from information_schema.tables where table_schema = 'public' order by 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    for t in ["commands", "events", "snapshots"] {
        assert!(tables.contains(&t.to_owned()), "{t} missing from {tables:?}");
    }
}

#[test]
fn the_default_sqlite_database_is_created_under_data() {
    let dir = TempDir::new();
    let out = carnet(&["serve"], "sqlite://data/carnet.db", Some(dir.path()));
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout.contains("sqlite event store ready, 0 events"), "{}", out.stdout);
    assert!(dir.path().join("data/carnet.db").exists());
}

#[test]
fn an_unreachable_database_is_a_clear_error_without_the_password() {
    let out = carnet(&["migrate"], "postgres://carnet:s3cret@127.0.0.1:1/nowhere", None);
    assert!(!out.status.success());
    assert!(out.stderr.contains("cannot open the database"), "{}", out.stderr);
    assert!(!out.stderr.contains("s3cret"), "the password leaked: {}", out.stderr);
}
