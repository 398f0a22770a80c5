//! `carnet-bench http`: the API under load over real HTTP (DESIGN §9, issue 3 point 7).
//!
//! The real application runs in a process of its own ([`server`]: this binary again,
//! `carnet-bench serve`, `Application::build` with the production profile on port 0), so that
//! its CPU time and memory are measured apart from the client's ([`usage`]), on a database of
//! its own: a PostgreSQL database created on the given server and dropped at
//! the end, like `carnet-bench store`, or a temporary SQLite file. It is filled with the demo
//! data and `projects` more projects through [`Lab`], so that lists have a realistic size and
//! the history is real history. Then a load driver written here (reqwest with keep-alive, tokio
//! tasks, latencies in an HDR histogram) runs four phases:
//!
//! 1. *baseline*: `GET /healthz`, closed loop at full concurrency: what this machine's HTTP stack
//!    and this client can do at all, measured in the same run so that the other figures can be
//!    read as ratios;
//! 2. `projects(first: 20)` with `totalCount`, closed loop at full concurrency: the maximum
//!    throughput, and its ratio to the baseline;
//! 3. the same query, open loop at half that throughput: the latency a user sees on a server
//!    that is busy but not saturated (DESIGN §9: p99 < 10 ms);
//! 4. a mutation mix, open loop at a fixed rate (DESIGN §9: p99 < 20 ms at 1 000/s).
//!
//! With [`Compare`] (by default on PostgreSQL: PostGraphile 5 as `tools/postgraphile/` installs
//! and starts it), another GraphQL server is started on the same database and driven with phase
//! 2's load right after it, for DESIGN §9's "≥ 2 × PostGraphile". Each phase reports the CPU
//! microseconds per request of the server, of the database's backends and of the machine.
//!
//! Open loop means a timetable fixed in advance: request `i` is due at `start + i / rate`,
//! whatever happened to the previous ones, and its latency is measured from that *intended*
//! time. A closed-loop client that waits for each answer before sending the next would send
//! less when the server slows down, and hide exactly the latencies that matter (coordinated
//! omission). When the server cannot keep up, requests queue and their latency grows; the
//! achieved rate is reported next to the asked one instead of being hidden.
//!
//! Every answer is checked (HTTP 200, and for GraphQL `data` present with no `errors`); errors
//! are counted, reported with the first message, and fail the command. Only successful
//! requests enter the latency histograms and the achieved rates.
//!
//! The client runs on the same cores as the server (and, on the project's machines, as the
//! database): its own work is part of every throughput and latency, the baseline's included;
//! the per-server CPU figures leave it out. The dispatch lag (how late the open-loop scheduler itself sent) is reported so
//! that a client too busy to keep its timetable shows.
//!
//! Files: this one (the options, the seeding, the run), [`driver`] (closed and open loop, the
//! latencies), [`client`] (the endpoint, the checks of the answers, each phase's requests),
//! [`report`] (the figures and their targets), [`compare`] (the other server), [`server`]
//! (Carnet's server process) and [`usage`] (what each process spent).

mod client;
mod compare;
mod driver;
mod report;
pub mod server;
mod usage;

use crate::scratch::{ScratchDir, ScratchPostgres};
use anyhow::Context;
use carnet_api::auth::TokenVerifier;
use carnet_api::config::{Config, LogFormat, Profile};
use carnet_api::rate_limit::RateLimitConfig;
use carnet_api::startup::open_store;
use carnet_domain::person::Role;
use carnet_domain::project::{Project, ProjectCommand, SupportMode};
use carnet_domain::reference::ReferenceKind;
use carnet_domain::values::{AcademieCode, Label, LongText, ProjectId, ProjectReference, Title};
use carnet_lab::master_keys::MasterKeysConfig;
use carnet_lab::{Lab, Secret};
use carnet_store::{Actor, Metadata};
use chrono::{Datelike, Days, NaiveDate, TimeZone, Utc};
use client::{Target, active_projects, health_job, mutation_job, read_job, total_projects};
use compare::{spawn_compare, wait_ready};
use driver::{Timetable, closed_loop, open_loop};
use futures::{StreamExt, TryStreamExt};
use report::{Report, loadavg, machine};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use usage::Watched;

/// Where the bench database lives.
#[derive(Clone, Debug)]
pub enum Backend {
    /// A PostgreSQL server on which the bench creates, and drops at the end, a database of its
    /// own (the URL names any database the user may connect to, e.g. `postgres`).
    Postgres { server_url: String },
    /// A SQLite file in a temporary folder, removed at the end.
    Sqlite,
}

