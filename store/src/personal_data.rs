//! # Personal data at rest: sealed fields, per-person keys, crypto-shredding (DESIGN §3.2)
//!
//! The personal fields of Person events (the `profile` of `PersonRegistered` and
//! `PersonProfileUpdated`, Carnet's policy in `carnet-lab`) reach the `events` table sealed with
//! AES-256-GCM under a data key of their own person. Each data key is stored in `person_keys`,
//! wrapped (AES-256-GCM) by a master key from the configuration ([`MasterKeys`]), which the
//! database never holds. Erasing a person deletes their key in the very transaction that appends
//! `PersonErased`: every copy of their profile, in the log, in replicas and in backups, becomes
//! unreadable, while the log itself is untouched (its hash chain covers the sealed form).
//!
//! ## Where sealing happens, and why there
//!
//! - **In the codec, around the store; not in the domain, not in the backends.** The domain
//!   stays pure: it deals in [`carnet_domain::person::PersonalData`]. [`Codec::encode`] and
//!   [`Codec::decode`] keep their shape (sync, clear). What is new is done by the codec with
//!   the keys handed to it: on write, [`crate::Repository::execute`] fetches (or makes) the
//!   stream's data key, seals the encoded events' personal fields, and hands the append a hook
//!   that inserts a new key or, for `PersonErased`, deletes the key, inside the append's
//!   transaction and before the caller's own hook (the inline projections). On read, decoding
//!   stays sync: readers first load the keys their events need, in one query
//!   ([`Codec::load_keys`] with the store, [`Codec::load_keys_in`] inside a transaction:
//!   the inline projectors see a key inserted by the append they run in), then call
//!   [`Codec::decode_with`]. A sealed field decoded without its key loaded is an error,
//!   never a silent erasure.
//! - **Not transparent in `read_stream`/`read_all`.** The stored, sealed form is what auditors
//!   verify (hash chains) and export; the store gives events back as stored, and only the codec
//!   opens them. The live feed never decodes payloads at all.
//! - **No long-lived key cache.** Keys are loaded per read (a stream, a batch) and dropped with
//!   it: an erasure on one instance is not undone by a key another instance kept in memory.
//! - **A key gone is an erased profile, a master key missing is an error.** When a person's row
//!   is absent from `person_keys`, the sealed field decodes as `null` (`profile: None`: the
//!   person was erased) and nothing fails. When the row is there but its master key is not
//!   configured, or does not open it, decoding fails, naming the master key's id (never a key).
//! - **No snapshot of Person state**: it would hold the profile in clear. [`crate::Repository`]
//!   neither takes nor reads snapshots of a category with personal fields, and the migration
//!   that created `person_keys` deleted those taken before.
//! - A codec without master keys (tests, tools) writes personal fields in clear and reads clear
//!   ones; it cannot read sealed ones. The application always has master keys.
//!
//! ## Formats
//!
//! - A sealed field: `{"sealed": base64(nonce ‖ ciphertext ‖ tag), "key": "<key id>"}`, the
//!   plaintext being the field's JSON; associated data: `carnet:sealed:v1`, the stream id (so the
//!   person's id), the event id, the event type and the field name, NUL-separated. A sealed
//!   profile moved to another person or another event does not open.
//! - A wrapped data key (`person_keys.wrapped`): nonce ‖ ciphertext ‖ tag, 60 bytes; associated
//!   data: `carnet:person-key:v1`, the person id, the key id and the master key id.
//! - Nonces: 96 random bits per encryption (`rand`); one data key seals only its person's
//!   profiles, a master key wraps one data key per person.
//!
//! Master-key rotation ([`rotate`], `carnet rotate-master-key`) re-wraps every data key still
//! wrapped by another master key than the current one; old master keys can leave the
//! configuration once it has run.
//!
//! ## Identities are personal data too
//!
//! The `identity` (`issuer` and `sub`) of `PersonIdentityLinked` is sealed like the profile, with
//! the same key, and shredded with it: after an erasure, `history` and `events` show it as
//! erased and the log holds it only as ciphertext. The lookup a token needs, `(iss, sub)` →
//! person, is the person read model's `person_identity` table, which keeps the pair in clear —
//! like `person` keeps the name — and deletes it on erasure; a keyed hash there would protect
//! nothing more, as the same database holds the names in clear until erasure. Identity events
//! written before sealing covered them keep their clear `identity` (the hash chain covers the
//! stored form, so no migration can seal them after the fact); they read as before (the API
//! shows them erased once their person is), and the codec tells one form from the other by its
//! shape (`{"sealed", "key"}`), without a new schema version.
//!
//! ## Nothing left in the database's files ([`KeyStore::scrub`])
//!
//! Deleting a key or nulling a read-model row removes the data from the *tables*; the database's
//! *files* may still hold the old bytes. What Carnet does about it, after every erasure (the api
//! calls [`KeyStore::scrub`] once `PersonErased` is committed) and after every rebuild:
//!
//! - **SQLite**: every connection runs with `secure_delete=ON` (store/src/sqlite.rs), so freed
//!   cells and pages are zeroed, in the very page images the commit writes; the WAL still holds
//!   the images of earlier commits (the person's registration, their row before erasure), so
//!   [`KeyStore::scrub`] runs `PRAGMA wal_checkpoint(TRUNCATE)`: every page goes to the main file, and the
//!   WAL is cut to zero bytes. A checkpoint that readers keep from completing is retried, then
//!   reported as an error. The `-shm` file holds page numbers and checksums, never content.
//!   Pages freed before `secure_delete` was on (a database from an older Carnet) keep their
//!   bytes until `VACUUM`: run `sqlite3 data/carnet.db VACUUM` once, server stopped.
//! - **PostgreSQL**: an update or a delete leaves the old row version (the name, the wrapped
//!   key) in the table's file; `VACUUM` marks it free but does not overwrite it (measured: the
//!   name stays in the page's free space, and stays until a later row happens to land there).
//!   So [`KeyStore::scrub`] runs `VACUUM (FULL, ANALYZE)` on `person_keys` and on the tables the caller
//!   names: each is rewritten into a new file holding the live rows only, its indexes rebuilt,
//!   and the old file truncated at commit. `VACUUM FULL` keeps a dead row that an open snapshot
//!   may still see, so [`KeyStore::scrub`] first waits (up to 10 s, then says so in the log) for the
//!   transactions that began before it to end. These tables are small (a row per person; the
//!   access log only when an erased subject was in it), so the exclusive lock lasts ms. The
//!   new statistics (`ANALYZE`) no longer sample erased values; the old `pg_statistic` rows
//!   linger as dead rows of that catalog until autovacuum reuses their space (only a superuser
//!   may vacuum a catalog by hand). Pages reach the files at the next checkpoint (at most
//!   `checkpoint_timeout`, 5 minutes by default). A rebuild's old tables are dropped: their
//!   files are truncated at commit. What Carnet cannot reach: the WAL segments (`pg_wal`) keep
//!   the inserts until they are recycled, and archived WAL and base backups are backups (see
//!   the README on erasure).

