//! Property tests of the request path (issue 4, point 6): whatever a client sends to `/graphql`,
//! the server answers, never with a 5xx, never by dropping the connection (what a panic in a
//! handler does), and every JSON error it returns carries `extensions.code`, never
//! `INTERNAL_SERVER_ERROR` (the client's input is refused as such, or served).
//!
//! Each test serves one application (demo data loaded, rate limit off) and feeds it one kind of
//! input: arbitrary bytes under random content types, GraphQL documents (token soup, and
//! documents built from the real schema's types, fields, arguments and enum values, with
//! aliases, fragments, directives and variables), random `variables`, random GET query
//! strings. Half the requests carry a `LAB_TEAM` token, so that resolvers, mutations included,
//! really run.
//!
//! Reproducing a failure: each test prints its seed (`--nocapture`); `CARNET_FUZZ_SEED=<seed>`
//! replays the same cases, `PROPTEST_CASES=<n>` runs more (or fewer) of them. The failure
//! message shows the request of the smallest input proptest shrank it to. The tests also print
//! how the answers went (`200 data`, `200 BAD_USER_INPUT`…); `CARNET_FUZZ_SHOW=<code>` prints
//! each request answered with that code (`-`: with neither data nor error).

use crate::support::*;
use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
use carnet_domain::person::Role;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// Cases per test: enough to cover each generator's choices, few enough for a debug build on
/// two cores (each test well under a minute).
const CASES: u32 = 400;

/// What the answers may never contain unless the input itself did.
const LEAKS: [&str; 6] = ["panicked", ".rs:", "/work/", "sqlx", "stack backtrace", "/src/"];

struct Target {
    runtime: tokio::runtime::Runtime,
    app: TestApp,
    client: reqwest::Client,
    token: String,
    /// Opaque ids of demo entities, for arguments that take one.
    ids: Vec<String>,
    /// How the answers went (`200 data`, `200 BAD_USER_INPUT`, `415`…), printed at the end.
    outcomes: std::sync::Mutex<std::collections::BTreeMap<String, usize>>,
    _db: FreshDatabase,
}

