//! Project mutations: one per `ProjectCommand` (DESIGN §4.1).

use super::{Change, day, field, list, optional, payloads, person_id as person};
use crate::graphql::error::ApiError;
use crate::graphql::ids::Kind;
use crate::graphql::project::{Phase, Project, SupportMode, visible_project};
use async_graphql::{Context, Enum, ID, InputObject, Object};
use carnet_domain::project::{Project as ProjectDecider, ProjectCommand};
use carnet_domain::reference::ReferenceKind;
use carnet_domain::values::{AcademieCode, Label, LongText, Progress, ProjectId, ProjectReference, Title, Uai};
use chrono::{Datelike, NaiveDate};
use std::collections::BTreeSet;

const NOT_FOUND: &str = "ce projet n'existe pas";

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

/// Declares the input of a mutation on an existing project: the client's mutation id, the
/// project, the version the client saw, then the mutation's own fields.
macro_rules! project_input {
    ($($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $f:ident : $t:ty),* $(,)? })*) => {
        $(
            $(#[$m])*
            #[derive(InputObject)]
            pub struct $name {
                client_mutation_id: Option<String>,
                project_id: ID,
                /// The version you saw: `CONFLICT` if the project changed since. Omit it to
                /// apply the change to the latest version.
                expected_version: Option<i64>,
                $($(#[$fm])* $f: $t,)*
            }
        )*
    };
}

project_input! {
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

/// Runs `build`'s command on project `project_id` for a writer and returns the project after
/// it, with the client's mutation id.
async fn change(
    ctx: &Context<'_>,
    client_mutation_id: Option<String>,
    project_id: &ID,
    expected_version: Option<i64>,
    build: impl FnOnce() -> Result<ProjectCommand, ApiError>,
) -> async_graphql::Result<(Option<String>, Project)> {
    let change = Change::begin(ctx, client_mutation_id)?;
    let id = change.target(Kind::Project, project_id, NOT_FOUND)?;
    change.execute::<ProjectDecider>(id, expected_version, build).await?;
    finish(change, id).await
}

async fn finish(change: Change<'_>, id: uuid::Uuid) -> async_graphql::Result<(Option<String>, Project)> {
    let project = visible_project(&change.caller, id).await?.ok_or_else(|| change.caller.not_found(NOT_FOUND))?;
    Ok((change.client_mutation_id, project))
}

fn academie(code: &str) -> Result<AcademieCode, ApiError> {
    field("academieCode", AcademieCode::parse(code))
}

#[derive(Default)]
pub struct ProjectMutation;

#[Object]
impl ProjectMutation {
    /// Records a new project request; it starts `SUBMITTED` with the next reference of its year.
    async fn submit_project(
        &self,
        ctx: &Context<'_>,
        input: SubmitProjectInput,
    ) -> async_graphql::Result<SubmitProjectPayload> {
        let change = Change::begin(ctx, input.client_mutation_id.clone())?;
        let submitted_on = day(input.submitted_on);
        // a retried mutation must find the project it created: its id follows from the command id
        let id = match input.client_mutation_id {
            Some(_) => uuid::Uuid::new_v5(&change.metadata.command_id, b"project"),
            None => uuid::Uuid::now_v7(),
        };
        let parts = (|| -> Result<_, ApiError> {
            Ok((
                field("title", Title::parse(&input.title))?,
                field("problemStatement", LongText::parse(&input.problem_statement))?,
                optional("summary", input.summary.as_deref(), LongText::parse)?,
                list("academieCodes", &input.academie_codes, AcademieCode::parse)?.into_iter().collect::<BTreeSet<_>>(),
                list("themes", &input.themes, Label::parse)?,
                list("targetUsers", &input.target_users, Label::parse)?,
            ))
        })()
        .map_err(|e| change.fail(e))?;
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
        lab.create_numbered::<ProjectDecider>(ReferenceKind::Project, submitted_on.year(), id, build, &change.metadata)
            .await
            .map_err(|e| change.fail(e))?;
        let (client_mutation_id, project) = finish(change, id).await?;
        Ok(SubmitProjectPayload::new(client_mutation_id, project))
    }

    async fn update_project_details(
        &self,
        ctx: &Context<'_>,
        input: UpdateProjectDetailsInput,
    ) -> async_graphql::Result<UpdateProjectDetailsPayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::UpdateProjectDetails {
                title: field("title", Title::parse(&input.title))?,
                problem_statement: field("problemStatement", LongText::parse(&input.problem_statement))?,
                summary: optional("summary", input.summary.as_deref(), LongText::parse)?,
                themes: list("themes", &input.themes, Label::parse)?,
                target_users: list("targetUsers", &input.target_users, Label::parse)?,
            })
        })
        .await?;
        Ok(UpdateProjectDetailsPayload::new(m, p))
    }

    /// `SUBMITTED` → `QUALIFYING`.
    async fn start_project_qualification(
        &self,
        ctx: &Context<'_>,
        input: StartProjectQualificationInput,
    ) -> async_graphql::Result<StartProjectQualificationPayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::StartQualification { on: day(input.on) })
        })
        .await?;
        Ok(StartProjectQualificationPayload::new(m, p))
    }

    /// `QUALIFYING` → `ACTIVE`, in its first phase.
    async fn accept_project(
        &self,
        ctx: &Context<'_>,
        input: AcceptProjectInput,
    ) -> async_graphql::Result<AcceptProjectPayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::AcceptProject { on: day(input.on), support_mode: input.support_mode.into() })
        })
        .await?;
        Ok(AcceptProjectPayload::new(m, p))
    }

    /// `QUALIFYING` → `DECLINED`.
    async fn decline_project(
        &self,
        ctx: &Context<'_>,
        input: DeclineProjectInput,
    ) -> async_graphql::Result<DeclineProjectPayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::DeclineProject {
                on: day(input.on),
                reason: field("reason", LongText::parse(&input.reason))?,
            })
        })
        .await?;
        Ok(DeclineProjectPayload::new(m, p))
    }

    /// The holders withdraw their request (`SUBMITTED` or `QUALIFYING` → `WITHDRAWN`).
    async fn withdraw_project(
        &self,
        ctx: &Context<'_>,
        input: WithdrawProjectInput,
    ) -> async_graphql::Result<WithdrawProjectPayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::WithdrawProject {
                on: day(input.on),
                reason: field("reason", LongText::parse(&input.reason))?,
            })
        })
        .await?;
        Ok(WithdrawProjectPayload::new(m, p))
    }

    async fn add_project_holder(
        &self,
        ctx: &Context<'_>,
        input: AddProjectHolderInput,
    ) -> async_graphql::Result<AddProjectHolderPayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::AddHolder {
                person: person(&input.person_id)?,
                role: field("role", Label::parse(&input.role))?,
                affiliation: optional("affiliation", input.affiliation.as_deref(), Label::parse)?,
            })
        })
        .await?;
        Ok(AddProjectHolderPayload::new(m, p))
    }

    async fn remove_project_holder(
        &self,
        ctx: &Context<'_>,
        input: RemoveProjectHolderInput,
    ) -> async_graphql::Result<RemoveProjectHolderPayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::RemoveHolder { person: person(&input.person_id)? })
        })
        .await?;
        Ok(RemoveProjectHolderPayload::new(m, p))
    }

    /// A member of the lab team follows the project.
    async fn assign_project_referent(
        &self,
        ctx: &Context<'_>,
        input: AssignProjectReferentInput,
    ) -> async_graphql::Result<AssignProjectReferentPayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::AssignReferent { person: person(&input.person_id)? })
        })
        .await?;
        Ok(AssignProjectReferentPayload::new(m, p))
    }

    async fn link_project_academie(
        &self,
        ctx: &Context<'_>,
        input: LinkProjectAcademieInput,
    ) -> async_graphql::Result<LinkProjectAcademiePayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::LinkAcademie { code: academie(&input.academie_code)? })
        })
        .await?;
        Ok(LinkProjectAcademiePayload::new(m, p))
    }

    async fn unlink_project_academie(
        &self,
        ctx: &Context<'_>,
        input: UnlinkProjectAcademieInput,
    ) -> async_graphql::Result<UnlinkProjectAcademiePayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            // a historical code may be unlinked: it is read as stored, not parsed as new
            Ok(ProjectCommand::UnlinkAcademie {
                code: field("academieCode", AcademieCode::from_stored(&input.academie_code))?,
            })
        })
        .await?;
        Ok(UnlinkProjectAcademiePayload::new(m, p))
    }

    async fn link_project_establishment(
        &self,
        ctx: &Context<'_>,
        input: LinkProjectEstablishmentInput,
    ) -> async_graphql::Result<LinkProjectEstablishmentPayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::LinkEstablishment { uai: field("uai", Uai::parse(&input.uai))? })
        })
        .await?;
        Ok(LinkProjectEstablishmentPayload::new(m, p))
    }

    /// Closes the open phase and opens the next (phases only move forward).
    async fn start_project_phase(
        &self,
        ctx: &Context<'_>,
        input: StartProjectPhaseInput,
    ) -> async_graphql::Result<StartProjectPhasePayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::StartPhase { phase: input.phase.into(), on: day(input.on) })
        })
        .await?;
        Ok(StartProjectPhasePayload::new(m, p))
    }

    async fn record_project_review(
        &self,
        ctx: &Context<'_>,
        input: RecordProjectReviewInput,
    ) -> async_graphql::Result<RecordProjectReviewPayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::RecordReview {
                decision: input.decision.into(),
                held_on: day(input.held_on),
                notes: optional("notes", input.notes.as_deref(), LongText::parse)?,
            })
        })
        .await?;
        Ok(RecordProjectReviewPayload::new(m, p))
    }

    async fn record_project_milestone(
        &self,
        ctx: &Context<'_>,
        input: RecordProjectMilestoneInput,
    ) -> async_graphql::Result<RecordProjectMilestonePayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::RecordMilestone {
                title: field("title", Title::parse(&input.title))?,
                on: day(input.on),
            })
        })
        .await?;
        Ok(RecordProjectMilestonePayload::new(m, p))
    }

    async fn update_project_progress(
        &self,
        ctx: &Context<'_>,
        input: UpdateProjectProgressInput,
    ) -> async_graphql::Result<UpdateProjectProgressPayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::UpdateProgress { progress: field("progress", Progress::new(input.progress))? })
        })
        .await?;
        Ok(UpdateProjectProgressPayload::new(m, p))
    }

    async fn record_project_impact_indicator(
        &self,
        ctx: &Context<'_>,
        input: RecordProjectImpactIndicatorInput,
    ) -> async_graphql::Result<RecordProjectImpactIndicatorPayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::RecordImpactIndicator {
                name: field("name", Label::parse(&input.name))?,
                value: input.value,
                unit: field("unit", Label::parse(&input.unit))?,
                measured_on: day(input.measured_on),
            })
        })
        .await?;
        Ok(RecordProjectImpactIndicatorPayload::new(m, p))
    }

    /// `ACTIVE` → `PAUSED`; the open phase stays open.
    async fn pause_project(
        &self,
        ctx: &Context<'_>,
        input: PauseProjectInput,
    ) -> async_graphql::Result<PauseProjectPayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::PauseProject {
                on: day(input.on),
                reason: field("reason", LongText::parse(&input.reason))?,
            })
        })
        .await?;
        Ok(PauseProjectPayload::new(m, p))
    }

    /// `PAUSED` → `ACTIVE`.
    async fn resume_project(
        &self,
        ctx: &Context<'_>,
        input: ResumeProjectInput,
    ) -> async_graphql::Result<ResumeProjectPayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::ResumeProject { on: day(input.on) })
        })
        .await?;
        Ok(ResumeProjectPayload::new(m, p))
    }

    /// The project is taken over (pérennisé): `ACTIVE` → `TRANSFERRED`.
    async fn transfer_project(
        &self,
        ctx: &Context<'_>,
        input: TransferProjectInput,
    ) -> async_graphql::Result<TransferProjectPayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::TransferProject {
                on: day(input.on),
                to: field("to", Label::parse(&input.to))?,
                notes: optional("notes", input.notes.as_deref(), LongText::parse)?,
            })
        })
        .await?;
        Ok(TransferProjectPayload::new(m, p))
    }

    async fn abandon_project(
        &self,
        ctx: &Context<'_>,
        input: AbandonProjectInput,
    ) -> async_graphql::Result<AbandonProjectPayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::AbandonProject {
                on: day(input.on),
                reason_code: input.reason_code.into(),
                explanation: field("explanation", LongText::parse(&input.explanation))?,
            })
        })
        .await?;
        Ok(AbandonProjectPayload::new(m, p))
    }

    /// Makes the project visible to `READER`s.
    async fn publish_project(
        &self,
        ctx: &Context<'_>,
        input: PublishProjectInput,
    ) -> async_graphql::Result<PublishProjectPayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::PublishProject)
        })
        .await?;
        Ok(PublishProjectPayload::new(m, p))
    }

    async fn unpublish_project(
        &self,
        ctx: &Context<'_>,
        input: UnpublishProjectInput,
    ) -> async_graphql::Result<UnpublishProjectPayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::UnpublishProject)
        })
        .await?;
        Ok(UnpublishProjectPayload::new(m, p))
    }

    /// The only way out of a terminal state, with its reason on record.
    async fn reopen_project(
        &self,
        ctx: &Context<'_>,
        input: ReopenProjectInput,
    ) -> async_graphql::Result<ReopenProjectPayload> {
        let (m, p) = change(ctx, input.client_mutation_id, &input.project_id, input.expected_version, || {
            Ok(ProjectCommand::ReopenProject {
                on: day(input.on),
                reason: field("reason", LongText::parse(&input.reason))?,
            })
        })
        .await?;
        Ok(ReopenProjectPayload::new(m, p))
    }
}
