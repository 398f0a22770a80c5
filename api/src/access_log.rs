//! The server's side of the access log (`carnet_store::access_log`): requests are queued by the
//! `observe` middleware and written in batches by one task, so a request never waits for the
//! log; a second task deletes what is older than the retention.
//!
//! Best effort, by design: if the database is slow and the queue fills up, records are dropped
//! and counted (`carnet_access_log_dropped_total`) rather than slowing the API down; on
//! shutdown the queue is written out. The event log, not this one, is the record that is
//! never lost.

use carnet_store::AnyStore;
use carnet_store::access_log::{AccessRecord, purge_access_log, write_access_log};
use chrono::Utc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Records waiting to be written, at most.
const QUEUE: usize = 10_000;
/// Records written per statement, at most.
const BATCH: usize = 500;
/// How long the writer gathers records before an insert: under load a request ends every
/// millisecond, and one insert per request cost the database more than the request's own read
/// (issue 13, `pg_stat_statements`); a record reaches the table within this much more.
const LINGER: Duration = Duration::from_millis(50);
/// How often the purge runs.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// What the request path holds: a sender into the writer's queue.
#[derive(Clone)]
pub struct AccessLog {
    queue: mpsc::Sender<AccessRecord>,
}

/// Who called, as the access log records it (`issuer`, `subject`): set on the request by the
/// GraphQL handler once the token is verified.
#[derive(Clone, Debug)]
pub struct LoggedCaller {
    pub issuer: String,
    pub subject: String,
}

/// The GraphQL operation a request ran, for the access log.
#[derive(Clone, Debug)]
pub struct Operation(pub String);

/// The distinct error codes of the answer, comma-separated, for the access log: set by the
/// GraphQL handler when the answer has errors.
#[derive(Clone, Debug)]
pub struct ErrorCodes(pub String);

impl AccessLog {
    /// Starts the writer and the purge (every hour, and once now) of records older than
    /// `retention_days`.
    pub fn start(store: AnyStore, retention_days: u32) -> Self {
        let (queue, records) = mpsc::channel(QUEUE);
        tokio::spawn(write(store.clone(), records));
        tokio::spawn(async move {
            let mut every = tokio::time::interval(PURGE_EVERY);
            loop {
                every.tick().await;
                match purge(&store, retention_days).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, retention_days, "access log purged"),
                    Err(e) => tracing::warn!(error = %e, "cannot purge the access log"),
                }
            }
        });
        Self { queue }
    }

    /// Queues `record`; drops it (and counts it) when the queue is full.
    pub fn record(&self, record: AccessRecord) {
        if self.queue.try_send(record).is_err() {
            metrics::counter!(crate::telemetry::metric::ACCESS_LOG_DROPPED).increment(1);
        }
    }
}

/// Deletes the records older than `retention_days`.
pub async fn purge(store: &AnyStore, retention_days: u32) -> Result<u64, carnet_store::StoreError> {
    purge_access_log(store, Utc::now() - chrono::Duration::days(i64::from(retention_days))).await
}

async fn write(store: AnyStore, mut records: mpsc::Receiver<AccessRecord>) {
    let mut batch = Vec::with_capacity(BATCH);
    // waits for the first record, gathers what else comes within LINGER, writes; ends when
    // every sender is gone (the server stopped) and the queue is empty
    while records.recv_many(&mut batch, BATCH).await > 0 {
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            let room = BATCH - batch.len();
            let more = records.recv_many(&mut batch, room);
            match tokio::time::timeout_at(deadline, more).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        if let Err(e) = write_access_log(&store, &batch).await {
            metrics::counter!(crate::telemetry::metric::ACCESS_LOG_DROPPED).increment(batch.len() as u64);
            tracing::warn!(error = %e, records = batch.len(), "cannot write the access log");
        }
        batch.clear();
    }
}
