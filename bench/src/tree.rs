//! `carnet-bench tree`: how fast the checkpointer builds the log's Merkle tree
//! (`carnet_store::integrity::tree::extend`), against the catch-up read of the same events
//! (`read_all`, what the live feed does), and how long proofs take on a large tree
//! (issue 12: at least 50 000 events/s on PostgreSQL; proofs' p99 under 5 ms at 1 million
//! events).
//!
//! For each backend (PostgreSQL on a database of its own, SQLite in a temporary file) it appends
//! `events` events (100 per append), then: *read*, every event in reading order by pages of
//! 100 000 (`read_all`), decoded and dropped; *extend*, the whole tree built
//! from nothing by batches of 100 000 (what a checkpointer catching up does), then `proofs`
//! inclusion proofs of random leaves and as many consistency proofs from random sizes, each
//! timed.

use crate::store::Throughput;
use carnet_store::integrity::tree;
use carnet_store::{AnyStore, Checkpoint, EventStore};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct TreeBenchOptions {
    pub database_url: String,
    pub events: usize,
    pub proofs: usize,
}

#[derive(Clone, Debug, Default)]
pub struct BackendFigures {
    pub select: Throughput,
    pub extend: Throughput,
    pub inclusion: Latencies,
    pub consistency: Latencies,
}

/// Latencies of one kind of call, sorted.
#[derive(Clone, Debug, Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    fn quantile(&self, q: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        self.0[((self.0.len() - 1) as f64 * q).round() as usize]
    }
}

impl std::fmt::Display for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(self.quantile(0.5)),
            ms(self.quantile(0.99)),
            ms(self.quantile(1.0))
        )
    }
}

#[derive(Clone, Debug, Default)]
pub struct TreeBenchReport {
    pub postgres: BackendFigures,
    pub sqlite: BackendFigures,
}

impl std::fmt::Display for TreeBenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (name, figures) in [("PostgreSQL", &self.postgres), ("SQLite", &self.sqlite)] {
            for (what, t) in [("catch-up read (read_all)", &figures.select), ("tree extension", &figures.extend)] {
                writeln!(
                    f,
                    "  {name:<11} {what:<37} {:>10.0} events/s  ({} events in {:.2} s)",
                    t.per_second(),
                    t.events,
                    t.elapsed.as_secs_f64()
                )?;
            }
            writeln!(
                f,
                "  {name:<11} {:<37} {:>10.2}",
                "extension / read",
                figures.extend.per_second() / figures.select.per_second()
            )?;
            writeln!(f, "  {name:<11} {:<37} {}", "inclusion proof", figures.inclusion)?;
            writeln!(f, "  {name:<11} {:<37} {}", "consistency proof", figures.consistency)?;
        }
        writeln!(f, "  targets: extension >= 50 000 events/s on PostgreSQL; proofs' p99 < 5 ms at 1 million events")
    }
}

pub async fn run(options: &TreeBenchOptions, progress: impl Fn(&str)) -> anyhow::Result<TreeBenchReport> {
    let (postgres, sqlite) = crate::scratch::on_both_backends(&options.database_url, |store, name| {
        let progress = &progress;
        async move { measure(&store, options, name, progress).await }
    })
    .await?;
    Ok(TreeBenchReport { postgres, sqlite })
}

async fn measure(
    store: &AnyStore,
    options: &TreeBenchOptions,
    name: &str,
    progress: &impl Fn(&str),
) -> anyhow::Result<BackendFigures> {
    progress(&format!("{name}: appending {} events, 100 per append", options.events));
    crate::verify::load(store, options.events).await?;
    let mut figures = BackendFigures::default();

    progress(&format!("{name}: catch-up read"));
    let start = Instant::now();
    let mut after = Checkpoint::START;
    loop {
        let page = store.read_all(after, 100_000).await?;
        figures.select.events += page.len() as u64;
        match page.last() {
            Some(last) => after = last.checkpoint(),
            None => break,
        }
    }
    figures.select.elapsed = start.elapsed();

    progress(&format!("{name}: building the tree"));
    let deadline = Instant::now() + Duration::from_secs(600);
    let start = Instant::now();
    let head = loop {
        // on PostgreSQL a transaction open elsewhere on the server holds the tree back
        let head = tree::extend_all(store, 100_000).await?;
        if head.size as usize >= options.events || Instant::now() > deadline {
            break head;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    figures.extend = Throughput { events: head.size, elapsed: start.elapsed() };
    anyhow::ensure!(head.size as usize == options.events, "the tree holds {} of {} events", head.size, options.events);

    progress(&format!("{name}: {} inclusion and consistency proofs", options.proofs));
    let mut inclusion = Vec::with_capacity(options.proofs);
    let mut consistency = Vec::with_capacity(options.proofs);
    for _ in 0..options.proofs {
        let leaf = rand::random_range(0..head.size);
        let start = Instant::now();
        std::hint::black_box(tree::inclusion_proof(store, leaf, head.size).await?);
        inclusion.push(start.elapsed());
        let first = rand::random_range(1..=head.size);
        let start = Instant::now();
        std::hint::black_box(tree::consistency_proof(store, first, head.size).await?);
        consistency.push(start.elapsed());
    }
    inclusion.sort();
    consistency.sort();
    figures.inclusion = Latencies(inclusion);
    figures.consistency = Latencies(consistency);
    Ok(figures)
}
