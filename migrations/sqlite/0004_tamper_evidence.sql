-- Tamper evidence (DESIGN §3.3): see migrations/postgres/0005_tamper_evidence.sql and
-- store/src/integrity.rs for the design and the recipe. On SQLite the store computes the hashes
-- in Rust inside the append's transaction; the hashed payload, metadata and recorded_at are the
-- stored text itself. Applied migrations are never edited.

create table seals (
    seal_number          integer primary key,
    last_transaction_id  integer not null,
    last_global_position integer not null,
    event_count          integer not null,
    prev_hash            blob    not null,
    hash                 blob    not null,
    sealed_at            text    not null,   -- RFC 3339, UTC, microseconds
    constraint seals_number_positive check (seal_number >= 1),
    constraint seals_not_empty check (event_count >= 1)
);

-- SQLite has no SHA-256: events appended before this migration are hashed by the store right
-- after migrating (integrity::backfill_sqlite), once, while this row says it is pending.
create table integrity_backfill (
    pending integer primary key check (pending = 1)
);
insert into integrity_backfill (pending) select 1 where exists (select 1 from events);
