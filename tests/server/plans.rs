//! PostgreSQL keeps the plans of Carnet's statements: none is planned anew at every execution.
//!
//! Every statement goes to PostgreSQL prepared (sqlx keeps them per connection). By default
//! PostgreSQL plans a prepared statement with its values for its first five executions, then
//! keeps a generic plan only if it does not look dearer than those; for 17 of Carnet's
//! statements it always did — a list of ids (`= any($1)`, its length unknown), a `LIMIT` parameter — so each
//! was planned again at every execution, up to half of a statement's time on the server
//! (BENCHMARKS.md, "Plans kept"). Carnet's connections ask for generic plans
//! (`PgStore::connect_options`). The command side and the reads the API makes run here on a
//! pool of one connection, so that `pg_prepared_statements` (which each connection only shows
//! for itself) sees them all. SQLite compiles a prepared statement once: nothing to check there.

use super::support::*;
use carnet_projections::*;
use carnet_store::feed::{Feed, FeedFilter};
use carnet_store::{AnyStore, Checkpoint, EventStore, PgStore, StreamId};

#[tokio::test]
async fn no_statement_of_the_command_side_or_the_reads_is_planned_anew_at_each_execution() {
    let db = FreshDatabase::create().await;
    let pg = PgStore::connect(&db.url, 1).await.expect("one connection");
    pg.migrate().await.expect("migrate");
    let store = AnyStore::Postgres(pg.clone());
    let lab = carnet_lab::Lab::new(store.clone(), "110B", test_master_keys());
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
    carnet_lab::demo::load(&lab, today).await.expect("the demo data, through the commands");

    let db_ = store.db();
    let order = ProjectOrder::default();
    let first = list_projects(db_, &ProjectFilter::default(), order, 3, None).await.expect("a page");
    let cursor = first.rows.last().expect("demo projects").cursor(order.field);
    let academie = first.rows[0].academies[0].clone();
    let code = carnet_domain::values::AcademieCode::parse(&academie).expect("an académie code");
    let stream = StreamId::parse(&format!("project-{}", first.rows[0].id)).expect("a stream id");
    let late = chrono::Utc::now();
    for _ in 0..12 {
        let counted = Fetch::everything();
        let uncounted = Fetch { count: false, ..Fetch::everything() };
        for fetch in [&counted, &uncounted] {
            list_projects_fetching(db_, &ProjectFilter::default(), order, 20, None, false, fetch).await.unwrap();
            list_projects_fetching(db_, &ProjectFilter::default(), order, 20, Some(&cursor), false, fetch)
                .await
                .unwrap();
            let territory = ProjectFilter { academie_code: vec![code], ..Default::default() };
            list_projects_fetching(db_, &territory, order, 20, None, false, fetch).await.unwrap();
            let sessions = Fetch { omit: vec![], count: fetch.count };
            list_sessions_fetching(db_, &SessionFilter::default(), SessionOrder::default(), 20, None, false, &sessions)
                .await
                .unwrap();
        }
        projects_by_ids(db_, &[first.rows[0].id, first.rows[1].id]).await.unwrap();
        indicators(db_, &Period::default(), &[]).await.unwrap();
        indicators_as_of(db_, late, &Period::default(), std::slice::from_ref(&code)).await.unwrap();
        project_as_of(&store, lab.codec(), first.rows[0].id, late).await.unwrap();
        store.read_stream(&stream, 0, None).await.unwrap();
        store.read_feed(&FeedFilter::default(), Checkpoint::START, 21).await.unwrap();
        store.read_feed_back(&FeedFilter::default(), None, 21).await.unwrap();
    }

    let plans: Vec<(String, i64, i64)> = sqlx::query_as(
        "select statement, generic_plans, custom_plans from pg_prepared_statements order by custom_plans desc",
    )
    .fetch_all(pg.pool())
    .await
    .expect("the connection's prepared statements");
    assert!(plans.len() > 20, "the workload prepared the statements of the lab: {plans:?}");
    assert!(plans.iter().any(|(s, g, _)| s.contains("from project p") && *g > 0), "lists ran: {plans:?}");
    let replanned: Vec<&(String, i64, i64)> = plans.iter().filter(|(_, _, custom)| *custom > 5).collect();
    assert!(
        replanned.is_empty(),
        "planned anew at each execution (statement, generic plans, custom plans): {replanned:#?}"
    );
}
