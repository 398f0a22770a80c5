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
    let (_db, app, team) = fresh_app_as(Role::LabTeam).await;
    let submit = SUBMIT_TITLED;
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
    let (_db, app, team) = fresh_app_as(Role::LabTeam).await;
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

/// Every output field of `schema.graphql` that carries the id of an entity or returns one
/// (outside mutation payloads, which `ACADEMIE` cannot reach: it writes nothing), plus the
/// payloads of the log. The test below reads each as an `ACADEMIE` caller; a field added to the
/// schema fails this list until it is read there too.
const FIELDS_WITH_IDS: [&str; 37] = [
    "ActivityEvent.entityId",
    "LogEvent.entityId",
    "LogEvent.payload",
    "LogEventConnection.edges",
    "LogEventConnection.nodes",
    "LogEventEdge.node",
    "Me.personId",
    "Node.id",
    "Person.id",
    "Project.holders",
    "Project.id",
    "Project.sessions",
    "ProjectConnection.edges",
    "ProjectConnection.nodes",
    "ProjectEdge.node",
    "ProjectHolder.person",
    "Query.events",
    "Query.history",
    "Query.node",
    "Query.nodes",
    "Query.person",
    "Query.project",
    "Query.projects",
    "Query.session",
    "Query.sessions",
    "Session.facilitatorIds",
    "Session.facilitators",
    "Session.id",
    "Session.projectIds",
    "Session.registrations",
    "SessionConnection.edges",
    "SessionConnection.nodes",
    "SessionEdge.node",
    "SessionRegistration.personId",
    "Subscription.activity",
    "Subscription.projectChanged",
    "Subscription.sessionChanged",
];

/// The fields of output types (not `…Payload`) whose type is an id, an entity or a page of
/// them, as `schema.graphql` declares them.
fn fields_with_ids_in_schema() -> Vec<String> {
    let schema = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql")).expect("schema");
    let carrying = [
        "ID",
        "Project",
        "Session",
        "Person",
        "Node",
        "JSON",
        "LogEvent",
        "LogEventEdge",
        "LogEventConnection",
        "ProjectEdge",
        "ProjectConnection",
        "SessionEdge",
        "SessionConnection",
        "ActivityEvent",
        "ProjectHolder",
        "SessionRegistration",
    ];
    let mut found = vec![];
    let mut current: Option<String> = None;
    let mut in_description = false;
    for line in schema.lines() {
        let line = line.trim();
        if line.starts_with("\"\"\"") {
            // a one-line description opens and closes at once
            if !(line.len() > 3 && line.ends_with("\"\"\"")) {
                in_description = !in_description;
            }
            continue;
        }
        if in_description {
            continue;
        }
        if let Some(rest) = line.strip_prefix("type ").or_else(|| line.strip_prefix("interface ")) {
            let name = rest.split([' ', '{']).next().unwrap_or_default();
            current = (!name.ends_with("Payload")).then(|| name.to_owned());
            continue;
        }
        if line.starts_with('}') {
            current = None;
            continue;
        }
        let Some(owner) = &current else { continue };
        let Some((head, ty)) = line.rsplit_once(": ") else { continue };
        let name = head.split('(').next().unwrap_or_default();
        let ty: String = ty.chars().filter(|c| c.is_alphanumeric()).collect();
        if carrying.contains(&ty.as_str()) && !name.is_empty() {
            found.push(format!("{owner}.{name}"));
        }
    }
    found.sort();
    found
}

carnet_testkit::for_each_backend!(url: an_academie_reaches_no_id_outside_its_territory, another_academies_entity_is_refused_before_any_event_is_read);

#[test]
fn every_field_carrying_ids_is_checked_for_territory() {
    let mut listed: Vec<String> = FIELDS_WITH_IDS.iter().map(|f| f.to_string()).collect();
    listed.sort();
    assert_eq!(fields_with_ids_in_schema(), listed, "a field carrying ids is missing from FIELDS_WITH_IDS");
}

