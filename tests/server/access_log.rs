//! The access log (issue 5, retention): every API request leaves a row — when, who (the token's
//! issuer and subject), which operation, what status — and rows older than the configured
//! retention are purged.

use crate::support::*;
use carnet_domain::person::Role;
use carnet_store::access_log::{AccessRecord, read_access_log, write_access_log};
use serde_json::json;

/// The access log's rows, once at least `n` are written (the server writes them in batches).
async fn rows(store: &carnet_store::AnyStore, n: usize) -> Vec<AccessRecord> {
    for _ in 0..200 {
        let rows = read_access_log(store, None, None, None, 100).await.expect("read the access log");
        if rows.len() >= n {
            return rows.into_iter().map(|(_, r)| r).collect();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the access log did not get {n} rows within 10 s");
}

#[tokio::test]
async fn each_request_is_logged_with_its_caller_and_old_rows_are_purged() {
    let (db, app) = fresh_app().await;
    let store = carnet_api::startup::open_store(&db.url).await.expect("store");
    let token = app.token(Role::Auditor, &[]);
    let res = app.graphql_as(Some(&token), "query Moi { me { sub } }", json!({})).await;
    assert_eq!(res["data"]["me"]["sub"], "test-user", "{res}");
    app.graphql_as(None, "{ projects(first: 1) { totalCount } }", json!({})).await;
    let logged = rows(&store, 2).await;
    let me = logged.iter().find(|r| r.operation.as_deref() == Some("Moi")).expect("the named operation");
    assert_eq!((me.issuer.as_deref(), me.subject.as_deref()), (Some("carnet-local"), Some("test-user")));
    assert_eq!((me.method.as_str(), me.path.as_str(), me.status), ("POST", "/graphql", 200));
    assert!(me.client_ip.is_some(), "{me:?}");
    let anonymous = logged.iter().find(|r| r.operation.as_deref() == Some("projects")).expect("by its root field");
    assert_eq!((anonymous.subject.as_deref(), anonymous.status), (None, 401));

    // a row older than the retention goes, a recent one stays
    let now = chrono::Utc::now();
    let record = |days: i64, request_id: &str| AccessRecord {
        at: now - chrono::Duration::days(days),
        request_id: request_id.into(),
        issuer: None,
        subject: Some("ancien".into()),
        client_ip: None,
        method: "POST".into(),
        path: "/graphql".into(),
        operation: None,
        status: 200,
        duration_ms: 1.0,
        error_codes: None,
    };
    write_access_log(&store, &[record(181, "too-old"), record(179, "kept")]).await.expect("write");
    let deleted = carnet_api::access_log::purge(&store, 180).await.expect("purge");
    assert_eq!(deleted, 1);
    let left: Vec<String> = rows(&store, 3).await.into_iter().map(|r| r.request_id).collect();
    assert!(left.contains(&"kept".to_owned()) && !left.contains(&"too-old".to_owned()), "{left:?}");
}
