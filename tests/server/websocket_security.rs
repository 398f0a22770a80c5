//! WebSockets under the same rules as HTTP (issue 10 §3): a change of the person's roles
//! reaches the open connections of that person (subscriptions it no longer allows end with
//! `ACCESS_REVOKED`, the socket closes once none is left), every operation spends the caller's
//! budget, and operations per connection and per caller are capped.
//!
//! As in `subscriptions.rs`, nothing sleeps and hopes: a change is known to have reached the
//! connection once a message it causes arrives, and every wait has a timeout.

use crate::support::*;
use crate::tokens::{ISSUER, SUB, admit, claims, provider, token};
use carnet_domain::person::Role;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

const CHANGED: &str = "subscription($id: ID!) { projectChanged(id: $id, afterVersion: 0) { id version } }";
const ACTIVITY: &str = "subscription { activity { entityId eventType } }";
const ME: &str = "{ me { roles { code } } }";

async fn submit(app: &TestApp, academie: &str) -> Value {
    let lab = app.token(Role::LabTeam, &[]);
    let submit = "mutation($a: String!) { submitProject(input: { title: \"Un projet\", problemStatement: \
                  \"Un besoin.\", supportMode: PUNCTUAL, academieCodes: [$a] }) { project { id } } }";
    let res = app.graphql_as(Some(&lab), submit, json!({ "a": academie })).await;
    let id = res["data"]["submitProject"]["project"]["id"].clone();
    assert!(id.is_string(), "{res}");
    id
}

async fn admin(app: &TestApp, document: &str, variables: Value) {
    let res = app.graphql_as(Some(&app.token(Role::Admin, &[])), document, variables).await;
    assert!(res["errors"].is_null(), "{res}");
}

async fn grant(app: &TestApp, person: &Value, role: &str, academies: &[&str]) {
    let grant = "mutation($p: ID!, $r: Role!, $a: [String!]!) { grantPersonRole(input: { personId: $p, role: $r, \
                 academieCodes: $a }) { person { id } } }";
    admin(app, grant, json!({ "p": person, "r": role, "a": academies })).await;
}

async fn revoke(app: &TestApp, person: &Value, role: &str) {
    let revoke =
        "mutation($p: ID!, $r: Role!) { revokePersonRole(input: { personId: $p, role: $r }) { person { id } } }";
    admin(app, revoke, json!({ "p": person, "r": role })).await;
}

/// The first error of operation `id` (its `next` messages with data skipped), which must then
/// complete.
async fn ended(ws: &mut GraphqlWs, id: &str) -> Value {
    loop {
        let message = ws.next_of(id).await;
        assert_eq!(message["type"], "next", "operation {id} completed without an error: {message}");
        if let Some(error) = message["payload"]["errors"].get(0) {
            let error = error.clone();
            let complete = ws.next_of(id).await;
            assert_eq!(complete["type"], "complete", "operation {id} goes on after {error}: {complete}");
            return error;
        }
    }
}

/// The roles `me` shows over the connection.
async fn roles_over(ws: &mut GraphqlWs, id: &str) -> Vec<String> {
    ws.subscribe(id, ME, json!({})).await;
    let data = ws.next_data(id).await;
    assert_eq!(ws.next_of(id).await["type"], "complete");
    let roles = data["data"]["me"]["roles"].as_array().cloned().unwrap_or_default();
    roles.iter().filter_map(|r| r["code"].as_str().map(str::to_owned)).collect()
}

carnet_testkit::for_each_backend!(url: a_revoked_role_ends_what_it_allowed_then_the_connection);

