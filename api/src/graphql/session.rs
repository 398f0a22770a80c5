//! Sessions over the read model: `session(id)` and `sessions(…)`, a Relay connection with
//! keyset cursors. A session belongs to the académies its attendance names and to those of its
//! linked projects; académie callers see the sessions of their académies only, and another
//! académie's session is `NOT_FOUND`, never `FORBIDDEN`, so that its existence does not leak.

use super::access::{self, Caller};
use super::connection::{self, CountedConnection};
use super::error::ApiError;
use super::ids::{self, Kind};
use super::loaders::{PersonKey, ProjectKey, load_many};
use super::person::Person;
use super::project::visible_project;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use carnet_domain::values::AcademieCode;
use carnet_projections::session::{SessionCursor, SessionFilter, SessionOrder, SessionOrderField, SessionRow};
use carnet_projections::{Direction, Fetch, ProjectionStore, list_sessions_fetching, session_as_of, session_by_id};
use chrono::{DateTime, NaiveDate, Utc};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "carnet_domain::session::SessionStatus")]
pub enum SessionStatus {
    Requested,
    Scoping,
    Scheduled,
    Held,
    Closed,
    Cancelled,
    Declined,
    Withdrawn,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "carnet_domain::session::SessionFormat")]
pub enum SessionFormat {
    DesignThinkingWorkshop,
    DesignSprint,
    Hackathon,
    WorldCafe,
    CodesignWorkshop,
    Ideation,
    Prototyping,
    UserTesting,
    Residency,
    Seminar,
    Acculturation,
    Other,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "carnet_domain::session::SessionMode")]
pub enum SessionMode {
    InPerson,
    Online,
    Hybrid,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "carnet_domain::session::RequesterKind")]