impl Target {
    /// The application with the demo data, served once for the whole test.
    fn serve() -> Self {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let (db, app, ids) = runtime.block_on(async {
            let db = demo_database(chrono::Utc::now().date_naive()).await;
            // the fuzzer sends far more than a caller's budget, and must reach the resolvers
            let app = spawn_app_with(&db.url, |c| c.rate_limit.per_minute = 0).await;
            let token = app.token(Role::LabTeam, &[]);
            let found = app
                .graphql_as(
                    Some(&token),
                    "{ projects(first: 3) { edges { node { id holders { person { id } } } } }
                       sessions(first: 3) { edges { node { id } } } }",
                    json!({}),
                )
                .await;
            let mut ids = vec![];
            collect_ids(&found, &mut ids);
            assert!(ids.len() >= 3, "the demo data has projects and sessions: {found}");
            (db, app, ids)
        });
        let token = app.token(Role::LabTeam, &[]);
        // a timeout, so that a request the server never answers fails the case instead of the run
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
        Self { runtime, app, client, token, ids, outcomes: Default::default(), _db: db }
    }

    fn url(&self) -> String {
        format!("{}/graphql", self.app.address)
    }

    /// Sends `request` (with the token if `authenticated`) and checks the answer; `input` is what
    /// the client chose, for the leak check.
    fn check(&self, request: reqwest::RequestBuilder, authenticated: bool, input: &str) -> Result<(), TestCaseError> {
        let request = if authenticated { request.bearer_auth(&self.token) } else { request };
        let checked = self.runtime.block_on(async {
            let res = request
                .send()
                .await
                .map_err(|e| TestCaseError::fail(format!("no answer (a panic in the handler?): {e:?}")))?;
            let status = res.status();
            let body = res.bytes().await.map_err(|e| TestCaseError::fail(format!("the answer broke off: {e:?}")))?;
            let text = String::from_utf8_lossy(&body);
            prop_assert!(!status.is_server_error(), "{status}: {text}");
            let json = serde_json::from_slice::<Value>(&body);
            if status == 200 {
                prop_assert!(json.is_ok(), "a 200 that is not JSON: {text}");
            }
            if let Ok(json) = json {
                if let Some(errors) = json.get("errors") {
                    let errors = errors.as_array();
                    prop_assert!(errors.is_some_and(|e| !e.is_empty()), "errors not a list: {text}");
                    for error in errors.into_iter().flatten() {
                        let code = error["extensions"]["code"].as_str();
                        prop_assert!(code.is_some(), "an error without a code: {text}");
                        // what a client sends is refused as such: an internal error is a bug
                        prop_assert!(code != Some("INTERNAL_SERVER_ERROR"), "{text}");
                    }
                } else {
                    prop_assert!(
                        status == 200 && json.get("data").is_some(),
                        "{status}, neither data nor errors: {text}"
                    );
                }
            }
            for leak in LEAKS {
                prop_assert!(!text.contains(leak) || input.contains(leak), "{leak:?} in {text}");
            }
            let json = serde_json::from_slice::<Value>(&body).unwrap_or_default();
            let outcome = match json["errors"][0]["extensions"]["code"].as_str() {
                _ if json["data"].is_object() && json["errors"].is_null() => "data".to_owned(),
                Some(code) if json["data"].is_object() => format!("data with {code}"),
                Some(code) => code.to_owned(),
                None => String::new(),
            };
            if std::env::var("CARNET_FUZZ_SHOW")
                .is_ok_and(|show| outcome.contains(&show) || show == "-" && outcome.is_empty())
            {
                eprintln!("--- {status} {outcome}\n{input}\n{text:.600}");
            }
            *self.outcomes.lock().unwrap().entry(format!("{} {outcome}", status.as_u16())).or_default() += 1;
            Ok(())
        });
        checked.map_err(|e| TestCaseError::fail(format!("{e}\nthe request ({authenticated}): {input:.4000}")))
    }

    fn post_json(&self, body: &Value, authenticated: bool) -> Result<(), TestCaseError> {
        let text = body.to_string();
        let request = self.client.post(self.url()).header("content-type", "application/json").body(text.clone());
        self.check(request, authenticated, &text)
    }
}

impl Target {
    /// How many answers were checked.
    fn cases(&self) -> usize {
        self.outcomes.lock().unwrap().values().sum()
    }

    /// Prints how the answers went; returns how many ran (data, with or without errors).
    fn report(&self) -> usize {
        let outcomes = self.outcomes.lock().unwrap();
        eprintln!("outcomes: {outcomes:#?}");
        outcomes.iter().filter(|(k, _)| k.starts_with("200 data")).map(|(_, n)| n).sum()
    }
}

fn collect_ids(value: &Value, ids: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("id", Value::String(id)) => ids.push(id.clone()),
                    _ => collect_ids(value, ids),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_ids(v, ids)),
        _ => {}
    }
}

/// Runs `test` on `CASES` inputs of `strategy` (or `PROPTEST_CASES`), from a printed seed.
fn run<S: Strategy>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let seed: u64 = std::env::var("CARNET_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(CASES);
    eprintln!("fuzz {name}: {cases} cases, seed {seed} (CARNET_FUZZ_SEED={seed} replays them)");
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config { cases, failure_persistence: None, max_shrink_time: 60_000, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &key));
    match runner.run(&strategy, test) {
        Ok(()) => {}
        Err(TestError::Fail(reason, input)) => {
            panic!("fuzz {name} failed (CARNET_FUZZ_SEED={seed}): {reason}\nsmallest input: {input:#?}")
        }
        Err(TestError::Abort(reason)) => panic!("fuzz {name} aborted (CARNET_FUZZ_SEED={seed}): {reason}"),
    }
}

// ----- (a) arbitrary bodies -----

fn content_type() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("application/json".to_owned()),
        1 => Just("application/json; charset=utf-8".to_owned()),
        1 => Just("APPLICATION/JSON;charset=latin1".to_owned()),
        1 => Just("application/graphql".to_owned()),
        1 => Just("application/x-www-form-urlencoded".to_owned()),
        1 => Just("multipart/form-data; boundary=xyz".to_owned()),
        1 => Just("text/plain".to_owned()),
        1 => Just(String::new()),
        1 => "[a-z]{1,10}/[a-z0-9.+-]{1,12}(; ?[a-z]{1,6}=[a-z0-9-]{0,8})?",
    ]
}

