//! `carnet checkpoint`: extend the log's Merkle tree with every committed event and sign a
//! checkpoint of it now (`carnet_lab::checkpoints`; the server does it every second), printing
//! the signed note. `carnet checkpoint-key`: print the public key checkpoints verify with, or make
//! a new signing key (`--new FILE --origin NAME`) for production.

use anyhow::Context;
use carnet_api::config::Config;
use carnet_api::startup::open_store;
use carnet_store::integrity::checkpoint::CheckpointSigner;

/// Issues a checkpoint of every committed event, and prints the latest one.
pub async fn run(config: &Config) -> anyhow::Result<()> {
    let store = open_store(config.database_url.expose()).await?;
    let remembered = config.load_remembered()?.context("checkpoints are disabled (`[checkpoints] enabled = false`)")?;
    let issued = carnet_lab::checkpoints::issue(&store, &remembered).await.context("cannot issue a checkpoint")?;
    match carnet_store::integrity::checkpoint::latest(&store).await? {
        Some(latest) => {
            if issued.is_none() {
                eprintln!("nothing new since the latest checkpoint ({} events)", latest.size);
            }
            print!("{}", latest.note);
            Ok(())
        }
        None => {
            println!("the log is empty: nothing to sign");
            Ok(())
        }
    }
}

#[derive(clap::Args)]
pub struct KeyArgs {
    /// Make a new signing key in this file (mode 0600; it must not exist) instead of printing the
    /// configured key's public key. Point `[checkpoints] key_file` at it.
    #[arg(long = "new", value_name = "FILE", requires = "origin")]
    new: Option<std::path::PathBuf>,
    /// With `--new`: the log's name, the origin line of its checkpoints
    /// (e.g. `carnet.education.gouv.fr/log`).
    #[arg(long)]
    origin: Option<String>,
}

/// Prints the public key, of the configured key or of a new one.
pub fn key(config: &Config, args: KeyArgs) -> anyhow::Result<()> {
    let signer = match (args.new, args.origin) {
        (Some(file), Some(origin)) => {
            let (key, signer) = CheckpointSigner::generate(&origin)?;
            carnet_lab::checkpoints::write_key(&file, &key)?;
            eprintln!("new checkpoint signing key in {} (mode 0600); its public key:", file.display());
            signer
        }
        _ => config.load_checkpoint_signer()?,
    };
    println!("{}", signer.verifier_key());
    Ok(())
}
