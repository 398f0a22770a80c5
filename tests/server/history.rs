//! Auditors reconstruct who did what and when (issue 5, point 1): `history(id)` lists every
//! event of an entity in order with its actor and ids, for whoever may see the entity; personal
//! data is redacted for those who may not see it, and gone for everyone after erasure; the
//! global `events` feed filters by stream type, event type, actor and period, for `AUDITOR` and
//! `ADMIN` only.

use crate::support::*;
use carnet_domain::person::Role;
use serde_json::{Value, json};
use std::time::Duration;

const EVENT_FIELDS: &str = "globalPosition streamType entityId version type schemaVersion eventId occurredAt \
                            recordedAt actor { id issuer } correlationId causationId reason payload";

fn history_query() -> String {
    format!(
        "query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {{
           history(id: $id, first: $first, after: $after, last: $last, before: $before) {{
             totalCount pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
             edges {{ cursor node {{ {EVENT_FIELDS} }} }}
           }}
         }}"
    )
}

fn events_query() -> String {
    format!(
        "query($filter: EventFilterInput, $first: Int, $after: String, $last: Int, $before: String) {{
           events(filter: $filter, first: $first, after: $after, last: $last, before: $before) {{
             totalCount pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
             edges {{ cursor node {{ {EVENT_FIELDS} }} }}
           }}
         }}"
    )
}

/// A local token for `role`, whose subject (the actor the log records) is `sub`.
pub(crate) fn token_for(app: &TestApp, sub: &str, role: Role, academies: &[&str]) -> String {
    let codes: Vec<_> =
        academies.iter().map(|c| carnet_domain::values::AcademieCode::parse(c).expect("académie")).collect();
    carnet_api::auth::TokenVerifier::load_or_create(&app.secret).expect("secret").mint(sub, &[role], &codes, 1)
}

/// The nodes of a connection's page.
fn nodes(connection: &Value) -> Vec<Value> {
    connection["edges"].as_array().expect("edges").iter().map(|e| e["node"].clone()).collect()
}

/// What a caller got: `OK`, or the error's code.
fn outcome(res: &Value) -> String {
    match res["errors"][0]["extensions"]["code"].as_str() {
        Some(code) => code.to_owned(),
        None if res["errors"].is_null() => "OK".to_owned(),
        None => format!("no code: {res}"),
    }
}

/// Every node of `field` (`history` or `events`), paging `size` at a time, forward or backward.
async fn page_through(
    app: &TestApp,
    token: &str,
    field: &str,
    mut variables: Value,
    size: u32,
    forward: bool,
) -> Vec<Value> {
    let query = if field == "history" { history_query() } else { events_query() };
    let mut all: Vec<Value> = vec![];
    let mut cursor = Value::Null;
    loop {
        if forward {
            variables["first"] = json!(size);
            variables["after"] = cursor.clone();
        } else {
            variables["last"] = json!(size);
            variables["before"] = cursor.clone();
        }
        let res = app.graphql_as(Some(token), &query, variables.clone()).await;
        let connection = &res["data"][field];
        assert!(connection.is_object(), "{res}");
        let page = nodes(connection);
        assert!(page.len() <= size as usize, "{res}");
        let info = &connection["pageInfo"];
        if forward {
            all.extend(page);
            if info["hasNextPage"] != true {
                return all;
            }
            cursor = info["endCursor"].clone();
        } else {
            all.splice(0..0, page);
            if info["hasPreviousPage"] != true {
                return all;
            }
            cursor = info["startCursor"].clone();
        }
    }
}