/// Any JSON value, strings included that mean something to the schema.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop_oneof![Just(0i64), Just(1), Just(20), Just(100), Just(101), Just(-1), Just(i64::from(i32::MAX) + 1)]
            .prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,16}".prop_map(Value::from),
        prop::sample::select(INTERESTING_STRINGS).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(json_key(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(
            &["query", "variables", "operationName", "extensions", "input", "id", "first", "filter"][..]
        )
        .prop_map(str::to_owned),
        "[a-zA-Z_]{1,10}",
        "\\PC{0,6}",
    ]
}

const INTERESTING_STRINGS: &[&str] = &[
    "",
    "{ academies { code } }",
    "{ me { sub roles { code } } }",
    "query { projects(first: 2) { totalCount edges { cursor node { id reference } } } }",
    "mutation { submitProject(input: {}) { clientMutationId } }",
    "subscription { activity { eventType } }",
    "2026-01-01",
    "2026-02-30",
    "2026-01-01T00:00:00Z",
    "not a date",
    "110B-P-2026-001",
    "ACTIVE",
    "REFERENCE_ASC",
    "24",
    "LAB_TEAM",
    "UHJvamVjdDox",
    "eyJ4IjoxfQ",
    "////",
    "\u{0}",
    "\u{FEFF}é🦀",
    "\\u0000",
];

#[test]
fn arbitrary_bodies_under_any_content_type() {
    let target = Target::serve();
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..1024),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (json_value(), json_value(), json_value()).prop_map(|(query, variables, name)| {
            json!({ "query": query, "variables": variables, "operationName": name }).to_string().into_bytes()
        }),
        prop::collection::vec(json_value(), 0..4).prop_map(|batch| Value::Array(batch).to_string().into_bytes()),
    ];
    run("bodies", (content_type(), body, any::<bool>()), |(content_type, body, authenticated)| {
        let input = String::from_utf8_lossy(&body).into_owned();
        let request = target.client.post(target.url()).header("content-type", content_type).body(body);
        target.check(request, authenticated, &input)
    });
    target.report();
}

// ----- (b) arbitrary GraphQL documents -----

/// GraphQL's tokens, the schema's names, and what lexers trip on.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(PUNCTUATION).prop_map(str::to_owned),
        6 => prop::sample::select(NAMES).prop_map(str::to_owned),
        1 => "[_a-zA-Z][_a-zA-Z0-9]{0,10}",
        1 => "\\$[a-zA-Z]{1,6}",
        1 => "-?[0-9]{1,12}(\\.[0-9]{1,4})?([eE][+-]?[0-9]{1,4})?",
        1 => "\"([^\"\\\\\\n]|\\\\[\"\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4}|\\\\u\\{[0-9a-fA-F]{1,6}\\}){0,10}\"",
        1 => "\"\"\"\\PC{0,12}\"\"\"",
        1 => "\\PC{1,3}",
        1 => Just("#".to_owned()),
        1 => Just("\n".to_owned()),
    ]
}

const PUNCTUATION: &[&str] = &[
    "{",
    "}",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ":",
    "...",
    "@",
    "$",
    "!",
    "=",
    ",",
    "|",
    "&",
    "\"",
    "@include(if: true)",
    "@skip(if: $v)",
    "@deprecated",
    "on",
    "fragment",
    "query",
    "mutation",
    "subscription",
    "true",
    "false",
    "null",
];

const NAMES: &[&str] = &[
    "projects",
    "sessions",
    "project",
    "session",
    "node",
    "nodes",
    "person",
    "me",
    "academies",
    "indicators",
    "edges",
    "node",
    "cursor",
    "pageInfo",
    "hasNextPage",
    "endCursor",
    "totalCount",
    "id",
    "reference",
    "title",
    "status",
    "statusLabel",
    "holders",
    "facilitators",
    "displayName",
    "sub",
    "roles",
    "code",
    "first",
    "last",
    "after",
    "before",
    "filter",
    "orderBy",
    "asOf",
    "ids",
    "input",
    "submitProject",
    "acceptProject",
    "__typename",
    "__schema",
    "__type",
    "Query",
    "Project",
    "Session",
    "Person",
    "Node",
    "ACTIVE",
    "REFERENCE_ASC",
    "clientMutationId",
    "expectedVersion",
    "activity",
    "projectChanged",
    "version",
    "a",
    "b",
];

