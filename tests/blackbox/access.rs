//! Every role against every family of operations (DESIGN §6): who may read what, who may
//! write, and what another académie learns (nothing: `NOT_FOUND`).

use crate::support::*;
use carnet_domain::person::Role;
use serde_json::{Value, json};

/// What a caller got: `OK`, or the error's code.
fn outcome(res: &Value) -> String {
    match res["errors"][0]["extensions"]["code"].as_str() {
        Some(code) => code.to_owned(),
        None if res["errors"].is_null() => "OK".to_owned(),
        None => format!("no code: {res}"),
    }
}

#[tokio::test]
async fn each_role_gets_what_it_may_and_nothing_else() {
    let db = fresh_postgres().await;
    let app = spawn_app(&db.url).await;
    let team = app.token(Role::LabTeam, &[]);
    let submit = "mutation($t: String!) { submitProject(input: { title: $t, problemStatement: \"Un besoin.\", \
                  supportMode: PUNCTUAL, academieCodes: [\"24\"] }) { project { id } } }";
    let project = app.graphql_as(Some(&team), submit, json!({ "t": "Projet de Créteil" })).await["data"]["submitProject"]
        ["project"]["id"]
        .clone();
    let register = "mutation { registerPerson(input: { profile: { givenName: \"Lou\", usualName: \"Martin\" } }) { person { id } } }";
    let person =
        app.graphql_as(Some(&team), register, json!({})).await["data"]["registerPerson"]["person"]["id"].clone();
    let published = app.graphql_as(Some(&team), submit, json!({ "t": "Projet au catalogue" })).await["data"]
        ["submitProject"]["project"]["id"]
        .clone();
    let publish = "mutation($id: ID!) { publishProject(input: { projectId: $id }) { project { visibility } } }";
    let res = app.graphql_as(Some(&team), publish, json!({ "id": published })).await;
    assert_eq!(res["data"]["publishProject"]["project"]["visibility"], "PUBLIC", "{res}");
    let ids = json!({ "project": project, "public": published, "person": person, "t": "Un autre projet" });

    let operations: [(&str, &str); 12] = [
        ("me", "{ me { sub } }"),
        ("projects", "{ projects(first: 5) { totalCount } }"),
        ("internal project", "query($project: ID!) { project(id: $project) { reference } }"),
        ("internal node", "query($project: ID!) { node(id: $project) { id } }"),
        ("public project", "query($public: ID!) { project(id: $public) { reference title problemStatement status } }"),
        ("public project's holders", "query($public: ID!) { project(id: $public) { holders { role } } }"),
        (
            "public project asOf",
            "query($public: ID!) { project(id: $public, asOf: \"2100-01-01T00:00:00Z\") { reference } }",
        ),
        ("person", "query($person: ID!) { person(id: $person) { displayName } }"),
        ("indicators", "{ indicators { projects { total } } }"),
        ("sessions", "{ sessions(first: 5) { totalCount } }"),
        ("submitProject", submit),
        (
            "grantPersonRole",
            "mutation($person: ID!) { grantPersonRole(input: { personId: $person, role: AUDITOR }) { person { id } } }",
        ),
    ];
    const OK: &str = "OK";
    const NO: &str = "FORBIDDEN";
    const HIDDEN: &str = "NOT_FOUND";
    // who → expected outcome per operation, in the order above
    let table: [(&str, Option<String>, [&str; 12]); 7] = [
        ("nobody", None, ["UNAUTHENTICATED"; 12]),
        ("LAB_TEAM", Some(app.token(Role::LabTeam, &[])), [OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, NO]),
        ("ADMIN", Some(app.token(Role::Admin, &[])), [OK; 12]),
        ("AUDITOR", Some(app.token(Role::Auditor, &[])), [OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, NO, NO]),
        ("ACADEMIE 24", Some(app.token(Role::Academie, &["24"])), [OK, OK, OK, OK, OK, OK, OK, NO, OK, OK, NO, NO]),
        (
            "ACADEMIE 01",
            Some(app.token(Role::Academie, &["01"])),
            [OK, OK, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, NO, OK, OK, NO, NO],
        ),
        ("READER", Some(app.token(Role::Reader, &[])), [OK, OK, HIDDEN, HIDDEN, OK, NO, NO, NO, NO, NO, NO, NO]),
    ];
    let mut failures = vec![];
    for (who, token, expected) in &table {
        for ((operation, document), expected) in operations.iter().zip(expected) {
            let res = app.graphql_as(token.as_deref(), document, ids.clone()).await;
            let got = outcome(&res);
            if got != *expected {
                failures.push(format!("{who} × {operation}: expected {expected}, got {got}: {res}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // what the territories see of the list: their own projects only
    let count = |token: String| {
        let app = &app;
        async move {
            app.graphql_as(Some(&token), "{ projects(first: 5) { totalCount } }", json!({})).await["data"]["projects"]
                ["totalCount"]
                .as_u64()
        }
    };
    assert_eq!(count(app.token(Role::Academie, &["24"])).await, Some(4), "Créteil's own (this test wrote 4)");
    assert_eq!(count(app.token(Role::Academie, &["01"])).await, Some(0), "Paris has none");
    assert_eq!(count(app.token(Role::Reader, &[])).await, Some(1), "the public catalogue: one published project");

    // a field outside the catalogue is refused by name, for the reader only
    let reader = app.token(Role::Reader, &[]);
    let res =
        app.graphql_as(Some(&reader), "query($public: ID!) { project(id: $public) { progress } }", ids.clone()).await;
    assert_eq!(res["errors"][0]["extensions"]["code"], "FORBIDDEN", "{res}");
    assert!(res["errors"][0]["message"].as_str().unwrap_or_default().contains("progress"), "{res}");
    let listed = "{ projects(first: 5, filter: { visibility: [INTERNAL] }) { totalCount edges { node { title } } } }";
    let res = app.graphql_as(Some(&reader), listed, json!({})).await;
    assert_eq!(res["data"]["projects"]["totalCount"], 0, "asking for internal projects shows none: {res}");
}

/// Subscriptions answer to the same rules as queries: a `…Changed` subscription to what the
/// caller may not see is `NOT_FOUND`, `activity` is `FORBIDDEN` to a reader and limited to its
/// territory for an académie.
#[tokio::test]
async fn each_role_subscribes_to_what_it_may_read_only() {
    let db = fresh_postgres().await;
    let app = spawn_app(&db.url).await;
    let team = app.token(Role::LabTeam, &[]);
    let submit = |title: &'static str, academie: &'static str| {
        let (app, team) = (&app, &team);
        async move {
            let submit = "mutation($t: String!, $a: String!) { submitProject(input: { title: $t, \
                          problemStatement: \"Un besoin.\", supportMode: PUNCTUAL, academieCodes: [$a] }) \
                          { project { id } } }";
            let res = app.graphql_as(Some(team), submit, json!({ "t": title, "a": academie })).await;
            res["data"]["submitProject"]["project"]["id"].as_str().expect("a project id").to_owned()
        }
    };
    let internal = submit("Interne, à Créteil", "24").await;
    let public = submit("Au catalogue, à Créteil", "24").await;
    let publish = "mutation($id: ID!) { publishProject(input: { projectId: $id }) { project { id } } }";
    app.graphql_as(Some(&team), publish, json!({ "id": public })).await;

    let changed = "subscription($id: ID!) { projectChanged(id: $id, afterVersion: 0) { id } }";
    let activity = "subscription { activity(filter: { streamTypes: [\"project\"] }) { entityId eventType } }";
    // what the first message of an operation is: `next` with data, or the error's code (a
    // subscription refused at its start comes as a `next` with errors, as a query's would)
    fn outcome_of(message: &Value) -> String {
        let errors = if message["type"] == "error" { &message["payload"] } else { &message["payload"]["errors"] };
        match (message["type"].as_str(), errors[0]["extensions"]["code"].as_str()) {
            (_, Some(code)) => code.to_owned(),
            (Some("next"), None) => "next".into(),
            _ => format!("unexpected: {message}"),
        }
    }
    async fn first(ws: &mut GraphqlWs, id: &str) -> String {
        outcome_of(&ws.next_of(id).await)
    }
    let roles = [
        ("LAB_TEAM", app.token(Role::LabTeam, &[]), ["next", "next"], Some("24")),
        ("ADMIN", app.token(Role::Admin, &[]), ["next", "next"], Some("24")),
        ("AUDITOR", app.token(Role::Auditor, &[]), ["next", "next"], Some("24")),
        ("ACADEMIE 24", app.token(Role::Academie, &["24"]), ["next", "next"], Some("24")),
        ("ACADEMIE 01", app.token(Role::Academie, &["01"]), ["NOT_FOUND", "NOT_FOUND"], Some("01")),
        ("READER", app.token(Role::Reader, &[]), ["NOT_FOUND", "next"], None),
    ];
    let mut sockets = vec![];
    let mut failures = vec![];
    for (who, token, expected, _) in &roles {
        let mut ws = app.ws_as(token).await;
        ws.subscribe("internal", changed, json!({ "id": internal })).await;
        ws.subscribe("public", changed, json!({ "id": public })).await;
        for (operation, expected) in ["internal", "public"].iter().zip(expected) {
            let got = first(&mut ws, operation).await;
            if got != *expected {
                failures.push(format!("{who} × projectChanged({operation}): expected {expected}, got {got}"));
            }
        }
        ws.subscribe("activity", activity, json!({})).await;
        // once a later operation answered, `activity` is live
        ws.subscribe("barrier", changed, json!({ "id": public })).await;
        ws.next_of("barrier").await;
        sockets.push(ws);
    }
    // a Créteil project then a Paris one: of these, each caller first sees the first it may see
    let in_24 = submit("Nouveau, à Créteil", "24").await;
    let in_01 = submit("Nouveau, à Paris", "01").await;
    for ((who, _, _, academie), ws) in roles.iter().zip(&mut sockets) {
        // the feed may first bring the events committed just before the subscription started
        let (got, message) = loop {
            let message = ws.next_of("activity").await;
            match outcome_of(&message).as_str() {
                "next" => {
                    let entity = message["payload"]["data"]["activity"]["entityId"].as_str().unwrap_or_default();
                    if [&in_24, &in_01].contains(&&entity.to_owned()) {
                        break (entity.to_owned(), message);
                    }
                }
                code => break (code.to_owned(), message),
            }
        };
        let expected = match academie {
            Some("24") => in_24.clone(),
            Some(_) => in_01.clone(),
            None => "FORBIDDEN".to_owned(),
        };
        if got != expected {
            failures.push(format!("{who} × activity: expected {expected}, got {got}: {message}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // no token: the connection itself is refused
    let mut anonymous = app.ws().await;
    anonymous.init(json!({})).await;
    assert_eq!(anonymous.closed().await.0, 4403);
}
