//! `cargo run` on a fresh clone: `carnet serve` on a new SQLite file under `./data/` loads the
//! demo data through the lab's own commands, prints the URL and a token per role, and serves it.

use crate::support::*;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// `carnet serve` in `dir`, killed when dropped.
pub(crate) struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `carnet serve` on a free port in `dir` with `url`, and returns the process, the URL it
/// prints and its printed lines up to the last token.
pub(crate) fn serve(dir: &std::path::Path, url: &str) -> (Served, String, Vec<String>) {
    let mut child =
        serve_command(dir, url, &[("RUST_LOG", "warn")]).stderr(Stdio::inherit()).spawn().expect("start carnet serve");
    let stdout = child.stdout.take().expect("stdout");
    let served = Served(child);
    let (address, lines) = printed_up_to_the_tokens(&mut BufReader::new(stdout).lines());
    (served, address, lines)
}

/// `carnet serve` in `dir` on `url` and a free port, with the variables of `env` too, its standard
/// output piped.
pub(crate) fn serve_command(dir: &std::path::Path, url: &str, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_carnet"));
    command.arg("serve").env("CARNET_DATABASE_URL", url).env("CARNET_PORT", "0").envs(env.iter().copied());
    command.current_dir(dir).stdout(Stdio::piped());
    command
}

/// What `carnet serve` prints on starting, read from `lines` up to its last token (the
/// administrator's): the address it prints, and the lines.
pub(crate) fn printed_up_to_the_tokens(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
) -> (String, Vec<String>) {
    let (mut printed, mut address) = (vec![], None);
    for line in lines {
        let line = line.expect("a line of output");
        if let Some(rest) = line.strip_prefix("Carnet écoute sur ") {
            address = rest.split_whitespace().next().map(|a| a.trim_end_matches('/').to_owned());
        }
        let done = line.trim_start().starts_with("Administrateur");
        printed.push(line);
        if done {
            break;
        }
    }
    let address = address.unwrap_or_else(|| panic!("no address printed: {printed:?}"));
    (address, printed)
}

pub(crate) fn token_for(lines: &[String], label: &str) -> String {
    let line = lines.iter().find(|l| l.trim_start().starts_with(label)).unwrap_or_else(|| panic!("{label}: {lines:?}"));
    line.split_whitespace().last().expect("a token").to_owned()
}

#[tokio::test]
async fn a_fresh_clone_serves_the_lab_with_demo_data_on_sqlite() {
    let dir = TempDir::new();
    let (served, address, lines) = serve(dir.path(), "sqlite://data/carnet.db");
    assert!(dir.path().join("data/carnet.db").exists(), "the database lives under ./data/");
    assert!(lines.iter().any(|l| l.contains("données de démonstration chargées")), "{lines:?}");
    let token = token_for(&lines, "Équipe du lab");
    let client = reqwest::Client::new();
    let query = "{ projects(first: 100) { totalCount edges { node { reference status academieCodes } } } }";
    let res = post_served(&client, &address, &token, &json!({ "query": query })).await;
    let projects = &res["data"]["projects"];
    assert_eq!(projects["totalCount"], 10, "une dizaine de projets: {res}");
    let statuses: std::collections::BTreeSet<&str> =
        projects["edges"].as_array().unwrap().iter().map(|e| e["node"]["status"].as_str().unwrap()).collect();
    assert!(statuses.len() >= 6, "projects at every stage: {statuses:?}");
    drop(served);

    // a second start on the same database loads nothing more
    let (_served, _, lines) = serve(dir.path(), "sqlite://data/carnet.db");
    assert!(!lines.iter().any(|l| l.contains("données de démonstration")), "{lines:?}");
}

#[tokio::test]
async fn the_demo_loads_through_the_commands_on_postgres() {
    let db = FreshDatabase::create().await;
    let lab = lab(&db.url).await;
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
    let summary = carnet_lab::demo::load_if_empty(&lab, today).await.expect("demo").expect("a new database");
    assert_eq!((summary.projects, summary.sessions_held), (10, 27));
    assert!(summary.visitors > 1300, "{summary:?}");
    assert!(carnet_lab::demo::load_if_empty(&lab, today).await.expect("second").is_none(), "only on a new database");

    // real history: every event has an actor and comes from a command
    let (events, actors): (i64, i64) =
        sqlx::query_as("select count(*), count(distinct metadata->'actor'->>'id') from events")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(events > 400, "{events} events");
    assert_eq!(actors, 1);
    let references: Vec<String> =
        sqlx::query_scalar("select reference from project order by reference").fetch_all(&db.pool).await.unwrap();
    assert_eq!(references.len(), 10);
    assert!(references.iter().all(|r| r.starts_with("110B-P-")), "{references:?}");
}

/// What `/metrics` of a served process says the read models cost so far, in statements.
async fn statements(client: &reqwest::Client, address: &str) -> u64 {
    metric_total(client, address, "carnet_read_model_statements_total").await
}