#[cfg(doc)]
use crate::codec::Codec;
use crate::contract::{InlineHook, TxConn};
use crate::error::StoreError;
use crate::model::{NewEvent, RecordedEvent, StreamId};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use uuid::Uuid;

/// Bytes of a key (AES-256).
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Bytes of a wrapped data key as stored.
const WRAPPED_LEN: usize = NONCE_LEN + KEY_LEN + TAG_LEN;

const SEALED_AAD: &[u8] = b"carnet:sealed:v1";
const WRAPPED_AAD: &[u8] = b"carnet:person-key:v1";

// ---------------------------------------------------------------------------------------------
// Errors

/// Why a key could not be used. Keys are named by id; no message ever holds a key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "master key `{0}` is not configured, and stored data keys are wrapped with it: put it back in master_keys \
         (old master keys may leave the configuration only once `carnet rotate-master-key` has run)"
    )]
    MissingMasterKey(String),
    #[error("master key `{0}` is not {KEY_LEN} bytes in base64")]
    MalformedMasterKey(String),
    #[error("no current master key is configured: new data keys cannot be wrapped")]
    NoCurrentMasterKey,
    #[error("the current master key `{0}` is not among the configured master keys")]
    UnknownCurrentMasterKey(String),
    #[error(
        "the data key of person {person} does not open with master key `{master_key_id}`: another key under the \
         same id, or an altered row"
    )]
    Unwrap { person: Uuid, master_key_id: String },
}

// ---------------------------------------------------------------------------------------------
// Keys

/// The master keys of the configuration: `current` wraps new data keys (and rotated ones), every
/// key opens the data keys it wrapped. `Debug` shows ids only.
#[derive(Clone, Default)]
pub struct MasterKeys {
    current: Option<String>,
    keys: BTreeMap<String, [u8; KEY_LEN]>,
}

