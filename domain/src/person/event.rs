//! The facts of a person's life, as stored in the log (DESIGN §4.3). Each variant's name is its
//! event type, named once more by `event_types!` (in `decider.rs`) for the code that works on
//! stored events by type. The personal-data policy is stated here, as domain facts: which
//! events carry personal data in which payload field ([`PersonEvent::PERSONAL_FIELDS`]), and
//! which event erases it ([`PersonEvent::ERASED`]). The store encrypts those fields and destroys
//! the person's key on erasure; renaming a variant or a field fails a test here.

use super::{ConsentPurpose, ExternalIdentity, PersonalData, Role};
use crate::decider::event_types;
use crate::values::{AcademieCode, LongText, PersonId};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

// Every variant starts with "Person": they are the stored event types of DESIGN §4.3.
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload")]
pub enum PersonEvent {
    /// `profile` is `None` only when read back after erasure: the log keeps the event, not what
    /// it said (crypto-shredding). The decider always records one.
    PersonRegistered {
        id: PersonId,
        profile: Option<PersonalData>,
        registered_on: NaiveDate,
    },
    /// `identity` is personal data, sealed like the profile: `None` only when read back after
    /// erasure. The decider always records one.
    PersonIdentityLinked {
        identity: Option<ExternalIdentity>,
    },
    /// `profile`: as in `PersonRegistered`.
    PersonProfileUpdated {
        profile: Option<PersonalData>,
    },
    PersonConsentGiven {
        purpose: ConsentPurpose,
        on: NaiveDate,
    },
    PersonConsentWithdrawn {
        purpose: ConsentPurpose,
        on: NaiveDate,
    },
    PersonRoleGranted {
        role: Role,
        academies: BTreeSet<AcademieCode>,
    },
    PersonRoleRevoked {
        role: Role,
    },
    PersonErased {
        reason: LongText,
        on: NaiveDate,
    },
}

event_types!(PersonEvent {
    PersonRegistered => PERSON_REGISTERED,
    PersonIdentityLinked => PERSON_IDENTITY_LINKED,
    PersonProfileUpdated => PERSON_PROFILE_UPDATED,
    PersonConsentGiven => PERSON_CONSENT_GIVEN,
    PersonConsentWithdrawn => PERSON_CONSENT_WITHDRAWN,
    PersonRoleGranted => PERSON_ROLE_GRANTED,
    PersonRoleRevoked => PERSON_ROLE_REVOKED,
    PersonErased => PERSON_ERASED,
});

impl PersonEvent {
    /// `(event type, payload field)` of every event that carries personal data: the
    /// [`PersonalData`] profile, or the [`ExternalIdentity`] at a provider. Nothing else in any
    /// event is personal.
    pub const PERSONAL_FIELDS: &'static [(&'static str, &'static str)] = &[
        (Self::PERSON_REGISTERED, "profile"),
        (Self::PERSON_PROFILE_UPDATED, "profile"),
        (Self::PERSON_IDENTITY_LINKED, "identity"),
    ];

    /// The event that erases a person: once it is appended, the person's personal fields must
    /// no longer be readable (the store destroys the person's key).
    pub const ERASED: &'static str = Self::PERSON_ERASED;
}
