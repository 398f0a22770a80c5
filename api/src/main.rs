//! `carnet`: the lab's logbook. A thin entry point: parse the command line, load the
//! configuration, hand over to [`carnet_api::startup`].

use anyhow::Context;
use carnet_api::auth::Verifier;
use carnet_api::config::{Config, Secret};
use carnet_api::startup::{Application, open_store, redact};
use carnet_api::telemetry;
use carnet_domain::person::Role;
use carnet_domain::values::AcademieCode;
use clap::{Parser, Subcommand};
use std::path::Path;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "carnet", version, about = "Carnet — le carnet de bord du 110 bis")]
struct Cli {
    /// Overrides the configured database: `sqlite://data/carnet.db` (the default) or
    /// `postgres://user@host/db`. Also `CARNET_DATABASE_URL` or `database_url` in carnet.toml.
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default): /healthz, /readyz, /metrics.
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Rebuild read models from the whole log, without downtime: fresh tables are filled,
    /// then swapped in within one transaction while commands keep landing.
    Rebuild {
        /// Which read model: `projects`, `sessions` or `people`; all of them when omitted (in
        /// one pass over the log).
        projection: Option<String>,
    },
    /// Re-wrap every person's data key with the current master key (`master_keys.current`);
    /// afterwards the older master keys may leave the configuration.
    RotateMasterKey,
    /// Export the log with its hashes, one line per event in reading order (JSON Lines or CSV),
    /// for auditors who re-verify its chains without Carnet (README, "For auditors").
    Export(carnet_api::export::ExportArgs),
    /// Mint a local token (HS256, signed with the local secret).
    Token {
        /// LAB_TEAM, ACADEMIE, AUDITOR, READER or ADMIN.
        #[arg(long)]
        role: String,
        /// An académie code of the caller's territory (repeatable; required for ACADEMIE).
        #[arg(long)]
        academie: Vec<String>,
        /// The subject: an opaque id of the person.
        #[arg(long, default_value = "local-user")]
        sub: String,
        #[arg(long, default_value_t = 12)]
        hours: i64,
    },
    /// Verify the log's tamper evidence (every event's hash and chain link, every seal) and print
    /// the last seal's hash, to record outside the database. Exit code 0: intact; 2: altered,
    /// with the first broken place; 1: the verification could not run.
    Verify {
        /// A seal hash recorded from an earlier run, `NUMBER:HASH` (repeatable): it must be
        /// unchanged, which a rewrite of the whole database cannot fake.
        #[arg(long = "seal", value_name = "NUMBER:HASH")]
        seals: Vec<carnet_store::integrity::RecordedSeal>,
    },
    /// Seal every committed, unsealed event now (`carnet serve` also seals periodically).
    Seal,
    /// Benchmarks, reported as ratios against a baseline measured in the same run.
    Bench {
        #[command(subcommand)]
        what: Bench,
    },
}

