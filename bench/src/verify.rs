//! `carnet-bench verify`: how fast `carnet_store::integrity::verify` checks a log, against a plain
//! read of the same events in the same run (DESIGN §9: at least 100 000 events/s).
//!
//! For each backend (PostgreSQL on a database of its own, created and dropped; SQLite in a
//! temporary file: [`crate::scratch`]) it appends `events` events (100 per append, streams of 100), seals them, then
//! alternates for `rounds` rounds: *select*, the very query verification streams (every hashed
//! field as text, in reading order), each row decoded and dropped; and *verify*, the whole
//! verification. The ratio says what hashing and checking cost on top of reading.

use crate::store::Throughput;
use carnet_store::integrity::{Progress, Report, hashed_events, seal_pending, unsealed_events, verify};
use carnet_store::{Actor, AnyStore, Checkpoint, EventStore, ExpectedVersion, Metadata, NewEvent, StreamId};
use futures::TryStreamExt;
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct VerifyBenchOptions {
    /// A PostgreSQL URL; the bench creates its own database on that server.
    pub database_url: String,
    pub events: usize,
    pub rounds: usize,
}

#[derive(Clone, Debug, Default)]
pub struct BackendFigures {
    pub select: Throughput,
    pub verify: Throughput,
}

impl BackendFigures {
    pub fn ratio(&self) -> f64 {
        self.verify.per_second() / self.select.per_second()
    }
}

#[derive(Clone, Debug, Default)]
pub struct VerifyBenchReport {
    pub postgres: BackendFigures,
    pub sqlite: BackendFigures,
}

impl std::fmt::Display for VerifyBenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (name, figures) in [("PostgreSQL", &self.postgres), ("SQLite", &self.sqlite)] {
            for (what, t) in [("plain select of the hashed fields", &figures.select), ("verify", &figures.verify)] {
                writeln!(
                    f,
                    "  {name:<11} {what:<36} {:>10.0} events/s  ({} events in {:.2} s)",
                    t.per_second(),
                    t.events,
                    t.elapsed.as_secs_f64()
                )?;
            }
            writeln!(f, "  {name:<11} {:<36} {:>10.2}", "verify / select", figures.ratio())?;
        }
        writeln!(f, "  target: verify >= 100 000 events/s")
    }
}

/// Runs the benchmark on both backends; `progress` is told what phase starts.
pub async fn run(options: &VerifyBenchOptions, progress: impl Fn(&str)) -> anyhow::Result<VerifyBenchReport> {
    let (postgres, sqlite) = crate::scratch::on_both_backends(&options.database_url, |store, name| {
        let progress = &progress;
        async move { measure(&store, options, name, progress).await }
    })
    .await?;
    Ok(VerifyBenchReport { postgres, sqlite })
}

async fn measure(
    store: &AnyStore,
    options: &VerifyBenchOptions,
    name: &str,
    progress: &impl Fn(&str),
) -> anyhow::Result<BackendFigures> {
    progress(&format!("{name}: appending {} events, 100 per append", options.events));
    load(store, options.events).await?;
    progress(&format!("{name}: sealing"));
    let deadline = Instant::now() + Duration::from_secs(120);
    // on PostgreSQL a transaction still open elsewhere on the server holds the sealer back
    while unsealed_events(store, 1).await? > 0 {
        seal_pending(store).await?;
        if Instant::now() > deadline {
            anyhow::bail!("events stay unsealable: a transaction is held open on the server");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut figures = BackendFigures::default();
    for round in 1..=options.rounds {
        progress(&format!("{name}: round {round}/{}: plain select", options.rounds));
        let start = Instant::now();
        let mut rows = hashed_events(store, Checkpoint::START);
        let mut n = 0u64;
        while let Some(row) = rows.try_next().await? {
            std::hint::black_box(&row);
            n += 1;
        }
        drop(rows);
        figures.select.elapsed += start.elapsed();
        figures.select.events += n;

        progress(&format!("{name}: round {round}/{}: verify", options.rounds));
        let start = Instant::now();
        let report = verify(store, |_: Progress| {}).await?;
        figures.verify.elapsed += start.elapsed();
        match report {
            Report::Intact(summary) => figures.verify.events += summary.events,
            Report::Broken(breach) => {
                anyhow::bail!("the bench log does not verify: {breach}");
            }
        }
    }
    Ok(figures)
}

/// `events` events on streams of 100, one append of 100 per stream, 4 writers.
pub(crate) async fn load(store: &AnyStore, events: usize) -> anyhow::Result<()> {
    let streams = events.div_ceil(100);
    let writers = 4;
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let actor = Actor { id: "bench".into(), issuer: "carnet-bench".into() };
                for s in (w..streams).step_by(writers) {
                    let count = 100.min(events - s * 100);
                    let batch: Vec<NewEvent> = (0..count)
                        .map(|n| {
                            NewEvent::new(
                                "BenchEventRecorded",
                                json!({
                                    "n": n,
                                    "note": "une ligne de texte ordinaire, comme un compte rendu en contient",
                                    "academieCodes": ["01", "13"],
                                    "progress": 40,
                                }),
                            )
                        })
                        .collect();
                    let stream = StreamId::new("bench", Uuid::now_v7());
                    store.append(&stream, ExpectedVersion::NoStream, &batch, &Metadata::new(actor.clone())).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    Ok(())
}
