//! # Project (projet accompagné) — DESIGN §4.1
//!
//! A project asks the lab for support, is qualified, then accepted (or declined, or withdrawn by
//! its holder). Once accepted it goes through dated phases, forward only, until it is
//! transferred (pérennisé) or abandoned:
//!
//! ```text
//! Submitted ─start qualification─► Qualifying ─accept─► Active(phase) ─transfer─► Transferred
//!    │                                 └─decline─► Declined            ├─abandon─► Abandoned
//!    └─withdraw─► Withdrawn                                            └─pause─► Paused ─resume─► Active
//! ```
//!
//! Decisions worth knowing:
//! - a terminal project (Transferred, Abandoned, Declined, Withdrawn) refuses everything but an
//!   explicit, audited `ProjectReopened`: the log must show *that* and *why* a closed project
//!   came back;
//! - business dates travel in the commands, and no dated command may be dated before the latest
//!   lifecycle event (submission, qualification, acceptance, phase change, pause, resume, end,
//!   reopening), so the lifecycle reads in log order. Follow-up facts (reviews, milestones,
//!   impact measures) must not precede it either, but do not raise the bar themselves: a
//!   measure taken last month may be recorded after today's review;
//! - people appear only as [`PersonId`]: their names live in the `Person` aggregate.
//!
//! Files, in the order a command meets them:
//! - `command.rs`: what a user asks ([`ProjectCommand`]);
//! - `decide.rs`: the rules, and the rejection each refusal names;
//! - `event.rs`: the facts recorded ([`ProjectEvent`]) and their stored type names;
//! - `evolve.rs`: how a fact changes the [`ProjectState`] (below, with its invariants);
//! - `vocabulary.rs`: the stored codes and their French labels;
//! - `tests/`: given/when/then tests of every rule, and a property test of the invariants.

mod command;
mod decide;
mod event;
mod evolve;
mod vocabulary;

#[cfg(test)]
mod tests;

pub use command::ProjectCommand;
pub use event::ProjectEvent;
pub use vocabulary::{AbandonReason, Phase, ProjectStatus, ReviewDecision, SupportMode, Visibility};

use crate::decider::decider;
use crate::values::{AcademieCode, Label, LongText, PersonId, Progress, ProjectId, ProjectReference, Title, Uai};
use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The project aggregate. Its [`Decider`](crate::Decider) is made of this folder's `decide` and `evolve`
/// by `decider!` (in `decider.rs`), on the next line.
pub struct Project;

decider! { Project: state ProjectState, command ProjectCommand, event ProjectEvent, category "project", version 1 }

// ---------------------------------------------------------------------------------------------
// State

/// A holder (porteur de projet): the person is referred to by id only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub role: Label,
    pub affiliation: Option<Label>,
}

/// One phase of the dated phase history; `ended_on` is `None` while the phase is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseSpan {
    pub phase: Phase,
    pub started_on: NaiveDate,
    pub ended_on: Option<NaiveDate>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub decision: ReviewDecision,
    pub held_on: NaiveDate,
    pub notes: Option<LongText>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestone {
    pub title: Title,
    pub on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImpactIndicator {
    pub name: Label,
    pub value: f64,
    pub unit: Label,
    pub measured_on: NaiveDate,
}

/// What the decider knows of one project. Fields set by the submission are `None` before it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectState {
    /// `None`: the project has not been submitted yet (the stream is empty).
    pub status: Option<ProjectStatus>,
    pub id: Option<ProjectId>,
    pub reference: Option<ProjectReference>,
    pub title: Option<Title>,
    pub problem_statement: Option<LongText>,
    pub summary: Option<LongText>,
    pub support_mode: Option<SupportMode>,
    pub holders: BTreeMap<PersonId, Holder>,
    pub referents: BTreeSet<PersonId>,
    pub academies: BTreeSet<AcademieCode>,
    pub establishments: BTreeSet<Uai>,
    pub themes: Vec<Label>,
    pub target_users: Vec<Label>,
    pub phases: Vec<PhaseSpan>,
    pub progress: Option<Progress>,
    pub milestones: Vec<Milestone>,
    pub reviews: Vec<Review>,
    pub impact_indicators: Vec<ImpactIndicator>,
    pub visibility: Visibility,
    pub submitted_on: Option<NaiveDate>,
    pub accepted_on: Option<NaiveDate>,
    pub last_review_on: Option<NaiveDate>,
    /// The date of the latest lifecycle event: no dated command may go back before it.
    pub last_lifecycle_on: Option<NaiveDate>,
    /// The status the project had when it reached its terminal status (cleared on reopening):
    /// tells whether the project had been accepted, hence where a reopening leads.
    pub status_before_terminal: Option<ProjectStatus>,
}

impl ProjectState {
    /// The phase currently open, if any (none before acceptance, after the end, or when a
    /// reopened project has not resumed yet).
    pub fn open_phase(&self) -> Option<&PhaseSpan> {
        self.phases.iter().rev().find(|p| p.ended_on.is_none())
    }

    /// The six-month rule: an incubated project under support whose last review (or, failing
    /// one, its acceptance) is more than six calendar months before `today` is flagged.
    pub fn needs_review(&self, today: NaiveDate) -> bool {
        let under_support = matches!(self.status, Some(ProjectStatus::Active | ProjectStatus::Paused));
        if !under_support || self.support_mode != Some(SupportMode::Incubation) {
            return false;
        }
        let (Some(since), Some(limit)) =
            (self.last_review_on.or(self.accepted_on), today.checked_sub_months(Months::new(6)))
        else {
            return false;
        };
        since < limit
    }

    /// The invariants every reachable state keeps; the property test checks them after each
    /// accepted command. Returns what is broken, in words.
    pub fn check_invariants(&self) -> Result<(), String> {
        let Some(status) = self.status else {
            return if self.phases.is_empty() { Ok(()) } else { Err("phases before submission".into()) };
        };
        if self.academies.is_empty() {
            return Err("a submitted project has at least one académie".into());
        }
        let open = self.phases.iter().filter(|p| p.ended_on.is_none()).count();
        if open > 1 {
            return Err(format!("{open} open phases"));
        }
        for span in &self.phases {
            if span.ended_on.is_some_and(|end| end < span.started_on) {
                return Err(format!("phase {:?} ends before it starts", span.phase));
            }
        }
        for pair in self.phases.windows(2) {
            let (before, after) = (&pair[0], &pair[1]);
            let Some(ended) = before.ended_on else {
                return Err(format!("phase {:?} is open but is not the last one", before.phase));
            };
            if after.started_on < before.started_on || after.started_on < ended {
                return Err(format!("phase {:?} starts before phase {:?}", after.phase, before.phase));
            }
            if after.phase < before.phase {
                return Err(format!("phase order goes backward: {:?} after {:?}", after.phase, before.phase));
            }
        }
        // A pause keeps the phase open, so an open phase means ACTIVE or PAUSED, while ACTIVE
        // always has one.
        let supported = matches!(status, ProjectStatus::Active | ProjectStatus::Paused);
        if (status == ProjectStatus::Active && open != 1) || (open == 1 && !supported) {
            return Err(format!("status {status:?} with {open} open phase(s)"));
        }
        if status.is_terminal() && open > 0 {
            return Err(format!("terminal status {status:?} with an open phase"));
        }
        if matches!(status, ProjectStatus::Submitted | ProjectStatus::Qualifying) && !self.phases.is_empty() {
            return Err(format!("status {status:?} with a phase history"));
        }
        Ok(())
    }
}
