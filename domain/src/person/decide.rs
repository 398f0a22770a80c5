//! The person's rules: `decide` answers a command with the events it records, or with the
//! [`Rejection`] naming the rule that refused it. An unknown person accepts only a registration;
//! an erased one accepts nothing but another (harmless) erasure.

use super::{PersonCommand, PersonEvent, PersonState, Role};
use crate::decider::{Rejection, refuse_if};

/// [`crate::Decider::decide`] for [`super::Person`].
pub(super) fn decide(state: &PersonState, command: &PersonCommand) -> Result<Vec<PersonEvent>, Rejection> {
    use PersonCommand as C;
    use PersonEvent as E;

    if state.id.is_none() {
        return match command {
            C::RegisterPerson { id, profile, registered_on } => {
                Ok(vec![E::PersonRegistered { id: *id, profile: Some(profile.clone()), registered_on: *registered_on }])
            }
            _ => Err(Rejection::not_found("person.not_found", "cette personne n'existe pas")),
        };
    }
    if state.erased {
        return match command {
            // Erasing twice is harmless: nothing left to erase.
            C::ErasePerson { .. } => Ok(vec![]),
            _ => Err(Rejection::not_found(
                "person.erased",
                "les données de cette personne ont été effacées : plus aucune modification n'est possible",
            )),
        };
    }

    match command {
        C::RegisterPerson { .. } => {
            Err(Rejection::transition("person.already_exists", "cette personne est déjà enregistrée"))
        }
        C::LinkIdentity { identity } => {
            refuse_if(
                state.identities.contains(identity),
                "person.identity_already_linked",
                format!("cette identité ({}) est déjà rattachée à la personne", identity.issuer),
            )?;
            Ok(vec![E::PersonIdentityLinked { identity: Some(identity.clone()) }])
        }
        C::UpdateProfile { profile } => {
            refuse_if(
                state.profile.as_ref() == Some(profile),
                "person.profile_unchanged",
                "le profil est identique à celui déjà enregistré : rien à modifier",
            )?;
            Ok(vec![E::PersonProfileUpdated { profile: Some(profile.clone()) }])
        }
        C::GiveConsent { purpose, on } => {
            refuse_if(
                state.has_consent(*purpose),
                "person.consent_already_given",
                format!("le consentement « {} » est déjà donné", purpose.label()),
            )?;
            Ok(vec![E::PersonConsentGiven { purpose: *purpose, on: *on }])
        }
        C::WithdrawConsent { purpose, on } => {
            refuse_if(
                !state.has_consent(*purpose),
                "person.consent_not_given",
                format!("le consentement « {} » n'a pas été donné : il ne peut pas être retiré", purpose.label()),
            )?;
            Ok(vec![E::PersonConsentWithdrawn { purpose: *purpose, on: *on }])
        }
        C::GrantRole { role, academies } => {
            if *role == Role::Academie && academies.is_empty() {
                return Err(Rejection::input(
                    "person.academie_role_needs_codes",
                    "le rôle « Académie » doit préciser au moins une académie",
                ));
            }
            if *role != Role::Academie && !academies.is_empty() {
                return Err(Rejection::input(
                    "person.codes_only_for_academie_role",
                    format!("seul le rôle « Académie » porte des codes académie, pas le rôle « {} »", role.label()),
                ));
            }
            if state.has_role(*role) {
                return Err(Rejection::transition(
                    "person.role_already_granted",
                    format!("cette personne a déjà le rôle « {} »", role.label()),
                ));
            }
            Ok(vec![E::PersonRoleGranted { role: *role, academies: academies.clone() }])
        }
        C::RevokeRole { role } => {
            refuse_if(
                !state.has_role(*role),
                "person.role_not_granted",
                format!("cette personne n'a pas le rôle « {} »", role.label()),
            )?;
            Ok(vec![E::PersonRoleRevoked { role: *role }])
        }
        C::ErasePerson { reason, on } => Ok(vec![E::PersonErased { reason: reason.clone(), on: *on }]),
    }
}