async fn a_revoked_role_ends_what_it_allowed_then_the_connection(url: &str, _: carnet_testkit::Backend) {
    let app = spawn_app_with(url, |c| c.oidc = vec![provider(ISSUER)]).await;
    let person = admit(&app, &[(ISSUER, SUB)], Some(("ACADEMIE", &["24"]))).await;
    grant(&app, &person, "AUDITOR", &[]).await;
    let mut ws = app.ws_as(&token(Algorithm::RS256, "rsa-1", &claims(SUB))).await;
    // `activity` first, so that both submissions reach it while AUDITOR sees everything (the
    // live feed may deliver an event committed before a subscription, if it follows the log
    // behind: wait for them here rather than meet them after the revocation)
    ws.subscribe("activity", ACTIVITY, json!({})).await;
    let (in_24, in_01) = (submit(&app, "24").await, submit(&app, "01").await);
    let mut submitted = std::collections::BTreeSet::new();
    while submitted.len() < 2 {
        let event = ws.next_data("activity").await;
        let event = &event["data"]["activity"];
        if event["eventType"] == "ProjectSubmitted" && [&in_24, &in_01].iter().any(|id| event["entityId"] == **id) {
            submitted.insert(event["entityId"].to_string());
        }
    }
    ws.subscribe("own", CHANGED, json!({ "id": in_24 })).await;
    ws.subscribe("other", CHANGED, json!({ "id": in_01 })).await;
    for id in ["own", "other"] {
        let current = ws.next_data(id).await;
        assert!(current["errors"].is_null(), "as AUDITOR, {id} is visible: {current}");
    }
    assert_eq!(roles_over(&mut ws, "me-1").await, ["ACADEMIE", "AUDITOR"]);

    // AUDITOR revoked: the Paris project is out of the territory left, Créteil's goes on
    revoke(&app, &person, "AUDITOR").await;
    let error = ended(&mut ws, "other").await;
    assert_eq!(error["extensions"]["code"], "ACCESS_REVOKED", "{error}");
    assert_eq!(error["extensions"]["reason"], "OUT_OF_TERRITORY", "{error}");
    assert!(error["message"].as_str().is_some_and(|m| m.contains("territoire")), "{error}");
    assert_eq!(roles_over(&mut ws, "me-2").await, ["ACADEMIE"], "operations run with the new roles");
    let start = "mutation($id: ID!) { startProjectQualification(input: { projectId: $id }) { project { id } } }";
    admin(&app, start, json!({ "id": in_01 })).await;
    admin(&app, start, json!({ "id": in_24 })).await;
    let update = ws.next_data("own").await;
    assert_eq!(update["data"]["projectChanged"]["version"], 2, "{update}");
    // `activity` goes on within the territory left: Créteil's change, not the Paris one before it
    loop {
        let event = ws.next_data("activity").await;
        let event = &event["data"]["activity"];
        assert_ne!(event["entityId"], in_01, "the Paris project's change reached Créteil: {event}");
        if event["entityId"] == in_24 {
            break;
        }
    }

    // the last role revoked: every subscription ends, then the connection
    revoke(&app, &person, "ACADEMIE").await;
    for id in ["own", "activity"] {
        let error = ended(&mut ws, id).await;
        assert_eq!(error["extensions"]["code"], "ACCESS_REVOKED", "{id}: {error}");
        assert_eq!(error["extensions"]["reason"], "ROLE_REVOKED", "{id}: {error}");
    }
    assert_eq!(ws.closed().await, (4403, "Forbidden: access revoked".to_owned()));
}