/// Waits until the feed shows every event of the database: on PostgreSQL it holds back what
/// an older transaction still open anywhere on the server (another test) might precede.
pub(crate) async fn feed_caught_up(app: &TestApp, token: &str, db: &FreshDatabase) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let stored: i64 = sqlx::query_scalar("select count(*) from events").fetch_one(&db.pool).await.unwrap();
        let res = app.graphql_as(Some(token), "{ events(first: 1) { totalCount } }", json!({})).await;
        let shown = res["data"]["events"]["totalCount"].as_u64().expect("a count");
        if shown == stored as u64 {
            return shown;
        }
        assert!(std::time::Instant::now() < deadline, "the feed shows {shown} of {stored} events");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_auditor_reads_a_projects_life_in_order_with_actors_and_correlations() {
    let (db, app) = fresh_app().await;
    let alice = token_for(&app, "alice", Role::LabTeam, &[]);
    let bob = token_for(&app, "bob", Role::LabTeam, &[]);
    let submit = json!({ "title": "Mathématiques en seconde", "problemStatement": "Les élèves décrochent.",
                         "supportMode": "INCUBATION", "academieCodes": ["24"], "submittedOn": "2026-09-14" });
    let project = app.execute(&alice, "submitProject", "project", submit).await;
    let id = project["id"].clone();
    // (who, mutation, input): the project's scripted life
    let steps: Vec<(&str, &str, Value)> = vec![
        ("bob", "startProjectQualification", json!({ "on": "2026-09-20" })),
        ("alice", "acceptProject", json!({ "on": "2026-10-01", "supportMode": "INCUBATION" })),
        ("bob", "startProjectPhase", json!({ "phase": "PROTOTYPING", "on": "2026-11-02" })),
        ("alice", "recordProjectMilestone", json!({ "title": "Premier prototype", "on": "2026-11-20" })),
        ("bob", "pauseProject", json!({ "on": "2026-12-01", "reason": "Congés de l'équipe" })),
        ("alice", "resumeProject", json!({ "on": "2027-01-04" })),
    ];
    // who wrote each version, and which command it came from
    let mut written: Vec<(&str, usize)> = vec![("alice", 0)];
    let mut version = project["version"].as_u64().unwrap();
    for (i, (who, name, mut input)) in steps.into_iter().enumerate() {
        input["projectId"] = id.clone();
        let token = if who == "alice" { &alice } else { &bob };
        let after = app.execute(token, name, "project", input).await["version"].as_u64().unwrap();
        assert!(after > version, "{name} wrote nothing");
        written.extend((version + 1..=after).map(|_| (who, i + 1)));
        version = after;
    }

    let auditor = app.token(Role::Auditor, &[]);
    let res = app.graphql_as(Some(&auditor), &history_query(), json!({ "id": id, "first": 100 })).await;
    let history = &res["data"]["history"];
    assert_eq!(history["totalCount"], version, "{res}");
    let events = nodes(history);
    assert_eq!(events.len() as u64, version);
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for expected in [
        "ProjectSubmitted",
        "ProjectQualificationStarted",
        "ProjectAccepted",
        "ProjectPhaseStarted",
        "ProjectMilestoneRecorded",
        "ProjectPaused",
        "ProjectResumed",
    ] {
        assert!(types.contains(&expected), "{expected} missing from {types:?}");
    }
    assert_eq!(types[0], "ProjectSubmitted");
    let issuer = app.graphql_as(Some(&alice), "{ me { issuer } }", json!({})).await["data"]["me"]["issuer"].clone();
    let mut positions = vec![];
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["version"], i + 1, "in version order: {e}");
        assert_eq!(e["entityId"], id);
        assert_eq!(e["streamType"], "project");
        assert_eq!(e["actor"], json!({ "id": written[i].0, "issuer": issuer }), "version {}: {e}", i + 1);
        assert_eq!(e["schemaVersion"], 1);
        for field in ["correlationId", "eventId", "occurredAt", "recordedAt"] {
            assert!(e[field].as_str().is_some_and(|v| !v.is_empty()), "{field}: {e}");
        }
        positions.push(e["globalPosition"].as_i64().unwrap());
        // one command, one correlation; two commands, two
        for (j, other) in events.iter().enumerate().take(i) {
            let same_command = written[i].1 == written[j].1;
            assert_eq!(e["correlationId"] == other["correlationId"], same_command, "versions {} and {}", j + 1, i + 1);
        }
    }
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "one writer at a time: positions grow {positions:?}");
    let payload_of = |t: &str| events.iter().find(|e| e["type"] == t).unwrap()["payload"].clone();
    assert_eq!(payload_of("ProjectAccepted"), json!({ "on": "2026-10-01", "support_mode": "INCUBATION" }));
    let paused = events.iter().find(|e| e["type"] == "ProjectPaused").unwrap();
    assert_eq!(paused["payload"]["reason"], "Congés de l'équipe", "{paused}");
    let submitted = &events[0];
    assert_eq!(submitted["payload"]["academies"], json!(["24"]));
    assert!(submitted["payload"]["reference"].as_str().unwrap().starts_with("110B-P-"), "{submitted}");

    // the reference the submission took: another stream, the same correlation, caused by it
    feed_caught_up(&app, &auditor, &db).await;
    let filter = json!({ "streamTypes": ["reference"] });
    let res = app.graphql_as(Some(&auditor), &events_query(), json!({ "filter": filter })).await;
    let allocated = nodes(&res["data"]["events"]);
    assert_eq!(allocated.len(), 1, "{res}");
    assert_eq!(allocated[0]["correlationId"], submitted["correlationId"]);
    assert!(allocated[0]["causationId"].is_string(), "{res}");
    assert_eq!(allocated[0]["payload"]["reference"], submitted["payload"]["reference"]);

    // paging, either way and any size: the same events, in order, each once
    for size in [1, 2, 3, 100] {
        for forward in [true, false] {
            let paged = page_through(&app, &auditor, "history", json!({ "id": id }), size, forward).await;
            assert_eq!(paged, events, "{size} at a time, forward: {forward}");
        }
    }
    let res = app.graphql_as(Some(&auditor), &history_query(), json!({ "id": id, "last": 2 })).await;
    assert_eq!(nodes(&res["data"]["history"]), events[events.len() - 2..], "the latest two");
    let info = &res["data"]["history"]["pageInfo"];
    assert_eq!((info["hasPreviousPage"].as_bool(), info["hasNextPage"].as_bool()), (Some(true), Some(false)));
    for first in [0, 101] {
        let res = app.graphql_as(Some(&auditor), &history_query(), json!({ "id": id, "first": first })).await;
        assert_eq!(outcome(&res), "BAD_USER_INPUT", "first: {first}");
    }
    let res = app.graphql_as(Some(&auditor), &history_query(), json!({ "id": id, "after": "bm9wZQ" })).await;
    assert_eq!(outcome(&res), "BAD_USER_INPUT", "a cursor that is not one");

    // who may read it: the entity's own rules
    let unknown = json!({ "id": "UHJvamVjdDowMTk0MDAwMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDA" });
    let who = [
        ("LAB_TEAM", Some(app.token(Role::LabTeam, &[])), "OK"),
        ("ADMIN", Some(app.token(Role::Admin, &[])), "OK"),
        ("AUDITOR", Some(auditor.clone()), "OK"),
        ("ACADEMIE 24", Some(app.token(Role::Academie, &["24"])), "OK"),
        ("ACADEMIE 01", Some(app.token(Role::Academie, &["01"])), "NOT_FOUND"),
        ("READER", Some(app.token(Role::Reader, &[])), "FORBIDDEN"),
        ("nobody", None, "UNAUTHENTICATED"),
    ];
    for (name, token, expected) in &who {
        let res = app.graphql_as(token.as_deref(), &history_query(), json!({ "id": id, "first": 100 })).await;
        assert_eq!(outcome(&res), *expected, "{name}: {res}");
        if *expected == "OK" {
            assert_eq!(nodes(&res["data"]["history"]), events, "{name} reads the same history");
        }
    }
    let res = app.graphql_as(Some(&auditor), &history_query(), unknown).await;
    assert_eq!(outcome(&res), "NOT_FOUND", "no such project: {res}");
    let res = app.graphql_as(Some(&auditor), &history_query(), json!({ "id": "bm9wZQ" })).await;
    assert_eq!(outcome(&res), "NOT_FOUND", "not an id: {res}");
}

