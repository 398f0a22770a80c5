//! The lab team runs a collaborative session and registers people through mutations; the
//! rules of DESIGN §4.2 and §4.3 refuse what they must, by name, writing nothing.

use crate::support::*;
use carnet_domain::person::Role;
use serde_json::{Value, json};

const SESSION_FIELDS: &str = "id reference status format formatLabel capacity registeredCount startsAt \
                              attendance { count organisations academieCodes } report { text } \
                              satisfaction { respondents mean } projectIds academieCodes version";

async fn request(app: &TestApp, token: &str, format: &str, organisation: &str, kind: &str) -> Result<Value, Value> {
    let input = json!({
        "title": "Atelier orientation",
        "format": format,
        "objective": "Comment mieux préparer les stages de troisième ?",
        "requester": { "organisation": organisation, "kind": kind },
        "requestedOn": "2026-03-02",
    });
    app.try_mutate(token, "requestSession", input, "session", SESSION_FIELDS).await
}

#[tokio::test]
async fn a_session_goes_from_request_to_close_each_payload_showing_its_state() {
    let (_db, app, token) = fresh_app_as(Role::LabTeam).await;
    let facilitator = app.register_person(&token, "Inès", "Garnier").await;
    let participant = app.register_person(&token, "Julie", "Rousseau").await;

    let session = request(&app, &token, "DESIGN_SPRINT", "Académie de Lyon", "ACADEMIE").await.expect("requested");
    assert_eq!(session["reference"], "110B-S-2026-001");
    assert_eq!(
        (session["status"].as_str(), session["formatLabel"].as_str()),
        (Some("REQUESTED"), Some("Sprint de design"))
    );
    let id = session["id"].clone();
    let (start, end) = ("2026-04-01T08:00:00Z", "2026-04-01T16:00:00Z");
    let steps: Vec<(&str, Value, &str)> = vec![
        ("startSessionScoping", json!({ "on": "2026-03-05" }), "SCOPING"),
        ("assignFacilitator", json!({ "personId": facilitator["id"] }), "SCOPING"),
        (
            "scheduleSession",
            json!({ "startsAt": start, "endsAt": end, "location": "110 bis", "mode": "IN_PERSON", "capacity": 1 }),
            "SCHEDULED",
        ),
        ("registerParticipant", json!({ "personId": participant["id"], "profile": "enseignante" }), "SCHEDULED"),
        ("holdSession", json!({}), "HELD"),
        (
            "recordAttendance",
            json!({ "count": 23, "organisations": ["Collège Jean-Moulin"], "academieCodes": ["10"] }),
            "HELD",
        ),
        ("recordSatisfaction", json!({ "respondents": 20, "mean": 4.4 }), "HELD"),
        ("publishSessionReport", json!({ "report": "Trois pistes retenues.", "on": "2026-04-03" }), "HELD"),
        ("closeSession", json!({ "on": "2026-04-03" }), "CLOSED"),
    ];
    let mut version = session["version"].as_u64().unwrap();
    for (name, mut input, status) in steps {
        input["sessionId"] = id.clone();
        input["expectedVersion"] = json!(version);
        let session = app
            .try_mutate(&token, name, input, "session", SESSION_FIELDS)
            .await
            .unwrap_or_else(|res| panic!("{name}: {res}"));
        assert_eq!(session["status"], status, "{name}: {session}");
        assert!(session["version"].as_u64().unwrap() > version, "{name}: {session}");
        version = session["version"].as_u64().unwrap();
    }
    let query = format!("query($id: ID!) {{ session(id: $id) {{ {SESSION_FIELDS} }} }}");
    let session = app.graphql_as(Some(&token), &query, json!({ "id": id })).await["data"]["session"].clone();
    assert_eq!(session["attendance"]["count"], 23);
    assert_eq!(session["academieCodes"], json!(["10"]));
    assert_eq!(session["report"]["text"], "Trois pistes retenues.");
    assert_eq!(session["registeredCount"], 1);
}

