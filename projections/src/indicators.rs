//! The lab's indicators (DESIGN §4.5): what it accompanied and what it held, for a period and a
//! territory, counted in SQL over the read models — two aggregate statements whatever the
//! number of projects and sessions (no row travels to Rust), run side by side on two
//! connections, both backends through the `sql` helpers, every value bound. What a figure
//! would otherwise count row by row at every request is kept on the row it counts: a session's
//! registrations are its `registration_count`, summed.
//!
//! The definitions below are a contract for the front ends; each figure's doc says exactly
//! what it counts. In short:
//! - **the period** ([`Period`]) is a range of calendar days, both ends included, in UTC; either
//!   end may be open. It applies to dated facts only: a project's submission and acceptance
//!   days, a session's `held_at`. Counts of the current state (by status, by phase…) are *as of
//!   now*, whatever the period.
//! - **the territory**: a project belongs to the académies it is linked to (`project_academie`);
//!   a session to those its attendance names (`session_academie`) and to those of its linked
//!   projects — the very conditions of the `academieCode` filters of the project and session
//!   lists (`academie_condition` of each read model), so that a list and its indicators agree.
//!   No académie means everywhere.
//!
//! What the read models cannot date yet (transfers, abandonments, declines) is counted by
//! current status and says so; lead times (DESIGN §4.5) are left for later. Indicators "as of"
//! a past moment ([`indicators_as_of`]) run the same statements over the read models'
//! timelines at that moment (`crate::timeline`).

use crate::model::{Binds, Tables, code, decode_json, midnight};
use crate::runner::ReadModel;
use crate::sql::{self, Arg, Backend, Reader};
use crate::timeline;
use crate::{Db, ProjectionError, project, session};
use carnet_domain::project::{Phase, ProjectStatus, SupportMode};
use carnet_domain::session::SessionFormat;
use carnet_domain::values::AcademieCode;
use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use serde::Deserialize;
use std::collections::HashMap;

/// The days the dated indicators cover: `from` to `to`, both included, as UTC calendar days.
/// `None` leaves that end open; both `None` is "since the beginning, until now".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Period {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl Period {
    pub fn new(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Self {
        Self { from, to }
    }

    /// Refuses a period that ends before it starts, or a day outside four-digit years (SQLite
    /// compares timestamps as fixed-width text), as [`ProjectionError::InvalidArgument`] in
    /// words for the user.
    pub fn validate(&self) -> Result<(), ProjectionError> {
        for day in self.from.iter().chain(&self.to) {
            if !(1..=9998).contains(&day.year()) {
                return Err(ProjectionError::InvalidArgument(format!(
                    "la date {day} est hors des limites du calendrier"
                )));
            }
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from > to
        {
            return Err(ProjectionError::InvalidArgument(format!(
                "la période demandée commence ({from}) après sa fin ({to})"
            )));
        }
        Ok(())
    }

    /// The conditions "`column` (a date) falls within the period", values bound into `binds`.
    fn on_days(&self, column: &str, binds: &mut Binds) -> Vec<String> {
        let mut conditions = vec![];
        if let Some(from) = self.from {
            conditions.push(format!("{column} >= ${}", binds.push(Arg::Date(from))));
        }
        if let Some(to) = self.to {
            conditions.push(format!("{column} <= ${}", binds.push(Arg::Date(to))));
        }
        conditions
    }

    /// The conditions "`column` (a timestamp) falls within the period": from midnight UTC of
    /// `from` to (excluded) midnight UTC after `to`.
    fn on_times(&self, column: &str, binds: &mut Binds) -> Vec<String> {
        let mut conditions = vec![];
        if let Some(from) = self.from {
            conditions.push(format!("{column} >= ${}", binds.push(Arg::Time(midnight(from)))));
        }
        // `validate` keeps `to` below year 9999, so the next day exists
        if let Some(next) = self.to.and_then(|to| to.checked_add_days(Days::new(1))) {
            conditions.push(format!("{column} < ${}", binds.push(Arg::Time(midnight(next)))));
        }
        conditions
    }
}

/// How many of something carry one value of a breakdown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Count<K> {
    pub key: K,
    pub count: u64,
}

/// The lab's indicators for one period and one territory.
#[derive(Clone, Debug, PartialEq)]
pub struct Indicators {
    /// The period asked for, echoed.
    pub period: Period,
    pub projects: ProjectIndicators,
    pub sessions: SessionIndicators,
}