pub enum RequesterKind {
    /// A central direction of the ministry (DGESCO, DNE…).
    Direction,
    Academie,
    School,
    ProjectTeam,
    Partner,
    Other,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub enum SessionOrderBy {
    /// By start; unscheduled sessions last.
    #[default]
    StartsAtAsc,
    /// By start, latest first; unscheduled sessions first.
    StartsAtDesc,
    ReferenceAsc,
    ReferenceDesc,
    UpdatedAtAsc,
    UpdatedAtDesc,
}

impl From<SessionOrderBy> for SessionOrder {
    fn from(o: SessionOrderBy) -> Self {
        use Direction::*;
        use SessionOrderField::*;
        match o {
            SessionOrderBy::StartsAtAsc => Self::new(StartsAt, Asc),
            SessionOrderBy::StartsAtDesc => Self::new(StartsAt, Desc),
            SessionOrderBy::ReferenceAsc => Self::new(Reference, Asc),
            SessionOrderBy::ReferenceDesc => Self::new(Reference, Desc),
            SessionOrderBy::UpdatedAtAsc => Self::new(UpdatedAt, Asc),
            SessionOrderBy::UpdatedAtDesc => Self::new(UpdatedAt, Desc),
        }
    }
}

/// Each list means "any of these"; the conditions add up.
#[derive(InputObject, Default)]
pub struct SessionFilterInput {
    status: Option<Vec<SessionStatus>>,
    format: Option<Vec<SessionFormat>>,
    /// With `to`: sessions whose schedule overlaps these days (both included, UTC days).
    /// Unscheduled sessions are left out as soon as either is given.
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    /// Sessions whose attendance names one of these académies, or linked to a project of one.
    academie_code: Option<Vec<String>>,
    /// Sessions linked to this project.
    project_id: Option<ID>,
    /// Words in the reference, title, objective, requester or location (case and accents
    /// ignored).
    text: Option<String>,
}

/// Who asked for the session: an organisation, never a person.
#[derive(SimpleObject)]
pub struct SessionRequester {
    organisation: String,
    kind: RequesterKind,
    kind_label: &'static str,
}

/// A registered participant, by opaque person id.
#[derive(SimpleObject)]
pub struct SessionRegistration {
    person_id: ID,
    /// The profile they registered with ("enseignant", "CPE"…).
    profile: String,
}

#[derive(SimpleObject)]
pub struct AttendanceByProfile {
    profile: String,
    count: u32,
}

/// Who came: anonymous counts only.
#[derive(SimpleObject)]
pub struct SessionAttendance {
    count: u32,
    /// By profile; may cover only part of the count.
    by_profile: Vec<AttendanceByProfile>,
    /// The attending organisations.
    organisations: Vec<String>,
    /// The académies the attendance names.
    academie_codes: Vec<String>,
}

#[derive(SimpleObject)]
pub struct SessionReport {
    text: String,
    published_on: NaiveDate,
}

#[derive(SimpleObject)]
pub struct SessionSatisfaction {
    respondents: u32,
    /// Mean score, 1 to 5.
    mean: f64,
}

#[derive(SimpleObject)]
pub struct AgendaItem {
    /// The item's number within the session (never reused).
    item_id: u32,
    label: String,
    at: Option<DateTime<Utc>>,
}

#[derive(SimpleObject)]
pub struct FollowUpAction {
    /// The action's number within the session.
    action_id: u32,
    description: String,
    due: Option<NaiveDate>,
    completed_on: Option<NaiveDate>,
}

/// A collaborative session of the lab (session collaborative).
pub struct Session(pub(crate) SessionRow);

#[Object]
impl Session {
    /// Opaque id.
    pub(crate) async fn id(&self) -> ID {
        ids::encode(Kind::Session, self.0.id)
    }
    /// The lab's reference, e.g. `110B-S-2026-012`.
    async fn reference(&self) -> &str {
        &self.0.reference
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn format(&self) -> SessionFormat {
        self.0.format.into()
    }
    /// The format in French, as front ends show it.
    async fn format_label(&self) -> &'static str {
        self.0.format.label()
    }
    async fn status(&self) -> SessionStatus {
        self.0.status.into()
    }
    /// The status in French.
    async fn status_label(&self) -> &'static str {
        self.0.status.label()
    }
    /// The central question the session works on.
    async fn objective(&self) -> &str {
        &self.0.objective
    }
    async fn methods(&self) -> &[String] {
        &self.0.methods
    }
    async fn requester(&self) -> SessionRequester {
        SessionRequester {
            organisation: self.0.requester_organisation.clone(),
            kind: self.0.requester_kind.into(),
            kind_label: self.0.requester_kind.label(),
        }
    }
    async fn requested_on(&self) -> NaiveDate {
        self.0.requested_on
    }
    /// `null` until scheduled.
    async fn starts_at(&self) -> Option<DateTime<Utc>> {
        self.0.starts_at
    }
    async fn ends_at(&self) -> Option<DateTime<Utc>> {
        self.0.ends_at
    }
    async fn location(&self) -> Option<&str> {
        self.0.location.as_deref()
    }
    async fn mode(&self) -> Option<SessionMode> {
        self.0.mode.map(Into::into)
    }
    async fn mode_label(&self) -> Option<&'static str> {
        self.0.mode.map(|m| m.label())
    }
    /// Seats; set when scheduled.
    async fn capacity(&self) -> Option<u32> {
        self.0.capacity
    }
    /// How many participants are registered.
    async fn registered_count(&self) -> u32 {
        u32::try_from(self.0.registrations.len()).unwrap_or(u32::MAX)
    }
    /// Opaque person ids of the facilitators.
    async fn facilitator_ids(&self) -> Vec<ID> {
        self.0.facilitators.iter().map(|p| ids::encode(Kind::Person, *p)).collect()
    }
    /// The people who facilitate the session (names for the lab team only, as for any person).
    #[graphql(complexity = "super::limits::list_cost(super::limits::PEOPLE_PER_LIST, child_complexity)")]
    async fn facilitators(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Person>> {
        let keys = self.0.facilitators.iter().map(|p| PersonKey(*p)).collect();
        let people = load_many(ctx, keys).await.map_err(|e| super::project::fail(ctx, e))?;
        Ok(people.into_iter().map(Person).collect())
    }
    async fn registrations(&self) -> Vec<SessionRegistration> {
        self.0
            .registrations
            .iter()
            .map(|r| SessionRegistration {
                person_id: ids::encode(Kind::Person, r.person_id),
                profile: r.profile.clone(),
            })
            .collect()
    }
    /// When the session was declared held.
    async fn held_at(&self) -> Option<DateTime<Utc>> {
        self.0.held_at
    }
    /// `null` until recorded.
    async fn attendance(&self) -> Option<SessionAttendance> {
        self.0.attendance.as_ref().map(|a| SessionAttendance {
            count: a.count,
            by_profile: a
                .by_profile
                .iter()
                .map(|p| AttendanceByProfile { profile: p.profile.clone(), count: p.count })
                .collect(),
            organisations: a.organisations.clone(),
            academie_codes: a.academies.clone(),
        })
    }
    async fn report(&self) -> Option<SessionReport> {
        self.0.report.as_ref().map(|r| SessionReport { text: r.text.clone(), published_on: r.published_on })
    }
    async fn satisfaction(&self) -> Option<SessionSatisfaction> {
        self.0.satisfaction.map(|s| SessionSatisfaction { respondents: s.respondents, mean: s.mean })
    }
    /// In the order the items were added.
    async fn agenda(&self) -> Vec<AgendaItem> {
        self.0.agenda.iter().map(|i| AgendaItem { item_id: i.id, label: i.label.clone(), at: i.at }).collect()
    }
    async fn follow_up_actions(&self) -> Vec<FollowUpAction> {
        self.0
            .follow_up_actions
            .iter()
            .map(|a| FollowUpAction {
                action_id: a.id,
                description: a.description.clone(),
                due: a.due,
                completed_on: a.completed_on,
            })
            .collect()
    }
    /// When it was declined, withdrawn, cancelled or closed.
    async fn ended_on(&self) -> Option<NaiveDate> {
        self.0.ended_on
    }
    /// Why it was declined, withdrawn or cancelled.
    async fn end_reason(&self) -> Option<&str> {
        self.0.end_reason.as_deref()
    }
    /// Opaque ids of the linked projects: for an `ACADEMIE` caller, those of its territory
    /// only (a session of its territory may be linked to another académie's project too).
    async fn project_ids(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ID>> {
        let caller = access::authenticated(ctx)?;
        let linked = &self.0.projects;
        if caller.territory().is_none() && !caller.public_only() {
            return Ok(linked.iter().map(|p| ids::encode(Kind::Project, *p)).collect());
        }
        let rows = load_many(ctx, linked.iter().map(|p| ProjectKey(*p)).collect())
            .await
            .map_err(|e| super::project::fail(ctx, e))?;
        Ok(linked
            .iter()
            .filter(|id| rows.iter().any(|r| r.id == **id && caller.sees_project(&r.academies, r.visibility)))
            .map(|p| ids::encode(Kind::Project, *p))
            .collect())
    }
    /// The académies the session belongs to: those its attendance names and those of its
    /// linked projects.
    async fn academie_codes(&self) -> &[String] {
        &self.0.academies
    }
    /// The entity's version: send it back as `expectedVersion` when changing it.
    async fn version(&self) -> u64 {
        self.0.version
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(Default)]
pub struct SessionQuery;

#[Object]
impl SessionQuery {
    /// One session; `null` and `NOT_FOUND` when it does not exist or is outside the caller's
    /// territory.
    ///
    /// With `asOf`, the session as it stood at that moment (its events recorded by then);
    /// `academieCodes` then lists its attendance's académies only. Territory is checked on the
    /// session as it is now.
    /// `asOf` weighs 200 in the complexity limit, and a few folds run at once (`RATE_LIMITED`
    /// with `reason: "BUSY"` beyond).
    #[graphql(
        complexity = "super::expensive::as_of_cost(as_of.is_some(), super::expensive::ENTITY_AS_OF, child_complexity)"
    )]
    async fn session(
        &self,
        ctx: &Context<'_>,
        id: ID,
        as_of: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<Option<Session>> {
        let caller = access::reader(ctx)?;
        let uuid = ids::decode(Kind::Session, &id).ok_or_else(|| caller.not_found(NOT_FOUND))?;
        let now = visible_session(&caller, uuid).await?.ok_or_else(|| caller.not_found(NOT_FOUND))?;
        let Some(at) = as_of else { return Ok(Some(now)) };
        let lab = &caller.state.lab;
        let fold = session_as_of(lab.store(), lab.codec(), uuid, at);
        let row = caller.fold(fold).await?;
        row.map(Session).ok_or_else(|| caller.not_found(NOT_FOUND)).map(Some)
    }

    /// Sessions, as a Relay connection: `first`/`after` forward or `last`/`before` backward,
    /// 1 to 100 per page; cursors are opaque keyset positions.
    #[allow(clippy::too_many_arguments)] // the Relay arguments plus filter and order
    #[graphql(complexity = "super::limits::page_cost(first, last, child_complexity)")]
    async fn sessions(
        &self,
        ctx: &Context<'_>,
        filter: Option<SessionFilterInput>,
        order_by: Option<SessionOrderBy>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<CountedConnection<Session>> {
        let caller = access::reader(ctx)?;
        let bad = |m: &str, rule: &'static str| caller.fail(ApiError::BadUserInput(m.to_owned(), rule));
        let order = SessionOrder::from(order_by.unwrap_or_default());
        let input = filter.unwrap_or_default();
        if let (Some(from), Some(to)) = (input.from, input.to)
            && from > to
        {
            return Err(bad("la période du filtre commence après sa fin (from > to)", "filter"));
        }
        let project = match &input.project_id {
            None => None,
            Some(id) => {
                let uuid = ids::decode(Kind::Project, id)
                    .ok_or_else(|| bad("projectId n'est pas un identifiant de projet", "filter"))?;
                // sessions of a project the caller may not see: none, as if it did not exist
                if caller.territory().is_some() && visible_project(&caller, uuid).await?.is_none() {
                    return Ok(connection::empty());
                }
                Some(uuid)
            }
        };
        let mut filter = to_filter(input, project).map_err(|e| caller.fail(e))?;
        let Some(academies) = caller.within_territory(filter.academie_code) else {
            return Ok(connection::empty());
        };
        filter.academie_code = academies;
        let db = caller.state.store.db();
        // whole rows; the filter counted only if `totalCount` is selected
        let fetch = Fetch { omit: vec![], count: connection::total_count_selected(ctx) };
        let (n, at, backward) =
            connection::page_request::<SessionCursor>(&caller, first, after, last, before)?.into_parts();
        let page = list_sessions_fetching(db, &filter, order, n, at.as_ref(), backward, &fetch)
            .await
            .map_err(|e| caller.fail(e))?;
        Ok(connection::connection(page, |row| row.cursor(order.field), Session))
    }
}

const NOT_FOUND: &str = "cette session n'existe pas";

/// The session `id` if it exists and the caller may see it (`None` hides both cases alike).
pub(crate) async fn visible_session(caller: &Caller<'_>, id: uuid::Uuid) -> async_graphql::Result<Option<Session>> {
    let row = session_by_id(caller.state.store.db(), id).await.map_err(|e| caller.fail(e))?;
    Ok(row.filter(|row| caller.sees(&row.academies)).map(Session))
}

fn to_filter(
    input: SessionFilterInput,
    project_id: Option<uuid::Uuid>,
) -> Result<SessionFilter, carnet_domain::ValueError> {
    Ok(SessionFilter {
        status: input.status.unwrap_or_default().into_iter().map(Into::into).collect(),
        format: input.format.unwrap_or_default().into_iter().map(Into::into).collect(),
        from: input.from,
        to: input.to,
        academie_code: input
            .academie_code
            .unwrap_or_default()
            .iter()
            .map(|c| AcademieCode::from_stored(c))
            .collect::<Result<_, _>>()?,
        project_id,
        text: input.text.filter(|t| !t.trim().is_empty()),
    })
}
