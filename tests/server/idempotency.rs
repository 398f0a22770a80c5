//! Writes that cannot be lost (issue 10, §4), on both backends: a `clientMutationId` reused for
//! another request is refused; writers that pin no version never see `CONFLICT`; a reference
//! number and its entity are one fact, even across a `kill -9`; integers beyond 32 bits are
//! refused by one rule; an unreachable database answers 503 `UNAVAILABLE` with `Retry-After`.

use crate::support::*;
use carnet_domain::person::Role;
use carnet_testkit::{Backend, EmptyDatabase};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One empty database of each backend, in turn: a fresh PostgreSQL database, a fresh SQLite file.
async fn both_backends() -> [EmptyDatabase; 2] {
    [EmptyDatabase::create(Backend::Postgres).await, EmptyDatabase::create(Backend::Sqlite).await]
}

/// The whole log as stored, `(event_type, payload)` in position order: read from the table
/// itself, as the log's readers on PostgreSQL wait for transactions still open anywhere on the
/// server (other tests').
async fn log(url: &str) -> Vec<Event> {
    let rows = if url.starts_with("postgres") {
        rows::<sqlx::Postgres>(url, "select event_type, payload::text from events order by global_position").await
    } else {
        rows::<sqlx::Sqlite>(url, "select event_type, payload from events order by global_position").await
    };
    rows.into_iter()
        .map(|(event_type, payload)| Event { event_type, payload: serde_json::from_str(&payload).unwrap() })
        .collect()
}

/// The rows of two texts that `sql` selects, on a pool of its own on the database at `url`.
async fn rows<DB: sqlx::Database>(url: &str, sql: &str) -> Vec<(String, String)>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'r> (String, String): sqlx::FromRow<'r, DB::Row>,
{
    let pool = sqlx::Pool::<DB>::connect(url).await.expect("connect");
    let rows = sqlx::query_as(sql).fetch_all(&pool).await.expect("read the log");
    pool.close().await;
    rows
}

struct Event {
    event_type: String,
    payload: Value,
}

/// A server with no rate limit (the tests send bursts on purpose).
async fn app_on(url: &str) -> TestApp {
    spawn_app_with(url, |c| c.rate_limit.per_minute = 0).await
}

/// The URL of `db`, a server on it ([`app_on`]) and a token of the lab team's.
async fn lab_team_on(db: &EmptyDatabase) -> (String, TestApp, String) {
    let url = db.url();
    let app = app_on(&url).await;
    let token = app.token(Role::LabTeam, &[]);
    (url, app, token)
}

fn code(res: &Value) -> (&str, &str) {
    let ext = &res["errors"][0]["extensions"];
    (ext["code"].as_str().unwrap_or("none"), ext["rule"].as_str().unwrap_or("none"))
}

const SUBMIT: &str = "mutation($input: SubmitProjectInput!) { submitProject(input: $input) { clientMutationId \
                      project { id reference version } } }";
const PROGRESS: &str = "mutation($input: UpdateProjectProgressInput!) { updateProjectProgress(input: $input) { \
                        clientMutationId project { id progress version } } }";
const DETAILS: &str = "mutation($input: UpdateProjectDetailsInput!) { updateProjectDetails(input: $input) { \
                       clientMutationId project { id title version } } }";
const REQUEST: &str = "mutation($input: RequestSessionInput!) { requestSession(input: $input) { session { id } } }";

fn submission(key: Option<&str>, title: &str) -> Value {
    json!({
        "clientMutationId": key,
        "title": title,
        "problemStatement": "Les élèves décrochent en mathématiques.",
        "supportMode": "INCUBATION",
        "academieCodes": ["24"],
        "submittedOn": "2026-09-14",
    })
}

