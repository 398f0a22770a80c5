-- The auditors' global feed: see migrations/postgres/0008_feed_indexes.sql. Same indexes.

create index events_recorded_at_idx on events (recorded_at);

create index events_type_log_order_idx on events (event_type, transaction_id, global_position);
