//! The session tables, as `rebuild` creates them under a suffix. The same definitions as
//! `migrations/*/0003_session_person_read_model.sql`; the rebuild tests check that the catalog
//! after a rebuild is the migrated one, so the two cannot drift apart unnoticed. `{s}` stands
//! for the suffix (see `project/schema.rs` for why constraint names carry it on PostgreSQL).

use crate::schema::{IndexSpec, TableSpec};

pub(crate) const TABLES: &[TableSpec] = &[
    TableSpec {
        name: "session",
        postgres: "create table session{s} (
    id                       uuid             not null,
    reference                text             not null,
    title                    text             not null,
    format                   text             not null,
    status                   text             not null,
    objective                text             not null,
    requester_organisation   text             not null,
    requester_kind           text             not null,
    requested_on             date             not null,
    starts_at                timestamptz,
    ends_at                  timestamptz,
    location                 text,
    mode                     text,
    capacity                 integer,
    held_at                  timestamptz,
    ended_on                 date,
    end_reason               text,
    attendance_count         integer,
    satisfaction_respondents integer,
    satisfaction_mean        double precision,
    report                   text,
    report_published_on      date,
    details                  jsonb            not null,
    version                  bigint           not null,
    updated_at               timestamptz      not null,
    last_position            bigint           not null,
    search_text              text             not null,
    constraint session_pkey{s} primary key (id),
    constraint session_reference_key{s} unique (reference),
    constraint session_schedule_order{s} check (ends_at >= starts_at),
    constraint session_capacity_positive{s} check (capacity >= 1),
    constraint session_satisfaction_range{s} check (satisfaction_mean between 1 and 5),
    constraint session_version_positive{s} check (version >= 1)
)",
        sqlite: "create table session{s} (
    id                       text    not null,
    reference                text    not null,
    title                    text    not null,
    format                   text    not null,
    status                   text    not null,
    objective                text    not null,
    requester_organisation   text    not null,
    requester_kind           text    not null,
    requested_on             text    not null,
    starts_at                text,
    ends_at                  text,
    location                 text,
    mode                     text,
    capacity                 integer,
    held_at                  text,
    ended_on                 text,
    end_reason               text,
    attendance_count         integer,
    satisfaction_respondents integer,
    satisfaction_mean        real,
    report                   text,
    report_published_on      text,
    details                  text    not null,
    version                  integer not null,
    updated_at               text    not null,
    last_position            integer not null,
    search_text              text    not null,
    constraint session_pkey primary key (id),
    constraint session_reference_key unique (reference),
    constraint session_schedule_order check (ends_at >= starts_at),
    constraint session_capacity_positive check (capacity >= 1),
    constraint session_satisfaction_range check (satisfaction_mean between 1 and 5),
    constraint session_version_positive check (version >= 1)
)",
        constraints: &[
            "session_pkey",
            "session_reference_key",
            "session_schedule_order",
            "session_capacity_positive",
            "session_satisfaction_range",
            "session_version_positive",
        ],
        indexes: &[
            IndexSpec { name: "session_status_idx", columns: "status" },
            IndexSpec { name: "session_format_idx", columns: "format" },
            IndexSpec { name: "session_starts_at_idx", columns: "starts_at, id" },
            IndexSpec { name: "session_updated_at_idx", columns: "updated_at, id" },
        ],
    },
    TableSpec {
        name: "session_facilitator",
        postgres: "create table session_facilitator{s} (
    session_id uuid not null,
    person_id  uuid not null,
    constraint session_facilitator_pkey{s} primary key (session_id, person_id)
)",
        sqlite: "create table session_facilitator{s} (
    session_id text not null,
    person_id  text not null,
    constraint session_facilitator_pkey primary key (session_id, person_id)
)",
        constraints: &["session_facilitator_pkey"],
        indexes: &[IndexSpec { name: "session_facilitator_person_idx", columns: "person_id" }],
    },
    TableSpec {
        name: "session_registration",
        postgres: "create table session_registration{s} (
    session_id uuid not null,
    person_id  uuid not null,
    profile    text not null,
    constraint session_registration_pkey{s} primary key (session_id, person_id)
)",
        sqlite: "create table session_registration{s} (
    session_id text not null,
    person_id  text not null,
    profile    text not null,
    constraint session_registration_pkey primary key (session_id, person_id)
)",
        constraints: &["session_registration_pkey"],
        indexes: &[IndexSpec { name: "session_registration_person_idx", columns: "person_id" }],
    },
    TableSpec {
        name: "session_project",
        postgres: "create table session_project{s} (
    session_id uuid not null,
    project_id uuid not null,
    constraint session_project_pkey{s} primary key (session_id, project_id)
)",
        sqlite: "create table session_project{s} (
    session_id text not null,
    project_id text not null,
    constraint session_project_pkey primary key (session_id, project_id)
)",
        constraints: &["session_project_pkey"],
        indexes: &[IndexSpec { name: "session_project_project_idx", columns: "project_id, session_id" }],
    },
    TableSpec {
        name: "session_academie",
        postgres: "create table session_academie{s} (
    session_id    uuid not null,
    academie_code text not null,
    constraint session_academie_pkey{s} primary key (session_id, academie_code)
)",
        sqlite: "create table session_academie{s} (
    session_id    text not null,
    academie_code text not null,
    constraint session_academie_pkey primary key (session_id, academie_code)
)",
        constraints: &["session_academie_pkey"],
        indexes: &[IndexSpec { name: "session_academie_code_idx", columns: "academie_code, session_id" }],
    },
];
