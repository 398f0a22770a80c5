//! Person mutations: one per `PersonCommand` (DESIGN §4.3). Personal data enters Carnet only
//! here, in `Person` events.

use super::{Change, day, field, list, optional, payloads};
use crate::graphql::error::ApiError;
use crate::graphql::ids::Kind;
use crate::graphql::person::{ConsentPurpose, Person, Role, find_person};
use async_graphql::{Context, ID, InputObject, Object};
use carnet_domain::person::{
    ExternalIdentity, Person as PersonDecider, PersonCommand, PersonalData, Role as DomainRole,
};
use carnet_domain::values::{AcademieCode, Email, Label, LongText, PersonId, Uai};
use chrono::NaiveDate;

const NOT_FOUND: &str = "cette personne n'existe pas";

/// What Carnet holds of a person; every field is personal data.
#[derive(InputObject)]
pub struct PersonProfileInput {
    given_name: String,
    usual_name: String,
    email: Option<String>,
    organisation: Option<String>,
    affiliation: Option<String>,
    academie_code: Option<String>,
    /// The UAI of the person's establishment.
    uai: Option<String>,
}

impl PersonProfileInput {
    fn parse(&self) -> Result<PersonalData, ApiError> {
        Ok(PersonalData {
            given_name: field("givenName", Label::parse(&self.given_name))?,
            usual_name: field("usualName", Label::parse(&self.usual_name))?,
            email: optional("email", self.email.as_deref(), Email::parse)?,
            organisation: optional("organisation", self.organisation.as_deref(), Label::parse)?,
            affiliation: optional("affiliation", self.affiliation.as_deref(), Label::parse)?,
            academie: optional("academieCode", self.academie_code.as_deref(), AcademieCode::parse)?,
            uai: optional("uai", self.uai.as_deref(), Uai::parse)?,
        })
    }
}

#[derive(InputObject)]
pub struct RegisterPersonInput {
    client_mutation_id: Option<String>,
    profile: PersonProfileInput,
    /// Defaults to today.
    registered_on: Option<NaiveDate>,
}

