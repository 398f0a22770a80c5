//! Projects over the read model: `project(id)` and `projects(…)`, a Relay connection with
//! keyset cursors. Académie callers see the projects of their académies only; another
//! académie's project is `NOT_FOUND`, never `FORBIDDEN`, so that its existence does not leak.

use super::access::{self, Caller, NotPublic};
use super::connection::{self, CountedConnection};
use super::error::ApiError;
use super::ids::{self, Kind};
use super::loaders::{PersonKey, ProjectKey, SessionsOfProject, load_many};
use super::person::Person;
use super::session::Session;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use carnet_domain::values::AcademieCode;
use carnet_projections::project::{
    Direction, ProjectCursor, ProjectFilter, ProjectOrder, ProjectOrderField, ProjectRow,
};
use carnet_projections::{Fetch, ProjectPart, ProjectionStore, list_projects_fetching, project_as_of, project_by_id};
use chrono::{DateTime, NaiveDate, Utc};
use std::borrow::Cow;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "carnet_domain::project::ProjectStatus")]
pub enum ProjectStatus {
    Submitted,
    Qualifying,
    Active,
    Paused,
    Transferred,
    Abandoned,
    Declined,
    Withdrawn,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "carnet_domain::project::Phase")]
pub enum Phase {
    Exploration,
    Prototyping,
    Experimentation,
    Transfer,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "carnet_domain::project::SupportMode")]
pub enum SupportMode {
    Incubation,
    Punctual,
    NetworkLab,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "carnet_domain::project::Visibility")]
pub enum Visibility {
    Public,
    Internal,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub enum ProjectOrderBy {
    #[default]
    SubmittedAtAsc,
    SubmittedAtDesc,
    ReferenceAsc,
    ReferenceDesc,
    UpdatedAtAsc,
    UpdatedAtDesc,
}

impl From<ProjectOrderBy> for ProjectOrder {
    fn from(o: ProjectOrderBy) -> Self {
        use Direction::*;
        use ProjectOrderField::*;
        match o {
            ProjectOrderBy::SubmittedAtAsc => Self::new(SubmittedAt, Asc),
            ProjectOrderBy::SubmittedAtDesc => Self::new(SubmittedAt, Desc),
            ProjectOrderBy::ReferenceAsc => Self::new(Reference, Asc),
            ProjectOrderBy::ReferenceDesc => Self::new(Reference, Desc),
            ProjectOrderBy::UpdatedAtAsc => Self::new(UpdatedAt, Asc),
            ProjectOrderBy::UpdatedAtDesc => Self::new(UpdatedAt, Desc),
        }
    }
}

/// Each list means "any of these"; the conditions add up.
#[derive(InputObject, Default)]
pub struct ProjectFilterInput {
    status: Option<Vec<ProjectStatus>>,
    phase: Option<Vec<Phase>>,
    academie_code: Option<Vec<String>>,
    support_mode: Option<Vec<SupportMode>>,
    theme: Option<Vec<String>>,
    /// Words in the reference, title, problem statement, summary or themes (case and accents
    /// ignored).
    text: Option<String>,
    /// In the public catalogue or not (a `READER` sees public projects only, whatever this says).
    visibility: Option<Vec<Visibility>>,
}

/// One phase of the history.
#[derive(SimpleObject)]
pub struct PhaseSpan {
    phase: Phase,
    label: &'static str,
    started_on: NaiveDate,
    ended_on: Option<NaiveDate>,
}

/// A project the lab accompanies (projet accompagné).
///
/// The second field lists the parts of the row a list left out: `projects` reads only what its
/// caller selected (`fetch_of`). A field of a part left out reads the whole row after all
/// ([`Project::with`]), so that a selection the look-ahead misread can only cost a statement,
/// never answer an empty list.
pub struct Project(pub(crate) ProjectRow, pub(crate) Vec<ProjectPart>);

impl Project {
    /// A project read whole.
    pub(crate) fn whole(row: ProjectRow) -> Self {
        Self(row, vec![])
    }

