//! The lab team changes projects through mutations: each payload shows the new state, a stale
//! `expectedVersion` gets `CONFLICT`, and bad input is refused by name with nothing written.

use crate::support::*;
use carnet_domain::person::Role;
use serde_json::{Value, json};

#[tokio::test]
async fn a_project_goes_from_submission_to_transfer_each_payload_showing_its_state() {
    let (_db, app, token) = fresh_app_as(Role::LabTeam).await;

    let project = app.submit_project(&token, "Mathématiques en seconde", "24").await;
    assert_eq!(project["reference"], "110B-P-2026-001", "the first reference of the submission year");
    assert_eq!((project["status"].as_str(), project["version"].as_u64()), (Some("SUBMITTED"), Some(1)));
    let second = app.submit_project(&token, "Un deuxième projet", "01").await;
    assert_eq!(second["reference"], "110B-P-2026-002", "numbers follow each other");

    let id = project["id"].clone();
    let steps: Vec<(&str, Value, &str, Option<&str>)> = vec![
        ("startProjectQualification", json!({ "on": "2026-09-20" }), "QUALIFYING", None),
        ("acceptProject", json!({ "on": "2026-10-01", "supportMode": "INCUBATION" }), "ACTIVE", Some("EXPLORATION")),
        ("linkProjectAcademie", json!({ "academieCode": "01" }), "ACTIVE", Some("EXPLORATION")),
        ("linkProjectEstablishment", json!({ "uai": "0750654D" }), "ACTIVE", Some("EXPLORATION")),
        ("startProjectPhase", json!({ "phase": "PROTOTYPING", "on": "2026-11-02" }), "ACTIVE", Some("PROTOTYPING")),
        (
            "recordProjectReview",
            json!({ "decision": "CONTINUE", "heldOn": "2026-11-20" }),
            "ACTIVE",
            Some("PROTOTYPING"),
        ),
        ("updateProjectProgress", json!({ "progress": 60 }), "ACTIVE", Some("PROTOTYPING")),
        ("pauseProject", json!({ "on": "2026-12-01", "reason": "Congés de l'équipe" }), "PAUSED", Some("PROTOTYPING")),
        ("resumeProject", json!({ "on": "2027-01-04" }), "ACTIVE", Some("PROTOTYPING")),
        ("startProjectPhase", json!({ "phase": "TRANSFER", "on": "2027-03-01" }), "ACTIVE", Some("TRANSFER")),
        ("transferProject", json!({ "on": "2027-06-30", "to": "DNE" }), "TRANSFERRED", None),
    ];
    let mut version = 1;
    // what the API answered, and when: `project(id, asOf)` must answer the same later
    // and the indicators, which `indicators(asOf)` rebuilds from the log
    const FIGURES: &str = "query($at: DateTime) { indicators(asOf: $at) { projects { total newRequests accepted \
                           transferred acceptanceRate byStatus { status count } byPhase { phase count } \
                           byAcademie { code count } } sessions { held visitors } } }";
    let figures = async |at: Option<chrono::DateTime<chrono::Utc>>| {
        let res = app.graphql_as(Some(&token), FIGURES, json!({ "at": at })).await;
        assert!(res["errors"].is_null(), "{res}");
        res["data"]["indicators"].clone()
    };
    let mut answers = vec![(chrono::Utc::now(), project.clone())];
    let mut figures_then = vec![figures(None).await];
    for (name, mut input, status, phase) in steps {
        input["projectId"] = id.clone();
        input["expectedVersion"] = json!(version);
        input["clientMutationId"] = json!(format!("step-{name}-{version}"));
        let project = app.mutate(&token, name, input, "project", PROJECT_FIELDS).await;
        assert_eq!(project["status"], status, "{name}: {project}");
        assert_eq!(project["phase"].as_str(), phase, "{name}: {project}");
        assert!(project["version"].as_u64().unwrap() > version, "{name} moves the version: {project}");
        version = project["version"].as_u64().unwrap();
        figures_then.push(figures(None).await);
        answers.push((chrono::Utc::now(), project));
    }
    let as_of = format!("query($id: ID!, $at: DateTime) {{ project(id: $id, asOf: $at) {{ {PROJECT_FIELDS} }} }}");
    for ((at, answered), figures_then) in answers.iter().zip(&figures_then) {
        let then = app.graphql_as(Some(&token), &as_of, json!({ "id": id, "at": at })).await;
        assert_eq!(&then["data"]["project"], answered, "as of {at}: {then}");
        assert_eq!(&figures(Some(*at)).await, figures_then, "indicators as of {at}");
    }
    assert_ne!(figures_then.first(), figures_then.last(), "the story changed the figures");
    let before = app.graphql_as(Some(&token), &as_of, json!({ "id": id, "at": "2020-01-01T00:00:00Z" })).await;
    assert_eq!(before["errors"][0]["extensions"]["code"], "NOT_FOUND", "it did not exist yet: {before}");
    let done = app
        .try_mutate(
            &token,
            "recordProjectMilestone",
            json!({ "projectId": id, "title": "Bilan" }),
            "project",
            PROJECT_FIELDS,
        )
        .await;
    let res = done.expect_err("a transferred project takes nothing more");
    assert_eq!(res["errors"][0]["extensions"]["code"], "INVALID_TRANSITION", "{res}");

    let project = app
        .graphql_as(
            Some(&token),
            &format!("query($id: ID!) {{ project(id: $id) {{ {PROJECT_FIELDS} }} }}"),
            json!({ "id": id }),
        )
        .await["data"]["project"]
        .clone();
    assert_eq!(project["academieCodes"], json!(["01", "24"]));
    assert_eq!(project["establishments"], json!(["0750654D"]));
    assert_eq!(project["progress"], 60);
    let phases: Vec<&str> =
        project["phases"].as_array().unwrap().iter().map(|p| p["phase"].as_str().unwrap()).collect();
    assert_eq!(phases, ["EXPLORATION", "PROTOTYPING", "TRANSFER"]);
    assert!(project["phases"].as_array().unwrap().iter().all(|p| !p["endedOn"].is_null()), "all phases closed");
}

