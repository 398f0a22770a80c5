//! What the server suite's tests share: the real binary ([`carnet`]), the application in process
//! ([`spawn_app`], [`TestApp`] and its mutation helpers), the demo data and seeds loaded through
//! the command side ([`Lab`]), and a GraphQL-over-WebSocket client ([`GraphqlWs`]). Fresh
//! databases come from carnet-testkit ([`FreshDatabase`], [`TempDir`]).

use carnet_lab::Lab;
pub use carnet_testkit::{FreshDatabase, TempDir};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub struct Output {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the real `carnet args…` binary with `CARNET_DATABASE_URL=url`, in `dir` if given.
pub fn carnet(args: &[&str], url: &str, dir: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_carnet"));
    cmd.args(args).env("CARNET_DATABASE_URL", url).env("RUST_LOG", "warn");
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let out = cmd.output().expect("run carnet");
    Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// [`carnet`] off the test's thread, for a test whose in-process server must keep running
/// meanwhile: on SQLite a blocked runtime can hold the file's write lock (a checkpoint being
/// written) for as long as the command waits for it.
pub async fn carnet_beside(args: &[&str], url: &str, dir: Option<&Path>) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let (url, dir) = (url.to_owned(), dir.map(Path::to_path_buf));
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        carnet(&args, &url, dir.as_deref())
    })
    .await
    .expect("carnet")
}

/// How many events the log at `url` holds, committed, counted in the table itself: not bound
/// to the horizon of the PostgreSQL cluster the tests share, as the `events` feed is.
pub async fn committed_events(url: &str) -> u64 {
    const SQL: &str = "select count(*) from events";
    let count: i64 = match carnet_api::startup::open_store(url).await.expect("store") {
        carnet_store::AnyStore::Postgres(s) => sqlx::query_scalar(SQL).fetch_one(s.pool()).await,
        carnet_store::AnyStore::Sqlite(s) => sqlx::query_scalar(SQL).fetch_one(s.reader()).await,
    }
    .expect("count");
    count as u64
}

/// How many events the log of `db` holds.
pub async fn event_count(db: &FreshDatabase) -> i64 {
    sqlx::query_scalar("select count(*) from events").fetch_one(&db.pool).await.expect("count")
}

