//! # Person — the only holder of personal data (DESIGN §4.3)
//!
//! Other aggregates refer to people by their opaque [`PersonId`] only. Every personal field
//! (names, email, organisation, affiliation, académie, UAI) lives in [`PersonalData`], which only
//! [`PersonEvent::PersonRegistered`] and [`PersonEvent::PersonProfileUpdated`] carry, and in the
//! [`ExternalIdentity`] of [`PersonEvent::PersonIdentityLinked`] (a provider's `sub` names a
//! person as surely as an email): encrypting personal data at rest (or crypto-shredding it on
//! erasure) therefore touches these two types. [`PersonEvent::PERSONAL_FIELDS`] names those
//! events and fields, and [`PersonEvent::ERASED`] the event that destroys the key, for the store
//! that seals them (DESIGN §3.2, `carnet_store::sealing`); once the person's key is destroyed,
//! those events read back with no profile and no identity (`None`), and folding them gives none
//! either.
//!
//! Erasure (`ErasePerson`) keeps the id so that other streams still resolve, marks the person
//! erased and drops the profile, identities, consents and roles from the state; from then on the
//! person accepts nothing, except being erased again, which is harmless.
//!
//! Files, in the order a command meets them: `command.rs` ([`PersonCommand`]), `decide.rs` (the
//! rules), `event.rs` ([`PersonEvent`], their stored types and the personal-data policy), `evolve.rs`
//! (how a fact changes the [`PersonState`], below), `vocabulary.rs` (codes and labels), `tests.rs`.

mod command;
mod decide;
mod event;
mod evolve;
mod vocabulary;

#[cfg(test)]
mod tests;

pub use command::PersonCommand;
pub use event::PersonEvent;
pub use vocabulary::{ConsentPurpose, Role};

use crate::decider::decider;
use crate::values::{AcademieCode, Email, Label, PersonId, Uai};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The person aggregate. Its [`Decider`](crate::Decider) is made of this folder's `decide` and `evolve`
/// by `decider!` (in `decider.rs`), on the next line.
pub struct Person;

decider! { Person: state PersonState, command PersonCommand, event PersonEvent, category "person", version 1 }

/// Everything Carnet knows that identifies a person. Nothing outside this type is personal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalData {
    pub given_name: Label,
    pub usual_name: Label,
    pub email: Option<Email>,
    pub organisation: Option<Label>,
    pub affiliation: Option<Label>,
    pub academie: Option<AcademieCode>,
    pub uai: Option<Uai>,
}

/// An identity at an OpenID Connect provider (ProConnect, formerly AgentConnect): the issuer
/// (e.g. `https://auth.agentconnect.gouv.fr`) and the subject it gives this person.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExternalIdentity {
    pub issuer: Label,
    pub sub: Label,
}

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct PersonState {
    /// `None` until registered; kept after erasure.
    pub id: Option<PersonId>,
    /// `None` before registration and after erasure.
    pub profile: Option<PersonalData>,
    pub registered_on: Option<NaiveDate>,
    pub identities: BTreeSet<ExternalIdentity>,
    /// Consents currently given, with the date each was given.
    pub consents: BTreeMap<ConsentPurpose, NaiveDate>,
    /// Roles held; only [`Role::Academie`] carries académie codes.
    pub roles: BTreeMap<Role, BTreeSet<AcademieCode>>,
    pub erased: bool,
    pub erased_on: Option<NaiveDate>,
}

impl PersonState {
    /// "Prénom Nom", or "Personne effacée" once erased.
    pub fn display_name(&self) -> String {
        match (&self.profile, self.erased) {
            (_, true) => "Personne effacée".to_owned(),
            (Some(p), false) => format!("{} {}", p.given_name, p.usual_name),
            (None, false) => "Personne inconnue".to_owned(),
        }
    }

    /// The roles held, with the académies an [`Role::Academie`] role covers.
    pub fn roles(&self) -> &BTreeMap<Role, BTreeSet<AcademieCode>> {
        &self.roles
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains_key(&role)
    }

    pub fn has_consent(&self, purpose: ConsentPurpose) -> bool {
        self.consents.contains_key(&purpose)
    }
}
