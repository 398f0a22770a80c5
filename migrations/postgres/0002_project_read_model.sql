-- The first read model: projects (DESIGN §4.1, §5), on PostgreSQL. Applied migrations are never
-- edited.
--
-- Written only by carnet-projections: inline, inside the append transaction (read-your-writes),
-- and by its `rebuild`, which builds these tables afresh under a `__rebuild` suffix and renames
-- them in, in one transaction. projections/src/project/schema.rs holds the same definitions for
-- that rebuild; a test checks that the rebuilt catalog (columns, constraints, indexes) is this one.
--
-- No foreign keys between these tables: they are derived data, replaced as a set by a rebuild.
-- Codes (status, phase, support mode, visibility) are the domain's SCREAMING_SNAKE_CASE names.

-- One row per submitted project: its current state.
create table project (
    id                uuid        not null,
    -- the domain reference, e.g. 110B-P-2026-007
    reference         text        not null,
    title             text        not null,
    problem_statement text        not null,
    summary           text,
    -- SUBMITTED, QUALIFYING, ACTIVE, PAUSED, TRANSFERRED, ABANDONED, DECLINED, WITHDRAWN
    status            text        not null,
    -- the open phase (EXPLORATION, PROTOTYPING, EXPERIMENTATION, TRANSFER); null when none is open
    phase             text,
    -- INCUBATION, PUNCTUAL, NETWORK_LAB
    support_mode      text        not null,
    -- 0 to 100; null until a first progress update
    progress          smallint,
    -- PUBLIC or INTERNAL
    visibility        text        not null,
    submitted_on      date        not null,
    accepted_on       date,
    last_review_on    date,
    -- the stream version of the last event applied (the entity's `version` in the API)
    version           bigint      not null,
    -- recorded_at of the last event applied
    updated_at        timestamptz not null,
    -- global_position of the last event applied
    last_position     bigint      not null,
    -- reference, title, problem statement, summary and themes, lowercased and without accents:
    -- what the `text` filter searches, the same way on both backends
    search_text       text        not null,
    constraint project_pkey primary key (id),
    constraint project_reference_key unique (reference),
    constraint project_progress_range check (progress between 0 and 100),
    constraint project_version_positive check (version >= 1)
);

-- filters
create index project_status_idx on project (status);
create index project_open_phase_idx on project (phase);
create index project_support_mode_idx on project (support_mode);
-- keyset pagination (the reference order uses project_reference_key)
create index project_submitted_on_idx on project (submitted_on, id);
create index project_updated_at_idx on project (updated_at, id);

-- The dated phase history, in order (seq 1, 2, …); ended_on is null while the phase is open.
create table project_phase (
    project_id uuid    not null,
    seq        integer not null,
    phase      text    not null,
    started_on date    not null,
    ended_on   date,
    constraint project_phase_pkey primary key (project_id, seq)
);

-- Holders (porteurs): people by opaque id only, never a name.
create table project_holder (
    project_id  uuid not null,
    person_id   uuid not null,
    role        text not null,
    affiliation text,
    constraint project_holder_pkey primary key (project_id, person_id)
);

-- the projects of a person
create index project_holder_person_idx on project_holder (person_id);

create table project_academie (
    project_id    uuid not null,
    academie_code text not null,
    constraint project_academie_pkey primary key (project_id, academie_code)
);

-- the académie filter, and an académie's own projects (DESIGN §6)
create index project_academie_code_idx on project_academie (academie_code, project_id);

-- Establishments by UAI.
create table project_establishment (
    project_id uuid not null,
    uai        text not null,
    constraint project_establishment_pkey primary key (project_id, uai)
);

create index project_establishment_uai_idx on project_establishment (uai, project_id);

-- Themes, in the order the project gives them (position 0, 1, …).
create table project_theme (
    project_id uuid    not null,
    theme      text    not null,
    position   integer not null,
    constraint project_theme_pkey primary key (project_id, theme)
);

-- the theme filter
create index project_theme_theme_idx on project_theme (theme, project_id);

-- Where each projector that follows the global log stands, written in the same transaction as
-- its read-model writes. Readers follow (transaction_id, global_position) (DESIGN §3).
create table projection_checkpoint (
    name            text        not null,
    transaction_id  bigint      not null,
    global_position bigint      not null,
    updated_at      timestamptz not null default now(),
    constraint projection_checkpoint_pkey primary key (name)
);