/// The projects of the territory (linked to one of its académies; every project when no
/// académie is given).
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectIndicators {
    /// Every project of the territory, whatever its status and the period: the lab's
    /// portfolio as of now.
    pub total: u64,
    /// Projects submitted within the period (`submitted_on`), whatever became of them.
    pub new_requests: u64,
    /// Every project of the territory by current status (not restricted to the period), one
    /// entry per status in the lifecycle's order, zeros included; they add up to `total`.
    pub by_status: Vec<Count<ProjectStatus>>,
    /// Projects with an open phase, by that phase (as of now, not restricted to the period),
    /// one entry per phase in order, zeros included. A paused project counts in the phase it
    /// paused in; projects without an open phase (not yet accepted, ended, or reopened and not
    /// resumed) are in no entry.
    pub by_phase: Vec<Count<Phase>>,
    /// Every project of the territory by its current support mode (as of now), one entry per
    /// mode, zeros included; they add up to `total`.
    pub by_support_mode: Vec<Count<SupportMode>>,
    /// Projects by linked académie (as of now), by code, académies with at least one project
    /// only; a project of two académies counts in each, so the entries may add up to more
    /// than `total`. With a territory, only its académies are listed.
    pub by_academie: Vec<Count<AcademieCode>>,
    /// Projects accepted within the period (`accepted_on`), whatever their status since
    /// (active, paused, transferred, abandoned…).
    pub accepted: u64,
    /// Projects whose current status is `TRANSFERRED` (pérennisés). **Not restricted to the
    /// period**: the read model keeps no transfer date yet, so this is the count by status.
    pub transferred: u64,
    /// Projects whose current status is `ABANDONED`. **Not restricted to the period**, for the
    /// same reason as `transferred`.
    pub abandoned: u64,
    /// Among the projects *submitted within the period* that the lab has decided on — accepted
    /// (an acceptance day, whatever the status since) or currently `DECLINED` — the share
    /// accepted, from 0 to 1; `None` when none is decided. Withdrawn requests (the holder's
    /// choice) and requests still under qualification are left out. A cohort rate, because the
    /// read model does not date declines.
    pub acceptance_rate: Option<f64>,
}

/// The sessions of the territory (its attendance names one of its académies, or it is linked
/// to a project of one; every session when no académie is given) **held within the period**:
/// `held_at` (the moment the session was declared held) within the period's days. A session
/// that is not held (requested, scheduled, cancelled…) counts nowhere.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionIndicators {
    /// How many sessions were held.
    pub held: u64,
    /// Held sessions by format, one entry per format in order, zeros included.
    pub by_format: Vec<Count<SessionFormat>>,
    /// Registrations to the held sessions (one per registered person per session; a person
    /// registered to two sessions counts twice).
    pub participants: u64,
    /// People present at the held sessions: the sum of their recorded attendance counts
    /// ("visiteurs" of the lab's headline); a session without a recorded attendance adds 0.
    pub visitors: u64,
    /// The mean satisfaction score (1 to 5) of the held sessions' surveys, each weighted by its
    /// number of respondents; `None` without any respondent.
    pub mean_satisfaction: Option<f64>,
    /// Over the held sessions with both a recorded attendance and a capacity: people present
    /// divided by places offered. May exceed 1 (walk-ins); `None` when no session qualifies.
    pub attendance_rate: Option<f64>,
}

impl Indicators {
    /// Zeros for `period`: what a territory with no académie in it gets (an académie that
    /// asks only for others'), without asking the database.
    pub fn none(period: Period) -> Self {
        Self {
            period,
            projects: ProjectIndicators {
                total: 0,
                new_requests: 0,
                by_status: zeros(&ProjectStatus::ALL),
                by_phase: zeros(&Phase::ALL),
                by_support_mode: zeros(&SupportMode::ALL),
                by_academie: vec![],
                accepted: 0,
                transferred: 0,
                abandoned: 0,
                acceptance_rate: None,
            },
            sessions: SessionIndicators {
                held: 0,
                by_format: zeros(&SessionFormat::ALL),
                participants: 0,
                visitors: 0,
                mean_satisfaction: None,
                attendance_rate: None,
            },
        }
    }
}

fn zeros<K: Copy>(all: &[K]) -> Vec<Count<K>> {
    all.iter().map(|&key| Count { key, count: 0 }).collect()
}