#[tokio::test]
async fn a_client_mutation_id_reused_for_another_request_is_refused_and_writes_nothing() {
    for db in both_backends().await {
        let (url, app, token) = lab_team_on(&db).await;
        let first = app.graphql_as(Some(&token), SUBMIT, json!({ "input": submission(Some("k1"), "Maths") })).await;
        let project = first["data"]["submitProject"]["project"].clone();
        assert_eq!(project["reference"], "110B-P-2026-001", "{url}: {first}");
        let written = log(&url).await.len();

        // the same request, literally or through variables, keys in another order: the first result
        let again = app.graphql_as(Some(&token), SUBMIT, json!({ "input": submission(Some("k1"), "Maths") })).await;
        assert_eq!(again["data"], first["data"], "{url}");
        let literal = "mutation { submitProject(input: { submittedOn: \"2026-09-14\", academieCodes: [\"24\"], \
                       supportMode: INCUBATION, problemStatement: \"Les élèves décrochent en mathématiques.\", \
                       title: \"Maths\", clientMutationId: \"k1\", themes: [] }) { project { id reference } } }";
        let same = app.graphql_as(Some(&token), literal, json!({})).await;
        assert_eq!(same["data"]["submitProject"]["project"]["id"], project["id"], "{url}: {same}");
        assert_eq!(log(&url).await.len(), written, "{url}: a retry writes nothing");

        // the same key for another input, another mutation: refused, nothing written
        let other_input =
            app.graphql_as(Some(&token), SUBMIT, json!({ "input": submission(Some("k1"), "Autre") })).await;
        assert_eq!(code(&other_input), ("BAD_USER_INPUT", "clientMutationId.reused"), "{url}: {other_input}");
        assert!(other_input["errors"][0]["message"].as_str().unwrap().contains("clientMutationId"));
        let mut other_year = submission(Some("k1"), "Maths");
        other_year["submittedOn"] = json!("2027-01-04");
        let res = app.graphql_as(Some(&token), SUBMIT, json!({ "input": other_year })).await;
        assert_eq!(code(&res), ("BAD_USER_INPUT", "clientMutationId.reused"), "{url}: another year's series: {res}");
        let session = json!({ "input": { "clientMutationId": "k1", "title": "Atelier", "format": "IDEATION",
            "objective": "Comment ?", "requester": { "organisation": "DNE", "kind": "DIRECTION" } } });
        let other_mutation = app.graphql_as(Some(&token), REQUEST, session).await;
        assert_eq!(code(&other_mutation), ("BAD_USER_INPUT", "clientMutationId.reused"), "{url}: {other_mutation}");
        assert_eq!(log(&url).await.len(), written, "{url}: nothing written by a reused key");

        // on an existing entity: another value, another entity
        let second = app.graphql_as(Some(&token), SUBMIT, json!({ "input": submission(None, "Second") })).await;
        let second_id = second["data"]["submitProject"]["project"]["id"].clone();
        let details = |key: &str, id: &Value, title: &str| {
            json!({ "input": { "clientMutationId": key, "projectId": id, "title": title,
                "problemStatement": "Le même problème." } })
        };
        let done = app.graphql_as(Some(&token), DETAILS, details("k2", &project["id"], "Nouveau titre")).await;
        assert_eq!(done["data"]["updateProjectDetails"]["project"]["title"], "Nouveau titre", "{url}: {done}");
        let written = log(&url).await.len();
        let retry = app.graphql_as(Some(&token), DETAILS, details("k2", &project["id"], "Nouveau titre")).await;
        assert_eq!(retry["data"], done["data"], "{url}");
        for (what, request) in [
            ("another value", details("k2", &project["id"], "Encore un autre")),
            ("another entity", details("k2", &second_id, "Nouveau titre")),
        ] {
            let res = app.graphql_as(Some(&token), DETAILS, request).await;
            assert_eq!(code(&res), ("BAD_USER_INPUT", "clientMutationId.reused"), "{url}: {what}: {res}");
        }
        assert_eq!(log(&url).await.len(), written, "{url}: nothing written");
        let read = app
            .graphql_as(Some(&token), "query($id: ID!) { project(id: $id) { title } }", json!({ "id": second_id }))
            .await;
        assert_eq!(read["data"]["project"]["title"], "Second", "{url}: the other project was not changed: {read}");
        // keys are the caller's: another caller's same key is another command
        let other_caller = carnet_api::auth::TokenVerifier::load_or_create(&app.secret).unwrap().mint(
            "someone-else",
            &[Role::LabTeam],
            &[],
            1,
        );
        let theirs = app.graphql_as(Some(&other_caller), DETAILS, details("k2", &second_id, "Le leur")).await;
        assert_eq!(theirs["data"]["updateProjectDetails"]["project"]["title"], "Le leur", "{url}: {theirs}");
    }
}

