//! Tests of the project aggregate, one file per part of its life; this file holds the fixtures:
//! one project, submitted on 5 January 2026, accepted on 1 February.

use super::*;
use crate::RejectionKind;
use crate::decider::Decider;
use crate::testing::{aca, check_event_types, check_snapshot, given, person, records, refused_by, text, uai};
use crate::values::Text;
use ProjectCommand as C;
use ProjectEvent as E;
use ProjectStatus as S;

mod details;
mod ending;
mod events;
mod follow_up;
mod phases;
mod properties;
mod submission;
mod transitions;

const PROJECT: ProjectId = ProjectId(uuid::Uuid::from_u128(0x110b));

fn day(raw: &str) -> NaiveDate {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap()
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
/// `command`, on a project with the history `before`, records exactly what the fixture `after`
/// holds beyond it: the state it leaves.
#[track_caller]
fn becomes(before: Vec<ProjectEvent>, command: ProjectCommand, after: Vec<ProjectEvent>) -> ProjectState {
    let recorded = after.strip_prefix(before.as_slice()).expect("`after` goes on from `before`").to_vec();
    given::<Project>(before).when(command).then(recorded)
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