#[test]
fn token_soup_documents() {
    let target = Target::serve();
    let separator = prop::sample::select(&[" ", " ", " ", "", "\n", ",", "\t"][..]);
    let document = prop::collection::vec((token(), separator), 0..80)
        .prop_map(|tokens| tokens.into_iter().flat_map(|(t, s)| [t, s.to_owned()]).collect::<String>());
    let variables = prop_oneof![3 => Just(Value::Null), 1 => json_value()];
    run("soup", (document, variables, any::<bool>()), |(query, variables, authenticated)| {
        target.post_json(&json!({ "query": query, "variables": variables }), authenticated)
    });
    target.report();
}

#[test]
fn documents_built_from_the_schema() {
    let target = Target::serve();
    let schema = Schema::load();
    let choices = prop::collection::vec(any::<u16>(), 0..600);
    run("schema documents", (choices, any::<bool>()), |(choices, authenticated)| {
        let (query, variables) = Builder::new(&schema, &target.ids, &choices).document();
        target.post_json(&json!({ "query": query, "variables": variables }), authenticated)
    });
    // the generator must reach the resolvers, not only the validation (a schema.graphql that
    // drifted from the code, or a generator too eager to make mistakes, would not)
    let ran = target.report();
    assert!(ran * 20 >= target.cases(), "only {ran} answers with data: the resolvers hardly ran");
}

/// A field: its name, its arguments (name and type) and its type.
type Field<'s> = (&'s str, Vec<(&'s str, &'s Type)>, &'s Type);

/// The schema's types, read from `schema.graphql`: what structured documents are built from.
struct Schema {
    types: HashMap<String, TypeKind>,
}

impl Schema {
    fn load() -> Self {
        let sdl = include_str!("../../schema.graphql");
        let document = async_graphql::parser::parse_schema(sdl).expect("schema.graphql parses");
        let types = document
            .definitions
            .into_iter()
            .filter_map(|d| match d {
                TypeSystemDefinition::Type(t) => Some((t.node.name.node.to_string(), t.node.kind)),
                _ => None,
            })
            .collect();
        Self { types }
    }

    /// The fields of an object or interface type.
    fn fields(&self, name: &str) -> Vec<Field<'_>> {
        let fields = match self.types.get(name) {
            Some(TypeKind::Object(o)) => &o.fields,
            Some(TypeKind::Interface(i)) => &i.fields,
            _ => return vec![],
        };
        fields
            .iter()
            .map(|f| {
                let args = f.node.arguments.iter().map(|a| (a.node.name.node.as_str(), &a.node.ty.node)).collect();
                (f.node.name.node.as_str(), args, &f.node.ty.node)
            })
            .collect()
    }

    /// The types that implement `interface`.
    fn implementations(&self, interface: &str) -> Vec<&str> {
        self.types
            .iter()
            .filter_map(|(name, kind)| match kind {
                TypeKind::Object(o) if o.implements.iter().any(|i| i.node.as_str() == interface) => Some(name.as_str()),
                _ => None,
            })
            .collect()
    }

    fn object_types(&self) -> Vec<&str> {
        let mut names: Vec<_> = self
            .types
            .iter()
            .filter(|(_, k)| matches!(k, TypeKind::Object(_) | TypeKind::Interface(_)))
            .map(|(n, _)| n.as_str())
            .collect();
        names.sort_unstable();
        names
    }
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

/// Builds a document from a list of choices (proptest shrinks the list, and with it the
/// document: a choice of 0, or no choice left, is always the simplest option).
struct Builder<'a> {
    schema: &'a Schema,
    ids: &'a [String],
    choices: &'a [u16],
    at: usize,
    fragments: Vec<String>,
    variables: serde_json::Map<String, Value>,
    definitions: Vec<String>,
    counter: usize,
    /// No deliberate mistake (wrong values, stray fields, fragments on other types): half the
    /// documents, so that many pass validation and reach the resolvers.
    strict: bool,
}

