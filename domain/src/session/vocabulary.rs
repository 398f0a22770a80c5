//! The session's enumerations: the codes stored in events and read models
//! (`SCREAMING_SNAKE_CASE`), the French label a person reads for each, and the parsing of a
//! format typed by a person ([`SessionFormat::parse`]). Renaming a code is a schema change.

use crate::decider::ValueError;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SessionStatus {
    Requested,
    Scoping,
    Scheduled,
    Held,
    Closed,
    Cancelled,
    Declined,
    Withdrawn,
}

impl SessionStatus {
    pub const ALL: [Self; 8] = [
        Self::Requested,
        Self::Scoping,
        Self::Scheduled,
        Self::Held,
        Self::Closed,
        Self::Cancelled,
        Self::Declined,
        Self::Withdrawn,
    ];

    pub fn label(&self) -> &'static str {
        match self {
            Self::Requested => "Demandée",
            Self::Scoping => "En cadrage",
            Self::Scheduled => "Programmée",
            Self::Held => "Tenue",
            Self::Closed => "Clôturée (compte-rendu publié)",
            Self::Cancelled => "Annulée",
            Self::Declined => "Non retenue",
            Self::Withdrawn => "Retirée",
        }
    }

    /// Nothing happens after these, except follow-up actions after [`SessionStatus::Closed`].
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Closed | Self::Cancelled | Self::Declined | Self::Withdrawn)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SessionFormat {
    DesignThinkingWorkshop,
    DesignSprint,
    Hackathon,
    WorldCafe,
    CodesignWorkshop,
    Ideation,
    Prototyping,
    UserTesting,
    Residency,
    Seminar,
    Acculturation,
    Other,
}

impl SessionFormat {
    pub const ALL: [Self; 12] = [
        Self::DesignThinkingWorkshop,
        Self::DesignSprint,
        Self::Hackathon,
        Self::WorldCafe,
        Self::CodesignWorkshop,
        Self::Ideation,
        Self::Prototyping,
        Self::UserTesting,
        Self::Residency,
        Self::Seminar,
        Self::Acculturation,
        Self::Other,
    ];

    pub fn label(&self) -> &'static str {
        match self {
            Self::DesignThinkingWorkshop => "Atelier de design thinking",
            Self::DesignSprint => "Sprint de design",
            Self::Hackathon => "Hackathon",
            Self::WorldCafe => "World café",
            Self::CodesignWorkshop => "Atelier de co-conception",
            Self::Ideation => "Idéation",
            Self::Prototyping => "Prototypage",
            Self::UserTesting => "Tests utilisateurs",
            Self::Residency => "Résidence",
            Self::Seminar => "Séminaire",
            Self::Acculturation => "Acculturation",
            Self::Other => "Autre",
        }
    }

    /// The stored code, as serde writes it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::DesignThinkingWorkshop => "DESIGN_THINKING_WORKSHOP",
            Self::DesignSprint => "DESIGN_SPRINT",
            Self::Hackathon => "HACKATHON",
            Self::WorldCafe => "WORLD_CAFE",
            Self::CodesignWorkshop => "CODESIGN_WORKSHOP",
            Self::Ideation => "IDEATION",
            Self::Prototyping => "PROTOTYPING",
            Self::UserTesting => "USER_TESTING",
            Self::Residency => "RESIDENCY",
            Self::Seminar => "SEMINAR",
            Self::Acculturation => "ACCULTURATION",
            Self::Other => "OTHER",
        }
    }

    /// Reads a format code, in any case, with spaces or hyphens for underscores. Team-building
    /// gets its own refusal: it is the format people most often ask for and the lab never hosts.
    /// It is recognised on its letters alone, so that no spelling ("Team - Building",
    /// "teambuilding") slips through as a mere unknown code.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        if raw.trim().is_empty() {
            return Err(ValueError::new("session.format_unknown", "indiquez le format de la session"));
        }
        let letters: String = raw.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_uppercase).collect();
        if letters == "TEAMBUILDING" {
            return Err(ValueError::new(
                "session.team_building_refused",
                "le lab n'accueille pas de team-building : une session collaborative part d'une question \
                 de politique éducative ou d'un projet",
            ));
        }
        let normalized = raw
            .split(|c: char| c == '_' || c == '-' || c.is_whitespace())
            .filter(|word| !word.is_empty())
            .collect::<Vec<_>>()
            .join("_")
            .to_uppercase();
        Self::ALL.into_iter().find(|f| f.code() == normalized).ok_or_else(|| {
            ValueError::new(
                "session.format_unknown",
                format!("« {} » n'est pas un format de session connu du lab", raw.trim()),
            )
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SessionMode {
    InPerson,
    Online,
    Hybrid,
}

impl SessionMode {
    pub const ALL: [Self; 3] = [Self::InPerson, Self::Online, Self::Hybrid];

    pub fn label(&self) -> &'static str {
        match self {
            Self::InPerson => "Présentiel",
            Self::Online => "Distanciel",
            Self::Hybrid => "Hybride",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RequesterKind {
    /// A central direction of the ministry (DGESCO, DNE…).
    Direction,
    Academie,
    School,
    ProjectTeam,
    Partner,
    Other,
}

impl RequesterKind {
    pub const ALL: [Self; 6] =
        [Self::Direction, Self::Academie, Self::School, Self::ProjectTeam, Self::Partner, Self::Other];

    pub fn label(&self) -> &'static str {
        match self {
            Self::Direction => "Direction",
            Self::Academie => "Académie",
            Self::School => "Établissement",
            Self::ProjectTeam => "Équipe projet",
            Self::Partner => "Partenaire",
            Self::Other => "Autre",
        }
    }
}
