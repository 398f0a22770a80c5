-- Who accessed what, and when: see migrations/postgres/0007_access_log.sql.
create table access_log (
    id          integer primary key autoincrement,
    -- RFC 3339, UTC, fixed width: compared as text
    at          text    not null,
    request_id  text    not null,
    issuer      text,
    subject     text,
    client_ip   text,
    method      text    not null,
    path        text    not null,
    operation   text,
    status      integer not null,
    duration_ms real    not null
);

create index access_log_at_idx on access_log (at);
