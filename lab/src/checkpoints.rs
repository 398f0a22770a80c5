//! The server's checkpointer and its key: signed checkpoints of the log's Merkle tree
//! (`carnet_store::integrity::checkpoint`), issued off the append path.
//!
//! - **The key lives outside the database.** `[checkpoints] key_file` holds the signer key in
//!   Go's note format (`PRIVATE+KEY+<origin>+<id>+<base64>`), mode 0600; a file that others may
//!   read is refused. In development a missing file is generated, its origin `[checkpoints]
//!   origin`; in production it is required (`carnet checkpoint-key --new FILE --origin …` makes
//!   one and prints its public key). Rotation: a new key file and a restart; checkpoints signed by
//!   the old key keep verifying with the old public key, which auditors keep.
//! - **Every second** (`every_ms`) the checkpointer extends the tree with what committed and, if
//!   it grew, signs a checkpoint of it. Nothing on the append path waits for it or writes more.
//!   The blind window — how long an event may sit in the log before a signed checkpoint covers
//!   it — is that period plus one extension.
//! - **What this server remembers.** Each checkpoint issued is also written beside the key
//!   (`<key_file>.latest`, outside the database). At start and with every check of the log
//!   ([`Remembered::check`], run by `log_check::LogGuard`), a log whose tree is shorter than, or
//!   has another root at the size of, that checkpoint fails `/readyz` and the `integrity` query,
//!   naming the sizes: a restored older dump, a truncated log or a rewritten history is seen even
//!   though the database, its seals and its checkpoints were all replaced.
//! - **Witnesses** (`[checkpoints] witnesses`, their public keys): [`receive_cosignature`] keeps
//!   a cosignature only when the log's signature, the stored checkpoint (same size, same root)
//!   and a configured witness's key all verify; [`witnessed`] reports, re-verified, the largest
//!   checkpoint each witness cosigned. A witness's own side is [`crate::witness`].

use anyhow::Context;
use carnet_store::integrity::checkpoint::{self, CheckpointSigner, OpenedCheckpoint};
use carnet_store::integrity::tree::{self, Recomputed};
use carnet_store::integrity::witness::{self, Cosignature, WitnessVerifier};
use carnet_store::{AnyStore, StoreError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `[checkpoints]` in the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Whether the server issues checkpoints.
    pub enabled: bool,
    /// How often the checkpointer looks for new events, in milliseconds.
    pub every_ms: u64,
    /// The signer key (mode 0600). Generated in development when missing; required in production.
    pub key_file: String,
    /// The origin (the log's name) of a key generated in development.
    pub origin: String,
    /// The witnesses whose cosignatures the server accepts (`POST /checkpoint/cosignature`)
    /// and reports: their verifier keys, `<name>+<key id>+<base64>` (`carnet witness-key`).
    pub witnesses: Vec<String>,
    /// An RFC 3161 time-stamping authority (its URL, e.g. `https://tsa.example.gouv.fr/tsr`):
    /// when set, the latest checkpoint gets its timestamp token at least every
    /// `timestamp_every_s` while the log grows. None by default.
    pub tsa_url: Option<String>,
    /// How often a checkpoint is timestamped, in seconds (an hour by default).
    pub timestamp_every_s: u64,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            every_ms: 1_000,
            key_file: "data/checkpoint-key".into(),
            origin: "carnet.localhost/log".into(),
            witnesses: vec![],
            tsa_url: None,
            timestamp_every_s: 3_600,
        }
    }
}

impl CheckpointConfig {
    /// Where the last checkpoint this server issued is kept.
    pub fn latest_file(&self) -> PathBuf {
        PathBuf::from(format!("{}.latest", self.key_file))
    }

    /// The configured witnesses' keys; a key that does not parse is an error naming it.
    pub fn witness_keys(&self) -> anyhow::Result<Vec<WitnessVerifier>> {
        self.witnesses
            .iter()
            .map(|key| WitnessVerifier::new(key).with_context(|| "[checkpoints] witnesses".to_string()))
            .collect()
    }
}

