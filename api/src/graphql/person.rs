//! People over the read model: `person(id)`, for the lab team, administrators and auditors
//! only. Personal fields (names, email, organisation, affiliation, académie, UAI) resolve to
//! `null` unless the caller may see personal data (`LAB_TEAM`, `ADMIN`, DESIGN §6); an erased
//! person is "Personne effacée" and has none left anyway.

use super::access::{self, Caller};
use super::ids::{self, Kind};
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use carnet_domain::person::Role as DomainRole;
use carnet_projections::{PersonRow, ProjectionStore, person_by_id};
use chrono::{DateTime, NaiveDate, Utc};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "carnet_domain::person::Role")]
pub enum Role {
    LabTeam,
    /// Scoped to one or more académies.
    Academie,
    Auditor,
    Reader,
    Admin,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "carnet_domain::person::ConsentPurpose")]
pub enum ConsentPurpose {
    /// Being contacted by the lab.
    Contact,
    /// Appearing in photos the lab publishes.
    Photo,
    /// Receiving the lab's newsletter.
    Newsletter,
}

/// A role a person holds.
#[derive(SimpleObject)]
pub struct PersonRole {
    code: Role,
    /// The role in French.
    label: &'static str,
    /// For `ACADEMIE`: the académies it covers.
    academie_codes: Vec<String>,
}

/// A consent the person currently gives.
#[derive(SimpleObject)]
pub struct PersonConsent {
    purpose: ConsentPurpose,
    label: &'static str,
    given_on: NaiveDate,
}

/// Roles that may look a person up.
pub(crate) const PERSON_READERS: [DomainRole; 3] = [DomainRole::LabTeam, DomainRole::Admin, DomainRole::Auditor];

/// A person: the only entity that holds personal data.
pub struct Person(pub(crate) PersonRow);

impl Person {
    /// `value`, if the caller may see personal data.
    fn personal<'a>(&self, ctx: &Context<'_>, value: &'a Option<String>) -> Option<&'a str> {
        let sees = access::authenticated(ctx).is_ok_and(|caller| caller.sees_personal_data());
        value.as_deref().filter(|_| sees)
    }
}

#[Object]
impl Person {
    /// Opaque id.
    pub(crate) async fn id(&self) -> ID {
        ids::encode(Kind::Person, self.0.id)
    }
    /// "Prénom Nom", or "Personne effacée" once erased. A name is personal data: callers who may
    /// not see it get "Personne (nom masqué)".
    async fn display_name(&self, ctx: &Context<'_>) -> String {
        let sees = access::authenticated(ctx).is_ok_and(|caller| caller.sees_personal_data());
        if sees || self.0.is_erased() { self.0.display_name() } else { HIDDEN_NAME.to_owned() }
    }
    /// Personal data (`null` unless LAB_TEAM or ADMIN, and once erased).
    async fn given_name(&self, ctx: &Context<'_>) -> Option<&str> {
        self.personal(ctx, &self.0.given_name)
    }
    /// Personal data.
    async fn usual_name(&self, ctx: &Context<'_>) -> Option<&str> {
        self.personal(ctx, &self.0.usual_name)
    }
    /// Personal data.
    async fn email(&self, ctx: &Context<'_>) -> Option<&str> {
        self.personal(ctx, &self.0.email)
    }
    /// Personal data.
    async fn organisation(&self, ctx: &Context<'_>) -> Option<&str> {
        self.personal(ctx, &self.0.organisation)
    }
    /// Personal data.
    async fn affiliation(&self, ctx: &Context<'_>) -> Option<&str> {
        self.personal(ctx, &self.0.affiliation)
    }
    /// Personal data: the person's académie.
    async fn academie_code(&self, ctx: &Context<'_>) -> Option<&str> {
        self.personal(ctx, &self.0.academie_code)
    }
    /// Personal data: the person's establishment.
    async fn uai(&self, ctx: &Context<'_>) -> Option<&str> {
        self.personal(ctx, &self.0.uai)
    }
    async fn roles(&self) -> Vec<PersonRole> {
        self.0
            .roles
            .iter()
            .map(|r| PersonRole { code: r.role.into(), label: r.role.label(), academie_codes: r.academies.clone() })
            .collect()
    }
    /// Consents currently given.
    async fn consents(&self) -> Vec<PersonConsent> {
        self.0
            .consents
            .iter()
            .map(|c| PersonConsent { purpose: c.purpose.into(), label: c.purpose.label(), given_on: c.given_on })
            .collect()
    }
    async fn registered_on(&self) -> NaiveDate {
        self.0.registered_on
    }
    /// Whether the person's data was erased (RGPD): the person stays, as "Personne effacée".
    async fn erased(&self) -> bool {
        self.0.is_erased()
    }
    async fn erased_on(&self) -> Option<NaiveDate> {
        self.0.erased_on
    }
    /// The entity's version: send it back as `expectedVersion` when changing it.
    async fn version(&self) -> u64 {
        self.0.version
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(Default)]
pub struct PersonQuery;

#[Object]
impl PersonQuery {
    /// One person (LAB_TEAM, ADMIN, AUDITOR; others `FORBIDDEN`); `null` and `NOT_FOUND`
    /// when missing. Erased people are found, as "Personne effacée".
    async fn person(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Person>> {
        let caller = access::authenticated(ctx)?;
        caller.require(&PERSON_READERS)?;
        let uuid = ids::decode(Kind::Person, &id).ok_or_else(|| caller.not_found(NOT_FOUND))?;
        find_person(&caller, uuid).await?.ok_or_else(|| caller.not_found(NOT_FOUND)).map(Some)
    }
}

const NOT_FOUND: &str = "cette personne n'existe pas";
/// What callers who may not see personal data get as a display name.
const HIDDEN_NAME: &str = "Personne (nom masqué)";

/// The person `id`, if the read model has them.
pub(crate) async fn find_person(caller: &Caller<'_>, id: uuid::Uuid) -> async_graphql::Result<Option<Person>> {
    let row = person_by_id(caller.state.store.db(), id).await.map_err(|e| caller.fail(e))?;
    Ok(row.map(Person))
}
