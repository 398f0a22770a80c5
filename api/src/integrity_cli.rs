//! `carnet verify`, `carnet seal` and `carnet bench verify`: the command line of the log's
//! tamper evidence (DESIGN §3.3). The work is in `carnet_store::integrity`; this prints it.

use crate::config::Config;
use crate::startup::open_store;
use anyhow::Context;
use carnet_store::integrity::{self, RecordedSeal, Report};

/// Exit code of `carnet verify` when the log does not verify (1 is left to "could not run").
pub const ALTERED_EXIT_CODE: i32 = 2;

/// Verifies the whole log with a progress bar (drawn only when stderr is a terminal); prints the
/// summary and the last seal's hash, or the first broken place and exits with
/// [`ALTERED_EXIT_CODE`].
pub async fn verify(config: &Config, recorded: &[RecordedSeal]) -> anyhow::Result<()> {
    let store = open_store(config.database_url.expose()).await?;
    let bar = indicatif::ProgressBar::new(0).with_message("vérification du journal");
    bar.set_style(indicatif::ProgressStyle::with_template(
        "{spinner} {msg}: {pos}/{len} événements ({per_sec}, reste {eta})",
    )?);
    let report = crate::log_check::verify(&store, recorded, |p| {
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
            for r in recorded {
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

/// Seals every committed, unsealed event now.
pub async fn seal(config: &Config) -> anyhow::Result<()> {
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

/// `carnet bench verify`.
pub async fn bench(postgres_url: String, events: usize, rounds: usize) -> anyhow::Result<()> {
    let options = integrity::bench::VerifyBenchOptions { database_url: postgres_url, events, rounds };
    println!("carnet bench verify: {events} events, {rounds} rounds");
    let report = integrity::bench::run(&options, |phase| eprintln!("… {phase}")).await.context("benchmark failed")?;
    print!("{report}");
    Ok(())
}
