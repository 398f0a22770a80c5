//! Reading the session read model: by id, by ids and by project ids (for the API's loaders: one
//! statement whatever their number), and paged lists with filters and keyset cursors (DESIGN §5:
//! never OFFSET).

use super::{SessionModel, SessionRow, Stored, select_sessions, session_json};
use crate::indicators::Period;
use crate::model::{
    Binds, Listing, Model, Order, Page, Tables, after_key, any_code, any_of, code, decode_json, load_with, midnight,
    order_terms, text_condition,
};
use crate::sql::{self, Arg, Backend, Reader};
use crate::{Db, ProjectionError};
use carnet_domain::session::{SessionFormat, SessionStatus};
use carnet_domain::values::AcademieCode;
use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use uuid::Uuid;

/// Which sessions a list returns. Each list is "any of these" and an empty one does not filter;
/// the conditions add up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionFilter {
    pub status: Vec<SessionStatus>,
    pub format: Vec<SessionFormat>,
    /// With `to`: sessions whose schedule overlaps the days `from` to `to` (both included, UTC
    /// days). Unscheduled sessions are left out as soon as either is given.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Sessions of at least one of these académies: named by their attendance, or those of a
    /// linked project.
    pub academie_code: Vec<AcademieCode>,
    /// Sessions linked to this project.
    pub project_id: Option<Uuid>,
    /// Words found in the reference, title, objective, requester or location, ignoring case and
    /// accents.
    pub text: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SessionOrderField {
    /// By start, then id; unscheduled sessions come last when ascending (first when descending:
    /// a descending order is the ascending one reversed).
    #[default]
    StartsAt,
    /// By reference (unique).
    Reference,
    /// By the time of the last change, then id.
    UpdatedAt,
}

/// The order of a session list.
pub type SessionOrder = Order<SessionOrderField>;

/// A position in a list: the sort key of a row. Opaque to clients: the API serializes it (serde)
/// and encodes it. A cursor only fits the order field it was taken for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SessionCursor {
    /// `at` is `None` for an unscheduled session.
    StartsAt {
        at: Option<DateTime<Utc>>,
        id: Uuid,
    },
    Reference {
        reference: String,
    },
    UpdatedAt {
        at: DateTime<Utc>,
        id: Uuid,
    },
}

impl SessionRow {
    /// The cursor of this row in a list ordered by `field`.
    pub fn cursor(&self, field: SessionOrderField) -> SessionCursor {
        match field {
            SessionOrderField::StartsAt => SessionCursor::StartsAt { at: self.starts_at, id: self.id },
            SessionOrderField::Reference => SessionCursor::Reference { reference: self.reference.clone() },
            SessionOrderField::UpdatedAt => SessionCursor::UpdatedAt { at: self.updated_at, id: self.id },
        }
    }
}

/// One page of sessions.
pub type SessionPage = Page<SessionRow>;

/// The session with this id, if the read model has it.
pub async fn session_by_id(db: Db<'_>, id: Uuid) -> Result<Option<SessionRow>, ProjectionError> {
    Ok(sessions_by_ids(db, &[id]).await?.into_values().next())
}

/// The sessions with these ids (one query, whatever their number), with the académies they
/// belong to: what a loader batches.
pub async fn sessions_by_ids(db: Db<'_>, ids: &[Uuid]) -> Result<HashMap<Uuid, SessionRow>, ProjectionError> {
    let select = select_sessions(db.backend(), &Tables::live(), true);
    let rows = load_with(&mut Reader::acquire(db).await?.conn(), &select, "s.id", ids, SessionModel::decode).await?;
    Ok(rows.into_iter().map(|s| (s.id, s)).collect())
}