/// Another GraphQL server to drive with the same read phase, on the same database (e.g.
/// PostGraphile, for DESIGN §9's "≥ 2 × PostGraphile").
#[derive(Clone, Debug)]
pub struct Compare {
    /// A short name for the report, e.g. `postgraphile`.
    pub name: String,
    /// Its GraphQL endpoint, e.g. `http://127.0.0.1:5000/graphql`.
    pub graphql_url: String,
    /// The document that asks it for the same page of projects.
    pub query: String,
    /// A shell command that starts it, `{database_url}` replaced by the bench database's URL;
    /// started once the data is in, stopped (its whole process group) at the end. `None`: it is
    /// already running, on data of its own, so the two servers do not read the same rows.
    pub command: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub backend: Backend,
    /// Concurrent clients of the closed-loop phases.
    pub connections: usize,
    /// Measured length of each phase (after its warm-up).
    pub phase: Duration,
    /// Mutations per second asked in the mutation phase.
    pub rate: f64,
    /// Projects added to the demo data.
    pub projects: usize,
    /// Percentages of `updateProjectProgress`, `recordProjectMilestone` and `submitProject` in
    /// the mutation phase; they add up to 100.
    pub mix: [u32; 3],
    /// The command line, printed with the report so that a figure says what produced it.
    pub command_line: String,
    pub compare: Option<Compare>,
}

/// `carnet-bench http`'s command line.
#[derive(clap::Args)]
pub struct Args {
    /// PostgreSQL server to create the bench database on.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// Run on a temporary SQLite file instead of PostgreSQL.
    #[arg(long)]
    sqlite: bool,
    /// Concurrent clients of the closed-loop phases.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Seconds per measured phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Mutations per second asked in the (open-loop) mutation phase.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Projects to seed beyond the demo data.
    #[arg(long, default_value_t = 1000)]
    projects: usize,
    /// Percentages of updateProjectProgress, recordProjectMilestone and submitProject in the
    /// mutation phase.
    #[arg(long, value_delimiter = ',', value_name = "P,M,S", default_values_t = [60, 20, 20])]
    mix: Vec<u32>,
    /// Do not start PostGraphile 5 for the comparison (on PostgreSQL it is started by default;
    /// PostGraphile does not serve SQLite).
    #[arg(long)]
    no_compare: bool,
    /// Where `tools/postgraphile/install.sh` installed PostGraphile 5.
    #[arg(long, env = "CARNET_POSTGRAPHILE_DIR")]
    postgraphile_dir: Option<std::path::PathBuf>,
    /// The port PostGraphile listens on.
    #[arg(long, default_value_t = 5055)]
    postgraphile_port: u16,
}

/// PostGraphile 5's document for the page Carnet's [`PROJECTS_QUERY`] asks: the same 20 projects
/// in the same order (`submitted_on`, then id), the same fields but `statusLabel` (Carnet's
/// French label, computed in Rust), the académie codes through the foreign key that
/// `tools/postgraphile/graphile.config.mjs` declares.
pub const POSTGRAPHILE_QUERY: &str = "query BenchProjects { allProjects(first: 20, orderBy: [SUBMITTED_ON_ASC, \
    ROW_ID_ASC]) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id reference title status \
    progress projectAcademiesByProjectId { nodes { academieCode } } updatedAt } } } }";

/// The folder `tools/postgraphile/install.sh` installs into by default.
fn default_postgraphile_dir() -> std::path::PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("carnet").join("postgraphile")
}

/// PostGraphile 5 as `tools/postgraphile/` installs and starts it, or why it cannot be.
fn postgraphile(dir: &std::path::Path, port: u16) -> anyhow::Result<Compare> {
    let scripts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/postgraphile");
    let cli = dir.join("node_modules/postgraphile/dist/cli-run.js");
    anyhow::ensure!(
        cli.exists(),
        "PostGraphile 5 is not installed in {}: run `tools/postgraphile/install.sh {}` (from the npm \
         registry, about 500 MB, outside the source tree), or pass --no-compare",
        dir.display(),
        dir.display()
    );
    let quote = |p: &std::path::Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
    Ok(Compare {
        name: "postgraphile".into(),
        graphql_url: format!("http://127.0.0.1:{port}/graphql"),
        query: POSTGRAPHILE_QUERY.into(),
        command: Some(format!(
            "DATABASE_URL='{{database_url}}' PORT={port} exec {} {}",
            quote(&scripts.join("run.sh")),
            quote(dir)
        )),
    })
}

