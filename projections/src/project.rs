//! The project read model (DESIGN §4.1, §5): one row per project with its current state, and
//! its phase history, holders, académies, establishments and themes.
//!
//! The projector works a batch at a time: it loads the projects the batch touches (one query,
//! children included), applies the events to them in memory (`apply`, a plain function of the
//! row and the event, mirroring the decider's `evolve`), then writes each table once: an upsert
//! of the project rows, and for each child table whose content changed, a delete and an insert
//! of the new rows. Events a row already reflects (`stream_version <= version`) are skipped, so
//! applying a batch again changes nothing.

mod query;
mod schema;

pub use query::*;
pub(crate) use schema::TABLES;

use crate::ProjectionError;
use crate::sql::{self, Arg, Backend, Conn, in_list, json_array_subquery, json_object, json_rows, json_text};
use carnet_domain::Decider;
use carnet_domain::project::{Phase, Project, ProjectEvent, ProjectStatus, SupportMode, Visibility};
use carnet_store::{RecordedEvent, TxConn, Upcasters};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// A project as the read model holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRow {
    pub id: Uuid,
    pub reference: String,
    pub title: String,
    pub problem_statement: String,
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
    /// The dated phase history, in order.
    pub phases: Vec<PhaseRow>,
    /// Ordered by person id.
    pub holders: Vec<HolderRow>,
    /// Académie codes, sorted.
    pub academies: Vec<String>,
    /// UAIs, sorted.
    pub establishments: Vec<String>,
    /// In the order the project gives them.
    pub themes: Vec<String>,
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

// ---------------------------------------------------------------------------------------------
// Applying one event

/// The code a domain enum is stored as: its serde name (`ACTIVE`, `NETWORK_LAB`).
pub(crate) fn code<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => unreachable!("domain codes serialize as strings, got {other:?}"),
    }
}

/// The project id of a `project-<uuid>` stream.
fn project_id(event: &RecordedEvent) -> Result<Uuid, ProjectionError> {
    event
        .stream_id
        .as_str()
        .strip_prefix("project-")
        .and_then(|raw| Uuid::parse_str(raw).ok())
        .ok_or_else(|| ProjectionError::inconsistent(event, "the stream id is not project-<uuid>"))
}

fn insert_sorted(list: &mut Vec<String>, value: &str) {
    if let Err(at) = list.binary_search_by(|v| v.as_str().cmp(value)) {
        list.insert(at, value.to_owned());
    }
}

/// Applies one event to the project it belongs to (`None`: not in the read model yet). The
/// same facts as the decider's `evolve`, restricted to what the read model shows.
pub(crate) fn apply(
    row: &mut Option<ProjectRow>,
    id: Uuid,
    recorded: &RecordedEvent,
    event: &ProjectEvent,
) -> Result<(), ProjectionError> {
    use ProjectEvent as E;
    use ProjectStatus as S;
    if let E::ProjectSubmitted {
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
    {
        *row = Some(ProjectRow {
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
        });
    }
    let Some(p) = row.as_mut() else {
        return Err(ProjectionError::inconsistent(
            recorded,
            "the read model has no such project (was it appended without the inline projections? rebuild)",
        ));
    };
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
        E::ProjectAcademieLinked { code } => insert_sorted(&mut p.academies, code.as_str()),
        E::ProjectAcademieUnlinked { code } => p.academies.retain(|c| c != code.as_str()),
        E::ProjectEstablishmentLinked { uai } => insert_sorted(&mut p.establishments, uai.as_str()),
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
    p.version = recorded.stream_version;
    p.updated_at = recorded.recorded_at;
    p.last_position = recorded.global_position;
    Ok(())
}

/// Lowercase, without the accents of French and its neighbours: what the `text` filter compares,
/// identically on both backends (SQLite's `lower` knows ASCII only).
pub(crate) fn fold_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => out.push('a'),
            'ç' => out.push('c'),
            'è' | 'é' | 'ê' | 'ë' => out.push('e'),
            'ì' | 'í' | 'î' | 'ï' => out.push('i'),
            'ñ' => out.push('n'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => out.push('o'),
            'ù' | 'ú' | 'û' | 'ü' => out.push('u'),
            'ý' | 'ÿ' => out.push('y'),
            'œ' => out.push_str("oe"),
            'æ' => out.push_str("ae"),
            '’' | '‘' => out.push('\''),
            c => out.push(c),
        }
    }
    out
}

fn search_text(p: &ProjectRow) -> String {
    let mut parts = vec![p.reference.as_str(), &p.title, &p.problem_statement];
    parts.extend(p.summary.as_deref());
    parts.extend(p.themes.iter().map(String::as_str));
    fold_text(&parts.join("\n"))
}

