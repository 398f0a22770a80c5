//! Black-box tests: the `carnet` binary, as an operator runs it, against real databases.
//! PostgreSQL comes from `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! a missing server fails the test with instructions, it is never skipped.

mod support;

use support::*;

#[tokio::test]
async fn migrate_creates_the_event_store_on_postgres_and_is_repeatable() {
    let db = fresh_postgres().await;
    let out = carnet(&["migrate"], &db.url, None);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout.contains("migrations applied"), "{}", out.stdout);
    assert!(carnet(&["migrate"], &db.url, None).status.success(), "applying them again is harmless");
    let tables: Vec<String> = sqlx::query_scalar(
        "select table_name::text from information_schema.tables where table_schema = 'public' order by 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    for t in ["events", "snapshots"] {
        assert!(tables.contains(&t.to_owned()), "{t} missing from {tables:?}");
    }
}

#[test]
fn the_default_sqlite_database_is_created_under_data() {
    let dir = TempDir::new();
    let out = carnet(&["migrate"], "sqlite://data/carnet.db", Some(dir.path()));
    assert!(out.status.success(), "{}", out.stderr);
    assert!(dir.path().join("data/carnet.db").exists());
}

#[tokio::test]
async fn the_server_answers_health_readiness_and_metrics_on_postgres() {
    let db = fresh_postgres().await;
    let app = spawn_app(&db.url).await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"), "every response names its request");
    assert_eq!(app.get("/readyz").await.status(), 200);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains(r#"carnet_http_requests_total{method="GET",path="/healthz",status="200"}"#), "{metrics}");
}

#[tokio::test]
async fn readiness_fails_when_the_database_goes_away() {
    let db = fresh_postgres().await;
    let app = spawn_app(&db.url).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    db.drop_now().await;
    assert_eq!(app.get("/readyz").await.status(), 503);
    assert_eq!(app.get("/healthz").await.status(), 200, "alive all the same");
}

#[test]
fn an_unreachable_database_is_a_clear_error_without_the_password() {
    let out = carnet(&["migrate"], "postgres://carnet:s3cret@127.0.0.1:1/nowhere", None);
    assert!(!out.status.success());
    assert!(out.stderr.contains("cannot open the database"), "{}", out.stderr);
    assert!(!out.stderr.contains("s3cret"), "the password leaked: {}", out.stderr);
}
