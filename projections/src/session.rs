//! The session read model (DESIGN §4.2, §5): one row per session with its current state, its
//! facilitators, registrations, linked projects and the académies of its attendance.
//!
//! The batch machinery is the shared one of the private `model` module. What lists filter, sort or count
//! on has a column of `session`; what is only shown (methods, agenda, attendance by profile and
//! organisations, follow-up actions) travels in its `details` JSON column. A session belongs to
//! the académies its attendance names *and* to those of its linked projects: the latter come
//! from `project_academie` when the session is read, so that a project linked to one more
//! académie moves its sessions along without a session event.

mod query;

pub use query::*;

use crate::model::{
    Child, Model, Tables, Unique, code, column_pairs, fold_text, insert_sorted, records, sent_references, values,
};
use crate::sql::{self, Backend};
use crate::timeline::Timeline;
use carnet_domain::session::{RequesterKind, Session, SessionEvent, SessionFormat, SessionMode, SessionStatus};
use carnet_store::RecordedEvent;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A session as the read model holds it. People appear by opaque id only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRow {
    pub id: Uuid,
    pub reference: String,
    pub title: String,
    pub format: SessionFormat,
    pub status: SessionStatus,
    /// The central question the session works on.
    pub objective: String,
    pub methods: Vec<String>,
    /// Who asked: an organisation, never a person.
    pub requester_organisation: String,
    pub requester_kind: RequesterKind,
    pub requested_on: NaiveDate,
    /// The schedule: both `None` until scheduled.
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub location: Option<String>,
    pub mode: Option<SessionMode>,
    pub capacity: Option<u32>,
    pub held_at: Option<DateTime<Utc>>,
    /// When it was declined, withdrawn, cancelled or closed.
    pub ended_on: Option<NaiveDate>,
    /// Why it was declined, withdrawn or cancelled.
    pub end_reason: Option<String>,
    /// `None` until recorded.
    pub attendance: Option<AttendanceRow>,
    pub report: Option<ReportRow>,
    pub satisfaction: Option<SatisfactionRow>,
    /// In the order the items were added.
    pub agenda: Vec<AgendaItemRow>,
    /// In the order they were recorded.
    pub follow_up_actions: Vec<FollowUpActionRow>,
    /// Person ids, sorted.
    pub facilitators: Vec<Uuid>,
    /// Ordered by person id.
    pub registrations: Vec<RegistrationRow>,
    /// Linked project ids, sorted.
    pub projects: Vec<Uuid>,
    /// The académies the session belongs to, sorted: those its attendance names and those of its
    /// linked projects. Computed when read (the queries fill it; the projector leaves it empty).
    #[serde(default)]
    pub academies: Vec<String>,
    /// The stream version of the last event applied: the entity's `version` in the API.
    pub version: u64,
    /// When the last event applied was recorded.
    pub updated_at: DateTime<Utc>,
    /// The global position of the last event applied.
    pub last_position: i64,
}