// ---------------------------------------------------------------------------------------------
// Tables

/// The names of the project tables: the live ones, or a rebuild's shadow ones.
#[derive(Clone, Debug)]
pub(crate) struct Names {
    pub project: String,
    pub phase: String,
    pub holder: String,
    pub academie: String,
    pub establishment: String,
    pub theme: String,
}

impl Names {
    pub(crate) fn with_suffix(suffix: &str) -> Self {
        Self {
            project: format!("project{suffix}"),
            phase: format!("project_phase{suffix}"),
            holder: format!("project_holder{suffix}"),
            academie: format!("project_academie{suffix}"),
            establishment: format!("project_establishment{suffix}"),
            theme: format!("project_theme{suffix}"),
        }
    }
}

/// Columns of `project` as written, with their PostgreSQL types (for `jsonb_to_recordset`).
const PROJECT_COLUMNS: &[(&str, &str)] = &[
    ("id", "uuid"),
    ("reference", "text"),
    ("title", "text"),
    ("problem_statement", "text"),
    ("summary", "text"),
    ("status", "text"),
    ("phase", "text"),
    ("support_mode", "text"),
    ("progress", "smallint"),
    ("visibility", "text"),
    ("submitted_on", "date"),
    ("accepted_on", "date"),
    ("last_review_on", "date"),
    ("version", "bigint"),
    ("updated_at", "timestamptz"),
    ("last_position", "bigint"),
    ("search_text", "text"),
];

const PHASE_COLUMNS: &[(&str, &str)] =
    &[("project_id", "uuid"), ("seq", "integer"), ("phase", "text"), ("started_on", "date"), ("ended_on", "date")];
const HOLDER_COLUMNS: &[(&str, &str)] =
    &[("project_id", "uuid"), ("person_id", "uuid"), ("role", "text"), ("affiliation", "text")];
const ACADEMIE_COLUMNS: &[(&str, &str)] = &[("project_id", "uuid"), ("academie_code", "text")];
const ESTABLISHMENT_COLUMNS: &[(&str, &str)] = &[("project_id", "uuid"), ("uai", "text")];
const THEME_COLUMNS: &[(&str, &str)] = &[("project_id", "uuid"), ("theme", "text"), ("position", "integer")];

/// `select <one JSON object per project, children included> from project p`, for the reads of
/// the projector and of the queries alike.
pub(crate) fn select_projects(b: Backend, t: &Names) -> String {
    let col = |c: &str| format!("p.{c}");
    let mut pairs: Vec<(&str, String)> =
        PROJECT_COLUMNS.iter().filter(|(c, _)| *c != "search_text").map(|(c, _)| (*c, col(c))).collect();
    let phase = json_object(
        b,
        &[
            ("seq", "f.seq".into()),
            ("phase", "f.phase".into()),
            ("started_on", "f.started_on".into()),
            ("ended_on", "f.ended_on".into()),
        ],
    );
    let holder = json_object(
        b,
        &[("person_id", "h.person_id".into()), ("role", "h.role".into()), ("affiliation", "h.affiliation".into())],
    );
    let of = |table: &str, alias: &str| format!("from {table} {alias} where {alias}.project_id = p.id");
    pairs.push(("phases", json_array_subquery(b, &phase, &of(&t.phase, "f"), "f.seq")));
    pairs.push(("holders", json_array_subquery(b, &holder, &of(&t.holder, "h"), "h.person_id")));
    pairs.push(("academies", json_array_subquery(b, "a.academie_code", &of(&t.academie, "a"), "a.academie_code")));
    pairs.push(("establishments", json_array_subquery(b, "e.uai", &of(&t.establishment, "e"), "e.uai")));
    pairs.push(("themes", json_array_subquery(b, "t.theme", &of(&t.theme, "t"), "t.position")));
    format!("select {} from {} p", json_text(b, json_object(b, &pairs)), t.project)
}

pub(crate) fn decode_rows(texts: Vec<String>) -> Result<Vec<ProjectRow>, ProjectionError> {
    texts
        .iter()
        .map(|t| serde_json::from_str(t).map_err(|e| ProjectionError::Corrupt(format!("a project row: {e}: {t}"))))
        .collect()
}

/// The projects with these ids, children included.
pub(crate) async fn load(conn: &mut Conn<'_>, t: &Names, ids: &[Uuid]) -> Result<Vec<ProjectRow>, ProjectionError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let b = conn.backend();
    let sql = format!("{} where {}", select_projects(b, t), in_list(b, "p.id", 1));
    decode_rows(sql::fetch_texts(conn, &sql, vec![Arg::Uuids(ids.to_vec())]).await?)
}

