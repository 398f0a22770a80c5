//! The session's rules: `decide` answers a command with the events it records, or with the
//! [`Rejection`] naming the rule that refused it. Most rules are "only in these statuses"
//! ([`require`]); the others guard capacity, attendance, the report and the survey.

use super::{RequesterKind, Satisfaction, SessionCommand, SessionEvent, SessionFormat, SessionState, SessionStatus};
use crate::decider::{Rejection, refuse_if};

use SessionStatus as S;

/// Statuses in which the session is still being prepared or run.
const OPEN: &[SessionStatus] = &[S::Requested, S::Scoping, S::Scheduled, S::Held];

/// [`crate::Decider::decide`] for [`super::Session`].
pub(super) fn decide(state: &SessionState, command: &SessionCommand) -> Result<Vec<SessionEvent>, Rejection> {
    use SessionCommand as C;
    use SessionEvent as E;

    let Some(status) = state.status else {
        return match command {
            C::RequestSession { id, details, seminars_already_held_this_year } => {
                if details.format == SessionFormat::Seminar
                    && details.requester.kind == RequesterKind::Direction
                    && *seminars_already_held_this_year >= 1
                {
                    return Err(Rejection::input(
                        "session.one_seminar_per_year",
                        format!(
                            "une direction peut tenir un séminaire par an au lab : {} en a déjà tenu {} cette année",
                            details.requester.organisation, seminars_already_held_this_year
                        ),
                    ));
                }
                Ok(vec![E::SessionRequested { id: *id, details: details.clone() }])
            }
            _ => Err(Rejection::not_found("session.not_found", "cette session n'existe pas")),
        };
    };

    match command {
        C::RequestSession { .. } => {
            Err(Rejection::transition("session.already_exists", "cette session a déjà été demandée"))
        }
        C::StartScoping { on } => {
            require(status, &[S::Requested], "commencer le cadrage")?;
            Ok(vec![E::SessionScopingStarted { on: *on }])
        }
        C::DeclineSession { reason, on } => {
            require(status, &[S::Requested, S::Scoping], "ne pas retenir la session")?;
            Ok(vec![E::SessionDeclined { reason: reason.clone(), on: *on }])
        }
        C::WithdrawSession { reason, on } => {
            require(status, &[S::Requested, S::Scoping], "retirer la demande")?;
            Ok(vec![E::SessionWithdrawn { reason: reason.clone(), on: *on }])
        }
        C::AssignFacilitator { facilitator } => {
            require(status, OPEN, "affecter un animateur")?;
            refuse_if(
                state.facilitators.contains(facilitator),
                "session.facilitator_already_assigned",
                "cette personne anime déjà la session",
            )?;
            Ok(vec![E::FacilitatorAssigned { facilitator: *facilitator }])
        }
        C::UnassignFacilitator { facilitator } => {
            require(status, OPEN, "retirer un animateur")?;
            refuse_if(
                !state.facilitators.contains(facilitator),
                "session.facilitator_not_assigned",
                "cette personne n'anime pas la session",
            )?;
            Ok(vec![E::FacilitatorUnassigned { facilitator: *facilitator }])
        }
        C::ScheduleSession { schedule, location, mode, capacity } => {
            require(status, &[S::Scoping], "programmer la session")?;
            check_capacity(*capacity, state.registrations.len())?;
            Ok(vec![E::SessionScheduled {
                schedule: *schedule,
                location: location.clone(),
                mode: *mode,
                capacity: *capacity,
            }])
        }
        C::RescheduleSession { schedule, location, mode, capacity } => {
            require(status, &[S::Scheduled], "reprogrammer la session")?;
            check_capacity(*capacity, state.registrations.len())?;
            let unchanged = state.schedule == Some(*schedule)
                && state.location.as_ref() == Some(location)
                && state.mode == Some(*mode)
                && state.capacity == Some(*capacity);
            refuse_if(
                unchanged,
                "session.schedule_unchanged",
                "la nouvelle programmation est identique à l'actuelle : rien à modifier",
            )?;
            Ok(vec![E::SessionRescheduled {
                schedule: *schedule,
                location: location.clone(),
                mode: *mode,
                capacity: *capacity,
            }])
        }
        C::CancelSession { reason, on } => {
            require(status, &[S::Scheduled], "annuler la session")?;
            Ok(vec![E::SessionCancelled { reason: reason.clone(), on: *on }])
        }
        C::AddAgendaItem { label, at } => {
            require(status, &[S::Scoping, S::Scheduled], "modifier le déroulé")?;
            Ok(vec![E::AgendaItemAdded { item_id: state.last_agenda_item_id + 1, label: label.clone(), at: *at }])
        }
        C::RemoveAgendaItem { item_id } => {
            require(status, &[S::Scoping, S::Scheduled], "modifier le déroulé")?;
            refuse_if(
                !state.agenda.iter().any(|i| i.id == *item_id),
                "session.agenda_item_unknown",
                format!("le déroulé n'a pas de point n° {item_id}"),
            )?;
            Ok(vec![E::AgendaItemRemoved { item_id: *item_id }])
        }
        C::RegisterParticipant { participant, profile } => {
            require(status, &[S::Scheduled], "inscrire un participant")?;
            refuse_if(
                state.registrations.contains_key(participant),
                "session.already_registered",
                "cette personne est déjà inscrite à la session",
            )?;
            let capacity = state.capacity.unwrap_or(0);
            refuse_if(
                state.registrations.len() as u64 >= u64::from(capacity),
                "session.capacity_exceeded",
                format!("la session est complète ({capacity} places)"),
            )?;
            Ok(vec![E::ParticipantRegistered { participant: *participant, profile: profile.clone() }])
        }
        C::CancelRegistration { participant } => {
            require(status, &[S::Scheduled], "annuler une inscription")?;
            refuse_if(
                !state.registrations.contains_key(participant),
                "session.not_registered",
                "cette personne n'est pas inscrite à la session",
            )?;
            Ok(vec![E::RegistrationCancelled { participant: *participant }])
        }
        C::HoldSession { now } => {
            require(status, &[S::Scheduled], "déclarer la session tenue")?;
            refuse_if(
                state.schedule.is_none_or(|s| *now < s.start()),
                "session.not_started_yet",
                "la session n'a pas encore commencé : elle ne peut pas être déclarée tenue",
            )?;
            Ok(vec![E::SessionHeld { at: *now }])
        }
        C::RecordAttendance { attendance } => {
            require(status, &[S::Held], "enregistrer la participation")?;
            if attendance.count == 0 || attendance.organisations.is_empty() {
                return Err(Rejection::input(
                    "session.attendance_required",
                    "la participation indique le nombre de présents et les organisations présentes",
                ));
            }
            let by_profile: u64 = attendance.by_profile.values().map(|n| u64::from(*n)).sum();
            if by_profile > u64::from(attendance.count) {
                return Err(Rejection::input(
                    "session.attendance_breakdown_exceeds_count",
                    format!(
                        "la répartition par profil compte {by_profile} personnes pour {} présents",
                        attendance.count
                    ),
                ));
            }
            if let Some(satisfaction) = &state.satisfaction
                && satisfaction.respondents > attendance.count
            {
                return Err(Rejection::input(
                    "session.satisfaction_range",
                    format!(
                        "{} personnes ont répondu au questionnaire : il ne peut y avoir moins de présents",
                        satisfaction.respondents
                    ),
                ));
            }
            refuse_if(
                state.attendance.as_ref() == Some(attendance),
                "session.attendance_unchanged",
                "cette participation est déjà enregistrée",
            )?;
            Ok(vec![E::AttendanceRecorded { attendance: attendance.clone() }])
        }
        C::PublishReport { report, on } => {
            require(status, &[S::Held], "publier le compte-rendu")?;
            refuse_if(
                state.report.as_ref().is_some_and(|r| &r.text == report),
                "session.report_unchanged",
                "ce compte-rendu est déjà publié",
            )?;
            Ok(vec![E::SessionReportPublished { report: report.clone(), on: *on }])
        }
        C::RecordFollowUpAction { description, due } => {
            require(status, &[S::Held, S::Closed], "enregistrer une action de suivi")?;
            Ok(vec![E::FollowUpActionRecorded {
                action_id: state.next_follow_up_id(),
                description: description.clone(),
                due: *due,
            }])
        }
        C::CompleteFollowUpAction { action_id, on } => {
            require(status, &[S::Held, S::Closed], "terminer une action de suivi")?;
            let Some(action) = state.follow_up_actions.iter().find(|a| a.id == *action_id) else {
                return Err(Rejection::transition(
                    "session.follow_up_unknown",
                    format!("il n'y a pas d'action de suivi n° {action_id}"),
                ));
            };
            if let Some(done) = action.completed_on {
                return Err(Rejection::transition(
                    "session.follow_up_already_completed",
                    format!("l'action de suivi n° {action_id} est déjà terminée (le {done})"),
                ));
            }
            Ok(vec![E::FollowUpActionCompleted { action_id: *action_id, on: *on }])
        }
        C::RecordSatisfactionSurvey { respondents, mean } => {
            require(status, &[S::Held], "enregistrer le questionnaire de satisfaction")?;
            let Some(attendance) = &state.attendance else {
                return Err(Rejection::transition(
                    "session.attendance_required",
                    "enregistrez d'abord la participation : le questionnaire s'y rapporte",
                ));
            };
            if *respondents == 0 || *respondents > attendance.count || !(1.0..=5.0).contains(mean) {
                return Err(Rejection::input(
                    "session.satisfaction_range",
                    format!(
                        "le questionnaire compte entre 1 et {} répondants (les présents) et une note moyenne \
                         entre 1 et 5 (reçu {respondents} répondants, moyenne {mean})",
                        attendance.count
                    ),
                ));
            }
            let satisfaction = Satisfaction { respondents: *respondents, mean: *mean };
            refuse_if(
                state.satisfaction == Some(satisfaction),
                "session.satisfaction_unchanged",
                "ce questionnaire de satisfaction est déjà enregistré",
            )?;
            Ok(vec![E::SatisfactionSurveyRecorded { respondents: *respondents, mean: *mean }])
        }
        C::LinkToProject { project } => {
            require(status, OPEN, "lier la session à un projet")?;
            refuse_if(
                state.linked_projects.contains(project),
                "session.project_already_linked",
                "la session est déjà liée à ce projet",
            )?;
            Ok(vec![E::SessionLinkedToProject { project: *project }])
        }
        C::CloseSession { on } => {
            require(status, &[S::Held], "clôturer la session")?;
            refuse_if(
                state.report.is_none(),
                "session.report_required",
                "une session ne se clôture qu'une fois son compte-rendu publié",
            )?;
            refuse_if(
                state.attendance.is_none(),
                "session.attendance_required",
                "une session ne se clôture qu'avec le nombre de présents et les organisations présentes",
            )?;
            Ok(vec![E::SessionClosed { on: *on }])
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// Refuses `action` unless the session is in one of `allowed`.
fn require(status: SessionStatus, allowed: &[SessionStatus], action: &str) -> Result<(), Rejection> {
    if allowed.contains(&status) {
        Ok(())
    } else {
        Err(Rejection::transition(
            "session.invalid_transition",
            format!("impossible de {action} : la session est « {} »", status.label()),
        ))
    }
}

fn check_capacity(capacity: u32, registered: usize) -> Result<(), Rejection> {
    if capacity == 0 {
        return Err(Rejection::input(
            "session.capacity_required",
            "une session programmée doit indiquer sa capacité d'accueil (au moins une place)",
        ));
    }
    refuse_if(
        registered as u64 > u64::from(capacity),
        "session.capacity_exceeded",
        format!("{registered} participants sont déjà inscrits : la capacité ne peut pas descendre à {capacity}"),
    )?;
    Ok(())
}