/// Who came: anonymous counts only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttendanceRow {
    pub count: u32,
    /// By profile, in the profiles' order; may cover only part of the count.
    pub by_profile: Vec<ProfileCount>,
    pub organisations: Vec<String>,
    /// Académie codes named by the attendance, sorted.
    pub academies: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileCount {
    pub profile: String,
    pub count: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRow {
    pub text: String,
    pub published_on: NaiveDate,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SatisfactionRow {
    pub respondents: u32,
    /// 1 to 5.
    pub mean: f64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgendaItemRow {
    pub id: u32,
    pub label: String,
    pub at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUpActionRow {
    pub id: u32,
    pub description: String,
    pub due: Option<NaiveDate>,
    pub completed_on: Option<NaiveDate>,
}

/// A registered participant: a person by opaque id, and the profile they registered with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationRow {
    pub person_id: Uuid,
    pub profile: String,
}

fn search_text(s: &SessionRow) -> String {
    let mut parts = vec![s.reference.as_str(), &s.title, &s.objective, &s.requester_organisation];
    parts.extend(s.location.as_deref());
    fold_text(&parts.join("\n"))
}

// ---------------------------------------------------------------------------------------------
// Tables

/// Columns of `session` as written (their types are the migrated table's).
const SESSION_COLUMNS: &[&str] = &[
    "id",
    "reference",
    "title",
    "format",
    "status",
    "objective",
    "requester_organisation",
    "requester_kind",
    "requested_on",
    "starts_at",
    "ends_at",
    "location",
    "mode",
    "capacity",
    "held_at",
    "ended_on",
    "end_reason",
    "attendance_count",
    "satisfaction_respondents",
    "satisfaction_mean",
    "registration_count",
    "report",
    "report_published_on",
    "details",
    "version",
    "updated_at",
    "last_position",
    "search_text",
];

/// What `session.details` holds: shown, never filtered or sorted on.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Details {
    methods: Vec<String>,
    agenda: Vec<AgendaItemRow>,
    attendance_by_profile: Vec<ProfileCount>,
    attendance_organisations: Vec<String>,
    follow_up_actions: Vec<FollowUpActionRow>,
}

/// A session as [`session_json`] reads it: the columns, `details`, and the child tables.
#[derive(Deserialize)]
pub(crate) struct Stored {
    id: Uuid,
    reference: String,
    title: String,
    format: SessionFormat,
    status: SessionStatus,
    objective: String,
    requester_organisation: String,
    requester_kind: RequesterKind,
    requested_on: NaiveDate,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    location: Option<String>,
    mode: Option<SessionMode>,
    capacity: Option<u32>,
    held_at: Option<DateTime<Utc>>,
    ended_on: Option<NaiveDate>,
    end_reason: Option<String>,
    attendance_count: Option<u32>,
    satisfaction_respondents: Option<u32>,
    satisfaction_mean: Option<f64>,
    report: Option<String>,
    report_published_on: Option<NaiveDate>,
    details: Details,
    version: u64,
    updated_at: DateTime<Utc>,
    last_position: i64,
    facilitators: Vec<Uuid>,
    registrations: Vec<RegistrationRow>,
    projects: Vec<Uuid>,
    attendance_academies: Vec<String>,
    #[serde(default)]
    academies: Vec<String>,
}

impl From<Stored> for SessionRow {
    fn from(s: Stored) -> Self {
        let Details { methods, agenda, attendance_by_profile, attendance_organisations, follow_up_actions } = s.details;
        SessionRow {
            id: s.id,
            reference: s.reference,
            title: s.title,
            format: s.format,
            status: s.status,
            objective: s.objective,
            methods,
            requester_organisation: s.requester_organisation,
            requester_kind: s.requester_kind,
            requested_on: s.requested_on,
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            location: s.location,
            mode: s.mode,
            capacity: s.capacity,
            held_at: s.held_at,
            ended_on: s.ended_on,
            end_reason: s.end_reason,
            attendance: s.attendance_count.map(|count| AttendanceRow {
                count,
                by_profile: attendance_by_profile,
                organisations: attendance_organisations,
                academies: s.attendance_academies,
            }),
            report: s.report.zip(s.report_published_on).map(|(text, published_on)| ReportRow { text, published_on }),
            satisfaction: s
                .satisfaction_respondents
                .zip(s.satisfaction_mean)
                .map(|(respondents, mean)| SatisfactionRow { respondents, mean }),
            agenda,
            follow_up_actions,
            facilitators: s.facilitators,
            registrations: s.registrations,
            projects: s.projects,
            academies: s.academies,
            version: s.version,
            updated_at: s.updated_at,
            last_position: s.last_position,
        }
    }
}

/// One JSON object per session `s` (a [`Stored`]), children included; with `derived`, also the
/// académies it belongs to through its linked projects (read from the live `project_academie`).
pub(crate) fn session_json(b: Backend, t: &Tables, derived: bool) -> String {
    // the registration count is the registrations' length, read with them
    let shown = |c: &&&str| !matches!(**c, "search_text" | "details" | "registration_count");
    let mut pairs = column_pairs("s", SESSION_COLUMNS.iter().filter(shown));
    pairs.push(("details", b.json_column("s.details")));
    pairs.push(("facilitators", FACILITATORS.array(b, t, "s", "c.person_id", "c.person_id")));
    pairs.push(("registrations", REGISTRATIONS.array(b, t, "s", &REGISTRATIONS.object(b), "c.person_id")));
    pairs.push(("projects", PROJECTS.array(b, t, "s", "c.project_id", "c.project_id")));
    pairs.push(("attendance_academies", ACADEMIES.array(b, t, "s", "c.academie_code", "c.academie_code")));
    if derived {
        let union = format!(
            "from (select a.academie_code as code from {} a where a.session_id = s.id \
             union select pa.academie_code from {} sp join project_academie pa on pa.project_id = sp.project_id \
             where sp.session_id = s.id) u",
            t.of(ACADEMIES.table),
            t.of(PROJECTS.table),
        );
        pairs.push(("academies", b.json_array_subquery("u.code", &union, "u.code")));
    }
    b.json_object(&pairs)
}

/// `select <one JSON object per session> from session s`.
pub(crate) fn select_sessions(b: Backend, t: &Tables, derived: bool) -> String {
    format!("select {} from {} s", b.json_text(session_json(b, t, derived)), t.of("session"))
}

/// Person ids, sorted.
const FACILITATORS: Child<SessionRow> = Child {
    table: "session_facilitator",
    columns: &["session_id", "person_id"],
    rows: |s| values("person_id", &s.facilitators),
};

const REGISTRATIONS: Child<SessionRow> = Child {
    table: "session_registration",
    columns: &["session_id", "person_id", "profile"],
    rows: |s| records(&s.registrations),
};

/// The linked projects.
const PROJECTS: Child<SessionRow> = Child {
    table: "session_project",
    columns: &["session_id", "project_id"],
    rows: |s| values("project_id", &s.projects),
};

/// The académies the attendance names (not those of the linked projects: see the module doc).
const ACADEMIES: Child<SessionRow> = Child {
    table: "session_academie",
    columns: &["session_id", "academie_code"],
    rows: |s| s.attendance.as_ref().map_or(vec![], |a| values("academie_code", &a.academies)),
};

/// The main table's columns the indicators count, as [`Model::main_row`] writes them (it
/// starts from these): what the session's timeline keeps, computed apart because the
/// projector compares them after every event.
fn counted(s: &SessionRow) -> serde_json::Value {
    serde_json::json!({
        "id": s.id,
        "format": code(&s.format),
        "capacity": s.capacity,
        "held_at": s.held_at.map(sql::timestamp_text),
        "attendance_count": s.attendance.as_ref().map(|a| a.count),
        "satisfaction_respondents": s.satisfaction.map(|x| x.respondents),
        "satisfaction_mean": s.satisfaction.map(|x| x.mean),
        "registration_count": s.registrations.len(),
    })
}

/// What the indicators count of a session, kept over time (`indicators(asOf)`).
const TIMELINES: &[Timeline<SessionRow>] = &[
    Timeline {
        name: "session_timeline",
        columns: &[
            "id",
            "format",
            "capacity",
            "held_at",
            "attendance_count",
            "satisfaction_respondents",
            "satisfaction_mean",
            "registration_count",
        ],
        rows: |s| vec![counted(s)],
    },
    Timeline::of_child(&PROJECTS, "session_project_timeline"),
    Timeline::of_child(&ACADEMIES, "session_academie_timeline"),
];

/// The session read model, for the shared machinery of [`crate::model`].
pub(crate) struct SessionModel;

impl Model for SessionModel {
    type Row = SessionRow;
    type Stored = Stored;
    type Aggregate = Session;
    const COLUMNS: &'static [&'static str] = SESSION_COLUMNS;
    const CHILDREN: &'static [Child<SessionRow>] = &[FACILITATORS, REGISTRATIONS, PROJECTS, ACADEMIES];
    const ID: &'static str = "s.id";
    const TIMELINES: &'static [Timeline<SessionRow>] = TIMELINES;
    /// A second session with a reference already taken is refused in words.
    const UNIQUE: &'static [Unique<SessionRow>] = &[Unique {
        constraint: "session_reference_key",
        table: "session",
        column: "reference",
        rule: "session.reference_taken",
        message: |new| {
            let references = sent_references(new.iter().map(|s| s.reference.as_str()));
            format!("la référence de session {references} est déjà celle d'une autre session")
        },
    }];

    fn select(b: Backend, t: &Tables) -> String {
        // the projector needs no derived académies (nor the project tables, which a rebuild of
        // the sessions alone does not have under its suffix)
        select_sessions(b, t, false)
    }

    fn create(id: Uuid, recorded: &RecordedEvent, event: &SessionEvent) -> Option<SessionRow> {
        use {SessionEvent as E, SessionStatus as S};
        let E::SessionRequested { details, .. } = event else { return None };
        Some(SessionRow {
            id,
            reference: details.reference.as_str().to_owned(),
            title: details.title.as_str().to_owned(),
            format: details.format,
            status: S::Requested,
            objective: details.objective.as_str().to_owned(),
            methods: details.methods.iter().map(|m| m.as_str().to_owned()).collect(),
            requester_organisation: details.requester.organisation.as_str().to_owned(),
            requester_kind: details.requester.kind,
            requested_on: details.requested_on,
            starts_at: None,
            ends_at: None,
            location: None,
            mode: None,
            capacity: None,
            held_at: None,
            ended_on: None,
            end_reason: None,
            attendance: None,
            report: None,
            satisfaction: None,
            agenda: vec![],
            follow_up_actions: vec![],
            facilitators: vec![],
            registrations: vec![],
            projects: vec![],
            academies: vec![],
            version: 0,
            updated_at: recorded.recorded_at,
            last_position: recorded.global_position,
        })
    }

    fn change(s: &mut SessionRow, _recorded: &RecordedEvent, event: &SessionEvent) {
        use {SessionEvent as E, SessionStatus as S};
        match event {
            E::SessionRequested { .. } => {}
            E::SessionScopingStarted { .. } => s.status = S::Scoping,
            E::SessionDeclined { reason, on }
            | E::SessionWithdrawn { reason, on }
            | E::SessionCancelled { reason, on } => {
                s.status = match event {
                    E::SessionDeclined { .. } => S::Declined,
                    E::SessionWithdrawn { .. } => S::Withdrawn,
                    _ => S::Cancelled,
                };
                s.end_reason = Some(reason.as_str().to_owned());
                s.ended_on = Some(*on);
            }
            E::FacilitatorAssigned { facilitator } => insert_sorted(&mut s.facilitators, facilitator.0),
            E::FacilitatorUnassigned { facilitator } => s.facilitators.retain(|f| *f != facilitator.0),
            E::SessionScheduled { schedule, location, mode, capacity }
            | E::SessionRescheduled { schedule, location, mode, capacity } => {
                s.status = S::Scheduled;
                s.starts_at = Some(schedule.start());
                s.ends_at = Some(schedule.end());
                s.location = Some(location.as_str().to_owned());
                s.mode = Some(*mode);
                s.capacity = Some(*capacity);
            }
            E::AgendaItemAdded { item_id, label, at } => {
                s.agenda.push(AgendaItemRow { id: *item_id, label: label.as_str().to_owned(), at: *at });
            }
            E::AgendaItemRemoved { item_id } => s.agenda.retain(|i| i.id != *item_id),
            E::ParticipantRegistered { participant, profile } => {
                let registration = RegistrationRow { person_id: participant.0, profile: profile.as_str().to_owned() };
                match s.registrations.binary_search_by_key(&participant.0, |r| r.person_id) {
                    Ok(at) => s.registrations[at] = registration,
                    Err(at) => s.registrations.insert(at, registration),
                }
            }
            E::RegistrationCancelled { participant } => s.registrations.retain(|r| r.person_id != participant.0),
            E::SessionHeld { at } => {
                s.status = S::Held;
                s.held_at = Some(*at);
            }
            E::AttendanceRecorded { attendance } => {
                s.attendance = Some(AttendanceRow {
                    count: attendance.count,
                    by_profile: attendance
                        .by_profile
                        .iter()
                        .map(|(profile, count)| ProfileCount { profile: profile.as_str().to_owned(), count: *count })
                        .collect(),
                    organisations: attendance.organisations.iter().map(|o| o.as_str().to_owned()).collect(),
                    academies: {
                        let mut codes: Vec<String> =
                            attendance.academies.iter().map(|c| c.as_str().to_owned()).collect();
                        codes.sort();
                        codes
                    },
                });
            }
            E::SessionReportPublished { report, on } => {
                s.report = Some(ReportRow { text: report.as_str().to_owned(), published_on: *on });
            }
            E::FollowUpActionRecorded { action_id, description, due } => {
                s.follow_up_actions.push(FollowUpActionRow {
                    id: *action_id,
                    description: description.as_str().to_owned(),
                    due: *due,
                    completed_on: None,
                });
            }
            E::FollowUpActionCompleted { action_id, on } => {
                if let Some(action) = s.follow_up_actions.iter_mut().find(|a| a.id == *action_id) {
                    action.completed_on = Some(*on);
                }
            }
            E::SatisfactionSurveyRecorded { respondents, mean } => {
                s.satisfaction = Some(SatisfactionRow { respondents: *respondents, mean: *mean });
            }
            E::SessionLinkedToProject { project } => insert_sorted(&mut s.projects, project.0),
            E::SessionClosed { on } => {
                s.status = S::Closed;
                s.ended_on = Some(*on);
            }
        }
    }

    fn main_row(s: &SessionRow) -> serde_json::Value {
        let time = |t: Option<DateTime<Utc>>| t.map(sql::timestamp_text);
        let details = Details {
            methods: s.methods.clone(),
            agenda: s.agenda.clone(),
            attendance_by_profile: s.attendance.as_ref().map(|a| a.by_profile.clone()).unwrap_or_default(),
            attendance_organisations: s.attendance.as_ref().map(|a| a.organisations.clone()).unwrap_or_default(),
            follow_up_actions: s.follow_up_actions.clone(),
        };
        let mut row = counted(s);
        let rest = serde_json::json!({
            "reference": s.reference,
            "title": s.title,
            "status": code(&s.status),
            "objective": s.objective,
            "requester_organisation": s.requester_organisation,
            "requester_kind": code(&s.requester_kind),
            "requested_on": s.requested_on,
            "starts_at": time(s.starts_at),
            "ends_at": time(s.ends_at),
            "location": s.location,
            "mode": s.mode.as_ref().map(code),
            "ended_on": s.ended_on,
            "end_reason": s.end_reason,
            "report": s.report.as_ref().map(|r| &r.text),
            "report_published_on": s.report.as_ref().map(|r| r.published_on),
            "details": details,
            "version": s.version,
            "updated_at": sql::timestamp_text(s.updated_at),
            "last_position": s.last_position,
            "search_text": search_text(s),
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
    /// Applies session events to the session tables, inside the caller's transaction.
    SessionProjector,
    SessionModel,
    "session"
);
