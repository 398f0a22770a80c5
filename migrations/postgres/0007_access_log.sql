-- Who accessed what, and when (issue 5, retention): one row per HTTP request to the API, written
-- in batches by the server. It holds personal data (the caller's subject, their address), so it
-- is kept only for `access_log_retention_days` (CNIL: 6 to 12 months) and then deleted by the
-- server's purge. Not part of the event log: no hash chain, rows do get deleted.
create table access_log (
    id          bigint generated always as identity primary key,
    at          timestamptz not null,
    request_id  text        not null,
    issuer      text,
    subject     text,
    client_ip   text,
    method      text        not null,
    path        text        not null,
    -- the GraphQL operation's name, or its root fields when it has none
    operation   text,
    status      integer     not null,
    duration_ms double precision not null
);

-- purge by age, reading by period
create index access_log_at_idx on access_log (at);
