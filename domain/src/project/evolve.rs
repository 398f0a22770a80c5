//! How a fact changes a project's state. `evolve` never fails and decides nothing: every check
//! was made by `decide` before the fact was recorded, and an event read back from the log is
//! applied as it is.

use super::{
    Holder, ImpactIndicator, Milestone, PhaseSpan, ProjectEvent, ProjectState, ProjectStatus, Review, Visibility,
};

/// [`crate::Decider::evolve`] for [`super::Project`].
pub(super) fn evolve(mut state: ProjectState, event: &ProjectEvent) -> ProjectState {
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

/// Records the terminal status, and the status it ended from (which tells where a reopening leads).
fn close(state: &mut ProjectState, terminal: ProjectStatus) {
    state.status_before_terminal = state.status;
    state.status = Some(terminal);
}
