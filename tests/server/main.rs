//! The server suite (test target `server` of carnet-api): Carnet as each user group uses it,
//! against real databases. PostgreSQL comes from `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); a missing server fails the test with
//! instructions, it is never skipped. `TEST_LOG=1` shows the server's logs of a failing test.
//!
//! Two ways in, and each test says which by the helper it calls:
//! - **in process** ([`support::spawn_app`]): the application as `carnet serve` builds it
//!   (`carnet_api::startup::Application::build`), on a free port, driven over HTTP and WebSocket.
//!   Most tests: access, access_log, history, indicators, integrity, mutations, readme, sessions,
//!   surface, websocket_security, and the HTTP parts of the others.
//! - **the real binary** (`CARGO_BIN_EXE_carnet`, through [`support::carnet`] or a spawned
//!   `carnet serve`): what only the process shows — exit codes, printed output, configuration
//!   files and variables, start-up, signals and `kill -9`. All of config and demo; the
//!   commands of main (`migrate`, `rebuild`, `token`), export, restore and erasure (`rebuild`,
//!   `rotate-master-key`), `carnet witness` in witnesses; a served binary in access, frontend, idempotency and subscriptions,
//!   and a `carnet token` run in tokens.

mod access;
mod access_log;
mod checkpoints;
mod config;
mod demo;
mod erasure;
mod export;
mod frontend;
mod fuzz;
mod history;
mod idempotency;
mod indicators;
mod integrity;
mod mutations;
mod plans;
mod readme;
mod restore;
mod sessions;
mod subscriptions;
mod support;
mod surface;
mod tampering;
mod timestamps;
mod tokens;
mod websocket_security;
mod witnesses;

use support::*;

#[tokio::test]
async fn migrate_creates_the_event_store_on_postgres_and_is_repeatable() {
    let db = FreshDatabase::create().await;
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
    let (_db, app) = fresh_app().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"), "every response names its request");
    assert_eq!(app.get("/readyz").await.status(), 200);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains(r#"carnet_http_requests_total{method="GET",path="/healthz",status="200"}"#), "{metrics}");
    // every metric name is declared once, with its help text (api/src/telemetry.rs)
    assert!(metrics.contains("# HELP carnet_http_requests_total HTTP requests answered"), "{metrics}");
    let described = metrics.lines().filter(|l| l.starts_with("# HELP carnet_")).count();
    let shown: std::collections::BTreeSet<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("carnet_"))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(|name| name.trim_end_matches("_bucket").trim_end_matches("_sum").trim_end_matches("_count"))
        .collect();
    for name in &shown {
        assert!(metrics.contains(&format!("# HELP {name} ")), "{name} has no help text:\n{metrics}");
    }
    assert!(described >= shown.len(), "{metrics}");
}

