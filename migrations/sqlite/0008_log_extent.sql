-- The log's high-water mark: see migrations/postgres/0009_log_extent.sql and
-- store/src/extent.rs. SQLite needs no transaction-id offset: its transaction ids are drawn
-- from the log itself (max + 1), and a restore is a copy of the file.

create table log_extent (
    id                   integer not null default 1,
    last_global_position integer not null,
    seen_at              text    not null default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    constraint log_extent_pkey primary key (id),
    constraint log_extent_one_row check (id = 1)
);

insert into log_extent (last_global_position)
select max(global_position) from events having count(*) > 0;