/// The application, as `carnet serve` builds it, on a free port.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// The server's token secret, to mint tokens as `carnet token` does.
    pub secret: PathBuf,
    /// The folder of the server's secret and checkpoint key, removed when the app is dropped
    /// (`None`: the caller keeps its files); held, never read.
    pub _files: Option<carnet_testkit::TempDir>,
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.address)).send().await.expect("request")
    }

    /// A POST to /graphql, for the test to finish (headers, body) and send.
    pub fn post_graphql(&self) -> reqwest::RequestBuilder {
        self.client.post(format!("{}/graphql", self.address))
    }

    /// POSTs `body` to /graphql with the given content type.
    pub async fn post_graphql_raw(&self, content_type: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.post_graphql().header("content-type", content_type).body(body).send().await.expect("request")
    }

    /// POSTs `query` as JSON, with `token` if any and extra `headers`: the raw response, whatever
    /// its status.
    pub async fn post_query(&self, token: Option<&str>, query: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request =
            self.post_graphql().header("content-type", "application/json").body(json!({ "query": query }).to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request")
    }

    /// Runs a GraphQL document the way a front end does, and returns the JSON response.
    pub async fn graphql(&self, query: &str, variables: serde_json::Value) -> serde_json::Value {
        self.graphql_as(None, query, variables).await
    }

    /// The same, with a bearer token.
    pub async fn graphql_as(
        &self,
        token: Option<&str>,
        query: &str,
        variables: serde_json::Value,
    ) -> serde_json::Value {
        let body = serde_json::json!({ "query": query, "variables": variables }).to_string();
        let mut req = self.post_graphql().header("content-type", "application/json").body(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let body: serde_json::Value = res.json().await.expect("JSON response");
        // 401 goes with UNAUTHENTICATED, and only with it
        let unauthenticated = body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED";
        assert_eq!(status, if unauthenticated { 401 } else { 200 }, "{body}");
        body
    }

    /// A local token for `role` (and académies, for `ACADEMIE`).
    pub fn token(&self, role: carnet_domain::person::Role, academies: &[&str]) -> String {
        let codes: Vec<_> =
            academies.iter().map(|c| carnet_domain::values::AcademieCode::parse(c).expect("académie")).collect();
        carnet_api::auth::TokenVerifier::load_or_create(&self.secret).expect("secret").mint(
            "test-user",
            &[role],
            &codes,
            1,
        )
    }

    /// Runs mutation `name` (its input type is `NameInput`) with `input`, asking its payload for
    /// `selection`: the whole response.
    pub async fn mutation(&self, token: &str, name: &str, input: Value, selection: &str) -> Value {
        let input_type = format!("{}{}Input", name[..1].to_uppercase(), &name[1..]);
        let doc = format!("mutation($input: {input_type}!) {{ {name}(input: $input) {{ {selection} }} }}");
        self.graphql_as(Some(token), &doc, json!({ "input": input })).await
    }

    /// Runs mutation `name` with `input` and returns its payload's `entity` (`project`,
    /// `session`, `person` …) with `fields`, or the whole response when the payload has none (the
    /// mutation was refused).
    pub async fn try_mutate(
        &self,
        token: &str,
        name: &str,
        input: Value,
        entity: &str,
        fields: &str,
    ) -> Result<Value, Value> {
        let res = self.mutation(token, name, input, &format!("clientMutationId {entity} {{ {fields} }}")).await;
        match res["data"][name][entity].clone() {
            Value::Null => Err(res),
            value => Ok(value),
        }
    }

    /// The same, failing the test unless the mutation succeeds without an error.
    pub async fn mutate(&self, token: &str, name: &str, input: Value, entity: &str, fields: &str) -> Value {
        let res = self.mutation(token, name, input, &format!("clientMutationId {entity} {{ {fields} }}")).await;
        let value = res["data"][name][entity].clone();
        assert!(res["errors"].is_null() && !value.is_null(), "{name} failed: {res}");
        value
    }

    /// Runs mutation `name` with `input`, failing the test unless it succeeds: the payload's
    /// `entity` with its `id` and `version` (what a test that follows the log needs of it).
    pub async fn execute(&self, token: &str, name: &str, entity: &str, input: Value) -> Value {
        self.mutate(token, name, input, entity, "id version").await
    }

    /// Runs `query` without variables as `token`: the JSON response.
    pub async fn ask(&self, token: &str, query: impl AsRef<str>) -> Value {
        self.graphql_as(Some(token), query.as_ref(), json!({})).await
    }

    /// Submits [`project_submission`]`(title, academie)`: the new project's [`PROJECT_FIELDS`].
    pub async fn submit_project(&self, token: &str, title: &str, academie: &str) -> Value {
        self.mutate(token, "submitProject", project_submission(title, academie), "project", PROJECT_FIELDS).await
    }

    /// Registers a person (given and usual names, an email at example.org): the new person's
    /// [`PERSON_FIELDS`].
    pub async fn register_person(&self, token: &str, given: &str, usual: &str) -> Value {
        let profile = json!({ "givenName": given, "usualName": usual, "email": format!("{given}@example.org") });
        self.mutate(token, "registerPerson", json!({ "profile": profile }), "person", PERSON_FIELDS).await
    }
}

/// The fields of a person that [`TestApp::register_person`] asks for.
pub const PERSON_FIELDS: &str = "id displayName givenName usualName email roles { code academieCodes } erased version";

/// The fields of a project that [`TestApp::submit_project`] asks for.
pub const PROJECT_FIELDS: &str = "id reference status statusLabel phase phaseLabel supportMode progress academieCodes \
                                  establishments phases { phase startedOn endedOn } version";

/// A submission in académie 24 as a front end writes it, the title `$t` its only variable: the
/// new project's `id version`.
pub const SUBMIT_TITLED: &str = "mutation($t: String!) { submitProject(input: { title: $t, \
                                 problemStatement: \"Un besoin.\", supportMode: PUNCTUAL, academieCodes: [\"24\"] }) \
                                 { project { id version } } }";

/// POSTs `body` as JSON to the /graphql of a served process at `address`, with `token`: the
/// JSON answer, whatever it says.
pub async fn post_served(client: &reqwest::Client, address: &str, token: &str, body: &Value) -> Value {
    let res = client.post(format!("{address}/graphql")).bearer_auth(token).json(body).send().await.expect("request");
    res.json().await.expect("JSON")
}

/// What the `/metrics` of a served process at `address` counts in `metric`, all labels together.
pub async fn metric_total(client: &reqwest::Client, address: &str, metric: &str) -> u64 {
    let metrics = client.get(format!("{address}/metrics")).send().await.expect("metrics").text().await.expect("text");
    let prefix = format!("{metric}{{");
    metrics
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// The input of a project submitted in `academie` on 2026-09-14, titled `title`.
pub fn project_submission(title: &str, academie: &str) -> Value {
    json!({
        "title": title,
        "problemStatement": "Les élèves de seconde décrochent en mathématiques.",
        "supportMode": "INCUBATION",
        "academieCodes": [academie],
        "themes": ["numérique"],
        "submittedOn": "2026-09-14",
    })
}

/// The master keys of the applications the tests build, and of the labs they load data with:
/// one random key per test run.
pub fn test_master_keys() -> std::sync::Arc<carnet_store::MasterKeys> {
    static KEYS: std::sync::OnceLock<std::sync::Arc<carnet_store::MasterKeys>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| std::sync::Arc::new(carnet_store::MasterKeys::generate("test"))).clone()
}

/// A fresh PostgreSQL database and the application on it.
pub async fn fresh_app() -> (FreshDatabase, TestApp) {
    let db = FreshDatabase::create().await;
    let app = spawn_app(&db.url).await;
    (db, app)
}

/// The same, and a token for `role` (of no académie).
pub async fn fresh_app_as(role: carnet_domain::person::Role) -> (FreshDatabase, TestApp, String) {
    let (db, app) = fresh_app().await;
    let token = app.token(role, &[]);
    (db, app, token)
}

pub async fn spawn_app(database_url: &str) -> TestApp {
    spawn_app_with(database_url, |_| {}).await
}

/// The application with a configuration adjusted by `tweak`.
pub async fn spawn_app_with(database_url: &str, tweak: impl FnOnce(&mut carnet_api::config::Config)) -> TestApp {
    carnet_testkit::init_logs();
    // never the working tree's data/: one secret and one checkpoint key per app, gone with it
    let files = carnet_testkit::TempDir::new();
    let mut config = carnet_api::config::Config {
        database_url: carnet_lab::Secret::new(database_url),
        port: 0,
        jwt_secret_file: files.path().join("jwt-secret").display().to_string(),
        master_keys: Some(carnet_lab::master_keys::MasterKeysConfig::of(&test_master_keys())),
        checkpoints: carnet_lab::checkpoints::CheckpointConfig {
            key_file: files.path().join("checkpoint-key").display().to_string(),
            ..Default::default()
        },
        ..Default::default()
    };
    // a key made beforehand, as production requires
    let (key, _) = carnet_store::integrity::checkpoint::CheckpointSigner::generate("carnet.test/log").expect("a key");
    carnet_lab::checkpoints::write_key(std::path::Path::new(&config.checkpoints.key_file), &key).expect("key file");
    tweak(&mut config);
    let secret = PathBuf::from(&config.jwt_secret_file);
    let app = carnet_api::startup::Application::build(config).await.expect("build the application");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    // idle connections dropped before the server's keep-alive (5 s) closes them: a request on a
    // connection the server is closing fails (`IncompleteMessage`) after a slow step of a test
    let client = reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(2)).build().expect("client");
    TestApp { address, client, secret, _files: Some(files) }
}