impl Args {
    /// The run these arguments ask for; the command line itself goes into the report.
    pub fn options(self) -> anyhow::Result<Options> {
        let backend = if self.sqlite { Backend::Sqlite } else { Backend::Postgres { server_url: self.postgres_url } };
        let compare = match self.sqlite || self.no_compare {
            true => None,
            false => {
                let dir = self.postgraphile_dir.unwrap_or_else(default_postgraphile_dir);
                Some(postgraphile(&dir, self.postgraphile_port)?)
            }
        };
        Ok(Options {
            backend,
            connections: self.connections,
            phase: Duration::from_secs(self.seconds),
            rate: f64::from(self.rate),
            projects: self.projects,
            mix: self.mix.try_into().map_err(|_| anyhow::anyhow!("--mix takes three percentages"))?,
            command_line: std::env::args()
                .map(|a| if a.contains(' ') { format!("'{a}'") } else { a })
                .collect::<Vec<_>>()
                .join(" "),
            compare,
        })
    }
}

/// Requests in flight at most in an open-loop phase. Past it the scheduler waits (and the
/// waiting shows in the latencies, measured from the intended times): a bound on the client's
/// memory and sockets when the server falls far behind, far above what a healthy run needs.
const MAX_IN_FLIGHT: usize = 512;

/// Concurrent writers while seeding; the reference sequence of a year is one stream, so more
/// would mostly retry on conflicts.
const SEED_CONCURRENCY: usize = 4;

/// The read that the list pages of the front ends make.
pub const PROJECTS_QUERY: &str = "query BenchProjects { projects(first: 20) { totalCount \
    pageInfo { hasNextPage endCursor } edges { cursor node { id reference title status statusLabel \
    progress academieCodes updatedAt } } } }";

const MUTATION_CLASSES: [&str; 3] = ["updateProjectProgress", "recordProjectMilestone", "submitProject"];

/// Académie codes the seeded projects are spread over.
const ACADEMIES: [&str; 8] = ["01", "02", "09", "10", "14", "17", "24", "25"];
const THEMES: [&str; 6] = ["pédagogie", "inclusion", "numérique", "orientation", "bien-être", "vie scolaire"];

/// Submits project `n` (dated in the past three years) and, for most, qualifies and accepts it,
/// the way the lab would have.
async fn seed_project(lab: &Lab, today: NaiveDate, n: usize) -> anyhow::Result<()> {
    let actor = Actor { id: "carnet-bench".into(), issuer: "carnet-bench".into() };
    let submitted = today.checked_sub_days(Days::new((n as u64 * 7) % 1000 + 1)).unwrap_or(today);
    let metadata = || Metadata {
        occurred_at: Utc.from_utc_datetime(&submitted.and_hms_opt(9, 0, 0).unwrap_or_default()),
        ..Metadata::new(actor.clone())
    };
    let id = ProjectId::new();
    let support_mode = if n.is_multiple_of(3) { SupportMode::Punctual } else { SupportMode::Incubation };
    let title = Title::parse(&format!("Projet d'essai n° {n} : {}", THEMES[n % THEMES.len()]))?;
    let problem = LongText::parse("Une équipe de terrain décrit un besoin que le lab l'aide à instruire.")?;
    let academies: BTreeSet<AcademieCode> = [AcademieCode::parse(ACADEMIES[n % ACADEMIES.len()])?].into();
    let themes = vec![Label::parse(THEMES[n % THEMES.len()])?];
    let build = |reference: &str| {
        Ok(ProjectCommand::SubmitProject {
            id,
            reference: ProjectReference::parse(reference)?,
            title: title.clone(),
            problem_statement: problem.clone(),
            summary: None,
            support_mode,
            academies: academies.clone(),
            themes: themes.clone(),
            target_users: vec![],
            submitted_on: submitted,
        })
    };
    lab.create_numbered::<Project>(ReferenceKind::Project, submitted.year(), id.0, build, &metadata()).await?;
    // of every 10: one left submitted, one in qualification, eight accepted (ACTIVE)
    if n.is_multiple_of(10) {
        return Ok(());
    }
    lab.execute::<Project>(id.0, &ProjectCommand::StartQualification { on: submitted }, &metadata(), None).await?;
    if n % 10 == 1 {
        return Ok(());
    }
    let accept = ProjectCommand::AcceptProject { on: submitted, support_mode };
    lab.execute::<Project>(id.0, &accept, &metadata(), None).await?;
    Ok(())
}

