//! `carnet verify`: the log's tamper evidence, the very check the `integrity` query and
//! `/readyz` run (`carnet_lab::log_check::verify`: chains and seals, then the log's extent, then
//! the read models), with a progress bar on a terminal (DESIGN §3.3).

use anyhow::Context;
use carnet_api::config::Config;
use carnet_api::startup::open_store;
use carnet_store::integrity::{RecordedSeal, Report};

/// Exit code of `carnet verify` when the log does not verify (1 is left to "could not run").
pub const ALTERED_EXIT_CODE: i32 = 2;

#[derive(clap::Args)]
pub struct Args {
    /// A seal hash recorded from an earlier run, `NUMBER:HASH` (repeatable): it must be
    /// unchanged, which a rewrite of the whole database cannot fake.
    #[arg(long = "seal", value_name = "NUMBER:HASH")]
    seals: Vec<RecordedSeal>,
}

/// Verifies the whole log with a progress bar (drawn only when stderr is a terminal); prints the
/// summary and the last seal's hash, or the first broken place and exits with
/// [`ALTERED_EXIT_CODE`].
pub async fn run(config: &Config, Args { seals: recorded }: Args) -> anyhow::Result<()> {
    let store = open_store(config.database_url.expose()).await?;
    let bar = indicatif::ProgressBar::new(0).with_message("vérification du journal");
    bar.set_style(indicatif::ProgressStyle::with_template(
        "{spinner} {msg}: {pos}/{len} événements ({per_sec}, reste {eta})",
    )?);
    let report = carnet_lab::log_check::verify(&store, &recorded, |p| {
        bar.set_length(p.total);
        bar.set_position(p.checked);
    })
    .await
    .context("the verification could not run")?;
    bar.finish_and_clear();
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