/// The indicators of `period` for the projects and sessions of `academies` (empty: everywhere).
/// See [`ProjectIndicators`] and [`SessionIndicators`] for what each figure counts. A period that
/// ends before it starts is [`ProjectionError::InvalidArgument`].
pub async fn indicators(
    db: Db<'_>,
    period: &Period,
    academies: &[AcademieCode],
) -> Result<Indicators, ProjectionError> {
    period.validate()?;
    indicators_over(db, &Tables::live(), period, academies).await
}

/// The indicators as the read models gave them at `at` (DESIGN §4.5, "as of any date"): the
/// very statements of [`indicators`] over the read models' timelines at that moment
/// ([`crate::timeline`]: the columns they count, kept over time by the projectors), so "now" in
/// the figures' definitions (counts by current status) means `at`. Recorded time: what Carnet
/// knew then. As cheap as [`indicators`] whatever the length of the log (a scan of the
/// timelines, no fold).
///
/// Refused (`indicators.as_of_rebuild_due`) while a migration has left the project or session
/// timelines to be filled by a rebuild (a database upgraded with its log: `carnet rebuild`).
pub async fn indicators_as_of(
    db: Db<'_>,
    at: DateTime<Utc>,
    period: &Period,
    academies: &[AcademieCode],
) -> Result<Indicators, ProjectionError> {
    period.validate()?;
    let due = timeline::rebuild_due(db, &[ReadModel::Projects.name(), ReadModel::Sessions.name()]).await?;
    if let Some((model, reason)) = due.first() {
        return Err(ProjectionError::Refused {
            rule: "indicators.as_of_rebuild_due",
            message: format!(
                "les indicateurs à une date passée attendent la reconstruction du modèle de lecture « {model} » \
                 ({reason}) : lancez `carnet rebuild`"
            ),
        });
    }
    indicators_over(db, &Tables::as_of(db.backend(), at), period, academies).await
}

async fn indicators_over(
    db: Db<'_>,
    t: &Tables,
    period: &Period,
    academies: &[AcademieCode],
) -> Result<Indicators, ProjectionError> {
    let b = db.backend();
    let (project_sql, project_args) = project_statement(b, t, period, academies);
    let (session_sql, session_args) = session_statement(b, t, period, academies);
    // side by side, each on a connection of its own, held only for its statement (so two
    // requests can never wait on each other's second connection); on one connection they
    // would not share a snapshot either (each statement is its own read)
    let run = |sql: String, args: Vec<Arg>| async move {
        let mut reader = Reader::acquire(db).await?;
        sql::fetch_texts(&mut reader.conn(), &sql, args).await
    };
    let (project_rows, session_rows) =
        futures::try_join!(run(project_sql, project_args), run(session_sql, session_args))?;
    Ok(Indicators {
        period: *period,
        projects: project_figures(&project_rows)?,
        sessions: session_figures(&session_rows)?,
    })
}

// ---------------------------------------------------------------------------------------------
// Projects

