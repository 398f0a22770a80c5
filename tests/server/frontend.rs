//! A front-end developer's first hour (issue 10, §6), as they would live it: GraphiQL in a real
//! headless Chromium, the standard introspection query that GraphiQL and codegen send, the
//! GraphQL over HTTP audit of `graphql-http`, null propagation at the root, and the request id
//! that leads from an error answer to its log line and its access-log row.
//!
//! The browser and the audit need Debian's `chromium` and the npm packages of `tools/frontend/`:
//! `tools/frontend/install.sh` installs them (`.ci/run` runs it; the tests run its npm part,
//! quick once done, and fail with the way to install what is missing: never skipped).

use crate::support::*;
use carnet_domain::person::Role;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// graphql-js 16's `getIntrospectionQuery({ descriptions, specifiedByUrl, directiveIsRepeatable,
/// schemaDescription, inputValueDeprecation })`, as GraphiQL, codegen and Apollo's tools send it.
const STANDARD_INTROSPECTION: &str = include_str!("../fixtures/introspection-graphql-js-16.graphql");

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The folder of the npm packages, installed (`install.sh --npm-only`) if not yet.
fn frontend_tools() -> PathBuf {
    let dest = workspace().join("target/frontend-tools");
    let script = workspace().join("tools/frontend/install.sh");
    let out = Command::new("bash").arg(&script).arg("--npm-only").arg(&dest).output().expect("run install.sh");
    assert!(
        out.status.success(),
        "cannot install the front-end test packages (node and npm are needed; run {}): {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    dest
}

/// Runs `tools/frontend/<script>` with node; its last line of output, as JSON.
fn node(script: &str, args: &[&str]) -> Value {
    let tools = frontend_tools();
    let out = Command::new("node")
        .arg(workspace().join("tools/frontend").join(script))
        .args(args)
        .env("CARNET_FRONTEND_TOOLS", &tools)
        .output()
        .expect("run node (install Node.js: apt-get install -y nodejs npm)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|_| panic!("{script} printed no JSON summary:\n{stdout}"))
}

/// Debian's chromium, or a failure that says how to install it. On a fresh machine, as root,
/// the whole `install.sh` runs first (apt-get), so that `cargo test --workspace` alone passes.
fn chromium() -> PathBuf {
    let path = PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    if !path.exists() && std::env::var_os("CHROMIUM").is_none() {
        let script = workspace().join("tools/frontend/install.sh");
        let dest = workspace().join("target/frontend-tools");
        let out = Command::new("bash").arg(&script).arg(&dest).output().expect("run install.sh");
        eprintln!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    assert!(
        path.exists(),
        "{} is missing: the GraphiQL test needs Debian's chromium (run `bash tools/frontend/install.sh` as \
         root, or `apt-get install -y chromium`)",
        path.display()
    );
    path
}

async fn post_json(app: &TestApp, accept: Option<&str>, token: Option<&str>, body: &str) -> (u16, String, Value) {
    let mut request = app.post_graphql().header("content-type", "application/json").body(body.to_owned());
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let res = request.send().await.expect("an answer");
    let status = res.status().as_u16();
    let content_type = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let text = res.text().await.expect("a body");
    (status, content_type, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")))
}

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

// ----- introspection -----

#[tokio::test]
async fn the_standard_introspection_query_loads_the_schema_and_deep_queries_are_still_refused() {
    let (db, app) = fresh_app().await;
    let body = json!({ "query": STANDARD_INTROSPECTION, "operationName": "IntrospectionQuery" }).to_string();
    let (status, _, res) = post_json(&app, Some(GRAPHQL_RESPONSE), None, &body).await;
    assert_eq!(status, 200, "{res}");
    assert!(res.get("errors").is_none(), "{res}");
    let schema = &res["data"]["__schema"];
    assert_eq!(schema["queryType"]["name"], "Query");
    let types = schema["types"].as_array().expect("types");
    let named = |name: &str| types.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("{name} missing"));
    assert!(named("Query")["fields"].as_array().is_some_and(|f| f.iter().any(|f| f["name"] == "projects")));
    assert!(named("DateTime").get("specifiedByURL").is_some(), "specifiedByURL asked and answered");
    assert!(schema["directives"].as_array().is_some_and(|d| d.iter().all(|d| d["isRepeatable"].is_boolean())));
    // a deep query of the API's own types is refused all the same, before anything runs
    let token = app.token(Role::LabTeam, &[]);
    let levels = ["projects", "edges", "node"].into_iter().chain(["sessions", "project"].repeat(5)).collect::<Vec<_>>();
    let deep = format!("{{ {} {{ id }} {} }}", levels.join(" { "), "}".repeat(levels.len() - 1));
    let (status, _, res) =
        post_json(&app, Some(GRAPHQL_RESPONSE), Some(&token), &json!({ "query": deep }).to_string()).await;
    assert_eq!(status, 400, "{res}");
    assert!(res.get("data").is_none(), "never ran: {res}");
    assert_eq!(res["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{res}");
    assert!(res["errors"][0]["message"].as_str().unwrap_or_default().contains("trop profonde"), "{res}");
    // and introspection that fans out past the standard queries' lists
    let fan_out = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
    let (status, _, res) =
        post_json(&app, Some(GRAPHQL_RESPONSE), None, &json!({ "query": fan_out }).to_string()).await;
    assert_eq!(status, 400, "{res}");

    let production = spawn_app_with(&db.url, |c| c.profile = carnet_api::config::Profile::Production).await;
    let (_, _, res) = post_json(&production, None, None, &body).await;
    assert!(res["data"]["__schema"].is_null(), "introspection is off in production: {res}");
}

#[test]
fn the_fixture_is_graphql_js_16s_own_introspection_query() {
    let tools = frontend_tools();
    let out = Command::new("node")
        .arg("-e")
        .arg(
            "const g = require('module').createRequire(process.argv[1] + '/package.json')('graphql'); \
             if (!g.version.startsWith('16.')) throw new Error('graphql ' + g.version); \
             process.stdout.write(g.getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, \
             directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true }));",
        )
        .arg(&tools)
        .output()
        .expect("run node");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), STANDARD_INTROSPECTION, "regenerate the fixture from graphql 16");
}

// ----- `carnet serve` as a developer starts it -----

/// `carnet serve` in development on a fresh SQLite under `dir`, killed when dropped; its
/// standard error is collected (JSON log lines).
struct Served {
    child: Child,
    address: String,
    printed: Vec<String>,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    fn start(dir: &Path, env: &[(&str, &str)]) -> Self {
        let development = [("CARNET_LOG_FORMAT", "json"), ("RUST_LOG", "info,sqlx=warn")];
        let mut child = crate::demo::serve_command(dir, "sqlite://data/carnet.db", &development)
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start carnet serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("log").push(line);
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (address, printed) = crate::demo::printed_up_to_the_tokens(&mut lines);
        // keep reading so that the server never blocks on a full pipe
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, address, printed, log }
    }

    fn token(&self, label: &str) -> String {
        crate::demo::token_for(&self.printed, label)
    }

    /// The log line with `request_id` whose message is `message`, within 5 s.
    async fn log_line(&self, request_id: &str, message: &str) -> Value {
        for _ in 0..100 {
            let found = self.log.lock().expect("log").iter().find_map(|line| {
                let json: Value = serde_json::from_str(line).ok()?;
                let fields = &json["fields"];
                (fields["message"] == message && fields["request_id"] == request_id).then(|| fields.clone())
            });
            if let Some(fields) = found {
                return fields;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no log line « {message} » for request {request_id}: {:#?}", self.log.lock().expect("log"));
    }
}

fn subject_of(token: &str) -> String {
    use base64::Engine;
    let claims = token.split('.').nth(1).expect("a JWT");
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).expect("base64"))
            .expect("JSON claims");
    claims["sub"].as_str().expect("a subject").to_owned()
}

#[test]
fn graphiql_in_a_headless_chromium_loads_the_schema_offline_and_runs_a_query() {
    chromium();
    let dir = TempDir::new();
    let served = Served::start(dir.path(), &[]);
    let lab_team = served.token("Équipe du lab");
    let auditor = served.token("Auditeur");
    let started = std::time::Instant::now();
    let seen = node("graphiql.cjs", &[&format!("{}/", served.address), &auditor]);
    eprintln!("GraphiQL driven in {:?}", started.elapsed());
    assert_eq!(seen["offOrigin"], json!([]), "the page loads nothing from elsewhere: {seen}");
    assert_eq!(seen["failed"], json!([]), "{seen}");
    let docs = seen["docs"].as_str().unwrap_or_default();
    assert!(docs.contains("Query") && docs.contains("Mutation"), "the Docs panel lists the root types: {docs}");
    // development: the printed LAB_TEAM token, pre-filled
    let prefilled = seen["prefilledHeaders"].as_str().unwrap_or_default();
    assert!(prefilled.contains(&format!("Bearer {lab_team}")), "{prefilled}");
    // the token typed in the headers tab is the one the query ran with
    let result = &seen["result"];
    assert!(result.get("errors").is_none(), "{seen}");
    assert_eq!(result["data"]["me"]["sub"], "demo-auditor", "{seen}");
    assert_eq!(result["data"]["me"]["roles"][0]["code"], "AUDITOR", "{seen}");
    assert!(result["data"]["academies"].as_array().is_some_and(|a| a.len() == 34), "{seen}");
    // and GraphiQL keeps it across a reload
    let reloaded = seen["headersAfterReload"].as_str().unwrap_or_default();
    assert!(reloaded.contains(&auditor) && !reloaded.contains(&lab_team), "{reloaded}");
}

#[tokio::test]
async fn demo_tokens_have_one_subject_per_role_and_graphiql_has_none_in_production() {
    let dir = TempDir::new();
    let served = Served::start(dir.path(), &[]);
    let labels = ["Équipe du lab", "Académie", "Auditeur", "Lecteur", "Administrateur"];
    let subjects: std::collections::BTreeSet<String> = labels.iter().map(|l| subject_of(&served.token(l))).collect();
    assert_eq!(subjects.len(), labels.len(), "{subjects:?}");
    assert!(subjects.contains("demo-lab-team"), "{subjects:?}");
    let page = reqwest::get(format!("{}/", served.address)).await.expect("the page").text().await.expect("a body");
    assert!(page.contains(&format!("Bearer {}", served.token("Équipe du lab"))), "the printed token, pre-filled");
    assert!(page.contains("\"persistHeaders\":true"), "{page}");

    // production with GraphiQL turned on: no token in the page, no header kept in the browser
    let db = FreshDatabase::create().await;
    let production = spawn_app_with(&db.url, |c| {
        c.profile = carnet_api::config::Profile::Production;
        c.graphiql = Some(true);
    })
    .await;
    let page = production.get("/").await.text().await.expect("a body");
    assert!(page.contains("graphiql.min.js"), "GraphiQL is on: {page}");
    assert!(!page.contains("Bearer") && !page.contains("persistHeaders"), "{page}");
}

// ----- GraphQL over HTTP -----

#[tokio::test]
async fn the_graphql_over_http_audit_passes_without_a_warning() {
    let db = FreshDatabase::create().await;
    let app = spawn_app_with(&db.url, |c| c.rate_limit.per_minute = 0).await;
    let url = format!("{}/graphql", app.address);
    let counts = tokio::task::spawn_blocking(move || node("audit.cjs", &[&url])).await.expect("the audit");
    assert_eq!(counts["error"], 0, "{counts}");
    assert_eq!(counts["warn"], 0, "{counts}");
    assert_eq!(counts["notice"], 0, "{counts}");
    assert!(counts["ok"].as_u64().is_some_and(|ok| ok >= 58), "{counts}");
}

#[tokio::test]
async fn media_types_statuses_and_the_data_key() {
    let (_db, app) = fresh_app().await;
    let parse_error = json!({ "query": "{" }).to_string();
    // under application/graphql-response+json: 400, no data
    let (status, content_type, res) = post_json(&app, Some(GRAPHQL_RESPONSE), None, &parse_error).await;
    assert_eq!((status, content_type.starts_with(GRAPHQL_RESPONSE)), (400, true), "{content_type} {res}");
    assert!(res.get("data").is_none() && res["errors"][0]["extensions"]["requestId"].is_string(), "{res}");
    // under application/json (and */*, and no Accept): 200, still no data, since nothing ran
    for accept in [Some("application/json"), Some("*/*"), None] {
        let (status, content_type, res) = post_json(&app, accept, None, &parse_error).await;
        assert_eq!((status, content_type.starts_with("application/json")), (200, true), "{accept:?}: {res}");
        assert!(res.get("data").is_none(), "{res}");
    }
    // a required variable without a value: a request error, before anything runs
    let missing = json!({ "query": "query($id: ID!) { academies { code } node(id: $id) { id } }" }).to_string();
    let (status, _, res) = post_json(&app, Some(GRAPHQL_RESPONSE), None, &missing).await;
    assert_eq!(status, 400, "{res}");
    assert!(res.get("data").is_none(), "academies did not run either: {res}");
    assert_eq!(res["errors"][0]["extensions"]["rule"], "variables.required", "{res}");
    let (status, _, res) = post_json(&app, Some("application/json"), None, &missing).await;
    assert_eq!((status, res.get("data")), (200, None), "{res}");
    // a request that ran: 200 under both, with its data
    let ok = json!({ "query": "{ academies { code } }" }).to_string();
    let (status, content_type, res) = post_json(&app, Some(GRAPHQL_RESPONSE), None, &ok).await;
    assert_eq!((status, content_type.starts_with(GRAPHQL_RESPONSE)), (200, true), "{res}");
    assert!(res["data"]["academies"].is_array(), "{res}");
    // bodies that are no GraphQL request: 400 whatever the Accept
    for body in [
        "[]",
        "[{\"query\":\"{ academies { code } }\"}]",
        "{\"query\": 1}",
        "{\"variables\": \"x\", \"query\": \"{ academies { code } }\"}",
        "",
        "null",
    ] {
        for accept in [Some(GRAPHQL_RESPONSE), None] {
            let (status, _, res) = post_json(&app, accept, None, body).await;
            assert_eq!(status, 400, "{body:?}: {res}");
            assert!(res.get("data").is_none(), "{res}");
        }
    }
}

// ----- null propagation at the root -----

#[tokio::test]
async fn a_failing_nullable_root_field_is_null_and_a_failing_non_null_one_nulls_data() {
    let (_db, app, token) = fresh_app_as(Role::LabTeam).await;
    let missing = "UHJvamVjdDowMTkwMDAwMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDA"; // no such project
    for (lookup, query) in [
        ("project", format!("{{ academies {{ code }} project(id: \"{missing}\") {{ id }} }}")),
        ("node", "{ academies { code } node(id: \"nothing\") { id } }".to_owned()),
        ("session", "{ academies { code } session(id: \"nothing\") { id } }".to_owned()),
        ("person", "{ academies { code } person(id: \"nothing\") { id } }".to_owned()),
        ("history", "{ academies { code } history(id: \"nothing\") { totalCount } }".to_owned()),
    ] {
        let res = app.graphql_as(Some(&token), &query, json!({})).await;
        let data = res["data"].as_object().unwrap_or_else(|| panic!("{lookup}: data kept: {res}"));
        assert!(data.contains_key(lookup) && data[lookup].is_null(), "{lookup}: null, not left out: {res}");
        assert_eq!(data["academies"].as_array().map(Vec::len), Some(34), "{lookup}: the rest kept: {res}");
        assert_eq!(res["errors"][0]["extensions"]["code"], "NOT_FOUND", "{res}");
        assert_eq!(res["errors"][0]["path"], json!([lookup]), "{res}");
    }
    // a non-null root field that fails: data is null, the other fields' values go with it
    let res =
        app.graphql_as(Some(&token), "{ academies { code } projects(first: 500) { totalCount } }", json!({})).await;
    assert!(res.as_object().is_some_and(|o| o.contains_key("data")) && res["data"].is_null(), "{res}");
    assert_eq!(res["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{res}");
    // aliases and fragments are followed to the root field they name
    let aliased =
        format!("{{ ...F a: academies {{ code }} }} fragment F on Query {{ p: project(id: \"{missing}\") {{ id }} }}");
    let res = app.graphql_as(Some(&token), &aliased, json!({})).await;
    assert!(res["data"]["p"].is_null() && res["data"]["a"].is_array(), "{res}");
}

// ----- request ids: log, access log, proxies -----

#[tokio::test]
async fn every_error_answer_has_a_log_line_with_its_request_id_code_and_cause() {
    let dir = TempDir::new();
    let served = Served::start(dir.path(), &[]);
    let reader = served.token("Lecteur");
    let client = reqwest::Client::new();
    let post = async |token: Option<&str>, content_type: &str, body: &str| {
        let mut request = client
            .post(format!("{}/graphql", served.address))
            .header("content-type", content_type)
            .body(body.to_owned());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let res = request.send().await.expect("an answer");
        let header = res.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let body: Value = res.json().await.expect("JSON");
        (header, body)
    };
    let cases = [
        (
            "FORBIDDEN",
            Some(reader.as_str()),
            "application/json",
            json!({ "query": "{ events(first: 1) { totalCount } }" }).to_string(),
        ),
        (
            "BAD_USER_INPUT",
            Some(reader.as_str()),
            "application/json",
            json!({ "query": "{ projects(first: 0) { totalCount } }" }).to_string(),
        ),
        (
            "NOT_FOUND",
            Some(reader.as_str()),
            "application/json",
            json!({ "query": "{ node(id: \"nothing\") { id } }" }).to_string(),
        ),
        ("GRAPHQL_VALIDATION_FAILED", None, "application/json", json!({ "query": "{ projet { id } }" }).to_string()),
        ("BAD_REQUEST", None, "text/plain", "{}".to_owned()),
        ("BAD_REQUEST", None, "application/json", "[]".to_owned()),
        ("UNAUTHENTICATED", Some("not-a-token"), "application/json", json!({ "query": "{ me { sub } }" }).to_string()),
    ];
    for (code, token, content_type, body) in cases {
        let (header, answer) = post(token, content_type, &body).await;
        let error = &answer["errors"][0];
        assert_eq!(error["extensions"]["code"], code, "{answer}");
        let request_id = error["extensions"]["requestId"].as_str().unwrap_or_else(|| panic!("{answer}"));
        assert_eq!(request_id, header, "the header and the body name the same request");
        let message = if code == "UNAUTHENTICATED" { "token refused" } else { "error answered" };
        let line = served.log_line(request_id, message).await;
        if code != "UNAUTHENTICATED" {
            assert_eq!(line["code"], code, "{line}");
            assert!(line["cause"].as_str().is_some_and(|c| !c.is_empty()), "{line}");
        } else {
            assert!(line["reason"].is_string(), "{line}");
        }
    }
}

#[tokio::test]
async fn the_access_log_records_the_status_seen_and_the_error_codes() {
    let (db, app) = fresh_app().await;
    let store = carnet_api::startup::open_store(&db.url).await.expect("store");
    let reader = app.token(Role::Reader, &[]);
    let (_, _, forbidden) = post_json(
        &app,
        None,
        Some(&reader),
        &json!({ "query": "query Journal { events(first: 1) { totalCount } }" }).to_string(),
    )
    .await;
    let (_, _, invalid) =
        post_json(&app, Some(GRAPHQL_RESPONSE), None, &json!({ "query": "query Cassee {" }).to_string()).await;
    let (_, _, fine) =
        post_json(&app, None, None, &json!({ "query": "query Academies { academies { code } }" }).to_string()).await;
    let id = |v: &Value| v["errors"][0]["extensions"]["requestId"].as_str().unwrap_or_default().to_owned();
    let wanted = [(id(&forbidden), 200, Some("FORBIDDEN")), (id(&invalid), 400, Some("GRAPHQL_VALIDATION_FAILED"))];
    let mut rows = vec![];
    for _ in 0..200 {
        rows = carnet_store::access_log::read_access_log(&store, None, None, None, 100).await.expect("read");
        if rows.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for (request_id, status, codes) in wanted {
        let row =
            rows.iter().map(|(_, r)| r).find(|r| r.request_id == request_id).unwrap_or_else(|| panic!("{rows:?}"));
        assert_eq!((row.status, row.error_codes.as_deref()), (status, codes), "{row:?}");
    }
    assert!(fine["errors"].is_null(), "{fine}");
    let academies = rows.iter().map(|(_, r)| r).find(|r| r.operation.as_deref() == Some("Academies")).expect("a row");
    assert_eq!((academies.status, academies.error_codes.as_deref()), (200, None), "{academies:?}");
}

#[tokio::test]
async fn a_request_id_from_a_trusted_proxy_is_kept_and_any_other_replaced() {
    let db = FreshDatabase::create().await;
    let send = |app: &TestApp, id: &'static str| {
        app.post_graphql()
            .header("content-type", "application/json")
            .header("x-request-id", id)
            .body(json!({ "query": "{ projet }" }).to_string())
            .send()
    };
    let answer_id = |body: &Value| body["errors"][0]["extensions"]["requestId"].as_str().unwrap_or_default().to_owned();

    let behind_proxy = spawn_app_with(&db.url, |c| c.rate_limit.trust_forwarded_for = true).await;
    let res = send(&behind_proxy, "proxy-7f3a:42").await.expect("an answer");
    assert_eq!(res.headers()["x-request-id"], "proxy-7f3a:42");
    assert_eq!(answer_id(&res.json().await.expect("JSON")), "proxy-7f3a:42", "the error names it too");
    for forged in ["a b", "semi;colon", "quote\"d", ""] {
        let res = behind_proxy
            .client
            .post(format!("{}/graphql", behind_proxy.address))
            .header("content-type", "application/json")
            .header("x-request-id", forged)
            .body("{}")
            .send()
            .await
            .expect("an answer");
        assert_ne!(res.headers()["x-request-id"], forged, "not a request id: replaced");
    }
    let long: &'static str = Box::leak("x".repeat(129).into_boxed_str());
    assert_ne!(send(&behind_proxy, long).await.expect("an answer").headers()["x-request-id"], long);

    let direct = spawn_app(&db.url).await;
    let res = send(&direct, "chosen-by-the-client").await.expect("an answer");
    let replaced = res.headers()["x-request-id"].to_str().expect("ASCII").to_owned();
    assert_ne!(replaced, "chosen-by-the-client", "no proxy trusted: a client does not choose its id");
    assert!(uuid::Uuid::parse_str(&replaced).is_ok(), "{replaced}");
}

#[tokio::test]
async fn over_a_websocket_refusals_have_the_same_codes_request_ids_and_french() {
    let (_db, app, token) = fresh_app_as(Role::LabTeam).await;
    let mut ws = app.ws_as(&token).await;
    for (id, query, code) in [
        ("unknown", "subscription { activity { nosuchfield } }", "GRAPHQL_VALIDATION_FAILED"),
        ("page", "{ projects(first: 500) { totalCount } }", "BAD_USER_INPUT"),
        ("variable", "query($id: ID!) { node(id: $id) { id } }", "BAD_USER_INPUT"),
    ] {
        ws.subscribe(id, query, json!({})).await;
        let message = ws.next_of(id).await;
        let errors = if message["type"] == "error" { &message["payload"] } else { &message["payload"]["errors"] };
        let error = &errors[0];
        assert_eq!(error["extensions"]["code"], code, "{message}");
        assert!(error["extensions"]["requestId"].is_string(), "{message}");
        let text = error["message"].as_str().unwrap_or_default();
        assert!(
            ["n'existe pas", "une page compte", "est obligatoire"].iter().any(|french| text.contains(french)),
            "{message}"
        );
    }
}
