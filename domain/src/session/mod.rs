//! # Session — a collaborative session (session collaborative, DESIGN §4.2)
//!
//! ```text
//! Requested ─scope─► Scoping ─schedule─► Scheduled ─hold─► Held ─close(report)─► Closed
//!    │   └─decline─► Declined          ├─reschedule─► Scheduled
//!    └─withdraw─► Withdrawn            └─cancel─► Cancelled
//! ```
//!
//! Closed, cancelled, declined and withdrawn are terminal, with one exception: the lab keeps
//! following up after a session closes, so follow-up actions may still be recorded and completed.
//!
//! Sessions refer to people by [`PersonId`] only (facilitators, registered participants); the
//! requester is an organisation, never a person. Attendance is anonymous: counts by profile,
//! organisations and académies.
//!
//! Files, in the order a command meets them:
//! - `command.rs`: what a user asks ([`SessionCommand`]);
//! - `decide.rs`: the rules, and the rejection each refusal names;
//! - `event.rs`: the facts recorded ([`SessionEvent`]) and their stored type names;
//! - `evolve.rs`: how a fact changes the [`SessionState`] (below, with its invariants);
//! - `vocabulary.rs`: the stored codes and their French labels;
//! - `tests/`: given/when/then tests of every rule, and a property test of the invariants.

mod command;
mod decide;
mod event;
mod evolve;
mod vocabulary;

#[cfg(test)]
mod tests;

pub use command::SessionCommand;
pub use event::SessionEvent;
pub use vocabulary::{RequesterKind, SessionFormat, SessionMode, SessionStatus};

use crate::decider::decider;
use crate::values::{AcademieCode, DateRange, Label, LongText, PersonId, ProjectId, SessionId, Title};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The session aggregate. Its [`Decider`](crate::Decider) is made of this folder's `decide` and `evolve`
/// by `decider!` (in `decider.rs`), on the next line.
pub struct Session;

decider! { Session: state SessionState, command SessionCommand, event SessionEvent, category "session", version 1 }

// ---------------------------------------------------------------------------------------------
// Values

/// Who asked for the session: an organisation, not a person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requester {
    pub organisation: Label,
    pub kind: RequesterKind,
}

/// What the request said; set once, by `SessionRequested`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDetails {
    /// e.g. `110B-S-2026-012`.
    pub reference: Label,
    pub title: Title,
    pub format: SessionFormat,
    /// The central question the session works on.
    pub objective: LongText,
    pub methods: Vec<Label>,
    pub requester: Requester,
    pub requested_on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgendaItem {
    /// Given by the session, from 1, never reused.
    pub id: u32,
    pub label: Label,
    pub at: Option<DateTime<Utc>>,
}

/// Who came: anonymous counts only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendance {
    pub count: u32,
    /// Participants by profile ("enseignant", "chef d'établissement"…); may cover only part of
    /// the count.
    pub by_profile: BTreeMap<Label, u32>,
    /// The attending organisations; never empty.
    pub organisations: Vec<Label>,
    pub academies: BTreeSet<AcademieCode>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub text: LongText,
    pub published_on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUpAction {
    /// Given by the session, from 1.
    pub id: u32,
    pub description: LongText,
    pub due: Option<NaiveDate>,
    pub completed_on: Option<NaiveDate>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Satisfaction {
    pub respondents: u32,
    /// Mean score, 1 to 5.
    pub mean: f64,
}

// ---------------------------------------------------------------------------------------------
// State

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct SessionState {
    /// `None` until requested.
    pub id: Option<SessionId>,
    /// `None` until requested.
    pub status: Option<SessionStatus>,
    pub details: Option<SessionDetails>,
    pub linked_projects: BTreeSet<ProjectId>,
    pub facilitators: BTreeSet<PersonId>,
    pub schedule: Option<DateRange>,
    pub location: Option<Label>,
    pub mode: Option<SessionMode>,
    /// Set when scheduled; at least 1.
    pub capacity: Option<u32>,
    pub agenda: Vec<AgendaItem>,
    /// The highest agenda item id ever given, so that a removed item's id is not reused.
    pub last_agenda_item_id: u32,
    /// Registered participants and their profile.
    pub registrations: BTreeMap<PersonId, Label>,
    pub held_at: Option<DateTime<Utc>>,
    pub attendance: Option<Attendance>,
    pub report: Option<Report>,
    pub follow_up_actions: Vec<FollowUpAction>,
    pub satisfaction: Option<Satisfaction>,
    /// Why the session was declined, withdrawn or cancelled.
    pub end_reason: Option<LongText>,
    /// When it was declined, withdrawn, cancelled or closed.
    pub ended_on: Option<NaiveDate>,
}

impl SessionState {
    /// What must hold whatever the history; the property test checks it after every command.
    pub fn check_invariants(&self) -> Result<(), String> {
        let capacity = self.capacity.unwrap_or(0);
        if self.registrations.len() as u64 > u64::from(capacity) {
            return Err(format!("{} registrations for a capacity of {capacity}", self.registrations.len()));
        }
        if self.capacity == Some(0) {
            return Err("capacity 0".into());
        }
        let Some(status) = self.status else {
            return if self.id.is_none() && self.details.is_none() {
                Ok(())
            } else {
                Err("a session without status has data".into())
            };
        };
        if self.id.is_none() || self.details.is_none() {
            return Err(format!("a {status:?} session has no id or details"));
        }
        if matches!(status, SessionStatus::Scheduled | SessionStatus::Held | SessionStatus::Closed)
            && (self.schedule.is_none() || self.capacity.is_none())
        {
            return Err(format!("a {status:?} session has no schedule or capacity"));
        }
        if status == SessionStatus::Closed && (self.report.is_none() || self.attendance.is_none()) {
            return Err("a closed session lacks its report or attendance".into());
        }
        if let Some(attendance) = &self.attendance
            && (attendance.count == 0 || attendance.organisations.is_empty())
        {
            return Err("attendance without count or organisations".into());
        }
        if let Some(satisfaction) = &self.satisfaction {
            let attending = self.attendance.as_ref().map_or(0, |a| a.count);
            if satisfaction.respondents == 0 || satisfaction.respondents > attending {
                return Err(format!("{} respondents for {attending} attending", satisfaction.respondents));
            }
            if !(1.0..=5.0).contains(&satisfaction.mean) {
                return Err(format!("satisfaction mean {} out of 1..=5", satisfaction.mean));
            }
        }
        let agenda_ids: BTreeSet<u32> = self.agenda.iter().map(|i| i.id).collect();
        if agenda_ids.len() != self.agenda.len() || agenda_ids.iter().any(|id| *id > self.last_agenda_item_id) {
            return Err("agenda item ids are not unique".into());
        }
        let action_ids: BTreeSet<u32> = self.follow_up_actions.iter().map(|a| a.id).collect();
        if action_ids.len() != self.follow_up_actions.len() {
            return Err("follow-up action ids are not unique".into());
        }
        Ok(())
    }

    fn next_follow_up_id(&self) -> u32 {
        self.follow_up_actions.iter().map(|a| a.id).max().unwrap_or(0) + 1
    }
}
