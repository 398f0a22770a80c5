//! The person's enumerations: the codes stored in events (`SCREAMING_SNAKE_CASE`) and the
//! French label a person reads for each. Renaming a code is a schema change.

use serde::{Deserialize, Serialize};

/// What a person may consent to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConsentPurpose {
    /// Being contacted by the lab.
    Contact,
    /// Appearing in photos the lab publishes.
    Photo,
    /// Receiving the lab's newsletter.
    Newsletter,
}

impl ConsentPurpose {
    pub const ALL: [Self; 3] = [Self::Contact, Self::Photo, Self::Newsletter];

    pub fn label(&self) -> &'static str {
        match self {
            Self::Contact => "Être contacté par le lab",
            Self::Photo => "Droit à l'image",
            Self::Newsletter => "Lettre d'information",
        }
    }
}

/// What a person may do in Carnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    LabTeam,
    /// Scoped to one or more académies.
    Academie,
    Auditor,
    Reader,
    Admin,
}

impl Role {
    pub const ALL: [Self; 5] = [Self::LabTeam, Self::Academie, Self::Auditor, Self::Reader, Self::Admin];

    pub fn label(&self) -> &'static str {
        match self {
            Self::LabTeam => "Équipe du lab",
            Self::Academie => "Académie",
            Self::Auditor => "Auditeur",
            Self::Reader => "Lecteur",
            Self::Admin => "Administrateur",
        }
    }
}
