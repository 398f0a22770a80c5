//! `carnet witness`: a third party's witness of a Carnet log (`carnet_lab::witness`), over the
//! log's public endpoints (`/checkpoint`, `/checkpoint/consistency`, `/checkpoint/cosignature`).
//! It needs no database and no token: the log's URL and public key, its own key and record.
//! `carnet witness-key --new FILE --name NAME` makes a witness key and prints its public key,
//! for the lab's `[checkpoints] witnesses`.
//!
//! Exit codes: 0 when `--once` cosigned or found nothing new; [`REFUSED_EXIT_CODE`] when the log
//! went back or forked (the evidence is kept, the error logged); 1 when it could not run.

use anyhow::Context;
use carnet_lab::witness::{self, Outcome, Record};
use carnet_store::integrity::Hash;
use carnet_store::integrity::checkpoint::CheckpointVerifier;
use std::path::PathBuf;
use std::time::Duration;

/// Exit code of `carnet witness` when it refuses the log's checkpoint.
pub const REFUSED_EXIT_CODE: i32 = 3;

#[derive(clap::Args)]
pub struct Args {
    /// The Carnet server, e.g. `https://carnet.education.gouv.fr`.
    #[arg(long)]
    url: String,
    /// The log's public key (`GET /checkpoint/key`, obtained from the lab by another way too).
    #[arg(long = "log-key", value_name = "VERIFIER_KEY")]
    log_key: String,
    /// This witness's signer key (mode 0600; `carnet witness-key --new`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// This witness's record: the last checkpoint it cosigned, and the evidence of refusals.
    #[arg(long, value_name = "DIR")]
    state: PathBuf,
    /// How often to look for a new checkpoint, in seconds.
    #[arg(long, default_value_t = 10)]
    every: u64,
    /// One round, then exit.
    #[arg(long)]
    once: bool,
}

/// The log over HTTP.
struct HttpLog {
    client: reqwest::Client,
    url: String,
}

impl HttpLog {
    async fn text(&self, response: reqwest::Response) -> anyhow::Result<String> {
        let status = response.status();
        let body = response.text().await?;
        anyhow::ensure!(status.is_success(), "{status}: {}", body.trim());
        Ok(body)
    }
}

impl witness::Log for HttpLog {
    async fn latest(&self) -> anyhow::Result<String> {
        self.text(self.client.get(format!("{}/checkpoint", self.url)).send().await?).await
    }

    async fn consistency(&self, from: u64, to: u64) -> anyhow::Result<Vec<Hash>> {
        let url = format!("{}/checkpoint/consistency?from={from}&to={to}", self.url);
        let body = self.text(self.client.get(url).send().await?).await?;
        use base64::Engine;
        body.lines()
            .map(|line| {
                let bytes = base64::engine::general_purpose::STANDARD.decode(line)?;
                bytes.try_into().map_err(|_| anyhow::anyhow!("a proof line is not a SHA-256 hash"))
            })
            .collect()
    }

    async fn send(&self, cosigned: &str) -> anyhow::Result<()> {
        let url = format!("{}/checkpoint/cosignature", self.url);
        self.text(self.client.post(url).body(cosigned.to_owned()).send().await?).await.map(drop)
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let log_key = CheckpointVerifier::new(&args.log_key).context("--log-key")?;
    let key = witness::load_key(&args.key)?;
    let record = Record::open(&args.state)?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let log = HttpLog { client, url: args.url.trim_end_matches('/').to_owned() };
    tracing::info!(witness = key.name(), log = log_key.origin(), url = log.url, "witnessing");
    let mut tick = tokio::time::interval(Duration::from_secs(args.every.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
        match witness::round(&log, &log_key, &key, &record, now).await {
            Ok(Outcome::Cosigned { size }) => {
                tracing::info!(size, "cosigned");
                println!("cosigned the checkpoint of {size} events");
            }
            Ok(Outcome::Unchanged { size }) => tracing::debug!(size, "nothing new"),
            Ok(Outcome::Refused { refusal, evidence }) => {
                tracing::error!(error = %refusal, evidence = %evidence.display(), "REFUSED: the log is not append-only");
                println!("REFUSED: {refusal}; the evidence (both signed checkpoints) is in {}", evidence.display());
                std::process::exit(REFUSED_EXIT_CODE);
            }
            Err(e) if args.once => return Err(e),
            Err(e) => tracing::warn!(error = format!("{e:#}"), "this round failed; trying again"),
        }
        if args.once {
            return Ok(());
        }
    }
}

#[derive(clap::Args)]
pub struct KeyArgs {
    /// Make a new witness key in this file (mode 0600; it must not exist).
    #[arg(long = "new", value_name = "FILE", requires = "name", conflicts_with = "key")]
    new: Option<PathBuf>,
    /// With `--new`: the witness's name (e.g. `inspection.education.gouv.fr/witness`).
    #[arg(long)]
    name: Option<String>,
    /// Print the public key of this existing witness key.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
}

/// Prints a witness's public key, of a new key or of an existing one.
pub fn key(args: KeyArgs) -> anyhow::Result<()> {
    let signer = match (args.new, args.name, args.key) {
        (Some(file), Some(name), _) => {
            let signer = witness::new_key(&file, &name)?;
            eprintln!(
                "new witness key in {} (mode 0600); its public key, for the lab's `[checkpoints] witnesses`:",
                file.display()
            );
            signer
        }
        (_, _, Some(file)) => witness::load_key(&file)?,
        _ => anyhow::bail!("give `--new FILE --name NAME` or `--key FILE`"),
    };
    println!("{}", signer.verifier_key());
    Ok(())
}
