//! `carnet rebuild [projection]`: rebuild read models from the whole log, without downtime
//! (`carnet_projections::rebuild_with`), with a progress spinner on a terminal.

use anyhow::Context;
use carnet_api::config::Config;
use carnet_api::startup::open_store;
use carnet_projections::ReadModel;

#[derive(clap::Args)]
pub struct Args {
    /// Which read model: `projects`, `sessions` or `people`; all of them when omitted (in
    /// one pass over the log).
    projection: Option<String>,
}

pub async fn run(config: &Config, Args { projection }: Args) -> anyhow::Result<()> {
    let which = match projection.as_deref() {
        None => None,
        Some(name) => Some(name.parse::<ReadModel>().map_err(|_| {
            let names: Vec<&str> = ReadModel::ALL.iter().map(|m| m.name()).collect();
            anyhow::anyhow!("unknown projection {name}: the read models are: {}", names.join(", "))
        })?),
    };
    let what = which.map_or_else(|| "every read model".to_owned(), |m| m.to_string());
    let store = open_store(config.database_url.expose()).await?;
    // drawn only when stderr is a terminal
    let message = match which {
        None => "reconstruction de tous les modèles de lecture",
        Some(ReadModel::Projects) => "reconstruction des projets",
        Some(ReadModel::Sessions) => "reconstruction des sessions",
        Some(ReadModel::People) => "reconstruction des personnes",
    };
    let bar = indicatif::ProgressBar::new_spinner().with_message(message);
    bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg}: {pos} événements lus ({per_sec})")?);
    let master_keys = config.load_master_keys(false)?;
    let codec = std::sync::Arc::new(carnet_lab::codec::carnet_codec().with_master_keys(master_keys));
    let done = carnet_projections::rebuild_with(&store, codec, which, 5_000, &mut |p| bar.set_position(p.events_read))
        .await
        .context("rebuild failed")?;
    bar.finish_and_clear();
    println!("{what} rebuilt: {} events read, {} applied", done.events_read, done.events_applied);
    Ok(())
}
