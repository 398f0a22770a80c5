-- The session and person read models (DESIGN §4.2, §4.3, §5), on PostgreSQL. Applied migrations
-- are never edited.
--
-- Written only by carnet-projections, like the project tables of 0002: inline, inside the append
-- transaction, and by its `rebuild`, which builds them afresh under a `__rebuild` suffix and
-- renames them in. projections/src/session/schema.rs and projections/src/person/schema.rs hold
-- the same definitions for that rebuild; a test checks that the rebuilt catalog is this one.
--
-- No foreign keys between these tables: they are derived data, replaced as a set by a rebuild.
-- Codes (status, format, mode, requester kind, role, consent purpose) are the domain's
-- SCREAMING_SNAKE_CASE names.

-- One row per requested session: its current state. What is shown but never filtered or sorted
-- on (methods, agenda, attendance by profile and organisations, follow-up actions) is in
-- `details`; what lists filter, sort or count on has a column.
create table session (
    id                       uuid             not null,
    -- the domain reference, e.g. 110B-S-2026-012
    reference                text             not null,
    title                    text             not null,
    -- DESIGN_THINKING_WORKSHOP, DESIGN_SPRINT, HACKATHON, …
    format                   text             not null,
    -- REQUESTED, SCOPING, SCHEDULED, HELD, CLOSED, CANCELLED, DECLINED, WITHDRAWN
    status                   text             not null,
    -- the central question the session works on
    objective                text             not null,
    -- who asked: an organisation, never a person
    requester_organisation   text             not null,
    -- DIRECTION, ACADEMIE, SCHOOL, PROJECT_TEAM, PARTNER, OTHER
    requester_kind           text             not null,
    requested_on             date             not null,
    -- the schedule; null until scheduled
    starts_at                timestamptz,
    ends_at                  timestamptz,
    location                 text,
    -- IN_PERSON, ONLINE, HYBRID; null until scheduled
    mode                     text,
    capacity                 integer,
    held_at                  timestamptz,
    -- when it was declined, withdrawn, cancelled or closed, and why (not for a close)
    ended_on                 date,
    end_reason               text,
    -- how many attended; null until the attendance is recorded
    attendance_count         integer,
    satisfaction_respondents integer,
    -- 1 to 5
    satisfaction_mean        double precision,
    report                   text,
    report_published_on      date,
    -- {methods, agenda, attendance_by_profile, attendance_organisations, follow_up_actions}
    details                  jsonb            not null,
    -- the stream version of the last event applied (the entity's `version` in the API)
    version                  bigint           not null,
    -- recorded_at of the last event applied
    updated_at               timestamptz      not null,
    -- global_position of the last event applied
    last_position            bigint           not null,
    -- reference, title, objective, requester and location, lowercased and without accents
    search_text              text             not null,
    constraint session_pkey primary key (id),
    constraint session_reference_key unique (reference),
    constraint session_schedule_order check (ends_at >= starts_at),
    constraint session_capacity_positive check (capacity >= 1),
    constraint session_satisfaction_range check (satisfaction_mean between 1 and 5),
    constraint session_version_positive check (version >= 1)
);

-- filters
create index session_status_idx on session (status);
create index session_format_idx on session (format);
-- keyset pagination and the period filter (the reference order uses session_reference_key)
create index session_starts_at_idx on session (starts_at, id);
create index session_updated_at_idx on session (updated_at, id);

-- Facilitators (animateurs): people by opaque id only.
create table session_facilitator (
    session_id uuid not null,
    person_id  uuid not null,
    constraint session_facilitator_pkey primary key (session_id, person_id)
);

-- the sessions a person facilitates
create index session_facilitator_person_idx on session_facilitator (person_id);

-- Registered participants, by opaque id, with their profile ("enseignant", …).
create table session_registration (
    session_id uuid not null,
    person_id  uuid not null,
    profile    text not null,
    constraint session_registration_pkey primary key (session_id, person_id)
);

-- the sessions a person registered for
create index session_registration_person_idx on session_registration (person_id);

-- The projects a session is linked to.
create table session_project (
    session_id uuid not null,
    project_id uuid not null,
    constraint session_project_pkey primary key (session_id, project_id)
);

-- the sessions of a project (the API's loader), and the project filter
create index session_project_project_idx on session_project (project_id, session_id);

-- The académies the recorded attendance names. A session also belongs to the académies of its
-- linked projects (project_academie), joined when read.
create table session_academie (
    session_id    uuid not null,
    academie_code text not null,
    constraint session_academie_pkey primary key (session_id, academie_code)
);

-- the académie filter, and an académie's own sessions (DESIGN §6)
create index session_academie_code_idx on session_academie (academie_code, session_id);

-- One row per registered person. The personal columns (names to UAI) are null once the person
-- is erased: read models keep no copy of erased personal data (DESIGN §3.2).
create table person (
    id            uuid        not null,
    given_name    text,
    usual_name    text,
    email         text,
    organisation  text,
    affiliation   text,
    academie_code text,
    uai           text,
    registered_on date        not null,
    -- null unless erased
    erased_on     date,
    version       bigint      not null,
    updated_at    timestamptz not null,
    last_position bigint      not null,
    constraint person_pkey primary key (id),
    constraint person_erased_has_no_personal_data check (
        erased_on is null
        or (given_name is null and usual_name is null and email is null and organisation is null
            and affiliation is null and academie_code is null and uai is null)
    ),
    constraint person_version_positive check (version >= 1)
);

-- Identities at OpenID Connect providers: an issuer and the subject it gives the person. One
-- identity belongs to one person at most (a token's (iss, sub) names one person).
create table person_identity (
    person_id uuid not null,
    issuer    text not null,
    sub       text not null,
    constraint person_identity_pkey primary key (person_id, issuer, sub),
    constraint person_identity_key unique (issuer, sub)
);

-- Roles held; academie_codes is a JSON array of codes, empty except for ACADEMIE.
create table person_role (
    person_id      uuid  not null,
    role           text  not null,
    academie_codes jsonb not null,
    constraint person_role_pkey primary key (person_id, role)
);

-- Consents currently given (CONTACT, PHOTO, NEWSLETTER), with the day each was given.
create table person_consent (
    person_id uuid not null,
    purpose   text not null,
    given_on  date not null,
    constraint person_consent_pkey primary key (person_id, purpose)
);