#[tokio::test]
async fn a_sessions_history_follows_the_territory_it_belongs_to() {
    let (_db, app, team) = fresh_app_as(Role::LabTeam).await;
    let request = json!({ "title": "Atelier orientation", "format": "IDEATION", "objective": "Préparer les stages.",
                          "requester": { "organisation": "DNE", "kind": "DIRECTION" }, "requestedOn": "2026-03-02" });
    let session = app.execute(&team, "requestSession", "session", request).await;
    let creteil = app.token(Role::Academie, &["24"]);
    let read = |token: String| {
        let (app, id) = (&app, session["id"].clone());
        async move { app.graphql_as(Some(&token), &history_query(), json!({ "id": id })).await }
    };
    assert_eq!(outcome(&read(creteil.clone()).await), "NOT_FOUND", "no académie yet");
    let res = read(app.token(Role::Auditor, &[])).await;
    assert_eq!(nodes(&res["data"]["history"])[0]["type"], "SessionRequested", "{res}");

    let submit = json!({ "title": "Projet de Créteil", "problemStatement": "Un besoin.", "supportMode": "PUNCTUAL",
                         "academieCodes": ["24"] });
    let project = app.execute(&team, "submitProject", "project", submit).await;
    let link = json!({ "sessionId": session["id"], "projectId": project["id"] });
    app.execute(&team, "linkSessionToProject", "session", link).await;
    let res = read(creteil).await;
    let types: Vec<Value> = nodes(&res["data"]["history"]).iter().map(|e| e["type"].clone()).collect();
    assert_eq!(types.first(), Some(&json!("SessionRequested")), "{res}");
    assert_eq!(types.len() as u64, res["data"]["history"]["totalCount"].as_u64().unwrap());
    assert_eq!(outcome(&read(app.token(Role::Academie, &["01"])).await), "NOT_FOUND");
}