#[tokio::test]
async fn eight_concurrent_writers_without_expected_version_never_conflict() {
    const WRITERS: usize = 8;
    const EACH: usize = 15;
    for db in both_backends().await {
        let url = db.url();
        let app = std::sync::Arc::new(app_on(&url).await);
        let token = app.token(Role::LabTeam, &[]);
        let res = app.graphql_as(Some(&token), SUBMIT, json!({ "input": submission(None, "Concurrence") })).await;
        let id = res["data"]["submitProject"]["project"]["id"].clone();
        let before = log(&url).await.len();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(WRITERS));
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (app, token, id, barrier) = (app.clone(), token.clone(), id.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let mut codes = vec![];
                    for i in 0..EACH {
                        let input = json!({ "projectId": id, "title": format!("Titre {w}-{i}"),
                            "problemStatement": "Toujours le même problème." });
                        let res = app.mutation(&token, "updateProjectDetails", input, "project { version }").await;
                        codes.push(res["errors"][0]["extensions"]["code"].as_str().map(str::to_owned));
                    }
                    codes
                })
            })
            .collect();
        let mut failures = vec![];
        for t in tasks {
            failures.extend(t.await.unwrap().into_iter().flatten());
        }
        assert!(failures.is_empty(), "{url}: {} of {} failed: {failures:?}", failures.len(), WRITERS * EACH);
        let after = log(&url).await;
        assert_eq!(after.len() - before, WRITERS * EACH, "{url}: every change applied, once");
        let updates = after.iter().filter(|e| e.event_type == "ProjectDetailsUpdated").count();
        assert_eq!(updates, WRITERS * EACH, "{url}");
        let read =
            app.graphql_as(Some(&token), "query($id: ID!) { project(id: $id) { version } }", json!({ "id": id })).await;
        assert_eq!(read["data"]["project"]["version"], 1 + (WRITERS * EACH) as u64, "{url}");

        // with expectedVersion, a stale version is still the client's CONFLICT
        let stale = json!({ "input": { "projectId": id, "expectedVersion": 3, "progress": 5 } });
        let res = app.graphql_as(Some(&token), PROGRESS, stale).await;
        assert_eq!(code(&res).0, "CONFLICT", "{url}: {res}");
        assert_eq!(res["errors"][0]["extensions"]["currentVersion"], 1 + (WRITERS * EACH) as u64, "{url}");
    }
}

/// Checks that every `ReferenceAllocated` of the log gives a distinct number, 1 to n without a
/// hole, to an entity created with that very reference; returns n.
fn numbering_is_whole(events: &[Event]) -> usize {
    let created: BTreeMap<String, String> = events
        .iter()
        .filter(|e| e.event_type == "ProjectSubmitted")
        .map(|e| (e.payload["id"].as_str().unwrap().to_owned(), e.payload["reference"].as_str().unwrap().to_owned()))
        .collect();
    let mut numbers = vec![];
    for e in events.iter().filter(|e| e.event_type == "ReferenceAllocated") {
        let to = e.payload["to"].as_str().unwrap();
        let reference = e.payload["reference"].as_str().unwrap();
        assert_eq!(created.get(to).map(String::as_str), Some(reference), "number {reference} points to no entity");
        numbers.push(e.payload["number"].as_u64().unwrap());
    }
    numbers.sort();
    assert_eq!(numbers, (1..=numbers.len() as u64).collect::<Vec<_>>(), "a hole or a duplicate");
    assert_eq!(created.len(), numbers.len(), "an entity without its number");
    numbers.len()
}