#[derive(Subcommand)]
enum Bench {
    /// `carnet verify` on a log of its own (PostgreSQL and SQLite), against a plain read of the
    /// same events. Creates and drops its own database on the server.
    Verify {
        /// PostgreSQL server to create the bench database on.
        #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        postgres_url: String,
        #[arg(long, default_value_t = 100_000)]
        events: usize,
        /// Alternations of plain read and verification.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Store append vs raw INSERT on PostgreSQL (1 and 100 events per transaction), and
    /// catch-up read speed. Creates and drops its own database on the server.
    Store {
        /// PostgreSQL server to create the bench database on.
        #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        postgres_url: String,
        #[arg(long, default_value_t = 8)]
        writers: usize,
        /// Seconds per measured phase.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        /// Alternations of raw and store phases.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// The application over HTTP: GET /healthz (baseline), `projects(first: 20)` at full and
    /// half load, and a mutation mix at a fixed rate; requests/s, p50, p99. Builds the real
    /// application in process on a database of its own, created and dropped.
    Http {
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
        /// Another GraphQL endpoint to drive with the same read phase (e.g. PostGraphile's
        /// http://127.0.0.1:5000/graphql), for a ratio in the same run.
        #[arg(long, requires = "compare_query")]
        compare_url: Option<String>,
        /// The document that asks it for the same page of projects.
        #[arg(long, requires = "compare_url")]
        compare_query: Option<String>,
        /// A shell command that starts it, `{database_url}` replaced by the bench database's URL;
        /// stopped at the end.
        #[arg(long, requires = "compare_url")]
        compare_command: Option<String>,
        /// Its name in the report.
        #[arg(long, default_value = "postgraphile")]
        compare_name: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // every command: a configuration that cannot be read, or holds an unknown key or a wrong
    // value, stops here, before anything is opened or written (config.rs)
    let mut config = Config::load()?;
    if let Some(url) = cli.database_url {
        config.database_url = Secret::new(url);
    }
    carnet_store::database_url::Backend::of(config.database_url.expose())
        .with_context(|| format!("database_url {}", redact(config.database_url.expose())))?;
    telemetry::init(config.log_format, std::io::stderr);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            // the port first: taken, the start fails before the demo data (or anything) is written
            let listener = carnet_api::startup::bind(&config)?;
            if config.demo_data_enabled() {
                let store = open_store(config.database_url.expose()).await?;
                let master_keys = carnet_api::master_keys::load(&config, true)?;
                let lab = carnet_api::lab::Lab::new(store, config.reference_prefix.clone(), master_keys);
                let today = chrono::Utc::now().date_naive();
                if let Some(demo) = carnet_api::demo::load_if_empty(&lab, today).await.context("demo data")? {
                    println!(
                        "Base neuve : données de démonstration chargées ({} projets, {} sessions dont {} tenues, \
                         {} visiteurs, {} personnes fictives)",
                        demo.projects, demo.sessions, demo.sessions_held, demo.visitors, demo.people
                    );
                }
            }
            let app = Application::build_on(config.clone(), listener).await?;
            println!(
                "Carnet écoute sur http://{}:{}/ (base : {})",
                config.host,
                app.port(),
                redact(config.database_url.expose())
            );
            // development only: one token per role, each its own subject; GraphiQL has the first
            if let Some(tokens) = app.dev_tokens() {
                println!(
                    "Jetons locaux ({} h), en-tête « Authorization: Bearer … » (GraphiQL a déjà le premier) :",
                    carnet_api::dev_tokens::HOURS
                );
                for (role, token) in tokens.iter() {
                    println!("  {:<15} {}", role.label(), token);
                }
            }
            app.run_until_stopped().await?;
            Ok(())
        }
        Command::Token { role, academie, sub, hours } => {
            let role = Role::ALL
                .into_iter()
                .find(|r| serde_json::to_value(r).is_ok_and(|v| v == role.as_str()))
                .with_context(|| format!("unknown role {role}: LAB_TEAM, ACADEMIE, AUDITOR, READER or ADMIN"))?;
            let academies = academie.iter().map(|a| AcademieCode::parse(a)).collect::<Result<Vec<_>, _>>()?;
            if (role == Role::Academie) == academies.is_empty() {
                anyhow::bail!("--academie is required for ACADEMIE, and only for it");
            }
            if sub.trim().is_empty() {
                anyhow::bail!("--sub must name someone: an empty subject is refused by the server");
            }
            let verifier = Verifier::load_or_create(Path::new(&config.jwt_secret_file))?;
            println!("{}", verifier.mint(&sub, &[role], &academies, hours));
            Ok(())
        }
        Command::Rebuild { projection } => {
            let which = match projection.as_deref() {
                None => None,
                Some(name) => Some(name.parse::<carnet_projections::ReadModel>().map_err(|_| {
                    let names: Vec<&str> = carnet_projections::ReadModel::ALL.iter().map(|m| m.name()).collect();
                    anyhow::anyhow!("unknown projection {name}: the read models are: {}", names.join(", "))
                })?),
            };
            let what = which.map_or_else(|| "every read model".to_owned(), |m| m.to_string());
            let store = open_store(config.database_url.expose()).await?;
            // drawn only when stderr is a terminal
            let message = match which {
                None => "reconstruction de tous les modèles de lecture",
                Some(carnet_projections::ReadModel::Projects) => "reconstruction des projets",
                Some(carnet_projections::ReadModel::Sessions) => "reconstruction des sessions",
                Some(carnet_projections::ReadModel::People) => "reconstruction des personnes",
            };
            let bar = indicatif::ProgressBar::new_spinner().with_message(message);
            bar.set_style(indicatif::ProgressStyle::with_template(
                "{spinner} {msg}: {pos} événements lus ({per_sec})",
            )?);
            let master_keys = carnet_api::master_keys::load(&config, false)?;
            let upcasters = std::sync::Arc::new(carnet_store::Upcasters::carnet().with_master_keys(master_keys));
            let done = carnet_projections::rebuild_with(&store, upcasters, which, 5_000, &mut |p| {
                bar.set_position(p.events_read)
            })
            .await
            .context("rebuild failed")?;
            bar.finish_and_clear();
            println!("{what} rebuilt: {} events read, {} applied", done.events_read, done.events_applied);
            Ok(())
        }
        Command::RotateMasterKey => {
            let master_keys = carnet_api::master_keys::load(&config, false)?;
            let current = master_keys.current_id().context("no master key is configured: nothing to rotate to")?;
            let store = open_store(config.database_url.expose()).await?;
            let done = carnet_store::sealing::rotate(&store, &master_keys).await.context("rotation failed")?;
            println!(
                "{} data key(s) re-wrapped with master key `{current}`, {} already were",
                done.rewrapped, done.already_current
            );
            Ok(())
        }
        Command::Export(args) => {
            let store = open_store(config.database_url.expose()).await?;
            carnet_api::export::run(&store, args).await
        }
        Command::Verify { seals } => carnet_api::integrity_cli::verify(&config, &seals).await,
        Command::Seal => carnet_api::integrity_cli::seal(&config).await,
        Command::Bench { what: Bench::Verify { postgres_url, events, rounds } } => {
            carnet_api::integrity_cli::bench(postgres_url, events, rounds).await
        }
        Command::Migrate => {
            open_store(config.database_url.expose()).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Bench { what: Bench::Store { postgres_url, writers, seconds, rounds } } => {
            let options = carnet_store::bench::BenchOptions {
                database_url: postgres_url,
                writers,
                phase: Duration::from_secs(seconds),
                rounds,
            };
            println!("carnet bench store: {writers} writers, {rounds} rounds of {seconds} s per phase");
            let report =
                carnet_store::bench::run(&options, |phase| eprintln!("… {phase}")).await.context("benchmark failed")?;
            print!("{report}");
            Ok(())
        }
        Command::Bench {
            what:
                Bench::Http {
                    postgres_url,
                    sqlite,
                    connections,
                    seconds,
                    rate,
                    projects,
                    mix,
                    compare_url,
                    compare_query,
                    compare_command,
                    compare_name,
                },
        } => {
            let backend = if sqlite {
                carnet_api::bench_http::Backend::Sqlite
            } else {
                carnet_api::bench_http::Backend::Postgres { server_url: postgres_url }
            };
            let compare = compare_url.zip(compare_query).map(|(graphql_url, query)| carnet_api::bench_http::Compare {
                name: compare_name,
                graphql_url,
                query,
                command: compare_command,
            });
            let options = carnet_api::bench_http::Options {
                backend,
                connections,
                phase: Duration::from_secs(seconds),
                rate: f64::from(rate),
                projects,
                mix: mix.try_into().map_err(|_| anyhow::anyhow!("--mix takes three percentages"))?,
                command_line: std::env::args()
                    .map(|a| if a.contains(' ') { format!("'{a}'") } else { a })
                    .collect::<Vec<_>>()
                    .join(" "),
                compare,
            };
            let report = carnet_api::bench_http::run(&options, |phase| eprintln!("… {phase}"))
                .await
                .context("benchmark failed")?;
            print!("{report}");
            let errors = report.errors();
            anyhow::ensure!(errors == 0, "{errors} requests failed: the figures are not valid");
            Ok(())
        }
    }
}
