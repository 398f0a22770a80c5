//! # Project (projet accompagné) — DESIGN §4.1
//!
//! A project asks the lab for support, is qualified, then accepted (or declined, or withdrawn by
//! its holder). Once accepted it goes through dated phases, forward only, until it is
//! transferred (pérennisé) or abandoned:
//!
//! ```text
//! Submitted ─start qualification─► Qualifying ─accept─► Active(phase) ─transfer─► Transferred
//!    │                                 └─decline─► Declined            ├─abandon─► Abandoned
//!    └─withdraw─► Withdrawn                                            └─pause─► Paused ─resume─► Active
//! ```
//!
//! Decisions worth knowing:
//! - a terminal project (Transferred, Abandoned, Declined, Withdrawn) refuses everything but an
//!   explicit, audited `ProjectReopened`: the log must show *that* and *why* a closed project
//!   came back;
//! - business dates travel in the commands, and no dated command may be dated before the latest
//!   lifecycle event (submission, qualification, acceptance, phase change, pause, resume, end,
//!   reopening), so the lifecycle reads in log order. Follow-up facts (reviews, milestones,
//!   impact measures) must not precede it either, but do not raise the bar themselves: a
//!   measure taken last month may be recorded after today's review;
//! - people appear only as [`PersonId`]: their names live in the `Person` aggregate.

use crate::decider::{Decider, Rejection};
use crate::values::{AcademieCode, Label, LongText, PersonId, Progress, ProjectId, ProjectReference, Title, Uai};
use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

// ---------------------------------------------------------------------------------------------
// Enumerations (codes are stored; labels are what a person reads, from GLOSSARY.md)

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

// ---------------------------------------------------------------------------------------------
// State

/// A holder (porteur de projet): the person is referred to by id only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub role: Label,
    pub affiliation: Option<Label>,
}

/// One phase of the dated phase history; `ended_on` is `None` while the phase is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseSpan {
    pub phase: Phase,
    pub started_on: NaiveDate,
    pub ended_on: Option<NaiveDate>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub decision: ReviewDecision,
    pub held_on: NaiveDate,
    pub notes: Option<LongText>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestone {
    pub title: Title,
    pub on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImpactIndicator {
    pub name: Label,
    pub value: f64,
    pub unit: Label,
    pub measured_on: NaiveDate,
}

/// What the decider knows of one project. Fields set by the submission are `None` before it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectState {
    /// `None`: the project has not been submitted yet (the stream is empty).
    pub status: Option<ProjectStatus>,
    pub id: Option<ProjectId>,
    pub reference: Option<ProjectReference>,
    pub title: Option<Title>,
    pub problem_statement: Option<LongText>,
    pub summary: Option<LongText>,
    pub support_mode: Option<SupportMode>,
    pub holders: BTreeMap<PersonId, Holder>,
    pub referents: BTreeSet<PersonId>,
    pub academies: BTreeSet<AcademieCode>,
    pub establishments: BTreeSet<Uai>,
    pub themes: Vec<Label>,
    pub target_users: Vec<Label>,
    pub phases: Vec<PhaseSpan>,
    pub progress: Option<Progress>,
    pub milestones: Vec<Milestone>,
    pub reviews: Vec<Review>,
    pub impact_indicators: Vec<ImpactIndicator>,
    pub visibility: Visibility,
    pub submitted_on: Option<NaiveDate>,
    pub accepted_on: Option<NaiveDate>,
    pub last_review_on: Option<NaiveDate>,
    /// The date of the latest lifecycle event: no dated command may go back before it.
    pub last_lifecycle_on: Option<NaiveDate>,
    /// The status the project had when it reached its terminal status (cleared on reopening):
    /// tells whether the project had been accepted, hence where a reopening leads.
    pub status_before_terminal: Option<ProjectStatus>,
}

impl ProjectState {
    /// The phase currently open, if any (none before acceptance, after the end, or when a
    /// reopened project has not resumed yet).
    pub fn open_phase(&self) -> Option<&PhaseSpan> {
        self.phases.iter().rev().find(|p| p.ended_on.is_none())
    }

    /// The six-month rule: an incubated project under support whose last review (or, failing
    /// one, its acceptance) is more than six calendar months before `today` is flagged.
    pub fn needs_review(&self, today: NaiveDate) -> bool {
        let under_support = matches!(self.status, Some(ProjectStatus::Active | ProjectStatus::Paused));
        if !under_support || self.support_mode != Some(SupportMode::Incubation) {
            return false;
        }
        let (Some(since), Some(limit)) =
            (self.last_review_on.or(self.accepted_on), today.checked_sub_months(Months::new(6)))
        else {
            return false;
        };
        since < limit
    }

