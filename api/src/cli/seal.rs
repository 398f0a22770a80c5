//! `carnet seal`: seal every committed, unsealed event now (`carnet_store::integrity`; the
//! server also seals periodically).

use anyhow::Context;
use carnet_api::config::Config;
use carnet_api::startup::open_store;
use carnet_store::integrity;

/// Seals every committed, unsealed event now.
pub async fn run(config: &Config) -> anyhow::Result<()> {
    let store = open_store(config.database_url.expose()).await?;
    let sealed = integrity::seal_pending(&store).await.context("sealing failed")?;
    match sealed.last() {
        None => println!("nothing to seal: every committed event is already sealed"),
        Some(last) => println!(
            "{} seal(s) written, {} events sealed; last seal: {}:{} (up to global position {})",
            sealed.len(),
            sealed.iter().map(|s| s.event_count).sum::<u64>(),
            last.seal_number,
            integrity::to_hex(&last.hash),
            last.last.global_position
        ),
    }
    Ok(())
}
