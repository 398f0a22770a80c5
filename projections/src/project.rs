//! The project read model (DESIGN §4.1, §5): one row per project with its current state, and
//! its phase history, holders, académies, establishments and themes.
//!
//! The batch machinery is the shared one of the private `model` module: this module says how an
//! event creates and changes a project (`create`, `change`: plain functions of the row and the
//! event, mirroring the decider's `evolve`), which table rows a project stands for (its columns
//! and child tables, each declared once; their types are the migrated tables') and how it reads
//! back.

mod query;

pub use crate::model::{Direction, MAX_PAGE_SIZE};
pub use query::*;

use crate::model::{
    Child, Model, Tables, Unique, code, column_pairs, fold_text, insert_sorted, records, sent_references, values,
};
use crate::sql::{self, Backend};
use crate::timeline::Timeline;
use carnet_domain::project::{Phase, Project, ProjectEvent, ProjectStatus, SupportMode, Visibility};
use carnet_store::RecordedEvent;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A project as the read model holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRow {
    pub id: Uuid,
    pub reference: String,
    pub title: String,
    /// Empty when a list left it out ([`ProjectPart`]).
    #[serde(default)]
    pub problem_statement: String,
    /// Empty when a list left it out ([`ProjectPart`]).
    #[serde(default)]
    pub summary: Option<String>,
    pub status: ProjectStatus,
    /// The open phase; `None` before acceptance, after the end, or when a reopened project has
    /// not resumed yet.
    pub phase: Option<Phase>,
    pub support_mode: SupportMode,
    pub progress: Option<u8>,
    pub visibility: Visibility,
    pub submitted_on: NaiveDate,
    pub accepted_on: Option<NaiveDate>,
    pub last_review_on: Option<NaiveDate>,
    /// The stream version of the last event applied: the entity's `version` in the API.
    pub version: u64,
    /// When the last event applied was recorded.
    pub updated_at: DateTime<Utc>,
    /// The global position of the last event applied.
    pub last_position: i64,
    /// The dated phase history, in order. This and the lists below are empty when a list left
    /// them out ([`ProjectPart`]).
    #[serde(default)]
    pub phases: Vec<PhaseRow>,
    /// Ordered by person id.
    #[serde(default)]
    pub holders: Vec<HolderRow>,
    /// Académie codes, sorted.
    #[serde(default)]
    pub academies: Vec<String>,
    /// UAIs, sorted.
    #[serde(default)]
    pub establishments: Vec<String>,
    /// In the order the project gives them.
    #[serde(default)]
    pub themes: Vec<String>,
}

/// The parts of a [`ProjectRow`] a list may leave out ([`crate::Fetch`]): the long texts and the
/// child lists, each a subquery or a long string per row. The rest of the row is always there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProjectPart {
    ProblemStatement,
    Summary,
    Phases,
    Holders,
    Academies,
    Establishments,
    Themes,
}

impl ProjectPart {
    pub const ALL: [ProjectPart; 7] = [
        Self::ProblemStatement,
        Self::Summary,
        Self::Phases,
        Self::Holders,
        Self::Academies,
        Self::Establishments,
        Self::Themes,
    ];

    /// Its key in the row's JSON, the field's name.
    fn key(self) -> &'static str {
        match self {
            Self::ProblemStatement => "problem_statement",
            Self::Summary => "summary",
            Self::Phases => "phases",
            Self::Holders => "holders",
            Self::Academies => "academies",
            Self::Establishments => "establishments",
            Self::Themes => "themes",
        }
    }
}

/// A project row as JSON text, over `project p`, without the parts in `omit`.
pub(crate) fn row_json(b: Backend, t: &Tables, omit: &[ProjectPart]) -> String {
    let kept = |key: &str| !omit.iter().any(|p| p.key() == key);
    let mut pairs = column_pairs("p", PROJECT_COLUMNS.iter().filter(|c| **c != "search_text" && kept(c)));
    let children = [
        ("phases", PHASES.array(b, t, "p", &PHASES.object(b), "c.seq")),
        ("holders", HOLDERS.array(b, t, "p", &HOLDERS.object(b), "c.person_id")),
        ("academies", ACADEMIES.array(b, t, "p", "c.academie_code", "c.academie_code")),
        ("establishments", ESTABLISHMENTS.array(b, t, "p", "c.uai", "c.uai")),
        ("themes", THEMES.array(b, t, "p", "c.theme", "c.position")),
    ];
    pairs.extend(children.into_iter().filter(|(key, _)| kept(key)));
    b.json_text(b.json_object(&pairs))
}

/// One phase of the history; `ended_on` is `None` while it is open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseRow {
    /// 1, 2, … in the order the phases started.
    pub seq: u32,
    pub phase: Phase,
    pub started_on: NaiveDate,
    pub ended_on: Option<NaiveDate>,
}