#[tokio::test]
async fn readiness_fails_when_the_database_goes_away() {
    let (db, app) = fresh_app().await;
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

#[tokio::test]
async fn a_front_end_lists_the_academies_over_graphql() {
    let (_db, app) = fresh_app().await;
    let res = app.graphql("{ academies { code name regionAcademique current } }", serde_json::json!({})).await;
    let list = res["data"]["academies"].as_array().expect("a list");
    assert_eq!(list.len(), 34, "current académies only: {res}");
    assert!(list.iter().any(|a| a["code"] == "70" && a["regionAcademique"] == "Normandie"));
    assert!(list.iter().all(|a| a["code"] != "05"), "Caen is historical");
    let all = app
        .graphql("query($h: Boolean!) { academies(includeHistorical: $h) { code } }", serde_json::json!({ "h": true }))
        .await;
    assert_eq!(all["data"]["academies"].as_array().unwrap().len(), 36);
    let get = app.get("/graphql?query=%7Bacademies%7Bcode%7D%7D").await;
    assert_eq!(get.status(), 200, "queries work over GET");
}

#[tokio::test]
async fn the_graphql_endpoint_refuses_what_it_must() {
    let (_db, app) = fresh_app().await;
    let mutation_over_get = app.get("/graphql?query=mutation%7Bx%7D").await;
    assert_eq!(mutation_over_get.status(), 405);
    let form = app.post_graphql_raw("application/x-www-form-urlencoded", "query=%7Bacademies%7Bcode%7D%7D").await;
    assert_eq!(form.status(), 415, "no CSRF through form posts");
    let huge =
        serde_json::json!({ "query": format!("{{ academies {{ code }} }} # {}", "x".repeat(200 * 1024)) }).to_string();
    assert_eq!(app.post_graphql_raw("application/json", huge).await.status(), 413);
    // the cap holds on the GraphQL route itself, whatever the size sent
    let ten_mb = format!("{{\"query\": \"{{ academies {{ code }} }} # {}\"}}", "x".repeat(10 * 1024 * 1024));
    assert_eq!(app.post_graphql_raw("application/json", ten_mb).await.status(), 413);
    let batch = app.post_graphql_raw("application/json", r#"[{"query":"{academies{code}}"}]"#).await;
    assert_eq!(batch.status(), 400, "batched arrays are refused");
}

#[tokio::test]
async fn graphiql_is_served_from_the_binary_in_development_only() {
    let (db, app) = fresh_app().await;
    let page = app.get("/").await.text().await.unwrap();
    assert!(page.contains("/assets/graphiql/graphiql.min.js") && !page.contains("https://"), "no CDN");
    for asset in [
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
        "graphiql-init.js",
    ] {
        let res = app.get(&format!("/assets/graphiql/{asset}")).await;
        assert_eq!(res.status(), 200, "{asset}");
    }
    let introspection = app.graphql("{ __schema { queryType { name } } }", serde_json::json!({})).await;
    assert_eq!(introspection["data"]["__schema"]["queryType"]["name"], "Query");

    let production = spawn_app_with(&db.url, |c| c.profile = carnet_api::config::Profile::Production).await;
    assert_eq!(production.get("/").await.status(), 404);
    assert_eq!(production.get("/assets/graphiql/graphiql.min.js").await.status(), 404);
    let refused = production.graphql("{ __schema { queryType { name } } }", serde_json::json!({})).await;
    assert!(
        refused["errors"].is_array() && refused["data"].is_null() || refused["data"]["__schema"].is_null(),
        "{refused}"
    );
}

#[tokio::test]
async fn me_answers_who_the_token_says_and_bad_tokens_get_401() {
    let db = FreshDatabase::create().await;
    let dir = TempDir::new();
    let secret = dir.path().join("jwt-secret");
    let app = spawn_app_with(&db.url, |c| c.jwt_secret_file = secret.display().to_string()).await;

    let anonymous = app.graphql("{ me { sub } }", serde_json::json!({})).await;
    assert_eq!(anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{anonymous}");

    // the token the operator mints with `carnet token`, signed with the server's secret
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carnet"))
        .args(["token", "--role", "ACADEMIE", "--academie", "24", "--sub", "rectorat-creteil"])
        .env("CARNET_JWT_SECRET_FILE", &secret)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let body = serde_json::json!({ "query": "{ me { sub issuer roles { code label } academies } }" });
    let res = post_served(&app.client, &app.address, &token, &body).await;
    assert_eq!(res["data"]["me"]["sub"], "rectorat-creteil", "{res}");
    assert_eq!(res["data"]["me"]["roles"][0], serde_json::json!({ "code": "ACADEMIE", "label": "Académie" }));
    assert_eq!(res["data"]["me"]["academies"], serde_json::json!(["24"]));

    let mut forged = token.clone();
    forged.push('x');
    let refused = app.post_graphql().bearer_auth(forged).json(&body).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let refused: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(refused["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}

const LIST: &str = "query($first: Int, $after: String, $filter: ProjectFilterInput, $order: ProjectOrderBy) {
  projects(first: $first, after: $after, filter: $filter, orderBy: $order) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id reference status statusLabel academieCodes version } }
  }
}";

async fn five_projects(db: &FreshDatabase) {
    for (i, academie) in ["01", "24", "24", "25", "70"].iter().enumerate() {
        seed_project(&db.url, &format!("110B-P-2026-00{}", i + 1), academie, &format!("2026-0{}-10", i + 1)).await;
    }
}

#[tokio::test]
async fn a_front_end_pages_through_projects_with_filters_and_ordering() {
    use carnet_domain::person::Role;
    let (db, app) = fresh_app().await;
    five_projects(&db).await;
    let token = app.token(Role::LabTeam, &[]);
    let mut seen = vec![];
    let mut after = serde_json::Value::Null;
    loop {
        let res = app.graphql_as(Some(&token), LIST, serde_json::json!({ "first": 2, "after": after })).await;
        let page = &res["data"]["projects"];
        assert_eq!(page["totalCount"], 5, "{res}");
        for edge in page["edges"].as_array().unwrap() {
            seen.push(edge["node"]["reference"].as_str().unwrap().to_owned());
            assert_eq!(edge["node"]["statusLabel"], "Candidature reçue");
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    let expected: Vec<String> = (1..=5).map(|i| format!("110B-P-2026-00{i}")).collect();
    assert_eq!(seen, expected, "each project once, by submission date");

    let filtered = app
        .graphql_as(
            Some(&token),
            LIST,
            serde_json::json!({ "filter": { "academieCode": ["24"] }, "order": "REFERENCE_DESC" }),
        )
        .await;
    let refs: Vec<&str> = filtered["data"]["projects"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["reference"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["110B-P-2026-003", "110B-P-2026-002"]);

    for first in [0, 101] {
        let res = app.graphql_as(Some(&token), LIST, serde_json::json!({ "first": first })).await;
        assert_eq!(res["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{res}");
    }
}

#[tokio::test]
async fn an_academie_sees_its_own_projects_and_nothing_else() {
    use carnet_domain::person::Role;
    let (db, app) = fresh_app().await;
    five_projects(&db).await;
    let creteil = app.token(Role::Academie, &["24"]);
    let res = app.graphql_as(Some(&creteil), LIST, serde_json::json!({})).await;
    assert_eq!(res["data"]["projects"]["totalCount"], 2, "{res}");
    let others =
        app.graphql_as(Some(&creteil), LIST, serde_json::json!({ "filter": { "academieCode": ["01"] } })).await;
    assert_eq!(others["data"]["projects"]["totalCount"], 0, "asking for Paris gives nothing: {others}");

    let lab = app.token(Role::LabTeam, &[]);
    let all = app.graphql_as(Some(&lab), LIST, serde_json::json!({ "filter": { "academieCode": ["01"] } })).await;
    let paris_id = all["data"]["projects"]["edges"][0]["node"]["id"].clone();
    let one = "query($id: ID!) { project(id: $id) { reference } }";
    let as_lab = app.graphql_as(Some(&lab), one, serde_json::json!({ "id": paris_id })).await;
    assert_eq!(as_lab["data"]["project"]["reference"], "110B-P-2026-001");
    let as_creteil = app.graphql_as(Some(&creteil), one, serde_json::json!({ "id": paris_id })).await;
    assert_eq!(as_creteil["errors"][0]["extensions"]["code"], "NOT_FOUND", "not FORBIDDEN: {as_creteil}");
    let unknown = app.graphql_as(Some(&lab), one, serde_json::json!({ "id": "bm9wZQ" })).await;
    assert_eq!(unknown["errors"][0]["extensions"]["code"], "NOT_FOUND");

    let anonymous = app.graphql(LIST, serde_json::json!({})).await;
    assert_eq!(anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    // a reader sees the public catalogue only: none of these projects is published
    let reader = app.graphql_as(Some(&app.token(Role::Reader, &[])), LIST, serde_json::json!({})).await;
    assert_eq!(reader["data"]["projects"]["totalCount"], 0, "{reader}");
}

#[tokio::test]
async fn an_operator_rebuilds_the_project_read_model_with_no_change_in_answers() {
    use carnet_domain::person::Role;
    let (db, app) = fresh_app().await;
    five_projects(&db).await;
    let token = app.token(Role::Auditor, &[]);
    let before = app.graphql_as(Some(&token), LIST, serde_json::json!({ "first": 100 })).await;
    let out = carnet(&["rebuild", "projects"], &db.url, None);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout.contains("5 applied"), "{}", out.stdout);
    let after = app.graphql_as(Some(&token), LIST, serde_json::json!({ "first": 100 })).await;
    assert_eq!(before, after, "the rebuilt read model answers the same");
    let unknown = carnet(&["rebuild", "nothing"], &db.url, None);
    assert!(
        !unknown.status.success() && unknown.stderr.contains("the read models are: projects"),
        "{}",
        unknown.stderr
    );
}