/// The signer key of `key_file`, generated there first in development (`generate_as`: the
/// origin of a new key; production passes `None` and requires the file).
pub fn load_signer(key_file: &Path, generate_as: Option<&str>) -> anyhow::Result<CheckpointSigner> {
    if !key_file.exists() {
        let Some(origin) = generate_as else {
            anyhow::bail!(
                "the checkpoint key {} is required in production: make one with `carnet checkpoint-key --new {} \
                 --origin <the log's name, e.g. carnet.education.gouv.fr/log>` and give auditors the public key it prints",
                key_file.display(),
                key_file.display()
            );
        };
        let (key, _) = CheckpointSigner::generate(origin)?;
        write_key(key_file, &key)?;
        tracing::info!(path = %key_file.display(), origin, "generated a checkpoint signing key");
    }
    let text = read_private_key(key_file, "checkpoint key")?;
    CheckpointSigner::from_key(&text).with_context(|| format!("the checkpoint key {}", key_file.display()))
}

/// The text of a private key file, refused if others may read it (`what` names it in errors).
pub fn read_private_key(file: &Path, what: &str) -> anyhow::Result<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file)
            .with_context(|| format!("cannot read the {what} {}", file.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "the {what} {} may be read by others (mode {:o}): `chmod 600` it, and make a new key if anyone may \
                 have copied it",
                file.display(),
                mode & 0o777
            );
        }
    }
    std::fs::read_to_string(file).with_context(|| format!("cannot read the {what} {}", file.display()))
}

/// Writes a new key file, mode 0600 (its folder made private); fails if it exists.
pub fn write_key(key_file: &Path, key: &str) -> anyhow::Result<()> {
    carnet_store::private_files::write_new_private_file(key_file, format!("{key}\n").as_bytes())
        .with_context(|| format!("cannot create the checkpoint key {}", key_file.display()))
}

/// The last checkpoint this server issued, as kept beside its key, and the check of the log
/// against it.
#[derive(Clone)]
pub struct Remembered {
    file: PathBuf,
    signer: CheckpointSigner,
    latest: Arc<Mutex<Option<OpenedCheckpoint>>>,
}