#[tokio::test]
async fn a_failure_between_the_number_and_the_project_leaves_neither() {
    for db in both_backends().await {
        let (url, app, token) = lab_team_on(&db).await;
        // a project that already bears the next number (imported, say): the read model refuses
        // the creation *after* the number was appended, inside the same transaction
        seed_project(&url, "110B-P-2026-001", "01", "2026-01-10").await;
        let before = log(&url).await;
        let res = app.graphql_as(Some(&token), SUBMIT, json!({ "input": submission(Some("x"), "Refusé") })).await;
        assert_eq!(code(&res), ("BAD_USER_INPUT", "project.reference_taken"), "{url}: {res}");
        let after = log(&url).await;
        assert_eq!(after.len(), before.len(), "{url}: neither the number nor the project");
        assert!(after.iter().all(|e| e.event_type != "ReferenceAllocated"), "{url}");
    }
}

/// `carnet serve` as an operator runs it, in `dir` on `url`; returns the process and its address.
fn serve(dir: &std::path::Path, url: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_carnet"))
        .arg("serve")
        .env("CARNET_DATABASE_URL", url)
        .env("CARNET_PORT", "0")
        .env("CARNET_DEMO_DATA", "false")
        .env("CARNET_RATE_LIMIT", "{ per_minute = 0, burst = 1 }")
        .env("RUST_LOG", "error")
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start carnet serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let address = loop {
        let line = lines.next().expect("carnet serve printed its address").expect("a line");
        if let Some(rest) = line.strip_prefix("Carnet écoute sur ") {
            break rest.split_whitespace().next().unwrap().trim_end_matches('/').to_owned();
        }
    };
    // keep reading what it prints, so that it never blocks on a full pipe
    std::thread::spawn(move || lines.for_each(drop));
    (child, address)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_9_mid_burst_of_submissions_leaves_no_hole_in_the_numbering() {
    for db in both_backends().await {
        let url = db.url();
        let dir = TempDir::new();
        let (mut child, address) = serve(dir.path(), &url);
        let token = carnet_api::auth::TokenVerifier::load_or_create(&dir.path().join("data/jwt-secret"))
            .expect("the server's secret")
            .mint("burst", &[Role::LabTeam], &[], 1);
        let client = reqwest::Client::new();
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|w| {
                let (client, token, address, sent) = (client.clone(), token.clone(), address.clone(), sent.clone());
                tokio::spawn(async move {
                    for i in 0.. {
                        let body = json!({ "query": SUBMIT, "variables": { "input": submission(None, &format!("Rafale {w}-{i}")) } });
                        let res = client
                            .post(format!("{address}/graphql"))
                            .bearer_auth(&token)
                            .json(&body)
                            .send()
                            .await;
                        if res.is_err() {
                            break; // the server is gone
                        }
                        sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                })
            })
            .collect();
        // kill it once submissions are flowing, in the middle of many in flight
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while sent.load(std::sync::atomic::Ordering::Relaxed) < 40 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        child.kill().expect("kill -9"); // SIGKILL: no shutdown, no cleanup
        child.wait().expect("reaped");
        for t in tasks {
            t.await.unwrap();
        }
        let taken = numbering_is_whole(&log(&url).await);
        assert!(taken >= 40, "{url}: the burst was under way ({taken} numbers)");

        // the server starts again, and the next number follows
        let (mut child, address) = serve(dir.path(), &url);
        let body = json!({ "query": SUBMIT, "variables": { "input": submission(None, "Après") } });
        let res = post_served(&client, &address, &token, &body).await;
        let reference = res["data"]["submitProject"]["project"]["reference"].as_str().unwrap_or_default().to_owned();
        assert_eq!(reference, format!("110B-P-2026-{:03}", taken + 1), "{url}: {res}");
        assert_eq!(numbering_is_whole(&log(&url).await), taken + 1);
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// Every `Int` of the schema's inputs, wherever it is (a root field's argument, an input object's
/// field, nested): found by introspection, each sent 2^31, each refused with `int.out_of_range`.
#[tokio::test]
async fn every_integer_input_beyond_32_bits_is_refused_by_one_rule() {
    let db = FreshDatabase::create().await;
    let app = app_on(&db.url).await;
    let token = app.token(Role::LabTeam, &[]);
    let schema = app
        .ask(
            &token,
            "{ __schema { queryType { name } mutationType { name } subscriptionType { name }
               types { name kind fields { name args { name type { ...T } } } inputFields { name type { ...T } } } } }
             fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }",
        )
        .await;
    let types = schema["data"]["__schema"]["types"].as_array().expect("introspection");
    let named = |mut t: &Value| {
        while t["name"].is_null() {
            t = &t["ofType"];
        }
        t["name"].as_str().unwrap().to_owned()
    };
    let inputs: BTreeMap<String, Vec<(String, String)>> = types
        .iter()
        .filter(|t| t["kind"] == "INPUT_OBJECT")
        .map(|t| {
            let fields = t["inputFields"].as_array().unwrap();
            (
                t["name"].as_str().unwrap().to_owned(),
                fields.iter().map(|f| (f["name"].as_str().unwrap().to_owned(), named(&f["type"]))).collect(),
            )
        })
        .collect();
    // every path from an argument of a root field to an Int, as a literal holding 2^31 there
    fn paths(ty: &str, inputs: &BTreeMap<String, Vec<(String, String)>>, depth: usize) -> Vec<String> {
        if ty == "Int" {
            return vec!["2147483648".into()];
        }
        let Some(fields) = inputs.get(ty) else { return vec![] };
        if depth > 4 {
            return vec![];
        }
        fields
            .iter()
            .flat_map(|(name, t)| paths(t, inputs, depth + 1).into_iter().map(move |v| format!("{{ {name}: {v} }}")))
            .collect()
    }
    let roots = &schema["data"]["__schema"];
    let mut cases = vec![];
    for (operation, root) in
        [("query", "queryType"), ("mutation", "mutationType"), ("subscription", "subscriptionType")]
    {
        let root = roots[root]["name"].as_str().unwrap();
        let fields = types.iter().find(|t| t["name"] == root).unwrap()["fields"].as_array().unwrap();
        for field in fields {
            for arg in field["args"].as_array().unwrap() {
                for literal in paths(&named(&arg["type"]), &inputs, 0) {
                    cases.push(format!(
                        "{operation} {{ {}({}: {literal}) {{ __typename }} }}",
                        field["name"].as_str().unwrap(),
                        arg["name"].as_str().unwrap()
                    ));
                }
            }
        }
    }
    let int_fields: usize = inputs.values().flatten().filter(|(_, t)| t == "Int").count();
    assert!(cases.len() >= int_fields && int_fields >= 20, "{} cases for {int_fields} Int input fields", cases.len());
    // and through a variable
    cases.push(
        "mutation($n: Int) { updateProjectProgress(input: { projectId: \"x\", expectedVersion: $n, progress: 1 }) \
         { __typename } }"
            .to_owned(),
    );
    for case in &cases {
        let res = app.graphql_as(Some(&token), case, json!({ "n": 2147483648u64 })).await;
        assert_eq!(code(&res), ("BAD_USER_INPUT", "int.out_of_range"), "{case}: {res}");
        let lower = case.replace("2147483648", "-2147483649");
        let res = app.graphql_as(Some(&token), &lower, json!({ "n": -2147483649i64 })).await;
        assert_eq!(code(&res).1, "int.out_of_range", "{lower}: {res}");
        let fits = case.replace("2147483648", "2147483647");
        let res = app.graphql_as(Some(&token), &fits, json!({ "n": 2147483647 })).await;
        assert_ne!(code(&res).1, "int.out_of_range", "{fits}: {res}");
    }
}

