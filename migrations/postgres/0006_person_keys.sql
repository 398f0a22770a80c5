-- Personal data at rest (DESIGN §3.2): one data key per person, never in clear. The personal
-- fields of Person events (`PersonRegistered`, `PersonProfileUpdated`: the profile) are sealed
-- with it (AES-256-GCM) before they reach `events`; the key itself is stored here wrapped
-- (AES-256-GCM) by a master key from the configuration, which the database never holds.
--
-- Erasing a person deletes their row in the transaction that appends `PersonErased`
-- (crypto-shredding): every copy of the sealed profile, in the log and in backups, becomes
-- unreadable, while the log itself is untouched. `carnet rotate-master-key` re-wraps every row
-- with the current master key. Written only by carnet-store (store/src/sealing.rs).
create table person_keys (
    -- the person's id: the uuid of its `person-<uuid>` stream
    person_id     uuid        primary key,
    -- names the data key; sealed profiles carry it (`"key"`)
    key_id        uuid        not null,
    -- the configured master key that wraps it
    master_key_id text        not null,
    -- nonce (12 bytes) ‖ AES-256-GCM ciphertext of the 32-byte data key and its tag, bound to
    -- person_id, key_id and master_key_id
    wrapped       bytea       not null,
    created_at    timestamptz not null default now(),
    rotated_at    timestamptz,
    constraint person_keys_wrapped_length check (length(wrapped) = 60)
);

-- rotation reads the keys still wrapped by another master key than the current one
create index person_keys_master_key_idx on person_keys (master_key_id);

-- Snapshots of Person state would hold the profile in clear: Person streams are never
-- snapshotted from now on (store/src/handler.rs), and those taken before go.
delete from snapshots where stream_id like 'person-%';
