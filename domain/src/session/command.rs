//! What a user asks of a session. Every field is already a parsed value; dates and the current
//! time (`HoldSession { now }`) are given by the caller (the decider never reads a clock).

use super::{Attendance, SessionDetails, SessionMode};
use crate::values::{DateRange, Label, LongText, PersonId, ProjectId, SessionId};
use chrono::{DateTime, NaiveDate, Utc};

/// What a user asks of a session. In `RequestSession`, `seminars_already_held_this_year` is the
/// number of seminars this requester already held at the lab in the calendar year of the
/// request, counted by the caller from the log: a direction may hold one a year.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionCommand {
    RequestSession { id: SessionId, details: SessionDetails, seminars_already_held_this_year: u32 },
    StartScoping { on: NaiveDate },
    DeclineSession { reason: LongText, on: NaiveDate },
    WithdrawSession { reason: LongText, on: NaiveDate },
    AssignFacilitator { facilitator: PersonId },
    UnassignFacilitator { facilitator: PersonId },
    ScheduleSession { schedule: DateRange, location: Label, mode: SessionMode, capacity: u32 },
    RescheduleSession { schedule: DateRange, location: Label, mode: SessionMode, capacity: u32 },
    CancelSession { reason: LongText, on: NaiveDate },
    AddAgendaItem { label: Label, at: Option<DateTime<Utc>> },
    RemoveAgendaItem { item_id: u32 },
    RegisterParticipant { participant: PersonId, profile: Label },
    CancelRegistration { participant: PersonId },
    HoldSession { now: DateTime<Utc> },
    RecordAttendance { attendance: Attendance },
    PublishReport { report: LongText, on: NaiveDate },
    RecordFollowUpAction { description: LongText, due: Option<NaiveDate> },
    CompleteFollowUpAction { action_id: u32, on: NaiveDate },
    RecordSatisfactionSurvey { respondents: u32, mean: f64 },
    LinkToProject { project: ProjectId },
    CloseSession { on: NaiveDate },
}

impl SessionCommand {
    /// The reason the user gave, recorded in the metadata of the events ([`crate::Decider::reason`]).
    pub(super) fn reason(&self) -> Option<&str> {
        match self {
            Self::DeclineSession { reason, .. }
            | Self::WithdrawSession { reason, .. }
            | Self::CancelSession { reason, .. } => Some(reason.as_str()),
            _ => None,
        }
    }
}