    /// The invariants every reachable state keeps; the property test checks them after each
    /// accepted command. Returns what is broken, in words.
    pub fn check_invariants(&self) -> Result<(), String> {
        let Some(status) = self.status else {
            return if self.phases.is_empty() { Ok(()) } else { Err("phases before submission".into()) };
        };
        if self.academies.is_empty() {
            return Err("a submitted project has at least one académie".into());
        }
        let open = self.phases.iter().filter(|p| p.ended_on.is_none()).count();
        if open > 1 {
            return Err(format!("{open} open phases"));
        }
        for span in &self.phases {
            if span.ended_on.is_some_and(|end| end < span.started_on) {
                return Err(format!("phase {:?} ends before it starts", span.phase));
            }
        }
        for pair in self.phases.windows(2) {
            let (before, after) = (&pair[0], &pair[1]);
            let Some(ended) = before.ended_on else {
                return Err(format!("phase {:?} is open but is not the last one", before.phase));
            };
            if after.started_on < before.started_on || after.started_on < ended {
                return Err(format!("phase {:?} starts before phase {:?}", after.phase, before.phase));
            }
            if after.phase < before.phase {
                return Err(format!("phase order goes backward: {:?} after {:?}", after.phase, before.phase));
            }
        }
        // A pause keeps the phase open, so an open phase means ACTIVE or PAUSED, while ACTIVE
        // always has one.
        let supported = matches!(status, ProjectStatus::Active | ProjectStatus::Paused);
        if (status == ProjectStatus::Active && open != 1) || (open == 1 && !supported) {
            return Err(format!("status {status:?} with {open} open phase(s)"));
        }
        if status.is_terminal() && open > 0 {
            return Err(format!("terminal status {status:?} with an open phase"));
        }
        if matches!(status, ProjectStatus::Submitted | ProjectStatus::Qualifying) && !self.phases.is_empty() {
            return Err(format!("status {status:?} with a phase history"));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Commands

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
    fn action(&self) -> &'static str {
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
}

// ---------------------------------------------------------------------------------------------
// Events

/// The facts of a project's life. The variant name is the event type stored in the log
/// (DESIGN §4.1): renaming one is a schema change.
// Every name starts with `Project` because these names are the stored contract, shared with
// the other aggregates' events in one log; clippy's suggestion to drop the prefix does not apply.
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload")]
pub enum ProjectEvent {
    ProjectSubmitted {
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
    ProjectDetailsUpdated {
        title: Title,
        problem_statement: LongText,
        summary: Option<LongText>,
        themes: Vec<Label>,
        target_users: Vec<Label>,
    },
    ProjectQualificationStarted {
        on: NaiveDate,
    },
    ProjectAccepted {
        on: NaiveDate,
        support_mode: SupportMode,
    },
    ProjectDeclined {
        on: NaiveDate,
        reason: LongText,
    },
    ProjectWithdrawn {
        on: NaiveDate,
        reason: LongText,
    },
    ProjectHolderAdded {
        person: PersonId,
        role: Label,
        affiliation: Option<Label>,
    },
    ProjectHolderRemoved {
        person: PersonId,
    },
    ProjectReferentAssigned {
        person: PersonId,
    },
    ProjectAcademieLinked {
        code: AcademieCode,
    },
    ProjectAcademieUnlinked {
        code: AcademieCode,
    },
    ProjectEstablishmentLinked {
        uai: Uai,
    },
    ProjectPhaseStarted {
        phase: Phase,
        on: NaiveDate,
    },
    ProjectPhaseEnded {
        phase: Phase,
        on: NaiveDate,
    },
    ProjectReviewHeld {
        decision: ReviewDecision,
        held_on: NaiveDate,
        notes: Option<LongText>,
    },
    ProjectMilestoneRecorded {
        title: Title,
        on: NaiveDate,
    },
    ProjectProgressUpdated {
        progress: Progress,
    },
    ProjectImpactIndicatorRecorded {
        name: Label,
        value: f64,
        unit: Label,
        measured_on: NaiveDate,
    },
    ProjectPaused {
        on: NaiveDate,
        reason: LongText,
    },
    ProjectResumed {
        on: NaiveDate,
    },
    ProjectTransferred {
        on: NaiveDate,
        to: Label,
        notes: Option<LongText>,
    },
    ProjectAbandoned {
        on: NaiveDate,
        reason_code: AbandonReason,
        explanation: LongText,
    },
    ProjectPublished {},
    ProjectUnpublished {},
    ProjectReopened {
        on: NaiveDate,
        reason: LongText,
        reopened_to: ProjectStatus,
    },
}

impl ProjectEvent {
    /// The date of a lifecycle event, which moves `last_lifecycle_on` forward. Follow-up facts
    /// (reviews, milestones, impact measures) are dated too but are not lifecycle events: they
    /// are checked against the bar without raising it.
    fn lifecycle_date(&self) -> Option<NaiveDate> {
        use ProjectEvent as E;
        match self {
            E::ProjectSubmitted { submitted_on: on, .. }
            | E::ProjectQualificationStarted { on }
            | E::ProjectAccepted { on, .. }
            | E::ProjectDeclined { on, .. }
            | E::ProjectWithdrawn { on, .. }
            | E::ProjectPhaseStarted { on, .. }
            | E::ProjectPhaseEnded { on, .. }
            | E::ProjectPaused { on, .. }
            | E::ProjectResumed { on }
            | E::ProjectTransferred { on, .. }
            | E::ProjectAbandoned { on, .. }
            | E::ProjectReopened { on, .. } => Some(*on),
            E::ProjectDetailsUpdated { .. }
            | E::ProjectHolderAdded { .. }
            | E::ProjectHolderRemoved { .. }
            | E::ProjectReferentAssigned { .. }
            | E::ProjectAcademieLinked { .. }
            | E::ProjectAcademieUnlinked { .. }
            | E::ProjectEstablishmentLinked { .. }
            | E::ProjectReviewHeld { .. }
            | E::ProjectMilestoneRecorded { .. }
            | E::ProjectImpactIndicatorRecorded { .. }
            | E::ProjectProgressUpdated { .. }
            | E::ProjectPublished {}
            | E::ProjectUnpublished {} => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decider

pub struct Project;

impl Decider for Project {
    type State = ProjectState;
    type Command = ProjectCommand;
    type Event = ProjectEvent;

    const CATEGORY: &'static str = "project";
    const VERSION: u32 = 1;

    fn reason(command: &ProjectCommand) -> Option<&str> {
        use ProjectCommand as C;
        match command {
            C::DeclineProject { reason, .. }
            | C::WithdrawProject { reason, .. }
            | C::PauseProject { reason, .. }
            | C::ReopenProject { reason, .. } => Some(reason.as_str()),
            C::AbandonProject { explanation, .. } => Some(explanation.as_str()),
            _ => None,
        }
    }

    fn initial_state() -> ProjectState {
        ProjectState::default()
    }

    fn decide(state: &ProjectState, command: &ProjectCommand) -> Result<Vec<ProjectEvent>, Rejection> {
        match state.status {
            None => decide_submission(command),
            Some(status) => decide_existing(state, status, command),
        }
    }

    fn evolve(mut state: ProjectState, event: &ProjectEvent) -> ProjectState {
        use ProjectEvent as E;
        use ProjectStatus as S;

        if let Some(on) = event.lifecycle_date() {
            state.last_lifecycle_on = state.last_lifecycle_on.max(Some(on));
        }
        match event {
            E::ProjectSubmitted {
                id,
                reference,
                title,
                problem_statement,
                summary,
                support_mode,
                academies,
                themes,
                target_users,
                submitted_on,
            } => {
                state.status = Some(S::Submitted);
                state.id = Some(*id);
                state.reference = Some(reference.clone());
                state.title = Some(title.clone());
                state.problem_statement = Some(problem_statement.clone());
                state.summary = summary.clone();
                state.support_mode = Some(*support_mode);
                state.academies = academies.clone();
                state.themes = themes.clone();
                state.target_users = target_users.clone();
                state.submitted_on = Some(*submitted_on);
            }
            E::ProjectDetailsUpdated { title, problem_statement, summary, themes, target_users } => {
                state.title = Some(title.clone());
                state.problem_statement = Some(problem_statement.clone());
                state.summary = summary.clone();
                state.themes = themes.clone();
                state.target_users = target_users.clone();
            }
            E::ProjectQualificationStarted { .. } => state.status = Some(S::Qualifying),
            E::ProjectAccepted { on, support_mode } => {
                state.status = Some(S::Active);
                state.support_mode = Some(*support_mode);
                state.accepted_on = Some(*on);
            }
            E::ProjectDeclined { .. } => close(&mut state, S::Declined),
            E::ProjectWithdrawn { .. } => close(&mut state, S::Withdrawn),
            E::ProjectHolderAdded { person, role, affiliation } => {
                state.holders.insert(*person, Holder { role: role.clone(), affiliation: affiliation.clone() });
            }
            E::ProjectHolderRemoved { person } => {
                state.holders.remove(person);
            }
            E::ProjectReferentAssigned { person } => {
                state.referents.insert(*person);
            }
            E::ProjectAcademieLinked { code } => {
                state.academies.insert(*code);
            }
            E::ProjectAcademieUnlinked { code } => {
                state.academies.remove(code);
            }
            E::ProjectEstablishmentLinked { uai } => {
                state.establishments.insert(uai.clone());
            }
            E::ProjectPhaseStarted { phase, on } => {
                state.phases.push(PhaseSpan { phase: *phase, started_on: *on, ended_on: None });
            }
            E::ProjectPhaseEnded { on, .. } => {
                if let Some(open) = state.phases.iter_mut().rev().find(|p| p.ended_on.is_none()) {
                    open.ended_on = Some(*on);
                }
            }
            E::ProjectReviewHeld { decision, held_on, notes } => {
                state.reviews.push(Review { decision: *decision, held_on: *held_on, notes: notes.clone() });
                state.last_review_on = state.last_review_on.max(Some(*held_on));
            }
            E::ProjectMilestoneRecorded { title, on } => {
                state.milestones.push(Milestone { title: title.clone(), on: *on });
            }
            E::ProjectProgressUpdated { progress } => state.progress = Some(*progress),
            E::ProjectImpactIndicatorRecorded { name, value, unit, measured_on } => {
                state.impact_indicators.push(ImpactIndicator {
                    name: name.clone(),
                    value: *value,
                    unit: unit.clone(),
                    measured_on: *measured_on,
                });
            }
            E::ProjectPaused { .. } => state.status = Some(S::Paused),
            E::ProjectResumed { .. } => state.status = Some(S::Active),
            E::ProjectTransferred { .. } => close(&mut state, S::Transferred),
            E::ProjectAbandoned { .. } => close(&mut state, S::Abandoned),
            E::ProjectPublished {} => state.visibility = Visibility::Public,
            E::ProjectUnpublished {} => state.visibility = Visibility::Internal,
            E::ProjectReopened { reopened_to, .. } => {
                state.status = Some(*reopened_to);
                state.status_before_terminal = None;
            }
        }
        state
    }
}

// ---------------------------------------------------------------------------------------------
// Decisions

/// An empty stream accepts only a submission.
fn decide_submission(command: &ProjectCommand) -> Result<Vec<ProjectEvent>, Rejection> {
    use ProjectCommand as C;
    use ProjectEvent as E;
    match command {
        C::SubmitProject {
            id,
            reference,
            title,
            problem_statement,
            summary,
            support_mode,
            academies,
            themes,
            target_users,
            submitted_on,
        } => {
            if academies.is_empty() {
                return Err(academie_required());
            }
            academies.iter().try_for_each(require_current_academie)?;
            Ok(vec![E::ProjectSubmitted {
                id: *id,
                reference: reference.clone(),
                title: title.clone(),
                problem_statement: problem_statement.clone(),
                summary: summary.clone(),
                support_mode: *support_mode,
                academies: academies.clone(),
                themes: dedup(themes),
                target_users: dedup(target_users),
                submitted_on: *submitted_on,
            }])
        }
        _ => Err(not_found()),
    }
}

/// A submitted project: a closed one refuses everything but a reopening.
fn decide_existing(
    state: &ProjectState,
    status: ProjectStatus,
    command: &ProjectCommand,
) -> Result<Vec<ProjectEvent>, Rejection> {
    use ProjectCommand as C;
    use ProjectEvent as E;
    use ProjectStatus as S;

    // A second submission says so even on a closed project; a reopening is the way out of one.
    if !matches!(command, C::SubmitProject { .. } | C::ReopenProject { .. }) {
        require_not_terminal(status)?;
    }
    match command {
        C::SubmitProject { .. } => Err(already_exists()),
        C::UpdateProjectDetails { title, problem_statement, summary, themes, target_users } => {
            let (themes, target_users) = (dedup(themes), dedup(target_users));
            let unchanged = state.title.as_ref() == Some(title)
                && state.problem_statement.as_ref() == Some(problem_statement)
                && state.summary == *summary
                && state.themes == themes
                && state.target_users == target_users;
            if unchanged {
                return Err(Rejection::transition(
                    "project.details_unchanged",
                    "La description envoyée est identique à celle du projet : rien à enregistrer.",
                ));
            }
            Ok(vec![E::ProjectDetailsUpdated {
                title: title.clone(),
                problem_statement: problem_statement.clone(),
                summary: summary.clone(),
                themes,
                target_users,
            }])
        }
        C::StartQualification { on } => {
            require_status(status, &[S::Submitted], command)?;
            require_date(state, *on)?;
            Ok(vec![E::ProjectQualificationStarted { on: *on }])
        }
        C::AcceptProject { on, support_mode } => {
            require_status(status, &[S::Qualifying], command)?;
            require_date(state, *on)?;
            Ok(vec![
                E::ProjectAccepted { on: *on, support_mode: *support_mode },
                E::ProjectPhaseStarted { phase: Phase::Exploration, on: *on },
            ])
        }
        C::DeclineProject { on, reason } => {
            require_status(status, &[S::Qualifying], command)?;
            require_date(state, *on)?;
            Ok(vec![E::ProjectDeclined { on: *on, reason: reason.clone() }])
        }
        C::WithdrawProject { on, reason } => {
            require_status(status, &[S::Submitted, S::Qualifying], command)?;
            require_date(state, *on)?;
            Ok(vec![E::ProjectWithdrawn { on: *on, reason: reason.clone() }])
        }
        C::AddHolder { person, role, affiliation } => {
            if state.holders.contains_key(person) {
                return Err(Rejection::transition(
                    "project.holder_already_added",
                    "Cette personne est déjà porteuse du projet.",
                ));
            }
            Ok(vec![E::ProjectHolderAdded { person: *person, role: role.clone(), affiliation: affiliation.clone() }])
        }
        C::RemoveHolder { person } => {
            if !state.holders.contains_key(person) {
                return Err(Rejection::transition(
                    "project.holder_not_found",
                    "Cette personne n'est pas porteuse du projet : rien à retirer.",
                ));
            }
            Ok(vec![E::ProjectHolderRemoved { person: *person }])
        }
        C::AssignReferent { person } => {
            if state.referents.contains(person) {
                return Err(Rejection::transition(
                    "project.referent_already_assigned",
                    "Cette personne est déjà référente du lab pour ce projet.",
                ));
            }
            Ok(vec![E::ProjectReferentAssigned { person: *person }])
        }
        C::LinkAcademie { code } => {
            if state.academies.contains(code) {
                return Err(Rejection::transition(
                    "project.academie_already_linked",
                    format!("Le projet est déjà rattaché à l'académie de {}.", code.academie().name),
                ));
            }
            require_current_academie(code)?;
            Ok(vec![E::ProjectAcademieLinked { code: *code }])
        }
        C::UnlinkAcademie { code } => {
            if !state.academies.contains(code) {
                return Err(Rejection::transition(
                    "project.academie_not_linked",
                    format!("Le projet n'est pas rattaché à l'académie de {}.", code.academie().name),
                ));
            }
            if state.academies.len() == 1 {
                return Err(academie_required());
            }
            Ok(vec![E::ProjectAcademieUnlinked { code: *code }])
        }
        C::LinkEstablishment { uai } => {
            if state.establishments.contains(uai) {
                return Err(Rejection::transition(
                    "project.establishment_already_linked",
                    format!("Le projet est déjà rattaché à l'établissement {uai}."),
                ));
            }
            Ok(vec![E::ProjectEstablishmentLinked { uai: uai.clone() }])
        }
        C::StartPhase { phase, on } => {
            require_status(status, &[S::Active], command)?;
            let Some(current) = state.open_phase() else {
                // Unreachable by the invariants (ACTIVE ⇔ one open phase); refused rather
                // than panicking, should a damaged stream ever say otherwise.
                return Err(invalid_transition(status, command));
            };
            if *phase <= current.phase {
                return Err(Rejection::transition(
                    "project.phase_forward_only",
                    format!(
                        "Le projet est en phase « {} » : les phases ne vont que de l'avant \
                     (Exploration, Prototypage, Expérimentation, Transfert), « {} » ne peut pas suivre.",
                        current.phase.label(),
                        phase.label()
                    ),
                ));
            }
            if *on < current.started_on {
                return Err(Rejection::input(
                    "project.phase_dates_increase",
                    format!(
                        "La phase « {} » a commencé le {} : la suivante ne peut pas commencer avant.",
                        current.phase.label(),
                        french_date(current.started_on)
                    ),
                ));
            }
            require_date(state, *on)?;
            Ok(vec![
                E::ProjectPhaseEnded { phase: current.phase, on: *on },
                E::ProjectPhaseStarted { phase: *phase, on: *on },
            ])
        }
        C::RecordReview { decision, held_on, notes } => {
            require_under_support(status, command)?;
            require_date(state, *held_on)?;
            Ok(vec![E::ProjectReviewHeld { decision: *decision, held_on: *held_on, notes: notes.clone() }])
        }
        C::RecordMilestone { title, on } => {
            require_under_support(status, command)?;
            require_date(state, *on)?;
            Ok(vec![E::ProjectMilestoneRecorded { title: title.clone(), on: *on }])
        }
        C::UpdateProgress { progress } => {
            require_under_support(status, command)?;
            Ok(vec![E::ProjectProgressUpdated { progress: *progress }])
        }
        C::RecordImpactIndicator { name, value, unit, measured_on } => {
            require_under_support(status, command)?;
            if !value.is_finite() {
                // NaN or an infinity cannot be stored as JSON nor compared: refused here.
                return Err(Rejection::input(
                    "project.indicator_value_not_finite",
                    "La valeur d'un indicateur d'impact doit être un nombre fini.",
                ));
            }
            require_date(state, *measured_on)?;
            Ok(vec![E::ProjectImpactIndicatorRecorded {
                name: name.clone(),
                value: *value,
                unit: unit.clone(),
                measured_on: *measured_on,
            }])
        }
        C::PauseProject { on, reason } => {
            require_status(status, &[S::Active], command)?;
            require_date(state, *on)?;
            Ok(vec![E::ProjectPaused { on: *on, reason: reason.clone() }])
        }
        C::ResumeProject { on } => {
            require_status(status, &[S::Paused], command)?;
            require_date(state, *on)?;
            let mut events = vec![E::ProjectResumed { on: *on }];
            // A project reopened after its end has no open phase: it resumes in the phase
            // it last was in, the one case where a phase starts again.
            if state.open_phase().is_none() {
                let phase = state.phases.last().map_or(Phase::Exploration, |p| p.phase);
                events.push(E::ProjectPhaseStarted { phase, on: *on });
            }
            Ok(events)
        }
        C::TransferProject { on, to, notes } => {
            require_status(status, &[S::Active], command)?;
            require_date(state, *on)?;
            let mut events = end_open_phase(state, *on);
            events.push(E::ProjectTransferred { on: *on, to: to.clone(), notes: notes.clone() });
            Ok(events)
        }
        C::AbandonProject { on, reason_code, explanation } => {
            require_status(status, &[S::Active, S::Paused], command)?;
            require_date(state, *on)?;
            let mut events = end_open_phase(state, *on);
            events.push(E::ProjectAbandoned { on: *on, reason_code: *reason_code, explanation: explanation.clone() });
            Ok(events)
        }
        C::PublishProject => {
            if state.visibility == Visibility::Public {
                return Err(Rejection::transition("project.already_public", "Le projet est déjà public."));
            }
            Ok(vec![E::ProjectPublished {}])
        }
        C::UnpublishProject => {
            if state.visibility == Visibility::Internal {
                return Err(Rejection::transition(
                    "project.already_internal",
                    "Le projet n'est déjà visible qu'en interne.",
                ));
            }
            Ok(vec![E::ProjectUnpublished {}])
        }
        C::ReopenProject { on, reason } => {
            if !status.is_terminal() {
                return Err(Rejection::transition(
                    "project.not_terminal",
                    format!("Le projet est au statut « {} » : seul un projet clos peut être rouvert.", status.label()),
                ));
            }
            require_date(state, *on)?;
            Ok(vec![E::ProjectReopened {
                on: *on,
                reason: reason.clone(),
                reopened_to: reopening_status(state, status),
            }])
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers of `decide` and `evolve`

fn close(state: &mut ProjectState, terminal: ProjectStatus) {
    state.status_before_terminal = state.status;
    state.status = Some(terminal);
}

/// Where a reopening leads: back to qualification if the project was never accepted (it was
/// declined or withdrawn), to a pause otherwise, with no open phase until it resumes.
fn reopening_status(state: &ProjectState, terminal: ProjectStatus) -> ProjectStatus {
    let was_accepted = matches!(state.status_before_terminal, Some(ProjectStatus::Active | ProjectStatus::Paused))
        || matches!(terminal, ProjectStatus::Transferred | ProjectStatus::Abandoned);
    if was_accepted { ProjectStatus::Paused } else { ProjectStatus::Qualifying }
}

/// Ends the open phase, if any, on the day the project ends.
fn end_open_phase(state: &ProjectState, on: NaiveDate) -> Vec<ProjectEvent> {
    state.open_phase().map(|p| ProjectEvent::ProjectPhaseEnded { phase: p.phase, on }).into_iter().collect()
}

fn not_found() -> Rejection {
    Rejection::not_found("project.not_found", "Ce projet n'existe pas : il doit d'abord être déposé.")
}

fn already_exists() -> Rejection {
    Rejection::transition("project.already_exists", "Ce projet a déjà été déposé.")
}

fn academie_required() -> Rejection {
    Rejection::input("project.academie_required", "Un projet est toujours rattaché à au moins une académie.")
}

/// `AcademieCode::from_stored` admits historical codes (Caen, Rouen) so that old records read
/// back; a new link must name a current académie, whichever way the command's code was built.
/// Unlinking a historical code stays possible: it is how an old record is tidied up.
fn require_current_academie(code: &AcademieCode) -> Result<(), Rejection> {
    AcademieCode::parse(code.as_str())?;
    Ok(())
}

fn invalid_transition(status: ProjectStatus, command: &ProjectCommand) -> Rejection {
    Rejection::transition(
        "project.invalid_transition",
        format!("{} : le projet est au statut « {} ».", impossible(command), status.label()),
    )
}

/// « Impossible de … », elided before a vowel (« Impossible d'accepter le projet »).
fn impossible(command: &ProjectCommand) -> String {
    let action = command.action();
    if action.starts_with(['a', 'e', 'é', 'i', 'o', 'u']) {
        format!("Impossible d'{action}")
    } else {
        format!("Impossible de {action}")
    }
}

fn require_not_terminal(status: ProjectStatus) -> Result<(), Rejection> {
    if status.is_terminal() {
        return Err(Rejection::transition(
            "project.terminal",
            format!(
                "Le projet est {} : plus rien ne peut y être enregistré, sauf une réouverture explicite.",
                status.label()
            ),
        ));
    }
    Ok(())
}

fn require_status(status: ProjectStatus, allowed: &[ProjectStatus], command: &ProjectCommand) -> Result<(), Rejection> {
    if allowed.contains(&status) { Ok(()) } else { Err(invalid_transition(status, command)) }
}

/// Reviews, milestones, progress and impact belong to a project the lab supports.
fn require_under_support(status: ProjectStatus, command: &ProjectCommand) -> Result<(), Rejection> {
    if matches!(status, ProjectStatus::Active | ProjectStatus::Paused) {
        return Ok(());
    }
    Err(Rejection::transition(
        "project.not_active",
        format!(
            "{} : le projet est au statut « {} », il n'est pas (ou plus) accompagné.",
            impossible(command),
            status.label()
        ),
    ))
}

/// The lifecycle is read in log order: no dated fact may precede the latest lifecycle event.
fn require_date(state: &ProjectState, on: NaiveDate) -> Result<(), Rejection> {
    match state.last_lifecycle_on {
        Some(last) if on < last => Err(Rejection::input(
            "project.date_before_previous",
            format!(
                "La date du {} précède la dernière étape enregistrée pour ce projet ({}) : \
                 rien ne peut être daté d'avant cette étape.",
                french_date(on),
                french_date(last)
            ),
        )),
        _ => Ok(()),
    }
}

fn french_date(date: NaiveDate) -> String {
    date.format("%d/%m/%Y").to_string()
}

/// Keeps the first occurrence of each label, in the order given.
fn dedup(labels: &[Label]) -> Vec<Label> {
    let mut seen = BTreeSet::new();
    labels.iter().filter(|l| seen.insert(*l)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RejectionKind;
    use crate::testing::given;
    use crate::values::Text;
    use ProjectCommand as C;
    use ProjectEvent as E;
    use ProjectStatus as S;

    // -----------------------------------------------------------------------------------------
    // Fixtures: one project, submitted on 5 January 2026, accepted on 1 February.

    const PROJECT: ProjectId = ProjectId(uuid::Uuid::from_u128(0x110b));

    fn day(raw: &str) -> NaiveDate {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap()
    }
    fn text<const MAX: usize>(raw: &str) -> Text<MAX> {
        Text::parse(raw).unwrap()
    }
    fn aca(code: &str) -> AcademieCode {
        AcademieCode::parse(code).unwrap()
    }
    fn uai(raw: &str) -> Uai {
        Uai::parse(raw).unwrap()
    }
    fn person(n: u128) -> PersonId {
        PersonId(uuid::Uuid::from_u128(n))
    }
    fn reason() -> LongText {
        text("Le porteur change de poste à la rentrée.")
    }

    fn submit(on: NaiveDate, academies: &[&str]) -> ProjectCommand {
        C::SubmitProject {
            id: PROJECT,
            reference: ProjectReference::parse("110B-P-2026-007").unwrap(),
            title: text("Des cours d'eau au collège"),
            problem_statement: text("Les élèves de cycle 4 peinent à relier les sciences au terrain."),
            summary: None,
            support_mode: SupportMode::Incubation,
            academies: academies.iter().map(|c| aca(c)).collect(),
            themes: vec![text("Sciences"), text("Territoires")],
            target_users: vec![text("Professeurs de SVT")],
            submitted_on: on,
        }
    }

    fn submitted_with(support_mode: SupportMode) -> Vec<ProjectEvent> {
        vec![E::ProjectSubmitted {
            id: PROJECT,
            reference: ProjectReference::parse("110B-P-2026-007").unwrap(),
            title: text("Des cours d'eau au collège"),
            problem_statement: text("Les élèves de cycle 4 peinent à relier les sciences au terrain."),
            summary: None,
            support_mode,
            academies: [aca("01")].into(),
            themes: vec![text("Sciences"), text("Territoires")],
            target_users: vec![text("Professeurs de SVT")],
            submitted_on: day("2026-01-05"),
        }]
    }
    fn submitted() -> Vec<ProjectEvent> {
        submitted_with(SupportMode::Incubation)
    }
    fn then(mut events: Vec<ProjectEvent>, more: impl IntoIterator<Item = ProjectEvent>) -> Vec<ProjectEvent> {
        events.extend(more);
        events
    }
    fn qualifying() -> Vec<ProjectEvent> {
        then(submitted(), [E::ProjectQualificationStarted { on: day("2026-01-10") }])
    }
    fn accepted(support_mode: SupportMode) -> Vec<ProjectEvent> {
        then(
            then(submitted_with(support_mode), [E::ProjectQualificationStarted { on: day("2026-01-10") }]),
            [
                E::ProjectAccepted { on: day("2026-02-01"), support_mode },
                E::ProjectPhaseStarted { phase: Phase::Exploration, on: day("2026-02-01") },
            ],
        )
    }
    fn active() -> Vec<ProjectEvent> {
        accepted(SupportMode::Incubation)
    }
    fn prototyping() -> Vec<ProjectEvent> {
        then(
            active(),
            [
                E::ProjectPhaseEnded { phase: Phase::Exploration, on: day("2026-03-02") },
                E::ProjectPhaseStarted { phase: Phase::Prototyping, on: day("2026-03-02") },
            ],
        )
    }
    fn paused() -> Vec<ProjectEvent> {
        then(prototyping(), [E::ProjectPaused { on: day("2026-04-01"), reason: reason() }])
    }
    fn declined() -> Vec<ProjectEvent> {
        then(qualifying(), [E::ProjectDeclined { on: day("2026-01-20"), reason: reason() }])
    }
    fn withdrawn() -> Vec<ProjectEvent> {
        then(submitted(), [E::ProjectWithdrawn { on: day("2026-01-08"), reason: reason() }])
    }
    fn transferred() -> Vec<ProjectEvent> {
        then(
            prototyping(),
            [
                E::ProjectPhaseEnded { phase: Phase::Prototyping, on: day("2026-09-01") },
                E::ProjectTransferred { on: day("2026-09-01"), to: text("Académie de Paris"), notes: None },
            ],
        )
    }
    fn abandoned() -> Vec<ProjectEvent> {
        then(
            prototyping(),
            [
                E::ProjectPhaseEnded { phase: Phase::Prototyping, on: day("2026-05-01") },
                E::ProjectAbandoned {
                    on: day("2026-05-01"),
                    reason_code: AbandonReason::HolderUnavailable,
                    explanation: reason(),
                },
            ],
        )
    }
    fn state_of(events: &[ProjectEvent]) -> ProjectState {
        Project::fold(Project::initial_state(), events)
    }

    /// One command of each kind, all dated `on`.
    fn one_command_of_each(on: NaiveDate) -> Vec<ProjectCommand> {
        vec![
            submit(on, &["01"]),
            C::UpdateProjectDetails {
                title: text("Rivières et collèges"),
                problem_statement: text("Relier les sciences au terrain."),
                summary: None,
                themes: vec![],
                target_users: vec![],
            },
            C::StartQualification { on },
            C::AcceptProject { on, support_mode: SupportMode::Incubation },
            C::DeclineProject { on, reason: reason() },
            C::WithdrawProject { on, reason: reason() },
            C::AddHolder { person: person(9), role: text("Professeure de SVT"), affiliation: None },
            C::RemoveHolder { person: person(1) },
            C::AssignReferent { person: person(9) },
            C::LinkAcademie { code: aca("24") },
            C::UnlinkAcademie { code: aca("01") },
            C::LinkEstablishment { uai: uai("0750654D") },
            C::StartPhase { phase: Phase::Experimentation, on },
            C::RecordReview { decision: ReviewDecision::Continue, held_on: on, notes: None },
            C::RecordMilestone { title: text("Premier prototype"), on },
            C::UpdateProgress { progress: Progress::new(40).unwrap() },
            C::RecordImpactIndicator { name: text("Classes"), value: 12.0, unit: text("classes"), measured_on: on },
            C::PauseProject { on, reason: reason() },
            C::ResumeProject { on },
            C::TransferProject { on, to: text("DNE"), notes: None },
            C::AbandonProject { on, reason_code: AbandonReason::Other, explanation: reason() },
            C::PublishProject,
            C::UnpublishProject,
            C::ReopenProject { on, reason: reason() },
        ]
    }

    // -----------------------------------------------------------------------------------------
    // Existence

    #[test]
    fn nothing_but_a_submission_before_the_project_exists() {
        for command in one_command_of_each(day("2026-01-05")).into_iter().skip(1) {
            let r = given::<Project>([]).when(command).then_rejects("project.not_found");
            assert_eq!(r.kind, RejectionKind::NotFound);
        }
    }

    #[test]
    fn submitting_records_the_project() {
        let state = given::<Project>([]).when(submit(day("2026-01-05"), &["01"])).then(submitted());
        assert_eq!(state.status, Some(S::Submitted));
        assert_eq!(state.last_lifecycle_on, Some(day("2026-01-05")));
        assert_eq!(state.visibility, Visibility::Internal);
        state.check_invariants().unwrap();
    }

    #[test]
    fn submitting_twice_is_refused() {
        given::<Project>(submitted()).when(submit(day("2026-01-06"), &["01"])).then_rejects("project.already_exists");
        given::<Project>(declined()).when(submit(day("2026-02-06"), &["01"])).then_rejects("project.already_exists");
    }

    #[test]
    fn a_submission_names_at_least_one_academie() {
        given::<Project>([]).when(submit(day("2026-01-05"), &[])).then_rejects("project.academie_required");
    }

    #[test]
    fn historical_academies_are_refused_for_new_links() {
        // Caen (05) merged into Normandie: readable from old records, refused for new ones.
        let caen = AcademieCode::from_stored("05").unwrap();
        let mut command = submit(day("2026-01-05"), &["01"]);
        if let C::SubmitProject { academies, .. } = &mut command {
            academies.insert(caen);
        }
        let r = given::<Project>([]).when(command).then_rejects("academie.historical");
        assert_eq!(r.kind, RejectionKind::InvalidInput);
        given::<Project>(submitted()).when(C::LinkAcademie { code: caen }).then_rejects("academie.historical");
        // An old record linked to Caen can still be tidied up.
        given::<Project>(then(submitted(), [E::ProjectAcademieLinked { code: caen }]))
            .when(C::UnlinkAcademie { code: caen })
            .then([E::ProjectAcademieUnlinked { code: caen }]);
    }

    #[test]
    fn repeated_themes_are_recorded_once() {
        let mut command = submit(day("2026-01-05"), &["01"]);
        if let C::SubmitProject { themes, .. } = &mut command {
            themes.push(text("Sciences"));
        }
        given::<Project>([]).when(command).then(submitted());
    }

    // -----------------------------------------------------------------------------------------
    // Qualification

    #[test]
    fn qualification_starts_from_a_submission() {
        given::<Project>(submitted())
            .when(C::StartQualification { on: day("2026-01-10") })
            .then([E::ProjectQualificationStarted { on: day("2026-01-10") }]);
    }

    #[test]
    fn qualification_starts_only_once() {
        let r = given::<Project>(qualifying())
            .when(C::StartQualification { on: day("2026-01-12") })
            .then_rejects("project.invalid_transition");
        assert_eq!(r.kind, RejectionKind::InvalidTransition);
        assert!(r.message.contains("En qualification") && r.message.contains("démarrer la qualification"), "{r}");
    }

    #[test]
    fn acceptance_opens_the_exploration_phase() {
        let state = given::<Project>(qualifying())
            .when(C::AcceptProject { on: day("2026-02-01"), support_mode: SupportMode::Punctual })
            .then([
                E::ProjectAccepted { on: day("2026-02-01"), support_mode: SupportMode::Punctual },
                E::ProjectPhaseStarted { phase: Phase::Exploration, on: day("2026-02-01") },
            ]);
        assert_eq!(state.status, Some(S::Active));
        assert_eq!(state.support_mode, Some(SupportMode::Punctual));
        assert_eq!(state.open_phase().map(|p| p.phase), Some(Phase::Exploration));
        state.check_invariants().unwrap();
    }

    #[test]
    fn acceptance_needs_a_qualification() {
        let r = given::<Project>(submitted())
            .when(C::AcceptProject { on: day("2026-02-01"), support_mode: SupportMode::Incubation })
            .then_rejects("project.invalid_transition");
        assert_eq!(r.message, "Impossible d'accepter le projet : le projet est au statut « Candidature reçue ».");
        given::<Project>(active())
            .when(C::AcceptProject { on: day("2026-02-02"), support_mode: SupportMode::Incubation })
            .then_rejects("project.invalid_transition");
    }

    #[test]
    fn a_qualified_project_can_be_declined() {
        let state = given::<Project>(qualifying())
            .when(C::DeclineProject { on: day("2026-01-20"), reason: reason() })
            .then([E::ProjectDeclined { on: day("2026-01-20"), reason: reason() }]);
        assert_eq!(state.status, Some(S::Declined));
        assert_eq!(state.status_before_terminal, Some(S::Qualifying));
    }

    #[test]
    fn only_a_qualifying_project_can_be_declined() {
        given::<Project>(submitted())
            .when(C::DeclineProject { on: day("2026-01-20"), reason: reason() })
            .then_rejects("project.invalid_transition");
        given::<Project>(active())
            .when(C::DeclineProject { on: day("2026-02-20"), reason: reason() })
            .then_rejects("project.invalid_transition");
    }

    #[test]
    fn the_holder_can_withdraw_before_acceptance() {
        given::<Project>(submitted())
            .when(C::WithdrawProject { on: day("2026-01-08"), reason: reason() })
            .then([E::ProjectWithdrawn { on: day("2026-01-08"), reason: reason() }]);
        given::<Project>(qualifying())
            .when(C::WithdrawProject { on: day("2026-01-11"), reason: reason() })
            .then([E::ProjectWithdrawn { on: day("2026-01-11"), reason: reason() }]);
    }

    #[test]
    fn an_accepted_project_is_not_withdrawn_but_abandoned() {
        given::<Project>(active())
            .when(C::WithdrawProject { on: day("2026-02-08"), reason: reason() })
            .then_rejects("project.invalid_transition");
        given::<Project>(paused())
            .when(C::WithdrawProject { on: day("2026-04-08"), reason: reason() })
            .then_rejects("project.invalid_transition");
    }

    // -----------------------------------------------------------------------------------------
    // Phases

    #[test]
    fn a_new_phase_ends_the_open_one() {
        let state =
            given::<Project>(active()).when(C::StartPhase { phase: Phase::Prototyping, on: day("2026-03-02") }).then([
                E::ProjectPhaseEnded { phase: Phase::Exploration, on: day("2026-03-02") },
                E::ProjectPhaseStarted { phase: Phase::Prototyping, on: day("2026-03-02") },
            ]);
        assert_eq!(state.phases.len(), 2);
        assert_eq!(state.phases[0].ended_on, Some(day("2026-03-02")));
        assert_eq!(state.open_phase().map(|p| p.phase), Some(Phase::Prototyping));
        state.check_invariants().unwrap();
    }

    #[test]
    fn phases_may_skip_ahead() {
        given::<Project>(active()).when(C::StartPhase { phase: Phase::Experimentation, on: day("2026-03-02") }).then([
            E::ProjectPhaseEnded { phase: Phase::Exploration, on: day("2026-03-02") },
            E::ProjectPhaseStarted { phase: Phase::Experimentation, on: day("2026-03-02") },
        ]);
    }

    #[test]
    fn phases_move_forward_only() {
        for phase in [Phase::Exploration, Phase::Prototyping] {
            let r = given::<Project>(prototyping())
                .when(C::StartPhase { phase, on: day("2026-04-01") })
                .then_rejects("project.phase_forward_only");
            assert_eq!(r.kind, RejectionKind::InvalidTransition);
        }
    }

    #[test]
    fn a_phase_cannot_start_before_the_open_one_started() {
        let r = given::<Project>(active())
            .when(C::StartPhase { phase: Phase::Prototyping, on: day("2026-01-31") })
            .then_rejects("project.phase_dates_increase");
        assert_eq!(r.kind, RejectionKind::InvalidInput);
        assert!(r.message.contains("01/02/2026"), "{r}");
    }

    #[test]
    fn a_phase_can_start_the_day_the_previous_one_started() {
        given::<Project>(active()).when(C::StartPhase { phase: Phase::Prototyping, on: day("2026-02-01") }).then([
            E::ProjectPhaseEnded { phase: Phase::Exploration, on: day("2026-02-01") },
            E::ProjectPhaseStarted { phase: Phase::Prototyping, on: day("2026-02-01") },
        ]);
    }

    #[test]
    fn phases_start_only_on_an_active_project() {
        given::<Project>(paused())
            .when(C::StartPhase { phase: Phase::Experimentation, on: day("2026-04-02") })
            .then_rejects("project.invalid_transition");
        given::<Project>(qualifying())
            .when(C::StartPhase { phase: Phase::Prototyping, on: day("2026-01-12") })
            .then_rejects("project.invalid_transition");
    }

    #[test]
    fn dated_commands_cannot_go_back_before_the_latest_lifecycle_event() {
        // Prototyping started on 2 March 2026: the latest lifecycle event.
        let r = given::<Project>(prototyping())
            .when(C::PauseProject { on: day("2026-03-01"), reason: reason() })
            .then_rejects("project.date_before_previous");
        assert_eq!(r.kind, RejectionKind::InvalidInput);
        assert!(r.message.contains("01/03/2026") && r.message.contains("02/03/2026"), "{r}");
        given::<Project>(prototyping())
            .when(C::RecordReview { decision: ReviewDecision::Pivot, held_on: day("2026-03-01"), notes: None })
            .then_rejects("project.date_before_previous");
        given::<Project>(prototyping())
            .when(C::RecordMilestone { title: text("Prototype"), on: day("2026-02-28") })
            .then_rejects("project.date_before_previous");
        given::<Project>(prototyping())
            .when(C::RecordImpactIndicator {
                name: text("Classes"),
                value: 3.0,
                unit: text("classes"),
                measured_on: day("2026-02-28"),
            })
            .then_rejects("project.date_before_previous");
        given::<Project>(prototyping())
            .when(C::PauseProject { on: day("2026-03-02"), reason: reason() })
            .then([E::ProjectPaused { on: day("2026-03-02"), reason: reason() }]);
        given::<Project>(submitted())
            .when(C::StartQualification { on: day("2026-01-04") })
            .then_rejects("project.date_before_previous");
        given::<Project>(qualifying())
            .when(C::AcceptProject { on: day("2026-01-04"), support_mode: SupportMode::Incubation })
            .then_rejects("project.date_before_previous");
        given::<Project>(qualifying())
            .when(C::DeclineProject { on: day("2026-01-09"), reason: reason() })
            .then_rejects("project.date_before_previous");
    }

    #[test]
    fn follow_up_facts_do_not_raise_the_date_bar() {
        // A milestone of 20 March does not forbid recording a pause, or a measure, of 19 March.
        let history =
            then(prototyping(), [E::ProjectMilestoneRecorded { title: text("Prototype"), on: day("2026-03-20") }]);
        given::<Project>(history.clone())
            .when(C::RecordImpactIndicator {
                name: text("Classes"),
                value: 3.0,
                unit: text("classes"),
                measured_on: day("2026-03-15"),
            })
            .accepted();
        let state = given::<Project>(history)
            .when(C::PauseProject { on: day("2026-03-19"), reason: reason() })
            .then([E::ProjectPaused { on: day("2026-03-19"), reason: reason() }]);
        assert_eq!(state.last_lifecycle_on, Some(day("2026-03-19")));
        // …but once the pause is recorded, nothing goes back before it.
        given::<Project>(paused())
            .when(C::RecordMilestone { title: text("Jalon"), on: day("2026-03-31") })
            .then_rejects("project.date_before_previous");
    }

    // -----------------------------------------------------------------------------------------
    // Pause, resume, transfer, abandon

    #[test]
    fn a_pause_keeps_the_phase_open_and_resuming_continues_it() {
        let state = given::<Project>(prototyping())
            .when(C::PauseProject { on: day("2026-04-01"), reason: reason() })
            .then([E::ProjectPaused { on: day("2026-04-01"), reason: reason() }]);
        assert_eq!(state.status, Some(S::Paused));
        assert_eq!(state.open_phase().map(|p| p.phase), Some(Phase::Prototyping));
        state.check_invariants().unwrap();

        let state = given::<Project>(paused())
            .when(C::ResumeProject { on: day("2026-05-01") })
            .then([E::ProjectResumed { on: day("2026-05-01") }]);
        assert_eq!(state.status, Some(S::Active));
        assert_eq!(state.phases.len(), 2);
        assert_eq!(state.open_phase().map(|p| p.phase), Some(Phase::Prototyping));
        state.check_invariants().unwrap();
    }

    #[test]
    fn pause_and_resume_each_need_the_other_state() {
        given::<Project>(paused())
            .when(C::PauseProject { on: day("2026-04-02"), reason: reason() })
            .then_rejects("project.invalid_transition");
        given::<Project>(active())
            .when(C::ResumeProject { on: day("2026-04-02") })
            .then_rejects("project.invalid_transition");
        given::<Project>(submitted())
            .when(C::PauseProject { on: day("2026-01-06"), reason: reason() })
            .then_rejects("project.invalid_transition");
    }

    #[test]
    fn a_transfer_ends_the_open_phase() {
        let to: Label = text("Académie de Paris");
        let state = given::<Project>(prototyping())
            .when(C::TransferProject { on: day("2026-09-01"), to: to.clone(), notes: None })
            .then([
                E::ProjectPhaseEnded { phase: Phase::Prototyping, on: day("2026-09-01") },
                E::ProjectTransferred { on: day("2026-09-01"), to, notes: None },
            ]);
        assert_eq!(state.status, Some(S::Transferred));
        assert_eq!(state.open_phase(), None);
        state.check_invariants().unwrap();
    }

    #[test]
    fn a_paused_project_resumes_before_it_is_transferred() {
        given::<Project>(paused())
            .when(C::TransferProject { on: day("2026-09-01"), to: text("DNE"), notes: None })
            .then_rejects("project.invalid_transition");
        given::<Project>(qualifying())
            .when(C::TransferProject { on: day("2026-09-01"), to: text("DNE"), notes: None })
            .then_rejects("project.invalid_transition");
    }

    #[test]
    fn an_active_or_paused_project_can_be_abandoned() {
        for history in [prototyping(), paused()] {
            let state = given::<Project>(history)
                .when(C::AbandonProject {
                    on: day("2026-05-01"),
                    reason_code: AbandonReason::HolderUnavailable,
                    explanation: reason(),
                })
                .then([
                    E::ProjectPhaseEnded { phase: Phase::Prototyping, on: day("2026-05-01") },
                    E::ProjectAbandoned {
                        on: day("2026-05-01"),
                        reason_code: AbandonReason::HolderUnavailable,
                        explanation: reason(),
                    },
                ]);
            assert_eq!(state.status, Some(S::Abandoned));
            state.check_invariants().unwrap();
        }
    }

    #[test]
    fn a_project_not_yet_accepted_is_not_abandoned() {
        given::<Project>(qualifying())
            .when(C::AbandonProject { on: day("2026-05-01"), reason_code: AbandonReason::Other, explanation: reason() })
            .then_rejects("project.invalid_transition");
    }

    // -----------------------------------------------------------------------------------------
    // Terminal states and reopening

    #[test]
    fn a_terminal_project_refuses_everything_but_a_reopening() {
        for (history, status) in [
            (transferred(), S::Transferred),
            (abandoned(), S::Abandoned),
            (declined(), S::Declined),
            (withdrawn(), S::Withdrawn),
        ] {
            for command in one_command_of_each(day("2026-12-01")).into_iter().skip(1) {
                if matches!(command, C::ReopenProject { .. }) {
                    continue;
                }
                let r = given::<Project>(history.clone()).when(command).then_rejects("project.terminal");
                assert_eq!(r.kind, RejectionKind::InvalidTransition);
                assert!(r.message.contains(status.label()), "{r}");
            }
        }
        let r = given::<Project>(transferred()).when(C::PublishProject).then_rejects("project.terminal");
        assert_eq!(
            r.message,
            "Le projet est Pérennisé : plus rien ne peut y être enregistré, sauf une réouverture explicite."
        );
    }

    #[test]
    fn a_project_never_accepted_reopens_in_qualification() {
        for history in [declined(), withdrawn()] {
            let state = given::<Project>(history)
                .when(C::ReopenProject { on: day("2026-02-01"), reason: reason() })
                .then([E::ProjectReopened { on: day("2026-02-01"), reason: reason(), reopened_to: S::Qualifying }]);
            assert_eq!(state.status, Some(S::Qualifying));
            assert_eq!(state.status_before_terminal, None);
            state.check_invariants().unwrap();
        }
        let reopened = then(
            declined(),
            [E::ProjectReopened { on: day("2026-02-01"), reason: reason(), reopened_to: S::Qualifying }],
        );
        given::<Project>(reopened)
            .when(C::AcceptProject { on: day("2026-02-02"), support_mode: SupportMode::Incubation })
            .then([
                E::ProjectAccepted { on: day("2026-02-02"), support_mode: SupportMode::Incubation },
                E::ProjectPhaseStarted { phase: Phase::Exploration, on: day("2026-02-02") },
            ]);
    }

    #[test]
    fn an_ended_project_reopens_paused_and_resumes_its_last_phase() {
        for history in [transferred(), abandoned()] {
            let state = given::<Project>(history.clone())
                .when(C::ReopenProject { on: day("2026-10-01"), reason: reason() })
                .then([E::ProjectReopened { on: day("2026-10-01"), reason: reason(), reopened_to: S::Paused }]);
            assert_eq!(state.status, Some(S::Paused));
            assert_eq!(state.open_phase(), None);
            state.check_invariants().unwrap();

            let reopened =
                then(history, [E::ProjectReopened { on: day("2026-10-01"), reason: reason(), reopened_to: S::Paused }]);
            let state = given::<Project>(reopened.clone()).when(C::ResumeProject { on: day("2026-10-15") }).then([
                E::ProjectResumed { on: day("2026-10-15") },
                E::ProjectPhaseStarted { phase: Phase::Prototyping, on: day("2026-10-15") },
            ]);
            assert_eq!(state.status, Some(S::Active));
            assert_eq!(state.open_phase().map(|p| p.phase), Some(Phase::Prototyping));
            state.check_invariants().unwrap();

            // The phase started again is the current one: going on means going forward.
            let resumed = then(
                reopened,
                [
                    E::ProjectResumed { on: day("2026-10-15") },
                    E::ProjectPhaseStarted { phase: Phase::Prototyping, on: day("2026-10-15") },
                ],
            );
            given::<Project>(resumed.clone())
                .when(C::StartPhase { phase: Phase::Prototyping, on: day("2026-10-20") })
                .then_rejects("project.phase_forward_only");
            given::<Project>(resumed)
                .when(C::StartPhase { phase: Phase::Experimentation, on: day("2026-10-20") })
                .accepted();
        }
    }

    #[test]
    fn a_reopened_project_can_still_be_abandoned_without_a_phase() {
        let reopened =
            then(abandoned(), [E::ProjectReopened { on: day("2026-10-01"), reason: reason(), reopened_to: S::Paused }]);
        let state = given::<Project>(reopened)
            .when(C::AbandonProject {
                on: day("2026-11-01"),
                reason_code: AbandonReason::NoLongerNeeded,
                explanation: reason(),
            })
            .then([E::ProjectAbandoned {
                on: day("2026-11-01"),
                reason_code: AbandonReason::NoLongerNeeded,
                explanation: reason(),
            }]);
        state.check_invariants().unwrap();
    }

    #[test]
    fn only_a_terminal_project_is_reopened() {
        for history in [submitted(), qualifying(), active(), paused()] {
            given::<Project>(history)
                .when(C::ReopenProject { on: day("2026-12-01"), reason: reason() })
                .then_rejects("project.not_terminal");
        }
    }

    #[test]
    fn a_reopening_is_dated_after_the_end() {
        given::<Project>(transferred())
            .when(C::ReopenProject { on: day("2026-08-31"), reason: reason() })
            .then_rejects("project.date_before_previous");
    }

    // -----------------------------------------------------------------------------------------
    // People, académies, establishments, details, visibility

    #[test]
    fn holders_are_added_and_removed_in_any_open_state() {
        for history in [submitted(), qualifying(), active(), paused()] {
            let added = E::ProjectHolderAdded {
                person: person(1),
                role: text("Principale adjointe"),
                affiliation: Some(text("Collège Jean-Moulin")),
            };
            let state = given::<Project>(history.clone())
                .when(C::AddHolder {
                    person: person(1),
                    role: text("Principale adjointe"),
                    affiliation: Some(text("Collège Jean-Moulin")),
                })
                .then([added.clone()]);
            assert_eq!(state.holders[&person(1)].role.as_str(), "Principale adjointe");
            let state = given::<Project>(then(history, [added]))
                .when(C::RemoveHolder { person: person(1) })
                .then([E::ProjectHolderRemoved { person: person(1) }]);
            assert!(state.holders.is_empty());
        }
    }

    #[test]
    fn a_holder_is_added_once_and_removed_if_present() {
        let with_holder =
            then(active(), [E::ProjectHolderAdded { person: person(1), role: text("Porteuse"), affiliation: None }]);
        given::<Project>(with_holder)
            .when(C::AddHolder { person: person(1), role: text("Co-porteuse"), affiliation: None })
            .then_rejects("project.holder_already_added");
        given::<Project>(active()).when(C::RemoveHolder { person: person(1) }).then_rejects("project.holder_not_found");
    }

    #[test]
    fn referents_are_assigned_once() {
        given::<Project>(qualifying())
            .when(C::AssignReferent { person: person(2) })
            .then([E::ProjectReferentAssigned { person: person(2) }]);
        given::<Project>(then(qualifying(), [E::ProjectReferentAssigned { person: person(2) }]))
            .when(C::AssignReferent { person: person(2) })
            .then_rejects("project.referent_already_assigned");
    }

    #[test]
    fn academies_are_linked_once_and_one_always_remains() {
        let state = given::<Project>(active())
            .when(C::LinkAcademie { code: aca("24") })
            .then([E::ProjectAcademieLinked { code: aca("24") }]);
        assert_eq!(state.academies.len(), 2);
        given::<Project>(active())
            .when(C::LinkAcademie { code: aca("01") })
            .then_rejects("project.academie_already_linked");
        given::<Project>(then(active(), [E::ProjectAcademieLinked { code: aca("24") }]))
            .when(C::UnlinkAcademie { code: aca("01") })
            .then([E::ProjectAcademieUnlinked { code: aca("01") }]);
        given::<Project>(active())
            .when(C::UnlinkAcademie { code: aca("24") })
            .then_rejects("project.academie_not_linked");
        let r = given::<Project>(active())
            .when(C::UnlinkAcademie { code: aca("01") })
            .then_rejects("project.academie_required");
        assert!(r.message.contains("au moins une académie"));
    }

    #[test]
    fn establishments_are_linked_once() {
        given::<Project>(submitted())
            .when(C::LinkEstablishment { uai: uai("0750654D") })
            .then([E::ProjectEstablishmentLinked { uai: uai("0750654D") }]);
        given::<Project>(then(submitted(), [E::ProjectEstablishmentLinked { uai: uai("0750654D") }]))
            .when(C::LinkEstablishment { uai: uai("0750654d") })
            .then_rejects("project.establishment_already_linked");
    }

    #[test]
    fn details_are_updated_when_they_change() {
        let command = |title: &str| C::UpdateProjectDetails {
            title: text(title),
            problem_statement: text("Les élèves de cycle 4 peinent à relier les sciences au terrain."),
            summary: Some(text("Sorties de terrain outillées.")),
            themes: vec![text("Sciences"), text("Territoires")],
            target_users: vec![text("Professeurs de SVT")],
        };
        let state = given::<Project>(paused()).when(command("Rivières au collège")).accepted().1;
        assert_eq!(state.title.as_ref().map(Text::as_str), Some("Rivières au collège"));
        assert_eq!(state.summary.as_ref().map(Text::as_str), Some("Sorties de terrain outillées."));
        let updated = Project::decide(&state_of(&paused()), &command("Rivières au collège")).unwrap();
        given::<Project>(then(paused(), updated))
            .when(command("Rivières au collège"))
            .then_rejects("project.details_unchanged");
    }

    #[test]
    fn publishing_toggles_the_visibility() {
        let state = given::<Project>(submitted()).when(C::PublishProject).then([E::ProjectPublished {}]);
        assert_eq!(state.visibility, Visibility::Public);
        given::<Project>(then(submitted(), [E::ProjectPublished {}]))
            .when(C::PublishProject)
            .then_rejects("project.already_public");
        let state = given::<Project>(then(active(), [E::ProjectPublished {}]))
            .when(C::UnpublishProject)
            .then([E::ProjectUnpublished {}]);
        assert_eq!(state.visibility, Visibility::Internal);
        given::<Project>(active()).when(C::UnpublishProject).then_rejects("project.already_internal");
    }

    // -----------------------------------------------------------------------------------------
    // Follow-up: reviews, milestones, progress, impact

    #[test]
    fn follow_up_is_recorded_while_the_project_is_supported() {
        for history in [prototyping(), paused()] {
            let on = day("2026-06-01");
            given::<Project>(history.clone())
                .when(C::RecordReview { decision: ReviewDecision::Pivot, held_on: on, notes: Some(reason()) })
                .then([E::ProjectReviewHeld { decision: ReviewDecision::Pivot, held_on: on, notes: Some(reason()) }]);
            given::<Project>(history.clone())
                .when(C::RecordMilestone { title: text("Premier prototype testé en classe"), on })
                .then([E::ProjectMilestoneRecorded { title: text("Premier prototype testé en classe"), on }]);
            let state = given::<Project>(history.clone())
                .when(C::UpdateProgress { progress: Progress::new(60).unwrap() })
                .then([E::ProjectProgressUpdated { progress: Progress::new(60).unwrap() }]);
            assert_eq!(state.progress.map(|p| p.value()), Some(60));
            given::<Project>(history)
                .when(C::RecordImpactIndicator {
                    name: text("Élèves"),
                    value: 240.0,
                    unit: text("élèves"),
                    measured_on: on,
                })
                .then([E::ProjectImpactIndicatorRecorded {
                    name: text("Élèves"),
                    value: 240.0,
                    unit: text("élèves"),
                    measured_on: on,
                }]);
        }
    }

    #[test]
    fn follow_up_needs_an_accepted_project() {
        for history in [submitted(), qualifying()] {
            let on = day("2026-06-01");
            let r = given::<Project>(history.clone())
                .when(C::RecordReview { decision: ReviewDecision::Continue, held_on: on, notes: None })
                .then_rejects("project.not_active");
            assert!(r.message.contains("enregistrer une revue"), "{r}");
            given::<Project>(history.clone())
                .when(C::RecordMilestone { title: text("Jalon"), on })
                .then_rejects("project.not_active");
            given::<Project>(history.clone())
                .when(C::UpdateProgress { progress: Progress::new(10).unwrap() })
                .then_rejects("project.not_active");
            given::<Project>(history)
                .when(C::RecordImpactIndicator {
                    name: text("Élèves"),
                    value: 1.0,
                    unit: text("élèves"),
                    measured_on: on,
                })
                .then_rejects("project.not_active");
        }
    }

    #[test]
    fn an_impact_indicator_is_a_finite_number() {
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            given::<Project>(active())
                .when(C::RecordImpactIndicator {
                    name: text("Élèves"),
                    value,
                    unit: text("élèves"),
                    measured_on: day("2026-06-01"),
                })
                .then_rejects("project.indicator_value_not_finite");
        }
    }

    // -----------------------------------------------------------------------------------------
    // The six-month rule

    #[test]
    fn an_incubated_project_without_review_for_six_months_needs_one() {
        let state = state_of(&active()); // accepted on 1 February 2026
        assert!(!state.needs_review(day("2026-07-15")));
        assert!(!state.needs_review(day("2026-08-01")), "six months to the day is not yet late");
        assert!(state.needs_review(day("2026-08-02")));
        assert!(state_of(&paused()).needs_review(day("2026-12-01")), "a pause does not stop the clock");
    }

    #[test]
    fn a_review_resets_the_six_month_clock() {
        let reviewed = then(
            active(),
            [E::ProjectReviewHeld { decision: ReviewDecision::Continue, held_on: day("2026-07-20"), notes: None }],
        );
        let state = state_of(&reviewed);
        assert!(!state.needs_review(day("2026-08-15")));
        assert!(!state.needs_review(day("2027-01-20")));
        assert!(state.needs_review(day("2027-01-21")));
    }

    #[test]
    fn only_incubated_supported_projects_owe_reviews() {
        let far = day("2030-01-01");
        assert!(!state_of(&accepted(SupportMode::Punctual)).needs_review(far));
        assert!(!state_of(&accepted(SupportMode::NetworkLab)).needs_review(far));
        assert!(!state_of(&qualifying()).needs_review(far));
        assert!(!state_of(&transferred()).needs_review(far));
        assert!(!ProjectState::default().needs_review(far));
    }

    // -----------------------------------------------------------------------------------------
    // Serialization and vocabulary

    fn one_event_of_each() -> Vec<(ProjectEvent, &'static str)> {
        let on = day("2026-03-01");
        vec![
            (submitted().remove(0), "ProjectSubmitted"),
            (
                E::ProjectDetailsUpdated {
                    title: text("Titre"),
                    problem_statement: text("Problème"),
                    summary: None,
                    themes: vec![],
                    target_users: vec![],
                },
                "ProjectDetailsUpdated",
            ),
            (E::ProjectQualificationStarted { on }, "ProjectQualificationStarted"),
            (E::ProjectAccepted { on, support_mode: SupportMode::NetworkLab }, "ProjectAccepted"),
            (E::ProjectDeclined { on, reason: reason() }, "ProjectDeclined"),
            (E::ProjectWithdrawn { on, reason: reason() }, "ProjectWithdrawn"),
            (
                E::ProjectHolderAdded { person: person(1), role: text("Porteur"), affiliation: None },
                "ProjectHolderAdded",
            ),
            (E::ProjectHolderRemoved { person: person(1) }, "ProjectHolderRemoved"),
            (E::ProjectReferentAssigned { person: person(2) }, "ProjectReferentAssigned"),
            (E::ProjectAcademieLinked { code: aca("25") }, "ProjectAcademieLinked"),
            (E::ProjectAcademieUnlinked { code: aca("25") }, "ProjectAcademieUnlinked"),
            (E::ProjectEstablishmentLinked { uai: uai("0690026D") }, "ProjectEstablishmentLinked"),
            (E::ProjectPhaseStarted { phase: Phase::Transfer, on }, "ProjectPhaseStarted"),
            (E::ProjectPhaseEnded { phase: Phase::Experimentation, on }, "ProjectPhaseEnded"),
            (E::ProjectReviewHeld { decision: ReviewDecision::Stop, held_on: on, notes: None }, "ProjectReviewHeld"),
            (E::ProjectMilestoneRecorded { title: text("Jalon"), on }, "ProjectMilestoneRecorded"),
            (E::ProjectProgressUpdated { progress: Progress::new(100).unwrap() }, "ProjectProgressUpdated"),
            (
                E::ProjectImpactIndicatorRecorded {
                    name: text("Écoles"),
                    value: 3.5,
                    unit: text("écoles"),
                    measured_on: on,
                },
                "ProjectImpactIndicatorRecorded",
            ),
            (E::ProjectPaused { on, reason: reason() }, "ProjectPaused"),
            (E::ProjectResumed { on }, "ProjectResumed"),
            (E::ProjectTransferred { on, to: text("DNE"), notes: Some(reason()) }, "ProjectTransferred"),
            (
                E::ProjectAbandoned { on, reason_code: AbandonReason::ReviewStop, explanation: reason() },
                "ProjectAbandoned",
            ),
            (E::ProjectPublished {}, "ProjectPublished"),
            (E::ProjectUnpublished {}, "ProjectUnpublished"),
            (E::ProjectReopened { on, reason: reason(), reopened_to: S::Paused }, "ProjectReopened"),
        ]
    }

    #[test]
    fn the_event_type_is_the_variant_name_and_events_read_back() {
        let events = one_event_of_each();
        assert_eq!(events.len(), 25);
        for (event, name) in events {
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["type"], name);
            assert!(json["payload"].is_object(), "{json}");
            assert_eq!(serde_json::from_value::<ProjectEvent>(json).unwrap(), event);
        }
    }

    #[test]
    fn payloads_use_stored_codes_and_iso_dates() {
        let json = serde_json::to_value(E::ProjectAbandoned {
            on: day("2026-05-01"),
            reason_code: AbandonReason::HolderUnavailable,
            explanation: reason(),
        })
        .unwrap();
        assert_eq!(json["payload"]["reason_code"], "HOLDER_UNAVAILABLE");
        assert_eq!(json["payload"]["on"], "2026-05-01");
        let json = serde_json::to_value(&submitted()[0]).unwrap();
        assert_eq!(json["payload"]["support_mode"], "INCUBATION");
        assert_eq!(json["payload"]["academies"], serde_json::json!(["01"]));
        let json =
            serde_json::to_value(E::ProjectPhaseStarted { phase: Phase::Experimentation, on: day("2026-05-01") })
                .unwrap();
        assert_eq!(json["payload"]["phase"], "EXPERIMENTATION");
    }

    #[test]
    fn the_state_reads_back_from_a_snapshot() {
        let state = state_of(&then(
            paused(),
            [E::ProjectHolderAdded { person: person(1), role: text("Porteur"), affiliation: None }],
        ));
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<ProjectState>(&json).unwrap(), state);
    }

    #[test]
    fn codes_and_labels_follow_the_glossary() {
        let codes = |v: serde_json::Value| v.as_str().unwrap().to_owned();
        assert_eq!(codes(serde_json::to_value(S::Transferred).unwrap()), "TRANSFERRED");
        assert_eq!(codes(serde_json::to_value(SupportMode::NetworkLab).unwrap()), "NETWORK_LAB");
        assert_eq!(codes(serde_json::to_value(Visibility::default()).unwrap()), "INTERNAL");
        assert_eq!(S::Transferred.label(), "Pérennisé");
        assert_eq!(S::Withdrawn.label(), "Retiré par le porteur");
        assert_eq!(SupportMode::Punctual.label(), "Accompagnement ponctuel");
        assert_eq!(ReviewDecision::Stop.label(), "Arrêt");
        assert_eq!(Phase::Experimentation.label(), "Expérimentation");
        assert!(Phase::ALL.windows(2).all(|w| w[0] < w[1]), "phases are ordered");
        let terminal: Vec<_> = S::ALL.into_iter().filter(S::is_terminal).collect();
        assert_eq!(terminal, [S::Transferred, S::Abandoned, S::Declined, S::Withdrawn]);
        let labels = S::ALL.iter().map(S::label).chain(Phase::ALL.iter().map(Phase::label));
        let labels = labels.chain(SupportMode::ALL.iter().map(SupportMode::label));
        let labels = labels.chain(ReviewDecision::ALL.iter().map(ReviewDecision::label));
        let labels = labels.chain(Visibility::ALL.iter().map(Visibility::label));
        assert!(labels.chain(AbandonReason::ALL.iter().map(AbandonReason::label)).all(|l| !l.is_empty()));
    }

    #[test]
    fn fixtures_keep_the_invariants() {
        for history in [
            submitted(),
            qualifying(),
            active(),
            prototyping(),
            paused(),
            declined(),
            withdrawn(),
            transferred(),
            abandoned(),
        ] {
            state_of(&history).check_invariants().unwrap();
        }
        let mut broken = state_of(&active());
        broken.phases.push(PhaseSpan { phase: Phase::Prototyping, started_on: day("2026-03-01"), ended_on: None });
        assert!(broken.check_invariants().is_err(), "two open phases");
        let mut broken = state_of(&transferred());
        broken.phases[0].phase = Phase::Experimentation;
        assert!(broken.check_invariants().is_err(), "phase order goes backward");
        let mut broken = state_of(&paused());
        broken.status = Some(S::Abandoned);
        assert!(broken.check_invariants().is_err(), "terminal with an open phase");
        let mut broken = state_of(&qualifying());
        broken.academies.clear();
        assert!(broken.check_invariants().is_err(), "no académie");
    }

    // -----------------------------------------------------------------------------------------
    // Property: whatever the sequence of commands, the invariants hold and a closed project
    // accepts nothing but a reopening.

    use proptest::prelude::*;

    /// The raw material of one command; its kind picks which fields are used.
    #[derive(Clone, Debug)]
    struct Step {
        kind: u8,
        days_later: u64,
        /// Days the command is dated before the clock: usually none; sometimes a late entry,
        /// which the date rules must sort out.
        backdated: u64,
        phase: Phase,
        academie: usize,
        person: u128,
        decision: ReviewDecision,
        number: i64,
        flag: bool,
    }

    const ACADEMIES: [&str; 3] = ["01", "24", "25"];
    const UAIS: [&str; 3] = ["0750654D", "0750655E", "0690026D"];

    /// Command kinds 0..24, each at least once; the ones that lead forward (qualify, accept,
    /// change phase, pause, resume, end, reopen) are weighted up so that sequences travel far
    /// rather than stopping at a withdrawal.
    fn kinds() -> Vec<u8> {
        let forward = [2, 2, 3, 3, 12, 12, 12, 17, 18, 18, 19, 20, 23, 23];
        (0..24).chain(forward).chain(forward).chain(forward).collect()
    }

    fn step() -> impl Strategy<Value = Step> {
        (
            prop::sample::select(kinds()),
            0u64..=60,
            prop_oneof![4 => Just(0u64), 1 => 1u64..=45],
            prop::sample::select(Phase::ALL.to_vec()),
            0usize..3,
            0u128..3,
            prop::sample::select(ReviewDecision::ALL.to_vec()),
            0i64..=100,
            any::<bool>(),
        )
            .prop_map(|(kind, days_later, backdated, phase, academie, person, decision, number, flag)| Step {
                kind,
                days_later,
                backdated,
                phase,
                academie,
                person,
                decision,
                number,
                flag,
            })
    }

    fn command(step: &Step, on: NaiveDate) -> ProjectCommand {
        let optional = |flag: bool| flag.then(reason);
        match step.kind {
            0 => submit(on, &ACADEMIES[..=step.academie % 2]),
            1 => C::UpdateProjectDetails {
                title: text(if step.flag { "Rivières au collège" } else { "Des cours d'eau au collège" }),
                problem_statement: text("Relier les sciences au terrain."),
                summary: optional(step.flag),
                themes: vec![text("Sciences")],
                target_users: vec![],
            },
            2 => C::StartQualification { on },
            3 => C::AcceptProject { on, support_mode: SupportMode::ALL[step.academie] },
            4 => C::DeclineProject { on, reason: reason() },
            5 => C::WithdrawProject { on, reason: reason() },
            6 => C::AddHolder { person: person(step.person), role: text("Porteur"), affiliation: None },
            7 => C::RemoveHolder { person: person(step.person) },
            8 => C::AssignReferent { person: person(step.person) },
            9 => C::LinkAcademie { code: aca(ACADEMIES[step.academie]) },
            10 => C::UnlinkAcademie { code: aca(ACADEMIES[step.academie]) },
            11 => C::LinkEstablishment { uai: uai(UAIS[step.academie]) },
            12 => C::StartPhase { phase: step.phase, on },
            13 => C::RecordReview { decision: step.decision, held_on: on, notes: optional(step.flag) },
            14 => C::RecordMilestone { title: text("Jalon"), on },
            15 => C::UpdateProgress { progress: Progress::new(step.number).unwrap() },
            // Halves are exact in binary, so the value reads back from JSON unchanged.
            16 => C::RecordImpactIndicator {
                name: text("Élèves"),
                value: step.number as f64 / 2.0,
                unit: text("élèves"),
                measured_on: on,
            },
            17 => C::PauseProject { on, reason: reason() },
            18 => C::ResumeProject { on },
            19 => C::TransferProject { on, to: text("DNE"), notes: optional(step.flag) },
            20 => C::AbandonProject { on, reason_code: AbandonReason::ALL[step.academie], explanation: reason() },
            21 => C::PublishProject,
            22 => C::UnpublishProject,
            _ => C::ReopenProject { on, reason: reason() },
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_sequence_of_commands_keeps_the_invariants(
            start_empty in prop::bool::weighted(0.1),
            steps in prop::collection::vec(step(), 1..40),
        ) {
            let mut on = day("2026-01-05");
            let mut state = Project::initial_state();
            if !start_empty {
                let events = Project::decide(&state, &submit(on, &["01"])).unwrap();
                state = Project::fold(state, &events);
            }
            for step in &steps {
                on = on + chrono::Days::new(step.days_later);
                let command = command(step, on - chrono::Days::new(step.backdated));
                let was_terminal = state.status.is_some_and(|s| s.is_terminal());
                match Project::decide(&state, &command) {
                    Ok(events) => {
                        prop_assert!(!events.is_empty(), "{:?} emitted nothing", command);
                        prop_assert!(
                            !was_terminal || matches!(command, C::ReopenProject { .. }),
                            "{:?} accepted on a {:?} project", command, state.status
                        );
                        if was_terminal {
                            prop_assert!(
                                matches!(events.as_slice(), [E::ProjectReopened { .. }]),
                                "a terminal project left by {:?}", events
                            );
                        }
                        for event in &events {
                            let json = serde_json::to_value(event).unwrap();
                            prop_assert_eq!(&serde_json::from_value::<ProjectEvent>(json).unwrap(), event);
                            let before = state.status;
                            if let (Some(date), Some(bar)) = (event.lifecycle_date(), state.last_lifecycle_on) {
                                prop_assert!(date >= bar, "{:?} dated before {}", event, bar);
                            }
                            state = Project::evolve(state, event);
                            let left_terminal = before.is_some_and(|s| s.is_terminal()) && before != state.status;
                            prop_assert!(
                                !left_terminal || matches!(event, E::ProjectReopened { .. }),
                                "{:?} took the project out of {:?}", event, before
                            );
                        }
                        if let Err(broken) = state.check_invariants() {
                            prop_assert!(false, "after {:?}: {}\n{:#?}", command, broken, state);
                        }
                    }
                    Err(rejection) => {
                        prop_assert!(!rejection.message.is_empty());
                        if state.status.is_none() {
                            prop_assert_eq!(rejection.rule, "project.not_found");
                        } else if was_terminal && !matches!(command, C::SubmitProject { .. } | C::ReopenProject { .. }) {
                            prop_assert_eq!(rejection.rule, "project.terminal");
                        }
                    }
                }
            }
            let snapshot = serde_json::to_string(&state).unwrap();
            prop_assert_eq!(serde_json::from_str::<ProjectState>(&snapshot).unwrap(), state);
        }
    }
}
