//! `carnet-bench store`: the store's append against raw `INSERT`s of the same rows, measured in
//! one run on one PostgreSQL server, reported as ratios (DESIGN §9).
//!
//! A fresh database is created and dropped ([`ScratchPostgres`]). The baseline table `bench_raw` is created
//! `like events including all`: same columns, defaults, constraints and indexes, and the raw
//! side writes the rows the store writes — the command id on an append's first event (an entry
//! in its unique index), a 32-byte `hash` and `prev_hash` — without the store's checks, lock,
//! head read or hashing. Raw and store
//! phases alternate for several rounds so that drift of the machine affects both alike.

use crate::scratch::ScratchPostgres;
use carnet_store::{Actor, Checkpoint, EventStore, ExpectedVersion, Metadata, NewEvent, PgStore, StreamId};
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// A PostgreSQL URL; the bench creates its own database on that server.
    pub database_url: String,
    pub writers: usize,
    /// Length of one measured phase.
    pub phase: Duration,
    /// Raw/store alternations.
    pub rounds: usize,
}

#[derive(Clone, Debug, Default)]
pub struct Throughput {
    pub events: u64,
    pub elapsed: Duration,
}

impl Throughput {
    pub fn per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    fn add(&mut self, other: Throughput) {
        self.events += other.events;
        self.elapsed += other.elapsed;
    }
}

#[derive(Clone, Debug, Default)]
pub struct BenchReport {
    pub raw_single: Throughput,
    pub store_single: Throughput,
    pub raw_batch: Throughput,
    pub store_batch: Throughput,
    pub catch_up: Throughput,
}

/// The append targets of docs/DESIGN.md §9: the store's append at 1 and at 100 events per
/// transaction, each against raw `INSERT`s of the same rows in the same run.
pub const APPEND_RATIO_TARGET: f64 = 0.80;

impl BenchReport {
    pub fn single_ratio(&self) -> f64 {
        self.store_single.per_second() / self.raw_single.per_second()
    }
    pub fn batch_ratio(&self) -> f64 {
        self.store_batch.per_second() / self.raw_batch.per_second()
    }
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let line = |f: &mut std::fmt::Formatter<'_>, what: &str, t: &Throughput| {
            writeln!(
                f,
                "  {what:<44} {:>10.0} events/s  ({} events in {:.1} s)",
                t.per_second(),
                t.events,
                t.elapsed.as_secs_f64()
            )
        };
        let ratio = |f: &mut std::fmt::Formatter<'_>, r: f64| {
            let what = format!("ratio (target >= {APPEND_RATIO_TARGET:.2})");
            writeln!(f, "  {what:<44} {r:>10.2}")
        };
        line(f, "raw INSERT, 1 event/tx", &self.raw_single)?;
        line(f, "store append, 1 event/tx", &self.store_single)?;
        ratio(f, self.single_ratio())?;
        line(f, "raw batched INSERT, 100 events/tx", &self.raw_batch)?;
        line(f, "store append, 100 events/tx", &self.store_batch)?;
        ratio(f, self.batch_ratio())?;
        line(f, "catch-up read_all (target >= 100 000/s)", &self.catch_up)
    }
}

/// Runs the whole benchmark; `progress` is told what phase starts.
pub async fn run(options: &BenchOptions, progress: impl Fn(&str)) -> anyhow::Result<BenchReport> {
    let db = ScratchPostgres::create(&options.database_url).await?;
    let result = run_in(options, &db.url, &progress).await;
    db.remove().await?;
    result
}

async fn run_in(options: &BenchOptions, url: &str, progress: &impl Fn(&str)) -> anyhow::Result<BenchReport> {
    let store = PgStore::connect(url, options.writers as u32 + 2).await?;
    store.migrate().await?;
    sqlx::query("create table bench_raw (like events including all)").execute(store.pool()).await?;

    let mut report = BenchReport::default();
    for round in 1..=options.rounds {
        progress(&format!("round {round}/{}: raw INSERT, 1 event/tx", options.rounds));
        report.raw_single.add(phase(&store, options, 1, Side::Raw).await?);
        progress(&format!("round {round}/{}: store append, 1 event/tx", options.rounds));
        report.store_single.add(phase(&store, options, 1, Side::Store).await?);
        progress(&format!("round {round}/{}: raw INSERT, 100 events/tx", options.rounds));
        report.raw_batch.add(phase(&store, options, 100, Side::Raw).await?);
        progress(&format!("round {round}/{}: store append, 100 events/tx", options.rounds));
        report.store_batch.add(phase(&store, options, 100, Side::Store).await?);
    }
    progress("catch-up read of the whole log");
    report.catch_up = catch_up(&store).await?;
    store.pool().close().await;
    Ok(report)
}

#[derive(Clone, Copy)]
enum Side {
    Raw,
    Store,
}

