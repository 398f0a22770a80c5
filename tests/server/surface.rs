//! The HTTP surface faces browsers on a ministry network: only configured origins may read the
//! API's answers from their pages.

use crate::support::*;

const FRONT: &str = "https://front.example.gouv.fr";

#[tokio::test]
async fn only_configured_origins_may_call_the_api_from_a_browser() {
    let db = FreshDatabase::create().await;
    let app = spawn_app_with(&db.url, |c| c.cors_allowed_origins = vec![FRONT.into()]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.address))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
    };
    let allowed = preflight(FRONT).await.expect("preflight");
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(allowed.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap()), Some(FRONT));
    let methods = allowed.headers().get("access-control-allow-methods").unwrap().to_str().unwrap().to_owned();
    assert!(methods.contains("POST") && !methods.contains("DELETE"), "{methods}");

    let other = preflight("https://evil.example").await.expect("preflight");
    assert!(other.headers().get("access-control-allow-origin").is_none(), "another origin is not allowed");

    let post = |origin: &'static str| {
        app.post_graphql()
            .header("origin", origin)
            .header("content-type", "application/json")
            .body(r#"{"query":"{ academies { code } }"}"#)
            .send()
    };
    let from_front = post(FRONT).await.expect("post");
    assert_eq!(from_front.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap()), Some(FRONT));
    let exposed = from_front.headers().get("access-control-expose-headers").unwrap().to_str().unwrap().to_lowercase();
    for header in ["x-request-id", "x-ratelimit-remaining", "retry-after"] {
        assert!(exposed.contains(header), "its page may read {header}: {exposed}");
    }
    let from_elsewhere = post("https://evil.example").await.expect("post");
    assert!(from_elsewhere.headers().get("access-control-allow-origin").is_none(), "its page cannot read the answer");
    // the server's own pages (GraphiQL) send their origin too, and need no entry
    let same_origin = post(Box::leak(app.address.clone().into_boxed_str())).await.expect("post");
    assert_eq!(same_origin.status(), 200);
}

// ----- rate limit -----

use carnet_domain::person::Role;
use serde_json::{Value, json};

fn header(res: &reqwest::Response, name: &str) -> Option<u64> {
    res.headers().get(name).map(|v| v.to_str().expect("ASCII").parse().expect("a number"))
}

/// The three `x-ratelimit-*` headers: limit, remaining, reset.
fn budget(res: &reqwest::Response) -> (u64, u64, u64) {
    let get = |name| header(res, name).unwrap_or_else(|| panic!("{name} missing from {:?}", res.headers()));
    (get("x-ratelimit-limit"), get("x-ratelimit-remaining"), get("x-ratelimit-reset"))
}

/// A local token of `sub` (the helper's `token` mints one `sub` for every role).
fn token_of(app: &TestApp, sub: &str) -> String {
    carnet_api::auth::TokenVerifier::load_or_create(&app.secret).expect("secret").mint(sub, &[Role::LabTeam], &[], 1)
}

/// A budget of 3 that refills one request a minute: no test runs long enough to see a refill.
fn three_a_minute(config: &mut carnet_api::config::Config) {
    config.rate_limit.per_minute = 1;
    config.rate_limit.burst = 3;
}

const ME: &str = "{ me { sub } }";