impl MasterKeys {
    /// `keys` by id, `current` among them.
    pub fn new(current: &str, keys: impl IntoIterator<Item = (String, [u8; KEY_LEN])>) -> Result<Self, KeyError> {
        let keys: BTreeMap<_, _> = keys.into_iter().collect();
        if !keys.contains_key(current) {
            return Err(KeyError::UnknownCurrentMasterKey(current.to_owned()));
        }
        Ok(Self { current: Some(current.to_owned()), keys })
    }

    /// Keys that open data keys but wrap none: for a reader that must create nothing.
    pub fn read_only(keys: impl IntoIterator<Item = (String, [u8; KEY_LEN])>) -> Self {
        Self { current: None, keys: keys.into_iter().collect() }
    }

    /// One fresh random key, named `id`, current.
    pub fn generate(id: &str) -> Self {
        Self { current: Some(id.to_owned()), keys: BTreeMap::from([(id.to_owned(), random_key())]) }
    }

    /// A key from its base64 text; the error names `id`, never the text.
    pub fn decode_key(id: &str, base64: &str) -> Result<[u8; KEY_LEN], KeyError> {
        STANDARD
            .decode(base64.trim())
            .ok()
            .and_then(|bytes| <[u8; KEY_LEN]>::try_from(bytes).ok())
            .ok_or_else(|| KeyError::MalformedMasterKey(id.to_owned()))
    }

    /// The base64 text of `key` (for a key file).
    pub fn encode_key(key: &[u8; KEY_LEN]) -> String {
        STANDARD.encode(key)
    }

    /// The key `id`'s base64 text, to write it where it is kept (a development key file).
    pub fn export(&self, id: &str) -> Option<String> {
        self.keys.get(id).map(Self::encode_key)
    }

    pub fn current_id(&self) -> Option<&str> {
        self.current.as_deref()
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    fn current(&self) -> Result<(&str, &[u8; KEY_LEN]), KeyError> {
        let id = self.current.as_deref().ok_or(KeyError::NoCurrentMasterKey)?;
        let key = self.keys.get(id).ok_or_else(|| KeyError::UnknownCurrentMasterKey(id.to_owned()))?;
        Ok((id, key))
    }

    /// `data` wrapped with the current master key, for `person`.
    fn wrap(&self, person: Uuid, data: &DataKey) -> Result<StoredKey, KeyError> {
        let (master_key_id, master) = self.current()?;
        let aad = wrapped_aad(person, data.id, master_key_id);
        Ok(StoredKey {
            person_id: person,
            key_id: data.id,
            master_key_id: master_key_id.to_owned(),
            wrapped: encrypt(master, &aad, &data.bytes),
        })
    }

    fn unwrap(&self, stored: &StoredKey) -> Result<DataKey, KeyError> {
        let master = self
            .keys
            .get(&stored.master_key_id)
            .ok_or_else(|| KeyError::MissingMasterKey(stored.master_key_id.clone()))?;
        let aad = wrapped_aad(stored.person_id, stored.key_id, &stored.master_key_id);
        let unwrap_error =
            || KeyError::Unwrap { person: stored.person_id, master_key_id: stored.master_key_id.clone() };
        if stored.wrapped.len() != WRAPPED_LEN {
            return Err(unwrap_error());
        }
        let bytes = decrypt(master, &aad, &stored.wrapped).ok_or_else(unwrap_error)?;
        let bytes = <[u8; KEY_LEN]>::try_from(bytes).map_err(|_| unwrap_error())?;
        Ok(DataKey { id: stored.key_id, bytes })
    }
}

impl fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeys").field("current", &self.current).field("ids", &self.keys.keys()).finish()
    }
}

/// A person's data key, in clear: only ever in memory, for one read or one append.
#[derive(Clone)]
pub struct DataKey {
    id: Uuid,
    bytes: [u8; KEY_LEN],
}

impl DataKey {
    fn generate() -> Self {
        Self { id: Uuid::new_v4(), bytes: random_key() }
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey({})", self.id)
    }
}

/// A row of `person_keys`: a data key wrapped by a master key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredKey {
    pub person_id: Uuid,
    pub key_id: Uuid,
    pub master_key_id: String,
    pub wrapped: Vec<u8>,
}

