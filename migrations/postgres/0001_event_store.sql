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
    -- the idempotency key of the append, on its first event only (null on the others): a
    -- retried command id returns the events of that append and writes nothing
    command_id      uuid,
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

-- one first event per command id; a unique violation here is a concurrent retry
create unique index events_command_id_key on events (command_id) where command_id is not null;

-- The events an append wrote: from its first event (the one carrying the command id) up to the
-- next event of the stream that starts another append.
create function carnet_command_events(p_command_id uuid)
returns setof events
language sql stable as $$
    select e.*
    from events f
    join events e on e.stream_id = f.stream_id and e.stream_version >= f.stream_version
    where f.command_id = p_command_id
      and e.stream_version < coalesce(
          (select min(n.stream_version) from events n
           where n.stream_id = f.stream_id and n.stream_version > f.stream_version and n.command_id is not null),
          9223372036854775807)
    order by e.stream_version;
$$;

-- Latest snapshot per stream; a snapshot taken by another decider version is ignored on load.
create table snapshots (
    stream_id       text        primary key,
    decider_version integer     not null,
    stream_version  bigint      not null,
    state           jsonb       not null,
    taken_at        timestamptz not null default now()
);

-- Append in one statement (one round trip), so an append costs little more than a raw insert.
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
        and exists (select 1 from events e where e.command_id = p_command_id) then
        return query
            select e.global_position, e.transaction_id, e.stream_version, e.event_id, e.recorded_at, true
            from carnet_command_events(p_command_id) e;
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
        insert into events as e (stream_id, stream_version, event_id, event_type, schema_version, payload, metadata, command_id)
        select p_stream_id, v_current + t.n, t.event_id, t.event_type, t.schema_version, t.payload, p_metadata,
               case when t.n = 1 then p_command_id end
        from unnest(p_event_ids, p_types, p_schema_versions, p_payloads)
            with ordinality as t(event_id, event_type, schema_version, payload, n)
        order by t.n
        returning e.global_position, e.transaction_id, e.stream_version, e.event_id, e.recorded_at, false;
    -- A retry of the same command waits on the stream lock above and then finds its first
    -- event. The same command id sent to another stream at the same moment meets
    -- events_command_id_key, and the store answers it with the first result.
end;
$$;