#[tokio::test]
async fn session_rules_refuse_by_name_and_write_nothing() {
    let (db, app, token) = fresh_app_as(Role::LabTeam).await;
    let (a, b) = (
        app.register_person(&token, "Nicolas", "Perrin").await,
        app.register_person(&token, "Claire", "Vasseur").await,
    );
    let session = request(&app, &token, "HACKATHON", "DNE", "DIRECTION").await.expect("requested");
    let id = session["id"].clone();
    app.try_mutate(&token, "startSessionScoping", json!({ "sessionId": id }), "session", SESSION_FIELDS)
        .await
        .expect("scoping");
    let schedule = |start: &str, end: &str, capacity: i64| json!({ "sessionId": id, "startsAt": start, "endsAt": end, "location": "110 bis", "mode": "HYBRID", "capacity": capacity });
    let future = ("2099-01-01T08:00:00Z", "2099-01-01T12:00:00Z");
    app.try_mutate(&token, "scheduleSession", schedule(future.0, future.1, 1), "session", SESSION_FIELDS)
        .await
        .expect("scheduled");
    app.try_mutate(
        &token,
        "registerParticipant",
        json!({ "sessionId": id, "personId": a["id"], "profile": "IEN" }),
        "session",
        SESSION_FIELDS,
    )
    .await
    .expect("registered");

    let events = event_count(&db).await;
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "registerParticipant",
            json!({ "sessionId": id, "personId": b["id"], "profile": "IEN" }),
            "INVALID_TRANSITION",
            "session.capacity_exceeded",
        ),
        ("rescheduleSession", schedule(future.1, future.0, 5), "BAD_USER_INPUT", "date_range.end_before_start"),
        ("rescheduleSession", schedule(future.0, future.1, -3), "BAD_USER_INPUT", "session.capacity_required"),
        ("holdSession", json!({ "sessionId": id }), "INVALID_TRANSITION", "session.not_started_yet"),
        ("closeSession", json!({ "sessionId": id }), "INVALID_TRANSITION", "session.invalid_transition"),
        (
            "recordAttendance",
            json!({ "sessionId": id, "count": 3, "organisations": ["X"], "academieCodes": ["99"] }),
            "BAD_USER_INPUT",
            "academie.unknown",
        ),
    ];
    for (name, input, code, rule) in cases {
        let res = app.try_mutate(&token, name, input, "session", SESSION_FIELDS).await.expect_err(name);
        let error = &res["errors"][0];
        assert_eq!(error["extensions"]["code"], code, "{name}: {res}");
        assert_eq!(error["extensions"]["rule"], rule, "{name}: {res}");
    }
    let res = request(&app, &token, "SEMINAR", "DGESCO", "DIRECTION").await;
    assert!(res.is_ok(), "a first seminar is fine: {res:?}");
    let res = app
        .ask(&token, "mutation { requestSession(input: { title: \"Team building\", format: TEAM_BUILDING, objective: \"x\", requester: { organisation: \"DNE\", kind: DIRECTION } }) { session { id } } }")
        .await;
    assert_eq!(
        res["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "team-building is not a format: {res}"
    );
    assert_eq!(event_count(&db).await, events + 2, "only the seminar's reference and request were written");
}

#[tokio::test]
async fn personal_data_reaches_the_lab_team_and_admins_only_and_erasure_is_for_admins() {
    let (_db, app, team) = fresh_app_as(Role::LabTeam).await;
    let person = app.register_person(&team, "Amélie", "Fontaine").await;
    assert_eq!(
        (person["givenName"].as_str(), person["displayName"].as_str()),
        (Some("Amélie"), Some("Amélie Fontaine"))
    );

    let query = format!("query($id: ID!) {{ person(id: $id) {{ {PERSON_FIELDS} }} }}");
    let auditor = app.token(Role::Auditor, &[]);
    let seen = app.graphql_as(Some(&auditor), &query, json!({ "id": person["id"] })).await;
    assert_eq!(seen["data"]["person"]["givenName"], Value::Null, "an auditor reads no name: {seen}");
    assert_eq!(seen["data"]["person"]["email"], Value::Null, "{seen}");

    let grant = json!({ "personId": person["id"], "role": "ACADEMIE", "academieCodes": ["09"] });
    let res = app
        .try_mutate(&team, "grantPersonRole", grant.clone(), "person", PERSON_FIELDS)
        .await
        .expect_err("admins grant roles");
    assert_eq!(res["errors"][0]["extensions"]["code"], "FORBIDDEN", "{res}");
    let admin = app.token(Role::Admin, &[]);
    let granted = app.try_mutate(&admin, "grantPersonRole", grant, "person", PERSON_FIELDS).await.expect("granted");
    assert_eq!(granted["roles"], json!([{ "code": "ACADEMIE", "academieCodes": ["09"] }]));

    let erase = json!({ "personId": person["id"], "reason": "demande d'effacement RGPD" });
    let res =
        app.try_mutate(&team, "erasePerson", erase.clone(), "person", PERSON_FIELDS).await.expect_err("admins erase");
    assert_eq!(res["errors"][0]["extensions"]["code"], "FORBIDDEN", "{res}");
    let erased = app.try_mutate(&admin, "erasePerson", erase.clone(), "person", PERSON_FIELDS).await.expect("erased");
    assert_eq!((erased["erased"].as_bool(), erased["displayName"].as_str()), (Some(true), Some("Personne effacée")));
    assert_eq!(erased["givenName"], Value::Null);
    let again =
        app.try_mutate(&admin, "erasePerson", erase, "person", PERSON_FIELDS).await.expect("erasing twice is harmless");
    assert_eq!(again["erased"], true);
    let unknown = json!({ "personId": "UGVyc29uOjAxOWFhYWFhLWFhYWEtN2FhYS1hYWFhLWFhYWFhYWFhYWFhYQ", "reason": "x" });
    let res = app.try_mutate(&admin, "erasePerson", unknown, "person", PERSON_FIELDS).await.expect_err("unknown");
    assert_eq!(res["errors"][0]["extensions"]["code"], "NOT_FOUND", "{res}");
}