fn random_key() -> [u8; KEY_LEN] {
    rand::random()
}

fn wrapped_aad(person: Uuid, key_id: Uuid, master_key_id: &str) -> Vec<u8> {
    let mut aad = WRAPPED_AAD.to_vec();
    for part in [person.to_string().as_bytes(), key_id.to_string().as_bytes(), master_key_id.as_bytes()] {
        aad.push(0);
        aad.extend_from_slice(part);
    }
    aad
}

fn sealed_aad(stream: &str, event_id: Uuid, event_type: &str, field: &str) -> Vec<u8> {
    let mut aad = SEALED_AAD.to_vec();
    for part in [stream.as_bytes(), event_id.to_string().as_bytes(), event_type.as_bytes(), field.as_bytes()] {
        aad.push(0);
        aad.extend_from_slice(part);
    }
    aad
}

/// nonce ‖ ciphertext ‖ tag.
fn encrypt(key: &[u8; KEY_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce: [u8; NONCE_LEN] = rand::random();
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    // fails only for a plaintext beyond 64 GiB
    let sealed =
        cipher.encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad }).expect("AES-GCM plaintext size");
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

/// The plaintext, or `None` if `sealed` does not open with `key` and `aad`.
fn decrypt(key: &[u8; KEY_LEN], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad }).ok()
}

// ---------------------------------------------------------------------------------------------
// Which fields are personal

/// Which fields of which events of a category hold personal data, and which event erases them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PersonalFields {
    /// The stream category (`person`): one data key per stream of it.
    pub category: &'static str,
    /// `(event type, payload field)`.
    pub fields: &'static [(&'static str, &'static str)],
    /// The event whose append destroys the stream's data key.
    pub erased_by: &'static str,
}

impl PersonalFields {
    /// The personal field of `event_type`, if it has one.
    pub fn field_of(&self, event_type: &str) -> Option<&'static str> {
        self.fields.iter().find(|(t, _)| *t == event_type).map(|(_, f)| *f)
    }

    /// The id of the person whose stream is `stream`, if it is of this category.
    pub fn person_of(&self, stream: &StreamId) -> Option<Uuid> {
        stream
            .as_str()
            .strip_prefix(self.category)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|raw| Uuid::parse_str(raw).ok())
    }
}

/// The parts of a sealed field: the base64 text and the key id. `None`: the value is not sealed.
pub fn sealed_parts(value: &Value) -> Option<(&str, &str)> {
    let object = value.as_object()?;
    if object.len() != 2 {
        return None;
    }
    Some((object.get("sealed")?.as_str()?, object.get("key")?.as_str()?))
}

/// Whether the personal field of `event` (if any) is sealed.
pub(crate) fn is_sealed(personal: &PersonalFields, event: &RecordedEvent) -> bool {
    personal
        .field_of(&event.event_type)
        .and_then(|field| event.payload.get(field))
        .is_some_and(|v| sealed_parts(v).is_some())
}

// ---------------------------------------------------------------------------------------------
// Keys opened for one read

/// What became of one person's data key.
#[derive(Clone, Debug)]
enum KeySlot {
    Open(DataKey),
    /// No row: the person was erased, what their key sealed is gone.
    Shredded,
    /// A row that cannot be opened (its master key is missing, or does not open it).
    Locked(KeyError),
}

/// The data keys of some people, opened for one read: what [`Codec::decode_with`] needs
/// (see [`Codec::load_keys`]). Dropped with the read.
#[derive(Clone, Debug, Default)]
pub struct PersonKeys {
    slots: HashMap<Uuid, KeySlot>,
}

impl PersonKeys {
    /// No key: decodes events without sealed fields only.
    pub fn none() -> Self {
        Self::default()
    }

    fn opened(master: Option<&MasterKeys>, asked: &[Uuid], stored: Vec<StoredKey>) -> Self {
        let mut slots: HashMap<Uuid, KeySlot> = asked.iter().map(|id| (*id, KeySlot::Shredded)).collect();
        for key in stored {
            let slot = match master {
                Some(master) => master.unwrap(&key).map_or_else(KeySlot::Locked, KeySlot::Open),
                None => KeySlot::Locked(KeyError::MissingMasterKey(key.master_key_id.clone())),
            };
            slots.insert(key.person_id, slot);
        }
        Self { slots }
    }