#[tokio::test]
async fn two_clients_update_one_project_with_the_same_expected_version_and_one_gets_conflict() {
    let (_db, app, token) = fresh_app_as(Role::LabTeam).await;
    let project = app.submit_project(&token, "Projet disputé", "24").await;
    let start = app.try_mutate(
        &token,
        "startProjectQualification",
        json!({ "projectId": project["id"], "expectedVersion": 1 }),
        "project",
        PROJECT_FIELDS,
    );
    start.await.expect("qualification");
    let accept = json!({ "projectId": project["id"], "expectedVersion": 2, "supportMode": "PUNCTUAL" });
    let seen =
        app.try_mutate(&token, "acceptProject", accept, "project", PROJECT_FIELDS).await.expect("accepted")["version"]
            .clone();

    // both clients saw the accepted project and change it from there
    let input = |progress: i64| json!({ "projectId": project["id"], "expectedVersion": seen, "progress": progress });
    let (a, b) = tokio::join!(
        app.try_mutate(&token, "updateProjectProgress", input(10), "project", PROJECT_FIELDS),
        app.try_mutate(&token, "updateProjectProgress", input(20), "project", PROJECT_FIELDS)
    );
    let (won, lost) = match (a, b) {
        (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
        other => panic!("exactly one must win: {other:?}"),
    };
    assert_eq!(won["version"], seen.as_u64().unwrap() + 1);
    let ext = &lost["errors"][0]["extensions"];
    assert_eq!(ext["code"], "CONFLICT", "{lost}");
    assert_eq!(ext["currentVersion"], won["version"], "the loser learns the version to reload: {lost}");
}

#[tokio::test]
async fn a_retried_mutation_with_the_same_client_mutation_id_writes_nothing_twice() {
    let (db, app, token) = fresh_app_as(Role::LabTeam).await;
    let input = json!({
        "clientMutationId": "front-42",
        "title": "Projet envoyé deux fois",
        "problemStatement": "Le réseau a coupé pendant l'envoi.",
        "supportMode": "PUNCTUAL",
        "academieCodes": ["24"],
        "submittedOn": "2026-09-14",
    });
    let first = app.try_mutate(&token, "submitProject", input.clone(), "project", PROJECT_FIELDS).await.expect("first");
    let events = event_count(&db).await;
    let again = app.try_mutate(&token, "submitProject", input, "project", PROJECT_FIELDS).await.expect("retry");
    assert_eq!(first, again, "the retry answers the first result");
    assert_eq!(event_count(&db).await, events, "and writes nothing");
    let other = app.submit_project(&token, "Un autre projet", "24").await;
    assert_eq!(other["reference"], "110B-P-2026-002", "the retry took no number");
}

#[tokio::test]
async fn invalid_input_is_refused_by_name_and_nothing_is_written() {
    let (db, app, token) = fresh_app_as(Role::LabTeam).await;
    let project = app.submit_project(&token, "Projet témoin", "24").await;
    let id = project["id"].clone();
    let base = json!({
        "title": "Un titre",
        "problemStatement": "Un problème.",
        "supportMode": "INCUBATION",
        "academieCodes": ["24"],
    });
    let with = |key: &str, value: Value| {
        let mut input = base.clone();
        input[key] = value;
        input
    };
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("submitProject", with("academieCodes", json!(["99"])), "BAD_USER_INPUT", "academie"),
        ("submitProject", with("title", json!("x".repeat(201))), "BAD_USER_INPUT", "text"),
        ("submitProject", with("title", json!("   ")), "BAD_USER_INPUT", "text"),
        ("linkProjectEstablishment", json!({ "projectId": id, "uai": "0750654E" }), "BAD_USER_INPUT", "uai"),
        ("updateProjectProgress", json!({ "projectId": id, "progress": 101 }), "BAD_USER_INPUT", "progress"),
        ("startProjectPhase", json!({ "projectId": id, "phase": "PROTOTYPING" }), "INVALID_TRANSITION", "project"),
        ("transferProject", json!({ "projectId": id, "to": "DNE" }), "INVALID_TRANSITION", "project"),
        ("pauseProject", json!({ "projectId": id, "reason": "x".repeat(20_001) }), "BAD_USER_INPUT", "text"),
        (
            "updateProjectProgress",
            json!({ "projectId": id, "progress": 5, "expectedVersion": -1 }),
            "BAD_USER_INPUT",
            "version",
        ),
    ];
    let events = event_count(&db).await;
    for (name, input, code, rule) in cases {
        let res = app.try_mutate(&token, name, input, "project", PROJECT_FIELDS).await.expect_err(name);
        let error = &res["errors"][0];
        assert_eq!(error["extensions"]["code"], code, "{name}: {res}");
        let named = error["extensions"]["rule"].as_str().unwrap_or_default();
        assert!(named.starts_with(rule), "{name}: the rule is named ({named}): {res}");
        assert!(!error["message"].as_str().unwrap_or_default().is_empty(), "{name}: a message: {res}");
    }
    assert_eq!(event_count(&db).await, events, "the log is unchanged");

    let missing = json!({ "projectId": "UHJvamVjdDowMTk", "progress": 5 });
    let res = app
        .try_mutate(&token, "updateProjectProgress", missing, "project", PROJECT_FIELDS)
        .await
        .expect_err("unknown id");
    assert_eq!(res["errors"][0]["extensions"]["code"], "NOT_FOUND", "{res}");
}