// ---------------------------------------------------------------------------------------------
// The projector

/// Applies project events to the project tables, inside the caller's transaction.
pub struct ProjectProjector {
    tables: Names,
    upcasters: Arc<Upcasters>,
}

impl ProjectProjector {
    /// The projector of the live tables.
    pub fn new(upcasters: Arc<Upcasters>) -> Self {
        Self { tables: Names::with_suffix(""), upcasters }
    }

    /// The projector of a rebuild's shadow tables.
    pub(crate) fn with_suffix(upcasters: Arc<Upcasters>, suffix: &str) -> Self {
        Self { tables: Names::with_suffix(suffix), upcasters }
    }

    /// Applies the `project` events among `events` (others are ignored), in their order.
    /// Returns how many it applied.
    pub async fn apply(&self, tx: TxConn<'_>, events: &[RecordedEvent]) -> Result<usize, ProjectionError> {
        let mut conn = Conn::from(tx);
        // group by project, keeping the log order within each
        let mut order: Vec<Uuid> = vec![];
        let mut batches: HashMap<Uuid, Vec<(&RecordedEvent, ProjectEvent)>> = HashMap::new();
        for recorded in events.iter().filter(|e| e.stream_id.category() == Project::CATEGORY) {
            let id = project_id(recorded)?;
            let event: ProjectEvent = self.upcasters.decode(recorded)?;
            batches
                .entry(id)
                .or_insert_with(|| {
                    order.push(id);
                    vec![]
                })
                .push((recorded, event));
        }
        if order.is_empty() {
            return Ok(0);
        }
        // even a project submitted within the batch: the batch may be one applied before
        let before: HashMap<Uuid, ProjectRow> =
            load(&mut conn, &self.tables, &order).await?.into_iter().map(|p| (p.id, p)).collect();

        let mut applied = 0;
        let mut after: Vec<ProjectRow> = Vec::with_capacity(order.len());
        for id in &order {
            let mut row = before.get(id).cloned();
            for (recorded, event) in &batches[id] {
                let at = row.as_ref().map_or(0, |p| p.version);
                if recorded.stream_version <= at {
                    continue; // already reflected
                }
                if recorded.stream_version != at + 1 {
                    tracing::warn!(
                        stream = %recorded.stream_id, read_model_version = at, event_version = recorded.stream_version,
                        "project read model skipped events: rebuild it"
                    );
                }
                apply(&mut row, *id, recorded, event)?;
                applied += 1;
            }
            if let Some(row) = row
                && before.get(id) != Some(&row)
            {
                after.push(row);
            }
        }
        self.write(&mut conn, &before, &after).await?;
        Ok(applied)
    }

