//! The facts of a session's life, as stored in the log (DESIGN §4.2). Each variant's name is its
//! event type, named once more by `event_types!` (in `decider.rs`) for the code that works on
//! stored events by type: renaming a variant is a schema change that needs an upcaster.

use super::{Attendance, SessionDetails, SessionMode};
use crate::decider::event_types;
use crate::values::{DateRange, Label, LongText, PersonId, ProjectId, SessionId};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The stored event types of DESIGN §4.2: a variant's name is its type in the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload")]
pub enum SessionEvent {
    SessionRequested { id: SessionId, details: SessionDetails },
    SessionScopingStarted { on: NaiveDate },
    SessionDeclined { reason: LongText, on: NaiveDate },
    SessionWithdrawn { reason: LongText, on: NaiveDate },
    FacilitatorAssigned { facilitator: PersonId },
    FacilitatorUnassigned { facilitator: PersonId },
    SessionScheduled { schedule: DateRange, location: Label, mode: SessionMode, capacity: u32 },
    SessionRescheduled { schedule: DateRange, location: Label, mode: SessionMode, capacity: u32 },
    SessionCancelled { reason: LongText, on: NaiveDate },
    AgendaItemAdded { item_id: u32, label: Label, at: Option<DateTime<Utc>> },
    AgendaItemRemoved { item_id: u32 },
    ParticipantRegistered { participant: PersonId, profile: Label },
    RegistrationCancelled { participant: PersonId },
    SessionHeld { at: DateTime<Utc> },
    AttendanceRecorded { attendance: Attendance },
    SessionReportPublished { report: LongText, on: NaiveDate },
    FollowUpActionRecorded { action_id: u32, description: LongText, due: Option<NaiveDate> },
    FollowUpActionCompleted { action_id: u32, on: NaiveDate },
    SatisfactionSurveyRecorded { respondents: u32, mean: f64 },
    SessionLinkedToProject { project: ProjectId },
    SessionClosed { on: NaiveDate },
}

event_types!(SessionEvent {
    SessionRequested => SESSION_REQUESTED,
    SessionScopingStarted => SESSION_SCOPING_STARTED,
    SessionDeclined => SESSION_DECLINED,
    SessionWithdrawn => SESSION_WITHDRAWN,
    FacilitatorAssigned => FACILITATOR_ASSIGNED,
    FacilitatorUnassigned => FACILITATOR_UNASSIGNED,
    SessionScheduled => SESSION_SCHEDULED,
    SessionRescheduled => SESSION_RESCHEDULED,
    SessionCancelled => SESSION_CANCELLED,
    AgendaItemAdded => AGENDA_ITEM_ADDED,
    AgendaItemRemoved => AGENDA_ITEM_REMOVED,
    ParticipantRegistered => PARTICIPANT_REGISTERED,
    RegistrationCancelled => REGISTRATION_CANCELLED,
    SessionHeld => SESSION_HELD,
    AttendanceRecorded => ATTENDANCE_RECORDED,
    SessionReportPublished => SESSION_REPORT_PUBLISHED,
    FollowUpActionRecorded => FOLLOW_UP_ACTION_RECORDED,
    FollowUpActionCompleted => FOLLOW_UP_ACTION_COMPLETED,
    SatisfactionSurveyRecorded => SATISFACTION_SURVEY_RECORDED,
    SessionLinkedToProject => SESSION_LINKED_TO_PROJECT,
    SessionClosed => SESSION_CLOSED,
});
