//! Live updates: a front end subscribes over WebSocket (`graphql-transport-ws`, `/graphql/ws`)
//! and sees the changes other clients make, through any instance of the server; an académie
//! sees its own projects' activity and nothing else; a connection without a valid token is
//! refused.
//!
//! No test sleeps and hopes: a subscription is known to be live once a later operation of the
//! same connection has answered (operations of a connection start in order), here a
//! `projectChanged(afterVersion: 0)` that answers at once with the current project. Every wait
//! has a timeout ([`WS_TIMEOUT`]) and fails with what was expected. The feed follows commits by
//! a few milliseconds, so an `activity` subscription may also get events committed just before
//! it started: tests compare what comes from their first change on.

use crate::support::*;
use carnet_domain::person::Role;
use serde_json::{Value, json};

const PROJECT_CHANGED: &str = "subscription($id: ID!, $after: Int) {
  projectChanged(id: $id, afterVersion: $after) { id reference status version }
}";

const ACTIVITY: &str = "subscription($filter: ActivityFilter) {
  activity(filter: $filter) {
    globalPosition streamType entityId eventType version occurredAt recordedAt actor { id issuer }
  }
}";

/// Runs `name` on project `id` (`input` without the project id).
async fn change(app: &TestApp, token: &str, name: &str, id: &Value, mut input: Value) -> Value {
    input["projectId"] = id.clone();
    app.mutate(token, name, input, "project", "id status version").await
}

/// Makes sure the operations started before on `ws` are live: starts `projectChanged` on
/// `project` with `afterVersion: 0`, waits for its answer (the current project), stops it.
async fn barrier(ws: &mut GraphqlWs, project: &Value) {
    ws.subscribe("barrier", PROJECT_CHANGED, json!({ "id": project, "after": 0 })).await;
    let answer = ws.next_data("barrier").await;
    assert_eq!(answer["data"]["projectChanged"]["id"], *project, "{answer}");
    ws.complete("barrier").await;
}

/// The next `n` activity events of operation `id`.
async fn activity_events(ws: &mut GraphqlWs, id: &str, n: usize) -> Vec<Value> {
    let mut events = Vec::new();
    while events.len() < n {
        let payload = ws.next_data(id).await;
        assert!(payload["errors"].is_null(), "{payload}");
        events.push(payload["data"]["activity"].clone());
    }
    events
}

/// Activity events of operation `id` up to and including the first one of `entity` with type
/// `last`.
async fn activity_until(ws: &mut GraphqlWs, id: &str, entity: &Value, last: &str) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let event = activity_events(ws, id, 1).await.remove(0);
        let done = event["entityId"] == *entity && event["eventType"] == last;
        events.push(event);
        if done {
            return events;
        }
    }
}

/// The events from global position `from` on.
fn since(events: Vec<Value>, from: i64) -> Vec<Value> {
    events.into_iter().filter(|e| e["globalPosition"].as_i64().is_some_and(|p| p >= from)).collect()
}

