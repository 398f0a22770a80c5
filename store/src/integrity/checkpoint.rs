//! Signed checkpoints of the log's tree ([`super::tree`]): what a third party keeps, and what
//! proofs are checked against.
//!
//! A checkpoint is a C2SP `tlog-checkpoint` (three lines: the origin, the tree size in decimal,
//! the root in base64) signed as a C2SP `signed-note` with Ed25519:
//!
//! ```text
//! carnet.example.gouv.fr/log
//! 1234
//! 7Rq4VtR8v0wq9o6oE1NxRQ8eBm1Y0+u8S2qvGdJpQ2E=
//!
//! — carnet.example.gouv.fr/log Az3grlv1pXr1…
//! ```
//!
//! The key name is the origin. Keys are written as Go's `golang.org/x/mod/sumdb/note` writes
//! them: a signer key `PRIVATE+KEY+<name>+<key id>+<base64>`, kept outside the database (see
//! `carnet-lab`), and a verifier key `<name>+<key id>+<base64>`, which is all an auditor needs.
//! The formats are Cloudflare's implementations (`signed_note`, `tlog_tiles`): byte for byte what
//! Go's and every other implementation write and read (a test checks the Go reference note).
//!
//! Checkpoints are stored (`checkpoints`, migration 0013) only so that the server can serve them;
//! a stored note proves nothing until its signature is checked with a verifier key obtained
//! elsewhere ([`open`]).

use super::Hash;
use super::tree::{self, TreeHead};
use crate::any::{AnyStore, on_pool};
use crate::arg::{Arg, BindArgs};
use crate::error::StoreError;
use chrono::Utc;
use signed_note::{Note, Signer, StandardSigner, StandardVerifier, VerifierList};

/// Why a checkpoint or a key is refused.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("not a checkpoint signer key (`PRIVATE+KEY+<name>+<id>+<key>`, Ed25519): {0}")]
    SignerKey(String),
    #[error("not a checkpoint verifier key (`<name>+<id>+<key>`, Ed25519): {0}")]
    VerifierKey(String),
    #[error("`{0}` cannot name a log: a key name is not empty and holds no space and no `+`")]
    Name(String),
    #[error("not a signed note: {0}")]
    Note(String),
    #[error("the note is not signed by {key}: {reason}")]
    Signature { key: String, reason: String },
    #[error("not a checkpoint (origin, tree size, base64 root)")]
    Body,
    #[error("the checkpoint is for the log `{found}`, not `{expected}`")]
    Origin { expected: String, found: String },
}

/// The private key that signs this log's checkpoints.
#[derive(Clone)]
pub struct CheckpointSigner {
    signer: StandardSigner,
    verifier_key: String,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckpointSigner({})", self.verifier_key)
    }
}

impl CheckpointSigner {
    /// A signer from its key text (`PRIVATE+KEY+…`); the error never quotes the key.
    pub fn from_key(skey: &str) -> Result<Self, CheckpointError> {
        let skey = skey.trim();
        let signer = StandardSigner::new(skey).map_err(|e| CheckpointError::SignerKey(e.to_string()))?;
        // the seed is the key's fifth field (its base64 may hold a `+`); the public key follows
        let seed = skey.splitn(5, '+').nth(4).and_then(base64_decode).unwrap_or_default();
        let seed: [u8; 32] =
            seed.get(1..).and_then(|s| s.try_into().ok()).ok_or_else(|| CheckpointError::SignerKey("length".into()))?;
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        let verifier_key = signed_note::new_ed25519_verifier_key(signer.name(), &public);
        Ok(Self { signer, verifier_key })
    }

    /// A new key for the log `name`: its key text (to keep secret) and the signer.
    pub fn generate(name: &str) -> Result<(String, Self), CheckpointError> {
        if !signed_note::is_key_name_valid(name) {
            return Err(CheckpointError::Name(name.to_owned()));
        }
        let seed: [u8; 32] = rand::random();
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        let encoded = [&[1u8][..], public.as_bytes()].concat();
        let id = signed_note::key_id(name, &encoded);
        let skey = format!("PRIVATE+KEY+{name}+{id:08x}+{}", base64_encode(&[&[1u8][..], &seed].concat()));
        let signer = Self::from_key(&skey)?;
        Ok((skey, signer))
    }