macro_rules! person_input {
    ($($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $f:ident : $t:ty),* $(,)? })*) => {
        $(
            $(#[$m])*
            #[derive(InputObject)]
            pub struct $name {
                client_mutation_id: Option<String>,
                person_id: ID,
                /// The version you saw: `CONFLICT` if the person changed since. Omit it to
                /// apply the change to the latest version.
                expected_version: Option<i64>,
                $($(#[$fm])* $f: $t,)*
            }
        )*
    };
}

person_input! {
    /// An identity at an OpenID Connect provider (ProConnect): tokens with this `iss` and `sub`
    /// are this person.
    LinkPersonIdentityInput { issuer: String, sub: String }
    UpdatePersonProfileInput { profile: PersonProfileInput }
    /// Defaults to today for every `on`.
    GivePersonConsentInput { purpose: ConsentPurpose, on: Option<NaiveDate> }
    WithdrawPersonConsentInput { purpose: ConsentPurpose, on: Option<NaiveDate> }
    GrantPersonRoleInput {
        role: Role,
        /// For `ACADEMIE` only, and then at least one.
        #[graphql(default)]
        academie_codes: Vec<String>,
    }
    RevokePersonRoleInput { role: Role }
    /// RGPD erasure (administrators only): the personal data becomes unreadable for good.
    ErasePersonInput {
        /// Why (« demande d'effacement RGPD »), never who: it stays readable in the log.
        reason: String,
        on: Option<NaiveDate>,
    }
}

payloads! { person: Person =>
    RegisterPersonPayload, LinkPersonIdentityPayload, UpdatePersonProfilePayload, GivePersonConsentPayload,
    WithdrawPersonConsentPayload, GrantPersonRolePayload, RevokePersonRolePayload, ErasePersonPayload,
}

/// Runs `build`'s command on person `person` for a caller of `change` and returns the person
/// after it, with the client's mutation id.
async fn run(
    change: Change<'_>,
    person: &ID,
    expected_version: Option<i64>,
    build: impl FnOnce() -> Result<PersonCommand, ApiError>,
) -> async_graphql::Result<(Option<String>, Person)> {
    let id = change.target(Kind::Person, person, NOT_FOUND)?;
    change.execute::<PersonDecider>(id, expected_version, build).await?;
    finish(change, id).await
}

async fn finish(change: Change<'_>, id: uuid::Uuid) -> async_graphql::Result<(Option<String>, Person)> {
    let person = find_person(&change.caller, id).await?.ok_or_else(|| change.caller.not_found(NOT_FOUND))?;
    Ok((change.client_mutation_id, person))
}

#[derive(Default)]
pub struct PersonMutation;

#[Object]
impl PersonMutation {
    /// Registers a person (a holder, a participant, a member of the team).
    async fn register_person(
        &self,
        ctx: &Context<'_>,
        input: RegisterPersonInput,
    ) -> async_graphql::Result<RegisterPersonPayload> {
        let change = Change::begin(ctx, input.client_mutation_id.clone())?;
        let id = match input.client_mutation_id {
            Some(_) => uuid::Uuid::new_v5(&change.metadata.command_id, b"person"),
            None => uuid::Uuid::now_v7(),
        };
        change
            .execute::<PersonDecider>(id, None, || {
                Ok(PersonCommand::RegisterPerson {
                    id: PersonId(id),
                    profile: input.profile.parse()?,
                    registered_on: day(input.registered_on),
                })
            })
            .await?;
        let (m, p) = finish(change, id).await?;
        Ok(RegisterPersonPayload::new(m, p))
    }

    /// Links a provider identity to a person (administrators only: whoever holds the identity
    /// gets the person's roles).
    async fn link_person_identity(
        &self,
        ctx: &Context<'_>,
        input: LinkPersonIdentityInput,
    ) -> async_graphql::Result<LinkPersonIdentityPayload> {
        let change = Change::begin_as(ctx, input.client_mutation_id, &[DomainRole::Admin])?;
        let (m, p) = run(change, &input.person_id, input.expected_version, || {
            Ok(PersonCommand::LinkIdentity {
                identity: ExternalIdentity {
                    issuer: field("issuer", Label::parse(&input.issuer))?,
                    sub: field("sub", Label::parse(&input.sub))?,
                },
            })
        })
        .await?;
        Ok(LinkPersonIdentityPayload::new(m, p))
    }

    async fn update_person_profile(
        &self,
        ctx: &Context<'_>,
        input: UpdatePersonProfileInput,
    ) -> async_graphql::Result<UpdatePersonProfilePayload> {
        let change = Change::begin(ctx, input.client_mutation_id)?;
        let (m, p) = run(change, &input.person_id, input.expected_version, || {
            Ok(PersonCommand::UpdateProfile { profile: input.profile.parse()? })
        })
        .await?;
        Ok(UpdatePersonProfilePayload::new(m, p))
    }

    async fn give_person_consent(
        &self,
        ctx: &Context<'_>,
        input: GivePersonConsentInput,
    ) -> async_graphql::Result<GivePersonConsentPayload> {
        let change = Change::begin(ctx, input.client_mutation_id)?;
        let (m, p) = run(change, &input.person_id, input.expected_version, || {
            Ok(PersonCommand::GiveConsent { purpose: input.purpose.into(), on: day(input.on) })
        })
        .await?;
        Ok(GivePersonConsentPayload::new(m, p))
    }

    async fn withdraw_person_consent(
        &self,
        ctx: &Context<'_>,
        input: WithdrawPersonConsentInput,
    ) -> async_graphql::Result<WithdrawPersonConsentPayload> {
        let change = Change::begin(ctx, input.client_mutation_id)?;
        let (m, p) = run(change, &input.person_id, input.expected_version, || {
            Ok(PersonCommand::WithdrawConsent { purpose: input.purpose.into(), on: day(input.on) })
        })
        .await?;
        Ok(WithdrawPersonConsentPayload::new(m, p))
    }

    /// Grants a role (administrators only: roles decide who reads and writes what).
    async fn grant_person_role(
        &self,
        ctx: &Context<'_>,
        input: GrantPersonRoleInput,
    ) -> async_graphql::Result<GrantPersonRolePayload> {
        let change = Change::begin_as(ctx, input.client_mutation_id, &[DomainRole::Admin])?;
        let (m, p) = run(change, &input.person_id, input.expected_version, || {
            Ok(PersonCommand::GrantRole {
                role: input.role.into(),
                academies: list("academieCodes", &input.academie_codes, AcademieCode::parse)?.into_iter().collect(),
            })
        })
        .await?;
        Ok(GrantPersonRolePayload::new(m, p))
    }

    /// Revokes a role (administrators only).
    async fn revoke_person_role(
        &self,
        ctx: &Context<'_>,
        input: RevokePersonRoleInput,
    ) -> async_graphql::Result<RevokePersonRolePayload> {
        let change = Change::begin_as(ctx, input.client_mutation_id, &[DomainRole::Admin])?;
        let (m, p) = run(change, &input.person_id, input.expected_version, || {
            Ok(PersonCommand::RevokeRole { role: input.role.into() })
        })
        .await?;
        Ok(RevokePersonRolePayload::new(m, p))
    }

    /// Erases a person's personal data (administrators only); erasing twice is harmless. Their
    /// provider identities go with it, from the access log too, and the database's files are
    /// scrubbed of what was erased.
    async fn erase_person(
        &self,
        ctx: &Context<'_>,
        input: ErasePersonInput,
    ) -> async_graphql::Result<ErasePersonPayload> {
        let change = Change::begin_as(ctx, input.client_mutation_id, &[DomainRole::Admin])?;
        let id = change.target(Kind::Person, &input.person_id, NOT_FOUND)?;
        // bad input is refused before anything is written
        let reason = field("reason", LongText::parse(&input.reason)).map_err(|e| change.fail(e))?;
        // the identities the erasure deletes, to take them out of the access log as well
        let identities: Vec<(String, String)> = find_person(&change.caller, id)
            .await?
            .map(|p| p.0.identities.iter().map(|i| (i.issuer.clone(), i.sub.clone())).collect())
            .unwrap_or_default();
        let lab = &change.caller.state.lab;
        // the access log before (a failure then leaves nothing erased, and a retry does it all)
        // and after (a request logged meanwhile)
        let pseudonymised = carnet_store::access_log::pseudonymise(lab.store(), &identities, &id.to_string())
            .await
            .map_err(|e| change.fail(e))?;
        change
            .execute::<PersonDecider>(id, input.expected_version, || {
                Ok(PersonCommand::ErasePerson { reason, on: day(input.on) })
            })
            .await?;
        lab.scrub_erased(id, &identities, pseudonymised).await.map_err(|e| change.fail(e))?;
        let (m, p) = finish(change, id).await?;
        Ok(ErasePersonPayload::new(m, p))
    }
}
