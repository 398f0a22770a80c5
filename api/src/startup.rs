//! Building the application: bind the port, open the store, start the live feed, mount the
//! routes (zero-to-production `startup.rs`). Tests build the same application on port 0.
//!
//! The port comes first ([`bind`]): a port in use fails the start before any migration, demo
//! data, secret or database file is written (`carnet serve` binds, then loads the demo data,
//! then builds the application on that listener with [`Application::build_on`]). Every URL this
//! module prints goes through [`redact`], the store's one redaction.
//!
//! Shutdown: on SIGTERM or SIGINT the live feed stops first, so that WebSocket connections
//! close (1001) instead of holding the server for the whole grace period, then in-flight
//! requests get [`SHUTDOWN_GRACE`] to finish.

use crate::access_log::AccessLog;
use crate::auth::TokenVerifier;
use crate::config::Config;
use crate::identity::Authenticator;
use crate::rate_limit::RateLimit;
use crate::{graphql, routes, transparency, ws};
use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use carnet_lab::Lab;
use carnet_lab::live::LiveFeed;
use carnet_lab::log_check::LogGuard;
use carnet_store::AnyStore;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::net::TcpListener;
use std::sync::OnceLock;

/// Largest request body accepted, in bytes (and largest WebSocket message).
pub(crate) const BODY_LIMIT: usize = 100 * 1024;
/// How long in-flight requests get to finish on shutdown, in seconds.
const SHUTDOWN_GRACE: u64 = 30;

/// What every handler may need, shared across workers.
#[derive(Clone)]
pub struct AppState {
    pub store: AnyStore,
    /// The command side: every mutation goes through it.
    pub lab: Lab,
    /// Who is calling: token verification and the identity's person.
    pub auth: Authenticator,
    pub metrics: PrometheusHandle,
    pub config: Config,
    /// The process's one follower of the log, which subscriptions filter.
    pub live: LiveFeed,
    /// Every caller's budget of requests (`rate_limit.rs`).
    pub rate_limit: RateLimit,
    /// Where each request is recorded (`access_log.rs`).
    pub access_log: AccessLog,
    /// Whether the log is whole: as far as it was ever seen, backing every read model
    /// (`carnet_lab::log_check`); `/readyz` fails when it is not.
    pub log_guard: LogGuard,
    /// Development only: the printed local tokens, GraphiQL's default (`dev_tokens.rs`).
    pub dev_tokens: Option<std::sync::Arc<crate::dev_tokens::DevTokens>>,
    /// The WebSocket operations each caller runs now (`ws.rs`).
    pub operations: crate::ws::Operations,
    /// The places of the folds of the log (`graphql/expensive.rs`).
    pub expensive: crate::graphql::expensive::Expensive,
    /// The witnesses whose cosignatures are kept and reported (`[checkpoints] witnesses`).
    pub witnesses: std::sync::Arc<Vec<carnet_store::integrity::witness::WitnessVerifier>>,
}

pub struct Application {
    port: u16,
    verifier: TokenVerifier,
    dev_tokens: Option<std::sync::Arc<crate::dev_tokens::DevTokens>>,
    server: Server,
    live: LiveFeed,
}