/// The run's database, and how to get rid of it.
struct Scratch {
    url: String,
    /// A folder for the token secret (and the SQLite file).
    dir: ScratchDir,
    postgres: Option<ScratchPostgres>,
    description: String,
}

impl Scratch {
    async fn create(backend: &Backend) -> anyhow::Result<Self> {
        let dir = ScratchDir::create()?;
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.0.join("carnet.db").display());
                Ok(Self { url, dir, postgres: None, description: "SQLite, a temporary file (WAL)".into() })
            }
            Backend::Postgres { server_url } => {
                let db = match ScratchPostgres::create(server_url).await {
                    Ok(db) => db,
                    Err(e) => {
                        dir.remove();
                        return Err(e);
                    }
                };
                let description =
                    format!("PostgreSQL {}, a fresh database {} (dropped at the end)", db.version, db.name);
                Ok(Self { url: db.url.clone(), dir, postgres: Some(db), description })
            }
        }
    }

    async fn remove(self) -> anyhow::Result<()> {
        let dropped = match self.postgres {
            Some(db) => db.remove().await,
            None => Ok(()),
        };
        self.dir.remove();
        dropped
    }
}

/// Runs the whole benchmark; `progress` is told what starts. The scratch database is removed
/// whatever happens.
pub async fn run(options: &Options, progress: impl Fn(&str)) -> anyhow::Result<Report> {
    anyhow::ensure!(options.connections > 0, "--connections must be at least 1");
    anyhow::ensure!(options.mix.iter().sum::<u32>() == 100, "the mutation mix must add up to 100 %");
    progress("creating the bench database");
    let scratch = Scratch::create(&options.backend).await?;
    let result = run_in(options, &scratch, &progress).await;
    progress("removing the bench database");
    let removed = scratch.remove().await;
    let report = result?;
    removed?;
    Ok(report)
}