    /// The row with `part` in it: this one, or the whole row read by the request's loader when a
    /// list left the part out.
    async fn with(&self, ctx: &Context<'_>, part: ProjectPart) -> async_graphql::Result<Cow<'_, ProjectRow>> {
        if !self.1.contains(&part) {
            return Ok(Cow::Borrowed(&self.0));
        }
        let rows = load_many(ctx, vec![ProjectKey(self.0.id)]).await.map_err(|e| fail(ctx, e))?;
        let row = rows.into_iter().next().ok_or_else(|| {
            fail(ctx, ApiError::internal(format!("project {} left the read model while being read", self.0.id).into()))
        })?;
        Ok(Cow::Owned(row))
    }
}

/// What `projects` reads of each row: the parts whose fields the caller selected (through
/// `edges { node }` or `nodes`, fragments included), and the count if `totalCount` is selected.
fn fetch_of(ctx: &Context<'_>) -> Fetch<ProjectPart> {
    let look = ctx.look_ahead();
    let nodes = [look.field("edges").field("node"), look.field("nodes")];
    let selected = |field: &str| nodes.iter().any(|n| n.field(field).exists());
    let fields = |part: ProjectPart| match part {
        ProjectPart::ProblemStatement => "problemStatement",
        ProjectPart::Summary => "summary",
        ProjectPart::Phases => "phases",
        ProjectPart::Holders => "holders",
        ProjectPart::Academies => "academieCodes",
        ProjectPart::Establishments => "establishments",
        ProjectPart::Themes => "themes",
    };
    Fetch {
        omit: ProjectPart::ALL.into_iter().filter(|&p| !selected(fields(p))).collect(),
        count: connection::total_count_selected(ctx),
    }
}

#[Object]
impl Project {
    /// Opaque id.
    pub(crate) async fn id(&self) -> ID {
        ids::encode(Kind::Project, self.0.id)
    }
    /// The lab's reference, e.g. `110B-P-2026-007`.
    async fn reference(&self) -> &str {
        &self.0.reference
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn problem_statement(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(self.with(ctx, ProjectPart::ProblemStatement).await?.problem_statement.clone())
    }
    async fn summary(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(self.with(ctx, ProjectPart::Summary).await?.summary.clone())
    }
    async fn status(&self) -> ProjectStatus {
        self.0.status.into()
    }
    /// The status in French, as front ends show it.
    async fn status_label(&self) -> &'static str {
        self.0.status.label()
    }
    /// The open phase, if any.
    async fn phase(&self) -> Option<Phase> {
        self.0.phase.map(Into::into)
    }
    async fn phase_label(&self) -> Option<&'static str> {
        self.0.phase.map(|p| p.label())
    }
    async fn support_mode(&self) -> SupportMode {
        self.0.support_mode.into()
    }
    async fn support_mode_label(&self) -> &'static str {
        self.0.support_mode.label()
    }
    /// 0 to 100. Not public.
    #[graphql(guard = "NotPublic")]
    async fn progress(&self) -> Option<u8> {
        self.0.progress
    }
    async fn visibility(&self) -> Visibility {
        self.0.visibility.into()
    }
    async fn submitted_on(&self) -> NaiveDate {
        self.0.submitted_on
    }
    async fn accepted_on(&self) -> Option<NaiveDate> {
        self.0.accepted_on
    }
    async fn academie_codes(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        Ok(self.with(ctx, ProjectPart::Academies).await?.academies.clone())
    }
    /// UAIs of the establishments involved. Not public.
    #[graphql(guard = "NotPublic")]
    async fn establishments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        Ok(self.with(ctx, ProjectPart::Establishments).await?.establishments.clone())
    }
    async fn themes(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        Ok(self.with(ctx, ProjectPart::Themes).await?.themes.clone())
    }
    /// The dated phase history, in order.
    async fn phases(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PhaseSpan>> {
        Ok(self
            .with(ctx, ProjectPart::Phases)
            .await?
            .phases
            .iter()
            .map(|p| PhaseSpan {
                phase: p.phase.into(),
                label: p.phase.label(),
                started_on: p.started_on,
                ended_on: p.ended_on,
            })
            .collect())
    }
    /// Its holders (porteurs), with their role in the project. Not public.
    #[graphql(
        guard = "NotPublic",
        complexity = "super::limits::list_cost(super::limits::PEOPLE_PER_LIST, child_complexity)"
    )]
    async fn holders(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ProjectHolder>> {
        let row = self.with(ctx, ProjectPart::Holders).await?;
        let keys = row.holders.iter().map(|h| PersonKey(h.person_id)).collect();
        let people = load_many(ctx, keys).await.map_err(|e| fail(ctx, e))?;
        Ok(row
            .holders
            .iter()
            .map(|h| ProjectHolder {
                person: people.iter().find(|p| p.id == h.person_id).cloned().map(Person),
                role: h.role.clone(),
                affiliation: h.affiliation.clone(),
            })
            .collect())
    }
    /// The collaborative sessions linked to the project, by start (unscheduled last). Not
    /// public.
    #[graphql(
        guard = "NotPublic",
        complexity = "super::limits::list_cost(super::limits::SESSIONS_PER_PROJECT, child_complexity)"
    )]
    async fn sessions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Session>> {
        let linked = load_many(ctx, vec![SessionsOfProject(self.0.id)]).await.map_err(|e| fail(ctx, e))?;
        Ok(linked.into_iter().flatten().map(Session).collect())
    }
    /// The entity's version: send it back as `expectedVersion` when changing it.
    async fn version(&self) -> u64 {
        self.0.version
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A holder of a project.
#[derive(SimpleObject)]
pub struct ProjectHolder {
    /// `null` only if the person is missing from the read model (it is being rebuilt).
    person: Option<Person>,
    /// e.g. « porteuse principale ».
    role: String,
    affiliation: Option<String>,
}

/// The GraphQL error for `e`, with the request's id.
pub(crate) fn fail(ctx: &Context<'_>, e: ApiError) -> async_graphql::Error {
    let request_id = ctx.data::<super::request::RequestId>().map(|r| r.0.as_str()).unwrap_or("unknown");
    e.into_graphql(request_id)
}

#[derive(Default)]
pub struct ProjectQuery;

#[Object]
impl ProjectQuery {
    /// One project; `null` and `NOT_FOUND` when it does not exist or is outside the caller's
    /// territory.
    ///
    /// With `asOf`, the project as it stood at that moment: its events recorded by then,
    /// folded as the read model folds them (`NOT_FOUND` if it did not exist yet). For an
    /// `ACADEMIE` caller the project must be within its territory now (checked on the read model,
    /// before any event is read) and then.
    /// `asOf` weighs 200 in the complexity limit, and a few folds run at once (`RATE_LIMITED`
    /// with `reason: "BUSY"` beyond).
    #[graphql(
        complexity = "super::expensive::as_of_cost(as_of.is_some(), super::expensive::ENTITY_AS_OF, child_complexity)"
    )]
    async fn project(
        &self,
        ctx: &Context<'_>,
        id: ID,
        as_of: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<Option<Project>> {
        let caller = access::public_reader(ctx)?;
        let uuid = ids::decode(Kind::Project, &id).ok_or_else(|| caller.not_found(NOT_FOUND))?;
        let Some(at) = as_of else {
            return visible_project(&caller, uuid).await?.ok_or_else(|| caller.not_found(NOT_FOUND)).map(Some);
        };
        // the past of a project is the lab's and the auditors' business, not the catalogue's
        caller.require(&access::READERS)?;
        // territory before work: a project outside the caller's territory now is not folded at
        // all (answering NOT_FOUND after the fold took measurably longer than for an id that
        // does not exist, and cost the events' reading)
        if caller.territory().is_some() && visible_project(&caller, uuid).await?.is_none() {
            return Err(caller.not_found(NOT_FOUND));
        }
        let lab = &caller.state.lab;
        let fold = project_as_of(lab.store(), lab.codec(), uuid, at);
        let row = caller.fold(fold).await?;
        row.filter(|row| caller.sees(&row.academies))
            .map(Project::whole)
            .ok_or_else(|| caller.not_found(NOT_FOUND))
            .map(Some)
    }

    /// Projects, as a Relay connection: `first`/`after` forward or `last`/`before` backward,
    /// 1 to 100 per page; cursors are opaque keyset positions.
    #[allow(clippy::too_many_arguments)] // the Relay arguments plus filter and order
    #[graphql(complexity = "super::limits::page_cost(first, last, child_complexity)")]
    async fn projects(
        &self,
        ctx: &Context<'_>,
        filter: Option<ProjectFilterInput>,
        order_by: Option<ProjectOrderBy>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<CountedConnection<Project>> {
        let caller = access::public_reader(ctx)?;
        let order = ProjectOrder::from(order_by.unwrap_or_default());
        let mut filter = to_filter(filter.unwrap_or_default()).map_err(|e| caller.fail(e))?;
        if caller.public_only() {
            let public = carnet_domain::project::Visibility::Public;
            if !filter.visibility.is_empty() && !filter.visibility.contains(&public) {
                return Ok(connection::empty());
            }
            filter.visibility = vec![public];
        }
        let Some(academies) = caller.within_territory(filter.academie_code) else {
            return Ok(connection::empty());
        };
        filter.academie_code = academies;
        let db = caller.state.store.db();
        let fetch = fetch_of(ctx);
        let (n, at, backward) =
            connection::page_request::<ProjectCursor>(&caller, first, after, last, before)?.into_parts();
        let page = list_projects_fetching(db, &filter, order, n, at.as_ref(), backward, &fetch)
            .await
            .map_err(|e| caller.fail(e))?;
        Ok(connection::connection(page, |row| row.cursor(order.field), |row| Project(row, fetch.omit.clone())))
    }
}

const NOT_FOUND: &str = "ce projet n'existe pas";

/// The project `id` if it exists and the caller may see it (`None` hides both cases alike).
pub(crate) async fn visible_project(caller: &Caller<'_>, id: uuid::Uuid) -> async_graphql::Result<Option<Project>> {
    let row = project_by_id(caller.state.store.db(), id).await.map_err(|e| caller.fail(e))?;
    Ok(row.filter(|row| caller.sees_project(&row.academies, row.visibility)).map(Project::whole))
}

fn to_filter(input: ProjectFilterInput) -> Result<ProjectFilter, carnet_domain::ValueError> {
    Ok(ProjectFilter {
        status: input.status.unwrap_or_default().into_iter().map(Into::into).collect(),
        phase: input.phase.unwrap_or_default().into_iter().map(Into::into).collect(),
        academie_code: input
            .academie_code
            .unwrap_or_default()
            .iter()
            .map(|c| AcademieCode::from_stored(c))
            .collect::<Result<_, _>>()?,
        support_mode: input.support_mode.unwrap_or_default().into_iter().map(Into::into).collect(),
        theme: input.theme.unwrap_or_default(),
        text: input.text.filter(|t| !t.trim().is_empty()),
        visibility: input.visibility.unwrap_or_default().into_iter().map(Into::into).collect(),
    })
}
