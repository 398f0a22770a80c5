//! `carnet`: the lab's logbook. A thin entry point: parse the command line, load the
//! configuration (a configuration that cannot be read, or holds an unknown key or a wrong value,
//! stops every command before anything is opened or written: `config.rs`), then hand over to the
//! command's own file under `cli/`. The benchmarks are another binary (`carnet-bench`).

mod cli;

use anyhow::Context;
use carnet_api::config::Config;
use carnet_api::startup::redact;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "carnet", version, about = "Carnet — le carnet de bord du 110 bis")]
struct Cli {
    /// Overrides the configured database: `sqlite://data/carnet.db` (the default) or
    /// `postgres://user@host/db`. Also `CARNET_DATABASE_URL` or `database_url` in carnet.toml.
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default): /healthz, /readyz, /metrics.
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Rebuild read models from the whole log, without downtime: fresh tables are filled,
    /// then swapped in within one transaction while commands keep landing.
    Rebuild(cli::rebuild::Args),
    /// Re-wrap every person's data key with the current master key (`master_keys.current`);
    /// afterwards the older master keys may leave the configuration.
    RotateMasterKey,
    /// Export the log with its hashes, one line per event in reading order (JSON Lines or CSV),
    /// for auditors who re-verify its chains without Carnet (README, "For auditors").
    Export(cli::export::Args),
    /// Mint a local token (HS256, signed with the local secret).
    Token(cli::token::Args),
    /// Verify the log's tamper evidence (every event's hash and chain link, every seal) and print
    /// the last seal's hash, to record outside the database. Exit code 0: intact; 2: altered,
    /// with the first broken place; 1: the verification could not run.
    Verify(cli::verify::Args),
    /// Seal every committed, unsealed event now (`carnet serve` also seals periodically).
    Seal,
    /// Sign a checkpoint of the log's Merkle tree now and print it (`carnet serve` signs one every
    /// second while events arrive).
    Checkpoint,
    /// Print the public key checkpoints verify with; `--new FILE --origin NAME` makes a signing key.
    CheckpointKey(cli::checkpoint::KeyArgs),
    /// Print a proof against a signed checkpoint: an event's receipt (`inclusion`), or that a
    /// checkpoint extends an earlier tree (`consistency`).
    #[command(subcommand)]
    Prove(cli::prove::Args),
    /// Witness a Carnet log as a third party: cosign each checkpoint that extends the last one
    /// cosigned, refuse (exit code 3, evidence kept) one that goes back or forks.
    Witness(cli::witness::Args),
    /// Print a witness's public key; `--new FILE --name NAME` makes a witness key.
    WitnessKey(cli::witness::KeyArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load()?;
    if let Some(url) = cli.database_url {
        config.database_url = carnet_lab::Secret::new(url);
    }
    carnet_store::database_url::Backend::of(config.database_url.expose())
        .with_context(|| format!("database_url {}", redact(config.database_url.expose())))?;
    carnet_api::telemetry::init(config.log_format, std::io::stderr);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => cli::serve::run(config).await,
        Command::Migrate => cli::migrate::run(&config).await,
        Command::Rebuild(args) => cli::rebuild::run(&config, args).await,
        Command::RotateMasterKey => cli::rotate_master_key::run(&config).await,
        Command::Export(args) => cli::export::run(&config, args).await,
        Command::Token(args) => cli::token::run(&config, args),
        Command::Verify(args) => cli::verify::run(&config, args).await,
        Command::Seal => cli::seal::run(&config).await,
        Command::Checkpoint => cli::checkpoint::run(&config).await,
        Command::CheckpointKey(args) => cli::checkpoint::key(&config, args),
        Command::Prove(args) => cli::prove::run(&config, args).await,
        Command::Witness(args) => cli::witness::run(args).await,
        Command::WitnessKey(args) => cli::witness::key(args),
    }
}
