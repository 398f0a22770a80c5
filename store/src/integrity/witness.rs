//! Witnesses: third parties (an inspection, the Cour des comptes, another ministry) who cosign the
//! log's checkpoints once they have checked that each extends the last one they cosigned. A log
//! that forks — a restored older dump that then grows differently, a history rewritten with
//! recomputed hashes — cannot get their cosignature again, and the two checkpoints it signed are
//! the evidence.
//!
//! A cosignature is a C2SP `tlog-cosignature/v1` note signature (Ed25519, signature type 0x04):
//!
//! ```text
//! — <witness name> base64(key id ‖ u64 timestamp (big-endian) ‖ Ed25519 signature)
//! ```
//!
//! over the message `cosignature/v1\ntime <timestamp>\n` followed by the checkpoint's text. The
//! key id is `SHA-256(<name> ‖ "\n" ‖ 0x04 ‖ public key)[:4]`, the verifier key
//! `<name>+<key id>+base64(0x04 ‖ public key)`. The signer key is written as the log's is
//! (`PRIVATE+KEY+<name>+<key id>+base64(0x04 ‖ seed)`), the type byte saying what it signs.
//!
//! [`judge`] is the witness's one decision, pure: given what it cosigned last and what the log
//! offers now with a consistency proof, cosign or refuse (and why). The HTTP client that runs it
//! is `carnet witness`; the cosignatures the server receives are stored in `cosignatures`
//! (migration 0014, [`store`]).

use super::Hash;
use super::checkpoint::{CheckpointError, OpenedCheckpoint};
use super::merkle;
use crate::any::{AnyStore, on_pool};
use crate::arg::{Arg, BindArgs};
use crate::error::StoreError;
use base64::Engine;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use signed_note::{Note, VerifierList};

/// The signature type of an Ed25519 cosignature/v1 (C2SP tlog-cosignature).
pub const COSIGNATURE_V1: u8 = 0x04;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// The message a cosignature signs: the header, the time, the checkpoint's text.
fn signed_message(time: u64, text: &[u8]) -> Vec<u8> {
    let mut message = format!("cosignature/v1\ntime {time}\n").into_bytes();
    message.extend_from_slice(text);
    message
}

fn key_id(name: &str, public: &VerifyingKey) -> u32 {
    signed_note::key_id(name, &[&[COSIGNATURE_V1][..], public.as_bytes()].concat())
}

/// The 32 bytes of a witness key's last field, `base64(0x04 ‖ bytes)` (`what`: "seed" or
/// "key"), or why not.
fn key_material(encoded: &str, what: &str) -> Result<[u8; 32], String> {
    let decoded = b64().decode(encoded).map_err(|_| "base64".to_owned())?;
    let (&kind, bytes) = decoded.split_first().ok_or_else(|| "empty".to_owned())?;
    if kind != COSIGNATURE_V1 {
        return Err("type 0x04 (cosignature/v1)".into());
    }
    bytes.try_into().map_err(|_| format!("a 32-byte Ed25519 {what}"))
}

/// The key id `id` (hex) once it is the one of `name` and `public`, and `name` a valid key name.
fn checked_id(name: &str, id: &str, public: &VerifyingKey) -> Result<u32, String> {
    let expected = key_id(name, public);
    if u32::from_str_radix(id, 16).ok() != Some(expected) || !signed_note::is_key_name_valid(name) {
        return Err("its name and key id match its key".into());
    }
    Ok(expected)
}

/// A witness's private key.
pub struct WitnessSigner {
    name: String,
    id: u32,
    key: SigningKey,
}

impl std::fmt::Debug for WitnessSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WitnessSigner({})", self.verifier_key())
    }
}

impl WitnessSigner {
    /// A new key for the witness `name`: its key text (to keep secret) and the signer.
    pub fn generate(name: &str) -> Result<(String, Self), CheckpointError> {
        if !signed_note::is_key_name_valid(name) {
            return Err(CheckpointError::Name(name.to_owned()));
        }
        let seed: [u8; 32] = rand::random();
        let key = SigningKey::from_bytes(&seed);
        let id = key_id(name, &key.verifying_key());
        let text = format!("PRIVATE+KEY+{name}+{id:08x}+{}", b64().encode([&[COSIGNATURE_V1][..], &seed].concat()));
        Ok((text, Self { name: name.to_owned(), id, key }))
    }

