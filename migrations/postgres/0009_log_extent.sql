-- A log that survives a restore, and a log that cannot silently shrink. Applied migrations are
-- never edited. The why is in store/src/extent.rs; in short:
--
-- 1. Reading order across clusters. Readers follow (transaction_id, global_position) and read
--    only below the oldest running transaction. transaction_id was the raw 64-bit transaction id
--    of the appending transaction. A `pg_dump` restored into ANOTHER cluster carries the ids of
--    the old cluster, which may be far above the new cluster's counter: every restored event
--    then looks "still running" to the new cluster and is never read, and new events sort
--    before the restored ones. So the transaction id is now `raw id + carnet_xid_offset()`, and
--    at every start (`carnet_adopt_log`, called by the store after the migrations) a log whose
--    largest transaction_id is not below this cluster's current id is adopted: the offset grows
--    so that the oldest running transaction's id lands just above it (readable at once, and
--    every later transaction numbered after it). Stored values never change (no event is
--    rewritten, checkpoints, seals and cursors stay valid); only later ids move up.
--    carnet_xid_offset() is a constant SQL function, inlined by the planner; adopting redefines
--    it, which invalidates every cached plan that used it. The offset travels with a dump (the
--    function is part of the schema).
--
-- 2. The log's high-water mark. `log_extent` remembers the largest global position this database
--    has been seen to hold. A log found below it was cut or
--    emptied (`truncate events`): an integrity failure, never "intact, 0 events". It is also
--    what tells a database that has held events from a new one (demo data).

-- STABLE, not IMMUTABLE: the planner inlines it (and records the plan's dependency on it, so
-- that redefining it invalidates cached plans) rather than folding it once into a plan.
create function carnet_xid_offset() returns bigint
language sql stable parallel safe as $$ select 0::bigint $$;

-- the transaction id an append stores
create function carnet_transaction_id() returns bigint
language sql volatile as $$ select pg_current_xact_id()::text::bigint + carnet_xid_offset() $$;

-- below it, every transaction has ended: readers read only events below it. STABLE (as
-- pg_current_snapshot), so that it can bound an index scan.
create function carnet_log_horizon() returns bigint
language sql stable parallel safe as $$
    select pg_snapshot_xmin(pg_current_snapshot())::text::bigint + carnet_xid_offset()
$$;

alter table events alter column transaction_id set default carnet_transaction_id();

-- Adopts a log restored from another cluster; returns the new offset, or null when nothing had
-- to change. Appends are kept out while it runs.
create function carnet_adopt_log() returns bigint
language plpgsql as $$
declare
    v_max    bigint;
    v_now    bigint;
    v_xmin   bigint;
    v_offset bigint;
begin
    lock table events in share row exclusive mode;
    select max(transaction_id) into v_max from events;
    v_now := carnet_transaction_id();
    if v_max is null or v_max < v_now then
        return null;
    end if;
    -- above the oldest transaction still running anywhere on the cluster, not only above this
    -- one: the restored events are then below the horizon at once, even while older
    -- transactions of other databases run, and every later transaction (whose raw id is above
    -- this one's) sorts after them
    v_xmin := pg_snapshot_xmin(pg_current_snapshot())::text::bigint;
    v_offset := v_max - v_xmin + 1;
    execute format(
        'create or replace function carnet_xid_offset() returns bigint language sql stable parallel safe as %L',
        format('select %s::bigint', v_offset));
    return v_offset;
end;
$$;

-- One row: the furthest this database's log has been seen to reach.
create table log_extent (
    id                   integer     not null default 1,
    last_global_position bigint      not null,
    seen_at              timestamptz not null default now(),
    constraint log_extent_pkey primary key (id),
    constraint log_extent_one_row check (id = 1)
);

-- a database that holds events when this migration runs has held them
insert into log_extent (last_global_position)
select max(global_position) from events having count(*) > 0;