/// Two kinds of JSON rows: one `{dim: "counts", "<figure>": n, "<breakdown>.<key>": n…}` — every
/// figure and breakdown entry counted in one pass over the territory's projects, a filtered
/// count each (breakdown keys are the domain's codes, so every entry is there, zeros included)
/// — and one `{dim: "academie", key, n}` per académie.
fn project_statement(b: Backend, t: &Tables, period: &Period, academies: &[AcademieCode]) -> (String, Vec<Arg>) {
    let mut binds = t.binds();
    let territory = project::academie_condition(b, t, academies, &mut binds);
    let scoped = format!(
        "select p.status, p.phase, p.support_mode, p.submitted_on, p.accepted_on from {} p{}",
        t.of("project"),
        where_(territory.into_iter().collect())
    );
    let count = |conditions: Vec<String>| match conditions.is_empty() {
        true => "count(*)".to_owned(),
        false => format!("count(*) filter (where {})", conditions.join(" and ")),
    };
    let mut counts: Vec<(String, String)> = vec![("dim".into(), "'counts'".into())];
    let mut breakdown = |binds: &mut Binds, dim: &str, column: &str, codes: Vec<String>| {
        for key in codes {
            let condition = format!("{column} = ${}", binds.push(Arg::Text(key.clone())));
            counts.push((format!("{dim}.{key}"), count(vec![condition])));
        }
    };
    breakdown(&mut binds, "status", "status", ProjectStatus::ALL.iter().map(code).collect());
    breakdown(&mut binds, "phase", "phase", Phase::ALL.iter().map(code).collect());
    breakdown(&mut binds, "mode", "support_mode", SupportMode::ALL.iter().map(code).collect());
    counts.push(("total".into(), count(vec![])));
    let submitted = period.on_days("submitted_on", &mut binds);
    counts.push(("new".into(), count(submitted.clone())));
    let mut accepted = vec!["accepted_on is not null".to_owned()];
    accepted.extend(period.on_days("accepted_on", &mut binds));
    counts.push(("accepted".into(), count(accepted)));
    // the cohort of the acceptance rate: submitted within the period, then decided
    let mut cohort_accepted = vec!["accepted_on is not null".to_owned()];
    cohort_accepted.extend(submitted.iter().cloned());
    counts.push(("cohort_accepted".into(), count(cohort_accepted)));
    let declined = binds.push(Arg::Text(code(&ProjectStatus::Declined)));
    let mut cohort_declined = vec![format!("status = ${declined}"), "accepted_on is null".to_owned()];
    cohort_declined.extend(submitted);
    counts.push(("cohort_declined".into(), count(cohort_declined)));
    let pairs: Vec<(&str, String)> = counts.iter().map(|(k, e)| (k.as_str(), e.clone())).collect();

    // by académie: within the territory's académies only, when it has some. Counted over the
    // links alone: a link to one of the territory's académies puts its project in the territory
    // (that is the territory's condition), and a link exists only with its project's row, so
    // joining the scoped projects would keep every link counted here.
    let mut on_academie = vec![];
    if !academies.is_empty() {
        let codes = academies.iter().map(|c| c.as_str().to_owned()).collect();
        on_academie.push(crate::model::any_of(b, "pa.academie_code", codes, &mut binds));
    }
    let by_academie =
        b.json_object(&[("dim", "'academie'".into()), ("key", "pa.academie_code".into()), ("n", "count(*)".into())]);
    let sql = format!(
        "with scoped as ({scoped}) select {} from scoped union all \
         select {} from {} pa{} group by pa.academie_code",
        b.json_text(b.json_object(&pairs)),
        b.json_text(by_academie),
        t.of("project_academie"),
        where_(on_academie),
    );
    (sql, binds.0)
}

fn project_figures(rows: &[String]) -> Result<ProjectIndicators, ProjectionError> {
    let mut counts: HashMap<String, serde_json::Value> = HashMap::new();
    let mut by_academie = vec![];
    for text in rows {
        let mut row: HashMap<String, serde_json::Value> = decode_json(text, "a project indicator")?;
        match row.remove("dim").as_ref().and_then(|d| d.as_str()) {
            Some("academie") => {
                let raw = row.get("key").and_then(serde_json::Value::as_str).unwrap_or_default();
                let key = AcademieCode::from_stored(raw)
                    .map_err(|e| ProjectionError::Corrupt(format!("académie « {raw} » : {}", e.message)))?;
                let n = row.get("n").and_then(serde_json::Value::as_i64).ok_or_else(|| {
                    ProjectionError::Corrupt(format!("project indicator of académie « {raw} » without a count"))
                })?;
                by_academie.push(Count { key, count: u64::try_from(n).unwrap_or(0) });
            }
            Some("counts") => counts = row,
            other => return Err(ProjectionError::Corrupt(format!("project indicator row of kind {other:?}"))),
        }
    }
    by_academie.sort_by(|a, b| a.key.as_str().cmp(b.key.as_str()));
    // every count is in the one row the statement gives (a missing one would be a bug, not a zero)
    let figure = |name: &str| -> Result<u64, ProjectionError> {
        counts
            .get(name)
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| ProjectionError::Corrupt(format!("project indicator « {name} » missing")))
    };
    let breakdown = |dim: &str, key: String| figure(&format!("{dim}.{key}"));
    let by_status = ProjectStatus::ALL
        .iter()
        .map(|&s| Ok(Count { key: s, count: breakdown("status", code(&s))? }))
        .collect::<Result<Vec<_>, ProjectionError>>()?;
    let status = |s: ProjectStatus| by_status.iter().find(|c| c.key == s).map_or(0, |c| c.count);
    let (cohort_accepted, cohort_declined) = (figure("cohort_accepted")?, figure("cohort_declined")?);
    let decided = cohort_accepted + cohort_declined;
    Ok(ProjectIndicators {
        total: figure("total")?,
        new_requests: figure("new")?,
        by_phase: Phase::ALL
            .iter()
            .map(|&p| Ok(Count { key: p, count: breakdown("phase", code(&p))? }))
            .collect::<Result<_, ProjectionError>>()?,
        by_support_mode: SupportMode::ALL
            .iter()
            .map(|&m| Ok(Count { key: m, count: breakdown("mode", code(&m))? }))
            .collect::<Result<_, ProjectionError>>()?,
        by_academie,
        accepted: figure("accepted")?,
        transferred: status(ProjectStatus::Transferred),
        abandoned: status(ProjectStatus::Abandoned),
        acceptance_rate: (decided > 0).then(|| cohort_accepted as f64 / decided as f64),
        by_status,
    })
}

