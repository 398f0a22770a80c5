//! `carnet rotate-master-key`: re-wrap every person's data key with the current master key
//! (`carnet_lab::master_keys`, `carnet_store::personal_data::rotate`).

use anyhow::Context;
use carnet_api::config::Config;
use carnet_api::startup::open_store;

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let master_keys = config.load_master_keys(false)?;
    let current = master_keys.current_id().context("no master key is configured: nothing to rotate to")?;
    let store = open_store(config.database_url.expose()).await?;
    let done = carnet_store::personal_data::rotate(&store, &master_keys).await.context("rotation failed")?;
    println!(
        "{} data key(s) re-wrapped with master key `{current}`, {} already were",
        done.rewrapped, done.already_current
    );
    Ok(())
}