    /// Whether `person`'s key was looked up and is gone (erased).
    pub fn is_shredded(&self, person: Uuid) -> bool {
        matches!(self.slots.get(&person), Some(KeySlot::Shredded))
    }

    /// Opens `value`, the sealed field `field` of event `event_id` of `event_type` in `stream`:
    /// its clear JSON, or `null` when the person's key is gone.
    pub(crate) fn open(
        &self,
        person: Uuid,
        stream: &str,
        event_id: Uuid,
        event_type: &str,
        field: &str,
        value: &Value,
    ) -> Result<Value, String> {
        let (text, key_id) = sealed_parts(value).ok_or("the personal field is not sealed")?;
        let key = match self.slots.get(&person) {
            Some(KeySlot::Open(key)) => key,
            Some(KeySlot::Shredded) => return Ok(Value::Null),
            Some(KeySlot::Locked(e)) => return Err(e.to_string()),
            None => {
                return Err(format!(
                    "{event_type}.{field} is sealed and the key of person {person} was not loaded: load the events' \
                     keys first (Codec::load_keys)"
                ));
            }
        };
        if key.id.to_string() != key_id {
            return Err(format!(
                "{event_type}.{field} is sealed with key {key_id}, person {person} has key {}",
                key.id
            ));
        }
        let sealed =
            STANDARD.decode(text).map_err(|_| format!("{event_type}.{field}: the sealed text is not base64"))?;
        let aad = sealed_aad(stream, event_id, event_type, field);
        let clear = decrypt(&key.bytes, &aad, &sealed).ok_or_else(|| {
            format!("{event_type}.{field} does not open: altered, or moved from another event or another person")
        })?;
        serde_json::from_slice(&clear).map_err(|e| format!("{event_type}.{field}: sealed JSON unreadable: {e}"))
    }
}

/// `value` sealed with `key` for field `field` of `event` in `stream`.
fn seal_value(key: &DataKey, stream: &str, event: &NewEvent, field: &str, value: &Value) -> Value {
    let aad = sealed_aad(stream, event.event_id, &event.event_type, field);
    // serializing a Value cannot fail
    let clear = serde_json::to_vec(value).unwrap_or_default();
    json!({ "sealed": STANDARD.encode(encrypt(&key.bytes, &aad, &clear)), "key": key.id.to_string() })
}

// ---------------------------------------------------------------------------------------------
// The key table

/// A store with a `person_keys` table beside its log: every [`crate::EventStore`] (a
/// supertrait of it). The table's statements are written once (`key_table.rs`); what each
/// backend does its own way is here, in its own `keys.rs`.
pub trait KeyStore {
    /// Removes from the database's files what deleted personal data left there (see the
    /// module docs): on SQLite a `wal_checkpoint(TRUNCATE)` (with `secure_delete` on, freed
    /// space is already zeroed; `tables` do not matter), on PostgreSQL a `VACUUM (FULL,
    /// ANALYZE)` of `person_keys` and of `tables`. Run it outside any transaction, once the
    /// erasure (or the rebuild) is committed.
    fn scrub(&self, tables: &[&str]) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What an append must do to the key table, in its transaction.
#[derive(Debug, Default)]
pub(crate) struct KeyWork {
    insert: Option<StoredKey>,
    delete: Option<Uuid>,
}

impl KeyWork {
    pub(crate) fn is_empty(&self) -> bool {
        self.insert.is_none() && self.delete.is_none()
    }

    async fn apply(&self, tx: &mut TxConn<'_>) -> Result<(), StoreError> {
        if let Some(key) = &self.insert {
            crate::key_table::insert_in(tx, key).await?;
        }
        if let Some(person) = self.delete {
            crate::key_table::delete_in(tx, person).await?;
        }
        Ok(())
    }
}

/// The append's hook when keys change: the key work first, then the caller's hook (the inline
/// projections, which may need the key just inserted), all in the append's transaction.
pub(crate) struct KeyHook<'h> {
    work: KeyWork,
    then: Option<&'h dyn InlineHook>,
}

impl<'h> KeyHook<'h> {
    pub(crate) fn new(work: KeyWork, then: Option<&'h dyn InlineHook>) -> Self {
        Self { work, then }
    }
}