#[tokio::test]
async fn a_grant_takes_effect_on_the_open_connection_and_an_erasure_closes_it() {
    let db = FreshDatabase::create().await;
    let app = spawn_app_with(&db.url, |c| c.oidc = vec![provider(ISSUER)]).await;
    let person = admit(&app, &[(ISSUER, SUB)], Some(("ACADEMIE", &["24"]))).await;
    let in_01 = submit(&app, "01").await;
    let mut ws = app.ws_as(&token(Algorithm::RS256, "rsa-1", &claims(SUB))).await;
    ws.subscribe("paris", CHANGED, json!({ "id": in_01 })).await;
    assert_eq!(ended(&mut ws, "paris").await["extensions"]["code"], "NOT_FOUND", "outside the territory");

    grant(&app, &person, "AUDITOR", &[]).await;
    // the grant reaches the connection within the feed's delay
    let deadline = std::time::Instant::now() + WS_TIMEOUT;
    let mut n = 0;
    while !roles_over(&mut ws, &format!("me-{n}")).await.contains(&"AUDITOR".to_owned()) {
        assert!(std::time::Instant::now() < deadline, "the grant did not reach the open connection");
        n += 1;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    ws.subscribe("paris-again", CHANGED, json!({ "id": in_01 })).await;
    let current = ws.next_data("paris-again").await;
    assert!(current["errors"].is_null(), "the new role reads it: {current}");

    let erase =
        "mutation($p: ID!) { erasePerson(input: { personId: $p, reason: \"demande RGPD\" }) { person { id } } }";
    admin(&app, erase, json!({ "p": person })).await;
    let error = ended(&mut ws, "paris-again").await;
    assert_eq!(error["extensions"]["code"], "ACCESS_REVOKED", "{error}");
    assert_eq!(error["extensions"]["reason"], "IDENTITY_REFUSED", "{error}");
    assert_eq!(ws.closed().await.0, 4403);
}

#[tokio::test]
async fn every_operation_over_a_websocket_spends_the_callers_budget() {
    let db = FreshDatabase::create().await;
    let app = spawn_app_with(&db.url, |c| {
        c.rate_limit = carnet_api::rate_limit::RateLimitConfig { per_minute: 60, burst: 10, ..Default::default() }
    })
    .await;
    let lab = app.token(Role::LabTeam, &[]);
    let mut ws = app.ws_as(&lab).await;
    for i in 0..30 {
        ws.subscribe(&format!("q{i}"), "{ me { roles { code } } }", json!({})).await;
    }
    let (mut answered, mut limited) = (0, 0);
    for i in 0..30 {
        let first = ws.next_of(&format!("q{i}")).await;
        let error = &first["payload"]["errors"][0];
        if error.is_null() {
            answered += 1;
        } else {
            assert_eq!(error["extensions"]["code"], "RATE_LIMITED", "{first}");
            assert!(error["extensions"]["retryAfterSeconds"].as_u64().is_some_and(|s| s >= 1), "{first}");
            limited += 1;
        }
        assert_eq!(ws.next_of(&format!("q{i}")).await["type"], "complete");
    }
    // 10 at once, one spent by connection_init; a second may have refilled one
    assert!((9..=11).contains(&answered) && answered + limited == 30, "{answered} answered, {limited} limited");
    // the same budget as HTTP
    let res = app
        .post_graphql()
        .bearer_auth(&lab)
        .header("content-type", "application/json")
        .body(json!({ "query": ME }).to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 429, "the WebSocket spent the caller's HTTP budget too");
}

/// Subscribes `{prefix}0`, `{prefix}1`… on `ws` to the changes of `project`: the first `accepted`
/// get their data; the next one's first message, as the server answers it.
async fn fill(ws: &mut GraphqlWs, prefix: &str, accepted: usize, project: &Value) -> Value {
    for i in 0..accepted {
        ws.subscribe(&format!("{prefix}{i}"), CHANGED, json!({ "id": project })).await;
        assert!(ws.next_data(&format!("{prefix}{i}")).await["errors"].is_null());
    }
    ws.subscribe(&format!("{prefix}{accepted}"), CHANGED, json!({ "id": project })).await;
    ws.next_of(&format!("{prefix}{accepted}")).await
}

#[tokio::test]
async fn operations_are_capped_per_connection_and_per_caller() {
    let db = FreshDatabase::create().await;
    let app = spawn_app_with(&db.url, |c| {
        c.websocket = carnet_api::ws::WebSocketConfig { max_operations_per_connection: 3, max_operations_per_caller: 5 }
    })
    .await;
    let project = submit(&app, "24").await;
    let token = app.token(Role::Auditor, &[]);
    let refused = |message: &Value, scope: &str| {
        let error = &message["payload"]["errors"][0];
        error["extensions"]["code"] == "TOO_MANY_OPERATIONS" && error["extensions"]["scope"] == scope
    };
    let mut first = app.ws_as(&token).await;
    let message = fill(&mut first, "s", 3, &project).await;
    assert!(refused(&message, "connection"), "a fourth on one connection: {message}");
    assert_eq!(first.next_of("s3").await["type"], "complete");
    // completing one frees its place
    first.complete("s0").await;
    first.subscribe("s4", CHANGED, json!({ "id": project })).await;
    assert!(first.next_data("s4").await["errors"].is_null(), "a place was free");

    // the same caller on another connection: 2 more, not 3
    let mut second = app.ws_as(&token).await;
    let message = fill(&mut second, "t", 2, &project).await;
    assert!(refused(&message, "caller"), "a sixth for one caller: {message}");

    // another caller is not this one
    let verifier = carnet_api::auth::TokenVerifier::load_or_create(&app.secret).expect("secret");
    let other = verifier.mint("someone-else", &[Role::Auditor], &[], 1);
    let mut third = app.ws_as(&other).await;
    third.subscribe("u0", CHANGED, json!({ "id": project })).await;
    assert!(third.next_data("u0").await["errors"].is_null(), "another caller has its own places");

    // a closed connection frees every place it held
    drop(first);
    let deadline = std::time::Instant::now() + WS_TIMEOUT;
    for n in 0.. {
        let id = format!("retry{n}");
        second.subscribe(&id, CHANGED, json!({ "id": project })).await;
        let message = second.next_of(&id).await;
        if message["payload"]["errors"].is_null() {
            break;
        }
        assert!(refused(&message, "caller"), "{message}");
        assert!(std::time::Instant::now() < deadline, "the closed connection's places were never freed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