fn summary(events: &[Value]) -> Vec<(i64, String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["globalPosition"].as_i64().unwrap_or_default(),
                e["eventType"].as_str().unwrap_or_default().to_owned(),
                e["entityId"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_subscriber_sees_another_clients_change_with_its_new_status_and_version() {
    let (_db, app, lab) = fresh_app_as(Role::LabTeam).await;
    let project = app.submit_project(&lab, "Mathématiques en seconde", "24").await;
    let id = project["id"].clone();

    let mut ws = app.ws_as(&app.token(Role::Auditor, &[])).await;
    ws.subscribe("changes", PROJECT_CHANGED, json!({ "id": id })).await;
    ws.subscribe("from-zero", PROJECT_CHANGED, json!({ "id": id, "after": 0 })).await;
    let current = ws.next_data("from-zero").await;
    assert_eq!(current["data"]["projectChanged"]["version"], 1, "afterVersion 0: the current project first: {current}");
    assert_eq!(current["data"]["projectChanged"]["status"], "SUBMITTED");

    // another client, over HTTP
    let admin = app.token(Role::Admin, &[]);
    change(&app, &admin, "startProjectQualification", &id, json!({ "on": "2026-09-20", "expectedVersion": 1 })).await;
    for operation in ["changes", "from-zero"] {
        let update = ws.next_data(operation).await;
        let project = &update["data"]["projectChanged"];
        assert_eq!(
            (project["status"].as_str(), project["version"].as_u64()),
            (Some("QUALIFYING"), Some(2)),
            "{update}"
        );
        assert_eq!(project["id"], id);
    }

    // another project's changes are not this subscription's; a command of two events is one update
    let other = app.submit_project(&lab, "Un autre projet", "24").await;
    change(&app, &lab, "startProjectQualification", &other["id"], json!({})).await;
    change(&app, &lab, "acceptProject", &id, json!({ "supportMode": "INCUBATION" })).await;
    let update = ws.next_data("changes").await;
    let project = &update["data"]["projectChanged"];
    assert_eq!((project["status"].as_str(), project["version"].as_u64()), (Some("ACTIVE"), Some(4)), "{update}");
    change(&app, &lab, "updateProjectProgress", &id, json!({ "progress": 30 })).await;
    assert_eq!(ws.next_data("changes").await["data"]["projectChanged"]["version"], 5, "one update per command");

    // the client stops; the server confirms nothing more comes
    ws.complete("changes").await;
    assert_eq!(ws.next_of("changes").await["type"], "complete");
}

#[tokio::test]
async fn a_subscriber_on_one_instance_sees_a_change_made_through_another() {
    let db = FreshDatabase::create().await;
    let watched = spawn_app(&db.url).await;
    let written = spawn_app(&db.url).await;
    let lab = written.token(Role::LabTeam, &[]);
    let project = written.submit_project(&lab, "Deux instances", "01").await;
    let id = project["id"].clone();

    let mut ws = watched.ws_as(&watched.token(Role::LabTeam, &[])).await;
    ws.subscribe("activity", ACTIVITY, json!({ "filter": { "entityId": id } })).await;
    ws.subscribe("project", PROJECT_CHANGED, json!({ "id": id, "after": 0 })).await;
    assert_eq!(ws.next_data("project").await["data"]["projectChanged"]["version"], 1);

    change(&written, &lab, "startProjectQualification", &id, json!({ "expectedVersion": 1 })).await;
    let update = ws.next_data("project").await;
    assert_eq!(update["data"]["projectChanged"]["status"], "QUALIFYING", "{update}");
    assert_eq!(update["data"]["projectChanged"]["version"], 2);
    // (the submission may come too: it committed just before the subscription started)
    let event = loop {
        let event = activity_events(&mut ws, "activity", 1).await.remove(0);
        if event["eventType"] != "ProjectSubmitted" {
            break event;
        }
    };
    assert_eq!(
        (event["eventType"].as_str(), event["version"].as_u64()),
        (Some("ProjectQualificationStarted"), Some(2))
    );
    assert_eq!(event["actor"], json!({ "id": "test-user", "issuer": "carnet-local" }), "{event}");
}

#[tokio::test]
async fn activity_sends_the_matching_events_in_commit_order_and_no_payload() {
    let (_db, app, lab) = fresh_app_as(Role::LabTeam).await;
    let first = app.submit_project(&lab, "Premier", "24").await["id"].clone();
    let second = app.submit_project(&lab, "Second", "01").await["id"].clone();

    let mut ws = app.ws_as(&app.token(Role::Auditor, &[])).await;
    let decisions =
        json!({ "streamTypes": ["project"], "eventTypes": ["ProjectQualificationStarted", "ProjectAccepted"] });
    ws.subscribe("decisions", ACTIVITY, json!({ "filter": decisions })).await;
    ws.subscribe("second", ACTIVITY, json!({ "filter": { "entityId": second } })).await;
    ws.subscribe("everything", ACTIVITY, json!({})).await;
    barrier(&mut ws, &first).await;

    change(&app, &lab, "startProjectQualification", &first, json!({})).await;
    change(
        &app,
        &lab,
        "updateProjectDetails",
        &first,
        json!({ "title": "Premier (bis)", "problemStatement": "Un problème." }),
    )
    .await;
    change(&app, &lab, "acceptProject", &first, json!({ "supportMode": "INCUBATION" })).await;
    let third = app.submit_project(&lab, "Troisième", "70").await["id"].clone();
    change(&app, &lab, "startProjectQualification", &second, json!({})).await;
    change(&app, &lab, "acceptProject", &second, json!({ "supportMode": "PUNCTUAL" })).await;

    let expected = [
        (&first, "ProjectQualificationStarted", 2),
        (&first, "ProjectAccepted", 4),
        (&second, "ProjectQualificationStarted", 2),
        (&second, "ProjectAccepted", 3),
    ];
    let events = activity_events(&mut ws, "decisions", expected.len()).await;
    for (event, (entity, event_type, version)) in events.iter().zip(expected) {
        assert_eq!(
            (&event["entityId"], event["eventType"].as_str(), event["version"].as_u64()),
            (entity, Some(event_type), Some(version)),
            "{events:#?}"
        );
        assert_eq!(event["streamType"], "project");
        assert!(event["occurredAt"].is_string() && event["recordedAt"].is_string(), "{event}");
    }
    let positions: Vec<i64> = events.iter().map(|e| e["globalPosition"].as_i64().unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "commit order: {positions:?}");
    let first_change = positions[0];

    // the entity filter: every event of the second project, nothing of the others
    let mut of_second = activity_events(&mut ws, "second", 3).await;
    if of_second[0]["eventType"] == "ProjectSubmitted" {
        of_second.remove(0);
        of_second.extend(activity_events(&mut ws, "second", 1).await);
    }
    let types: Vec<_> = of_second.iter().map(|e| e["eventType"].as_str().unwrap_or_default()).collect();
    assert_eq!(types, ["ProjectQualificationStarted", "ProjectAccepted", "ProjectPhaseStarted"]);
    assert!(of_second.iter().all(|e| e["entityId"] == second));

    // no filter: everything, in commit order, the reference allocations of a submission too
    let all = since(activity_until(&mut ws, "everything", &second, "ProjectPhaseStarted").await, first_change);
    let all = summary(&all);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "commit order: {all:#?}");
    assert!(all.iter().any(|(_, t, e)| t == "ProjectSubmitted" && json!(e) == third), "{all:#?}");
    assert!(all.iter().any(|(_, _, e)| e.is_empty()), "a reference stream has no entity id: {all:#?}");
    assert!(all.iter().any(|(_, t, _)| t == "ProjectDetailsUpdated"), "{all:#?}");
    for decision in summary(&events) {
        assert!(all.contains(&decision), "the filtered events are the feed's own: {decision:?}");
    }

    // payloads (personal data) are not part of the API at all
    ws.subscribe("payload", "subscription { activity { eventType payload } }", json!({})).await;
    let refused = ws.next_of("payload").await;
    assert!(refused["payload"]["errors"][0]["message"].as_str().is_some_and(|m| m.contains("payload")), "{refused}");
}

#[tokio::test]
async fn an_academie_follows_its_own_projects_and_nothing_else() {
    let (_db, app, lab) = fresh_app_as(Role::LabTeam).await;
    let creteil_project = app.submit_project(&lab, "Projet de Créteil", "24").await["id"].clone();
    let paris_project = app.submit_project(&lab, "Projet de Paris", "01").await["id"].clone();
    let lyon_project = app.submit_project(&lab, "Projet de Lyon", "10").await["id"].clone();

    let creteil = app.token(Role::Academie, &["24"]);
    let mut academie = app.ws_as(&creteil).await;
    academie.subscribe("feed", ACTIVITY, json!({})).await;
    barrier(&mut academie, &creteil_project).await;
    let mut team = app.ws_as(&lab).await;
    team.subscribe("feed", ACTIVITY, json!({})).await;
    barrier(&mut team, &creteil_project).await;

    change(&app, &lab, "startProjectQualification", &paris_project, json!({})).await;
    change(&app, &lab, "startProjectQualification", &creteil_project, json!({})).await;
    change(&app, &lab, "startProjectQualification", &lyon_project, json!({})).await;
    let new_creteil = app.submit_project(&lab, "Nouveau projet de Créteil", "24").await["id"].clone();
    change(&app, &lab, "acceptProject", &paris_project, json!({ "supportMode": "INCUBATION" })).await;
    change(&app, &lab, "acceptProject", &lyon_project, json!({ "supportMode": "INCUBATION" })).await;
    // Paris's project joins Créteil: from then on, Créteil sees it
    change(&app, &lab, "linkProjectAcademie", &paris_project, json!({ "academieCode": "24" })).await;
    change(&app, &lab, "updateProjectProgress", &paris_project, json!({ "progress": 10 })).await;
    change(&app, &lab, "updateProjectProgress", &lyon_project, json!({ "progress": 10 })).await;
    change(&app, &lab, "declineProject", &creteil_project, json!({ "reason": "Hors du champ du lab." })).await;

    let everything = activity_until(&mut team, "feed", &creteil_project, "ProjectDeclined").await;
    let first_change = everything
        .iter()
        .find(|e| e["entityId"] == paris_project && e["eventType"] == "ProjectQualificationStarted")
        .and_then(|e| e["globalPosition"].as_i64())
        .expect("the first change in the lab's feed");
    let everything = summary(&since(everything, first_change));
    let linked = everything
        .iter()
        .find(|(_, event_type, _)| event_type == "ProjectAcademieLinked")
        .map(|(position, _, _)| *position)
        .expect("the link in the lab's feed");
    let of = |entity: &Value, e: &(i64, String, String)| json!(e.2) == *entity;
    // Créteil's projects always; Paris's from the link on (its earlier events may come too:
    // visibility is judged on the project as it is when the event is delivered, and by then it
    // may be Créteil's already); Lyon's, reference allocations and people's never
    let required: Vec<_> = everything
        .iter()
        .filter(|e| of(&creteil_project, e) || of(&new_creteil, e) || (of(&paris_project, e) && e.0 >= linked))
        .cloned()
        .collect();
    let allowed: Vec<_> = everything
        .iter()
        .filter(|e| of(&creteil_project, e) || of(&new_creteil, e) || of(&paris_project, e))
        .cloned()
        .collect();
    let seen = activity_until(&mut academie, "feed", &creteil_project, "ProjectDeclined").await;
    let seen = summary(&since(seen, first_change));
    assert!(seen.iter().all(|e| allowed.contains(e)), "only Créteil's projects: {seen:#?}");
    assert!(required.iter().all(|e| seen.contains(e)), "all of Créteil's projects' events: {seen:#?} {required:#?}");
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "in commit order: {seen:#?}");
    assert!(seen.iter().all(|e| !of(&lyon_project, e)), "never Lyon's");
}

