-- Carnet's event store on SQLite, the embedded default (DESIGN §3). Same tables and columns as
-- on PostgreSQL. SQLite has one writer at a time, so positions are assigned in commit order and
-- transaction_id is simply a counter of appends. Applied migrations are never edited.

create table events (
    global_position integer primary key autoincrement,
    transaction_id  integer not null,
    stream_id       text    not null,
    stream_version  integer not null,
    event_id        text    not null,
    event_type      text    not null,
    schema_version  integer not null,
    payload         text    not null,   -- JSON
    metadata        text    not null,   -- JSON
    recorded_at     text    not null,   -- RFC 3339, UTC, microseconds
    command_id      text,               -- on the first event of each append only
    hash            blob,
    prev_hash       blob,
    constraint events_stream_version_key unique (stream_id, stream_version),
    constraint events_event_id_key unique (event_id),
    constraint events_stream_version_positive check (stream_version >= 1),
    constraint events_schema_version_positive check (schema_version >= 1)
);

create index events_log_order_idx on events (transaction_id, global_position);

create unique index events_command_id_key on events (command_id) where command_id is not null;

create table snapshots (
    stream_id       text    primary key,
    decider_version integer not null,
    stream_version  integer not null,
    state           text    not null,
    taken_at        text    not null
);
