//! What a user asks of a person. Every field is already a parsed value; dates are given by the
//! caller.

use super::{ConsentPurpose, ExternalIdentity, PersonalData, Role};
use crate::values::{AcademieCode, LongText, PersonId};
use chrono::NaiveDate;
use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq)]
pub enum PersonCommand {
    RegisterPerson {
        id: PersonId,
        profile: PersonalData,
        registered_on: NaiveDate,
    },
    LinkIdentity {
        identity: ExternalIdentity,
    },
    UpdateProfile {
        profile: PersonalData,
    },
    GiveConsent {
        purpose: ConsentPurpose,
        on: NaiveDate,
    },
    WithdrawConsent {
        purpose: ConsentPurpose,
        on: NaiveDate,
    },
    GrantRole {
        role: Role,
        academies: BTreeSet<AcademieCode>,
    },
    RevokeRole {
        role: Role,
    },
    /// `reason` says why (« demande d'effacement RGPD »), never who: unlike [`PersonalData`], it
    /// stays readable in the log after erasure.
    ErasePerson {
        reason: LongText,
        on: NaiveDate,
    },
}

impl PersonCommand {
    /// The reason the user gave, recorded in the metadata of the events ([`crate::Decider::reason`]).
    pub(super) fn reason(&self) -> Option<&str> {
        match self {
            Self::ErasePerson { reason, .. } => Some(reason.as_str()),
            _ => None,
        }
    }
}
