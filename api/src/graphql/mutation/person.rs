//! Person mutations: one per `PersonCommand` (DESIGN §4.3). Personal data enters Carnet only
//! here, in `Person` events.

use super::{day, entity_inputs, field, list, mutations, optional, payloads, reason};
use crate::graphql::error::ApiError;
use crate::graphql::ids::Kind;
use crate::graphql::person::{ConsentPurpose, Person, Role, find_person};
use async_graphql::{ID, InputObject};
use carnet_domain::person::{
    ExternalIdentity, Person as PersonDecider, PersonCommand, PersonalData, Role as DomainRole,
};
use carnet_domain::values::{AcademieCode, Email, Label, PersonId, Uai};
use chrono::NaiveDate;

pub(super) const NOT_FOUND: &str = "cette personne n'existe pas";

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

entity_inputs! {
    person_id,
    "The version you saw: `CONFLICT` if the person changed since. Omit it to\napply the change to the latest version.";

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

mutations! {
    pub struct PersonMutation for Person, id person_id;

    /// Registers a person (a holder, a participant, a member of the team).
    register_person(input: RegisterPersonInput) -> RegisterPersonPayload with change {
        let id = change.new_id(b"person");
        change
            .execute::<PersonDecider>(id, None, || {
                Ok(PersonCommand::RegisterPerson {
                    id: PersonId(id),
                    profile: input.profile.parse()?,
                    registered_on: day(input.registered_on),
                })
            })
            .await?;
        id
    }

    /// Links a provider identity to a person (administrators only: whoever holds the identity
    /// gets the person's roles).
    link_person_identity(input: LinkPersonIdentityInput) -> LinkPersonIdentityPayload, roles: [DomainRole::Admin] {
        Ok(PersonCommand::LinkIdentity {
            identity: ExternalIdentity {
                issuer: field("issuer", Label::parse(&input.issuer))?,
                sub: field("sub", Label::parse(&input.sub))?,
            },
        })
    }

    update_person_profile(input: UpdatePersonProfileInput) -> UpdatePersonProfilePayload {
        Ok(PersonCommand::UpdateProfile { profile: input.profile.parse()? })
    }

    give_person_consent(input: GivePersonConsentInput) -> GivePersonConsentPayload {
        Ok(PersonCommand::GiveConsent { purpose: input.purpose.into(), on: day(input.on) })
    }

    withdraw_person_consent(input: WithdrawPersonConsentInput) -> WithdrawPersonConsentPayload {
        Ok(PersonCommand::WithdrawConsent { purpose: input.purpose.into(), on: day(input.on) })
    }

    /// Grants a role (administrators only: roles decide who reads and writes what).
    grant_person_role(input: GrantPersonRoleInput) -> GrantPersonRolePayload, roles: [DomainRole::Admin] {
        Ok(PersonCommand::GrantRole {
            role: input.role.into(),
            academies: list("academieCodes", &input.academie_codes, AcademieCode::parse)?.into_iter().collect(),
        })
    }

    /// Revokes a role (administrators only).
    revoke_person_role(input: RevokePersonRoleInput) -> RevokePersonRolePayload, roles: [DomainRole::Admin] {
        Ok(PersonCommand::RevokeRole { role: input.role.into() })
    }

    /// Erases a person's personal data (administrators only); erasing twice is harmless. Their
    /// provider identities go with it, from the access log too, and the database's files are
    /// scrubbed of what was erased.
    erase_person(input: ErasePersonInput) -> ErasePersonPayload, roles: [DomainRole::Admin] with change {
        let id = change.target(Kind::Person, &input.person_id, NOT_FOUND)?;
        // bad input is refused before anything is written
        let reason = change.input(|| reason(&input.reason))?;
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
        id
    }
}