#[tokio::test]
async fn each_identity_has_its_own_budget_and_is_told_where_it_stands() {
    let db = FreshDatabase::create().await;
    let app = spawn_app_with(&db.url, three_a_minute).await;
    let (alice, bob) = (token_of(&app, "alice"), token_of(&app, "bob"));

    let mut seen = vec![];
    for _ in 0..3 {
        let res = app.post_query(Some(&alice), ME, &[]).await;
        assert_eq!(res.status(), 200);
        seen.push(budget(&res));
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["data"]["me"]["sub"], "alice", "{body}");
    }
    // one request a minute refills: the budget is whole again one minute per request spent
    assert_eq!(seen, [(3, 2, 60), (3, 1, 120), (3, 0, 180)]);

    let refused = app.post_query(Some(&alice), ME, &[]).await;
    assert_eq!(refused.status(), 429);
    let retry_after = header(&refused, "retry-after").expect("Retry-After");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let (limit, remaining, reset) = budget(&refused);
    assert_eq!((limit, remaining), (3, 0));
    assert!(reset >= retry_after, "{reset} < {retry_after}");
    let request_id = refused.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = refused.json().await.unwrap();
    assert!(body.get("data").is_none(), "nothing ran: {body}");
    let error = &body["errors"][0];
    assert!(error["message"].as_str().unwrap().starts_with("trop de requêtes"), "{body}");
    assert_eq!(error["extensions"]["code"], "RATE_LIMITED");
    assert_eq!(error["extensions"]["requestId"], request_id.as_str());
    assert_eq!(error["extensions"]["retryAfterSeconds"], retry_after);

    let other = app.post_query(Some(&bob), ME, &[]).await;
    assert_eq!(other.status(), 200, "bob is not alice");
    assert_eq!(budget(&other), (3, 2, 60));
    let anonymous = app.post_query(None, "{ academies { code } }", &[]).await;
    assert_eq!(anonymous.status(), 200, "nor is an anonymous caller");
    assert_eq!(budget(&anonymous).1, 2);
}

#[tokio::test]
async fn anonymous_callers_are_counted_by_address() {
    let db = FreshDatabase::create().await;
    let query = "{ academies { code } }";
    let from = |ip: &'static str| [("x-forwarded-for", ip)];

    // directly on the internet, X-Forwarded-For is the caller's to choose: ignored
    let direct = spawn_app_with(&db.url, three_a_minute).await;
    let remaining = |res: reqwest::Response| budget(&res).1;
    assert_eq!(remaining(direct.post_query(None, query, &from("203.0.113.1")).await), 2);
    assert_eq!(remaining(direct.post_query(None, query, &from("203.0.113.2")).await), 1, "the same peer");
    assert_eq!(remaining(direct.post_query(None, query, &[]).await), 0);
    assert_eq!(direct.post_query(None, query, &from("203.0.113.3")).await.status(), 429);
    let alice = token_of(&direct, "alice");
    assert_eq!(direct.post_query(Some(&alice), ME, &[]).await.status(), 200, "a token is its own caller");

    // behind a reverse proxy that appends the client's address, each address has its budget
    let proxied = spawn_app_with(&db.url, |c| {
        three_a_minute(c);
        c.rate_limit.trust_forwarded_for = true;
    })
    .await;
    for _ in 0..3 {
        assert_eq!(proxied.post_query(None, query, &from("198.51.100.7, 203.0.113.1")).await.status(), 200);
    }
    assert_eq!(proxied.post_query(None, query, &from("203.0.113.1")).await.status(), 429, "the last address counts");
    let other = proxied.post_query(None, query, &from("203.0.113.1, 203.0.113.2")).await;
    assert_eq!((other.status().as_u16(), budget(&other).1), (200, 2));
}

#[tokio::test]
async fn websocket_connection_inits_spend_the_same_budget() {
    let db = FreshDatabase::create().await;
    let app = spawn_app_with(&db.url, three_a_minute).await;
    let alice = token_of(&app, "alice");
    assert_eq!(budget(&app.post_query(Some(&alice), ME, &[]).await).1, 2);
    let _first = app.ws_as(&alice).await;
    assert_eq!(budget(&app.post_query(Some(&alice), ME, &[]).await).1, 0, "the connection_init counted");

    let mut over = app.ws().await;
    over.init(json!({ "Authorization": format!("Bearer {alice}") })).await;
    let (code, reason) = over.closed().await;
    assert_eq!(code, 1013, "Try Again Later, which graphql-ws clients retry with backoff: {reason}");
    assert!(reason.starts_with("Too many requests"), "{reason}");

    let bob = token_of(&app, "bob");
    let mut ws = app.ws_as(&bob).await;
    ws.subscribe("q", "{ __typename }", json!({})).await;
    assert_eq!(ws.next_data("q").await["data"]["__typename"], "Query", "bob's connections are his");
}