/// The command side on the database at `url`, as the server opens it (lab `110B`, the tests'
/// master keys).
pub async fn lab(url: &str) -> Lab {
    let store = carnet_api::startup::open_store(url).await.expect("store");
    Lab::new(store, "110B", test_master_keys())
}

/// A fresh database with the demo data of `today` loaded through the commands.
pub async fn demo_database(today: chrono::NaiveDate) -> FreshDatabase {
    let db = FreshDatabase::create().await;
    carnet_lab::demo::load(&lab(&db.url).await, today).await.expect("demo data");
    db
}

/// Submits a project bearing `reference` (imported, say: no number allocated) through the
/// command side, as the API does ([`Lab::execute`], inline read model included).
pub async fn seed_project(database_url: &str, reference: &str, academie: &str, submitted_on: &str) -> uuid::Uuid {
    use carnet_domain::project::{Project, ProjectCommand, SupportMode};
    use carnet_domain::values::*;
    let id = ProjectId::new();
    let command = ProjectCommand::SubmitProject {
        id,
        reference: ProjectReference::parse(reference).unwrap(),
        title: Title::parse(&format!("Projet {reference}")).unwrap(),
        problem_statement: LongText::parse("Un problème de terrain.").unwrap(),
        summary: None,
        support_mode: SupportMode::Incubation,
        academies: [AcademieCode::parse(academie).unwrap()].into(),
        themes: vec![],
        target_users: vec![],
        submitted_on: chrono::NaiveDate::parse_from_str(submitted_on, "%Y-%m-%d").unwrap(),
    };
    let actor = carnet_store::Actor { id: "seed".into(), issuer: "carnet-test".into() };
    let metadata = carnet_store::Metadata::new(actor);
    lab(database_url).await.execute::<Project>(id.0, &command, &metadata, None).await.expect("submit");
    id.0
}