/// A session of Créteil (24) linked to a Paris (01) project too: Créteil reads the session,
/// never the Paris project's id, through any field, entry point or payload.
async fn an_academie_reaches_no_id_outside_its_territory(url: &str, _: carnet_testkit::Backend) {
    let app = spawn_app(url).await;
    let team = app.token(Role::LabTeam, &[]);
    let run = |name: &'static str, entity: &'static str, input: Value| {
        let (app, team) = (&app, &team);
        async move { app.mutate(team, name, input, entity, "id").await["id"].as_str().expect("an id").to_owned() }
    };
    let project = |academie: &'static str| {
        run(
            "submitProject",
            "project",
            json!({ "title": format!("Projet {academie}"), "problemStatement": "Un besoin.",
                    "supportMode": "PUNCTUAL", "academieCodes": [academie] }),
        )
    };
    let (p24, p01) = (project("24").await, project("01").await);
    let request = json!({ "title": "Atelier", "format": "IDEATION", "objective": "Préparer.",
                          "requester": { "organisation": "DNE", "kind": "DIRECTION" } });
    let session = run("requestSession", "session", request.clone()).await;
    let paris_only = run("requestSession", "session", request).await;
    for (s, p) in [(&session, &p24), (&session, &p01), (&paris_only, &p01)] {
        run("linkSessionToProject", "session", json!({ "sessionId": s, "projectId": p })).await;
    }
    // the Paris project's id as the log stores it, for the payloads
    let history = "query($id: ID!) { history(id: $id, first: 50) { nodes { type payload } } }";
    let res = app.graphql_as(Some(&team), history, json!({ "id": session })).await;
    let raw: Vec<String> = res["data"]["history"]["nodes"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "SessionLinkedToProject")
        .filter_map(|e| e["payload"]["project"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(raw.len(), 2, "{res}");
    let hidden = [p01.clone(), paris_only.clone()];

    let creteil = app.token(Role::Academie, &["24"]);
    let projects = r#"query($p24: ID!) {
      me { personId }
      projects(first: 10) {
        nodes { id holders { person { id } } sessions { id projectIds facilitatorIds facilitators { id }
                registrations { personId } } }
        edges { node { id sessions { id projectIds } } }
      }
      project(id: $p24) { id sessions { id projectIds } }
      projectAsOf: project(id: $p24, asOf: "2100-01-01T00:00:00Z") { id sessions { id projectIds } }
    }"#;
    let document = r#"query($s: ID!, $p24: ID!, $p01: ID!, $paris: ID!) {
      session(id: $s) { id projectIds facilitators { id } }
      sessionAsOf: session(id: $s, asOf: "2100-01-01T00:00:00Z") { id projectIds }
      sessions(first: 10) { nodes { id projectIds } edges { node { id projectIds } } }
      node(id: $s) { id ... on Session { projectIds } }
      nodes(ids: [$s, $p24, $p01, $paris]) { id ... on Session { projectIds } ... on Project { sessions { projectIds } } }
      sessionHistory: history(id: $s, first: 20) { nodes { entityId type payload } edges { node { entityId payload } } }
      projectHistory: history(id: $p24, first: 20) { nodes { entityId payload } }
    }"#;
    let vars = json!({ "s": session, "p24": p24, "p01": p01, "paris": paris_only });
    let first = app.graphql_as(Some(&creteil), projects, vars.clone()).await;
    assert!(first["errors"].is_null(), "{first}");
    let res = app.graphql_as(Some(&creteil), document, vars.clone()).await;
    assert!(res["errors"].is_null(), "{res}");
    let text = format!("{first}{res}");
    assert!(text.contains(&p24) && text.contains(&session), "the territory's own ids are there: {text}");
    for id in hidden.iter().chain(&raw[1..]) {
        assert!(!text.contains(id.as_str()), "Créteil reads {id}: {text}");
    }
    assert_eq!(res["data"]["session"]["projectIds"], json!([p24]), "{res}");
    assert_eq!(res["data"]["nodes"][2], Value::Null);
    let linked: Vec<&Value> = res["data"]["sessionHistory"]["nodes"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "SessionLinkedToProject")
        .map(|e| &e["payload"]["project"])
        .collect();
    assert_eq!(linked, [&json!(raw[0]), &json!("Hors de votre territoire")], "{res}");
    // what the lab team sees of the same query: the Paris ids are there (the check above means something)
    let all = format!(
        "{}{}",
        app.graphql_as(Some(&team), projects, vars.clone()).await,
        app.graphql_as(Some(&team), document, vars).await
    );
    assert!(hidden.iter().chain(&raw).all(|id| all.contains(id.as_str())), "{all}");

    // the entry points Créteil may not use at all
    for refused in ["{ events(first: 5) { nodes { entityId } } }", "query { person(id: \"x\") { id } }"] {
        let res = app.graphql_as(Some(&creteil), refused, json!({})).await;
        assert_eq!(outcome(&res), "FORBIDDEN", "{refused}: {res}");
    }

    // and the subscriptions
    let mut ws = app.ws_as(&creteil).await;
    ws.subscribe("activity", "subscription { activity { entityId eventType } }", json!({})).await;
    let changed = "subscription($id: ID!) { sessionChanged(id: $id, afterVersion: 0) { id projectIds } }";
    ws.subscribe("session", changed, json!({ "id": session })).await;
    let current = ws.next_data("session").await;
    assert_eq!(current["data"]["sessionChanged"]["projectIds"], json!([p24]), "{current}");
    let another = project("01").await;
    run("linkSessionToProject", "session", json!({ "sessionId": session, "projectId": another })).await;
    let update = ws.next_data("session").await;
    assert_eq!(update["data"]["sessionChanged"]["projectIds"], json!([p24]), "{update}");
    // the activity of Créteil up to that link: the session's events, not the new Paris project's
    loop {
        let event = ws.next_data("activity").await;
        let event = &event["data"]["activity"];
        assert_ne!(event["entityId"], json!(another), "{event}");
        if event["entityId"] == json!(session) && event["eventType"] == "SessionLinkedToProject" {
            break;
        }
    }
}

