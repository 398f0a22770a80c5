//! The project's enumerations: the codes stored in events and read models
//! (`SCREAMING_SNAKE_CASE`), and the French label a person reads for each (from GLOSSARY.md).
//! Renaming a code is a schema change; a label may change freely.

use serde::{Deserialize, Serialize};

/// Where a project stands in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProjectStatus {
    Submitted,
    Qualifying,
    Active,
    Paused,
    Transferred,
    Abandoned,
    Declined,
    Withdrawn,
}

impl ProjectStatus {
    pub const ALL: [Self; 8] = [
        Self::Submitted,
        Self::Qualifying,
        Self::Active,
        Self::Paused,
        Self::Transferred,
        Self::Abandoned,
        Self::Declined,
        Self::Withdrawn,
    ];

    pub fn label(&self) -> &'static str {
        match self {
            Self::Submitted => "Candidature reçue",
            Self::Qualifying => "En qualification",
            Self::Active => "Accompagné",
            Self::Paused => "En pause",
            Self::Transferred => "Pérennisé",
            Self::Abandoned => "Abandonné",
            Self::Declined => "Non retenu",
            Self::Withdrawn => "Retiré par le porteur",
        }
    }

    /// Nothing can be recorded on a terminal project except an explicit reopening.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Transferred | Self::Abandoned | Self::Declined | Self::Withdrawn)
    }
}

/// The phases of an accepted project, in the only order they may follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Phase {
    Exploration,
    Prototyping,
    Experimentation,
    Transfer,
}

impl Phase {
    pub const ALL: [Self; 4] = [Self::Exploration, Self::Prototyping, Self::Experimentation, Self::Transfer];

    pub fn label(&self) -> &'static str {
        match self {
            Self::Exploration => "Exploration",
            Self::Prototyping => "Prototypage",
            Self::Experimentation => "Expérimentation",
            Self::Transfer => "Transfert",
        }
    }
}

/// How the lab supports a project; only incubated projects owe a review every six months.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SupportMode {
    Incubation,
    Punctual,
    NetworkLab,
}

impl SupportMode {
    pub const ALL: [Self; 3] = [Self::Incubation, Self::Punctual, Self::NetworkLab];

    pub fn label(&self) -> &'static str {
        match self {
            Self::Incubation => "Incubation",
            Self::Punctual => "Accompagnement ponctuel",
            Self::NetworkLab => "Lab du réseau",
        }
    }
}

/// The review committee's decision. It is recorded, not enacted: stopping or transferring the
/// project is a separate command, so that the committee's word and the act each have a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReviewDecision {
    Continue,
    Pivot,
    Stop,
    Transfer,
}

impl ReviewDecision {
    pub const ALL: [Self; 4] = [Self::Continue, Self::Pivot, Self::Stop, Self::Transfer];

    pub fn label(&self) -> &'static str {
        match self {
            Self::Continue => "Poursuite",
            Self::Pivot => "Pivot",
            Self::Stop => "Arrêt",
            Self::Transfer => "Transfert",
        }
    }
}

/// Whether the project appears in the public catalogue. Internal until someone decides otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Visibility {
    Public,
    #[default]
    Internal,
}

impl Visibility {
    pub const ALL: [Self; 2] = [Self::Public, Self::Internal];

    pub fn label(&self) -> &'static str {
        match self {
            Self::Public => "Public",
            Self::Internal => "Interne",
        }
    }
}

/// Why a project was abandoned (a code for the indicators, plus a free explanation in the event).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AbandonReason {
    HolderUnavailable,
    NoLongerNeeded,
    LackOfResources,
    ReviewStop,
    Other,
}

impl AbandonReason {
    pub const ALL: [Self; 5] =
        [Self::HolderUnavailable, Self::NoLongerNeeded, Self::LackOfResources, Self::ReviewStop, Self::Other];

    pub fn label(&self) -> &'static str {
        match self {
            Self::HolderUnavailable => "Porteur indisponible",
            Self::NoLongerNeeded => "Besoin disparu",
            Self::LackOfResources => "Manque de moyens",
            Self::ReviewStop => "Arrêt décidé en revue",
            Self::Other => "Autre",
        }
    }
}
