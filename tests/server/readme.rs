//! The README's examples work: every `graphql` block in it runs against the demo data without
//! an error, as the lab team (a front end's first queries and mutations, an académie's, an
//! auditor's).

use crate::support::*;
use carnet_domain::person::Role;

#[tokio::test]
async fn readme_examples_run() {
    let blocks = carnet_testkit::readme_blocks("graphql");
    assert!(blocks.len() >= 4, "the README shows queries: {}", blocks.len());

    let db = demo_database(chrono::Utc::now().date_naive()).await;
    let app = spawn_app(&db.url).await;
    let token = app.token(Role::LabTeam, &[]);
    for block in blocks {
        let res = app.graphql_as(Some(&token), &block, serde_json::json!({})).await;
        assert!(res["errors"].is_null(), "README example failed:\n{block}\n{res}");
        assert!(res["data"].is_object(), "{block}\n{res}");
    }
}