#[tokio::test]
async fn the_limit_can_be_turned_off() {
    let db = FreshDatabase::create().await;
    let app = spawn_app_with(&db.url, |c| {
        c.rate_limit.per_minute = 0;
        c.rate_limit.burst = 1;
    })
    .await;
    for _ in 0..5 {
        let res = app.post_query(None, "{ academies { code } }", &[]).await;
        assert_eq!(res.status(), 200);
        assert!(res.headers().get("x-ratelimit-limit").is_none());
    }
}

// ----- document limits -----

/// The response's errors, asserting the refusal of the whole document before anything ran.
fn refused_as_invalid(res: &Value) -> &Vec<Value> {
    let errors = res["errors"].as_array().unwrap_or_else(|| panic!("no errors: {res}"));
    assert!(res.get("data").is_none() || res["data"].is_null(), "no data: {res}");
    for error in errors {
        assert_eq!(error["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{res}");
        assert!(error["extensions"]["requestId"].is_string(), "{res}");
    }
    errors
}

fn aliases(n: usize, field: &str) -> String {
    format!("{{ {} }}", (0..n).map(|i| format!("a{i}: {field}")).collect::<Vec<_>>().join(" "))
}

#[tokio::test]
async fn aliases_directives_and_fragment_bombs_are_refused() {
    let (_db, app, token) = fresh_app_as(Role::LabTeam).await;
    let run = |query: String| app.ask(&token, query);

    let thirty = run(aliases(30, "__typename")).await;
    assert_eq!(thirty["data"]["a29"], "Query", "{thirty}");
    let refused = run(aliases(31, "__typename")).await;
    assert!(refused_as_invalid(&refused)[0]["message"].as_str().unwrap().contains("alias"), "{refused}");
    let thirty = run(aliases(30, "me { sub }")).await;
    assert_eq!(thirty["data"]["a0"]["sub"], "test-user", "{thirty}");
    refused_as_invalid(&run(aliases(31, "me { sub }")).await);

    let directives = |n: usize| format!("{{ __typename {} }}", "@include(if: true) ".repeat(n));
    let fifty = run(directives(50)).await;
    assert_eq!(fifty["data"]["__typename"], "Query", "{fifty}");
    refused_as_invalid(&run(directives(51)).await);
    let bomb = run(directives(3_000)).await;
    let errors = refused_as_invalid(&bomb);
    assert_eq!(errors.len(), 1, "one error, not one per directive: {}", errors.len());
    assert!(errors[0]["message"].as_str().unwrap().contains("directives"), "{bomb}");
}

#[tokio::test]
async fn depth_and_complexity_are_limited_and_pages_multiply_the_cost() {
    let (_db, app, token) = fresh_app_as(Role::LabTeam).await;

    // the API's own types: 12 levels of fields pass the depth limit, 13 do not
    let chain = |pairs: usize, last: &str| {
        let levels = ["projects(first: 1)", "edges", "node"].into_iter().chain(["sessions", "project"].repeat(pairs));
        let levels = levels.chain([last]).collect::<Vec<_>>();
        format!("{{ {} {{ id }} {} }}", levels.join(" { "), "}".repeat(levels.len() - 1))
    };
    // (no chain of the API's types nests 12 deep: `Session.project` does not exist, and at 12
    // levels it is that, not the depth, which is refused)
    let twelve = app.graphql_as(Some(&token), &chain(3, "sessions"), json!({})).await;
    assert!(refused_as_invalid(&twelve)[0]["message"].as_str().unwrap().contains("n'existe pas"), "{twelve}");
    let thirteen = app.graphql_as(Some(&token), &chain(4, "sessions"), json!({})).await;
    assert!(refused_as_invalid(&thirteen)[0]["message"].as_str().unwrap().contains("trop profonde"), "{thirteen}");
    // introspection is counted apart (GraphiQL's query is 15 deep): 20 levels pass, 21 do not
    let nested = |levels: usize| {
        format!("{{ __type(name: \"Query\") {{ {}name {}}} }}", "ofType { ".repeat(levels), "} ".repeat(levels))
    };
    let deep_enough = app.graphql_as(Some(&token), &nested(18), json!({})).await;
    assert!(deep_enough["errors"].is_null(), "{deep_enough}");
    refused_as_invalid(&app.graphql_as(Some(&token), &nested(19), json!({})).await);

    // each project's sessions (10 expected) and their facilitators (5): 63 per project
    let page =
        "query($n: Int) { projects(first: $n) { edges { node { sessions { facilitators { displayName } } } } } }";
    let twenty = app.graphql_as(Some(&token), page, json!({ "n": 20 })).await;
    assert!(twenty["errors"].is_null() && twenty["data"]["projects"]["edges"].is_array(), "{twenty}");
    let hundred = app.graphql_as(Some(&token), page, json!({ "n": 100 })).await;
    assert!(
        refused_as_invalid(&hundred)[0]["message"].as_str().unwrap().contains("trop coûteuse"),
        "100 × 63 is over 5 000: {hundred}"
    );
    let backward = app.graphql_as(Some(&token), &page.replace("first", "last"), json!({ "n": 100 })).await;
    refused_as_invalid(&backward);
    let flat =
        app.ask(&token, "{ projects(first: 100) { edges { node { id reference title status version } } } }").await;
    assert!(flat["errors"].is_null(), "a full page of plain fields is fine: {flat}");
    let ids = json!((0..100).map(|i| format!("id-{i}")).collect::<Vec<_>>());
    let nodes = app
        .graphql_as(
            Some(&token),
            "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Project { sessions { facilitators { displayName } } } } }",
            json!({ "ids": ids }),
        )
        .await;
    refused_as_invalid(&nodes);
}

/// async-graphql walks fragment spreads without remembering them: without the document limits,
/// these few lines keep a worker busy for hours.
#[tokio::test]
async fn fragment_bombs_and_cycles_are_refused_before_they_are_walked() {
    let (_db, app, token) = fresh_app_as(Role::LabTeam).await;
    let run = |query: String| app.ask(&token, query);
    // each fragment spreads the next twice: 2^30 fields, written in 2 KB
    let mut fragments = String::from("{ ...F0 }\n");
    for i in 0..30 {
        fragments.push_str(&format!("fragment F{i} on Query {{ ...F{n} ...F{n} }}\n", n = i + 1));
    }
    fragments.push_str("fragment F30 on Query { __typename }");
    let bomb = run(fragments).await;
    assert!(refused_as_invalid(&bomb)[0]["message"].as_str().unwrap().contains("champs"), "{bomb}");
    let cycle = run("{ ...A } fragment A on Query { ...B ...B } fragment B on Query { ...A ...A }".into()).await;
    refused_as_invalid(&cycle);
}

// ----- what errors say -----

/// Nothing of the server's insides: file paths, panics, the database's name or driver.
fn assert_no_paths(body: &str) {
    let lower = body.to_lowercase();
    for leak in [".rs", "panicked", "sqlx", "/work", "postgres", "/home", "/root", "/src/", "backtrace"] {
        assert!(!lower.contains(leak), "{leak:?} in {body}");
    }
}

/// Nor SQL (a GraphQL parse error may well say `selection`: not in an internal error).
fn assert_opaque(body: &str) {
    assert_no_paths(body);
    let lower = body.to_lowercase();
    for leak in ["select", "relation", "where ", "syntax"] {
        assert!(!lower.contains(leak), "{leak:?} in {body}");
    }
}

#[tokio::test]
async fn internal_errors_say_nothing_of_the_database_or_the_code() {
    let (db, app) = fresh_app().await;
    seed_project(&db.url, "110B-P-2026-001", "24", "2026-01-10").await;
    let token = app.token(Role::LabTeam, &[]);
    let list = "{ projects(first: 5) { totalCount edges { node { id reference holders { role } } } } }";
    let fine = app.graphql_as(Some(&token), list, json!({})).await;
    assert_eq!(fine["data"]["projects"]["totalCount"], 1, "{fine}");
    let id = fine["data"]["projects"]["edges"][0]["node"]["id"].as_str().unwrap().to_owned();

    sqlx::query("drop table project cascade").execute(&db.pool).await.expect("drop the read model");
    // a connection, and the data loader behind `node` and `nodes`
    let by_id = format!("{{ node(id: \"{id}\") {{ id }} nodes(ids: [\"{id}\"]) {{ id }} }}");
    for query in [list, by_id.as_str()] {
        let res = app.post_query(Some(&token), query, &[]).await;
        assert!(!res.status().is_server_error(), "{}", res.status());
        let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        let body = res.text().await.unwrap();
        let json: Value = serde_json::from_str(&body).unwrap();
        let errors = json["errors"].as_array().unwrap_or_else(|| panic!("{body}"));
        assert!(errors.iter().any(|e| e["extensions"]["code"] == "INTERNAL_SERVER_ERROR"), "{body}");
        for error in errors {
            assert!(error["extensions"]["code"].is_string(), "{body}");
            assert_eq!(error["extensions"]["requestId"], request_id.as_str(), "{body}");
        }
        assert_opaque(&body);
    }
}

#[tokio::test]
async fn malformed_requests_get_a_code_and_no_internals() {
    let (_db, app, token) = fresh_app_as(Role::LabTeam).await;
    let bodies: [&[u8]; 7] = [
        b"{\"query\": ",
        b"{\"query\": 42}",
        b"\xff\xfe not even UTF-8",
        b"{\"query\": \"{ academies { code } }\", \"variables\": [1, 2]}",
        b"{\"query\": \"query($n: Int) { projects(first: $n) { totalCount } }\", \"variables\": {\"n\": \"many\"}}",
        b"{\"query\": \"{ projects(first: 5) { totalCount \"}",
        b"{\"query\": \"{ nosuchfield }\", \"operationName\": \"missing\"}",
    ];
    for body in bodies {
        let res = app
            .post_graphql()
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let status = res.status();
        assert!(status == 200 || status == 400, "{status} for {}", String::from_utf8_lossy(body));
        let text = res.text().await.unwrap();
        let json: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        let errors = json["errors"].as_array().unwrap_or_else(|| panic!("no errors: {text}"));
        assert!(errors.iter().all(|e| e["extensions"]["code"].is_string()), "{text}");
        assert_no_paths(&text);
    }
    // values async-graphql cannot read into the arguments: the client's fault, refused as such
    // (`first` is read when the complexity is computed, hence a validation failure)
    let res = app
        .graphql_as(Some(&token), "query($n: Int) { projects(first: $n) { totalCount } }", json!({ "n": "x" }))
        .await;
    assert_eq!(res["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{res}");
    for (query, variables) in [
        ("query($id: ID!) { project(id: $id) { id } }", json!({})),
        (
            "query($from: NaiveDate!) { indicators(from: $from, to: \"2026-12-31\") { academieCodes } }",
            json!({ "from": "x" }),
        ),
        // PostgreSQL can store no NUL: refused before it gets there (found by the fuzz test)
        ("{ projects(filter: { theme: [\"a\\u0000b\"] }) { totalCount } }", json!({})),
        (
            "query($f: ProjectFilterInput) { projects(filter: $f) { totalCount } }",
            json!({ "f": { "theme": ["\u{0}"] } }),
        ),
        (
            "mutation($t: String!) { submitProject(input: { title: $t, problemStatement: \"p\", supportMode: PUNCTUAL,
               academieCodes: [\"25\"] }) { clientMutationId } }",
            json!({ "t": "titre\u{0}" }),
        ),
        // dates chrono reads but PostgreSQL does not read back (found by the fuzz test)
        (
            "mutation($on: NaiveDate!) { requestSession(input: { format: ACCULTURATION, methods: [\"m\"], objective: \"o\",
               requestedOn: $on, requester: { kind: ACADEMIE, organisation: \"x\" }, title: \"t\" }) { clientMutationId } }",
            json!({ "on": "+99999-01-01" }),
        ),
        (
            "mutation { requestSession(input: { format: ACCULTURATION, methods: [\"m\"], objective: \"o\",
               requestedOn: \"0000-01-01\", requester: { kind: ACADEMIE, organisation: \"x\" }, title: \"t\" }) { clientMutationId } }",
            json!({}),
        ),
        ("{ projects(first: 1) { totalCount } project(id: \"x\", asOf: \"+10000-01-01T00:00:00Z\") { id } }", json!({})),
    ] {
        let res = app.graphql_as(Some(&token), query, variables).await;
        assert_eq!(res["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{query}: {res}");
        assert_no_paths(&res.to_string());
    }
    for query in ["query=%7B", "query=%7Bacademies%7Bcode%7D%7D&variables=%7Bnope", "nothing=here", "query=%FF%FE"] {
        let res = app.get(&format!("/graphql?{query}")).await;
        assert!(res.status() == 200 || res.status() == 400, "{} for {query}", res.status());
        let text = res.text().await.unwrap();
        let json: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        assert!(json["errors"][0]["extensions"]["code"].is_string(), "{text}");
        assert_no_paths(&text);
    }
}

// ----- subscriptions -----

#[tokio::test]
async fn a_subscription_id_already_running_closes_the_connection_4409() {
    let (_db, app, token) = fresh_app_as(Role::LabTeam).await;
    let mut ws = app.ws_as(&token).await;
    // an operation that ended frees its id: a query answers once and completes
    for _ in 0..2 {
        ws.subscribe("q", "{ __typename }", json!({})).await;
        assert_eq!(ws.next_data("q").await["data"]["__typename"], "Query");
        assert_eq!(ws.next_of("q").await["type"], "complete");
    }
    // so does the client's complete
    let activity = "subscription { activity { eventType } }";
    ws.subscribe("feed", activity, json!({})).await;
    ws.complete("feed").await;
    ws.subscribe("feed", activity, json!({})).await;
    ws.subscribe("probe", "{ __typename }", json!({})).await;
    assert_eq!(ws.next_data("probe").await["data"]["__typename"], "Query", "still open");

    ws.subscribe("feed", activity, json!({})).await;
    assert_eq!(ws.closed().await, (4409, "Subscriber for feed already exists".to_owned()));
}

// ----- one language: French -----

/// English words that no French message of Carnet holds (outside « quotes », where the client's
/// own names stand).
const ENGLISH: &[&str] = &[
    "the", "must", "invalid", "expected", "unknown", "between", "give", "failed", "field", "not", "is", "of", "did",
    "mean", "payload", "reached", "limit", "required", "provided", "cannot", "parse", "found", "only", "missing",
    "send", "allowed", "string", "type:", "nested", "deep", "complex", "too", "at", "line", "column",
];
/// Names of Rust types and crates, which a message for people never shows.
const RUST: &[&str] = &[
    "u32",
    "i32",
    "i64",
    "u64",
    "usize",
    "String",
    "Option",
    "Vec",
    "serde",
    "struct",
    "enum",
    "::",
    "OrderField",
    "chrono",
    "actix",
    "async_graphql",
    "sqlx",
];

/// Why `message` is not one French message for a person, if it is not.
fn not_french(message: &str) -> Option<String> {
    let mut outside = String::new();
    let mut depth = 0;
    for c in message.chars() {
        match c {
            '«' => depth += 1,
            '»' => depth -= 1,
            _ if depth == 0 => outside.push(c),
            _ => {}
        }
    }
    let words: Vec<String> = outside
        .split(|c: char| !c.is_alphanumeric() && c != ':')
        .map(str::to_lowercase)
        .filter(|w| !w.is_empty())
        .collect();
    if let Some(word) = words.iter().find(|w| ENGLISH.contains(&w.as_str())) {
        return Some(format!("the English word « {word} »"));
    }
    if let Some(name) = RUST.iter().find(|name| message.contains(*name)) {
        return Some(format!("the Rust name « {name} »"));
    }
    let french = [
        "le", "la", "les", "l", "de", "des", "du", "un", "une", "est", "pas", "doit", "trop", "au", "ou", "d", "ne",
        "n", "dans", "ce", "cet", "cette", "que", "vous", "sur", "et", "en", "à",
    ];
    if !words.iter().any(|w| french.contains(&w.as_str())) {
        return Some("no French word".into());
    }
    None
}

#[test]
fn the_french_check_catches_english_and_rust_names() {
    assert!(not_french("first must be between 1 and 100").is_some());
    assert!(
        not_french("ce curseur a été pris dans une liste d'un autre ordre que CreatedAt: ProjectOrderField").is_some()
    );
    assert!(not_french("A payload reached size limit.").is_some());
    assert_eq!(not_french("le champ « projet » n'existe pas sur le type Query"), None);
}

#[tokio::test]
async fn every_refusal_a_person_reads_is_in_french_without_rust_names() {
    let (db, app, token) = fresh_app_as(Role::LabTeam).await;
    let graphql = |query: &str, variables: Value| json!({ "query": query, "variables": variables }).to_string();
    // a cursor taken in a list of another order
    seed_project(&db.url, "110B-P-2026-001", "25", "2026-01-15").await;
    let first = "{ projects(first: 1, orderBy: REFERENCE_ASC) { pageInfo { endCursor } } }";
    let page = app.graphql_as(Some(&token), first, json!({})).await;
    let cursor =
        page["data"]["projects"]["pageInfo"]["endCursor"].as_str().unwrap_or_else(|| panic!("{page}")).to_owned();
    let other_order =
        format!("{{ projects(first: 1, after: \"{cursor}\", orderBy: UPDATED_AT_DESC) {{ totalCount }} }}");
    let too_deep = format!("{{ {}id{} }}", "projects { edges { node { ".repeat(5), " } } }".repeat(5));
    // (what, content type, body): POSTed with a token
    let mut posts: Vec<(&str, &str, String)> = vec![
        ("a form post (415)", "application/x-www-form-urlencoded", "query=%7Bacademies%7Bcode%7D%7D".into()),
        (
            "a body over the cap (413)",
            "application/json",
            format!("{{\"query\": \"{{ academies {{ code }} }} # {}\"}}", "x".repeat(200 * 1024)),
        ),
        ("not JSON", "application/json", "{ \"not a JSON".into()),
        ("an empty body", "application/json", String::new()),
        ("a batch", "application/json", "[]".into()),
        ("a query that is no string", "application/json", "{\"query\": 1}".into()),
        ("no query", "application/json", "{\"qeury\": \"{ academies { code } }\"}".into()),
        (
            "variables that are no object",
            "application/json",
            "{\"query\": \"{ academies { code } }\", \"variables\": [1]}".into(),
        ),
        (
            "an unknown operation",
            "application/json",
            json!({ "query": "query A { academies { code } }", "operationName": "B" }).to_string(),
        ),
    ];
    // (what, document): POSTed as JSON with a token, without variables
    let documents: Vec<(&str, &str)> = vec![
        ("a document that does not parse", "{ projects(first: 5) { totalCount "),
        ("an unknown field", "{ projet { id } }"),
        ("an unknown argument", "{ projects(premier: 5) { totalCount } }"),
        ("a missing selection", "{ projects }"),
        ("a page too large", "{ projects(first: 500) { totalCount } }"),
        ("a page too small", "{ sessions(last: 0) { totalCount } }"),
        ("first and last", "{ projects(first: 1, last: 1) { totalCount } }"),
        ("a cursor of another order", other_order.as_str()),
        ("a cursor that is not one", "{ projects(after: \"n'importe quoi\") { totalCount } }"),
        ("a history cursor that is not one", "{ events(after: \"zz\") { totalCount } }"),
        ("a date that is not one", "{ indicators(from: \"2026-13-45\") { academieCodes } }"),
        ("an instant that is not one", "{ project(id: \"x\", asOf: \"hier\") { id } }"),
        ("a period backwards", "{ indicators(from: \"2026-12-31\", to: \"2026-01-01\") { academieCodes } }"),
        ("a string for an Int", "{ projects(first: \"cinq\") { totalCount } }"),
        ("an unknown enum value", "{ projects(orderBy: { field: NOPE }) { totalCount } }"),
        ("a required variable missing", "query($id: ID!) { node(id: $id) { id } }"),
        ("an undeclared variable", "{ node(id: $id) { id } }"),
        ("an unused variable", "query($id: ID) { academies { code } }"),
        ("a subscription over HTTP", "subscription { activity { eventType } }"),
        ("a query too deep", too_deep.as_str()),
        ("an unknown id", "{ node(id: \"rien\") { id } }"),
    ];
    // (what, document, variables)
    let with_variables: Vec<(&str, &str, Value)> = vec![
        (
            "a date variable that is not one",
            "query($d: NaiveDate) { indicators(from: $d) { academieCodes } }",
            json!({ "d": "hier" }),
        ),
        (
            "an Int out of range",
            "query($n: Int) { projects(first: $n) { totalCount } }",
            json!({ "n": 3_000_000_000_u64 }),
        ),
    ];
    let documents = documents.into_iter().map(|(what, query)| (what, query, json!({})));
    for (what, query, variables) in documents.chain(with_variables) {
        posts.push((what, "application/json", graphql(query, variables)));
    }
    let mut failures = vec![];
    let mut check = |what: &str, status: u16, text: &str| {
        let Ok(body) = serde_json::from_str::<Value>(text) else {
            failures.push(format!("{what} ({status}): not JSON: {text:.200}"));
            return;
        };
        let Some(errors) = body["errors"].as_array().filter(|e| !e.is_empty()) else {
            failures.push(format!("{what} ({status}): no error: {text:.200}"));
            return;
        };
        for error in errors {
            let message = error["message"].as_str().unwrap_or_default();
            if let Some(why) = not_french(message) {
                failures.push(format!("{what} ({status}): {why} in « {message} »"));
            }
            if !error["extensions"]["requestId"].is_string() {
                failures.push(format!("{what} ({status}): no requestId in {error}"));
            }
        }
    };
    for (what, content_type, body) in posts {
        let res = app
            .post_graphql()
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("an answer");
        let status = res.status().as_u16();
        check(what, status, &res.text().await.expect("a body"));
    }
    for (what, query) in [
        ("GET without a query", "nothing=here"),
        ("GET with unreadable variables", "query=%7Bacademies%7Bcode%7D%7D&variables=%7Bnope"),
        ("GET with a mutation", "query=mutation%7Bx%7D"),
        ("GET with a bad encoding", "query=%FF%FE"),
    ] {
        let res = app.get(&format!("/graphql?{query}")).await;
        let status = res.status().as_u16();
        check(what, status, &res.text().await.expect("a body"));
    }
    assert!(failures.is_empty(), "answers not in French:\n{}", failures.join("\n"));
}