/// `options.writers` tasks append `per_tx` events per transaction for `options.phase`, each to
/// its own 100 streams in turn (fresh streams per phase).
async fn phase(store: &PgStore, options: &BenchOptions, per_tx: usize, side: Side) -> anyhow::Result<Throughput> {
    let deadline = Instant::now() + options.phase;
    let start = Instant::now();
    let tasks: Vec<_> = (0..options.writers)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let streams: Vec<StreamId> = (0..100).map(|_| StreamId::new("bench", Uuid::now_v7())).collect();
                let mut versions = vec![0u64; streams.len()];
                let actor = Actor { id: "bench".into(), issuer: "carnet-bench".into() };
                let mut written = 0u64;
                let mut i = 0;
                while Instant::now() < deadline {
                    let s = i % streams.len();
                    i += 1;
                    let events: Vec<NewEvent> = (0..per_tx)
                        .map(|n| {
                            NewEvent::new(
                                "BenchEventRecorded",
                                json!({ "n": n, "note": "une ligne de texte ordinaire" }),
                            )
                        })
                        .collect();
                    let metadata = Metadata::new(actor.clone());
                    match side {
                        Side::Raw => raw_insert(&store, &streams[s], versions[s], &events, &metadata).await?,
                        Side::Store => {
                            let expected = ExpectedVersion::from_loaded(versions[s]);
                            store.append(&streams[s], expected, &events, &metadata).await?;
                        }
                    }
                    versions[s] += per_tx as u64;
                    written += per_tx as u64;
                }
                anyhow::Ok(written)
            })
        })
        .collect();
    let mut events = 0;
    for t in tasks {
        events += t.await??;
    }
    Ok(Throughput { events, elapsed: start.elapsed() })
}

/// The baseline: the same rows, inserted with one plain statement, autocommit. The hashes are
/// 32 bytes taken from ids (the store's are SHA-256 computed under its lock: that work is what
/// the ratio measures).
async fn raw_insert(
    store: &PgStore,
    stream: &StreamId,
    after: u64,
    events: &[NewEvent],
    metadata: &Metadata,
) -> anyhow::Result<()> {
    let meta = serde_json::to_value(metadata)?;
    sqlx::query(
        "insert into bench_raw (stream_id, stream_version, event_id, event_type, schema_version, payload, metadata, \
                                command_id, hash, prev_hash) \
         select $1, $2 + t.n, t.event_id, t.event_type, t.schema_version, t.payload, $7, \
                case when t.n = 1 then $8 end, t.hash, t.prev_hash \
         from unnest($3::uuid[], $4::text[], $5::int[], $6::jsonb[], $9::bytea[], $10::bytea[]) \
             with ordinality as t(event_id, event_type, schema_version, payload, hash, prev_hash, n)",
    )
    .bind(stream.as_str())
    .bind(after as i64)
    .bind(events.iter().map(|e| e.event_id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.schema_version).collect::<Vec<_>>())
    .bind(events.iter().map(|e| &e.payload).collect::<Vec<_>>())
    .bind(&meta)
    .bind(metadata.command_id)
    .bind(events.iter().map(|e| bytes32(e.event_id, metadata.command_id)).collect::<Vec<_>>())
    .bind(events.iter().map(|e| bytes32(metadata.command_id, e.event_id)).collect::<Vec<_>>())
    .execute(store.pool())
    .await?;
    Ok(())
}

/// 32 bytes, as a hash is: two ids side by side.
fn bytes32(a: Uuid, b: Uuid) -> Vec<u8> {
    [a.as_bytes().as_slice(), b.as_bytes().as_slice()].concat()
}

async fn catch_up(store: &PgStore) -> anyhow::Result<Throughput> {
    let start = Instant::now();
    let mut after = Checkpoint::START;
    let mut events = 0u64;
    loop {
        let batch = store.read_all(after, 5_000).await?;
        let Some(last) = batch.last() else { break };
        after = last.checkpoint();
        events += batch.len() as u64;
    }
    Ok(Throughput { events, elapsed: start.elapsed() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_judges_both_append_ratios_against_the_design_target() {
        let design = include_str!("../../docs/DESIGN.md");
        let stated = format!("≥ {} × raw", APPEND_RATIO_TARGET);
        assert_eq!(design.matches(&stated).count(), 2, "DESIGN §9 states {stated:?} for both append rows");

        let t = |events| Throughput { events, elapsed: Duration::from_secs(1) };
        let report = BenchReport {
            raw_single: t(1_000),
            store_single: t(640),
            raw_batch: t(10_000),
            store_batch: t(8_700),
            catch_up: t(100_000),
        };
        let text = report.to_string();
        let ratios: Vec<&str> = text.lines().filter(|l| l.contains("ratio")).collect();
        assert_eq!(ratios.len(), 2, "{text}");
        assert!(ratios[0].contains("target >= 0.80") && ratios[0].trim_end().ends_with("0.64"), "{text}");
        assert!(ratios[1].contains("target >= 0.80") && ratios[1].trim_end().ends_with("0.87"), "{text}");
    }
}