impl<'a> Builder<'a> {
    fn new(schema: &'a Schema, ids: &'a [String], choices: &'a [u16]) -> Self {
        Self {
            schema,
            ids,
            choices,
            at: 0,
            fragments: vec![],
            variables: Default::default(),
            definitions: vec![],
            counter: 0,
            strict: false,
        }
    }

    fn next(&mut self) -> usize {
        let choice = self.choices.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        usize::from(choice)
    }

    fn pick(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// True `percent` times in 100 (never for a choice of 0).
    fn chance(&mut self, percent: usize) -> bool {
        self.next() % 100 >= 100 - percent
    }

    /// True `percent` times in 100, unless the document is strict.
    fn mistake(&mut self, percent: usize) -> bool {
        let happens = self.chance(percent);
        happens && !self.strict
    }

    fn document(mut self) -> (String, Value) {
        self.strict = self.chance(50);
        let (keyword, root) = match self.pick(12) {
            0..=8 => ("query", "Query"),
            9 | 10 => ("mutation", "Mutation"),
            _ => ("subscription", "Subscription"),
        };
        let name = if self.chance(30) { format!(" Op{}", self.pick(3)) } else { String::new() };
        let selection = self.selection_set(root, 4);
        let mut document = if self.definitions.is_empty() && name.is_empty() && keyword == "query" && self.chance(50) {
            selection
        } else {
            let definitions =
                if self.definitions.is_empty() { String::new() } else { format!("({})", self.definitions.join(", ")) };
            format!("{keyword}{name}{definitions} {selection}")
        };
        for fragment in std::mem::take(&mut self.fragments) {
            document.push('\n');
            document.push_str(&fragment);
        }
        if self.mistake(5) {
            document.push_str("\nquery Other { __typename }");
        }
        (document, Value::Object(self.variables))
    }

    fn selection_set(&mut self, type_name: &str, depth: usize) -> String {
        let fields = self.schema.fields(type_name);
        let implementations = self.schema.implementations(type_name);
        let count = 1 + self.pick(4);
        let mut items = vec![];
        let mut keys = std::collections::HashSet::new();
        for _ in 0..count {
            if !implementations.is_empty() && self.chance(40) {
                let on = implementations[self.pick(implementations.len())];
                let inner = self.selection_set(on, depth.saturating_sub(1));
                items.push(format!("... on {on} {inner}"));
                continue;
            }
            if self.chance(8) && depth > 0 {
                items.push(self.fragment_spread(type_name, depth));
                continue;
            }
            if fields.is_empty() || self.mistake(4) {
                let stray = NAMES[self.pick(NAMES.len())];
                items.push(stray.to_owned());
                continue;
            }
            let (name, args, ty) = &fields[self.pick(fields.len())];
            let mut item = String::new();
            // a field twice under one name with other arguments does not validate: a strict
            // document names each one apart
            let alias = self.chance(15) || (self.strict && !keys.insert(name.to_string()));
            if alias {
                let alias = if self.strict {
                    self.counter += 1;
                    self.counter
                } else {
                    self.pick(40)
                };
                item.push_str(&format!("a{alias}: "));
            }
            item.push_str(name);
            let arguments: Vec<String> = args
                .iter()
                .filter_map(|(arg, ty)| {
                    let wanted = !ty.nullable || self.chance(50);
                    wanted.then(|| format!("{arg}: {}", self.value(ty, 3)))
                })
                .collect();
            if !arguments.is_empty() {
                item.push_str(&format!("({})", arguments.join(", ")));
            }
            if self.chance(8) {
                item.push_str(&self.directive());
            }
            let inner = named(ty);
            if !self.schema.fields(inner).is_empty() {
                if depth == 0 || self.chance(5) {
                    item.push_str(" { __typename }");
                } else {
                    item.push(' ');
                    item.push_str(&self.selection_set(inner, depth - 1));
                }
            }
            items.push(item);
        }
        format!("{{ {} }}", items.join(" "))
    }

    fn fragment_spread(&mut self, type_name: &str, depth: usize) -> String {
        // on its type mostly, on another type sometimes (which validation refuses)
        let on = if !self.mistake(15) {
            type_name.to_owned()
        } else {
            let types = self.schema.object_types();
            types[self.pick(types.len())].to_owned()
        };
        self.counter += 1;
        let name = format!("F{}", self.counter);
        let body = self.selection_set(&on, depth.saturating_sub(1));
        self.fragments.push(format!("fragment {name} on {on} {body}"));
        format!("...{name}")
    }

    fn directive(&mut self) -> String {
        let name = if self.chance(50) { "skip" } else { "include" };
        let condition = match self.pick(3) {
            0 => "false".to_owned(),
            1 => "true".to_owned(),
            _ => {
                let value = self.chance(50);
                self.variable("Boolean", Value::Bool(value))
            }
        };
        format!(" @{name}(if: {condition})")
    }

    /// A variable of `ty`, declared and given `value`; its use in the document.
    fn variable(&mut self, ty: &str, value: Value) -> String {
        self.counter += 1;
        let name = format!("v{}", self.counter);
        self.definitions.push(format!("${name}: {ty}"));
        self.variables.insert(name.clone(), value);
        format!("${name}")
    }

    /// A literal for an argument of type `ty`: mostly of that type, sometimes not.
    fn value(&mut self, ty: &Type, depth: usize) -> String {
        if self.mistake(8) {
            return WRONG[self.pick(WRONG.len())].to_owned();
        }
        if self.chance(10) {
            let declared = ty.to_string();
            let value = self.json_for(ty, depth);
            return self.variable(&declared, value);
        }
        match &ty.base {
            BaseType::List(inner) => {
                let items: Vec<String> = (0..self.pick(4)).map(|_| self.value(inner, depth)).collect();
                format!("[{}]", items.join(", "))
            }
            BaseType::Named(name) => self.named_value(name, depth),
        }
    }

    fn named_value(&mut self, name: &str, depth: usize) -> String {
        let quoted = |s: &str| serde_json::to_string(s).expect("a string");
        match name {
            "Int" => self.draw(INTS).to_owned(),
            "Float" => self.draw(FLOATS).to_owned(),
            "Boolean" => ["true", "false"][self.pick(2)].to_owned(),
            "ID" if !self.ids.is_empty() && !self.chance(30) => quoted(&self.ids[self.pick(self.ids.len())]),
            "ID" => quoted(ODD_IDS[self.pick(ODD_IDS.len())]),
            "NaiveDate" => quoted(self.draw(DATES)),
            "DateTime" => quoted(self.draw(DATE_TIMES)),
            // a NUL is refused before anything runs: not in a strict document
            "String" => {
                let strings: Vec<_> =
                    INTERESTING_STRINGS.iter().filter(|s| !self.strict || !s.contains('\0')).collect();
                quoted(strings[self.pick(strings.len())])
            }
            _ => match self.schema.types.get(name) {
                Some(TypeKind::Enum(e)) => {
                    if e.values.is_empty() || self.mistake(5) {
                        "NOT_A_VALUE".to_owned()
                    } else {
                        e.values[self.pick(e.values.len())].node.value.node.to_string()
                    }
                }
                Some(TypeKind::InputObject(input)) if depth > 0 => {
                    let fields: Vec<_> =
                        input.fields.iter().map(|f| (f.node.name.node.to_string(), f.node.ty.node.clone())).collect();
                    let parts: Vec<String> = fields
                        .iter()
                        .filter_map(|(field, ty)| {
                            let wanted = !ty.nullable || self.chance(40);
                            wanted.then(|| format!("{field}: {}", self.value(ty, depth - 1)))
                        })
                        .collect();
                    format!("{{ {} }}", parts.join(", "))
                }
                _ => "{}".to_owned(),
            },
        }
    }

    /// From a pool of values that fit their type, or (a mistake) of values that do not.
    fn draw(&mut self, (fitting, odd): Pool) -> &'static str {
        if self.mistake(25) { odd[self.pick(odd.len())] } else { fitting[self.pick(fitting.len())] }
    }

