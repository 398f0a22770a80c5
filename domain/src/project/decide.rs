//! The project's rules: `decide` answers a command with the events it records, or with the
//! [`Rejection`] naming the rule that refused it. An empty stream accepts only a submission; a
//! closed project accepts only a reopening; every dated command is checked against the latest
//! lifecycle date ([`require_date`]).

use super::{Phase, ProjectCommand, ProjectEvent, ProjectState, ProjectStatus, Visibility};
use crate::decider::{Rejection, refuse_if};
use crate::values::{AcademieCode, Label};
use chrono::NaiveDate;
use std::collections::BTreeSet;

/// [`crate::Decider::decide`] for [`super::Project`].
pub(super) fn decide(state: &ProjectState, command: &ProjectCommand) -> Result<Vec<ProjectEvent>, Rejection> {
    match state.status {
        None => decide_submission(command),
        Some(status) => decide_existing(state, status, command),
    }
}

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
            refuse_if(
                unchanged,
                "project.details_unchanged",
                "La description envoyée est identique à celle du projet : rien à enregistrer.",
            )?;
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
            refuse_if(
                state.holders.contains_key(person),
                "project.holder_already_added",
                "Cette personne est déjà porteuse du projet.",
            )?;
            Ok(vec![E::ProjectHolderAdded { person: *person, role: role.clone(), affiliation: affiliation.clone() }])
        }
        C::RemoveHolder { person } => {
            refuse_if(
                !state.holders.contains_key(person),
                "project.holder_not_found",
                "Cette personne n'est pas porteuse du projet : rien à retirer.",
            )?;
            Ok(vec![E::ProjectHolderRemoved { person: *person }])
        }
        C::AssignReferent { person } => {
            refuse_if(
                state.referents.contains(person),
                "project.referent_already_assigned",
                "Cette personne est déjà référente du lab pour ce projet.",
            )?;
            Ok(vec![E::ProjectReferentAssigned { person: *person }])
        }
        C::LinkAcademie { code } => {
            refuse_if(
                state.academies.contains(code),
                "project.academie_already_linked",
                format!("Le projet est déjà rattaché à l'académie de {}.", code.academie().name),
            )?;
            require_current_academie(code)?;
            Ok(vec![E::ProjectAcademieLinked { code: *code }])
        }
        C::UnlinkAcademie { code } => {
            refuse_if(
                !state.academies.contains(code),
                "project.academie_not_linked",
                format!("Le projet n'est pas rattaché à l'académie de {}.", code.academie().name),
            )?;
            if state.academies.len() == 1 {
                return Err(academie_required());
            }
            Ok(vec![E::ProjectAcademieUnlinked { code: *code }])
        }
        C::LinkEstablishment { uai } => {
            refuse_if(
                state.establishments.contains(uai),
                "project.establishment_already_linked",
                format!("Le projet est déjà rattaché à l'établissement {uai}."),
            )?;
            Ok(vec![E::ProjectEstablishmentLinked { uai: uai.clone() }])
        }
        C::StartPhase { phase, on } => {
            require_status(status, &[S::Active], command)?;
            let Some(current) = state.open_phase() else {
                // Unreachable by the invariants (ACTIVE ⇔ one open phase); refused rather
                // than panicking, should a damaged stream ever say otherwise.
                return Err(invalid_transition(status, command));
            };
            refuse_if(
                *phase <= current.phase,
                "project.phase_forward_only",
                format!(
                    "Le projet est en phase « {} » : les phases ne vont que de l'avant \
                 (Exploration, Prototypage, Expérimentation, Transfert), « {} » ne peut pas suivre.",
                    current.phase.label(),
                    phase.label()
                ),
            )?;
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
            refuse_if(state.visibility == Visibility::Public, "project.already_public", "Le projet est déjà public.")?;
            Ok(vec![E::ProjectPublished {}])
        }
        C::UnpublishProject => {
            refuse_if(
                state.visibility == Visibility::Internal,
                "project.already_internal",
                "Le projet n'est déjà visible qu'en interne.",
            )?;
            Ok(vec![E::ProjectUnpublished {}])
        }
        C::ReopenProject { on, reason } => {
            refuse_if(
                !status.is_terminal(),
                "project.not_terminal",
                format!("Le projet est au statut « {} » : seul un projet clos peut être rouvert.", status.label()),
            )?;
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
// Helpers

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
    refuse_if(
        status.is_terminal(),
        "project.terminal",
        format!(
            "Le projet est {} : plus rien ne peut y être enregistré, sauf une réouverture explicite.",
            status.label()
        ),
    )?;
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
