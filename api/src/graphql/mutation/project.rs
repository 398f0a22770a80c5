//! Project mutations: one per `ProjectCommand` (DESIGN §4.1).

use super::{day, entity_inputs, field, list, mutations, optional, payloads, person_id as person, reason};
use crate::graphql::error::ApiError;
use crate::graphql::project::{Phase, Project, SupportMode};
use async_graphql::{Enum, ID, InputObject};
use carnet_domain::project::{Project as ProjectDecider, ProjectCommand};
use carnet_domain::reference::ReferenceKind;
use carnet_domain::values::{AcademieCode, Label, LongText, Progress, ProjectId, ProjectReference, Title, Uai};
use chrono::{Datelike, NaiveDate};
use std::collections::BTreeSet;

pub(super) const NOT_FOUND: &str = "ce projet n'existe pas";

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "carnet_domain::project::ReviewDecision")]
pub enum ReviewDecision {
    Continue,
    Pivot,
    Stop,
    Transfer,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "carnet_domain::project::AbandonReason")]
pub enum AbandonReason {
    HolderUnavailable,
    NoLongerNeeded,
    LackOfResources,
    ReviewStop,
    Other,
}

/// A new project, as its holders describe it; the lab gives its reference
/// (`110B-P-<year of submission>-NNN`).
#[derive(InputObject)]
pub struct SubmitProjectInput {
    client_mutation_id: Option<String>,
    title: String,
    problem_statement: String,
    summary: Option<String>,
    support_mode: SupportMode,
    /// Académie codes (current ones), at least one.
    academie_codes: Vec<String>,
    #[graphql(default)]
    themes: Vec<String>,
    #[graphql(default)]
    target_users: Vec<String>,
    /// Defaults to today.
    submitted_on: Option<NaiveDate>,
}

entity_inputs! {
    project_id,
    "The version you saw: `CONFLICT` if the project changed since. Omit it to\napply the change to the latest version.";

    UpdateProjectDetailsInput {
        title: String,
        problem_statement: String,
        summary: Option<String>,
        #[graphql(default)]
        themes: Vec<String>,
        #[graphql(default)]
        target_users: Vec<String>,
    }
    /// Defaults to today for every `on`.
    StartProjectQualificationInput { on: Option<NaiveDate> }
    AcceptProjectInput { on: Option<NaiveDate>, support_mode: SupportMode }
    DeclineProjectInput { on: Option<NaiveDate>, reason: String }
    WithdrawProjectInput { on: Option<NaiveDate>, reason: String }
    AddProjectHolderInput {
        /// The person (an opaque `Person` id).
        person_id: ID,
        /// e.g. « porteuse principale ».
        role: String,
        affiliation: Option<String>,
    }
    RemoveProjectHolderInput { person_id: ID }
    AssignProjectReferentInput { person_id: ID }
    LinkProjectAcademieInput { academie_code: String }
    UnlinkProjectAcademieInput { academie_code: String }
    LinkProjectEstablishmentInput {
        /// The establishment's UAI (7 digits and a check letter), e.g. `0750654D`.
        uai: String,
    }
    StartProjectPhaseInput { phase: Phase, on: Option<NaiveDate> }
    RecordProjectReviewInput { decision: ReviewDecision, held_on: Option<NaiveDate>, notes: Option<String> }
    RecordProjectMilestoneInput { title: String, on: Option<NaiveDate> }
    UpdateProjectProgressInput {
        /// 0 to 100.
        progress: i64,
    }
    RecordProjectImpactIndicatorInput { name: String, value: f64, unit: String, measured_on: Option<NaiveDate> }
    PauseProjectInput { on: Option<NaiveDate>, reason: String }
    ResumeProjectInput { on: Option<NaiveDate> }
    TransferProjectInput {
        on: Option<NaiveDate>,
        /// Who takes the project over (a direction, an académie, an operator).
        to: String,
        notes: Option<String>,
    }
    AbandonProjectInput { on: Option<NaiveDate>, reason_code: AbandonReason, explanation: String }
    PublishProjectInput {}
    UnpublishProjectInput {}
    ReopenProjectInput {
        on: Option<NaiveDate>,
        /// Why a closed project opens again: recorded for the auditors.
        reason: String,
    }
}

