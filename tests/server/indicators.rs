//! The lab's indicators over GraphQL on the demo data (DESIGN §4.5): the headline — about ten
//! projects, 27 sessions held, more than 1 300 visitors — for the lab team, and an académie's
//! own territory, and nothing more, for an académie.

use crate::support::*;
use carnet_domain::person::Role;
use serde_json::{Value, json};

const INDICATORS: &str = "query($from: NaiveDate, $to: NaiveDate, $codes: [String!]) {
  indicators(from: $from, to: $to, academieCode: $codes) {
    period { from to }
    academieCodes
    projects {
      total newRequests accepted transferred abandoned acceptanceRate
      byStatus { status label count }
      byPhase { phase label count }
      bySupportMode { supportMode label count }
      byAcademie { code name count }
    }
    sessions {
      held participants visitors meanSatisfaction attendanceRate
      byFormat { format label count }
    }
  }
}";

/// The demo, loaded through the lab's commands on a fresh PostgreSQL database, and the app.
async fn demo_app() -> (FreshDatabase, TestApp) {
    let db = demo_database(chrono::NaiveDate::from_ymd_opt(2026, 11, 28).expect("a day")).await;
    let app = spawn_app(&db.url).await;
    (db, app)
}

/// The app with `concurrency` folds of the log at once, `queue` waiting up to `wait_ms`, and
/// `per_caller` places (running or waiting) per caller.
async fn expensive_app(url: &str, concurrency: usize, queue: usize, wait_ms: u64, per_caller: usize) -> TestApp {
    let config = carnet_api::graphql::expensive::ExpensiveConfig { concurrency, queue, wait_ms, per_caller };
    spawn_app_with(url, |c| c.expensive_queries = config).await
}

async fn indicators(app: &TestApp, token: &str, variables: Value) -> Value {
    let res = app.graphql_as(Some(token), INDICATORS, variables).await;
    assert!(res["errors"].is_null(), "{res}");
    res["data"]["indicators"].clone()
}

fn n(value: &Value) -> u64 {
    value.as_u64().unwrap_or_else(|| panic!("a count: {value}"))
}

fn sum(list: &Value) -> u64 {
    list.as_array().expect("a list").iter().map(|c| n(&c["count"])).sum()
}

#[tokio::test]
async fn the_lab_team_sees_the_headline_and_an_academie_its_territory_only() {
    let (_db, app) = demo_app().await;
    let lab = app.token(Role::LabTeam, &[]);
    let all = indicators(&app, &lab, json!({})).await;
    assert_eq!(all["period"], json!({ "from": null, "to": null }));
    assert_eq!(all["academieCodes"], json!([]));
    let (projects, sessions) = (&all["projects"], &all["sessions"]);
    assert_eq!(projects["total"], 10, "une dizaine de projets accompagnés: {all}");
    assert_eq!(sum(&projects["byStatus"]), 10);
    assert_eq!(sum(&projects["bySupportMode"]), 10);
    assert!(projects["byStatus"].as_array().unwrap().iter().any(|s| s["label"] == "Candidature reçue"));
    assert!(
        projects["byAcademie"].as_array().unwrap().iter().any(|a| a["code"] == "24" && a["name"] == "Créteil"),
        "{projects}"
    );
    assert_eq!(sessions["held"], 27, "27 sessions collaboratives: {all}");
    assert_eq!(sum(&sessions["byFormat"]), 27);
    assert!(n(&sessions["visitors"]) > 1300, "plus de 1 300 visiteurs: {all}");
    assert!(n(&sessions["participants"]) > 0);
    let satisfaction = sessions["meanSatisfaction"].as_f64().expect("surveys");
    assert!((1.0..=5.0).contains(&satisfaction), "{satisfaction}");

    // Créteil's token: its territory only, exactly what the lab team gets for académie 24
    let creteil = app.token(Role::Academie, &["24"]);
    let own = indicators(&app, &creteil, json!({})).await;
    let asked = indicators(&app, &lab, json!({ "codes": ["24"] })).await;
    assert_eq!(own, asked, "an académie's figures are its territory's");
    assert_eq!(own["academieCodes"], json!(["24"]));
    assert!(n(&own["projects"]["total"]) > 0 && n(&own["projects"]["total"]) < 10, "{own}");
    assert!(n(&own["sessions"]["held"]) > 0 && n(&own["sessions"]["held"]) < 27, "{own}");
    assert!(n(&own["sessions"]["visitors"]) < n(&sessions["visitors"]), "{own}");
    let academies: Vec<&str> =
        own["projects"]["byAcademie"].as_array().unwrap().iter().map(|a| a["code"].as_str().unwrap()).collect();
    assert_eq!(academies, ["24"], "no figure about other académies");

    // asking for others: its own part only, or zeros — never an error
    let mixed = indicators(&app, &creteil, json!({ "codes": ["24", "01"] })).await;
    assert_eq!(mixed, own, "other académies are left out");
    let others = indicators(&app, &creteil, json!({ "codes": ["01"] })).await;
    assert_eq!((n(&others["projects"]["total"]), n(&others["sessions"]["held"])), (0, 0), "{others}");
    assert_eq!(n(&others["sessions"]["visitors"]), 0);
    assert_eq!(others["academieCodes"], json!([]));
}