#[tokio::test]
async fn a_subscriber_follows_a_session_as_well() {
    let (_db, app, lab) = fresh_app_as(Role::LabTeam).await;
    let request = json!({ "input": {
        "title": "Sprint sur l'orientation",
        "format": "DESIGN_SPRINT",
        "objective": "Comment aider les élèves de troisième à choisir leur voie ?",
        "requester": { "organisation": "DGESCO", "kind": "DIRECTION" },
    } });
    let res = app
        .graphql_as(
            Some(&lab),
            "mutation($input: RequestSessionInput!) { requestSession(input: $input) { session { id version } } }",
            request,
        )
        .await;
    let id = res["data"]["requestSession"]["session"]["id"].clone();
    assert!(id.is_string(), "{res}");

    const SESSION_CHANGED: &str =
        "subscription($id: ID!, $after: Int) { sessionChanged(id: $id, afterVersion: $after) { id status version } }";
    let mut ws = app.ws_as(&lab).await;
    ws.subscribe("session", SESSION_CHANGED, json!({ "id": id, "after": 0 })).await;
    assert_eq!(ws.next_data("session").await["data"]["sessionChanged"]["status"], "REQUESTED");
    let res = app
        .graphql_as(
            Some(&lab),
            "mutation($input: StartSessionScopingInput!) { startSessionScoping(input: $input) { session { version } } }",
            json!({ "input": { "sessionId": id } }),
        )
        .await;
    assert!(res["errors"].is_null(), "{res}");
    let update = ws.next_data("session").await;
    let session = &update["data"]["sessionChanged"];
    assert_eq!((session["status"].as_str(), session["version"].as_u64()), (Some("SCOPING"), Some(2)), "{update}");

    // a session of no académie yet is not an académie's; a project id is not a session id
    let project = app.submit_project(&lab, "Un projet", "24").await["id"].clone();
    let mut creteil = app.ws_as(&app.token(Role::Academie, &["24"])).await;
    creteil.subscribe("session", SESSION_CHANGED, json!({ "id": id })).await;
    assert_eq!(creteil.next_data("session").await["errors"][0]["extensions"]["code"], "NOT_FOUND");
    ws.subscribe("project", SESSION_CHANGED, json!({ "id": project })).await;
    assert_eq!(ws.next_data("project").await["errors"][0]["extensions"]["code"], "NOT_FOUND");
}