    /// A JSON value for a variable of type `ty` (the same pools as literals).
    fn json_for(&mut self, ty: &Type, depth: usize) -> Value {
        if self.mistake(10) {
            return [Value::Null, json!(1), json!("x"), json!([]), json!({})][self.pick(5)].clone();
        }
        match &ty.base {
            BaseType::List(inner) => Value::Array((0..self.pick(3)).map(|_| self.json_for(inner, depth)).collect()),
            BaseType::Named(name) => {
                let literal = self.named_value(name.as_str(), depth.min(1));
                // literals of the scalars are JSON as well; enum values and objects become strings
                serde_json::from_str(&literal).unwrap_or(Value::String(literal))
            }
        }
    }
}

/// Values of a scalar: those that fit it (some out of range for the API: it refuses them), and
/// those that do not.
type Pool = (&'static [&'static str], &'static [&'static str]);
const INTS: Pool = (
    &["0", "1", "2", "20", "100", "101", "-1", "2147483647", "-2147483648"],
    &["2147483648", "1e3", "1.5", "99999999999999999999"],
);
const FLOATS: Pool = (&["0", "1.5", "-0.0", "1e308", "4"], &["1e309", "\"1\""]);
const DATES: Pool = (
    &["2026-01-01", "2026-12-31", "2025-09-01", "0001-01-01", "9999-12-31"],
    &["2026-02-30", "+99999-01-01", "0000-01-01", "-0001-01-01", "hier", ""],
);
const DATE_TIMES: Pool = (
    &["2026-01-01T00:00:00Z", "2026-06-01T12:00:00+02:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"],
    &["+262142-09-13T00:00:00Z", "+275760-09-13T00:00:00Z", "9999-12-31T23:00:00-05:00", "now", "2026-01-01"],
);
const ODD_IDS: &[&str] =
    &["", "x", "UHJvamVjdDp4", "////", "UHJvamVjdDowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA", "🦀"];
