-- Carnet's event store on PostgreSQL (DESIGN §3). Table and column names are a contract:
-- auditors and their tools read them directly. Applied migrations are never edited.

-- The log. One row per event, never updated, never deleted.
create table events (
    -- unique, assigned by an identity; NOT the reading order on its own (see transaction_id)
    global_position bigint generated always as identity primary key,
    -- the 64-bit id of the appending transaction. Readers follow (transaction_id,
    -- global_position) and only below the oldest transaction still running, so an event whose
    -- transaction commits late is never skipped (DESIGN §3, "Ordering without skipped events").
    transaction_id  bigint      not null default (pg_current_xact_id()::text::bigint),
    stream_id       text        not null,
    stream_version  bigint      not null,
    event_id        uuid        not null,
    event_type      text        not null,
    schema_version  integer     not null,
    payload         jsonb       not null,
    metadata        jsonb       not null,
    recorded_at     timestamptz not null default now(),
    -- tamper evidence, filled by the auditors' work (DESIGN §3.3)
    hash            bytea,
    prev_hash       bytea,
    -- a unique violation here IS the optimistic-concurrency conflict
    constraint events_stream_version_key unique (stream_id, stream_version),
    constraint events_event_id_key unique (event_id),
    constraint events_stream_version_positive check (stream_version >= 1),
    constraint events_schema_version_positive check (schema_version >= 1)
);

-- catch-up readers: keyset over the reading order
create index events_log_order_idx on events (transaction_id, global_position);

-- Idempotent commands: a retried command_id returns the first result and writes nothing.
create table commands (
    command_id     uuid        primary key,
    stream_id      text        not null,
    first_version  bigint      not null,
    last_version   bigint      not null,
    recorded_at    timestamptz not null default now()
);

-- Latest snapshot per stream; a snapshot taken by another decider version is ignored on load.
create table snapshots (
    stream_id       text        primary key,
    decider_version integer     not null,
    stream_version  bigint      not null,
    state           jsonb       not null,
    taken_at        timestamptz not null default now()
);

-- Append in one statement (one round trip), so an append costs what a raw insert costs.
-- p_expected: null = any version, 0 = the stream must not exist, n = exactly n.
-- Returns one row per event: the new events, or for a replayed command_id the events it wrote.
-- A wrong expected version raises SQLSTATE CA409 with the current version in DETAIL. Writers of
-- one stream are serialized by a transaction-scoped advisory lock; should two ever pass the check
-- together, they meet on events_stream_version_key (23505), which the store also maps to a conflict.
create function carnet_append(
    p_stream_id       text,
    p_expected        bigint,
    p_command_id      uuid,
    p_event_ids       uuid[],
    p_types           text[],
    p_schema_versions integer[],
    p_payloads        jsonb[],
    p_metadata        jsonb
) returns table (
    global_position bigint,
    transaction_id  bigint,
    stream_version  bigint,
    event_id        uuid,
    recorded_at     timestamptz,
    replayed        boolean
)
language plpgsql as $$
declare
    v_current bigint;
    v_count   integer := coalesce(cardinality(p_event_ids), 0);
begin
    -- Writers of one stream queue here (transaction-scoped), so `any` never collides and an
    -- exact version is checked against the committed head; other streams are not affected.
    -- Taken before the first write, hence before the transaction gets its id: within a stream,
    -- transaction ids then grow with versions, and the reading order keeps each stream in order.
    -- So carnet_append must be the first write of its transaction.
    perform pg_advisory_xact_lock(1, hashtext(p_stream_id));

    if p_command_id is not null
        and exists (select 1 from commands c where c.command_id = p_command_id) then
        return query
            select e.global_position, e.transaction_id, e.stream_version, e.event_id, e.recorded_at, true
            from commands c
            join events e on e.stream_id = c.stream_id
                and e.stream_version between c.first_version and c.last_version
            where c.command_id = p_command_id
            order by e.stream_version;
        return;
    end if;

    select coalesce(max(e.stream_version), 0) into v_current
    from events e where e.stream_id = p_stream_id;

    if p_expected is not null and p_expected <> v_current then
        raise exception using
            errcode = 'CA409',
            message = format('stream %s is at version %s, not %s', p_stream_id, v_current, p_expected),
            detail = v_current::text;
    end if;

    return query
        insert into events as e (stream_id, stream_version, event_id, event_type, schema_version, payload, metadata)
        select p_stream_id, v_current + t.n, t.event_id, t.event_type, t.schema_version, t.payload, p_metadata
        from unnest(p_event_ids, p_types, p_schema_versions, p_payloads)
            with ordinality as t(event_id, event_type, schema_version, payload, n)
        order by t.n
        returning e.global_position, e.transaction_id, e.stream_version, e.event_id, e.recorded_at, false;

    -- A retry of the same command waits on the stream lock above and then finds this row. The
    -- same command id sent to another stream at the same moment meets commands_pkey, and the
    -- store answers it with the first result.
    if p_command_id is not null then
        insert into commands (command_id, stream_id, first_version, last_version)
        values (p_command_id, p_stream_id, v_current + 1, v_current + v_count);
    end if;
end;
$$;