    /// A signer from its key text; the error never quotes the key.
    pub fn from_key(text: &str) -> Result<Self, CheckpointError> {
        let bad = |why: String| CheckpointError::SignerKey(format!("a witness key: {why}"));
        let fields: Vec<&str> = text.trim().splitn(5, '+').collect();
        let [private, key, name, id, encoded] = fields[..] else {
            return Err(bad("five `+`-separated fields".into()));
        };
        if (private, key) != ("PRIVATE", "KEY") {
            return Err(bad("it starts with PRIVATE+KEY+".into()));
        }
        let key = SigningKey::from_bytes(&key_material(encoded, "seed").map_err(bad)?);
        let id = checked_id(name, id, &key.verifying_key()).map_err(bad)?;
        Ok(Self { name: name.to_owned(), id, key })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the log and auditors verify this witness's cosignatures with.
    pub fn verifier_key(&self) -> String {
        let public = self.key.verifying_key();
        format!("{}+{:08x}+{}", self.name, self.id, b64().encode([&[COSIGNATURE_V1][..], public.as_bytes()].concat()))
    }

    /// `note` with this witness's cosignature at `time` (seconds since the epoch) added after its
    /// other signatures (an earlier cosignature by this key is replaced).
    pub fn cosign(&self, note: &str, time: u64) -> Result<String, CheckpointError> {
        let mut parsed = Note::from_bytes(note.as_bytes()).map_err(|e| CheckpointError::Note(e.to_string()))?;
        parsed.add_sigs(&[&Timed { signer: self, time }]).map_err(|e| CheckpointError::Note(e.to_string()))?;
        String::from_utf8(parsed.to_bytes()).map_err(|e| CheckpointError::Note(e.to_string()))
    }
}

/// A witness signer at one time: what `signed_note` signs with.
struct Timed<'a> {
    signer: &'a WitnessSigner,
    time: u64,
}

impl signed_note::Signer for Timed<'_> {
    fn name(&self) -> &str {
        &self.signer.name
    }

    fn key_id(&self) -> u32 {
        self.signer.id
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        let signature = self.signer.key.sign(&signed_message(self.time, msg));
        Ok([&self.time.to_be_bytes()[..], &signature.to_bytes()].concat())
    }
}

/// A witness's public key.
#[derive(Clone)]
pub struct WitnessVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl std::fmt::Debug for WitnessVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WitnessVerifier({}+{:08x})", self.name, self.id)
    }
}

impl WitnessVerifier {
    /// From its verifier key `<name>+<key id>+base64(0x04 ‖ public key)`.
    pub fn new(text: &str) -> Result<Self, CheckpointError> {
        let bad = |why: String| CheckpointError::VerifierKey(format!("a witness key: {why}: {}", text.trim()));
        let fields: Vec<&str> = text.trim().splitn(3, '+').collect();
        let [name, id, encoded] = fields[..] else {
            return Err(bad("three `+`-separated fields".into()));
        };
        let key = VerifyingKey::from_bytes(&key_material(encoded, "key").map_err(bad)?)
            .map_err(|_| bad("an Ed25519 point".into()))?;
        let id = checked_id(name, id, &key).map_err(bad)?;
        Ok(Self { name: name.to_owned(), id, key })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.id
    }
}

impl signed_note::Verifier for WitnessVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Some((time, signature)) = sig.split_first_chunk::<8>() else { return false };
        let time = u64::from_be_bytes(*time);
        let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else { return false };
        time < (1 << 63) && self.key.verify(&signed_message(time, msg), &signature).is_ok()
    }
}

