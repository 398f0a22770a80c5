//! `indicators(from, to, academieCode)`: the lab's figures for a period and a territory
//! (DESIGN §4.5), as `carnet_projections::indicators` counts them — its doc comments hold the
//! exact definitions, repeated here in the SDL for the front ends.
//!
//! Access: `LAB_TEAM`, `ADMIN` and `AUDITOR` see every académie; an `ACADEMIE` caller sees its
//! territory only — its `academieCode` filter is intersected with its académies, and a filter
//! naming only others gets zeros, not an error (as the lists answer an empty page); `READER`
//! is `FORBIDDEN` until public figures are defined.

use super::access;
use super::error::ApiError;
use super::project::{Phase, ProjectStatus, SupportMode};
use super::session::SessionFormat;
use async_graphql::{Context, Object, SimpleObject};
use carnet_domain::values::AcademieCode;
use carnet_projections::{
    Count, Indicators as Figures, Period, ProjectionError, ProjectionStore, indicators, indicators_as_of,
};
use chrono::{DateTime, NaiveDate, Utc};
use futures::FutureExt;

#[derive(Default)]
pub struct IndicatorsQuery;

#[Object]
impl IndicatorsQuery {
    /// The lab's indicators over the days `from` to `to` (both included, UTC; either may be
    /// left open) for the projects and sessions of the académies `academieCode` (none: every
    /// académie, within the caller's territory). `BAD_USER_INPUT` when `from` is after `to` or
    /// a code is unknown.
    ///
    /// `asOf`: the indicators as they stood at that moment (events recorded by then), read from
    /// the read models' timelines; "now" in the figures' definitions is then that moment. It
    /// scans the whole history of the figures: it weighs 1 000 in the complexity limit, and a
    /// few run at once (`RATE_LIMITED` with `reason: "BUSY"` beyond). Refused (rule
    /// `indicators.as_of_rebuild_due`) while an upgraded database awaits `carnet rebuild`. Nullable: a
    /// refused or failed `indicators` is `null` under its alias, and the document's other
    /// fields (other periods, territories, moments) still answer.
    #[graphql(
        complexity = "super::expensive::as_of_cost(as_of.is_some(), super::expensive::INDICATORS_AS_OF, child_complexity)"
    )]
    async fn indicators(
        &self,
        ctx: &Context<'_>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        academie_code: Option<Vec<String>>,
        as_of: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<Option<Indicators>> {
        let caller = access::reader(ctx)?;
        let period = Period::new(from, to);
        period.validate().map_err(|e| caller.fail(read_error(e)))?;
        let mut codes: Vec<AcademieCode> = academie_code
            .unwrap_or_default()
            .iter()
            .map(|c| AcademieCode::from_stored(c))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| caller.fail(e))?;
        codes.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        codes.dedup();
        let Some(codes) = caller.within_territory(codes) else {
            // asked only for other académies (or a token without any): nothing of theirs
            return Ok(Some(Indicators { figures: Figures::none(period), academies: vec![] }));
        };
        let figures = match as_of {
            None => {
                indicators(caller.state.store.db(), &period, &codes).await.map_err(|e| caller.fail(read_error(e)))?
            }
            Some(at) => {
                let fold = indicators_as_of(caller.state.store.db(), at, &period, &codes);
                caller.fold(fold.map(|folded| folded.map_err(read_error))).await?
            }
        };
        Ok(Some(Indicators { figures, academies: codes }))
    }
}

/// A failed read: a bad period is `BAD_USER_INPUT`, the rest is internal.
fn read_error(e: ProjectionError) -> ApiError {
    match e {
        ProjectionError::InvalidArgument(m) => ApiError::BadUserInput(m, "period"),
        other => other.into(),
    }
}

/// The lab's figures for one period and one territory.
pub struct Indicators {
    figures: Figures,
    /// The académies counted, sorted; empty for every académie.
    academies: Vec<AcademieCode>,
}

#[Object]
impl Indicators {
    /// The period asked for, echoed: dated figures count what happened on these days.
    async fn period(&self) -> IndicatorPeriod {
        IndicatorPeriod { from: self.figures.period.from, to: self.figures.period.to }
    }
    /// The académies the figures cover, sorted; empty for every académie. For an `ACADEMIE`
    /// caller, the académies asked for that are within its territory (all of it when none).
    async fn academie_codes(&self) -> Vec<&str> {
        self.academies.iter().map(AcademieCode::as_str).collect()
    }
    async fn projects(&self) -> ProjectIndicators {
        let p = &self.figures.projects;
        ProjectIndicators {
            total: p.total,
            new_requests: p.new_requests,
            by_status: p
                .by_status
                .iter()
                .map(|c| StatusCount { status: c.key.into(), label: c.key.label(), count: c.count })
                .collect(),
            by_phase: p
                .by_phase
                .iter()
                .map(|c| PhaseCount { phase: c.key.into(), label: c.key.label(), count: c.count })
                .collect(),
            by_support_mode: p
                .by_support_mode
                .iter()
                .map(|c| SupportModeCount { support_mode: c.key.into(), label: c.key.label(), count: c.count })
                .collect(),
            by_academie: p.by_academie.iter().map(academie_count).collect(),
            accepted: p.accepted,
            transferred: p.transferred,
            abandoned: p.abandoned,
            acceptance_rate: p.acceptance_rate,
        }
    }
    async fn sessions(&self) -> SessionIndicators {
        let s = &self.figures.sessions;
        SessionIndicators {
            held: s.held,
            by_format: s
                .by_format
                .iter()
                .map(|c| FormatCount { format: c.key.into(), label: c.key.label(), count: c.count })
                .collect(),
            participants: s.participants,
            visitors: s.visitors,
            mean_satisfaction: s.mean_satisfaction,
            attendance_rate: s.attendance_rate,
        }
    }
}