/// Stored integers, through real mutations on both backends: 2^31 is refused by the same rule
/// and writes nothing; 2^31 - 1 is what the storage holds.
#[tokio::test]
async fn integers_beyond_the_storage_are_refused_alike_on_both_backends() {
    for db in both_backends().await {
        let (url, app, token) = lab_team_on(&db).await;
        let session = json!({ "input": { "title": "Atelier", "format": "IDEATION", "objective": "Comment ?",
            "requester": { "organisation": "DNE", "kind": "DIRECTION" }, "requestedOn": "2026-03-02" } });
        let res = app.graphql_as(Some(&token), REQUEST, session).await;
        let id = res["data"]["requestSession"]["session"]["id"].clone();
        let run = async |name: &str, input: Value| {
            let input_type = format!("{}{}Input", name[..1].to_uppercase(), &name[1..]);
            let doc = format!(
                "mutation($input: {input_type}!) {{ {name}(input: $input) {{ session {{ capacity version attendance {{ count }} }} }} }}"
            );
            app.graphql_as(Some(&token), &doc, json!({ "input": input })).await
        };
        run("startSessionScoping", json!({ "sessionId": id })).await;
        let schedule = |capacity: i64| {
            json!({ "sessionId": id, "startsAt": "2026-04-01T08:00:00Z",
            "endsAt": "2026-04-01T16:00:00Z", "location": "110 bis", "mode": "IN_PERSON", "capacity": capacity })
        };
        let written = log(&url).await.len();
        for (name, input) in [
            ("scheduleSession", schedule(2_147_483_648)),
            (
                "scheduleSession",
                json!({ "sessionId": id, "expectedVersion": 2_147_483_648i64, "startsAt": "2026-04-01T08:00:00Z",
                "endsAt": "2026-04-01T16:00:00Z", "location": "110 bis", "mode": "IN_PERSON", "capacity": 10 }),
            ),
        ] {
            let res = run(name, input).await;
            assert_eq!(code(&res), ("BAD_USER_INPUT", "int.out_of_range"), "{url}: {name}: {res}");
        }
        assert_eq!(log(&url).await.len(), written, "{url}: nothing written");
        let res = run("scheduleSession", schedule(i32::MAX as i64)).await;
        assert_eq!(res["data"]["scheduleSession"]["session"]["capacity"], i32::MAX, "{url}: {res}");
        run("holdSession", json!({ "sessionId": id })).await;
        let attendance = |count: i64, by: i64| {
            json!({ "sessionId": id, "count": count,
            "organisations": ["Collège"], "academieCodes": ["10"], "byProfile": [{ "profile": "enseignants", "count": by }] })
        };
        let written = log(&url).await.len();
        for input in [attendance(2_147_483_648, 1), attendance(1, 2_147_483_648), attendance(4_294_967_296, 1)] {
            let res = run("recordAttendance", input).await;
            assert_eq!(code(&res), ("BAD_USER_INPUT", "int.out_of_range"), "{url}: {res}");
        }
        assert_eq!(log(&url).await.len(), written, "{url}: nothing written");
        let res = run("recordAttendance", attendance(1_000, 10)).await;
        assert_eq!(res["data"]["recordAttendance"]["session"]["attendance"]["count"], 1_000, "{url}: {res}");
        let visitors = app.ask(&token, "{ indicators { sessions { visitors } } }").await;
        assert_eq!(visitors["data"]["indicators"]["sessions"]["visitors"], 1_000, "{url}: {visitors}");
    }
}

