//! How a fact changes a person's state. `evolve` never fails and decides nothing; an event whose
//! personal field reads back as `None` (its key destroyed) folds to no profile and no identity.

use super::{PersonEvent, PersonState};

/// [`crate::Decider::evolve`] for [`super::Person`].
pub(super) fn evolve(mut state: PersonState, event: &PersonEvent) -> PersonState {
    use PersonEvent as E;
    match event {
        E::PersonRegistered { id, profile, registered_on } => {
            state.id = Some(*id);
            state.profile = profile.clone();
            state.registered_on = Some(*registered_on);
        }
        E::PersonIdentityLinked { identity } => {
            // `None`: read back after the key was destroyed; the erasure follows
            if let Some(identity) = identity {
                state.identities.insert(identity.clone());
            }
        }
        E::PersonProfileUpdated { profile } => state.profile = profile.clone(),
        E::PersonConsentGiven { purpose, on } => {
            state.consents.insert(*purpose, *on);
        }
        E::PersonConsentWithdrawn { purpose, .. } => {
            state.consents.remove(purpose);
        }
        E::PersonRoleGranted { role, academies } => {
            state.roles.insert(*role, academies.clone());
        }
        E::PersonRoleRevoked { role } => {
            state.roles.remove(role);
        }
        E::PersonErased { on, .. } => {
            state.erased = true;
            state.erased_on = Some(*on);
            state.profile = None;
            state.identities.clear();
            state.consents.clear();
            state.roles.clear();
        }
    }
    state
}
