//! The project tables, as `rebuild` creates them under a suffix. The same definitions as
//! `migrations/*/0002_project_read_model.sql`; the rebuild tests check that the catalog after a
//! rebuild is the migrated one, so the two cannot drift apart unnoticed.
//!
//! In the templates, `{s}` stands for the suffix (empty for the live tables). On PostgreSQL
//! constraint and index names are unique per schema, so those of the shadow tables carry the
//! suffix too and are renamed after the swap; SQLite scopes constraint names to their table and
//! cannot rename an index, so there the secondary indexes are created at the swap.

use crate::schema::{IndexSpec, TableSpec};

pub(crate) const TABLES: &[TableSpec] = &[
    TableSpec {
        name: "project",
        postgres: "create table project{s} (
    id                uuid        not null,
    reference         text        not null,
    title             text        not null,
    problem_statement text        not null,
    summary           text,
    status            text        not null,
    phase             text,
    support_mode      text        not null,
    progress          smallint,
    visibility        text        not null,
    submitted_on      date        not null,
    accepted_on       date,
    last_review_on    date,
    version           bigint      not null,
    updated_at        timestamptz not null,
    last_position     bigint      not null,
    search_text       text        not null,
    constraint project_pkey{s} primary key (id),
    constraint project_reference_key{s} unique (reference),
    constraint project_progress_range{s} check (progress between 0 and 100),
    constraint project_version_positive{s} check (version >= 1)
)",
        sqlite: "create table project{s} (
    id                text    not null,
    reference         text    not null,
    title             text    not null,
    problem_statement text    not null,
    summary           text,
    status            text    not null,
    phase             text,
    support_mode      text    not null,
    progress          integer,
    visibility        text    not null,
    submitted_on      text    not null,
    accepted_on       text,
    last_review_on    text,
    version           integer not null,
    updated_at        text    not null,
    last_position     integer not null,
    search_text       text    not null,
    constraint project_pkey primary key (id),
    constraint project_reference_key unique (reference),
    constraint project_progress_range check (progress between 0 and 100),
    constraint project_version_positive check (version >= 1)
)",
        constraints: &["project_pkey", "project_reference_key", "project_progress_range", "project_version_positive"],
        indexes: &[
            IndexSpec { name: "project_status_idx", columns: "status" },
            IndexSpec { name: "project_open_phase_idx", columns: "phase" },
            IndexSpec { name: "project_support_mode_idx", columns: "support_mode" },
            IndexSpec { name: "project_submitted_on_idx", columns: "submitted_on, id" },
            IndexSpec { name: "project_updated_at_idx", columns: "updated_at, id" },
        ],
    },
    TableSpec {
        name: "project_phase",
        postgres: "create table project_phase{s} (
    project_id uuid    not null,
    seq        integer not null,
    phase      text    not null,
    started_on date    not null,
    ended_on   date,
    constraint project_phase_pkey{s} primary key (project_id, seq)
)",
        sqlite: "create table project_phase{s} (
    project_id text    not null,
    seq        integer not null,
    phase      text    not null,
    started_on text    not null,
    ended_on   text,
    constraint project_phase_pkey primary key (project_id, seq)
)",
        constraints: &["project_phase_pkey"],
        indexes: &[],
    },
    TableSpec {
        name: "project_holder",
        postgres: "create table project_holder{s} (
    project_id  uuid not null,
    person_id   uuid not null,
    role        text not null,
    affiliation text,
    constraint project_holder_pkey{s} primary key (project_id, person_id)
)",
        sqlite: "create table project_holder{s} (
    project_id  text not null,
    person_id   text not null,
    role        text not null,
    affiliation text,
    constraint project_holder_pkey primary key (project_id, person_id)
)",
        constraints: &["project_holder_pkey"],
        indexes: &[IndexSpec { name: "project_holder_person_idx", columns: "person_id" }],
    },
    TableSpec {
        name: "project_academie",
        postgres: "create table project_academie{s} (
    project_id    uuid not null,
    academie_code text not null,
    constraint project_academie_pkey{s} primary key (project_id, academie_code)
)",
        sqlite: "create table project_academie{s} (
    project_id    text not null,
    academie_code text not null,
    constraint project_academie_pkey primary key (project_id, academie_code)
)",
        constraints: &["project_academie_pkey"],
        indexes: &[IndexSpec { name: "project_academie_code_idx", columns: "academie_code, project_id" }],
    },
    TableSpec {
        name: "project_establishment",
        postgres: "create table project_establishment{s} (
    project_id uuid not null,
    uai        text not null,
    constraint project_establishment_pkey{s} primary key (project_id, uai)
)",
        sqlite: "create table project_establishment{s} (
    project_id text not null,
    uai        text not null,
    constraint project_establishment_pkey primary key (project_id, uai)
)",
        constraints: &["project_establishment_pkey"],
        indexes: &[IndexSpec { name: "project_establishment_uai_idx", columns: "uai, project_id" }],
    },
    TableSpec {
        name: "project_theme",
        postgres: "create table project_theme{s} (
    project_id uuid    not null,
    theme      text    not null,
    position   integer not null,
    constraint project_theme_pkey{s} primary key (project_id, theme)
)",
        sqlite: "create table project_theme{s} (
    project_id text    not null,
    theme      text    not null,
    position   integer not null,
    constraint project_theme_pkey primary key (project_id, theme)
)",
        constraints: &["project_theme_pkey"],
        indexes: &[IndexSpec { name: "project_theme_theme_idx", columns: "theme, project_id" }],
    },
];