impl InlineHook for KeyHook<'_> {
    fn run<'c>(&'c self, mut tx: TxConn<'c>, events: &'c [RecordedEvent]) -> BoxFuture<'c, Result<(), StoreError>> {
        Box::pin(async move {
            self.work.apply(&mut tx).await?;
            match self.then {
                Some(then) => then.run(tx, events).await,
                None => Ok(()),
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The codec's side

impl crate::codec::Codec {
    /// The ids of the people whose sealed fields appear among `events`.
    fn sealed_people<'e>(&self, events: impl IntoIterator<Item = &'e RecordedEvent>) -> Vec<Uuid> {
        let Some(personal) = self.personal_fields() else { return vec![] };
        let mut people: Vec<Uuid> = events
            .into_iter()
            .filter(|e| is_sealed(personal, e))
            .filter_map(|e| personal.person_of(&e.stream_id))
            .collect();
        people.sort_unstable();
        people.dedup();
        people
    }

    /// The keys that decoding `events` needs, read from `store`'s key table (one query, none when
    /// no event has a sealed field: `key_table.rs` does not query for nobody).
    pub async fn load_keys<'e, S: crate::EventStore>(
        &self,
        store: &S,
        events: impl IntoIterator<Item = &'e RecordedEvent>,
    ) -> Result<PersonKeys, StoreError> {
        let people = self.sealed_people(events);
        let stored = crate::key_table::fetch(store, &people).await?;
        Ok(PersonKeys::opened(self.master_keys(), &people, stored))
    }

    /// The same inside a transaction: an inline projector sees the key its append just inserted.
    pub async fn load_keys_in<'e>(
        &self,
        tx: &mut TxConn<'_>,
        events: impl IntoIterator<Item = &'e RecordedEvent>,
    ) -> Result<PersonKeys, StoreError> {
        let people = self.sealed_people(events);
        let stored = crate::key_table::fetch_in(tx, &people).await?;
        Ok(PersonKeys::opened(self.master_keys(), &people, stored))
    }

    /// Before an append to `stream`: seals the personal fields of `events` with the person's data
    /// key (made and wrapped if the person has none yet) and says what the append must do to the
    /// key table (insert that new key; delete the key when `events` erase the person). Without
    /// master keys, personal fields stay clear.
    pub(crate) async fn prepare_append<S: crate::EventStore>(
        &self,
        store: &S,
        stream: &StreamId,
        events: &mut [NewEvent],
    ) -> Result<KeyWork, StoreError> {
        let mut work = KeyWork::default();
        let Some(personal) = self.personal_fields() else { return Ok(work) };
        let Some(person) = personal.person_of(stream) else { return Ok(work) };
        if events.iter().any(|e| e.event_type == personal.erased_by) {
            work.delete = Some(person);
        }
        let has_personal = |e: &NewEvent| personal.field_of(&e.event_type).is_some_and(|f| e.payload.get(f).is_some());
        let Some(master) = self.master_keys() else { return Ok(work) };
        if !events.iter().any(has_personal) {
            return Ok(work);
        }
        let key = match crate::key_table::fetch(store, &[person]).await?.into_iter().next() {
            Some(stored) => master.unwrap(&stored)?,
            None => {
                let key = DataKey::generate();
                work.insert = Some(master.wrap(person, &key)?);
                key
            }
        };
        for event in events.iter_mut() {
            let Some(field) = personal.field_of(&event.event_type) else { continue };
            let Some(value) = event.payload.get(field) else { continue };
            if value.is_null() || sealed_parts(value).is_some() {
                continue;
            }
            let sealed = seal_value(&key, stream.as_str(), event, field, value);
            event.payload[field] = sealed;
        }
        Ok(work)
    }
}

// ---------------------------------------------------------------------------------------------
// Master-key rotation

/// What [`rotate`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Data keys re-wrapped with the current master key.
    pub rewrapped: u64,
    /// Data keys already wrapped with it.
    pub already_current: u64,
}

/// Rows re-wrapped per round trip.
const ROTATION_BATCH: i64 = 500;

