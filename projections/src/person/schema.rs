//! The person tables, as `rebuild` creates them under a suffix. The same definitions as
//! `migrations/*/0003_session_person_read_model.sql`; the rebuild tests check that the catalog
//! after a rebuild is the migrated one, so the two cannot drift apart unnoticed. `{s}` stands
//! for the suffix (see `project/schema.rs` for why constraint names carry it on PostgreSQL).

use crate::schema::TableSpec;

pub(crate) const TABLES: &[TableSpec] = &[
    TableSpec {
        name: "person",
        postgres: "create table person{s} (
    id            uuid        not null,
    given_name    text,
    usual_name    text,
    email         text,
    organisation  text,
    affiliation   text,
    academie_code text,
    uai           text,
    registered_on date        not null,
    erased_on     date,
    version       bigint      not null,
    updated_at    timestamptz not null,
    last_position bigint      not null,
    constraint person_pkey{s} primary key (id),
    constraint person_erased_has_no_personal_data{s} check (
        erased_on is null
        or (given_name is null and usual_name is null and email is null and organisation is null
            and affiliation is null and academie_code is null and uai is null)
    ),
    constraint person_version_positive{s} check (version >= 1)
)",
        sqlite: "create table person{s} (
    id            text    not null,
    given_name    text,
    usual_name    text,
    email         text,
    organisation  text,
    affiliation   text,
    academie_code text,
    uai           text,
    registered_on text    not null,
    erased_on     text,
    version       integer not null,
    updated_at    text    not null,
    last_position integer not null,
    constraint person_pkey primary key (id),
    constraint person_erased_has_no_personal_data check (
        erased_on is null
        or (given_name is null and usual_name is null and email is null and organisation is null
            and affiliation is null and academie_code is null and uai is null)
    ),
    constraint person_version_positive check (version >= 1)
)",
        constraints: &["person_pkey", "person_erased_has_no_personal_data", "person_version_positive"],
        indexes: &[],
    },
    TableSpec {
        name: "person_identity",
        postgres: "create table person_identity{s} (
    person_id uuid not null,
    issuer    text not null,
    sub       text not null,
    constraint person_identity_pkey{s} primary key (person_id, issuer, sub),
    constraint person_identity_key{s} unique (issuer, sub)
)",
        sqlite: "create table person_identity{s} (
    person_id text not null,
    issuer    text not null,
    sub       text not null,
    constraint person_identity_pkey primary key (person_id, issuer, sub),
    constraint person_identity_key unique (issuer, sub)
)",
        constraints: &["person_identity_pkey", "person_identity_key"],
        indexes: &[],
    },
    TableSpec {
        name: "person_role",
        postgres: "create table person_role{s} (
    person_id      uuid  not null,
    role           text  not null,
    academie_codes jsonb not null,
    constraint person_role_pkey{s} primary key (person_id, role)
)",
        sqlite: "create table person_role{s} (
    person_id      text not null,
    role           text not null,
    academie_codes text not null,
    constraint person_role_pkey primary key (person_id, role)
)",
        constraints: &["person_role_pkey"],
        indexes: &[],
    },
    TableSpec {
        name: "person_consent",
        postgres: "create table person_consent{s} (
    person_id uuid not null,
    purpose   text not null,
    given_on  date not null,
    constraint person_consent_pkey{s} primary key (person_id, purpose)
)",
        sqlite: "create table person_consent{s} (
    person_id text not null,
    purpose   text not null,
    given_on  text not null,
    constraint person_consent_pkey primary key (person_id, purpose)
)",
        constraints: &["person_consent_pkey"],
        indexes: &[],
    },
];
