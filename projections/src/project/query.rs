//! Reading the project read model: by id, by ids (for the API's loaders), and paged lists with
//! filters and keyset cursors (DESIGN §5: never OFFSET).

use super::{ProjectModel, ProjectRow, select_projects};
use crate::model::{
    Binds, Direction, Model, Page, PageQuery, Tables, after_key, check_page_size, code, fetch_page, load, order_terms,
    text_condition,
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

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProjectOrder {
    pub field: ProjectOrderField,
    pub direction: Direction,
}

impl ProjectOrder {
    pub fn new(field: ProjectOrderField, direction: Direction) -> Self {
        Self { field, direction }
    }
}

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

/// The first `first` projects matching `filter` in `order`, after `after`.
pub async fn list_projects(
    db: Db<'_>,
    filter: &ProjectFilter,
    order: ProjectOrder,
    first: u32,
    after: Option<&ProjectCursor>,
) -> Result<ProjectPage, ProjectionError> {
    list(db, filter, order, first, after, false).await
}

/// The last `last` projects matching `filter` in `order`, before `before` (Relay's backward
/// paging); the rows come in `order` too.
pub async fn list_projects_backward(
    db: Db<'_>,
    filter: &ProjectFilter,
    order: ProjectOrder,
    last: u32,
    before: Option<&ProjectCursor>,
) -> Result<ProjectPage, ProjectionError> {
    list(db, filter, order, last, before, true).await
}

/// The conditions of `filter` on `project p`.
fn filter_sql(b: Backend, filter: &ProjectFilter, binds: &mut Binds) -> Vec<String> {
    let mut conditions = vec![];
    let codes = |values: Vec<String>, binds: &mut Binds| binds.push(Arg::Texts(values));
    if !filter.status.is_empty() {
        let n = codes(filter.status.iter().map(code).collect(), binds);
        conditions.push(b.in_list("p.status", n));
    }
    if !filter.phase.is_empty() {
        let n = codes(filter.phase.iter().map(code).collect(), binds);
        conditions.push(b.in_list("p.phase", n));
    }
    if !filter.support_mode.is_empty() {
        let n = codes(filter.support_mode.iter().map(code).collect(), binds);
        conditions.push(b.in_list("p.support_mode", n));
    }
    if !filter.visibility.is_empty() {
        let n = codes(filter.visibility.iter().map(code).collect(), binds);
        conditions.push(b.in_list("p.visibility", n));
    }
    conditions.extend(academie_condition(b, &Tables::live(), &filter.academie_code, binds));
    if !filter.theme.is_empty() {
        let n = codes(filter.theme.clone(), binds);
        conditions.push(format!(
            "exists (select 1 from project_theme t where t.project_id = p.id and {})",
            b.in_list("t.theme", n)
        ));
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
    let n = binds.push(Arg::Texts(codes.iter().map(|c| c.as_str().to_owned()).collect()));
    Some(format!(
        "exists (select 1 from {} a where a.project_id = p.id and {})",
        t.of("project_academie"),
        b.in_list("a.academie_code", n)
    ))
}

async fn list(
    db: Db<'_>,
    filter: &ProjectFilter,
    order: ProjectOrder,
    size: u32,
    cursor: Option<&ProjectCursor>,
    backward: bool,
) -> Result<ProjectPage, ProjectionError> {
    check_page_size(size, "projets")?;
    let b = db.backend();
    let mut binds = Binds(vec![]);
    let filter = filter_sql(b, filter, &mut binds);
    let filter_binds = binds.0.len();

    let columns: &[&str] = match order.field {
        ProjectOrderField::SubmittedAt => &["p.submitted_on", "p.id"],
        ProjectOrderField::Reference => &["p.reference"],
        ProjectOrderField::UpdatedAt => &["p.updated_at", "p.id"],
    };
    // paging backward walks the order in reverse, then turns the page around
    let ascending = (order.direction == Direction::Asc) != backward;
    let keyset = match cursor {
        None => None,
        Some(cursor) => {
            let values = match (order.field, cursor) {
                (ProjectOrderField::SubmittedAt, ProjectCursor::SubmittedAt { on, id }) => {
                    vec![Arg::Date(*on), Arg::Uuid(*id)]
                }
                (ProjectOrderField::Reference, ProjectCursor::Reference { reference }) => {
                    vec![Arg::Text(reference.clone())]
                }
                (ProjectOrderField::UpdatedAt, ProjectCursor::UpdatedAt { at, id }) => {
                    vec![Arg::Time(*at), Arg::Uuid(*id)]
                }
                _ => {
                    return Err(ProjectionError::InvalidCursor(format!(
                        "ce curseur a été pris dans une liste triée autrement que par « {} »",
                        crate::model::graphql_name(&order.field)
                    )));
                }
            };
            Some(after_key(columns, values, ascending, &mut binds))
        }
    };
    let query = PageQuery {
        select: select_projects(b, &Tables::live()),
        from: "project p".to_owned(),
        filter,
        filter_binds,
        keyset,
        order_by: order_terms(columns, ascending),
        binds,
        size,
        backward,
    };
    fetch_page(db, query, ProjectModel::decode).await
}