#[tokio::test]
async fn only_the_lab_team_and_admins_change_projects() {
    let (db, app) = fresh_app().await;
    let input = json!({
        "title": "Un titre",
        "problemStatement": "Un problème.",
        "supportMode": "INCUBATION",
        "academieCodes": ["24"],
    });
    for (role, expected) in [(Role::Auditor, "FORBIDDEN"), (Role::Academie, "FORBIDDEN"), (Role::Reader, "FORBIDDEN")] {
        let token = app.token(role, &["24"]);
        let res = app
            .try_mutate(&token, "submitProject", input.clone(), "project", PROJECT_FIELDS)
            .await
            .expect_err("refused");
        assert_eq!(res["errors"][0]["extensions"]["code"], expected, "{role:?}: {res}");
    }
    let doc = "mutation($input: SubmitProjectInput!) { submitProject(input: $input) { project { id } } }";
    let res = app.graphql(doc, json!({ "input": input })).await;
    assert_eq!(res["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{res}");
    assert_eq!(event_count(&db).await, 0, "nothing written");
    let admin = app.token(Role::Admin, &[]);
    app.try_mutate(&admin, "submitProject", input, "project", PROJECT_FIELDS).await.expect("an admin may");
}

#[tokio::test]
async fn a_burst_of_submissions_gets_consecutive_references_and_no_conflict() {
    let (_db, app, token) = fresh_app_as(Role::LabTeam).await;
    // more than the repository's conflict retries: racing on the series' stream would fail some
    let submissions = (0..30).map(|i| app.submit_project(&token, format!("Projet simultané {i}").leak(), "24"));
    let projects = futures::future::join_all(submissions).await;
    let mut references: Vec<String> = projects.iter().map(|p| p["reference"].as_str().unwrap().to_owned()).collect();
    references.sort();
    let expected: Vec<String> = (1..=30).map(|n| format!("110B-P-2026-{n:03}")).collect();
    assert_eq!(references, expected, "each number once, none skipped");
}

#[tokio::test]
async fn the_other_ways_out_decline_withdraw_abandon_and_reopen_answer_their_state() {
    let (_db, app, token) = fresh_app_as(Role::LabTeam).await;
    let run = |name: &'static str, project: &Value, input: Value| {
        let mut input = input;
        input["projectId"] = project["id"].clone();
        let (app, token) = (&app, &token);
        async move { app.mutate(token, name, input, "project", PROJECT_FIELDS).await }
    };
    let declined = app.submit_project(&token, "Projet non retenu", "24").await;
    run("startProjectQualification", &declined, json!({})).await;
    let p = run("declineProject", &declined, json!({ "reason": "Hors du champ du lab." })).await;
    assert_eq!(p["status"], "DECLINED");

    let withdrawn = app.submit_project(&token, "Projet retiré", "24").await;
    let p = run("withdrawProject", &withdrawn, json!({ "reason": "L'équipe a changé de priorité." })).await;
    assert_eq!(p["status"], "WITHDRAWN");

    let abandoned = app.submit_project(&token, "Projet abandonné", "24").await;
    run("startProjectQualification", &abandoned, json!({})).await;
    run("acceptProject", &abandoned, json!({ "supportMode": "INCUBATION" })).await;
    let p = run(
        "abandonProject",
        &abandoned,
        json!({ "reasonCode": "HOLDER_UNAVAILABLE", "explanation": "La porteuse a quitté l'académie." }),
    )
    .await;
    assert_eq!(p["status"], "ABANDONED");
    let p = run("reopenProject", &abandoned, json!({ "reason": "Une nouvelle équipe reprend le projet." })).await;
    assert_ne!(p["status"], "ABANDONED", "reopened: {p}");
    assert!(p["version"].as_u64().unwrap() > 4, "{p}");
}
