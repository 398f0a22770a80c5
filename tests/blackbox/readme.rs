//! The README's examples work: every `graphql` block in it runs against the demo data without
//! an error, as the lab team (a front end's first queries and mutations, an académie's, an
//! auditor's).

use crate::support::*;
use carnet_domain::person::Role;

fn graphql_blocks(readme: &str) -> Vec<String> {
    let mut blocks = vec![];
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```graphql") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), line) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[tokio::test]
async fn readme_examples_run() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README.md");
    let blocks = graphql_blocks(&readme);
    assert!(blocks.len() >= 4, "the README shows queries: {}", blocks.len());

    let db = fresh_postgres().await;
    let store = carnet_api::startup::open_store(&db.url).await.expect("store");
    let lab = carnet_lab::Lab::new(store, "110B", test_master_keys());
    carnet_lab::demo::load(&lab, chrono::Utc::now().date_naive()).await.expect("demo data");
    let app = spawn_app(&db.url).await;
    let token = app.token(Role::LabTeam, &[]);
    for block in blocks {
        let res = app.graphql_as(Some(&token), &block, serde_json::json!({})).await;
        assert!(res["errors"].is_null(), "README example failed:\n{block}\n{res}");
        assert!(res["data"].is_object(), "{block}\n{res}");
    }
}