#[tokio::test]
async fn a_persons_history_shows_the_profile_to_the_lab_team_only_and_erased_to_everyone() {
    const GIVEN: &str = "Zéphyrine";
    const USUAL: &str = "Quatremaire";
    let (db, app, team) = fresh_app_as(Role::LabTeam).await;
    let admin = app.token(Role::Admin, &[]);
    let auditor = app.token(Role::Auditor, &[]);
    let register = json!({ "profile": { "givenName": GIVEN, "usualName": USUAL, "email": "zq@ac-nantes.fr" } });
    let person = app.execute(&team, "registerPerson", "person", register).await;
    let id = person["id"].clone();
    let update = json!({ "personId": id, "profile": { "givenName": GIVEN, "usualName": "Quatremaire-Lenoir" } });
    app.execute(&team, "updatePersonProfile", "person", update).await;
    app.execute(&team, "givePersonConsent", "person", json!({ "personId": id, "purpose": "CONTACT" })).await;

    let history = |token: String| {
        let (app, id) = (&app, id.clone());
        async move {
            let res = app.graphql_as(Some(&token), &history_query(), json!({ "id": id })).await;
            assert!(res["errors"].is_null(), "{res}");
            nodes(&res["data"]["history"])
        }
    };
    let profiles = |events: &[Value]| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["payload"].get("profile").is_some())
            .map(|e| e["payload"]["profile"].clone())
            .collect()
    };
    let hidden = history(auditor.clone()).await;
    let types: Vec<&str> = hidden.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["PersonRegistered", "PersonProfileUpdated", "PersonConsentGiven"]);
    assert_eq!(profiles(&hidden), vec![json!("Données personnelles masquées"); 2], "the auditor sees no name");
    assert!(hidden[0]["payload"]["registered_on"].is_string(), "the rest of the event stays: {}", hidden[0]);
    assert!(!hidden.iter().any(|e| e.to_string().contains(GIVEN)), "{hidden:?}");
    for token in [team.clone(), admin.clone()] {
        let clear = history(token).await;
        let profiles = profiles(&clear);
        assert_eq!(profiles[0]["given_name"], GIVEN, "{clear:?}");
        assert_eq!(profiles[0]["email"], "zq@ac-nantes.fr");
        assert_eq!(profiles[1]["usual_name"], "Quatremaire-Lenoir");
    }
    for (token, expected) in
        [(app.token(Role::Academie, &["24"]), "FORBIDDEN"), (app.token(Role::Reader, &[]), "FORBIDDEN")]
    {
        let res = app.graphql_as(Some(&token), &history_query(), json!({ "id": id })).await;
        assert_eq!(outcome(&res), expected, "{res}");
    }
    // the feed applies the same redaction
    feed_caught_up(&app, &auditor, &db).await;
    let person_events = json!({ "filter": { "streamTypes": ["person"] } });
    let res = app.graphql_as(Some(&auditor), &events_query(), person_events.clone()).await;
    assert_eq!(profiles(&nodes(&res["data"]["events"])), vec![json!("Données personnelles masquées"); 2], "{res}");
    let res = app.graphql_as(Some(&admin), &events_query(), person_events.clone()).await;
    assert_eq!(profiles(&nodes(&res["data"]["events"]))[0]["given_name"], GIVEN, "{res}");

    let erase = json!({ "personId": id, "reason": "Demande d'effacement (RGPD, art. 17)" });
    app.execute(&admin, "erasePerson", "person", erase).await;
    for token in [auditor.clone(), team.clone(), admin.clone()] {
        let events = history(token).await;
        assert_eq!(profiles(&events), vec![json!("Personne effacée"); 2], "{events:?}");
        let erased = events.last().unwrap();
        assert_eq!(erased["type"], "PersonErased");
        assert_eq!(erased["payload"]["reason"], "Demande d'effacement (RGPD, art. 17)", "{erased}");
        let text = serde_json::to_string(&events).unwrap();
        assert!(!text.contains(GIVEN) && !text.contains(USUAL), "{text}");
    }
    feed_caught_up(&app, &auditor, &db).await;
    let res = app.graphql_as(Some(&admin), &events_query(), person_events).await;
    assert_eq!(profiles(&nodes(&res["data"]["events"])), vec![json!("Personne effacée"); 2], "{res}");
}