#[tokio::test]
async fn an_identity_already_linked_to_someone_else_is_refused_by_name() {
    let (db, app, team) = fresh_app_as(Role::LabTeam).await;
    let (a, b) =
        (app.register_person(&team, "Yann", "Le Goff").await, app.register_person(&team, "Nadia", "Bensaïd").await);
    let link =
        |person: &Value| json!({ "personId": person["id"], "issuer": "https://proconnect.example", "sub": "agent-42" });
    // linking gives the person's roles to whoever holds the identity: administrators only
    let res = app
        .try_mutate(&team, "linkPersonIdentity", link(&a), "person", PERSON_FIELDS)
        .await
        .expect_err("not the lab team");
    assert_eq!(res["errors"][0]["extensions"]["code"], "FORBIDDEN", "{res}");
    let admin = app.token(Role::Admin, &[]);
    app.try_mutate(&admin, "linkPersonIdentity", link(&a), "person", PERSON_FIELDS).await.expect("linked");
    let events = event_count(&db).await;
    let res = app.try_mutate(&admin, "linkPersonIdentity", link(&b), "person", PERSON_FIELDS).await.expect_err("taken");
    let error = &res["errors"][0];
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{res}");
    assert_eq!(error["extensions"]["rule"], "person.identity_taken", "{res}");
    assert_eq!(event_count(&db).await, events, "nothing written");
}

#[tokio::test]
async fn a_session_can_be_declined_withdrawn_or_cancelled() {
    let (_db, app, token) = fresh_app_as(Role::LabTeam).await;
    let reason = "Le calendrier ne le permet pas.";
    for (name, status) in [("declineSession", "DECLINED"), ("withdrawSession", "WITHDRAWN")] {
        let requested = request(&app, &token, "IDEATION", "Lycée Condorcet", "SCHOOL").await.expect("requested");
        let input = json!({ "sessionId": requested["id"], "reason": reason });
        let s = app.try_mutate(&token, name, input, "session", SESSION_FIELDS).await;
        assert_eq!(s.unwrap_or_else(|res| panic!("{name}: {res}"))["status"], status);
    }
    let cancelled = request(&app, &token, "WORLD_CAFE", "Réseau Canopé", "PARTNER").await.expect("requested");
    let id = cancelled["id"].clone();
    app.try_mutate(&token, "startSessionScoping", json!({ "sessionId": id }), "session", SESSION_FIELDS)
        .await
        .expect("scoping");
    let schedule = json!({ "sessionId": id, "startsAt": "2099-05-01T08:00:00Z", "endsAt": "2099-05-01T12:00:00Z",
                           "location": "110 bis", "mode": "ONLINE", "capacity": 30 });
    app.try_mutate(&token, "scheduleSession", schedule, "session", SESSION_FIELDS).await.expect("scheduled");
    let s = app
        .try_mutate(&token, "cancelSession", json!({ "sessionId": id, "reason": reason }), "session", SESSION_FIELDS)
        .await;
    assert_eq!(s.expect("cancelled")["status"], "CANCELLED");
}
