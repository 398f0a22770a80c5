//! `carnet`: the lab's logbook. A thin entry point: parse the command line, load the
//! configuration, hand over to [`carnet_api::startup`].

use anyhow::Context;
use carnet_api::auth::Verifier;
use carnet_api::config::{Config, Profile, Secret};
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
        /// Which read model: `projects` (the only one so far; the default).
        #[arg(default_value = "projects")]
        projection: String,
    },
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
    /// Benchmarks, reported as ratios against a baseline measured in the same run.
    Bench {
        #[command(subcommand)]
        what: Bench,
    },
}

#[derive(Subcommand)]
enum Bench {
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load().context("invalid configuration")?;
    if let Some(url) = cli.database_url {
        config.database_url = Secret::new(url);
    }
    telemetry::init(config.log_format, std::io::stderr);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(config.clone()).await?;
            println!(
                "Carnet écoute sur http://{}:{}/ (base : {})",
                config.host,
                app.port(),
                redact(config.database_url.expose())
            );
            if config.profile == Profile::Development {
                let verifier = app.verifier();
                let paris = [AcademieCode::parse("01")?];
                println!("Jetons locaux (12 h), en-tête « Authorization: Bearer … » :");
                for role in Role::ALL {
                    let academies: &[AcademieCode] = if role == Role::Academie { &paris } else { &[] };
                    println!("  {:<15} {}", role.label(), verifier.mint("demo", &[role], academies, 12));
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
            let verifier = Verifier::load_or_create(Path::new(&config.jwt_secret_file))?;
            println!("{}", verifier.mint(&sub, &[role], &academies, hours));
            Ok(())
        }
        Command::Rebuild { projection } => {
            if projection != "projects" {
                anyhow::bail!("unknown projection {projection}: the read models are: projects");
            }
            let store = open_store(config.database_url.expose()).await?;
            // drawn only when stderr is a terminal
            let bar = indicatif::ProgressBar::new_spinner().with_message("reconstruction des projets");
            bar.set_style(indicatif::ProgressStyle::with_template(
                "{spinner} {msg}: {pos} événements lus ({per_sec})",
            )?);
            let upcasters = std::sync::Arc::new(carnet_store::Upcasters::carnet());
            let done =
                carnet_projections::rebuild_with(&store, upcasters, 5_000, &mut |p| bar.set_position(p.events_read))
                    .await
                    .context("rebuild failed")?;
            bar.finish_and_clear();
            println!("projects rebuilt: {} events read, {} applied", done.events_read, done.events_applied);
            Ok(())
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
    }
}