/// How long a test waits for a WebSocket message before failing.
pub const WS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A GraphQL client over WebSocket (`graphql-transport-ws`), as a front end's graphql-ws.
pub struct GraphqlWs {
    socket: Socket,
    /// Messages of other operations, received while waiting for one.
    held: std::collections::VecDeque<serde_json::Value>,
}

impl TestApp {
    /// Opens `/graphql/ws` offering `graphql-transport-ws`; nothing sent yet.
    pub async fn ws(&self) -> GraphqlWs {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("{}/graphql/ws", self.address.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request().expect("a WebSocket request");
        request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("header"));
        let (socket, response) = tokio_tungstenite::connect_async(request).await.expect("WebSocket upgrade");
        assert_eq!(
            response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()),
            Some("graphql-transport-ws")
        );
        GraphqlWs { socket, held: Default::default() }
    }

    /// A connection initialised with `token` (`connection_ack` received).
    pub async fn ws_as(&self, token: &str) -> GraphqlWs {
        let mut ws = self.ws().await;
        ws.init(serde_json::json!({ "Authorization": format!("Bearer {token}") })).await;
        let ack = ws.next_message().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        ws
    }
}

impl GraphqlWs {
    pub async fn send(&mut self, message: serde_json::Value) {
        use futures::SinkExt;
        self.socket.send(message.to_string().into()).await.expect("send a WebSocket message");
    }

    pub async fn init(&mut self, payload: serde_json::Value) {
        self.send(serde_json::json!({ "type": "connection_init", "payload": payload })).await;
    }

    /// Starts operation `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: serde_json::Value) {
        let payload = serde_json::json!({ "query": query, "variables": variables });
        self.send(serde_json::json!({ "type": "subscribe", "id": id, "payload": payload })).await;
    }

    /// Stops operation `id`.
    pub async fn complete(&mut self, id: &str) {
        self.send(serde_json::json!({ "type": "complete", "id": id })).await;
    }

    /// The next protocol message, within [`WS_TIMEOUT`]; fails the test on a close or a timeout.
    pub async fn next_message(&mut self) -> serde_json::Value {
        self.next_message_for("any operation").await
    }

    async fn next_message_for(&mut self, waiting_for: &str) -> serde_json::Value {
        match tokio::time::timeout(WS_TIMEOUT, self.next_frame()).await {
            Ok(Ok(message)) => message,
            Ok(Err((code, reason))) => panic!("the server closed the WebSocket ({code} {reason}) instead of answering"),
            Err(_) => panic!("no WebSocket message for {waiting_for} within {WS_TIMEOUT:?}"),
        }
    }

    /// The next message of operation `id` (`next`, `error` or `complete`); those of other
    /// operations received meanwhile are kept for them.
    pub async fn next_of(&mut self, id: &str) -> serde_json::Value {
        if let Some(at) = self.held.iter().position(|m| m["id"] == id) {
            return self.held.remove(at).expect("a held message");
        }
        loop {
            let message = self.next_message_for(&format!("operation {id}")).await;
            if message["id"] == id {
                return message;
            }
            self.held.push_back(message);
        }
    }

    /// The payload of the next `next` message of operation `id`.
    pub async fn next_data(&mut self, id: &str) -> serde_json::Value {
        let message = self.next_of(id).await;
        assert_eq!(message["type"], "next", "operation {id}: {message}");
        message["payload"].clone()
    }

    /// The code and reason the server closes the connection with, within [`WS_TIMEOUT`].
    pub async fn closed(&mut self) -> (u16, String) {
        self.closed_within(WS_TIMEOUT).await
    }

    /// The same, within `limit`.
    pub async fn closed_within(&mut self, limit: std::time::Duration) -> (u16, String) {
        loop {
            match tokio::time::timeout(limit, self.next_frame()).await {
                Ok(Ok(message)) => eprintln!("(before the close: {message})"),
                Ok(Err(close)) => return close,
                Err(_) => panic!("the server did not close the WebSocket within {limit:?}"),
            }
        }
    }

    async fn next_frame(&mut self) -> Result<serde_json::Value, (u16, String)> {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).expect("a JSON message")),
                Some(Ok(Message::Close(frame))) => {
                    return Err(frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((1005, String::new())));
                }
                Some(Ok(_)) => {} // pings are answered by the client library
                Some(Err(e)) => panic!("WebSocket error: {e}"),
                None => return Err((1006, "the connection ended without a close frame".into())),
            }
        }
    }
}
