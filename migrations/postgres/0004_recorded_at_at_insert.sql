-- `recorded_at` was the time the appending transaction *started* (`now()`). A transaction that
-- started first can wait for a stream's advisory lock and append after another one, so within a
-- stream a later version could carry an earlier `recorded_at`, and "the state as of t" (fold
-- the events recorded up to t) could skip an event and apply the next. `clock_timestamp()` is
-- read at the insert, after the stream lock is held: within a stream, `recorded_at` now follows
-- the versions. (It still precedes the commit by the rest of the transaction: microseconds.)
alter table events alter column recorded_at set default clock_timestamp();