#[tokio::test]
async fn the_events_feed_filters_in_order_for_auditors_and_admins_only() {
    let (db, app) = fresh_app().await;
    let alice = token_for(&app, "alice", Role::LabTeam, &[]);
    let bob = token_for(&app, "bob", Role::Admin, &[]);
    let submit = |title: &str, academie: &str| json!({ "title": title, "problemStatement": "Un besoin.", "supportMode": "PUNCTUAL", "academieCodes": [academie] });
    let p1 = app.execute(&alice, "submitProject", "project", submit("Premier", "24")).await;
    let register = json!({ "profile": { "givenName": "Lou", "usualName": "Martin" } });
    app.execute(&bob, "registerPerson", "person", register).await;
    app.execute(&bob, "submitProject", "project", submit("Deuxième", "01")).await;
    app.execute(&alice, "startProjectQualification", "project", json!({ "projectId": p1["id"] })).await;
    let request = json!({ "title": "Atelier", "format": "IDEATION", "objective": "Un objectif.",
                          "requester": { "organisation": "DNE", "kind": "DIRECTION" } });
    app.execute(&bob, "requestSession", "session", request).await;
    app.execute(&alice, "acceptProject", "project", json!({ "projectId": p1["id"], "supportMode": "INCUBATION" }))
        .await;

    let auditor = app.token(Role::Auditor, &[]);
    let total = feed_caught_up(&app, &auditor, &db).await;
    let res = app.graphql_as(Some(&auditor), &events_query(), json!({ "first": 100 })).await;
    let all = nodes(&res["data"]["events"]);
    assert_eq!(all.len() as u64, total, "{res}");
    assert_eq!(res["data"]["events"]["pageInfo"]["hasNextPage"], false);
    // oldest first: the store's reading order
    let order: Vec<i64> =
        sqlx::query_scalar("select global_position from events order by transaction_id, global_position")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let positions: Vec<i64> = all.iter().map(|e| e["globalPosition"].as_i64().unwrap()).collect();
    assert_eq!(positions, order);
    for size in [1, 3, 100] {
        for forward in [true, false] {
            let paged = page_through(&app, &auditor, "events", json!({}), size, forward).await;
            assert_eq!(paged, all, "{size} at a time, forward: {forward}");
        }
    }

    // each filter gives what filtering the whole feed would
    let (from, to) = (all[2]["recordedAt"].clone(), all[6]["recordedAt"].clone());
    let at = |e: &Value| chrono::DateTime::parse_from_rfc3339(e["recordedAt"].as_str().unwrap()).unwrap();
    let (lo, hi) = (at(&all[2]), at(&all[6]));
    type Keep = Box<dyn Fn(&Value) -> bool>;
    let filters: Vec<(Value, Keep)> = vec![
        (json!({ "streamTypes": ["project"] }), Box::new(|e| e["streamType"] == "project")),
        (
            json!({ "streamTypes": ["session", "person"] }),
            Box::new(|e| e["streamType"] == "session" || e["streamType"] == "person"),
        ),
        (json!({ "types": ["ProjectSubmitted"] }), Box::new(|e| e["type"] == "ProjectSubmitted")),
        (
            json!({ "types": ["ProjectAccepted", "SessionRequested"] }),
            Box::new(|e| e["type"] == "ProjectAccepted" || e["type"] == "SessionRequested"),
        ),
        (json!({ "actor": "bob" }), Box::new(|e| e["actor"]["id"] == "bob")),
        (json!({ "actor": "bob", "actorIssuer": "elsewhere" }), Box::new(|_| false)),
        (json!({ "from": from, "to": to }), Box::new(move |e| lo <= at(e) && at(e) <= hi)),
        (
            json!({ "streamTypes": ["project"], "actor": "alice", "from": from }),
            Box::new(move |e| e["streamType"] == "project" && e["actor"]["id"] == "alice" && lo <= at(e)),
        ),
    ];
    for (filter, keep) in &filters {
        let expected: Vec<Value> = all.iter().filter(|e| keep(e)).cloned().collect();
        let res = app.graphql_as(Some(&auditor), &events_query(), json!({ "filter": filter, "first": 100 })).await;
        assert_eq!(nodes(&res["data"]["events"]), expected, "{filter}: {res}");
        assert_eq!(res["data"]["events"]["totalCount"], expected.len(), "{filter}");
        let paged = page_through(&app, &auditor, "events", json!({ "filter": filter }), 2, true).await;
        assert_eq!(paged, expected, "{filter}, two at a time");
    }
    let accepted = filters[3].0.clone();
    let res = app.graphql_as(Some(&auditor), &events_query(), json!({ "filter": accepted })).await;
    assert_eq!(nodes(&res["data"]["events"]).len(), 2, "the filters are not all empty: {res}");
    let by_bob = app.graphql_as(Some(&auditor), &events_query(), json!({ "filter": { "actor": "bob" } })).await;
    assert!(nodes(&by_bob["data"]["events"]).len() >= 3, "{by_bob}");

    // who may read the feed
    let who = [
        ("AUDITOR", Some(auditor.clone()), "OK"),
        ("ADMIN", Some(app.token(Role::Admin, &[])), "OK"),
        ("LAB_TEAM", Some(app.token(Role::LabTeam, &[])), "FORBIDDEN"),
        ("ACADEMIE", Some(app.token(Role::Academie, &["24"])), "FORBIDDEN"),
        ("READER", Some(app.token(Role::Reader, &[])), "FORBIDDEN"),
        ("nobody", None, "UNAUTHENTICATED"),
    ];
    for (name, token, expected) in &who {
        let res = app.graphql_as(token.as_deref(), &events_query(), json!({})).await;
        assert_eq!(outcome(&res), *expected, "{name}: {res}");
    }
    // and what it refuses
    let refused = [
        json!({ "from": to, "to": from }),
        json!({ "types": [""] }),
        json!({ "streamTypes": vec!["project"; 51] }),
        json!({ "actor": "x".repeat(201) }),
    ];
    for filter in refused {
        let res = app.graphql_as(Some(&auditor), &events_query(), json!({ "filter": filter })).await;
        assert_eq!(outcome(&res), "BAD_USER_INPUT", "{filter}: {res}");
    }
}

