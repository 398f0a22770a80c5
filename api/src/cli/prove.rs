//! `carnet prove`: the proofs the API gives auditors (`carnet_lab::proofs`), from the database
//! directly, printed as files an auditor keeps and checks offline with the log's public key:
//! - `carnet prove inclusion --event UUID | --position N [--size N]`: the event's receipt, a C2SP
//!   `tlog-proof` (header, `extra` = the event's hash, `index`, the path, then the signed
//!   checkpoint) — `tools/verify_export.py --receipt` checks one without Carnet;
//! - `carnet prove consistency --from M [--to N]`: the consistency proof (one base64 hash per
//!   line), a blank line, then the signed checkpoint of `N` events.
//!
//! Exit code 1 when there is no such checkpoint or event in its tree, saying which.

use anyhow::Context;
use base64::Engine;
use carnet_api::config::Config;
use carnet_api::startup::open_store;
use carnet_store::integrity::tree::EventRef;

#[derive(clap::Subcommand)]
pub enum Args {
    /// An event's receipt: its inclusion proof in a signed checkpoint.
    Inclusion {
        /// The event's id.
        #[arg(long, conflicts_with = "position", required_unless_present = "position")]
        event: Option<uuid::Uuid>,
        /// The event's global position.
        #[arg(long)]
        position: Option<i64>,
        /// The size of the checkpoint to prove against (default: the latest).
        #[arg(long)]
        size: Option<u64>,
    },
    /// That a signed checkpoint extends the tree of fewer events.
    Consistency {
        #[arg(long)]
        from: u64,
        /// The size of the later checkpoint (default: the latest).
        #[arg(long)]
        to: Option<u64>,
    },
}

pub async fn run(config: &Config, args: Args) -> anyhow::Result<()> {
    let store = open_store(config.database_url.expose()).await?;
    match args {
        Args::Inclusion { event, position, size } => {
            let event = match (event, position) {
                (Some(id), _) => EventRef::Id(id),
                (None, Some(position)) => EventRef::Position(position),
                (None, None) => anyhow::bail!("give --event or --position"),
            };
            let inclusion = carnet_lab::proofs::inclusion(&store, event, size, None).await.context("no proof")?;
            print!("{}", inclusion.receipt);
        }
        Args::Consistency { from, to } => {
            let consistency = carnet_lab::proofs::consistency(&store, from, to).await.context("no proof")?;
            let b64 = base64::engine::general_purpose::STANDARD;
            for hash in &consistency.proof {
                println!("{}", b64.encode(hash));
            }
            println!();
            print!("{}", consistency.checkpoint.note);
        }
    }
    Ok(())
}