/// Re-wraps every data key of `store` still wrapped by another master key than the current one
/// of `master`, which must hold those other keys too. Each key is updated only if it is still the
/// one read (an erasure meanwhile deletes it; rotation never brings a key back). Stops at the
/// first key it cannot open, naming its master key; running it again resumes.
pub async fn rotate<S: crate::EventStore>(store: &S, master: &MasterKeys) -> Result<Rotation, StoreError> {
    let (current, _) = master.current()?;
    let mut done =
        Rotation { already_current: crate::key_table::count_wrapped_by(store, current).await?, ..Rotation::default() };
    let mut after = Uuid::nil();
    loop {
        let batch = crate::key_table::to_rotate(store, current, after, ROTATION_BATCH).await?;
        let Some(last) = batch.last() else { break };
        after = last.person_id;
        for stored in &batch {
            let key = master.unwrap(stored)?;
            let fresh = master.wrap(stored.person_id, &key)?;
            if crate::key_table::rewrap(store, stored, &fresh).await? {
                done.rewrapped += 1;
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> MasterKeys {
        MasterKeys::new("k1", [("k1".to_owned(), [1; KEY_LEN]), ("k2".to_owned(), [2; KEY_LEN])]).unwrap()
    }

    #[test]
    fn a_data_key_unwraps_only_for_its_person_and_under_its_master_key() {
        let master = keys();
        let person = Uuid::new_v4();
        let data = DataKey::generate();
        let stored = master.wrap(person, &data).unwrap();
        assert_eq!(stored.wrapped.len(), WRAPPED_LEN);
        assert!(!stored.wrapped.windows(KEY_LEN).any(|w| w == data.bytes), "never in clear");
        assert_eq!(master.unwrap(&stored).unwrap().bytes, data.bytes);
        let moved = StoredKey { person_id: Uuid::new_v4(), ..stored.clone() };
        assert!(matches!(master.unwrap(&moved), Err(KeyError::Unwrap { .. })), "bound to the person");
        let relabelled = StoredKey { master_key_id: "k2".into(), ..stored.clone() };
        assert!(matches!(master.unwrap(&relabelled), Err(KeyError::Unwrap { .. })));
        let without_k1 = MasterKeys::new("k2", [("k2".to_owned(), [2; KEY_LEN])]).unwrap();
        let missing = without_k1.unwrap(&stored).unwrap_err();
        assert_eq!(missing, KeyError::MissingMasterKey("k1".into()));
        assert!(missing.to_string().contains("`k1`"), "{missing}");
    }

    #[test]
    fn master_keys_never_print_and_parse_by_id() {
        let master = keys();
        let printed = format!("{master:?}");
        assert!(printed.contains("k1") && !printed.contains("[1, 1"), "{printed}");
        let text = MasterKeys::encode_key(&[7; KEY_LEN]);
        assert_eq!(MasterKeys::decode_key("x", &text).unwrap(), [7; KEY_LEN]);
        let bad = MasterKeys::decode_key("prod-2026", "c2hvcnQ=").unwrap_err();
        assert_eq!(bad.to_string(), "master key `prod-2026` is not 32 bytes in base64");
        assert_eq!(
            MasterKeys::new("k3", [("k1".to_owned(), [1; KEY_LEN])]).unwrap_err(),
            KeyError::UnknownCurrentMasterKey("k3".into())
        );
        assert_eq!(MasterKeys::read_only([]).current().unwrap_err(), KeyError::NoCurrentMasterKey);
    }

    #[test]
    fn a_sealed_value_opens_only_in_its_event() {
        let key = DataKey::generate();
        let person = Uuid::new_v4();
        let stream = format!("person-{person}");
        let event = NewEvent::new("PersonRegistered", json!({}));
        let value = json!({ "given_name": "Aurélie" });
        let sealed = seal_value(&key, &stream, &event, "profile", &value);
        assert!(!sealed.to_string().contains("Aurélie"));
        let keys = PersonKeys { slots: HashMap::from([(person, KeySlot::Open(key))]) };
        let open = |stream: &str, id: Uuid, t: &str| keys.open(person, stream, id, t, "profile", &sealed);
        assert_eq!(open(&stream, event.event_id, "PersonRegistered").unwrap(), value);
        assert!(open(&format!("person-{}", Uuid::new_v4()), event.event_id, "PersonRegistered").is_err());
        assert!(open(&stream, Uuid::new_v4(), "PersonRegistered").is_err());
        assert!(open(&stream, event.event_id, "PersonProfileUpdated").is_err());
        let shredded = PersonKeys { slots: HashMap::from([(person, KeySlot::Shredded)]) };
        assert_eq!(
            shredded.open(person, &stream, event.event_id, "PersonRegistered", "profile", &sealed),
            Ok(Value::Null)
        );
        let unloaded = PersonKeys::none().open(person, &stream, event.event_id, "PersonRegistered", "profile", &sealed);
        assert!(unloaded.unwrap_err().contains("not loaded"));
    }
}
