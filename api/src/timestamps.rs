//! The timestamper: with `[checkpoints] tsa_url`, the latest signed checkpoint gets an RFC 3161
//! timestamp token from that time-stamping authority at least every `timestamp_every_s` (an
//! hour) while the log grows (`carnet_store::integrity::timestamp` builds the request and reads
//! the answer; this is its HTTP: `POST`, `application/timestamp-query`). The token covers the
//! SHA-256 of the checkpoint's note as issued (the log's signature line included, no
//! cosignature). A TSA that cannot be reached or refuses is logged, once, and tried again at the
//! next round: timestamps add evidence, they never hold back the log.

use carnet_store::AnyStore;
use carnet_store::integrity::{checkpoint, timestamp};
use chrono::Utc;
use std::time::Duration;

/// Starts the timestamper when a TSA is configured (and checkpoints are on).
pub fn start(
    store: AnyStore,
    config: &carnet_lab::checkpoints::CheckpointConfig,
) -> Option<tokio::task::JoinHandle<()>> {
    let tsa = config.tsa_url.clone().filter(|_| config.enabled)?;
    let every = Duration::from_secs(config.timestamp_every_s.max(1));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().ok()?;
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.min(Duration::from_secs(60)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing: Option<String> = None;
        loop {
            tick.tick().await;
            match round(&store, &client, &tsa, every).await {
                Ok(stamped) => {
                    if failing.take().is_some() {
                        tracing::info!(tsa, "timestamper: the time-stamping authority answers again");
                    }
                    if let Some(size) = stamped {
                        tracing::info!(tsa, size, "checkpoint timestamped");
                    }
                }
                Err(e) if e.downcast_ref::<carnet_store::StoreError>().is_some_and(|e| e.is_pool_closed()) => break,
                Err(e) => {
                    let error = format!("{e:#}");
                    if failing.as_deref() != Some(error.as_str()) {
                        tracing::error!(tsa, error, "timestamper: cannot timestamp the latest checkpoint");
                        failing = Some(error);
                    }
                }
            }
        }
    }))
}

/// Timestamps the latest checkpoint if it is due: none yet, or the last token is `every` old
/// and the log grew since. The size stamped, if any.
async fn round(store: &AnyStore, client: &reqwest::Client, tsa: &str, every: Duration) -> anyhow::Result<Option<u64>> {
    let Some(latest) = checkpoint::latest(store).await? else { return Ok(None) };
    if let Some(last) = timestamp::latest(store).await? {
        let age = (Utc::now() - last.stamp.gen_time).to_std().unwrap_or_default();
        if last.tree_size >= latest.size || age < every {
            return Ok(None);
        }
    }
    let nonce: u64 = rand::random();
    let request = timestamp::request(latest.note.as_bytes(), nonce)?;
    let response = client
        .post(tsa)
        .header("content-type", "application/timestamp-query")
        .body(request)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let stamp = timestamp::read_response(&response, latest.note.as_bytes(), nonce)?;
    timestamp::store(store, latest.size, tsa, &stamp).await?;
    Ok(Some(latest.size))
}