/// A holder (porteur): a person by opaque id, never a name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolderRow {
    pub person_id: Uuid,
    pub role: String,
    pub affiliation: Option<String>,
}

fn search_text(p: &ProjectRow) -> String {
    let mut parts = vec![p.reference.as_str(), &p.title, &p.problem_statement];
    parts.extend(p.summary.as_deref());
    parts.extend(p.themes.iter().map(String::as_str));
    fold_text(&parts.join("\n"))
}

// ---------------------------------------------------------------------------------------------
// Tables

/// Columns of `project` as written (their types are the migrated table's).
const PROJECT_COLUMNS: &[&str] = &[
    "id",
    "reference",
    "title",
    "problem_statement",
    "summary",
    "status",
    "phase",
    "support_mode",
    "progress",
    "visibility",
    "submitted_on",
    "accepted_on",
    "last_review_on",
    "version",
    "updated_at",
    "last_position",
    "search_text",
];

/// The dated phase history, in order.
const PHASES: Child<ProjectRow> = Child {
    table: "project_phase",
    columns: &["project_id", "seq", "phase", "started_on", "ended_on"],
    rows: |p| records(&p.phases),
};

const HOLDERS: Child<ProjectRow> = Child {
    table: "project_holder",
    columns: &["project_id", "person_id", "role", "affiliation"],
    rows: |p| records(&p.holders),
};

const ACADEMIES: Child<ProjectRow> = Child {
    table: "project_academie",
    columns: &["project_id", "academie_code"],
    rows: |p| values("academie_code", &p.academies),
};

const ESTABLISHMENTS: Child<ProjectRow> = Child {
    table: "project_establishment",
    columns: &["project_id", "uai"],
    rows: |p| values("uai", &p.establishments),
};

/// In the order the project gives them (`position`).
const THEMES: Child<ProjectRow> = Child {
    table: "project_theme",
    columns: &["project_id", "theme", "position"],
    rows: |p| {
        let row = |(i, theme): (usize, &String)| serde_json::json!({ "theme": theme, "position": i });
        p.themes.iter().enumerate().map(row).collect()
    },
};

/// The main table's columns the indicators count, as [`Model::main_row`] writes them (it
/// starts from these): what the project's timeline keeps, computed apart because the
/// projector compares them after every event.
fn counted(p: &ProjectRow) -> serde_json::Value {
    serde_json::json!({
        "id": p.id,
        "status": code(&p.status),
        "phase": p.phase.as_ref().map(code),
        "support_mode": code(&p.support_mode),
        "submitted_on": p.submitted_on,
        "accepted_on": p.accepted_on,
    })
}

/// What the indicators count of a project, kept over time (`indicators(asOf)`).
const TIMELINES: &[Timeline<ProjectRow>] = &[
    Timeline {
        name: "project_timeline",
        columns: &["id", "status", "phase", "support_mode", "submitted_on", "accepted_on"],
        rows: |p| vec![counted(p)],
    },
    Timeline::of_child(&ACADEMIES, "project_academie_timeline"),
];

/// The project read model, for the shared machinery of [`crate::model`].
pub(crate) struct ProjectModel;

