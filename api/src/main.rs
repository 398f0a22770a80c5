//! `carnet`: the lab's logbook. A thin entry point: parse the command line, load the
//! configuration, hand over to [`carnet_api::startup`].

use anyhow::Context;
use carnet_api::config::{Config, Secret};
use carnet_api::startup::{Application, open_store, redact};
use carnet_api::telemetry;
use clap::{Parser, Subcommand};
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
            app.run_until_stopped().await?;
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
