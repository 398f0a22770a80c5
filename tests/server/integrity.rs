//! `integrity` over GraphQL: auditors see the log intact with its latest seal, then the first
//! broken position once a payload is altered in the database; others are refused.

use crate::support::*;
use carnet_domain::person::Role;
use serde_json::json;

const INTEGRITY: &str = "query($seals: [String!]) { integrity(recordedSeals: $seals) { intact events streams seals \
                         unsealedEvents lastSeal { number hash lastGlobalPosition } \
                         breach { globalPosition streamId streamVersion kind message } } }";

#[tokio::test]
async fn auditors_check_the_log_and_find_the_first_altered_event() {
    let (db, app, team) = fresh_app_as(Role::LabTeam).await;
    let submit = SUBMIT_TITLED;
    for title in ["Premier", "Deuxième", "Troisième"] {
        let res = app.graphql_as(Some(&team), submit, json!({ "t": title })).await;
        assert!(res["errors"].is_null(), "{res}");
    }
    let store = carnet_api::startup::open_store(&db.url).await.expect("store");
    // the server's own sealer may have sealed them already: either way, every event is sealed
    carnet_store::integrity::seal_pending(&store).await.expect("seal");
    assert!(!carnet_store::integrity::seals(&store).await.expect("seals").is_empty(), "the events get a seal");
    assert_eq!(carnet_store::integrity::unsealed_events(&store, 1_000).await.expect("unsealed"), 0);

    let auditor = app.token(Role::Auditor, &[]);
    let res = app.graphql_as(Some(&auditor), INTEGRITY, json!({ "seals": [] })).await;
    let report = &res["data"]["integrity"];
    assert_eq!(report["intact"], true, "{res}");
    assert!(report["events"].as_u64().unwrap_or(0) >= 6, "three projects and their references: {res}");
    let seal = &report["lastSeal"];
    let recorded = format!("{}:{}", seal["number"], seal["hash"].as_str().expect("a seal hash"));
    let res = app.graphql_as(Some(&auditor), INTEGRITY, json!({ "seals": [recorded] })).await;
    assert_eq!(res["data"]["integrity"]["intact"], true, "the seal the auditor recorded is the stored one: {res}");

    // one payload changed behind Carnet's back: found, at that position
    let position: i64 = sqlx::query_scalar(
        "select global_position from events where event_type = 'ProjectSubmitted' order by global_position limit 1 offset 1",
    )
    .fetch_one(&db.pool)
    .await
    .expect("an event");
    sqlx::query("update events set payload = jsonb_set(payload, '{title}', '\"Falsifié\"') where global_position = $1")
        .bind(position)
        .execute(&db.pool)
        .await
        .expect("tamper");
    let res = app.graphql_as(Some(&auditor), INTEGRITY, json!({ "seals": [] })).await;
    let report = &res["data"]["integrity"];
    assert_eq!(report["intact"], false, "{res}");
    assert_eq!(report["breach"]["globalPosition"], position, "{res}");
    assert_eq!(report["breach"]["kind"], "HashMismatch", "{res}");

    // a malformed recorded seal, and roles that are not the auditors'
    let res = app.graphql_as(Some(&auditor), INTEGRITY, json!({ "seals": ["pas un sceau"] })).await;
    assert_eq!(res["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{res}");
    for role in [Role::LabTeam, Role::Academie, Role::Reader] {
        let res = app.graphql_as(Some(&app.token(role, &["24"])), INTEGRITY, json!({ "seals": [] })).await;
        assert_eq!(res["errors"][0]["extensions"]["code"], "FORBIDDEN", "{role:?}: {res}");
    }
    assert_eq!(
        app.graphql_as(Some(&app.token(Role::Admin, &[])), INTEGRITY, json!({ "seals": [] })).await["data"]["integrity"]
            ["intact"],
        false
    );
}
