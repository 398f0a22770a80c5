//! `carnet-bench`: Carnet's benchmarks, each reported as ratios against a baseline measured in
//! the same run, on a database of its own created and removed by the run ([`scratch`]).
//!
//! - `carnet-bench store` ([`store`]): the store's append against raw `INSERT`s of the same rows
//!   (PostgreSQL, 1 and 100 events per transaction), and the catch-up read;
//! - `carnet-bench verify` ([`verify`]): `carnet verify` against a plain read of the same events
//!   (PostgreSQL and SQLite);
//! - `carnet-bench tree` ([`tree`]): building the log's Merkle tree against a plain read of the
//!   same events, and the latency of proofs (PostgreSQL and SQLite);
//! - `carnet-bench scale` ([`scale`]): rebuild, verify and the reads that must not slow down as
//!   the log grows (list, lookup, `asOf`, history), at 10 000, 1 000 000 and, if asked,
//!   10 000 000 events of the lab's real commands, in one sitting (PostgreSQL and SQLite);
//! - `carnet-bench http` ([`http`]): the whole application over HTTP, built in process, with a
//!   load driver of its own (closed and open loop, HDR histograms), against PostGraphile 5 on
//!   the same database; the server runs in a process of its own (this binary again,
//!   `carnet-bench serve`), so that its CPU time and memory are measured apart.
//!
//! Decisions: a binary of its own, so that `carnet`, the production binary, links neither the
//! load driver nor its histograms (`cargo tree -p carnet-api -e normal` shows no hdrhistogram);
//! it reaches the store, the command side and the server only through their public API, as an
//! operator's tools would. Run it in release mode: `cargo run --release -p carnet-bench -- store`.

mod http;
mod scale;
mod scratch;
mod store;
mod tree;
mod verify;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "carnet-bench",
    version,
    about = "Carnet's benchmarks, reported as ratios against a baseline measured in the same run."
)]
struct Cli {
    #[command(subcommand)]
    what: Bench,
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
    /// The log's Merkle tree (issue 12): building it against a plain read of the same events,
    /// and inclusion and consistency proofs' latencies, on PostgreSQL and SQLite.
    Tree {
        #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        postgres_url: String,
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        /// Proofs of each kind, timed one by one.
        #[arg(long, default_value_t = 1_000)]
        proofs: usize,
        /// Seconds of load while the blind window (commit to covering checkpoint) is measured.
        #[arg(long, default_value_t = 20)]
        load_seconds: u64,
    },
    /// The application over HTTP: GET /healthz (baseline), `projects(first: 20)` at full and
    /// half load, and a mutation mix at a fixed rate; requests/s, p50, p99, CPU µs per request,
    /// against PostGraphile 5 on PostgreSQL. Runs the real application in a process of its own
    /// on a database of its own, created and dropped.
    Http(http::Args),
    /// The log grown through sizes (10 000 and 1 000 000 events by default) of the lab's real
    /// commands: rebuild and verify in events/s, and list, lookup, `asOf` and history latencies
    /// at each size. Creates and drops its own databases.
    Scale {
        #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        postgres_url: String,
        /// The sizes, in events, increasing (e.g. 10000,1000000,10000000).
        #[arg(long, value_delimiter = ',', default_value = "10000,1000000")]
        sizes: Vec<usize>,
        /// Calls per timed read at each size.
        #[arg(long, default_value_t = 200)]
        samples: usize,
        /// PostgreSQL only.
        #[arg(long, conflicts_with = "sqlite_only")]
        postgres_only: bool,
        /// SQLite only.
        #[arg(long)]
        sqlite_only: bool,
        /// Keep the databases at the end (their URL and path are printed), to study them.
        #[arg(long)]
        keep: bool,
    },
    /// The server side of `http`, started by it in a process of its own (not for direct use).
    #[command(hide = true)]
    Serve {
        /// The configuration `http` wrote (JSON).
        config: std::path::PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let progress = |phase: &str| eprintln!("… {phase}");
    match Cli::parse().what {
        Bench::Verify { postgres_url, events, rounds } => {
            let options = verify::VerifyBenchOptions { database_url: postgres_url, events, rounds };
            println!("carnet-bench verify: {events} events, {rounds} rounds");
            let report = verify::run(&options, progress).await.context("benchmark failed")?;
            print!("{report}");
        }
        Bench::Store { postgres_url, writers, seconds, rounds } => {
            let phase = Duration::from_secs(seconds);
            let options = store::BenchOptions { database_url: postgres_url, writers, phase, rounds };
            println!("carnet-bench store: {writers} writers, {rounds} rounds of {seconds} s per phase");
            let report = store::run(&options, progress).await.context("benchmark failed")?;
            print!("{report}");
        }
        Bench::Tree { postgres_url, events, proofs, load_seconds } => {
            let load = Duration::from_secs(load_seconds);
            let options = tree::TreeBenchOptions { database_url: postgres_url, events, proofs, load };
            println!("carnet-bench tree: {events} events, {proofs} proofs of each kind");
            let report = tree::run(&options, progress).await.context("benchmark failed")?;
            print!("{report}");
        }
        Bench::Scale { postgres_url, sizes, samples, postgres_only, sqlite_only, keep } => {
            anyhow::ensure!(sizes.is_sorted() && !sizes.is_empty(), "--sizes: increasing sizes, at least one");
            let options = scale::ScaleOptions {
                database_url: postgres_url,
                sizes,
                samples: samples.max(1),
                postgres: !sqlite_only,
                sqlite: !postgres_only,
                keep,
            };
            println!("carnet-bench scale: {:?} events, {} samples per read", options.sizes, options.samples);
            let report = scale::run(&options, progress).await.context("benchmark failed")?;
            print!("{report}");
        }
        Bench::Http(args) => {
            let report = http::run(&args.options()?, progress).await.context("benchmark failed")?;
            print!("{report}");
            let errors = report.errors();
            anyhow::ensure!(errors == 0, "{errors} requests failed: the figures are not valid");
        }
        Bench::Serve { config } => http::server::serve(&config).await?,
    }
    Ok(())
}