#[tokio::test]
async fn nested_lists_cost_a_fixed_number_of_statements_whatever_the_page_size() {
    let db = FreshDatabase::create().await;
    let dir = TempDir::new();
    let (_served, address, lines) = serve(dir.path(), &db.url);
    let token = token_for(&lines, "Équipe du lab");
    let client = reqwest::Client::new();
    let graphql = |query: String| {
        let (client, address, token) = (client.clone(), address.clone(), token.clone());
        async move {
            let res = post_served(&client, &address, &token, &json!({ "query": query })).await;
            assert!(res["errors"].is_null(), "{res}");
            res
        }
    };
    // 50 projects or more: the demo's ten and forty more, each with a holder
    let holder = graphql(
        "mutation { registerPerson(input: { profile: { givenName: \"Lou\", usualName: \"Martin\" } }) { person { id } } }"
            .into(),
    )
    .await["data"]["registerPerson"]["person"]["id"]
        .clone();
    for i in 0..40 {
        let submitted = graphql(format!(
            "mutation {{ submitProject(input: {{ title: \"Projet {i}\", problemStatement: \"Un besoin.\", \
             supportMode: PUNCTUAL, academieCodes: [\"24\"], submittedOn: \"2026-05-04\" }}) {{ project {{ id }} }} }}"
        ))
        .await;
        let id = &submitted["data"]["submitProject"]["project"]["id"];
        graphql(format!(
            "mutation {{ addProjectHolder(input: {{ projectId: {id}, personId: {holder}, role: \"porteur\" }}) {{ project {{ id }} }} }}"
        ))
        .await;
    }
    let page = |first: u32| {
        format!(
            "{{ projects(first: {first}, orderBy: SUBMITTED_AT_ASC) {{ totalCount edges {{ node {{ reference \
             holders {{ role person {{ displayName }} }} \
             sessions {{ reference facilitators {{ displayName }} }} }} }} }} }}"
        )
    };
    let mut costs = vec![];
    for first in [2, 50] {
        let before = statements(&client, &address).await;
        let res = graphql(page(first)).await;
        let edges = res["data"]["projects"]["edges"].as_array().unwrap().len();
        assert_eq!(edges, first as usize, "{res}");
        costs.push(statements(&client, &address).await - before);
    }
    let with_sessions = graphql(page(50)).await["data"]["projects"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !e["node"]["sessions"].as_array().unwrap().is_empty())
        .count();
    assert!(with_sessions > 0, "the demo links sessions to projects");
    // a page, its count, then one batch per kind (holders, sessions, facilitators); a loader may
    // split a batch in two when the machine is busy, never go per project (50+ statements)
    assert!(
        costs[1] <= costs[0] + 3 && costs[1] <= 9,
        "no statement per project: 2 projects cost {}, 50 cost {}",
        costs[0],
        costs[1]
    );
}

/// Every field of a project, for comparing what a list answers with what `project(id)` does.
const PROJECT_FIELDS: &str = "id reference title problemStatement summary status statusLabel phase phaseLabel \
    supportMode supportModeLabel progress visibility submittedOn acceptedOn academieCodes establishments themes \
    phases { phase label startedOn endedOn } holders { role affiliation person { displayName } } \
    sessions { reference } version updatedAt";

/// `projects` reads only the parts of each row that the caller selected, and counts only when
/// `totalCount` is selected, in the page's own statement — and whatever the selection looks like
/// (`edges { node }`, `nodes`, fragments, aliases), every field answers what `project(id)`
/// answers: a part the list left out is read whole when a field needs it after all. On both
/// backends, through the served binary.
#[tokio::test]
async fn a_list_reads_only_what_is_selected_and_answers_what_the_project_query_does() {
    let db = FreshDatabase::create().await;
    let dir = TempDir::new();
    let sqlite = format!("sqlite://{}/lists.db", dir.path().display());
    for url in [db.url.clone(), sqlite] {
        let (_served, address, lines) = serve(dir.path(), &url);
        let token = token_for(&lines, "Équipe du lab");
        let client = reqwest::Client::new();
        let graphql = async |query: String| {
            let res = post_served(&client, &address, &token, &json!({ "query": query })).await;
            assert!(res["errors"].is_null(), "{url}: {res}");
            res["data"].clone()
        };
        let one_by_one = graphql("{ projects(first: 50) { nodes { id } } }".into()).await;
        let ids: Vec<String> = one_by_one["projects"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 10, "the demo's projects");
        let mut expected = vec![];
        for id in &ids {
            expected
                .push(graphql(format!("{{ project(id: \"{id}\") {{ {PROJECT_FIELDS} }} }}")).await["project"].clone());
        }
        let shapes = [
            format!("{{ projects(first: 50) {{ edges {{ node {{ {PROJECT_FIELDS} }} }} }} }}"),
            format!("{{ projects(first: 50) {{ nodes {{ {PROJECT_FIELDS} }} }} }}"),
            format!("{{ projects(first: 50) {{ edges {{ node {{ ... on Project {{ {PROJECT_FIELDS} }} }} }} }} }}"),
            format!(
                "{{ projects(first: 50) {{ nodes {{ ...all }} }} }} fragment all on Project {{ {PROJECT_FIELDS} }}"
            ),
        ];
        for shape in &shapes {
            let data = graphql(shape.clone()).await;
            let listed = &data["projects"];
            let nodes: Vec<serde_json::Value> = match listed["nodes"].as_array() {
                Some(nodes) => nodes.clone(),
                None => listed["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect(),
            };
            assert_eq!(nodes, expected, "{url}: {shape}");
        }
        // a field asked under an alias of the list, or of the node, is still answered
        let aliased = graphql(
            "{ projects(first: 50) { a: edges { node { reference } } b: edges { node { t: themes p: problemStatement } } } }"
                .into(),
        )
        .await;
        for (edge, project) in aliased["projects"]["b"].as_array().unwrap().iter().zip(&expected) {
            assert_eq!(edge["node"]["t"], project["themes"], "{url}");
            assert_eq!(edge["node"]["p"], project["problemStatement"], "{url}");
        }

        // the page of the front ends' lists, with its count: one statement
        let before = statements(&client, &address).await;
        let page = graphql(
            "{ projects(first: 20) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id \
             reference title status progress academieCodes updatedAt } } } }"
                .into(),
        )
        .await;
        assert_eq!(page["projects"]["totalCount"], 10, "{url}");
        assert_eq!(statements(&client, &address).await - before, 1, "{url}: the page and its count together");
    }
}