    /// The log's name: the origin line of its checkpoints.
    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    /// What auditors and witnesses verify with: `<name>+<key id>+<base64 public key>`.
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    pub fn verifier(&self) -> CheckpointVerifier {
        CheckpointVerifier::new(&self.verifier_key).expect("a signer's own verifier key")
    }

    /// The signed note of the checkpoint `(size, root)`.
    pub fn sign(&self, size: u64, root: &Hash) -> Result<String, CheckpointError> {
        let mut note = Note::new(body(self.origin(), size, root)?.as_bytes(), &[])
            .map_err(|e| CheckpointError::Note(e.to_string()))?;
        note.add_sigs(&[&self.signer]).map_err(|e| CheckpointError::Note(e.to_string()))?;
        String::from_utf8(note.to_bytes()).map_err(|e| CheckpointError::Note(e.to_string()))
    }
}

/// The checkpoint's text: origin, size, base64 root, each line ended by a newline.
fn body(origin: &str, size: u64, root: &Hash) -> Result<String, CheckpointError> {
    let checkpoint =
        tlog_tiles::Checkpoint::new(origin, size, tlog_tiles::Hash(*root), "").map_err(|_| CheckpointError::Body)?;
    String::from_utf8(checkpoint.to_bytes()).map_err(|_| CheckpointError::Body)
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// A public key checkpoints are verified with.
pub struct CheckpointVerifier {
    key: String,
    verifier: StandardVerifier,
}

impl CheckpointVerifier {
    pub fn new(vkey: &str) -> Result<Self, CheckpointError> {
        let key = vkey.trim().to_owned();
        let verifier = StandardVerifier::new(&key).map_err(|e| CheckpointError::VerifierKey(e.to_string()))?;
        Ok(Self { key, verifier })
    }

    /// The log's name (the key's).
    pub fn origin(&self) -> &str {
        signed_note::Verifier::name(&self.verifier)
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

/// A checkpoint whose signature verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedCheckpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// The note as given (its signatures, cosignatures included).
    pub note: String,
}

/// Checks `note`'s signature by `verifier` (other signatures, a witness's, are let be), then
/// reads the checkpoint it signs, which must be for `verifier`'s log.
pub fn open(note: &str, verifier: &CheckpointVerifier) -> Result<OpenedCheckpoint, CheckpointError> {
    let parsed = Note::from_bytes(note.as_bytes()).map_err(|e| CheckpointError::Note(e.to_string()))?;
    let known = VerifierList::new(vec![Box::new(verifier.verifier.clone())]);
    parsed
        .verify(&known)
        .map_err(|e| CheckpointError::Signature { key: verifier.key.clone(), reason: e.to_string() })?;
    let checkpoint = tlog_tiles::Checkpoint::from_bytes(parsed.text()).map_err(|_| CheckpointError::Body)?;
    if checkpoint.origin() != verifier.origin() {
        return Err(CheckpointError::Origin { expected: verifier.origin().into(), found: checkpoint.origin().into() });
    }
    Ok(OpenedCheckpoint {
        origin: checkpoint.origin().to_owned(),
        size: checkpoint.size(),
        root: checkpoint.hash().0,
        note: note.to_owned(),
    })
}

// ---------------------------------------------------------------------------------------------
// Receipts: an event's inclusion in a signed checkpoint, offline-verifiable (C2SP tlog-proof)

/// The first line of a receipt.
pub const RECEIPT_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// A C2SP `tlog-proof` of one event: the header, `extra` (the event's stored hash, base64: the
/// leaf's data; recompute it from the event with the recipe of [`crate::integrity`] to bind the
/// receipt to the event's content), `index` (its leaf), the inclusion proof (base64, leaf to
/// root), a blank line, then the signed checkpoint as issued.
pub fn receipt(event_hash: &Hash, index: u64, proof: &[Hash], checkpoint_note: &str) -> String {
    let mut out = format!("{RECEIPT_HEADER}\nextra {}\nindex {index}\n", base64_encode(event_hash));
    for hash in proof {
        out.push_str(&base64_encode(hash));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(checkpoint_note);
    out
}

/// What a verified receipt proves: the event of hash `event_hash` is leaf `index` of the tree of
/// the signed checkpoint `checkpoint`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedReceipt {
    pub event_hash: Hash,
    pub index: u64,
    pub checkpoint: OpenedCheckpoint,
}

/// Checks a receipt with the log's public key alone: the checkpoint's signature, then the
/// inclusion of the leaf `SHA-256(0x00 ‖ event hash)` at its index in the checkpoint's tree.
pub fn verify_receipt(text: &str, verifier: &CheckpointVerifier) -> Result<VerifiedReceipt, CheckpointError> {
    let bad = |why: &str| CheckpointError::Note(format!("not a Carnet receipt: {why}"));
    let (head, note) = text.split_once("\n\n").ok_or_else(|| bad("no checkpoint after the proof"))?;
    let mut lines = head.lines();
    if lines.next() != Some(RECEIPT_HEADER) {
        return Err(bad("the first line is not c2sp.org/tlog-proof@v1"));
    }
    let event_hash: Hash = lines
        .next()
        .and_then(|l| l.strip_prefix("extra "))
        .and_then(base64_decode)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| bad("no `extra` line with the event's hash"))?;
    let index: u64 = lines
        .next()
        .and_then(|l| l.strip_prefix("index "))
        .and_then(|i| i.parse().ok())
        .ok_or_else(|| bad("no `index` line"))?;
    let proof = lines
        .map(|l| base64_decode(l).and_then(|h| h.try_into().ok()))
        .collect::<Option<Vec<Hash>>>()
        .ok_or_else(|| bad("a proof line is not a base64 SHA-256"))?;
    let checkpoint = open(note, verifier)?;
    super::merkle::verify_inclusion(
        index,
        checkpoint.size,
        &super::merkle::leaf_hash(&event_hash),
        &proof,
        &checkpoint.root,
    )
    .map_err(|e| CheckpointError::Signature {
        key: verifier.key.clone(),
        reason: format!("the proof does not hold: {e}"),
    })?;
    Ok(VerifiedReceipt { event_hash, index, checkpoint })
}

// ---------------------------------------------------------------------------------------------
// The checkpoints the server issued

/// A checkpoint as stored: the note and when it was issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    pub root: Hash,
    pub note: String,
    /// `timestamp_text` of when it was issued.
    pub issued_at: String,
}