#[tokio::test]
async fn a_period_narrows_what_happened_and_a_bad_one_is_refused() {
    let (_db, app) = demo_app().await;
    let auditor = app.token(Role::Auditor, &[]);
    // after the demo's "today": nothing held, nothing submitted, the portfolio unchanged
    let later = indicators(&app, &auditor, json!({ "from": "2027-01-01", "to": "2027-12-31" })).await;
    assert_eq!(later["period"], json!({ "from": "2027-01-01", "to": "2027-12-31" }));
    assert_eq!((n(&later["sessions"]["held"]), n(&later["projects"]["newRequests"])), (0, 0), "{later}");
    assert_eq!(later["projects"]["total"], 10);
    // the demo's last months: some of the sessions only
    let autumn = indicators(&app, &auditor, json!({ "from": "2026-09-01", "to": "2026-11-28" })).await;
    let held = n(&autumn["sessions"]["held"]);
    assert!(held > 0 && held < 27, "{autumn}");

    let backwards =
        app.graphql_as(Some(&auditor), INDICATORS, json!({ "from": "2026-03-01", "to": "2026-02-01" })).await;
    assert_eq!(backwards["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{backwards}");
    let unknown = app.graphql_as(Some(&auditor), INDICATORS, json!({ "codes": ["99"] })).await;
    assert_eq!(unknown["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{unknown}");
    let reader = app.graphql_as(Some(&app.token(Role::Reader, &[])), INDICATORS, json!({})).await;
    assert_eq!(reader["errors"][0]["extensions"]["code"], "FORBIDDEN", "{reader}");
    let anonymous = app.graphql(INDICATORS, json!({})).await;
    assert_eq!(anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}

/// `indicators(asOf)` rebuilds the read models from the log: it weighs in the complexity limit,
/// a few run at once and the rest are refused (`RATE_LIMITED`, `BUSY`) rather than queued
/// without end, and a light query of another caller answers while heavy ones are still
/// running (judged by which finishes first, not by a time threshold).
#[tokio::test]
async fn heavy_folds_are_bounded_and_light_queries_still_answer() {
    let db = demo_database(chrono::NaiveDate::from_ymd_opt(2026, 11, 28).expect("a day")).await;
    let heavy = |n: usize| {
        let aliases: String = (0..n)
            .map(|i| format!("a{i}: indicators(asOf: \"2100-01-01T00:00:00Z\") {{ projects {{ total }} }} "))
            .collect();
        format!("{{ {aliases} }}")
    };
    let auditor_of = |app: &TestApp| {
        carnet_api::auth::TokenVerifier::load_or_create(&app.secret).expect("secret").mint(
            "auditor",
            &[Role::Auditor],
            &[],
            1,
        )
    };

    // the complexity limit: four folds in a document, not five (cheap indicators: many)
    let app = spawn_app(&db.url).await;
    let auditor = auditor_of(&app);
    let res = app.graphql_as(Some(&auditor), &heavy(5), json!({})).await;
    assert_eq!(res["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{res}");
    assert!(res["errors"][0]["message"].as_str().is_some_and(|m| m.contains("trop coûteuse")), "{res}");
    let res = app.graphql_as(Some(&auditor), &heavy(4), json!({})).await;
    assert!(res["errors"].is_null(), "four fit: {res}");
    let cheap: String = (0..20).map(|i| format!("c{i}: indicators {{ projects {{ total }} }} ")).collect();
    let res = app.graphql_as(Some(&auditor), &format!("{{ {cheap} }}"), json!({})).await;
    assert!(res["errors"].is_null(), "without asOf, indicators are a read-model query: {res}");

    // one place and no queue: of three folds at once, one runs, two are refused at once
    let app = expensive_app(&db.url, 1, 0, 60_000, 10).await;
    let auditor = auditor_of(&app);
    let res = app.graphql_as(Some(&auditor), &heavy(3), json!({})).await;
    let errors = res["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 2, "{res}");
    for error in &errors {
        assert_eq!(error["extensions"]["code"], "RATE_LIMITED", "{res}");
        assert_eq!(error["extensions"]["reason"], "BUSY", "{res}");
        assert_eq!(error["extensions"]["retryAfterSeconds"], 1, "{res}");
    }
    let answered = (0..3).filter(|i| res["data"][format!("a{i}")]["projects"]["total"].is_number()).count();
    assert_eq!(answered, 1, "{res}");

    // one caller holds at most `per_caller` places and queue together: of four folds at once, two
    // (one running, one waiting), the rest refused; another caller's fold then still gets in
    let app = expensive_app(&db.url, 1, 10, 60_000, 2).await;
    let auditor = auditor_of(&app);
    let res = app.graphql_as(Some(&auditor), &heavy(4), json!({})).await;
    let refused = res["errors"].as_array().map(|e| e.iter().filter(|e| e["extensions"]["reason"] == "BUSY").count());
    assert_eq!(refused, Some(2), "{res}");
    let other = app.token(Role::LabTeam, &[]);
    let res = app.graphql_as(Some(&other), &heavy(2), json!({})).await;
    assert!(res["errors"].is_null(), "another caller has places of its own: {res}");

    // one place, a long queue: 6 requests of 4 folds wait in turn, and a light query of another
    // caller, sent after them, is answered before the last of them
    let app = expensive_app(&db.url, 1, 100, 120_000, 100).await;
    let auditor = auditor_of(&app);
    let finished = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut running = vec![];
    for i in 0..6 {
        let (client, address, token, query, finished) =
            (app.client.clone(), app.address.clone(), auditor.clone(), heavy(4), finished.clone());
        running.push(tokio::spawn(async move {
            let res = client
                .post(format!("{address}/graphql"))
                .bearer_auth(token)
                .json(&json!({ "query": query }))
                .send()
                .await
                .expect("request");
            let body: Value = res.json().await.expect("JSON");
            assert!(body["errors"].is_null(), "heavy {i}: {body}");
            finished.lock().unwrap().push(format!("heavy {i}"));
        }));
    }
    // let the heavy requests reach the server first (the assertion is on order, not on time)
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let light = app.token(Role::LabTeam, &[]);
    let res = app.graphql_as(Some(&light), "{ projects(first: 5) { totalCount } }", json!({})).await;
    assert!(res["data"]["projects"]["totalCount"].as_u64().is_some_and(|n| n > 0), "{res}");
    let done_before_light = finished.lock().unwrap().len();
    for task in running {
        task.await.expect("a heavy request");
    }
    assert!(done_before_light < 6, "the light query waited for every heavy one: {:?}", finished.lock().unwrap());
}
