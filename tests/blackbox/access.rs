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
    let ids = json!({ "project": project, "person": person, "t": "Un autre projet" });

    let operations: [(&str, &str); 9] = [
        ("me", "{ me { sub } }"),
        ("projects", "{ projects(first: 5) { totalCount } }"),
        ("project", "query($project: ID!) { project(id: $project) { reference } }"),
        ("node", "query($project: ID!) { node(id: $project) { id } }"),
        ("person", "query($person: ID!) { person(id: $person) { displayName } }"),
        ("indicators", "{ indicators { projects { total } } }"),
        ("sessions", "{ sessions(first: 5) { totalCount } }"),
        ("submitProject", submit),
        (
            "grantPersonRole",
            "mutation($person: ID!) { grantPersonRole(input: { personId: $person, role: AUDITOR }) { person { id } } }",
        ),
    ];
    // who → expected outcome per operation, in the order above
    let table: [(&str, Option<String>, [&str; 9]); 7] = [
        ("nobody", None, ["UNAUTHENTICATED"; 9]),
        (
            "LAB_TEAM",
            Some(app.token(Role::LabTeam, &[])),
            ["OK", "OK", "OK", "OK", "OK", "OK", "OK", "OK", "FORBIDDEN"],
        ),
        ("ADMIN", Some(app.token(Role::Admin, &[])), ["OK"; 9]),
        (
            "AUDITOR",
            Some(app.token(Role::Auditor, &[])),
            ["OK", "OK", "OK", "OK", "OK", "OK", "OK", "FORBIDDEN", "FORBIDDEN"],
        ),
        (
            "ACADEMIE 24",
            Some(app.token(Role::Academie, &["24"])),
            ["OK", "OK", "OK", "OK", "FORBIDDEN", "OK", "OK", "FORBIDDEN", "FORBIDDEN"],
        ),
        (
            "ACADEMIE 01",
            Some(app.token(Role::Academie, &["01"])),
            ["OK", "OK", "NOT_FOUND", "NOT_FOUND", "FORBIDDEN", "OK", "OK", "FORBIDDEN", "FORBIDDEN"],
        ),
        (
            "READER",
            Some(app.token(Role::Reader, &[])),
            [
                "OK",
                "FORBIDDEN",
                "FORBIDDEN",
                "FORBIDDEN",
                "FORBIDDEN",
                "FORBIDDEN",
                "FORBIDDEN",
                "FORBIDDEN",
                "FORBIDDEN",
            ],
        ),
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
    assert_eq!(count(app.token(Role::Academie, &["24"])).await, Some(3), "Créteil's own (this test wrote 3)");
    assert_eq!(count(app.token(Role::Academie, &["01"])).await, Some(0), "Paris has none");
}