type Row = (i64, Vec<u8>, String, String);

fn stored(rows: Vec<Row>) -> Vec<StoredCheckpoint> {
    rows.into_iter()
        .map(|(size, root, note, issued_at)| StoredCheckpoint {
            size: size.max(0) as u64,
            // a root of the wrong length cannot match anything: all 0xff
            root: root.try_into().unwrap_or([0xff; 32]),
            note,
            issued_at,
        })
        .collect()
}

/// The stored checkpoints selected by `condition` (bound at `$1`), ordered by `order`.
async fn select(
    store: &AnyStore,
    condition: &str,
    order: &str,
    bound: i64,
) -> Result<Vec<StoredCheckpoint>, StoreError> {
    let rows: Vec<Row> = on_pool!(store, reader pool => {
        let sql = format!(
            "select tree_size, root, note, {} from checkpoints where {condition} order by {order}",
            backend::time_text("issued_at")
        );
        sqlx::query_as(&sql).bind(bound).fetch_all(pool).await?
    });
    Ok(stored(rows))
}

/// The latest checkpoint issued, if any.
pub async fn latest(store: &AnyStore) -> Result<Option<StoredCheckpoint>, StoreError> {
    Ok(select(store, "tree_size >= $1", "tree_size desc limit 1", 0).await?.pop())
}

/// The first checkpoint issued whose tree holds `size` leaves or more: the one a proof of a leaf
/// below `size` is given against.
pub async fn covering(store: &AnyStore, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
    Ok(select(store, "tree_size >= $1", "tree_size limit 1", size as i64).await?.pop())
}

/// The latest checkpoint whose tree holds `size` leaves or fewer: the one an export of the first
/// `size` events can be checked against.
pub async fn within(store: &AnyStore, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
    Ok(select(store, "tree_size <= $1", "tree_size desc limit 1", size as i64).await?.pop())
}

/// The checkpoint of exactly `size` leaves, if one was issued.
pub async fn of_size(store: &AnyStore, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
    Ok(select(store, "tree_size = $1", "tree_size", size as i64).await?.pop())
}

