//! How a fact changes a session's state. `evolve` never fails and decides nothing: every check
//! was made by `decide` before the fact was recorded.

use super::{AgendaItem, FollowUpAction, Report, Satisfaction, SessionEvent, SessionState, SessionStatus as S};

/// [`crate::Decider::evolve`] for [`super::Session`].
pub(super) fn evolve(mut state: SessionState, event: &SessionEvent) -> SessionState {
    use SessionEvent as E;
    match event {
        E::SessionRequested { id, details } => {
            state.id = Some(*id);
            state.status = Some(S::Requested);
            state.details = Some(details.clone());
        }
        E::SessionScopingStarted { .. } => state.status = Some(S::Scoping),
        E::SessionDeclined { reason, on } => {
            state.status = Some(S::Declined);
            state.end_reason = Some(reason.clone());
            state.ended_on = Some(*on);
        }
        E::SessionWithdrawn { reason, on } => {
            state.status = Some(S::Withdrawn);
            state.end_reason = Some(reason.clone());
            state.ended_on = Some(*on);
        }
        E::FacilitatorAssigned { facilitator } => {
            state.facilitators.insert(*facilitator);
        }
        E::FacilitatorUnassigned { facilitator } => {
            state.facilitators.remove(facilitator);
        }
        E::SessionScheduled { schedule, location, mode, capacity }
        | E::SessionRescheduled { schedule, location, mode, capacity } => {
            state.status = Some(S::Scheduled);
            state.schedule = Some(*schedule);
            state.location = Some(location.clone());
            state.mode = Some(*mode);
            state.capacity = Some(*capacity);
        }
        E::SessionCancelled { reason, on } => {
            state.status = Some(S::Cancelled);
            state.end_reason = Some(reason.clone());
            state.ended_on = Some(*on);
        }
        E::AgendaItemAdded { item_id, label, at } => {
            state.agenda.push(AgendaItem { id: *item_id, label: label.clone(), at: *at });
            state.last_agenda_item_id = state.last_agenda_item_id.max(*item_id);
        }
        E::AgendaItemRemoved { item_id } => state.agenda.retain(|i| i.id != *item_id),
        E::ParticipantRegistered { participant, profile } => {
            state.registrations.insert(*participant, profile.clone());
        }
        E::RegistrationCancelled { participant } => {
            state.registrations.remove(participant);
        }
        E::SessionHeld { at } => {
            state.status = Some(S::Held);
            state.held_at = Some(*at);
        }
        E::AttendanceRecorded { attendance } => state.attendance = Some(attendance.clone()),
        E::SessionReportPublished { report, on } => {
            state.report = Some(Report { text: report.clone(), published_on: *on });
        }
        E::FollowUpActionRecorded { action_id, description, due } => {
            state.follow_up_actions.push(FollowUpAction {
                id: *action_id,
                description: description.clone(),
                due: *due,
                completed_on: None,
            });
        }
        E::FollowUpActionCompleted { action_id, on } => {
            if let Some(action) = state.follow_up_actions.iter_mut().find(|a| a.id == *action_id) {
                action.completed_on = Some(*on);
            }
        }
        E::SatisfactionSurveyRecorded { respondents, mean } => {
            state.satisfaction = Some(Satisfaction { respondents: *respondents, mean: *mean });
        }
        E::SessionLinkedToProject { project } => {
            state.linked_projects.insert(*project);
        }
        E::SessionClosed { on } => {
            state.status = Some(S::Closed);
            state.ended_on = Some(*on);
        }
    }
    state
}
