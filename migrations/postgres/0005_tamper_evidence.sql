-- Tamper evidence (DESIGN §3.3): per-stream hash chains filled at append, and global seals.
-- The full design, and the recipe by which a third party recomputes every hash without Carnet,
-- is in store/src/integrity.rs. In short:
--
--   events.hash = SHA-256 of these 10 lines, each ended by "\n" (UTF-8):
--     prev_hash (lowercase hex; 64 zeros for version 1), global_position, stream_id,
--     stream_version, event_id (lowercase, hyphenated), event_type, schema_version,
--     payload::text, metadata::text (the jsonb as PostgreSQL renders it: the stored form,
--     sealed personal fields included), recorded_at as YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC)
--   events.prev_hash = the hash of the stream's previous version (32 zero bytes for version 1)
--
--   seals.hash = SHA-256 of lines, each ended by "\n": the previous seal's hash (lowercase
--     hex, 64 zeros for seal 1), then the hash (lowercase hex) of every event the seal covers,
--     in reading order (transaction_id, global_position).
--
-- `global_position` is hashed (beyond DESIGN's list) so that an event moved to another place of
-- the log no longer verifies; `transaction_id` is not (the seals fix the reading order).
-- Stream ids and event types never hold a newline (refused at append), and JSON text has none:
-- the 10 lines are unambiguous. Applied migrations are never edited.

-- The recipe in SQL, for the backfill below and for auditors who check from psql:
--   select global_position from events
--   where hash is distinct from carnet_event_hash(prev_hash, global_position, stream_id,
--         stream_version, event_id, event_type, schema_version, payload, metadata, recorded_at);
-- carnet_append inlines the same expression (a function call per event would cost more).
create function carnet_event_hash(
    p_prev_hash       bytea,
    p_global_position bigint,
    p_stream_id       text,
    p_stream_version  bigint,
    p_event_id        uuid,
    p_event_type      text,
    p_schema_version  integer,
    p_payload         jsonb,
    p_metadata        jsonb,
    p_recorded_at     timestamptz
) returns bytea
language sql stable strict parallel safe as $$
    select sha256(convert_to(
        encode(p_prev_hash, 'hex') || E'\n' || p_global_position || E'\n' || p_stream_id || E'\n'
        || p_stream_version || E'\n' || p_event_id || E'\n' || p_event_type || E'\n'
        || p_schema_version || E'\n' || p_payload::text || E'\n' || p_metadata::text || E'\n'
        || to_char(p_recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || E'\n',
        'UTF8'));
$$;

-- Same signature and result as 0001's; what changes: the stream's head is read with its hash,
-- positions are drawn before the insert (they are hashed), every event of the append shares one
-- recorded_at (clock_timestamp() read once the stream lock is held, as 0004 intended), and each
-- event gets its prev_hash and hash, chained in version order, all under the stream's lock.
create or replace function carnet_append(
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
    v_current   bigint;
    v_prev      bytea;
    v_count     integer := coalesce(cardinality(p_event_ids), 0);
    v_at        timestamptz;
    v_tail      text;
    v_positions bigint[];
    v_hashes    bytea[];
    v_prevs     bytea[];
begin
    -- Writers of one stream queue here (transaction-scoped): see 0001. The head's hash read
    -- below cannot change until this transaction ends.
    perform pg_advisory_xact_lock(1, hashtext(p_stream_id));

    if p_command_id is not null
        and exists (select 1 from events e where e.command_id = p_command_id) then
        return query
            select e.global_position, e.transaction_id, e.stream_version, e.event_id, e.recorded_at, true
            from carnet_command_events(p_command_id) e;
        return;
    end if;

    select e.stream_version, e.hash into v_current, v_prev
    from events e where e.stream_id = p_stream_id
    order by e.stream_version desc limit 1;
    v_current := coalesce(v_current, 0);

    if p_expected is not null and p_expected <> v_current then
        raise exception using
            errcode = 'CA409',
            message = format('stream %s is at version %s, not %s', p_stream_id, v_current, p_expected),
            detail = v_current::text;
    end if;

    if v_count = 0 then
        return;
    end if;
    if strpos(p_stream_id, E'\n') > 0 or strpos(p_stream_id, E'\r') > 0 then
        raise exception using errcode = '22023', message = 'a stream id holds no line break';
    end if;

    -- version 1 chains to 32 zero bytes; a head without a hash (which `carnet verify` reports)
    -- is chained as if it were the start
    v_prev := coalesce(v_prev, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
    v_at := clock_timestamp();
    -- the last two lines, the same for every event of the append
    v_tail := p_metadata::text || E'\n'
        || to_char(v_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || E'\n';
    for i in 1 .. v_count loop
        v_positions[i] := nextval('events_global_position_seq');
        v_prevs[i] := v_prev;
        v_prev := sha256(convert_to(
            encode(v_prev, 'hex') || E'\n' || v_positions[i] || E'\n' || p_stream_id || E'\n'
            || (v_current + i) || E'\n' || p_event_ids[i] || E'\n' || p_types[i] || E'\n'
            || p_schema_versions[i] || E'\n' || p_payloads[i]::text || E'\n' || v_tail,
            'UTF8'));
        v_hashes[i] := v_prev;
    end loop;

    return query
        insert into events as e (global_position, stream_id, stream_version, event_id, event_type, schema_version,
                                 payload, metadata, recorded_at, command_id, hash, prev_hash)
        overriding system value
        select t.pos, p_stream_id, v_current + t.n, t.event_id, t.event_type, t.schema_version, t.payload,
               p_metadata, v_at, case when t.n = 1 then p_command_id end, t.hash, t.prev_hash
        from unnest(v_positions, p_event_ids, p_types, p_schema_versions, p_payloads, v_hashes, v_prevs)
            with ordinality as t(pos, event_id, event_type, schema_version, payload, hash, prev_hash, n)
        order by t.n
        returning e.global_position, e.transaction_id, e.stream_version, e.event_id, e.recorded_at, false;
end;
$$;

-- Global seals: each covers the events after the previous seal, in reading order, up to and
-- including the checkpoint (last_transaction_id, last_global_position), and only events of
-- transactions older than the oldest still running, as the catch-up readers do: no event can
-- commit later inside a sealed range. Written by the sealer (store/src/integrity.rs), never
-- updated, never deleted. Record the latest seal's hash outside the database: it is what shows
-- that the whole log was not rewritten.
create table seals (
    seal_number          bigint      primary key,
    last_transaction_id  bigint      not null,
    last_global_position bigint      not null,
    event_count          bigint      not null,
    prev_hash            bytea       not null,
    hash                 bytea       not null,
    sealed_at            timestamptz not null default clock_timestamp(),
    constraint seals_number_positive check (seal_number >= 1),
    constraint seals_not_empty check (event_count >= 1)
);

-- One-off: events appended before this migration get their chains now, under a lock that keeps
-- writers out until it commits (readers go on). A new database has no event here.
lock table events in exclusive mode;
do $$
declare
    r        record;
    v_stream text;
    v_prev   bytea;
begin
    for r in select e.* from events e order by e.stream_id, e.stream_version loop
        if r.stream_id is distinct from v_stream then
            v_stream := r.stream_id;
            v_prev := decode(repeat('00', 32), 'hex');
        end if;
        if r.hash is null then
            update events set prev_hash = v_prev,
                              hash = carnet_event_hash(v_prev, r.global_position, r.stream_id, r.stream_version,
                                                       r.event_id, r.event_type, r.schema_version, r.payload,
                                                       r.metadata, r.recorded_at)
            where events.global_position = r.global_position
            returning events.hash into v_prev;
        else
            v_prev := r.hash;
        end if;
    end loop;
end;
$$;