#[tokio::test]
async fn connections_without_a_valid_token_are_refused_and_territory_holds() {
    let (db, app, lab) = fresh_app_as(Role::LabTeam).await;
    let paris_project = app.submit_project(&lab, "Projet de Paris", "01").await["id"].clone();

    // graphql-transport-ws: a refused connection_init closes with 4403 Forbidden
    let mut forged = lab.clone();
    forged.push('x');
    let other_server = spawn_app(&db.url).await.token(Role::LabTeam, &[]);
    for payload in [
        json!({}),
        json!({ "Authorization": format!("Bearer {forged}") }),
        json!({ "token": other_server }),
        json!({ "Authorization": "Basic dXNlcjpwYXNz" }),
    ] {
        let mut ws = app.ws().await;
        ws.init(payload.clone()).await;
        assert_eq!(ws.closed().await, (4403, "Forbidden".to_owned()), "{payload}");
    }
    // and a subscribe before connection_ack with 4401 Unauthorized
    let mut early = app.ws().await;
    early.subscribe("1", PROJECT_CHANGED, json!({ "id": paris_project })).await;
    assert_eq!(early.closed().await.0, 4401);
    // and a message outside the protocol with 4400 Bad Request
    let mut confused = app.ws().await;
    confused.send(json!({ "type": "hello" })).await;
    assert_eq!(confused.closed().await.0, 4400);

    // the other spellings of the token are accepted
    for payload in [json!({ "authorization": format!("Bearer {lab}") }), json!({ "token": lab })] {
        let mut ws = app.ws().await;
        ws.init(payload).await;
        assert_eq!(ws.next_message().await["type"], "connection_ack");
    }

    // an académie asking for another académie's project: NOT_FOUND, as over HTTP
    let mut creteil = app.ws_as(&app.token(Role::Academie, &["24"])).await;
    creteil.subscribe("paris", PROJECT_CHANGED, json!({ "id": paris_project })).await;
    let refused = creteil.next_of("paris").await;
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND", "{refused}");
    assert!(refused["payload"]["errors"][0]["extensions"]["requestId"].is_string(), "{refused}");
    assert_eq!(creteil.next_of("paris").await["type"], "complete");
    creteil.subscribe("bogus", PROJECT_CHANGED, json!({ "id": "bm9wZQ" })).await;
    assert_eq!(creteil.next_data("bogus").await["errors"][0]["extensions"]["code"], "NOT_FOUND");

    // a reader does not follow the lab's activity
    let mut reader = app.ws_as(&app.token(Role::Reader, &[])).await;
    reader.subscribe("feed", ACTIVITY, json!({})).await;
    assert_eq!(reader.next_data("feed").await["errors"][0]["extensions"]["code"], "FORBIDDEN");
    reader.subscribe("bad", ACTIVITY, json!({ "filter": { "entityId": "nope" } })).await;
    assert_eq!(reader.next_data("bad").await["errors"][0]["extensions"]["code"], "FORBIDDEN", "roles first");
    let mut team = app.ws_as(&lab).await;
    team.subscribe("bad", ACTIVITY, json!({ "filter": { "entityId": "nope" } })).await;
    assert_eq!(team.next_data("bad").await["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn the_server_closes_live_connections_when_it_stops() {
    let db = FreshDatabase::create().await;
    let dir = TempDir::new();
    let secret = dir.path().join("jwt-secret");
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_carnet"))
        .arg("serve")
        .current_dir(dir.path())
        .env("CARNET_DATABASE_URL", &db.url)
        .env("CARNET_PORT", "0")
        .env("CARNET_JWT_SECRET_FILE", &secret)
        .env("CARNET_DEMO_DATA", "false")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start carnet serve");
    // read every line (a closed pipe would break the server's next print); the address is in one
    let stdout = server.stdout.take().expect("stdout");
    let (lines, printed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let port: u16 = loop {
        let line = printed.recv_timeout(WS_TIMEOUT).expect("the server prints its address");
        if let Some(after) = line.split("http://127.0.0.1:").nth(1) {
            break after.split('/').next().and_then(|p| p.parse().ok()).expect("a port");
        }
    };
    let app =
        TestApp { address: format!("http://127.0.0.1:{port}"), client: reqwest::Client::new(), secret, _files: None };

    let mut ws = app.ws_as(&app.token(Role::LabTeam, &[])).await;
    ws.subscribe("feed", ACTIVITY, json!({})).await;
    let kill = std::process::Command::new("kill").args(["-TERM", &server.id().to_string()]).status().expect("kill");
    assert!(kill.success());
    assert_eq!(ws.closed().await.0, 1001, "going away: reconnect elsewhere");
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = server.try_wait().expect("wait") {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(started.elapsed() < WS_TIMEOUT, "the server did not stop within {WS_TIMEOUT:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A connection that never sends `connection_init` is closed with 4408 once the server's
/// `INIT_TIMEOUT` passes.
#[tokio::test]
async fn a_connection_without_init_is_closed_4408() {
    let (_db, app) = fresh_app().await;
    let mut silent = app.ws().await;
    let (code, reason) = silent.closed_within(carnet_api::ws::INIT_TIMEOUT + WS_TIMEOUT).await;
    assert_eq!((code, reason.as_str()), (4408, "Connection initialisation timeout"));
}