fn academie_count(c: &Count<AcademieCode>) -> AcademieCount {
    // the name from the national reference (historical académies included)
    let name = carnet_domain::values::academies().iter().find(|a| a.code == c.key.as_str()).map_or("", |a| a.name);
    AcademieCount { code: c.key.as_str().to_owned(), name, count: c.count }
}

/// Calendar days, both included, UTC; `null` leaves that end open.
#[derive(SimpleObject)]
pub struct IndicatorPeriod {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

/// The projects of the territory (linked to one of its académies).
#[derive(SimpleObject)]
pub struct ProjectIndicators {
    /// Every project, whatever its status and the period: the portfolio as of now.
    total: u64,
    /// Projects submitted within the period (submission day), whatever became of them.
    new_requests: u64,
    /// Every project by current status (as of now, not restricted to the period): one entry per
    /// status in the lifecycle's order, zeros included; they add up to `total`.
    by_status: Vec<StatusCount>,
    /// Projects with an open phase, by that phase (as of now): one entry per phase in order,
    /// zeros included. A paused project counts in the phase it paused in; projects without an
    /// open phase (not accepted yet, ended) are in none.
    by_phase: Vec<PhaseCount>,
    /// Every project by current support mode (as of now), zeros included; adds up to `total`.
    by_support_mode: Vec<SupportModeCount>,
    /// Projects by linked académie (as of now), by code, académies with at least one project
    /// only (within the territory when one is given). A project of two académies counts in
    /// each, so the entries may add up to more than `total`.
    by_academie: Vec<AcademieCount>,
    /// Projects accepted within the period (acceptance day), whatever their status since.
    accepted: u64,
    /// Projects currently TRANSFERRED (pérennisés). Not restricted to the period: the read
    /// model does not date transfers yet.
    transferred: u64,
    /// Projects currently ABANDONED. Not restricted to the period: the read model does not
    /// date abandonments yet.
    abandoned: u64,
    /// Among the projects submitted within the period that the lab has decided on (accepted at
    /// some point, or currently DECLINED), the share accepted, 0 to 1; `null` when none is
    /// decided. Withdrawn requests and those still in qualification are left out.
    acceptance_rate: Option<f64>,
}

/// The sessions of the territory (its attendance names one of its académies, or it is linked
/// to a project of one) held within the period (the moment it was declared held). Sessions not
/// held (requested, scheduled, cancelled…) count nowhere.
#[derive(SimpleObject)]
pub struct SessionIndicators {
    /// Sessions held.
    held: u64,
    /// Sessions held, by format: one entry per format, zeros included.
    by_format: Vec<FormatCount>,
    /// Registrations to the sessions held (one per person per session).
    participants: u64,
    /// People present at the sessions held: the sum of their recorded attendance counts (the
    /// lab's "visiteurs"); a session without a recorded attendance adds nothing.
    visitors: u64,
    /// Mean satisfaction score (1 to 5) of the surveys of the sessions held, weighted by
    /// respondents; `null` without any respondent.
    mean_satisfaction: Option<f64>,
    /// Over the sessions held with both an attendance and a capacity: people present divided by
    /// places offered (above 1 when more came than planned); `null` when none qualifies.
    attendance_rate: Option<f64>,
}

#[derive(SimpleObject)]
pub struct StatusCount {
    status: ProjectStatus,
    label: &'static str,
    count: u64,
}

#[derive(SimpleObject)]
pub struct PhaseCount {
    phase: Phase,
    label: &'static str,
    count: u64,
}

#[derive(SimpleObject)]
pub struct SupportModeCount {
    support_mode: SupportMode,
    label: &'static str,
    count: u64,
}

#[derive(SimpleObject)]
pub struct AcademieCount {
    /// The académie code, e.g. `24` for Créteil.
    code: String,
    name: &'static str,
    count: u64,
}

#[derive(SimpleObject)]
pub struct FormatCount {
    format: SessionFormat,
    label: &'static str,
    count: u64,
}