impl Remembered {
    /// Reads `file` if there is one; a file whose signature does not verify with `signer`'s key
    /// is refused (it was not written by this key).
    pub fn load(file: PathBuf, signer: CheckpointSigner) -> anyhow::Result<Self> {
        let latest = match std::fs::read_to_string(&file) {
            Ok(note) => Some(
                checkpoint::open(&note, &signer.verifier())
                    .with_context(|| format!("the last checkpoint kept in {}", file.display()))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
        };
        Ok(Self { file, signer, latest: Arc::new(Mutex::new(latest)) })
    }

    pub fn signer(&self) -> &CheckpointSigner {
        &self.signer
    }

    /// The last checkpoint remembered.
    pub fn latest(&self) -> Option<OpenedCheckpoint> {
        self.lock().clone()
    }

    /// Keeps `latest` (the latest checkpoint stored) as the last checkpoint, replacing the file
    /// atomically; nothing to do, and no signature to check, when it is not newer.
    fn remember(&self, latest: &checkpoint::StoredCheckpoint) -> anyhow::Result<()> {
        if self.lock().as_ref().is_some_and(|c| c.size >= latest.size) {
            return Ok(());
        }
        let opened = checkpoint::open(&latest.note, &self.signer.verifier())?;
        carnet_store::private_files::replace_private_file(&self.file, latest.note.as_bytes())?;
        *self.lock() = Some(opened);
        Ok(())
    }

    /// Whether the log holds the remembered checkpoint's tree (see [`holds`]: the stored tree,
    /// cheap enough for every check of `/readyz`).
    pub async fn check(&self, store: &AnyStore) -> Result<Option<String>, StoreError> {
        let Some(latest) = self.latest() else { return Ok(None) };
        holds(store, &latest, &self.source()).await
    }

    /// The same against the events themselves (see [`events_hold`]).
    pub async fn check_events(&self, store: &AnyStore) -> Result<Option<String>, StoreError> {
        let Some(latest) = self.latest() else { return Ok(None) };
        events_hold(store, &latest, &self.source()).await
    }

    fn source(&self) -> String {
        format!("the last checkpoint this server issued ({})", self.file.display())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<OpenedCheckpoint>> {
        self.latest.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether the log holds `checkpoint`'s tree: `Some(why)` when the log is shorter, or has
/// another root at that size. `source` says whose checkpoint it is, in the message.
pub async fn holds(
    store: &AnyStore,
    checkpoint: &OpenedCheckpoint,
    source: &str,
) -> Result<Option<String>, StoreError> {
    let mut head = tree::head(store).await;
    if head.as_ref().is_ok_and(|h| h.size < checkpoint.size) {
        head = tree::extend_all(store, 100_000).await;
    }
    let head = match head {
        Ok(head) => head,
        Err(StoreError::Unavailable(e)) => return Err(StoreError::Unavailable(e)),
        Err(e) => return Ok(Some(format!("the log's tree cannot be read ({e})"))),
    };
    if head.size < checkpoint.size {
        return Ok(Some(format!(
            "the log holds {} events, fewer than the {} of {source}: events were removed, or an older copy of the \
             database was restored (a new log on purpose takes a new key and no `.latest` file)",
            head.size, checkpoint.size
        )));
    }
    match tree::root_at(store, checkpoint.size).await {
        Ok(root) if root == checkpoint.root => Ok(None),
        Ok(_) => Ok(Some(format!(
            "the first {} events of the log are not those of {source}: the history was rewritten, or another \
             database was restored",
            checkpoint.size
        ))),
        Err(e) => Ok(Some(format!("the log's tree cannot be read ({e})"))),
    }
}

/// As [`holds`], against the events themselves rather than the stored tree
/// ([`tree::root_from_events`]: one read of the log): for `carnet verify` and the `integrity`
/// query, which must not trust an index someone could leave untouched.
pub async fn events_hold(
    store: &AnyStore,
    checkpoint: &OpenedCheckpoint,
    source: &str,
) -> Result<Option<String>, StoreError> {
    Ok(match tree::root_from_events(store, checkpoint.size).await? {
        Recomputed::Short(events) => Some(format!(
            "the log holds {events} events, fewer than the {} of {source}: events were removed, or an older copy of \
             the database was restored (a new log on purpose takes a new key and no `.latest` file)",
            checkpoint.size
        )),
        Recomputed::Root(root) if root != checkpoint.root => Some(format!(
            "the first {} events of the log are not those of {source}: events were removed, replaced, reordered \
             or rewritten",
            checkpoint.size
        )),
        Recomputed::Root(_) => None,
    })
}

/// Issues a checkpoint of what committed, if anything did, and remembers it: the checkpointer's
/// step, and `carnet checkpoint`.
/// A log that does not hold the last checkpoint this server issued gets no checkpoint: signing
/// its history would vouch for a rollback or a rewrite.
pub async fn issue(store: &AnyStore, remembered: &Remembered) -> anyhow::Result<Option<checkpoint::StoredCheckpoint>> {
    if let Some(why) = remembered.check(store).await? {
        anyhow::bail!("refusing to sign a checkpoint: {why}");
    }
    let issued = checkpoint::issue(store, remembered.signer()).await?;
    // the latest checkpoint stored may be another instance's: remember it too (same key)
    if let Some(latest) = checkpoint::latest(store).await? {
        remembered.remember(&latest)?;
    }
    Ok(issued)
}

// ---------------------------------------------------------------------------------------------
// Cosignatures from witnesses

/// Why a cosigned checkpoint sent by a witness is not kept.
#[derive(Debug, thiserror::Error)]
pub enum CosignatureRefused {
    #[error("not a checkpoint of this log: {0}")]
    NotThisLog(#[source] checkpoint::CheckpointError),
    #[error("this log issued no checkpoint of {size} events")]
    Unknown { size: u64 },
    #[error("this log's checkpoint of {size} events has another root: the witness cosigned another history")]
    OtherRoot { size: u64 },
    #[error("no cosignature by a configured witness (`[checkpoints] witnesses`): {0}")]
    NoKnownWitness(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Keeps the cosignatures of `note` (a checkpoint as a witness cosigned it) by configured
/// `witnesses`: the log's signature must verify, the checkpoint must be one this log issued
/// (same size, same root), and at least one cosignature must verify with a configured key.
pub async fn receive_cosignature(
    store: &AnyStore,
    log: &checkpoint::CheckpointVerifier,
    witnesses: &[WitnessVerifier],
    note: &str,
) -> Result<Vec<Cosignature>, CosignatureRefused> {
    let opened = checkpoint::open(note, log).map_err(CosignatureRefused::NotThisLog)?;
    let stored =
        checkpoint::of_size(store, opened.size).await?.ok_or(CosignatureRefused::Unknown { size: opened.size })?;
    if stored.root != opened.root {
        return Err(CosignatureRefused::OtherRoot { size: opened.size });
    }
    let found =
        witness::cosignatures(note, witnesses).map_err(|e| CosignatureRefused::NoKnownWitness(e.to_string()))?;
    if found.is_empty() {
        let names: Vec<&str> = witnesses.iter().map(WitnessVerifier::name).collect();
        return Err(CosignatureRefused::NoKnownWitness(format!("the configured witnesses are [{}]", names.join(", "))));
    }
    for cosignature in &found {
        witness::store(store, opened.size, cosignature).await?;
        tracing::info!(witness = cosignature.witness, size = opened.size, "checkpoint cosigned");
    }
    Ok(found)
}

/// The note of a stored checkpoint followed by its stored cosignatures: what `GET /checkpoint`
/// serves.
pub async fn with_cosignatures(store: &AnyStore, stored: &checkpoint::StoredCheckpoint) -> Result<String, StoreError> {
    let mut note = stored.note.clone();
    for c in witness::of_size(store, stored.size).await? {
        note.push_str(&c.line);
    }
    Ok(note)
}

/// What a witness vouched for, as the log's tables say and re-verified now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Witnessed {
    pub witness: String,
    pub key_id: u32,
    /// The largest checkpoint it cosigned.
    pub tree_size: u64,
    /// When, by its own clock (seconds since the epoch).
    pub time: u64,
    /// Whether the stored cosignature verifies, now, with a configured witness key over the
    /// stored checkpoint (a row written behind the server's back does not).
    pub verified: bool,
}

/// For each witness, the largest checkpoint it cosigned, re-verified with `witnesses`.
pub async fn witnessed(store: &AnyStore, witnesses: &[WitnessVerifier]) -> Result<Vec<Witnessed>, StoreError> {
    let mut out = vec![];
    for c in witness::latest_by_witness(store).await? {
        let verified = match checkpoint::of_size(store, c.tree_size).await? {
            Some(stored) => witness::cosignatures(&format!("{}{}", stored.note, c.line), witnesses)
                .is_ok_and(|found| found.iter().any(|f| f.witness == c.witness && f.key_id == c.key_id)),
            None => false,
        };
        out.push(Witnessed { witness: c.witness, key_id: c.key_id, tree_size: c.tree_size, time: c.time, verified });
    }
    Ok(out)
}

/// Starts the checkpointer (when enabled): every `every_ms`, [`issue`]. It ends with the pool.
pub fn start(
    store: AnyStore,
    remembered: Remembered,
    config: &CheckpointConfig,
) -> Option<tokio::task::JoinHandle<()>> {
    if !config.enabled {
        return None;
    }
    let every = Duration::from_millis(config.every_ms.max(10));
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // a failure is logged as an error once, then at debug while it stays the same
        let mut failing: Option<String> = None;
        loop {
            tick.tick().await;
            match issue(&store, &remembered).await {
                Ok(issued) => {
                    if failing.take().is_some() {
                        tracing::info!("checkpointer: issuing checkpoints again");
                    }
                    if let Some(c) = issued {
                        tracing::debug!(size = c.size, "checkpoint issued");
                    }
                }
                Err(e) if e.downcast_ref::<StoreError>().is_some_and(StoreError::is_pool_closed) => break,
                Err(e) => {
                    let error = format!("{e:#}");
                    if failing.as_deref() == Some(error.as_str()) {
                        tracing::debug!(error, "checkpointer: still cannot issue a checkpoint");
                    } else {
                        tracing::error!(error, "checkpointer: cannot issue a checkpoint");
                        failing = Some(error);
                    }
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_generates_a_private_key_once_production_requires_one() {
        let dir = std::env::temp_dir().join(format!("carnet-checkpoint-key-{}", uuid::Uuid::new_v4().simple()));
        let file = dir.join("checkpoint-key");
        let refused = load_signer(&file, None).unwrap_err().to_string();
        assert!(
            refused.contains("required in production") && refused.contains("carnet checkpoint-key --new"),
            "{refused}"
        );
        let first = load_signer(&file, Some("carnet.test/log")).unwrap();
        assert_eq!(first.origin(), "carnet.test/log");
        let again = load_signer(&file, Some("carnet.test/other")).unwrap();
        assert_eq!(again.verifier_key(), first.verifier_key(), "the same key on the next run");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            let open = load_signer(&file, None).unwrap_err().to_string();
            assert!(open.contains("may be read by others (mode 644)"), "{open}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