// ---------------------------------------------------------------------------------------------
// Sessions

/// One JSON row per format (`{dim: "format", key, n}`) and one row of totals (`dim: "totals"`).
fn session_statement(b: Backend, t: &Tables, period: &Period, academies: &[AcademieCode]) -> (String, Vec<Arg>) {
    let mut binds = t.binds();
    let mut conditions = vec!["s.held_at is not null".to_owned()];
    conditions.extend(period.on_times("s.held_at", &mut binds));
    conditions.extend(session::academie_condition(b, t, academies, &mut binds));
    let held = format!(
        "select s.format, s.capacity, s.attendance_count, s.satisfaction_respondents, s.satisfaction_mean, \
         s.registration_count from {} s{}",
        t.of("session"),
        where_(conditions)
    );
    let by_format = b.json_object(&[("dim", "'format'".into()), ("key", "format".into()), ("n", "count(*)".into())]);
    // attendance vs capacity, and satisfaction, only over the sessions that have both figures
    let with_capacity = "attendance_count is not null and capacity is not null";
    let surveyed = "satisfaction_respondents > 0 and satisfaction_mean is not null";
    let totals = b.json_object(&[
        ("dim", "'totals'".into()),
        ("n", "count(*)".into()),
        ("participants", "coalesce(sum(registration_count), 0)".into()),
        ("visitors", "coalesce(sum(attendance_count), 0)".into()),
        ("present", format!("sum(case when {with_capacity} then attendance_count end)")),
        ("places", format!("sum(case when {with_capacity} then capacity end)")),
        ("score", format!("sum(case when {surveyed} then satisfaction_mean * satisfaction_respondents end)")),
        ("respondents", format!("sum(case when {surveyed} then satisfaction_respondents end)")),
    ]);
    let sql = format!(
        "with held as ({held}) select {} from held group by format union all select {} from held",
        b.json_text(by_format),
        b.json_text(totals),
    );
    (sql, binds.0)
}

#[derive(Deserialize)]
struct SessionFigure {
    dim: String,
    #[serde(default)]
    key: Option<String>,
    n: i64,
    #[serde(default)]
    participants: Option<i64>,
    #[serde(default)]
    visitors: Option<i64>,
    #[serde(default)]
    present: Option<i64>,
    #[serde(default)]
    places: Option<i64>,
    #[serde(default)]
    score: Option<f64>,
    #[serde(default)]
    respondents: Option<i64>,
}

fn session_figures(rows: &[String]) -> Result<SessionIndicators, ProjectionError> {
    let count = |n: Option<i64>| n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
    let mut formats: HashMap<String, u64> = HashMap::new();
    let mut totals = None;
    for text in rows {
        let f: SessionFigure = decode_json(text, "a session indicator")?;
        match (f.dim.as_str(), &f.key) {
            ("format", Some(key)) => {
                formats.insert(key.clone(), count(Some(f.n)));
            }
            _ => totals = Some(f),
        }
    }
    // the totals row is always there (an aggregate without group by); its absence is corruption
    let t = totals.ok_or_else(|| ProjectionError::Corrupt("the session indicators have no totals".into()))?;
    let (present, places) = (count(t.present), count(t.places));
    let respondents = count(t.respondents);
    Ok(SessionIndicators {
        held: count(Some(t.n)),
        by_format: SessionFormat::ALL
            .iter()
            .map(|&f| Count { key: f, count: formats.get(&code(&f)).copied().unwrap_or(0) })
            .collect(),
        participants: count(t.participants),
        visitors: count(t.visitors),
        mean_satisfaction: (respondents > 0).then(|| t.score.unwrap_or(0.0) / respondents as f64),
        attendance_rate: (places > 0).then(|| present as f64 / places as f64),
    })
}

/// ` where a and b…`, or nothing.
fn where_(conditions: Vec<String>) -> String {
    if conditions.is_empty() { String::new() } else { format!(" where {}", conditions.join(" and ")) }
}
