//! `carnet`: the lab's logbook. Until the GraphQL API lands, `serve` opens the database,
//! applies migrations and reports what the log holds.

use anyhow::Context;
use carnet_store::{AnyStore, Checkpoint, EventStore};
use clap::{Parser, Subcommand};
use std::time::Duration;

#[derive(Parser)]
#[command(name = "carnet", version, about = "Carnet — le carnet de bord du 110 bis")]
struct Cli {
    /// `sqlite://data/carnet.db` (embedded default) or `postgres://user@host/db`.
    #[arg(long, global = true, env = "CARNET_DATABASE_URL", default_value = "sqlite://data/carnet.db")]
    database_url: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Open the database, apply migrations and report (the default).
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let store = open(&cli.database_url).await?;
            report(&store).await
        }
        Command::Migrate => {
            open(&cli.database_url).await?;
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

/// Opens the store at `url` (creating `./data/` for the default SQLite file) and migrates it.
async fn open(url: &str) -> anyhow::Result<AnyStore> {
    if let Some(path) = url.strip_prefix("sqlite://")
        && let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let store = AnyStore::connect(url).await.with_context(|| format!("cannot open the database ({})", redact(url)))?;
    store.migrate().await.context("migrations failed")?;
    Ok(store)
}

async fn report(store: &AnyStore) -> anyhow::Result<()> {
    let mut after = Checkpoint::START;
    let mut events = 0usize;
    loop {
        let batch = store.read_all(after, 10_000).await?;
        let Some(last) = batch.last() else { break };
        after = last.checkpoint();
        events += batch.len();
    }
    println!("Carnet: {} event store ready, {events} events in the log.", store.backend_name());
    println!("The GraphQL API is not served yet (see the README).");
    Ok(())
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme && url[scheme + 3..at].contains(':') => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:[redacted]{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}
