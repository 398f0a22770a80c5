//! A witness's side, without HTTP: its key, its record, its one round. `carnet witness` (in
//! `carnet-api`) runs [`round`] against a Carnet server every few seconds; a third party (an
//! inspection, the Cour des comptes, another ministry) runs it on its own machine, with its own
//! key, and keeps its own record — nothing it relies on is in the lab's database.
//!
//! The record is a folder:
//! - `cosigned`: the last checkpoint this witness cosigned, as the log signed it plus this
//!   witness's cosignature — a file `carnet verify --checkpoint` reads as it is;
//! - `refused-<unix time>/`: the evidence of a refusal — `cosigned` (what it had cosigned),
//!   `offered` (the checkpoint the log offered then, with the log's signature) and `reason`.
//!   Two checkpoints signed by the same key that do not extend one another prove that the log
//!   went back or forked; nobody can deny having signed them.
//!
//! A round: fetch the latest checkpoint; check the log's signature; fetch the consistency proof
//! from the size cosigned last; [`judge`]; on `Cosign`, write the record **before** sending the
//! cosignature back (a witness never forgets what it vouched for); on a refusal, keep the
//! evidence and stop — witnessing goes on only once people have looked.

use anyhow::Context;
use carnet_store::integrity::Hash;
use carnet_store::integrity::checkpoint::{self, CheckpointVerifier, OpenedCheckpoint};
use carnet_store::integrity::witness::{self, Refusal, Verdict, WitnessSigner};
use std::future::Future;
use std::path::{Path, PathBuf};

/// The witness's signer key from `file` (mode 0600: a file others may read is refused).
pub fn load_key(file: &Path) -> anyhow::Result<WitnessSigner> {
    let text = crate::checkpoints::read_private_key(file, "witness key")?;
    WitnessSigner::from_key(&text).with_context(|| format!("the witness key {}", file.display()))
}

/// Makes a new witness key in `file` (mode 0600; it must not exist).
pub fn new_key(file: &Path, name: &str) -> anyhow::Result<WitnessSigner> {
    let (text, signer) = WitnessSigner::generate(name)?;
    carnet_store::private_files::write_new_private_file(file, format!("{text}\n").as_bytes())
        .with_context(|| format!("cannot create the witness key {}", file.display()))?;
    Ok(signer)
}

/// The witness's record of what it cosigned (see the module's documentation).
pub struct Record {
    dir: PathBuf,
}

impl Record {
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        carnet_store::private_files::create_private_dir(dir)
            .with_context(|| format!("cannot create the witness's record {}", dir.display()))?;
        Ok(Self { dir: dir.to_owned() })
    }

    pub fn cosigned_file(&self) -> PathBuf {
        self.dir.join("cosigned")
    }

    /// The last checkpoint cosigned, its log signature checked (a record that another key
    /// signed is refused: it is another log's).
    pub fn cosigned(&self, log: &CheckpointVerifier) -> anyhow::Result<Option<OpenedCheckpoint>> {
        let file = self.cosigned_file();
        match std::fs::read_to_string(&file) {
            Ok(note) => {
                Ok(Some(checkpoint::open(&note, log).with_context(|| format!("the record {}", file.display()))?))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", file.display())),
        }
    }

    /// Keeps `note` (cosigned) as the last checkpoint cosigned, replacing the file atomically.
    fn keep(&self, note: &str) -> anyhow::Result<()> {
        Ok(carnet_store::private_files::replace_private_file(&self.cosigned_file(), note.as_bytes())?)
    }

    /// Keeps the evidence of a refusal; returns its folder.
    fn keep_evidence(
        &self,
        cosigned: &OpenedCheckpoint,
        offered: &OpenedCheckpoint,
        why: &Refusal,
    ) -> anyhow::Result<PathBuf> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut dir = self.dir.join(format!("refused-{}", now.as_secs()));
        for n in 1.. {
            if !dir.exists() {
                break;
            }
            dir = self.dir.join(format!("refused-{}-{n}", now.as_secs()));
        }
        carnet_store::private_files::create_private_dir(&dir)?;
        for (name, text) in [("cosigned", cosigned.note.as_str()), ("offered", offered.note.as_str())] {
            carnet_store::private_files::write_new_private_file(&dir.join(name), text.as_bytes())?;
        }
        carnet_store::private_files::write_new_private_file(&dir.join("reason"), format!("{why}\n").as_bytes())?;
        Ok(dir)
    }
}

/// What a round did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Cosigned a checkpoint of this many events (and sent the cosignature).
    Cosigned { size: u64 },
    /// Nothing new since the checkpoint cosigned last (its cosignature sent again if the log
    /// did not show it).
    Unchanged { size: u64 },
    /// Refused: the evidence is in `evidence`.
    Refused { refusal: Refusal, evidence: PathBuf },
}

/// How a round reaches the log: `carnet witness` does it over HTTP; tests may do it otherwise.
pub trait Log {
    /// The latest signed checkpoint, as served (with the cosignatures it has).
    fn latest(&self) -> impl Future<Output = anyhow::Result<String>>;
    /// The consistency proof between two tree sizes.
    fn consistency(&self, from: u64, to: u64) -> impl Future<Output = anyhow::Result<Vec<Hash>>>;
    /// Hands the cosigned note back to the log.
    fn send(&self, cosigned: &str) -> impl Future<Output = anyhow::Result<()>>;
}

/// One round of the witness (see the module's documentation).
pub async fn round(
    log: &impl Log,
    log_key: &CheckpointVerifier,
    key: &WitnessSigner,
    record: &Record,
    now: u64,
) -> anyhow::Result<Outcome> {
    let served = log.latest().await.context("cannot fetch the log's checkpoint")?;
    let offered = checkpoint::open(&served, log_key).context("the log's checkpoint")?;
    let cosigned = record.cosigned(log_key)?;
    let proof = match &cosigned {
        Some(c) if c.size > 0 && c.size < offered.size => {
            log.consistency(c.size, offered.size).await.with_context(|| {
                format!("cannot fetch the consistency proof from {} to {} events", c.size, offered.size)
            })?
        }
        _ => vec![],
    };
    match witness::judge(cosigned.as_ref(), &offered, &proof) {
        Verdict::Cosign => {
            let note = key.cosign(&offered.note, now)?;
            record.keep(&note)?;
            log.send(&note).await.context("cannot send the cosignature")?;
            Ok(Outcome::Cosigned { size: offered.size })
        }
        Verdict::Unchanged => {
            let mine = witness::WitnessVerifier::new(&key.verifier_key())?;
            if witness::cosignatures(&served, &[mine])?.is_empty() {
                let kept = std::fs::read_to_string(record.cosigned_file())?;
                log.send(&kept).await.context("cannot send the cosignature again")?;
            }
            Ok(Outcome::Unchanged { size: offered.size })
        }
        Verdict::Refuse(refusal) => {
            let cosigned = cosigned.expect("a refusal compares with what was cosigned");
            let evidence = record.keep_evidence(&cosigned, &offered, &refusal)?;
            Ok(Outcome::Refused { refusal, evidence })
        }
    }
}