/// Extends the tree with every committed event and, if it grew past the latest checkpoint, signs
/// and stores a checkpoint of it: the checkpointer's one step (`carnet checkpoint` too). `None`
/// when nothing new was there to sign. Another instance issuing the same size first is fine: its
/// checkpoint stands (same tree, same root).
pub async fn issue(store: &AnyStore, signer: &CheckpointSigner) -> Result<Option<StoredCheckpoint>, StoreError> {
    let head: TreeHead = tree::extend_all(store, 100_000).await?;
    let latest = latest(store).await?;
    if head.size == 0 || latest.as_ref().is_some_and(|c| c.size >= head.size) {
        return Ok(None);
    }
    let note = signer.sign(head.size, &head.root).map_err(StoreError::unexpected)?;
    let sql = "insert into checkpoints (tree_size, root, note, issued_at) values ($1, $2, $3, $4) \
               on conflict (tree_size) do nothing";
    let args = vec![Arg::Int(head.size as i64), Arg::Bytes(head.root.to_vec()), Arg::Text(note), Arg::Time(Utc::now())];
    on_pool!(store, writer pool => sqlx::query_with(sql, backend::Db::bind_args(args)?).execute(pool).await?.rows_affected());
    of_size(store, head.size).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference key and note of Go's `golang.org/x/mod/sumdb/note` (its documentation).
    const GO_SIGNER: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_VERIFIER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_TEXT: &str =
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const GO_SIGNATURE: &str =
        "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    #[test]
    fn keys_and_notes_are_the_go_reference_ones() {
        let signer = CheckpointSigner::from_key(GO_SIGNER).unwrap();
        assert_eq!(signer.verifier_key(), GO_VERIFIER, "the public key derived from the private one");
        let mut note = Note::new(GO_TEXT.as_bytes(), &[]).unwrap();
        note.add_sigs(&[&signer.signer]).unwrap();
        assert_eq!(String::from_utf8(note.to_bytes()).unwrap(), format!("{GO_TEXT}\n{GO_SIGNATURE}"));
    }

    #[test]
    fn a_checkpoint_is_three_lines_and_a_signature_that_verifies_with_the_public_key_only() {
        let (skey, signer) = CheckpointSigner::generate("carnet.test/log").unwrap();
        assert!(skey.starts_with("PRIVATE+KEY+carnet.test/log+"), "Go's private key format");
        let root: Hash = [7; 32];
        let note = signer.sign(42, &root).unwrap();
        let mut lines = note.lines();
        assert_eq!(lines.next(), Some("carnet.test/log"));
        assert_eq!(lines.next(), Some("42"));
        assert_eq!(lines.next(), Some(base64_encode(&root).as_str()));
        assert_eq!(lines.next(), Some(""));
        assert!(lines.next().unwrap().starts_with("— carnet.test/log "));
        assert_eq!(lines.next(), None);

        let verifier = CheckpointVerifier::new(signer.verifier_key()).unwrap();
        let opened = open(&note, &verifier).unwrap();
        assert_eq!((opened.origin.as_str(), opened.size, opened.root), ("carnet.test/log", 42, root));

        // another size, another root, another key: refused
        let forged = note.replacen("\n42\n", "\n43\n", 1);
        assert!(matches!(open(&forged, &verifier), Err(CheckpointError::Signature { .. })), "a changed size");
        let (_, other) = CheckpointSigner::generate("carnet.test/log").unwrap();
        assert!(open(&other.sign(42, &root).unwrap(), &verifier).is_err(), "another key of the same name");
        assert!(open("carnet.test/log\n42\n", &verifier).is_err(), "no signature");
        let (_, elsewhere) = CheckpointSigner::generate("other.test/log").unwrap();
        assert!(open(&note, &elsewhere.verifier()).is_err(), "another log's key");
        assert!(CheckpointSigner::generate("with space").is_err());
        assert!(CheckpointSigner::from_key("PRIVATE+KEY+x+00000000+AAAA").is_err());
        let error = CheckpointSigner::from_key(&skey.replace("PRIVATE", "PRIVATF")).unwrap_err().to_string();
        assert!(!error.contains(skey.splitn(5, '+').nth(4).unwrap()), "the error never quotes the key: {error}");
    }
}
