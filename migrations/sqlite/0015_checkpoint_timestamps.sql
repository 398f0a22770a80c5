-- RFC 3161 timestamps of checkpoints (issue 12; store/src/integrity/timestamp.rs): a
-- time-stamping authority's token over the SHA-256 of a signed checkpoint's note, as issued.
-- Auditors verify a token with the TSA's CA certificate (`openssl ts -verify`), not by trusting
-- this table.
create table checkpoint_timestamps (
    tree_size integer     not null check (tree_size >= 1),
    -- the TSA's URL
    tsa       text        not null,
    -- the time the TSA vouches for (its TSTInfo genTime)
    gen_time  text        not null,   -- RFC 3339, UTC, microseconds
    -- the TimeStampToken (CMS ContentInfo), DER
    token     blob        not null,
    primary key (tree_size, tsa)
) without rowid;
