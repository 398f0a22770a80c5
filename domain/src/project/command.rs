//! What a user asks of a project. Every field is already a parsed value; the dates are business
//! dates given by the caller (the decider never reads a clock).

use super::{AbandonReason, Phase, ReviewDecision, SupportMode};
use crate::values::{AcademieCode, Label, LongText, PersonId, Progress, ProjectId, ProjectReference, Title, Uai};
use chrono::NaiveDate;
use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq)]
pub enum ProjectCommand {
    SubmitProject {
        id: ProjectId,
        reference: ProjectReference,
        title: Title,
        problem_statement: LongText,
        summary: Option<LongText>,
        support_mode: SupportMode,
        academies: BTreeSet<AcademieCode>,
        themes: Vec<Label>,
        target_users: Vec<Label>,
        submitted_on: NaiveDate,
    },
    /// Replaces the descriptive fields as a whole (a form sent back with its changes).
    UpdateProjectDetails {
        title: Title,
        problem_statement: LongText,
        summary: Option<LongText>,
        themes: Vec<Label>,
        target_users: Vec<Label>,
    },
    StartQualification {
        on: NaiveDate,
    },
    /// The support mode is confirmed (or changed) by the qualification.
    AcceptProject {
        on: NaiveDate,
        support_mode: SupportMode,
    },
    DeclineProject {
        on: NaiveDate,
        reason: LongText,
    },
    WithdrawProject {
        on: NaiveDate,
        reason: LongText,
    },
    AddHolder {
        person: PersonId,
        role: Label,
        affiliation: Option<Label>,
    },
    RemoveHolder {
        person: PersonId,
    },
    AssignReferent {
        person: PersonId,
    },
    LinkAcademie {
        code: AcademieCode,
    },
    UnlinkAcademie {
        code: AcademieCode,
    },
    LinkEstablishment {
        uai: Uai,
    },
    StartPhase {
        phase: Phase,
        on: NaiveDate,
    },
    RecordReview {
        decision: ReviewDecision,
        held_on: NaiveDate,
        notes: Option<LongText>,
    },
    RecordMilestone {
        title: Title,
        on: NaiveDate,
    },
    UpdateProgress {
        progress: Progress,
    },
    RecordImpactIndicator {
        name: Label,
        value: f64,
        unit: Label,
        measured_on: NaiveDate,
    },
    PauseProject {
        on: NaiveDate,
        reason: LongText,
    },
    ResumeProject {
        on: NaiveDate,
    },
    TransferProject {
        on: NaiveDate,
        to: Label,
        notes: Option<LongText>,
    },
    AbandonProject {
        on: NaiveDate,
        reason_code: AbandonReason,
        explanation: LongText,
    },
    PublishProject,
    UnpublishProject,
    ReopenProject {
        on: NaiveDate,
        reason: LongText,
    },
}

impl ProjectCommand {
    /// What the command does, in French, for rejection messages (« impossible de … »).
    pub(super) fn action(&self) -> &'static str {
        match self {
            Self::SubmitProject { .. } => "déposer le projet",
            Self::UpdateProjectDetails { .. } => "modifier la description du projet",
            Self::StartQualification { .. } => "démarrer la qualification",
            Self::AcceptProject { .. } => "accepter le projet",
            Self::DeclineProject { .. } => "ne pas retenir le projet",
            Self::WithdrawProject { .. } => "retirer le projet",
            Self::AddHolder { .. } => "ajouter un porteur",
            Self::RemoveHolder { .. } => "retirer un porteur",
            Self::AssignReferent { .. } => "désigner un référent du lab",
            Self::LinkAcademie { .. } => "rattacher une académie",
            Self::UnlinkAcademie { .. } => "détacher une académie",
            Self::LinkEstablishment { .. } => "rattacher un établissement",
            Self::StartPhase { .. } => "démarrer une nouvelle phase",
            Self::RecordReview { .. } => "enregistrer une revue",
            Self::RecordMilestone { .. } => "enregistrer un jalon",
            Self::UpdateProgress { .. } => "mettre à jour l'avancement",
            Self::RecordImpactIndicator { .. } => "enregistrer un indicateur d'impact",
            Self::PauseProject { .. } => "mettre le projet en pause",
            Self::ResumeProject { .. } => "reprendre le projet",
            Self::TransferProject { .. } => "pérenniser le projet",
            Self::AbandonProject { .. } => "abandonner le projet",
            Self::PublishProject => "publier le projet",
            Self::UnpublishProject => "dépublier le projet",
            Self::ReopenProject { .. } => "rouvrir le projet",
        }
    }

    /// The reason the user gave, recorded in the metadata of the events ([`crate::Decider::reason`]).
    pub(super) fn reason(&self) -> Option<&str> {
        match self {
            Self::DeclineProject { reason, .. }
            | Self::WithdrawProject { reason, .. }
            | Self::PauseProject { reason, .. }
            | Self::ReopenProject { reason, .. } => Some(reason.as_str()),
            Self::AbandonProject { explanation, .. } => Some(explanation.as_str()),
            _ => None,
        }
    }
}
