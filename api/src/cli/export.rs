//! `carnet export`: the log with its hashes, for auditors (the format and the reading are
//! `carnet_lab::export`'s); the period's events to a file or standard output, with a progress bar
//! on a terminal.

use anyhow::Context;
use carnet_api::config::Config;
use carnet_api::startup::open_store;
use carnet_lab::export::{Format, Period, is_broken_pipe, period, write_log};
use carnet_store::feed::{Feed, FeedFilter};
use chrono::Utc;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// First day or moment exported (`2026-01-01`, or `2026-01-01T08:00:00Z`), recording time,
    /// UTC: the start of the log when omitted.
    #[arg(long)]
    from: Option<String>,
    /// Last day or moment exported, included (`2026-06-30` is the whole day): the moment the
    /// export starts when omitted.
    #[arg(long)]
    to: Option<String>,
    /// `jsonl`: one JSON object a line; `csv`: RFC 4180, with a header.
    #[arg(long, default_value = "jsonl", value_parser = format_parser())]
    format: Format,
    /// The file to write (replaced if it exists); standard output when omitted.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Also write the latest signed checkpoint the export holds (its first N events), with the
    /// witnesses' cosignatures, to this file, for `tools/verify_export.py --checkpoint FILE --key
    /// KEY [--witness KEY]` (a whole-log export only: a checkpoint covers the log from its first
    /// event).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Also write the RFC 3161 timestamp tokens of the checkpoints the export holds into this
    /// folder: `<size>.checkpoint` (the note as issued, what the token stamps) and `<size>.tsr`
    /// (the token, DER), for `openssl ts -verify -token_in -in N.tsr -data N.checkpoint -CAfile
    /// TSA_CA` (a whole-log export only).
    #[arg(long, value_name = "DIR")]
    timestamps: Option<PathBuf>,
}

/// `--format`: one of the names of [`Format::ALL`].
fn format_parser() -> impl TypedValueParser<Value = Format> {
    PossibleValuesParser::new(Format::ALL.map(|(name, _)| name))
        .map(|name| Format::ALL.into_iter().find(|(n, _)| *n == name).map_or(Format::Jsonl, |(_, format)| format))
}

pub async fn run(config: &Config, args: Args) -> anyhow::Result<()> {
    let store = open_store(config.database_url.expose()).await?;
    let Period { from, to } = period(args.from.as_deref(), args.to.as_deref())?;
    anyhow::ensure!(
        args.checkpoint.is_none() && args.timestamps.is_none() || from.is_none(),
        "--checkpoint and --timestamps need the log from its first event: leave out --from"
    );
    // a period left open ends now: what commits during the export belongs to the next one
    let filter = FeedFilter { from, to: Some(to.unwrap_or_else(Utc::now)), ..Default::default() };
    let total = store.count_feed(&filter).await.context("cannot count the events to export")?;
    // drawn on standard error, and only when it is a terminal
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} événements exportés ({per_sec}, reste {eta})",
    )?);
    let on_progress = |n: u64| {
        if n > bar.length().unwrap_or(0) {
            bar.set_length(n);
        }
        bar.set_position(n);
    };
    let written = match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            write_log(&store, &filter, args.format, std::io::BufWriter::new(file), on_progress).await?
        }
        None => {
            let out = std::io::BufWriter::new(std::io::stdout().lock());
            match write_log(&store, &filter, args.format, out, on_progress).await {
                Ok(written) => written,
                Err(e) if is_broken_pipe(&e) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    };
    bar.finish_and_clear();
    if let Some(path) = &args.checkpoint {
        match carnet_store::integrity::checkpoint::within(&store, written).await? {
            Some(cp) => {
                let note = carnet_lab::checkpoints::with_cosignatures(&store, &cp).await?;
                std::fs::write(path, note).with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("point de contrôle signé des {} premiers événements écrit dans {}", cp.size, path.display());
            }
            None => {
                anyhow::bail!("no checkpoint was signed yet within the exported events: `carnet checkpoint` signs one")
            }
        }
    }
    if let Some(dir) = &args.timestamps {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut kept = 0;
        for stamp in carnet_store::integrity::timestamp::all(&store).await? {
            let Some(cp) = carnet_store::integrity::checkpoint::of_size(&store, stamp.tree_size).await? else {
                continue;
            };
            if cp.size > written {
                continue;
            }
            for (file, bytes) in [
                (format!("{}.checkpoint", cp.size), cp.note.as_bytes()),
                (format!("{}.tsr", cp.size), &stamp.stamp.token[..]),
            ] {
                let path = dir.join(file);
                std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
            }
            kept += 1;
        }
        eprintln!("{kept} jetons d'horodatage écrits dans {}", dir.display());
    }
    let to = args.output.as_ref().map_or_else(|| "la sortie standard".to_owned(), |p| p.display().to_string());
    eprintln!("{written} événements exportés vers {to}");
    Ok(())
}