/// Every command that takes a reason records it in its events' metadata, whichever aggregate:
/// `LogEvent.reason` shows it in `events` and `history`, beside who and when — the README's
/// "Decisions" query included; commands without one have none.
#[tokio::test]
async fn every_reason_given_is_in_the_log_and_the_readmes_decisions_query_shows_it() {
    let (db, app, team) = fresh_app_as(Role::LabTeam).await;
    let admin = app.token(Role::Admin, &[]);
    let auditor = app.token(Role::Auditor, &[]);
    let submit = |title: &str| {
        json!({ "title": title, "problemStatement": "Un besoin.", "supportMode": "INCUBATION",
                "academieCodes": ["24"], "submittedOn": "2026-01-05" })
    };
    // a project submitted as `title`, then each (command, day, more input) in turn
    let project = |title: &'static str, steps: Vec<(&'static str, &'static str, Value)>| {
        let (app, team) = (&app, &team);
        async move {
            let id = app.execute(team, "submitProject", "project", submit(title)).await["id"].clone();
            for (name, day, more) in steps {
                let mut input = json!({ "projectId": id, "on": day });
                input.as_object_mut().unwrap().extend(more.as_object().unwrap().clone());
                app.execute(team, name, "project", input).await;
            }
            id
        }
    };
    // the same, qualified on 10 January first
    let qualified = |title: &'static str, steps: Vec<(&'static str, &'static str, Value)>| {
        project(title, [vec![("startProjectQualification", "2026-01-10", json!({}))], steps].concat())
    };
    // a declined project, reopened; a withdrawn one; one accepted, paused, then abandoned
    let declined = qualified(
        "Refusé",
        vec![
            ("declineProject", "2026-01-20", json!({ "reason": "Hors du champ du lab" })),
            ("reopenProject", "2026-02-01", json!({ "reason": "Le besoin a été reformulé" })),
        ],
    )
    .await;
    let withdrawn = project(
        "Retiré",
        vec![("withdrawProject", "2026-01-08", json!({ "reason": "La porteuse a changé de poste" }))],
    )
    .await;
    let abandoned = qualified(
        "Abandonné",
        vec![
            ("acceptProject", "2026-01-15", json!({ "supportMode": "INCUBATION" })),
            ("pauseProject", "2026-02-01", json!({ "reason": "Congés de l'équipe" })),
            (
                "abandonProject",
                "2026-03-01",
                json!({ "reasonCode": "OTHER", "explanation": "Plus de moyens pour le poursuivre" }),
            ),
        ],
    )
    .await;
    // sessions: withdrawn, declined, cancelled
    let request = |title: &str| {
        json!({ "title": title, "format": "IDEATION", "objective": "Une question.",
                "requester": { "organisation": "DNE", "kind": "DIRECTION" }, "requestedOn": "2026-03-02" })
    };
    let session = |title: &'static str, scoped: bool| {
        let (app, team) = (&app, &team);
        async move {
            let id = app.execute(team, "requestSession", "session", request(title)).await["id"].clone();
            if scoped {
                app.execute(team, "startSessionScoping", "session", json!({ "sessionId": id })).await;
            }
            id
        }
    };
    let s1 = session("Retirée", false).await;
    app.execute(&team, "withdrawSession", "session", json!({ "sessionId": s1, "reason": "Plus d'actualité" })).await;
    let s2 = session("Non retenue", true).await;
    app.execute(&team, "declineSession", "session", json!({ "sessionId": s2, "reason": "Relève de la formation" }))
        .await;
    let s3 = session("Annulée", true).await;
    let schedule = json!({ "sessionId": s3, "startsAt": "2026-06-10T09:00:00Z", "endsAt": "2026-06-10T17:00:00Z",
                           "location": "110 bis", "mode": "IN_PERSON", "capacity": 20 });
    app.execute(&team, "scheduleSession", "session", schedule).await;
    app.execute(&team, "cancelSession", "session", json!({ "sessionId": s3, "reason": "Grève des transports" })).await;
    // a person erased
    let register = json!({ "profile": { "givenName": "Alix", "usualName": "Martin" } });
    let person = app.execute(&team, "registerPerson", "person", register).await["id"].clone();
    let erase = json!({ "personId": person, "reason": "Demande d'effacement (RGPD, art. 17)" });
    app.execute(&admin, "erasePerson", "person", erase).await;

    feed_caught_up(&app, &auditor, &db).await;
    let expected: [(&str, &Value, &str); 9] = [
        ("ProjectDeclined", &declined, "Hors du champ du lab"),
        ("ProjectReopened", &declined, "Le besoin a été reformulé"),
        ("ProjectWithdrawn", &withdrawn, "La porteuse a changé de poste"),
        ("ProjectPaused", &abandoned, "Congés de l'équipe"),
        ("ProjectAbandoned", &abandoned, "Plus de moyens pour le poursuivre"),
        ("SessionWithdrawn", &s1, "Plus d'actualité"),
        ("SessionDeclined", &s2, "Relève de la formation"),
        ("SessionCancelled", &s3, "Grève des transports"),
        ("PersonErased", &person, "Demande d'effacement (RGPD, art. 17)"),
    ];
    let all = page_through(&app, &auditor, "events", json!({}), 100, true).await;
    for (event_type, entity, reason) in expected {
        let found: Vec<&Value> = all.iter().filter(|e| e["type"] == event_type).collect();
        assert_eq!(found.len(), 1, "{event_type}: {found:?}");
        assert_eq!((&found[0]["entityId"], &found[0]["reason"]), (entity, &json!(reason)), "{event_type}");
        // the same in the entity's history
        let history = app.graphql_as(Some(&auditor), &history_query(), json!({ "id": entity, "first": 50 })).await;
        let node = nodes(&history["data"]["history"]).into_iter().find(|e| e["type"] == event_type);
        assert_eq!(node.map(|e| e["reason"].clone()), Some(json!(reason)), "{event_type} in history: {history}");
    }
    for event in &all {
        let with_reason = expected.iter().any(|(t, _, _)| event["type"] == *t)
            // the phase an abandonment ends is part of the same command
            || event["type"] == "ProjectPhaseEnded";
        assert_eq!(event["reason"].is_null(), !with_reason, "{event}");
    }

    // the README's Decisions query, as written, shows why a project was declined
    let decisions = carnet_testkit::readme_blocks("graphql auditor")
        .into_iter()
        .find(|b| b.contains("query Decisions"))
        .expect("Decisions");
    let res = app.graphql_as(Some(&auditor), &decisions, json!({})).await;
    assert!(res["errors"].is_null(), "{res}");
    let shown: Vec<(Value, Value)> =
        nodes(&res["data"]["events"]).iter().map(|e| (e["type"].clone(), e["reason"].clone())).collect();
    assert_eq!(
        shown,
        [(json!("ProjectDeclined"), json!("Hors du champ du lab")), (json!("ProjectAccepted"), Value::Null)],
        "{res}"
    );
}