payloads! { project: Project =>
    SubmitProjectPayload, UpdateProjectDetailsPayload, StartProjectQualificationPayload, AcceptProjectPayload,
    DeclineProjectPayload, WithdrawProjectPayload, AddProjectHolderPayload, RemoveProjectHolderPayload,
    AssignProjectReferentPayload, LinkProjectAcademiePayload, UnlinkProjectAcademiePayload,
    LinkProjectEstablishmentPayload, StartProjectPhasePayload, RecordProjectReviewPayload,
    RecordProjectMilestonePayload, UpdateProjectProgressPayload, RecordProjectImpactIndicatorPayload,
    PauseProjectPayload, ResumeProjectPayload, TransferProjectPayload, AbandonProjectPayload,
    PublishProjectPayload, UnpublishProjectPayload, ReopenProjectPayload,
}

fn academie(code: &str) -> Result<AcademieCode, ApiError> {
    field("academieCode", AcademieCode::parse(code))
}

mutations! {
    pub struct ProjectMutation for Project, id project_id;

    /// Records a new project request; it starts `SUBMITTED` with the next reference of its year.
    submit_project(input: SubmitProjectInput) -> SubmitProjectPayload with change {
        let submitted_on = day(input.submitted_on);
        // a retried mutation must find the project it created: its id follows from the command id
        let id = change.new_id(b"project");
        let parts = change.input(|| {
            Ok((
                field("title", Title::parse(&input.title))?,
                field("problemStatement", LongText::parse(&input.problem_statement))?,
                optional("summary", input.summary.as_deref(), LongText::parse)?,
                list("academieCodes", &input.academie_codes, AcademieCode::parse)?.into_iter().collect::<BTreeSet<_>>(),
                list("themes", &input.themes, Label::parse)?,
                list("targetUsers", &input.target_users, Label::parse)?,
            ))
        })?;
        let (title, problem_statement, summary, academies, themes, target_users) = parts;
        let build = |reference: &str| {
            Ok(ProjectCommand::SubmitProject {
                id: ProjectId(id),
                reference: ProjectReference::parse(reference)?,
                title: title.clone(),
                problem_statement: problem_statement.clone(),
                summary: summary.clone(),
                support_mode: input.support_mode.into(),
                academies: academies.clone(),
                themes: themes.clone(),
                target_users: target_users.clone(),
                submitted_on,
            })
        };
        let lab = &change.caller.state.lab;
        let executed = lab.create_numbered::<ProjectDecider>(ReferenceKind::Project, submitted_on.year(), id, build, &change.metadata)
            .await
            .map_err(|e| change.fail(e))?;
        change.record(&executed.events);
        id
    }

    update_project_details(input: UpdateProjectDetailsInput) -> UpdateProjectDetailsPayload {
        Ok(ProjectCommand::UpdateProjectDetails {
            title: field("title", Title::parse(&input.title))?,
            problem_statement: field("problemStatement", LongText::parse(&input.problem_statement))?,
            summary: optional("summary", input.summary.as_deref(), LongText::parse)?,
            themes: list("themes", &input.themes, Label::parse)?,
            target_users: list("targetUsers", &input.target_users, Label::parse)?,
        })
    }

    /// `SUBMITTED` → `QUALIFYING`.
    start_project_qualification(input: StartProjectQualificationInput) -> StartProjectQualificationPayload {
        Ok(ProjectCommand::StartQualification { on: day(input.on) })
    }

    /// `QUALIFYING` → `ACTIVE`, in its first phase.
    accept_project(input: AcceptProjectInput) -> AcceptProjectPayload {
        Ok(ProjectCommand::AcceptProject { on: day(input.on), support_mode: input.support_mode.into() })
    }

    /// `QUALIFYING` → `DECLINED`.
    decline_project(input: DeclineProjectInput) -> DeclineProjectPayload {
        Ok(ProjectCommand::DeclineProject {
            on: day(input.on),
            reason: reason(&input.reason)?,
        })
    }

    /// The holders withdraw their request (`SUBMITTED` or `QUALIFYING` → `WITHDRAWN`).
    withdraw_project(input: WithdrawProjectInput) -> WithdrawProjectPayload {
        Ok(ProjectCommand::WithdrawProject {
            on: day(input.on),
            reason: reason(&input.reason)?,
        })
    }

    add_project_holder(input: AddProjectHolderInput) -> AddProjectHolderPayload {
        Ok(ProjectCommand::AddHolder {
            person: person(&input.person_id)?,
            role: field("role", Label::parse(&input.role))?,
            affiliation: optional("affiliation", input.affiliation.as_deref(), Label::parse)?,
        })
    }

    remove_project_holder(input: RemoveProjectHolderInput) -> RemoveProjectHolderPayload {
        Ok(ProjectCommand::RemoveHolder { person: person(&input.person_id)? })
    }

    /// A member of the lab team follows the project.
    assign_project_referent(input: AssignProjectReferentInput) -> AssignProjectReferentPayload {
        Ok(ProjectCommand::AssignReferent { person: person(&input.person_id)? })
    }

    link_project_academie(input: LinkProjectAcademieInput) -> LinkProjectAcademiePayload {
        Ok(ProjectCommand::LinkAcademie { code: academie(&input.academie_code)? })
    }

    unlink_project_academie(input: UnlinkProjectAcademieInput) -> UnlinkProjectAcademiePayload {
        // a historical code may be unlinked: it is read as stored, not parsed as new
        Ok(ProjectCommand::UnlinkAcademie {
            code: field("academieCode", AcademieCode::from_stored(&input.academie_code))?,
        })
    }

    link_project_establishment(input: LinkProjectEstablishmentInput) -> LinkProjectEstablishmentPayload {
        Ok(ProjectCommand::LinkEstablishment { uai: field("uai", Uai::parse(&input.uai))? })
    }

    /// Closes the open phase and opens the next (phases only move forward).
    start_project_phase(input: StartProjectPhaseInput) -> StartProjectPhasePayload {
        Ok(ProjectCommand::StartPhase { phase: input.phase.into(), on: day(input.on) })
    }

    record_project_review(input: RecordProjectReviewInput) -> RecordProjectReviewPayload {
        Ok(ProjectCommand::RecordReview {
            decision: input.decision.into(),
            held_on: day(input.held_on),
            notes: optional("notes", input.notes.as_deref(), LongText::parse)?,
        })
    }

    record_project_milestone(input: RecordProjectMilestoneInput) -> RecordProjectMilestonePayload {
        Ok(ProjectCommand::RecordMilestone {
            title: field("title", Title::parse(&input.title))?,
            on: day(input.on),
        })
    }

    update_project_progress(input: UpdateProjectProgressInput) -> UpdateProjectProgressPayload {
        Ok(ProjectCommand::UpdateProgress { progress: field("progress", Progress::new(input.progress))? })
    }

    record_project_impact_indicator(input: RecordProjectImpactIndicatorInput) -> RecordProjectImpactIndicatorPayload {
        Ok(ProjectCommand::RecordImpactIndicator {
            name: field("name", Label::parse(&input.name))?,
            value: input.value,
            unit: field("unit", Label::parse(&input.unit))?,
            measured_on: day(input.measured_on),
        })
    }

    /// `ACTIVE` → `PAUSED`; the open phase stays open.
    pause_project(input: PauseProjectInput) -> PauseProjectPayload {
        Ok(ProjectCommand::PauseProject {
            on: day(input.on),
            reason: reason(&input.reason)?,
        })
    }

    /// `PAUSED` → `ACTIVE`.
    resume_project(input: ResumeProjectInput) -> ResumeProjectPayload {
        Ok(ProjectCommand::ResumeProject { on: day(input.on) })
    }

    /// The project is taken over (pérennisé): `ACTIVE` → `TRANSFERRED`.
    transfer_project(input: TransferProjectInput) -> TransferProjectPayload {
        Ok(ProjectCommand::TransferProject {
            on: day(input.on),
            to: field("to", Label::parse(&input.to))?,
            notes: optional("notes", input.notes.as_deref(), LongText::parse)?,
        })
    }

    abandon_project(input: AbandonProjectInput) -> AbandonProjectPayload {
        Ok(ProjectCommand::AbandonProject {
            on: day(input.on),
            reason_code: input.reason_code.into(),
            explanation: field("explanation", LongText::parse(&input.explanation))?,
        })
    }

    /// Makes the project visible to `READER`s.
    publish_project(input: PublishProjectInput) -> PublishProjectPayload {
        Ok(ProjectCommand::PublishProject)
    }

    unpublish_project(input: UnpublishProjectInput) -> UnpublishProjectPayload {
        Ok(ProjectCommand::UnpublishProject)
    }

    /// The only way out of a terminal state, with its reason on record.
    reopen_project(input: ReopenProjectInput) -> ReopenProjectPayload {
        Ok(ProjectCommand::ReopenProject {
            on: day(input.on),
            reason: reason(&input.reason)?,
        })
    }
}
