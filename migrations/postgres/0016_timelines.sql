-- Timelines (issue 13: time travel that scales): the read-model columns the indicators count,
-- kept over time, so that `indicators(asOf)` reads the state of any moment instead of
-- re-projecting the whole log. Written only by carnet-projections, with the live tables it
-- follows (inline, in the append's transaction; and by `rebuild`, under a suffix):
-- projections/src/timeline.rs says how.
--
-- A row is one version of one row of the followed table, valid from `valid_from` (the
-- `recorded_at` of the event that made it) until `valid_to` (the one that ended it; null while
-- it holds). The state at `t` is `valid_from <= t and (valid_to is null or valid_to > t)`.
-- `opened_by` is the global position of that event and `item` the row's place among those it
-- opened: together with the entity, the key.

create table project_timeline (
    id           uuid        not null,
    status       text        not null,
    phase        text,
    support_mode text        not null,
    submitted_on date        not null,
    accepted_on  date,
    valid_from   timestamptz not null,
    valid_to     timestamptz,
    opened_by    bigint      not null,
    item         integer     not null,
    constraint project_timeline_pkey primary key (id, opened_by, item)
);

create table project_academie_timeline (
    project_id    uuid        not null,
    academie_code text        not null,
    valid_from    timestamptz not null,
    valid_to      timestamptz,
    opened_by     bigint      not null,
    item          integer     not null,
    constraint project_academie_timeline_pkey primary key (project_id, opened_by, item)
);

create table session_timeline (
    id                       uuid             not null,
    format                   text             not null,
    capacity                 integer,
    held_at                  timestamptz,
    attendance_count         integer,
    satisfaction_respondents integer,
    satisfaction_mean        double precision,
    valid_from               timestamptz      not null,
    valid_to                 timestamptz,
    opened_by                bigint           not null,
    item                     integer          not null,
    constraint session_timeline_pkey primary key (id, opened_by, item)
);

create table session_registration_timeline (
    session_id uuid        not null,
    person_id  uuid        not null,
    profile    text        not null,
    valid_from timestamptz not null,
    valid_to   timestamptz,
    opened_by  bigint      not null,
    item       integer     not null,
    constraint session_registration_timeline_pkey primary key (session_id, opened_by, item)
);

create table session_project_timeline (
    session_id uuid        not null,
    project_id uuid        not null,
    valid_from timestamptz not null,
    valid_to   timestamptz,
    opened_by  bigint      not null,
    item       integer     not null,
    constraint session_project_timeline_pkey primary key (session_id, opened_by, item)
);

create table session_academie_timeline (
    session_id    uuid        not null,
    academie_code text        not null,
    valid_from    timestamptz not null,
    valid_to      timestamptz,
    opened_by     bigint      not null,
    item          integer     not null,
    constraint session_academie_timeline_pkey primary key (session_id, opened_by, item)
);

-- Read models whose tables a migration changed and that must be rebuilt from the log before
-- they are trusted (`carnet rebuild`; a rebuild removes its read model's row when it swaps in).
-- Here: a database that already holds events has empty timelines, so `indicators(asOf)` is
-- refused (rule `indicators.as_of_rebuild_due`) until the projects and sessions are rebuilt.
create table read_model_rebuild_due (
    read_model text not null,
    reason     text not null,
    constraint read_model_rebuild_due_pkey primary key (read_model)
);

insert into read_model_rebuild_due (read_model, reason)
select m, 'migration 0016 added the timelines of indicators(asOf)'
from (values ('projects'), ('sessions')) as due (m)
where exists (select 1 from events);
