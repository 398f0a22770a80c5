-- Witnesses' cosignatures of the checkpoints (issue 12; store/src/integrity/witness.rs): C2SP
-- tlog-cosignature/v1 note signature lines, received by POST /checkpoint/cosignature and
-- verified with the configured witness keys before they are kept. The server serves them with
-- the checkpoint; auditors verify them with the witnesses' public keys, not by trusting this table.
create table cosignatures (
    tree_size   integer not null check (tree_size >= 1),
    witness     text   not null,
    key_id      integer not null check (key_id between 0 and 4294967295),
    -- the witness's own timestamp, in seconds since the epoch (signed with the cosignature)
    cosigned_at integer not null check (cosigned_at >= 0),
    line        text   not null,
    primary key (tree_size, witness, key_id)
) without rowid;
