//! `carnet migrate`: apply pending migrations and exit.

use carnet_api::config::Config;
use carnet_api::startup::open_store;

pub async fn run(config: &Config) -> anyhow::Result<()> {
    open_store(config.database_url.expose()).await?;
    println!("migrations applied");
    Ok(())
}