    /// Writes the changed projects: one upsert of their rows, and per child table whose content
    /// changed for some of them, one delete and one insert.
    async fn write(
        &self,
        conn: &mut Conn<'_>,
        before: &HashMap<Uuid, ProjectRow>,
        after: &[ProjectRow],
    ) -> Result<(), ProjectionError> {
        if after.is_empty() {
            return Ok(());
        }
        let b = conn.backend();
        let t = &self.tables;
        let rows: Vec<serde_json::Value> = after
            .iter()
            .map(|p| {
                serde_json::json!({
                    "id": p.id,
                    "reference": p.reference,
                    "title": p.title,
                    "problem_statement": p.problem_statement,
                    "summary": p.summary,
                    "status": code(&p.status),
                    "phase": p.phase.as_ref().map(code),
                    "support_mode": code(&p.support_mode),
                    "progress": p.progress,
                    "visibility": code(&p.visibility),
                    "submitted_on": p.submitted_on,
                    "accepted_on": p.accepted_on,
                    "last_review_on": p.last_review_on,
                    "version": p.version,
                    "updated_at": sql::timestamp_text(p.updated_at),
                    "last_position": p.last_position,
                    "search_text": search_text(p),
                })
            })
            .collect();
        let names: Vec<&str> = PROJECT_COLUMNS.iter().map(|(c, _)| *c).collect();
        let updates: Vec<String> = names[1..].iter().map(|c| format!("{c} = excluded.{c}")).collect();
        let upsert = format!(
            "insert into {} ({cols}) select {cols} from {} where true on conflict (id) do update set {}",
            t.project,
            json_rows(b, 1, PROJECT_COLUMNS),
            updates.join(", "),
            cols = names.join(", "),
        );
        if let Err(e) = sql::execute(conn, &upsert, vec![Arg::Json(serde_json::Value::from(rows).to_string())]).await {
            let new = after.iter().filter(|p| !before.contains_key(&p.id));
            return Err(refine_upsert_error(e, new.map(|p| p.reference.as_str()).collect()));
        }

        // the projects whose rows in one child table change: a new project with none has nothing
        // to write there
        let changed = |same: &dyn Fn(&ProjectRow, &ProjectRow) -> bool, none: &dyn Fn(&ProjectRow) -> bool| {
            let changed = |p: &&ProjectRow| before.get(&p.id).map_or(!none(p), |old| !same(old, p));
            after.iter().filter(changed).collect::<Vec<_>>()
        };
        let phases = changed(&|a, b| a.phases == b.phases, &|p| p.phases.is_empty());
        let phase_rows = phases.iter().flat_map(|p| {
            p.phases.iter().map(|f| {
                serde_json::json!({
                    "project_id": p.id, "seq": f.seq, "phase": code(&f.phase),
                    "started_on": f.started_on, "ended_on": f.ended_on,
                })
            })
        });
        replace(conn, &t.phase, PHASE_COLUMNS, &phases, phase_rows.collect()).await?;

        let holders = changed(&|a, b| a.holders == b.holders, &|p| p.holders.is_empty());
        let holder_rows = holders.iter().flat_map(|p| {
            p.holders.iter().map(|h| {
                serde_json::json!({
                    "project_id": p.id, "person_id": h.person_id, "role": h.role, "affiliation": h.affiliation,
                })
            })
        });
        replace(conn, &t.holder, HOLDER_COLUMNS, &holders, holder_rows.collect()).await?;

        let academies = changed(&|a, b| a.academies == b.academies, &|p| p.academies.is_empty());
        let academie_rows = academies
            .iter()
            .flat_map(|p| p.academies.iter().map(|c| serde_json::json!({ "project_id": p.id, "academie_code": c })));
        replace(conn, &t.academie, ACADEMIE_COLUMNS, &academies, academie_rows.collect()).await?;

        let establishments = changed(&|a, b| a.establishments == b.establishments, &|p| p.establishments.is_empty());
        let establishment_rows = establishments
            .iter()
            .flat_map(|p| p.establishments.iter().map(|u| serde_json::json!({ "project_id": p.id, "uai": u })));
        replace(conn, &t.establishment, ESTABLISHMENT_COLUMNS, &establishments, establishment_rows.collect()).await?;

        let themes = changed(&|a, b| a.themes == b.themes, &|p| p.themes.is_empty());
        let theme_rows = themes.iter().flat_map(|p| {
            p.themes
                .iter()
                .enumerate()
                .map(|(i, theme)| serde_json::json!({ "project_id": p.id, "theme": theme, "position": i }))
        });
        replace(conn, &t.theme, THEME_COLUMNS, &themes, theme_rows.collect()).await?;
        Ok(())
    }
}

/// Replaces the rows of `projects` in a child table by `rows`.
async fn replace(
    conn: &mut Conn<'_>,
    table: &str,
    columns: &[(&str, &str)],
    projects: &[&ProjectRow],
    rows: Vec<serde_json::Value>,
) -> Result<(), ProjectionError> {
    if projects.is_empty() {
        return Ok(());
    }
    let b = conn.backend();
    let ids = projects.iter().map(|p| p.id).collect();
    let delete = format!("delete from {table} where {}", in_list(b, "project_id", 1));
    sql::execute(conn, &delete, vec![Arg::Uuids(ids)]).await?;
    if rows.is_empty() {
        return Ok(());
    }
    let cols = columns.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ");
    let insert = format!("insert into {table} ({cols}) select {cols} from {}", json_rows(b, 1, columns));
    sql::execute(conn, &insert, vec![Arg::Json(serde_json::Value::from(rows).to_string())]).await?;
    Ok(())
}

/// A second project with a reference already taken is refused in words; anything else stays
/// a database error.
fn refine_upsert_error(e: sqlx::Error, new_references: Vec<&str>) -> ProjectionError {
    let is_reference = match &e {
        sqlx::Error::Database(db) => {
            db.constraint().is_some_and(|c| c.starts_with("project_reference_key"))
                || db.message().contains("UNIQUE constraint failed") && db.message().contains(".reference")
        }
        _ => false,
    };
    if !is_reference {
        return e.into();
    }
    ProjectionError::Refused(format!(
        "la référence de projet {} est déjà celle d'un autre projet",
        if new_references.is_empty() { "envoyée".to_owned() } else { new_references.join(", ") }
    ))
}