async fn run_in(options: &Options, scratch: &Scratch, progress: &impl Fn(&str)) -> anyhow::Result<Report> {
    // a master key of the scratch database's own, as production requires one
    let master_keys = std::sync::Arc::new(carnet_store::MasterKeys::generate("bench"));
    let config = Config {
        profile: Profile::Production,
        master_keys: Some(MasterKeysConfig::of(&master_keys)),
        database_url: Secret::new(&scratch.url),
        host: "127.0.0.1".into(),
        port: 0,
        log_format: LogFormat::Json,
        jwt_secret_file: scratch.dir.0.join("jwt-secret").display().to_string(),
        // a production server signs checkpoints with a key made beforehand (below)
        checkpoints: carnet_lab::checkpoints::CheckpointConfig {
            key_file: scratch.dir.0.join("checkpoint-key").display().to_string(),
            ..Default::default()
        },
        demo_data: Some(false),
        // the rate limit off: the driver sends far more than one caller's budget (600 a
        // minute) with its one token, and measures the application, not the limiter's 429s
        rate_limit: RateLimitConfig { per_minute: 0, ..Default::default() },
        ..Config::default()
    };

    let (key, _) = carnet_store::integrity::checkpoint::CheckpointSigner::generate("carnet.bench/log")?;
    carnet_lab::checkpoints::write_key(std::path::Path::new(&config.checkpoints.key_file), &key)?;

    progress("loading the demo data");
    let store = open_store(&scratch.url).await?;
    let lab = Lab::new(store, config.reference_prefix.clone(), master_keys);
    let today = Utc::now().date_naive();
    let demo = carnet_lab::demo::load(&lab, today).await.context("demo data")?;
    progress(&format!("seeding {} more projects", options.projects));
    futures::stream::iter(0..options.projects)
        .map(|n| seed_project(&lab, today, n))
        .buffer_unordered(SEED_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await
        .context("seeding projects")?;
    drop(lab);

    progress("starting the application (a process of its own)");
    let secret = std::path::Path::new(&config.jwt_secret_file);
    let verifier = TokenVerifier::load_or_create(secret).context("the bench's token secret")?;
    let server = server::Server::start(&config, &scratch.dir.0)?;
    let base = format!("http://127.0.0.1:{}", server.port);
    let token = verifier.mint("carnet-bench", &[Role::LabTeam], &[], 4);
    let target = Target::new(&base, &format!("{base}/graphql"), Some(token))?;
    let active = Arc::new(active_projects(&target).await?);
    anyhow::ensure!(!active.is_empty(), "no active project to change");
    let projects = total_projects(&target).await?;

    // started before the phases, so that it is warm and idle during ours; stopped when dropped
    let (running, other) = match &options.compare {
        Some(compare) => {
            progress(&format!("starting {}", compare.name));
            let running = compare.command.as_deref().map(|c| spawn_compare(c, &scratch.url)).transpose()?;
            let other = Target::new(&base, &compare.graphql_url, None)?;
            wait_ready(&other, &compare.query).await?;
            (running, Some(other))
        }
        None => (None, None),
    };
    // what each phase costs: the server's process, the database's backends, the machine
    let database = scratch.postgres.as_ref().map(|db| Watched::Backends {
        name: "postgres".into(),
        url: db.server_url.clone(),
        database: db.name.clone(),
    });
    let carnet: Vec<Watched> =
        [Watched::Group { name: "carnet".into(), pgid: server.pid() }].into_iter().chain(database.clone()).collect();
    let load_before = loadavg();
    let warmup = (options.phase / 5).clamp(Duration::from_millis(200), Duration::from_secs(2));
    let clients = options.connections;
    let metered = |watched: Vec<Watched>| usage::Meter::new(watched, warmup, options.phase);
    progress("baseline: GET /healthz, closed loop");
    let meter = metered(carnet.clone());
    let baseline = closed_loop(
        "GET /healthz (baseline, closed loop)",
        &["healthz"],
        health_job(&target),
        clients,
        warmup,
        options.phase,
    )
    .await?;
    let baseline = meter.into(baseline).await?;
    progress("projects(first: 20), closed loop");
    let projects_job = read_job(&target, PROJECTS_QUERY);
    let meter = metered(carnet.clone());
    let read = closed_loop(
        "projects(first: 20) (closed loop)",
        &["projects"],
        projects_job.clone(),
        clients,
        warmup,
        options.phase,
    )
    .await?;
    let read = meter.into(read).await?;
    // the other server right after ours, on the same data, while ours idles
    let compare = match (&options.compare, &other) {
        (Some(compare), Some(other)) => {
            progress(&format!("{}: the same page, closed loop", compare.name));
            let name = format!("{} (closed loop)", compare.name);
            let job = read_job(other, &compare.query);
            let watched = running
                .as_ref()
                .map(|r| Watched::Group { name: compare.name.clone(), pgid: r.pgid() })
                .into_iter()
                .chain(database.clone())
                .collect();
            let meter = metered(watched);
            let result = closed_loop(&name, &["projects"], job, clients, warmup, options.phase).await?;
            Some(meter.into(result).await?)
        }
        _ => None,
    };
    let half = (read.per_second() / 2.0).max(1.0);
    progress(&format!("projects(first: 20) at half load ({half:.0}/s), open loop"));
    let meter = metered(carnet.clone());
    let half_load = open_loop(
        "projects(first: 20) at half load (open loop)",
        &["projects"],
        projects_job,
        Timetable::new(half, warmup, options.phase)?,
        MAX_IN_FLIGHT,
    )
    .await?;
    let half_load = meter.into(half_load).await?;
    progress(&format!("mutation mix at {:.0}/s, open loop", options.rate));
    let meter = metered(carnet.clone());
    let mutations = open_loop(
        &format!("mutation mix {}/{}/{} (open loop)", options.mix[0], options.mix[1], options.mix[2]),
        &MUTATION_CLASSES,
        mutation_job(&target, active.clone(), options.mix),
        Timetable::new(options.rate, warmup, options.phase)?,
        MAX_IN_FLIGHT,
    )
    .await?;
    let mutations = meter.into(mutations).await?;
    drop(running);
    drop(server);

    Ok(Report {
        command_line: options.command_line.clone(),
        database: scratch.description.clone(),
        machine: machine(),
        load_before,
        load_after: loadavg(),
        projects,
        seeded: options.projects,
        demo_projects: demo.projects,
        mutation_targets: active.len(),
        connections: clients,
        phase: options.phase,
        warmup,
        baseline,
        read,
        half_load,
        mutations,
        compare,
    })
}