async fn assert_unavailable(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), 503, "{what}");
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(retry_after.as_deref(), Some("5"), "{what}");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{what}: {body}");
    assert_eq!(body["errors"][0]["extensions"]["retryAfterSeconds"], 5, "{what}: {body}");
    assert!(body["errors"][0]["extensions"]["requestId"].is_string(), "{what}: {body}");
}

#[tokio::test]
async fn a_postgres_outage_answers_503_unavailable_then_recovers() {
    let db = FreshDatabase::create().await;
    let app = app_on(&db.url).await;
    let token = app.token(Role::LabTeam, &[]);
    let name: String = sqlx::query_scalar("select current_database()").fetch_one(&db.pool).await.unwrap();
    let admin_url =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = sqlx::PgPool::connect(&admin_url).await.expect("the maintenance database");
    let query = "{ projects(first: 5) { totalCount } }";
    let mutation = "mutation { submitProject(input: { title: \"Panne\", problemStatement: \"La base est tombée.\", \
                    supportMode: PUNCTUAL, academieCodes: [\"24\"] }) { project { reference } } }";
    assert_eq!(app.post_query(Some(&token), query, &[]).await.status(), 200);

    // the database refuses connections and every open one is cut
    sqlx::query(&format!("alter database \"{name}\" allow_connections false")).execute(&admin).await.unwrap();
    sqlx::query(
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
    )
    .bind(&name)
    .execute(&admin)
    .await
    .unwrap();
    assert_unavailable(app.post_query(Some(&token), query, &[]).await, "a query").await;
    assert_unavailable(app.post_query(Some(&token), mutation, &[]).await, "a mutation").await;
    let get = app
        .client
        .get(format!("{}/graphql?query=%7Bprojects(first%3A5)%7BtotalCount%7D%7D", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_unavailable(get, "a query over GET").await;

    // back: the next requests are served, and the write lands once
    sqlx::query(&format!("alter database \"{name}\" allow_connections true")).execute(&admin).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let answer = loop {
        let res = app.post_query(Some(&token), mutation, &[]).await;
        if res.status() == 200 || std::time::Instant::now() > deadline {
            break res;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(answer.status(), 200, "recovered");
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["data"]["submitProject"]["project"]["reference"], "110B-P-2026-001", "{body}");
    let res = app.post_query(Some(&token), query, &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["data"]["projects"]["totalCount"], 1);
}

/// SQLite has no server to lose: the outage it can have is a file another process holds locked.
/// Reads go on (WAL); a write waits out the busy timeout (10 s), then answers 503 `UNAVAILABLE`
/// with nothing written, and succeeds once the lock is gone.
#[tokio::test]
async fn a_locked_sqlite_file_answers_503_unavailable_to_writes_then_recovers() {
    use sqlx::Connection;
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.path().join("carnet.db").display());
    let app = app_on(&url).await;
    let token = app.token(Role::LabTeam, &[]);
    let mutation = "mutation { submitProject(input: { title: \"Verrou\", problemStatement: \"Le fichier est pris.\", \
                    supportMode: PUNCTUAL, academieCodes: [\"24\"] }) { project { reference } } }";
    let mut other = sqlx::SqliteConnection::connect(&url).await.expect("another process's connection");
    sqlx::query("begin immediate").execute(&mut other).await.expect("take the write lock");
    assert_unavailable(app.post_query(Some(&token), mutation, &[]).await, "a write on a locked file").await;
    let read = app.post_query(Some(&token), "{ projects(first: 5) { totalCount } }", &[]).await;
    assert_eq!(read.status(), 200, "reads go on");
    sqlx::query("rollback").execute(&mut other).await.unwrap();
    let res = app.post_query(Some(&token), mutation, &[]).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["submitProject"]["project"]["reference"], "110B-P-2026-001", "{body}");
}
