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
//! timed; then the *blind window*: the server's checkpointer running (every second) while 4
//! writers append, each sampled event's wait from its commit to a signed checkpoint covering it.

use crate::store::Throughput;
use anyhow::Context;
use carnet_store::integrity::tree;
use carnet_store::{AnyStore, Checkpoint, EventStore};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct TreeBenchOptions {
    pub database_url: String,
    pub events: usize,
    pub proofs: usize,
    /// How long the blind window is measured under load.
    pub load: Duration,
}

#[derive(Clone, Debug, Default)]
pub struct BackendFigures {
    pub select: Throughput,
    pub extend: Throughput,
    pub inclusion: Latencies,
    pub consistency: Latencies,
    /// Appends made while the checkpointer ran (one event each), and how long each sampled one
    /// waited, from its commit, for a signed checkpoint covering it.
    pub load: Throughput,
    pub blind_window: Latencies,
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
            writeln!(
                f,
                "  {name:<11} {:<37} {} (under {:.0} events/s, {} samples)",
                "blind window (commit -> checkpoint)",
                figures.blind_window,
                figures.load.per_second(),
                figures.blind_window.0.len()
            )?;
        }
        writeln!(
            f,
            "  targets: extension >= 50 000 events/s on PostgreSQL; proofs' p99 < 5 ms at 1 million events; \
             a checkpoint within 2 s of a commit"
        )
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

    progress(&format!(
        "{name}: the blind window, {} s under load with the checkpointer running",
        options.load.as_secs()
    ));
    let (load, blind_window) = blind_window(store, options.load).await?;
    figures.load = load;
    figures.blind_window = blind_window;
    Ok(figures)
}

/// Runs the server's checkpointer (every second, as configured by default) while 4 writers
/// append one event per transaction as fast as they can for `duration`; every 20th append is
/// sampled, and its wait measured from its commit to the first signed checkpoint whose tree
/// holds it (the checkpoint's size is polled every 5 ms).
async fn blind_window(store: &AnyStore, duration: Duration) -> anyhow::Result<(Throughput, Latencies)> {
    use carnet_store::integrity::{checkpoint, tree::EventRef};
    let dir = std::env::temp_dir().join(format!("carnet-bench-blind-{}", uuid::Uuid::now_v7().simple()));
    let (_, signer) = checkpoint::CheckpointSigner::generate("bench.localhost/log")?;
    let remembered = carnet_lab::checkpoints::Remembered::load(dir.join("latest"), signer)?;
    // the checkpointer's own step (`checkpoints::issue`) at its default period, here so that a
    // failure ends the benchmark with its cause instead of a log line nobody reads
    let every = Duration::from_millis(carnet_lab::checkpoints::CheckpointConfig::default().every_ms);
    let checkpointer = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                carnet_lab::checkpoints::issue(&store, &remembered).await?;
            }
            #[allow(unreachable_code)]
            Ok::<(), anyhow::Error>(())
        })
    };
    let start = Instant::now();
    let (samples_tx, mut samples) = tokio::sync::mpsc::unbounded_channel::<(Instant, i64)>();
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (store, samples_tx) = (store.clone(), samples_tx.clone());
            tokio::spawn(async move {
                let stream = carnet_store::StreamId::new("blind", uuid::Uuid::now_v7());
                let actor = carnet_store::Actor { id: "bench".into(), issuer: "bench".into() };
                let mut appended = 0u64;
                while start.elapsed() < duration {
                    // a command id of its own each time (one metadata reused would be a retry)
                    let metadata = carnet_store::Metadata::new(actor.clone());
                    let event = carnet_store::NewEvent::new("Appended", serde_json::json!({ "n": appended }));
                    let done = store.append(&stream, carnet_store::ExpectedVersion::Any, &[event], &metadata).await?;
                    if appended.is_multiple_of(20) {
                        let _ = samples_tx.send((Instant::now(), done.events[0].global_position));
                    }
                    appended += 1;
                }
                Ok::<_, anyhow::Error>(appended)
            })
        })
        .collect();
    drop(samples_tx);
    let mut pending: Vec<(Instant, i64)> = vec![];
    let mut waits = vec![];
    let mut seen_size = 0;
    let mut open = true;
    while open || !pending.is_empty() {
        loop {
            match samples.try_recv() {
                Ok(sample) => pending.push(sample),
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        let size = checkpoint::latest(store).await?.map_or(0, |c| c.size);
        if size != seen_size {
            seen_size = size;
            let now = Instant::now();
            let mut still = vec![];
            for (committed, position) in pending.drain(..) {
                match carnet_store::integrity::tree::leaf_of(store, EventRef::Position(position)).await? {
                    Some(leaf) if leaf.index < size => waits.push(now - committed),
                    _ => still.push((committed, position)),
                }
            }
            pending = still;
        }
        if checkpointer.is_finished() {
            return Err(checkpointer.await?.expect_err("the checkpointer ends only on an error"))
                .context("the checkpointer");
        }
        if start.elapsed() > duration + Duration::from_secs(60) {
            let head = carnet_store::integrity::tree::head(store).await?;
            anyhow::bail!(
                "no checkpoint covered the last appends: checkpoint of {seen_size}, tree of {} up to {:?}, {} waiting, the first at position {:?}",
                head.size,
                head.last,
                pending.len(),
                pending.first().map(|p| p.1)
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut events = 0;
    for writer in writers {
        events += writer.await??;
    }
    checkpointer.abort();
    let _ = std::fs::remove_dir_all(&dir);
    waits.sort();
    Ok((Throughput { events, elapsed: duration }, Latencies(waits)))
}