/// The sessions linked to each of these projects, by start (unscheduled last), then id; a
/// project without sessions has no entry. One statement whatever the number of projects: what a
/// loader of `Project.sessions` batches.
pub async fn sessions_by_project_ids(
    db: Db<'_>,
    project_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<SessionRow>>, ProjectionError> {
    if project_ids.is_empty() {
        return Ok(HashMap::new());
    }
    #[derive(Deserialize)]
    struct Linked {
        project_id: Uuid,
        session: Stored,
    }
    let b = db.backend();
    let t = Tables::live();
    let object = b.json_object(&[("project_id", "sp.project_id".into()), ("session", session_json(b, &t, true))]);
    let sql = format!(
        "select {} from {} sp join {} s on s.id = sp.session_id where {} \
         order by sp.project_id, s.starts_at asc nulls last, s.id",
        b.json_text(object),
        t.of("session_project"),
        t.of("session"),
        b.in_list("sp.project_id", 1),
    );
    let args = vec![Arg::Uuids(project_ids.to_vec())];
    let texts = sql::read_texts(db, &sql, args).await?;
    let mut out: HashMap<Uuid, Vec<SessionRow>> = HashMap::new();
    for text in &texts {
        let linked: Linked = decode_json(text, "a session of a project")?;
        out.entry(linked.project_id).or_default().push(linked.session.into());
    }
    Ok(out)
}

/// How many seminars `organisation` (a requester, exact name) held at the lab in calendar year
/// `year` (UTC), closed ones included: what `RequestSession` needs to apply "a direction holds
/// one seminar a year" (DESIGN §4.2), counted across sessions, hence here.
pub async fn seminars_of(db: Db<'_>, organisation: &str, year: i32) -> Result<u32, ProjectionError> {
    // nothing is held outside four-digit years (and timestamps are fixed-width text on SQLite)
    let bounds = (1..=9998)
        .contains(&year)
        .then(|| (NaiveDate::from_ymd_opt(year, 1, 1), NaiveDate::from_ymd_opt(year + 1, 1, 1)));
    let Some((Some(start), Some(end))) = bounds else {
        return Ok(0);
    };
    let sql = "select count(*), cast(0 as bigint) from session s where s.format = $1 and s.requester_organisation = $2 \
               and s.held_at >= $3 and s.held_at < $4";
    let args = vec![
        Arg::Text(code(&SessionFormat::Seminar)),
        Arg::Text(organisation.to_owned()),
        Arg::Time(midnight(start)),
        Arg::Time(midnight(end)),
    ];
    let counted = sql::read_ints(db, sql, args).await?;
    Ok(counted.first().map_or(0, |(n, _)| u32::try_from(*n).unwrap_or(u32::MAX)))
}

paged_lists!(
    SessionModel,
    "sessions",
    list_sessions,
    list_sessions_backward,
    list_sessions_fetching,
    SessionFilter,
    SessionOrder,
    SessionCursor,
    SessionPage,
    SessionPart
);

/// The parts of a [`SessionRow`] a list may leave out ([`crate::Fetch`]): none yet, a session
/// list always reads whole rows (only its count is optional).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionPart {}

/// The conditions of `filter` on `session s`.
fn filter_sql(b: Backend, filter: &SessionFilter, binds: &mut Binds) -> Result<Vec<String>, ProjectionError> {
    // the days of a period, as the indicators take them (four-digit years, from before to)
    Period::new(filter.from, filter.to).validate()?;
    let mut conditions = vec![];
    conditions.extend(any_code(b, "s.status", &filter.status, binds));
    conditions.extend(any_code(b, "s.format", &filter.format, binds));
    // overlap of [starts_at, ends_at] with the days from..=to; null schedules never match
    if let Some(from) = filter.from {
        let n = binds.push(Arg::Time(midnight(from)));
        conditions.push(format!("s.ends_at > ${n}"));
    }
    if let Some(to) = filter.to {
        let n = binds.push(Arg::Time(midnight(to + Days::new(1))));
        conditions.push(format!("s.starts_at < ${n}"));
    }
    conditions.extend(academie_condition(b, &Tables::live(), &filter.academie_code, binds));
    if let Some(project) = filter.project_id {
        let n = binds.push(Arg::Uuid(project));
        conditions.push(format!(
            "exists (select 1 from session_project sp where sp.session_id = s.id and sp.project_id = ${n})"
        ));
    }
    conditions.extend(text_condition("s.search_text", filter.text.as_deref(), binds));
    Ok(conditions)
}

/// The condition "session `s` belongs to one of `codes`" — its attendance names one, or it is
/// linked to a project of one — `None` for no code: the académie filter of the lists, and the
/// territory of the indicators, so that both count the same sessions.
pub(crate) fn academie_condition(b: Backend, t: &Tables, codes: &[AcademieCode], binds: &mut Binds) -> Option<String> {
    if codes.is_empty() {
        return None;
    }
    let codes: Vec<String> = codes.iter().map(|c| c.as_str().to_owned()).collect();
    let attendance = any_of(b, "a.academie_code", codes.clone(), binds);
    let projects = any_of(b, "pa.academie_code", codes, binds);
    Some(format!(
        "(exists (select 1 from {} a where a.session_id = s.id and {attendance}) \
         or exists (select 1 from {} sp join {} pa on pa.project_id = sp.project_id \
         where sp.session_id = s.id and {projects}))",
        t.of("session_academie"),
        t.of("session_project"),
        t.of("project_academie"),
    ))
}

/// Where a cursor of the start order leaves off. Ascending, scheduled sessions come by
/// `(starts_at, id)`, then unscheduled ones by id; descending is the exact reverse.
fn after_start(at: Option<DateTime<Utc>>, id: Uuid, ascending: bool, binds: &mut Binds) -> String {
    let columns = ["s.starts_at", "s.id"];
    match (at, ascending) {
        (Some(at), true) => {
            format!("(s.starts_at is null or {})", after_key(&columns, vec![Arg::Time(at), Arg::Uuid(id)], true, binds))
        }
        (Some(at), false) => format!(
            "(s.starts_at is not null and {})",
            after_key(&columns, vec![Arg::Time(at), Arg::Uuid(id)], false, binds)
        ),
        (None, true) => format!("(s.starts_at is null and s.id > ${})", binds.push(Arg::Uuid(id))),
        (None, false) => format!("(s.starts_at is not null or s.id < ${})", binds.push(Arg::Uuid(id))),
    }
}

impl Listing for SessionModel {
    type Row = SessionRow;
    type Filter = SessionFilter;
    type Field = SessionOrderField;
    type Cursor = SessionCursor;
    type Part = SessionPart;
    const WHAT: &'static str = "sessions";
    const FROM: &'static str = "session s";

    fn page_row(b: Backend, _omit: &[SessionPart]) -> String {
        b.json_text(crate::session::session_json(b, &Tables::live(), true))
    }

    fn page_decode(text: &str) -> Result<SessionRow, ProjectionError> {
        Self::decode(text)
    }

    fn conditions(b: Backend, filter: &SessionFilter, binds: &mut Binds) -> Result<Vec<String>, ProjectionError> {
        filter_sql(b, filter, binds)
    }

    fn order_by(field: SessionOrderField, ascending: bool) -> Vec<String> {
        match field {
            // explicit, as the backends differ by default: unscheduled last ascending, first descending
            SessionOrderField::StartsAt => {
                let (direction, nulls) = if ascending { ("asc", "last") } else { ("desc", "first") };
                vec![format!("s.starts_at {direction} nulls {nulls}"), format!("s.id {direction}")]
            }
            SessionOrderField::Reference => order_terms(&["s.reference"], ascending),
            SessionOrderField::UpdatedAt => order_terms(&["s.updated_at", "s.id"], ascending),
        }
    }

    fn keyset(field: SessionOrderField, cursor: &SessionCursor, ascending: bool, binds: &mut Binds) -> Option<String> {
        Some(match (field, cursor) {
            (SessionOrderField::StartsAt, SessionCursor::StartsAt { at, id }) => {
                after_start(*at, *id, ascending, binds)
            }
            (SessionOrderField::Reference, SessionCursor::Reference { reference }) => {
                after_key(&["s.reference"], vec![Arg::Text(reference.clone())], ascending, binds)
            }
            (SessionOrderField::UpdatedAt, SessionCursor::UpdatedAt { at, id }) => {
                after_key(&["s.updated_at", "s.id"], vec![Arg::Time(*at), Arg::Uuid(*id)], ascending, binds)
            }
            _ => return None,
        })
    }
}
