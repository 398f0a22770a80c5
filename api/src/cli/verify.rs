//! `carnet verify`: the log's tamper evidence, the very check the `integrity` query and
//! `/readyz` run (`carnet_lab::log_check::verify`: chains and seals, then the log's extent, then
//! the read models, then the last checkpoint this server issued), and the checkpoints given
//! (`--checkpoint FILE --key KEY`), with a progress bar on a terminal (DESIGN §3.3).

use anyhow::Context;
use carnet_api::config::Config;
use carnet_api::startup::open_store;
use carnet_store::integrity::checkpoint::{self, CheckpointVerifier};
use carnet_store::integrity::{Breach, BreachKind, RecordedSeal, Report};

/// Exit code of `carnet verify` when the log does not verify (1 is left to "could not run").
pub const ALTERED_EXIT_CODE: i32 = 2;

#[derive(clap::Args)]
pub struct Args {
    /// A seal hash recorded from an earlier run, `NUMBER:HASH` (repeatable): it must be
    /// unchanged, which a rewrite of the whole database cannot fake.
    #[arg(long = "seal", value_name = "NUMBER:HASH")]
    seals: Vec<RecordedSeal>,
    /// A signed checkpoint kept from earlier (`GET /checkpoint`, a witness's record), a file
    /// (repeatable): its signature must verify with `--key`, and the log must hold its tree.
    #[arg(long = "checkpoint", value_name = "FILE")]
    checkpoints: Vec<std::path::PathBuf>,
    /// The public key checkpoints verify with (`<origin>+<id>+<base64>`, `GET /checkpoint/key`);
    /// by default the configured key's.
    #[arg(long = "key", value_name = "VERIFIER_KEY")]
    key: Option<String>,
    /// A witness's public key (repeatable), besides the configured `[checkpoints] witnesses`:
    /// its cosignatures are reported verified.
    #[arg(long = "witness", value_name = "VERIFIER_KEY")]
    witnesses: Vec<String>,
}

/// Verifies the whole log with a progress bar (drawn only when stderr is a terminal); prints the
/// summary and the last seal's hash, or the first broken place and exits with
/// [`ALTERED_EXIT_CODE`].
pub async fn run(config: &Config, Args { seals: recorded, checkpoints, key, witnesses }: Args) -> anyhow::Result<()> {
    let mut witness_keys = config.checkpoints.witness_keys()?;
    for key in &witnesses {
        witness_keys.push(carnet_store::integrity::witness::WitnessVerifier::new(key).context("--witness")?);
    }
    let store = open_store(config.database_url.expose()).await?;
    // what this server remembers issuing, if it has a key (verify never makes one)
    let remembered = match std::path::Path::new(&config.checkpoints.key_file).exists() {
        true => config.load_remembered()?,
        false => None,
    };
    let verifier = match (&key, &remembered) {
        (Some(key), _) => Some(CheckpointVerifier::new(key)?),
        (None, Some(remembered)) => Some(remembered.signer().verifier()),
        (None, None) => None,
    };
    let mut kept = vec![];
    for file in &checkpoints {
        let verifier = verifier.as_ref().context("--checkpoint needs --key, the log's public key")?;
        let note = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        let opened = checkpoint::open(&note, verifier).with_context(|| format!("the checkpoint {}", file.display()))?;
        kept.push((file, opened));
    }
    let bar = indicatif::ProgressBar::new(0).with_message("vérification du journal");
    bar.set_style(indicatif::ProgressStyle::with_template(
        "{spinner} {msg}: {pos}/{len} événements ({per_sec}, reste {eta})",
    )?);
    let report = carnet_lab::log_check::verify(&store, &recorded, remembered.as_ref(), |p| {
        bar.set_length(p.total);
        bar.set_position(p.checked);
    })
    .await
    .context("the verification could not run")?;
    bar.finish_and_clear();
    let report = match report {
        Report::Intact(summary) => {
            let mut broken = None;
            for (file, opened) in &kept {
                let source = format!("the checkpoint {}", file.display());
                if let Some(reason) = carnet_lab::checkpoints::events_hold(&store, opened, &source).await? {
                    broken = Some(Breach {
                        global_position: None,
                        stream_id: None,
                        stream_version: None,
                        seal: None,
                        kind: BreachKind::CheckpointDiffers { reason },
                        events_checked: summary.events,
                    });
                    break;
                }
            }
            broken.map_or(Report::Intact(summary), Report::Broken)
        }
        broken => broken,
    };
    match report {
        Report::Intact(s) => {
            println!(
                "log intact: {} events in {} streams, every hash and chain link verified; {} seals verified, \
                 {} events after the last seal (chained, not yet sealed)",
                s.events, s.streams, s.seals, s.unsealed_events
            );
            for r in &recorded {
                println!("recorded seal {} matches", r.seal_number);
            }
            for (file, opened) in &kept {
                println!(
                    "checkpoint {} holds: the log's first {} events are the ones it signed",
                    file.display(),
                    opened.size
                );
            }
            for w in carnet_lab::checkpoints::witnessed(&store, &witness_keys).await? {
                println!(
                    "witness {} ({:08x}) cosigned the checkpoint of {} events at {}: {}",
                    w.witness,
                    w.key_id,
                    w.tree_size,
                    chrono::DateTime::from_timestamp(w.time.min(i64::MAX as u64) as i64, 0).unwrap_or_default(),
                    if w.verified { "verified" } else { "NOT verified with a known witness key" }
                );
            }
            if let Some(latest) = remembered.as_ref().and_then(|r| r.latest()) {
                println!("the last checkpoint this server issued ({} events) holds", latest.size);
            }
            match s.last_seal {
                Some(seal) => {
                    println!(
                        "last seal: {}:{}  (up to global position {}, sealed at {})",
                        seal.seal_number, seal.hash, seal.last_global_position, seal.sealed_at
                    );
                    println!(
                        "Record this line outside the database; a later `carnet verify --seal {}:{}` proves that \
                         nothing up to it was rewritten.",
                        seal.seal_number, seal.hash
                    );
                }
                None => println!("no seal yet: `carnet seal` seals the log now (the server seals periodically)"),
            }
            Ok(())
        }
        Report::Broken(breach) => {
            println!("LOG ALTERED — first broken place: {breach}");
            println!("{} events verified before it.", breach.events_checked);
            std::process::exit(ALTERED_EXIT_CODE);
        }
    }
}