/// The events the served process read to answer `asOf` and `history`, from its `/metrics`.
async fn events_read(client: &reqwest::Client, address: &str) -> u64 {
    metric_total(client, address, "carnet_log_events_read_total").await
}

/// Territory before work: another académie's project or session costs no event read, on every
/// entry point that reads the log (`asOf`, `history`), the same as an id that does not exist.
/// Counted, not timed: the served process counts the events it reads.
async fn another_academies_entity_is_refused_before_any_event_is_read(url: &str, _: carnet_testkit::Backend) {
    let dir = TempDir::new();
    let (_served, address, lines) = crate::demo::serve(dir.path(), url);
    let client = reqwest::Client::new();
    let ask = |token: String, query: &'static str, variables: Value| {
        let (client, address) = (client.clone(), address.clone());
        async move {
            let body = json!({ "query": query, "variables": variables });
            let res = client.post(format!("{address}/graphql")).bearer_auth(token).json(&body).send().await;
            res.expect("request").json::<Value>().await.expect("JSON")
        }
    };
    let team = crate::demo::token_for(&lines, "Équipe du lab");
    let listed = ask(
        team,
        "{ projects(first: 1) { nodes { id academieCodes } } sessions(first: 20) { nodes { id academieCodes } } }",
        json!({}),
    )
    .await;
    let project = &listed["data"]["projects"]["nodes"][0];
    let own = project["academieCodes"][0].as_str().expect("an académie").to_owned();
    let academies = ["01", "02", "03", "04"];
    let other = academies
        .iter()
        .find(|a| project["academieCodes"].as_array().is_some_and(|c| !c.contains(&json!(a))))
        .expect("another académie");
    let session = listed["data"]["sessions"]["nodes"]
        .as_array()
        .and_then(|s| {
            s.iter()
                .find(|s| s["academieCodes"].as_array().is_some_and(|c| !c.is_empty() && !c.contains(&json!(other))))
        })
        .map(|s| s["id"].clone())
        .expect("a session of other académies");
    let verifier =
        carnet_api::auth::TokenVerifier::load_or_create(&dir.path().join("data/jwt-secret")).expect("secret");
    let mint = |academie: &str| {
        verifier.mint(
            "rectorat",
            &[Role::Academie],
            &[carnet_domain::values::AcademieCode::parse(academie).unwrap()],
            1,
        )
    };
    let outsider = mint(other);
    let as_of = "query($id: ID!) { project(id: $id, asOf: \"2100-01-01T00:00:00Z\") { id } }";
    let session_as_of = "query($id: ID!) { session(id: $id, asOf: \"2100-01-01T00:00:00Z\") { id } }";
    let history = "query($id: ID!) { history(id: $id, first: 50) { nodes { type } } }";

    let before = events_read(&client, &address).await;
    for (query, id) in
        [(as_of, &project["id"]), (history, &project["id"]), (session_as_of, &session), (history, &session)]
    {
        let res = ask(outsider.clone(), query, json!({ "id": id })).await;
        assert_eq!(outcome(&res), "NOT_FOUND", "{query}: {res}");
    }
    assert_eq!(events_read(&client, &address).await, before, "another académie's entity: not one event read");

    // the counter counts: the project's own académie reads its events
    let res = ask(mint(&own), as_of, json!({ "id": project["id"] })).await;
    assert_eq!(outcome(&res), "OK", "{res}");
    assert!(events_read(&client, &address).await > before, "the own académie's asOf folds the events");
}
