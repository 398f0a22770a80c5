-- Personal data at rest: see migrations/postgres/0006_person_keys.sql. Same table and columns
-- (uuids as text, timestamps as RFC 3339 UTC text).
create table person_keys (
    person_id     text primary key,
    key_id        text not null,
    master_key_id text not null,
    wrapped       blob not null,
    created_at    text not null default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    rotated_at    text,
    constraint person_keys_wrapped_length check (length(wrapped) = 60)
);

create index person_keys_master_key_idx on person_keys (master_key_id);

delete from snapshots where stream_id like 'person-%';
