//! Reading the project read model: by id, by ids (for the API's loaders), and paged lists with
//! filters and keyset cursors (DESIGN §5: never OFFSET).

use super::{ProjectModel, ProjectPart, ProjectRow};
use crate::model::{
    Binds, Listing, Model, Order, Page, Tables, after_key, any_code, any_of, load, order_terms, text_condition,
};
use crate::sql::{Arg, Backend, Reader};
use crate::{Db, ProjectionError};
use carnet_domain::project::{Phase, ProjectStatus, SupportMode, Visibility};
use carnet_domain::values::AcademieCode;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use uuid::Uuid;

/// Which projects a list returns. Each list is "any of these" and an empty one does not filter;
/// the conditions add up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProjectFilter {
    pub status: Vec<ProjectStatus>,
    /// The open phase.
    pub phase: Vec<Phase>,
    /// Projects linked to at least one of these académies.
    pub academie_code: Vec<AcademieCode>,
    pub support_mode: Vec<SupportMode>,
    /// Public (in the lab's catalogue) or internal projects.
    pub visibility: Vec<Visibility>,
    /// Projects with at least one of these themes (exact labels).
    pub theme: Vec<String>,
    /// Words found in the reference, title, problem statement, summary or themes, ignoring
    /// case and accents.
    pub text: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProjectOrderField {
    /// By submission date, then id.
    #[default]
    SubmittedAt,
    /// By reference (unique).
    Reference,
    /// By the time of the last change, then id.
    UpdatedAt,
}

/// The order of a project list.
pub type ProjectOrder = Order<ProjectOrderField>;

/// A position in a list: the sort key of a row. Opaque to clients: the API serializes it (serde)
/// and encodes it. A cursor only fits the order field it was taken for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProjectCursor {
    SubmittedAt { on: NaiveDate, id: Uuid },
    Reference { reference: String },
    UpdatedAt { at: DateTime<Utc>, id: Uuid },
}

impl ProjectRow {
    /// The cursor of this row in a list ordered by `field`.
    pub fn cursor(&self, field: ProjectOrderField) -> ProjectCursor {
        match field {
            ProjectOrderField::SubmittedAt => ProjectCursor::SubmittedAt { on: self.submitted_on, id: self.id },
            ProjectOrderField::Reference => ProjectCursor::Reference { reference: self.reference.clone() },
            ProjectOrderField::UpdatedAt => ProjectCursor::UpdatedAt { at: self.updated_at, id: self.id },
        }
    }
}

/// One page of projects.
pub type ProjectPage = Page<ProjectRow>;

/// The project with this id, if the read model has it.
pub async fn project_by_id(db: Db<'_>, id: Uuid) -> Result<Option<ProjectRow>, ProjectionError> {
    Ok(projects_by_ids(db, &[id]).await?.into_values().next())
}

/// The projects with these ids (one query, whatever their number): what a loader batches.
pub async fn projects_by_ids(db: Db<'_>, ids: &[Uuid]) -> Result<HashMap<Uuid, ProjectRow>, ProjectionError> {
    let rows = load::<ProjectModel>(&mut Reader::acquire(db).await?.conn(), &Tables::live(), ids).await?;
    Ok(rows.into_iter().map(|p| (p.id, p)).collect())
}

paged_lists!(
    ProjectModel,
    "projects",
    list_projects,
    list_projects_backward,
    list_projects_fetching,
    ProjectFilter,
    ProjectOrder,
    ProjectCursor,
    ProjectPage,
    ProjectPart
);

/// The conditions of `filter` on `project p`.
fn filter_sql(b: Backend, filter: &ProjectFilter, binds: &mut Binds) -> Vec<String> {
    let mut conditions = vec![];
    conditions.extend(any_code(b, "p.status", &filter.status, binds));
    conditions.extend(any_code(b, "p.phase", &filter.phase, binds));
    conditions.extend(any_code(b, "p.support_mode", &filter.support_mode, binds));
    conditions.extend(any_code(b, "p.visibility", &filter.visibility, binds));
    conditions.extend(academie_condition(b, &Tables::live(), &filter.academie_code, binds));
    if let Some(theme) = any_code(b, "t.theme", &filter.theme, binds) {
        conditions.push(format!("exists (select 1 from project_theme t where t.project_id = p.id and {theme})"));
    }
    conditions.extend(text_condition("p.search_text", filter.text.as_deref(), binds));
    conditions
}

/// The condition "project `p` is linked to one of `codes`", `None` for no code: the académie
/// filter of the lists, and the territory of the indicators, so that both count the same
/// projects.
pub(crate) fn academie_condition(b: Backend, t: &Tables, codes: &[AcademieCode], binds: &mut Binds) -> Option<String> {
    if codes.is_empty() {
        return None;
    }
    let codes = codes.iter().map(|c| c.as_str().to_owned()).collect();
    Some(format!(
        "exists (select 1 from {} a where a.project_id = p.id and {})",
        t.of("project_academie"),
        any_of(b, "a.academie_code", codes, binds)
    ))
}

impl Listing for ProjectModel {
    type Row = ProjectRow;
    type Filter = ProjectFilter;
    type Field = ProjectOrderField;
    type Cursor = ProjectCursor;
    type Part = ProjectPart;
    const WHAT: &'static str = "projets";
    const FROM: &'static str = "project p";

    fn page_row(b: Backend, omit: &[ProjectPart]) -> String {
        super::row_json(b, &Tables::live(), omit)
    }

    fn page_decode(text: &str) -> Result<ProjectRow, ProjectionError> {
        Self::decode(text)
    }

    fn conditions(b: Backend, filter: &ProjectFilter, binds: &mut Binds) -> Result<Vec<String>, ProjectionError> {
        Ok(filter_sql(b, filter, binds))
    }

    fn order_by(field: ProjectOrderField, ascending: bool) -> Vec<String> {
        order_terms(key_columns(field), ascending)
    }

    fn keyset(field: ProjectOrderField, cursor: &ProjectCursor, ascending: bool, binds: &mut Binds) -> Option<String> {
        let values = match (field, cursor) {
            (ProjectOrderField::SubmittedAt, ProjectCursor::SubmittedAt { on, id }) => {
                vec![Arg::Date(*on), Arg::Uuid(*id)]
            }
            (ProjectOrderField::Reference, ProjectCursor::Reference { reference }) => {
                vec![Arg::Text(reference.clone())]
            }
            (ProjectOrderField::UpdatedAt, ProjectCursor::UpdatedAt { at, id }) => {
                vec![Arg::Time(*at), Arg::Uuid(*id)]
            }
            _ => return None,
        };
        Some(after_key(key_columns(field), values, ascending, binds))
    }
}

/// The sort key of the order on `field`.
fn key_columns(field: ProjectOrderField) -> &'static [&'static str] {
    match field {
        ProjectOrderField::SubmittedAt => &["p.submitted_on", "p.id"],
        ProjectOrderField::Reference => &["p.reference"],
        ProjectOrderField::UpdatedAt => &["p.updated_at", "p.id"],
    }
}