/// A cosignature that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cosignature {
    /// The witness's name.
    pub witness: String,
    pub key_id: u32,
    /// When the witness cosigned, in seconds since the epoch (its own clock).
    pub time: u64,
    /// The note signature line, ending in a newline.
    pub line: String,
}

/// The cosignatures of `note` by any of `witnesses` (others' signature lines, the log's among
/// them, are let be). A line under a known witness's key that does not verify is refused.
pub fn cosignatures(note: &str, witnesses: &[WitnessVerifier]) -> Result<Vec<Cosignature>, CheckpointError> {
    let parsed = Note::from_bytes(note.as_bytes()).map_err(|e| CheckpointError::Note(e.to_string()))?;
    let known =
        VerifierList::new(witnesses.iter().map(|w| Box::new(w.clone()) as Box<dyn signed_note::Verifier>).collect());
    let verified = match parsed.verify(&known) {
        Ok((verified, _)) => verified,
        Err(signed_note::NoteError::UnverifiedNote) => return Ok(vec![]),
        Err(e) => return Err(CheckpointError::Signature { key: "a witness's".into(), reason: e.to_string() }),
    };
    Ok(verified
        .into_iter()
        .map(|sig| {
            let time = sig.signature().first_chunk::<8>().map(|t| u64::from_be_bytes(*t)).unwrap_or_default();
            let line = String::from_utf8_lossy(&sig.to_bytes()).into_owned();
            Cosignature { witness: sig.name().to_owned(), key_id: sig.id(), time, line }
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// The witness's decision

/// What a witness does with the checkpoint a log offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It extends what was cosigned (or is the first seen): cosign it.
    Cosign,
    /// The very checkpoint cosigned last: nothing new.
    Unchanged,
    /// The log is not append-only as seen from here: refuse, keep both checkpoints.
    Refuse(Refusal),
}

/// Why a witness refuses a checkpoint: each is a proof that the log went back or forked, since
/// both checkpoints carry the log's signature.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the log is shorter than what was cosigned: {offered} events offered, {cosigned} cosigned")]
    Shorter { cosigned: u64, offered: u64 },
    #[error("the log forked: another root at the cosigned size of {size} events")]
    Forked { size: u64 },
    #[error("the log of {offered} events does not extend the {cosigned} cosigned: {why}")]
    Inconsistent { cosigned: u64, offered: u64, why: String },
}

/// Decides on `offered`, given the checkpoint cosigned last (`None` for a first contact: trust
/// on first use) and the log's consistency proof from that size to the offered one.
pub fn judge(cosigned: Option<&OpenedCheckpoint>, offered: &OpenedCheckpoint, proof: &[Hash]) -> Verdict {
    let Some(cosigned) = cosigned else { return Verdict::Cosign };
    let (from, to) = (cosigned.size, offered.size);
    if to < from {
        return Verdict::Refuse(Refusal::Shorter { cosigned: from, offered: to });
    }
    if to == from {
        return if offered.root == cosigned.root {
            Verdict::Unchanged
        } else {
            Verdict::Refuse(Refusal::Forked { size: from })
        };
    }
    match merkle::verify_consistency(from, to, &cosigned.root, &offered.root, proof) {
        Ok(()) => Verdict::Cosign,
        Err(e) => Verdict::Refuse(Refusal::Inconsistent { cosigned: from, offered: to, why: e.to_string() }),
    }
}

// ---------------------------------------------------------------------------------------------
// The cosignatures the server received

/// A cosignature as stored: the checkpoint's size, the witness, when it cosigned, the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCosignature {
    pub tree_size: u64,
    pub witness: String,
    pub key_id: u32,
    pub time: u64,
    pub line: String,
}

type Row = (i64, String, i64, i64, String);

async fn select(store: &AnyStore, condition: &str, bound: i64) -> Result<Vec<StoredCosignature>, StoreError> {
    let rows: Vec<Row> = on_pool!(store, reader pool => {
        let sql = format!(
            "select tree_size, witness, key_id, cosigned_at, line from cosignatures where {condition} \
             order by tree_size, witness"
        );
        sqlx::query_as(&sql).bind(bound).fetch_all(pool).await?
    });
    Ok(rows
        .into_iter()
        .map(|(size, witness, key_id, time, line)| StoredCosignature {
            tree_size: size.max(0) as u64,
            witness,
            key_id: key_id as u32,
            time: time.max(0) as u64,
            line,
        })
        .collect())
}

/// Stores `cosignature` of the stored checkpoint of `tree_size` (a witness's newer cosignature
/// of the same checkpoint replaces its older one).
pub async fn store(store: &AnyStore, tree_size: u64, cosignature: &Cosignature) -> Result<(), StoreError> {
    let sql = "insert into cosignatures (tree_size, witness, key_id, cosigned_at, line) values ($1, $2, $3, $4, $5) \
               on conflict (tree_size, witness, key_id) do update set cosigned_at = excluded.cosigned_at, line = excluded.line";
    let args = vec![
        Arg::Int(tree_size as i64),
        Arg::Text(cosignature.witness.clone()),
        Arg::Int(i64::from(cosignature.key_id)),
        Arg::Int(cosignature.time.min(i64::MAX as u64) as i64),
        Arg::Text(cosignature.line.clone()),
    ];
    on_pool!(store, writer pool => sqlx::query_with(sql, backend::Db::bind_args(args)?).execute(pool).await?.rows_affected());
    Ok(())
}

/// The cosignatures of the checkpoint of `tree_size`.
pub async fn of_size(store: &AnyStore, tree_size: u64) -> Result<Vec<StoredCosignature>, StoreError> {
    select(store, "tree_size = $1", tree_size as i64).await
}

/// For each witness (and key), its cosignature of the largest checkpoint it cosigned.
pub async fn latest_by_witness(store: &AnyStore) -> Result<Vec<StoredCosignature>, StoreError> {
    let all = select(store, "tree_size >= $1", 0).await?;
    let mut latest: std::collections::BTreeMap<(String, u32), StoredCosignature> = Default::default();
    for c in all {
        latest.insert((c.witness.clone(), c.key_id), c); // ordered by size: the last one stays
    }
    Ok(latest.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::checkpoint::{CheckpointSigner, open};

    /// The example of C2SP tlog-cosignature: its key id is the spec's formula over the name.
    #[test]
    fn cosignatures_verify_with_the_witness_key_only_and_carry_their_time() {
        let (_, log) = CheckpointSigner::generate("carnet.test/log").unwrap();
        let note = log.sign(5, &[3; 32]).unwrap();
        let (text, witness) = WitnessSigner::generate("witness.test/w1").unwrap();
        assert!(text.starts_with("PRIVATE+KEY+witness.test/w1+"));
        let again = WitnessSigner::from_key(&text).unwrap();
        assert_eq!(again.verifier_key(), witness.verifier_key(), "the key text gives the same key back");
        let verifier = WitnessVerifier::new(&witness.verifier_key()).unwrap();

        let cosigned = witness.cosign(&note, 1_679_315_147).unwrap();
        assert!(cosigned.starts_with(&note), "the log's signature stays first: {cosigned}");
        let line = cosigned.lines().last().unwrap();
        assert!(line.starts_with("— witness.test/w1 "), "{line}");
        let raw = b64().decode(line.rsplit(' ').next().unwrap()).unwrap();
        assert_eq!(raw.len(), 4 + 8 + 64, "key id, timestamp, Ed25519 signature");
        assert_eq!(u64::from_be_bytes(raw[4..12].try_into().unwrap()), 1_679_315_147);
        // the signed message is the spec's, checked with ed25519-dalek directly
        let public = b64().decode(witness.verifier_key().splitn(3, '+').nth(2).unwrap()).unwrap();
        let public = VerifyingKey::from_bytes(public[1..].try_into().unwrap()).unwrap();
        let body = note.split_once("\n\n").unwrap().0;
        let message = format!("cosignature/v1\ntime 1679315147\n{body}\n");
        let signature = ed25519_dalek::Signature::from_slice(&raw[12..]).unwrap();
        public.verify(message.as_bytes(), &signature).expect("the C2SP signed message");
        assert_eq!(u32::from_be_bytes(raw[..4].try_into().unwrap()), verifier.key_id());

        let found = cosignatures(&cosigned, std::slice::from_ref(&verifier)).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].witness.as_str(), found[0].time), ("witness.test/w1", 1_679_315_147));
        assert_eq!(found[0].line, format!("{line}\n"));
        assert!(open(&cosigned, &log.verifier()).is_ok(), "the log's signature still verifies");
        assert!(cosignatures(&note, std::slice::from_ref(&verifier)).unwrap().is_empty(), "not cosigned");

        // another witness's key, a changed time, a changed checkpoint: not this witness's cosignature
        let (_, other) = WitnessSigner::generate("witness.test/w2").unwrap();
        let by_other = other.cosign(&note, 1).unwrap();
        assert!(cosignatures(&by_other, std::slice::from_ref(&verifier)).unwrap().is_empty());
        let mut forged = raw.clone();
        forged[11] ^= 1;
        let forged_line = format!("— witness.test/w1 {}\n", b64().encode(&forged));
        assert!(
            cosignatures(&format!("{note}{forged_line}"), std::slice::from_ref(&verifier)).is_err(),
            "another time"
        );
        let moved = cosigned.replacen("\n5\n", "\n6\n", 1);
        assert!(cosignatures(&moved, &[verifier]).is_err(), "another size");

        // keys of the wrong type or with the wrong id are refused
        assert!(WitnessVerifier::new(log.verifier_key()).is_err(), "a log key (type 1) is no witness key");
        assert!(WitnessSigner::from_key(&text.replacen("+PRIVATE", "", 1).replace("witness.test/w1", "w9")).is_err());
        let error = WitnessSigner::from_key(&text.replace("witness.test/w1", "renamed")).unwrap_err().to_string();
        assert!(!error.contains(text.splitn(5, '+').nth(4).unwrap()), "the error never quotes the key: {error}");
    }

    fn checkpoint(size: u64, root: Hash) -> OpenedCheckpoint {
        OpenedCheckpoint { origin: "o".into(), size, root, note: String::new() }
    }

    #[test]
    fn a_witness_cosigns_what_extends_and_refuses_what_goes_back_or_forks() {
        let leaves: Vec<Hash> = (0u8..8).map(|i| merkle::leaf_hash(&[i])).collect();
        fn perfect(leaves: &[Hash], node: merkle::Node) -> Hash {
            if node.level == 0 {
                return leaves[node.index as usize];
            }
            let child = |index| perfect(leaves, merkle::Node { level: node.level - 1, index });
            merkle::node_hash(&child(2 * node.index), &child(2 * node.index + 1))
        }
        let root = |n: u64| merkle::root(n, &mut |node| perfect(&leaves, node));
        let proof = |a: u64, b: u64| merkle::consistency_proof(a, b, &mut |node| perfect(&leaves, node));
        let (three, seven) = (checkpoint(3, root(3)), checkpoint(7, root(7)));

        assert_eq!(judge(None, &three, &[]), Verdict::Cosign, "first contact");
        assert_eq!(judge(Some(&three), &seven, &proof(3, 7)), Verdict::Cosign);
        assert_eq!(judge(Some(&seven), &seven, &[]), Verdict::Unchanged);
        assert_eq!(judge(Some(&seven), &three, &[]), Verdict::Refuse(Refusal::Shorter { cosigned: 7, offered: 3 }));
        assert_eq!(judge(Some(&seven), &checkpoint(7, [9; 32]), &[]), Verdict::Refuse(Refusal::Forked { size: 7 }));
        // a log that grew differently after its third event: its proof cannot hold
        let forked = checkpoint(7, [1; 32]);
        assert!(matches!(judge(Some(&three), &forked, &proof(3, 7)), Verdict::Refuse(Refusal::Inconsistent { .. })));
        assert!(matches!(judge(Some(&three), &seven, &[]), Verdict::Refuse(Refusal::Inconsistent { .. })), "no proof");
    }
}