impl Model for ProjectModel {
    type Row = ProjectRow;
    type Stored = ProjectRow;
    type Aggregate = Project;
    const COLUMNS: &'static [&'static str] = PROJECT_COLUMNS;
    const CHILDREN: &'static [Child<ProjectRow>] = &[PHASES, HOLDERS, ACADEMIES, ESTABLISHMENTS, THEMES];
    const ID: &'static str = "p.id";
    const TIMELINES: &'static [Timeline<ProjectRow>] = TIMELINES;
    /// A second project with a reference already taken is refused in words.
    const UNIQUE: &'static [Unique<ProjectRow>] = &[Unique {
        constraint: "project_reference_key",
        table: "project",
        column: "reference",
        rule: "project.reference_taken",
        message: |new| {
            let references = sent_references(new.iter().map(|p| p.reference.as_str()));
            format!("la référence de projet {references} est déjà celle d'un autre projet")
        },
    }];

    fn select(b: Backend, t: &Tables) -> String {
        format!("select {} from {} p", row_json(b, t, &[]), t.of("project"))
    }

    fn create(id: Uuid, recorded: &RecordedEvent, event: &ProjectEvent) -> Option<ProjectRow> {
        use {ProjectEvent as E, ProjectStatus as S};
        let E::ProjectSubmitted {
            reference,
            title,
            problem_statement,
            summary,
            support_mode,
            academies,
            themes,
            submitted_on,
            ..
        } = event
        else {
            return None;
        };
        Some(ProjectRow {
            id,
            reference: reference.as_str().to_owned(),
            title: title.as_str().to_owned(),
            problem_statement: problem_statement.as_str().to_owned(),
            summary: summary.as_ref().map(|s| s.as_str().to_owned()),
            status: S::Submitted,
            phase: None,
            support_mode: *support_mode,
            progress: None,
            visibility: Visibility::default(),
            submitted_on: *submitted_on,
            accepted_on: None,
            last_review_on: None,
            version: 0,
            updated_at: recorded.recorded_at,
            last_position: recorded.global_position,
            phases: vec![],
            holders: vec![],
            academies: academies.iter().map(|c| c.as_str().to_owned()).collect(),
            establishments: vec![],
            themes: themes.iter().map(|t| t.as_str().to_owned()).collect(),
        })
    }

    fn change(p: &mut ProjectRow, _recorded: &RecordedEvent, event: &ProjectEvent) {
        use {ProjectEvent as E, ProjectStatus as S};
        match event {
            E::ProjectSubmitted { .. } => {}
            E::ProjectDetailsUpdated { title, problem_statement, summary, themes, .. } => {
                p.title = title.as_str().to_owned();
                p.problem_statement = problem_statement.as_str().to_owned();
                p.summary = summary.as_ref().map(|s| s.as_str().to_owned());
                p.themes = themes.iter().map(|t| t.as_str().to_owned()).collect();
            }
            E::ProjectQualificationStarted { .. } => p.status = S::Qualifying,
            E::ProjectAccepted { on, support_mode } => {
                p.status = S::Active;
                p.support_mode = *support_mode;
                p.accepted_on = Some(*on);
            }
            E::ProjectDeclined { .. } => p.status = S::Declined,
            E::ProjectWithdrawn { .. } => p.status = S::Withdrawn,
            E::ProjectHolderAdded { person, role, affiliation } => {
                let holder = HolderRow {
                    person_id: person.0,
                    role: role.as_str().to_owned(),
                    affiliation: affiliation.as_ref().map(|a| a.as_str().to_owned()),
                };
                match p.holders.binary_search_by_key(&person.0, |h| h.person_id) {
                    Ok(at) => p.holders[at] = holder,
                    Err(at) => p.holders.insert(at, holder),
                }
            }
            E::ProjectHolderRemoved { person } => p.holders.retain(|h| h.person_id != person.0),
            E::ProjectAcademieLinked { code } => insert_sorted(&mut p.academies, code.as_str().to_owned()),
            E::ProjectAcademieUnlinked { code } => p.academies.retain(|c| c != code.as_str()),
            E::ProjectEstablishmentLinked { uai } => insert_sorted(&mut p.establishments, uai.as_str().to_owned()),
            E::ProjectPhaseStarted { phase, on } => {
                let seq = p.phases.len() as u32 + 1;
                p.phases.push(PhaseRow { seq, phase: *phase, started_on: *on, ended_on: None });
            }
            E::ProjectPhaseEnded { on, .. } => {
                if let Some(open) = p.phases.iter_mut().rev().find(|f| f.ended_on.is_none()) {
                    open.ended_on = Some(*on);
                }
            }
            E::ProjectReviewHeld { held_on, .. } => p.last_review_on = p.last_review_on.max(Some(*held_on)),
            E::ProjectProgressUpdated { progress } => p.progress = Some(progress.value()),
            E::ProjectPaused { .. } => p.status = S::Paused,
            E::ProjectResumed { .. } => p.status = S::Active,
            E::ProjectTransferred { .. } => p.status = S::Transferred,
            E::ProjectAbandoned { .. } => p.status = S::Abandoned,
            E::ProjectPublished {} => p.visibility = Visibility::Public,
            E::ProjectUnpublished {} => p.visibility = Visibility::Internal,
            E::ProjectReopened { reopened_to, .. } => p.status = *reopened_to,
            // facts this read model does not show (yet): referents, milestones, impact indicators
            E::ProjectReferentAssigned { .. }
            | E::ProjectMilestoneRecorded { .. }
            | E::ProjectImpactIndicatorRecorded { .. } => {}
        }
        p.phase = p.phases.iter().rev().find(|f| f.ended_on.is_none()).map(|f| f.phase);
    }

    fn main_row(p: &ProjectRow) -> serde_json::Value {
        let mut row = counted(p);
        let rest = serde_json::json!({
            "reference": p.reference,
            "title": p.title,
            "problem_statement": p.problem_statement,
            "summary": p.summary,
            "progress": p.progress,
            "visibility": code(&p.visibility),
            "last_review_on": p.last_review_on,
            "version": p.version,
            "updated_at": sql::timestamp_text(p.updated_at),
            "last_position": p.last_position,
            "search_text": search_text(p),
        });
        if let (Some(row), serde_json::Value::Object(rest)) = (row.as_object_mut(), rest) {
            row.extend(rest);
        }
        row
    }
}

// ---------------------------------------------------------------------------------------------
// The projector

public_projector!(
    /// Applies project events to the project tables, inside the caller's transaction.
    ProjectProjector,
    ProjectModel,
    "project"
);
