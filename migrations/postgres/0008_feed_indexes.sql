-- The auditors' global feed (store/src/feed.rs): the two selective filters get an index each, so
-- that a filtered page costs the events it covers, not a walk of the whole log. The other
-- filters (stream type, actor) are unselective: a page walks events_log_order_idx from its
-- checkpoint and stops after its rows. Applied migrations are never edited.

-- a period: a month of an old log is read without walking the years before it
create index events_recorded_at_idx on events (recorded_at);

-- an event type, in reading order within each type: `ProjectAccepted` pages in index order
create index events_type_log_order_idx on events (event_type, transaction_id, global_position);