/// The README's auditor examples (`graphql auditor` blocks, which the lab team's README test
/// leaves out) run as an auditor against the demo data, `$id` a demo project.
#[tokio::test]
async fn the_readme_examples_for_auditors_run() {
    let blocks = carnet_testkit::readme_blocks("graphql auditor");
    assert!(blocks.len() >= 2, "the README shows the auditors' queries: {blocks:?}");

    let db = demo_database(chrono::Utc::now().date_naive()).await;
    let app = spawn_app(&db.url).await;
    let auditor = app.token(Role::Auditor, &[]);
    feed_caught_up(&app, &auditor, &db).await;
    let first = app.graphql_as(Some(&auditor), "{ projects(first: 1) { edges { node { id } } } }", json!({})).await;
    let id = first["data"]["projects"]["edges"][0]["node"]["id"].clone();
    for block in blocks {
        let res = app.graphql_as(Some(&auditor), &block, json!({ "id": id })).await;
        assert!(res["errors"].is_null(), "README example failed:\n{block}\n{res}");
        let (field, answer) = res["data"].as_object().and_then(|d| d.iter().next()).expect("data");
        if field == "integrity" {
            assert_eq!(answer["intact"], true, "the demo log verifies:\n{res}");
            continue;
        }
        assert!(!nodes(answer).is_empty(), "the example shows something on the demo data:\n{block}\n{res}");
    }
}
