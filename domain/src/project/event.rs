//! The facts of a project's life, as stored in the log. Each variant's name is its event type
//! (DESIGN §4.1), named once more by `event_types!` (in `decider.rs`) for the code
//! that works on stored events by type: renaming a variant is a schema change that needs an
//! upcaster in the store.

use super::{AbandonReason, Phase, ProjectStatus, ReviewDecision, SupportMode};
use crate::decider::event_types;
use crate::values::{AcademieCode, Label, LongText, PersonId, Progress, ProjectId, ProjectReference, Title, Uai};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The facts of a project's life. The variant name is the event type stored in the log
/// (DESIGN §4.1): renaming one is a schema change.
// Every name starts with `Project` because these names are the stored contract, shared with
// the other aggregates' events in one log; clippy's suggestion to drop the prefix does not apply.
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload")]
pub enum ProjectEvent {
    ProjectSubmitted {
        id: ProjectId,
        reference: ProjectReference,
        title: Title,
        problem_statement: LongText,
        summary: Option<LongText>,
        support_mode: SupportMode,
        academies: BTreeSet<AcademieCode>,
        themes: Vec<Label>,
        target_users: Vec<Label>,
        submitted_on: NaiveDate,
    },
    ProjectDetailsUpdated {
        title: Title,
        problem_statement: LongText,
        summary: Option<LongText>,
        themes: Vec<Label>,
        target_users: Vec<Label>,
    },
    ProjectQualificationStarted {
        on: NaiveDate,
    },
    ProjectAccepted {
        on: NaiveDate,
        support_mode: SupportMode,
    },
    ProjectDeclined {
        on: NaiveDate,
        reason: LongText,
    },
    ProjectWithdrawn {
        on: NaiveDate,
        reason: LongText,
    },
    ProjectHolderAdded {
        person: PersonId,
        role: Label,
        affiliation: Option<Label>,
    },
    ProjectHolderRemoved {
        person: PersonId,
    },
    ProjectReferentAssigned {
        person: PersonId,
    },
    ProjectAcademieLinked {
        code: AcademieCode,
    },
    ProjectAcademieUnlinked {
        code: AcademieCode,
    },
    ProjectEstablishmentLinked {
        uai: Uai,
    },
    ProjectPhaseStarted {
        phase: Phase,
        on: NaiveDate,
    },
    ProjectPhaseEnded {
        phase: Phase,
        on: NaiveDate,
    },
    ProjectReviewHeld {
        decision: ReviewDecision,
        held_on: NaiveDate,
        notes: Option<LongText>,
    },
    ProjectMilestoneRecorded {
        title: Title,
        on: NaiveDate,
    },
    ProjectProgressUpdated {
        progress: Progress,
    },
    ProjectImpactIndicatorRecorded {
        name: Label,
        value: f64,
        unit: Label,
        measured_on: NaiveDate,
    },
    ProjectPaused {
        on: NaiveDate,
        reason: LongText,
    },
    ProjectResumed {
        on: NaiveDate,
    },
    ProjectTransferred {
        on: NaiveDate,
        to: Label,
        notes: Option<LongText>,
    },
    ProjectAbandoned {
        on: NaiveDate,
        reason_code: AbandonReason,
        explanation: LongText,
    },
    ProjectPublished {},
    ProjectUnpublished {},
    ProjectReopened {
        on: NaiveDate,
        reason: LongText,
        reopened_to: ProjectStatus,
    },
}

impl ProjectEvent {
    /// The date of a lifecycle event, which moves `last_lifecycle_on` forward. Follow-up facts
    /// (reviews, milestones, impact measures) are dated too but are not lifecycle events: they
    /// are checked against the bar without raising it.
    pub(super) fn lifecycle_date(&self) -> Option<NaiveDate> {
        use ProjectEvent as E;
        match self {
            E::ProjectSubmitted { submitted_on: on, .. }
            | E::ProjectQualificationStarted { on }
            | E::ProjectAccepted { on, .. }
            | E::ProjectDeclined { on, .. }
            | E::ProjectWithdrawn { on, .. }
            | E::ProjectPhaseStarted { on, .. }
            | E::ProjectPhaseEnded { on, .. }
            | E::ProjectPaused { on, .. }
            | E::ProjectResumed { on }
            | E::ProjectTransferred { on, .. }
            | E::ProjectAbandoned { on, .. }
            | E::ProjectReopened { on, .. } => Some(*on),
            E::ProjectDetailsUpdated { .. }
            | E::ProjectHolderAdded { .. }
            | E::ProjectHolderRemoved { .. }
            | E::ProjectReferentAssigned { .. }
            | E::ProjectAcademieLinked { .. }
            | E::ProjectAcademieUnlinked { .. }
            | E::ProjectEstablishmentLinked { .. }
            | E::ProjectReviewHeld { .. }
            | E::ProjectMilestoneRecorded { .. }
            | E::ProjectImpactIndicatorRecorded { .. }
            | E::ProjectProgressUpdated { .. }
            | E::ProjectPublished {}
            | E::ProjectUnpublished {} => None,
        }
    }
}

event_types!(ProjectEvent {
    ProjectSubmitted => PROJECT_SUBMITTED,
    ProjectDetailsUpdated => PROJECT_DETAILS_UPDATED,
    ProjectQualificationStarted => PROJECT_QUALIFICATION_STARTED,
    ProjectAccepted => PROJECT_ACCEPTED,
    ProjectDeclined => PROJECT_DECLINED,
    ProjectWithdrawn => PROJECT_WITHDRAWN,
    ProjectHolderAdded => PROJECT_HOLDER_ADDED,
    ProjectHolderRemoved => PROJECT_HOLDER_REMOVED,
    ProjectReferentAssigned => PROJECT_REFERENT_ASSIGNED,
    ProjectAcademieLinked => PROJECT_ACADEMIE_LINKED,
    ProjectAcademieUnlinked => PROJECT_ACADEMIE_UNLINKED,
    ProjectEstablishmentLinked => PROJECT_ESTABLISHMENT_LINKED,
    ProjectPhaseStarted => PROJECT_PHASE_STARTED,
    ProjectPhaseEnded => PROJECT_PHASE_ENDED,
    ProjectReviewHeld => PROJECT_REVIEW_HELD,
    ProjectMilestoneRecorded => PROJECT_MILESTONE_RECORDED,
    ProjectProgressUpdated => PROJECT_PROGRESS_UPDATED,
    ProjectImpactIndicatorRecorded => PROJECT_IMPACT_INDICATOR_RECORDED,
    ProjectPaused => PROJECT_PAUSED,
    ProjectResumed => PROJECT_RESUMED,
    ProjectTransferred => PROJECT_TRANSFERRED,
    ProjectAbandoned => PROJECT_ABANDONED,
    ProjectPublished => PROJECT_PUBLISHED,
    ProjectUnpublished => PROJECT_UNPUBLISHED,
    ProjectReopened => PROJECT_REOPENED,
});

impl ProjectEvent {
    /// The event types that change the académies of a project already submitted: whoever
    /// filters projects by territory (the live feed) looks the project up again after one.
    pub const TERRITORY_CHANGES: &'static [&'static str] =
        &[Self::PROJECT_ACADEMIE_LINKED, Self::PROJECT_ACADEMIE_UNLINKED];
}