const WRONG: &[&str] = &["null", "1", "\"x\"", "true", "[]", "{}", "[[1]]", "{ a: 1 }", "ACTIVE", "$undeclared"];

// ----- (c) random variables -----

/// Operations that take variables, one per family of the API.
const WITH_VARIABLES: &[&str] = &[
    "query($first: Int, $last: Int, $after: String, $before: String, $filter: ProjectFilterInput, $order: ProjectOrderBy) {
       projects(first: $first, last: $last, after: $after, before: $before, filter: $filter, orderBy: $order) {
         totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id reference status holders { role } } } } }",
    "query($first: Int, $filter: SessionFilterInput, $order: SessionOrderBy) {
       sessions(first: $first, filter: $filter, orderBy: $order) { totalCount edges { node { id title facilitators { displayName } } } } }",
    "query($id: ID!, $asOf: DateTime) { project(id: $id, asOf: $asOf) { id reference version phases { phase } } }",
    "query($id: ID!) { node(id: $id) { id ... on Session { title } ... on Person { displayName } } }",
    "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
    "query($from: NaiveDate!, $to: NaiveDate!, $codes: [String!]) {
       indicators(from: $from, to: $to, academieCode: $codes) { academieCodes projects { total } sessions { held } } }",
    "query($all: Boolean!, $skip: Boolean!) { academies(includeHistorical: $all) { code name @skip(if: $skip) } }",
    "mutation($input: SubmitProjectInput!) { submitProject(input: $input) { clientMutationId project { id reference } } }",
];

#[test]
fn random_variables() {
    let target = Target::serve();
    const VARIABLE_NAMES: &[&str] = &[
        "first", "last", "after", "before", "filter", "order", "id", "asOf", "ids", "from", "to", "codes", "all",
        "skip",
    ];
    let variables = prop_oneof![
        8 => prop::collection::btree_map(
            prop_oneof![3 => prop::sample::select(VARIABLE_NAMES).prop_map(str::to_owned), 1 => json_key()],
            json_value(),
            0..6,
        )
        .prop_map(|m| Value::Object(m.into_iter().collect())),
        1 => json_value(),
    ];
    let ids = target.ids.clone();
    let with_real_id = (prop::sample::select(ids), any::<bool>());
    run(
        "variables",
        (prop::sample::select(WITH_VARIABLES), variables, with_real_id, any::<bool>()),
        |(query, mut variables, (id, use_it), authenticated)| {
            if use_it && let Some(vars) = variables.as_object_mut() {
                vars.insert("id".into(), json!(id));
                vars.insert("ids".into(), json!([id, "x"]));
            }
            target.post_json(&json!({ "query": query, "variables": variables }), authenticated)
        },
    );
    // the generator must reach the resolvers, not only the validation (a schema.graphql that
    // drifted from the code, or a generator too eager to make mistakes, would not)
    let ran = target.report();
    assert!(ran * 20 >= target.cases(), "only {ran} answers with data: the resolvers hardly ran");
}