/// The server's port, taken before anything else happens: a port in use fails the start before
/// any file, table or event is written (`carnet serve` binds it before the demo data loads).
pub fn bind(config: &Config) -> anyhow::Result<TcpListener> {
    TcpListener::bind((config.host.as_str(), config.port)).with_context(|| {
        format!("cannot listen on {}:{} (host, port): nothing was started or written", config.host, config.port)
    })
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener = bind(&config)?;
        Self::build_on(config, listener).await
    }

    /// The application on a listener already bound by [`bind`].
    pub async fn build_on(config: Config, listener: TcpListener) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        let store = open_store(config.database_url.expose()).await?;
        store.start_notifications().await.context("cannot LISTEN for other instances' appends")?;
        let verifier = TokenVerifier::load_or_create(std::path::Path::new(&config.jwt_secret_file))
            .with_context(|| format!("cannot read or create the token secret {}", config.jwt_secret_file))?
            .with_oidc(&config.oidc)
            .await?;
        let master_keys = config.load_master_keys(true).context("master keys")?;
        let lab = Lab::new(store.clone(), config.reference_prefix.clone(), master_keys);
        let live = LiveFeed::start(store.clone()).await.context("cannot start following the event log")?;
        // signed checkpoints of the log's tree; the last one issued is checked against the log
        let remembered = config.load_remembered().context("checkpoints")?;
        let witnesses = std::sync::Arc::new(config.checkpoints.witness_keys()?);
        let log_guard =
            LogGuard::start(store.clone(), remembered.clone()).await.context("cannot check that the log is whole")?;
        if let Some(remembered) = remembered {
            carnet_lab::checkpoints::start(store.clone(), remembered, &config.checkpoints);
        }
        crate::timestamps::start(store.clone(), &config.checkpoints);
        // periodic global seals of the log (tamper evidence, DESIGN §3.3)
        carnet_store::integrity::start_sealer(store.clone(), config.sealing.clone());
        let auth = Authenticator::new(verifier.clone(), lab.clone(), config.first_login);
        let rate_limit = RateLimit::new(&config.rate_limit);
        let access_log = AccessLog::start(store.clone(), config.access_log_retention_days);
        let dev_tokens = crate::dev_tokens::DevTokens::for_config(&config, &verifier).map(std::sync::Arc::new);
        let expensive = crate::graphql::expensive::Expensive::new(&config.expensive_queries);
        let state = AppState {
            store,
            lab,
            auth,
            metrics: metrics_handle(),
            config,
            live: live.clone(),
            rate_limit,
            access_log,
            log_guard,
            dev_tokens: dev_tokens.clone(),
            operations: Default::default(),
            expensive,
            witnesses,
        };
        let schema = web::Data::new(graphql::build_schema(state.clone()));
        let origins = state.config.cors_allowed_origins.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .app_data(schema.clone())
                // the body cap (DESIGN §5): larger requests get 413 before any parsing
                .app_data(web::PayloadConfig::new(BODY_LIMIT))
                .app_data(web::QueryConfig::default().error_handler(graphql::bad_query_string))
                .route("/graphql", web::post().to(graphql::post))
                .route("/graphql", web::get().to(graphql::get))
                .route("/graphql/ws", web::get().to(ws::handle))
                .wrap(cors(&origins))
                .wrap(actix_web::middleware::from_fn(routes::observe))
                .route("/", web::get().to(routes::graphiql))
                .route("/assets/graphiql/{file}", web::get().to(routes::graphiql_asset))
                .route("/healthz", web::get().to(routes::healthz))
                .route("/readyz", web::get().to(routes::readyz))
                .route("/metrics", web::get().to(routes::metrics))
                .route("/checkpoint", web::get().to(transparency::checkpoint))
                .route("/checkpoint/key", web::get().to(transparency::checkpoint_key))
                .route("/checkpoint/consistency", web::get().to(transparency::consistency))
                .route("/checkpoint/cosignature", web::post().to(transparency::cosignature))
        })
        .listen(listener)?
        // graceful shutdown: on SIGINT/SIGTERM, in-flight requests get this long to finish
        .shutdown_timeout(SHUTDOWN_GRACE)
        .shutdown_signal({
            let live = live.clone();
            async move {
                shutdown_requested().await;
                tracing::info!("shutting down: closing live connections, finishing requests");
                live.stop().await;
            }
        })
        .run();
        Ok(Self { port, verifier, dev_tokens, server, live })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Development only: the local tokens to print, the first of them in GraphiQL.
    pub fn dev_tokens(&self) -> Option<&crate::dev_tokens::DevTokens> {
        self.dev_tokens.as_deref()
    }

    /// The server's token verifier, to mint local tokens with its secret.
    pub fn verifier(&self) -> &TokenVerifier {
        &self.verifier
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let stopped = self.server.await;
        // however the server ended, the feed ends with it
        self.live.stop().await;
        stopped
    }
}

/// SIGTERM (what orchestrators send) or SIGINT (Ctrl-C): both stop gracefully.
async fn shutdown_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only"),
        }
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::warn!(error = %e, "cannot listen for Ctrl-C; the server stops only when killed");
        std::future::pending::<()>().await;
    }
}

/// Browsers may call the API from the configured origins only (DESIGN §5, a ministry front end
/// on its own domain); a request from any other origin gets no CORS headers, so the browser
/// keeps the answer from the page. Tokens travel in `Authorization`, never in cookies, so no
/// credentials mode is allowed.
fn cors(origins: &[String]) -> actix_cors::Cors {
    origins
        .iter()
        .fold(actix_cors::Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods(["GET", "POST"])
        .allowed_headers([actix_web::http::header::AUTHORIZATION, actix_web::http::header::CONTENT_TYPE])
        // what a front end reads of an answer: its id, and where its caller stands in the rate
        // limit (`rate_limit.rs`)
        .expose_headers([
            "x-request-id",
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            "retry-after",
        ])
        .max_age(600)
        // other origins get an answer without CORS headers, which their page cannot read; not
        // a 400, so that same-origin pages (GraphiQL), which browsers also send an `Origin`
        // from, keep working
        .block_on_origin_mismatch(false)
}

/// Opens the store at `url` and applies migrations. A new SQLite file and its folder are created
/// readable by their owner only (`carnet_store::private_files`). Errors name the URL through
/// [`redact`] only.
pub async fn open_store(url: &str) -> anyhow::Result<AnyStore> {
    let store = AnyStore::connect(url).await.with_context(|| format!("cannot open the database ({})", redact(url)))?;
    store.migrate().await.context("migrations failed")?;
    Ok(store)
}

/// One Prometheus recorder per process (the `metrics` facade is global).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // fails only if another recorder is installed, in which case ours just stays unused
            let _ = metrics::set_global_recorder(recorder);
            crate::telemetry::metric::describe();
            handle
        })
        .clone()
}

/// The URL without its secrets, for messages: the one redaction, `carnet_store::database_url`.
pub use carnet_store::redact_url as redact;