// ----- (d) random GET query strings -----

/// Percent-encodes everything but unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn random_get_query_strings() {
    let target = Target::serve();
    let document = prop_oneof![
        prop::sample::select(INTERESTING_STRINGS).prop_map(str::to_owned),
        prop::sample::select(WITH_VARIABLES).prop_map(str::to_owned),
        prop::collection::vec(token(), 0..30).prop_map(|t| t.join(" ")),
    ];
    let part = prop_oneof![
        3 => document.prop_map(|d| format!("query={}", encode(&d))),
        2 => json_value().prop_map(|v| format!("variables={}", encode(&v.to_string()))),
        1 => "\\PC{0,12}".prop_map(|v| format!("variables={}", encode(&v))),
        1 => "[a-zA-Z]{0,8}".prop_map(|n| format!("operationName={n}")),
        // raw: broken escapes, repeated keys, stray separators
        2 => "(%[0-9A-Fa-zZ]{0,2}|[&=+;?/a-z]|query|variables){0,12}",
    ];
    run("get", (prop::collection::vec(part, 0..4), any::<bool>()), |(parts, authenticated)| {
        let query = parts.join("&");
        let request = target.client.get(format!("{}?{query}", target.url()));
        target.check(request, authenticated, &query)
    });
    target.report();
}

// ----- bombs: the sizes a generator rarely reaches -----

#[tokio::test]
async fn nested_and_oversized_documents_are_refused_cleanly() {
    let db = FreshDatabase::create().await;
    let app = spawn_app_with(&db.url, |c| c.rate_limit.per_minute = 0).await;
    let token = app.token(Role::LabTeam, &[]);
    let depth = 15_000;
    let documents = [
        format!("{}{}", "{ a ".repeat(depth), "}".repeat(depth)),
        format!("{{ projects(filter: {}1{}) {{ totalCount }} }}", "[".repeat(depth), "]".repeat(depth)),
        format!("{{ projects(filter: {}1{}) {{ totalCount }} }}", "{a:".repeat(depth / 2), "}".repeat(depth / 2)),
        // deep, yet under the parser's limits: the validation rules walk it
        format!("{{ projects(filter: {{ status: {}ACTIVE{} }}) {{ totalCount }} }}", "[".repeat(300), "]".repeat(300)),
        format!("{{ {} }}", "__typename ".repeat(8_000)),
        format!("{{ a: \"{}\" }}", "\\u0041".repeat(10_000)),
        "query(".repeat(10_000),
    ];
    for document in documents {
        let body = json!({ "query": document }).to_string();
        let res = app
            .post_graphql()
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("an answer");
        let status = res.status();
        let text = res.text().await.expect("a body");
        assert!(status == 200 || status == 400 || status == 413, "{status}: {text:.300}");
        if status == 200 {
            let json: Value = serde_json::from_str(&text).expect("JSON");
            let errors = json["errors"].as_array().unwrap_or_else(|| panic!("refused: {text:.300}"));
            assert!(errors.iter().all(|e| e["extensions"]["code"].is_string()), "{text:.300}");
        }
    }
    let nested_variables = format!(
        "{{\"query\": \"query($f: ProjectFilterInput) {{ projects(filter: $f) {{ totalCount }} }}\", \"variables\": {{\"f\": {}1{}}}}}",
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    let res = app.post_graphql_raw("application/json", nested_variables).await;
    assert_eq!(res.status(), 400, "serde_json's recursion limit");
    assert_eq!(app.get("/healthz").await.status(), 200, "still up");
}
