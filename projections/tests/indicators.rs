//! The indicators on both backends, over projects and sessions driven through the real
//! commands with the inline projections: counts by status, phase, support mode and académie,
//! period boundaries (both ends included, UTC days), the territory of projects and of sessions
//! (through the attendance and through a linked project), participants, visitors,
//! satisfaction and attendance rate, and zeros on an empty database.

mod common;

use carnet_testkit::{Backend, for_each_backend};

use carnet_domain::project::{AbandonReason, Phase, Project, ProjectCommand, ProjectStatus, SupportMode};
use carnet_domain::session::*;
use carnet_domain::values::*;
use carnet_projections::*;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use common::{aca, at, day, label, long};
use std::collections::{BTreeMap, BTreeSet};

for_each_backend!(
    an_empty_database_gives_zeros,
    projects_are_counted_by_status_phase_mode_and_academie,
    the_period_includes_both_of_its_days,
    sessions_held_in_the_period_are_counted_with_their_people,
    a_territory_counts_its_own_projects_and_sessions,
    a_period_that_ends_before_it_starts_is_refused,
    as_of_a_moment_they_are_what_they_were_then,
    an_upgraded_database_refuses_them_as_of_a_moment_until_rebuilt,
    an_upgrade_that_counts_registrations_refuses_them_as_of_a_moment_until_rebuilt,
    a_version_closed_before_it_opened_is_valid_at_no_moment,
);

// ---------------------------------------------------------------------------------------------
// Helpers

fn period(from: Option<&str>, to: Option<&str>) -> Period {
    Period::new(from.map(day), to.map(day))
}

/// February and March 2026: the period most tests ask for.
fn feb_march() -> Period {
    period(Some("2026-02-01"), Some("2026-03-31"))
}

async fn figures<S: ProjectionStore>(store: &S, period: Period, academies: &[&str]) -> Indicators {
    let codes: Vec<AcademieCode> = academies.iter().map(|c| aca(c)).collect();
    indicators(store.db(), &period, &codes).await.unwrap()
}

fn count_of<K: PartialEq + std::fmt::Debug>(counts: &[Count<K>], key: K) -> u64 {
    counts.iter().find(|c| c.key == key).unwrap_or_else(|| panic!("{key:?} missing")).count
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

async fn run_project<S: ProjectionStore>(store: &S, id: ProjectId, command: ProjectCommand) {
    common::run::<S, Project>(store, id.0, &command).await;
}

async fn run_session<S: ProjectionStore>(store: &S, id: SessionId, command: SessionCommand) {
    common::run::<S, Session>(store, id.0, &command).await;
}

/// What becomes of a test project after its submission.
enum Story {
    Submitted,
    Qualifying,
    /// Accepted on that day (with that mode), its phase then moved to `Prototyping` if asked.
    Active(&'static str, SupportMode, bool),
    Declined,
    Withdrawn,
    /// Accepted on the first day, transferred on the second.
    Transferred(&'static str, &'static str),
    /// Accepted on the first day, abandoned on the second.
    Abandoned(&'static str, &'static str),
}

async fn project<S: ProjectionStore>(
    store: &S,
    seq: u32,
    academies: &[&str],
    mode: SupportMode,
    submitted: &str,
    story: Story,
) -> ProjectId {
    use ProjectCommand as C;
    let id = ProjectId::new();
    let submitted = day(submitted);
    let academies = academies.iter().map(|c| aca(c)).collect();
    run_project(store, id, common::submission(id, seq, mode, academies, vec![], submitted)).await;
    let qualify = C::StartQualification { on: submitted };
    let accept = |on: &str, support_mode| C::AcceptProject { on: day(on), support_mode };
    let commands = match story {
        Story::Submitted => vec![],
        Story::Qualifying => vec![qualify],
        Story::Active(on, mode, prototyping) => {
            let mut commands = vec![qualify, accept(on, mode)];
            if prototyping {
                commands.push(C::StartPhase { phase: Phase::Prototyping, on: day(on) });
            }
            commands
        }
        Story::Declined => vec![qualify, C::DeclineProject { on: submitted, reason: long("hors du champ du lab") }],
        Story::Withdrawn => vec![C::WithdrawProject { on: submitted, reason: long("le porteur a changé de poste") }],
        Story::Transferred(accepted, on) => {
            vec![qualify, accept(accepted, mode), C::TransferProject { on: day(on), to: label("DNE"), notes: None }]
        }
        Story::Abandoned(accepted, on) => vec![
            qualify,
            accept(accepted, mode),
            C::AbandonProject {
                on: day(on),
                reason_code: AbandonReason::NoLongerNeeded,
                explanation: long("le besoin a disparu"),
            },
        ],
    };
    for command in commands {
        run_project(store, id, command).await;
    }
    id
}

/// Eight projects, around February–March 2026:
///
/// | # | académies | mode (now) | submitted | story                          |
/// |---|-----------|------------|-----------|--------------------------------|
/// | 1 | 24        | INCUBATION | 01-20     | accepted 02-01, exploration    |
/// | 2 | 24, 10    | PUNCTUAL   | 02-01     | declined                       |
/// | 3 | 01        | INCUBATION | 03-31     | accepted 03-31 (was NETWORK_LAB), prototyping |
/// | 4 | 10        | INCUBATION | 2025-12-31| accepted 01-05, transferred 03-01 |
/// | 5 | 02        | PUNCTUAL   | 04-01     | submitted                      |
/// | 6 | 01, 24    | PUNCTUAL   | 03-01     | accepted 04-01, abandoned 04-10 |
/// | 7 | 02        | NETWORK_LAB| 03-15     | withdrawn                      |
/// | 8 | 01        | INCUBATION | 02-15     | qualifying                     |
async fn eight_projects<S: ProjectionStore>(store: &S) -> Vec<ProjectId> {
    use SupportMode::*;
    vec![
        project(store, 1, &["24"], Incubation, "2026-01-20", Story::Active("2026-02-01", Incubation, false)).await,
        project(store, 2, &["24", "10"], Punctual, "2026-02-01", Story::Declined).await,
        project(store, 3, &["01"], NetworkLab, "2026-03-31", Story::Active("2026-03-31", Incubation, true)).await,
        project(store, 4, &["10"], Incubation, "2025-12-31", Story::Transferred("2026-01-05", "2026-03-01")).await,
        project(store, 5, &["02"], Punctual, "2026-04-01", Story::Submitted).await,
        project(store, 6, &["01", "24"], Punctual, "2026-03-01", Story::Abandoned("2026-04-01", "2026-04-10")).await,
        project(store, 7, &["02"], NetworkLab, "2026-03-15", Story::Withdrawn).await,
        project(store, 8, &["01"], Incubation, "2026-02-15", Story::Qualifying).await,
    ]
}

/// A test session and what happens to it.
struct Plan {
    format: SessionFormat,
    capacity: u32,
    registrations: usize,
    /// When it is declared held (`None`: scheduled, never held).
    held_at: Option<&'static str>,
    /// Attendance count and the académies it names.
    attendance: Option<(u32, &'static [&'static str])>,
    /// Respondents and mean.
    satisfaction: Option<(u32, f64)>,
    linked: Option<ProjectId>,
}

async fn session<S: ProjectionStore>(store: &S, seq: u32, plan: Plan) -> SessionId {
    use SessionCommand as C;
    let id = SessionId::new();
    let requested = day("2026-01-02");
    let mut commands = vec![
        C::RequestSession {
            id,
            details: SessionDetails {
                reference: label(&format!("110B-S-2026-{seq:03}")),
                title: Title::parse(&format!("Session {seq}")).unwrap(),
                format: plan.format,
                objective: long("Comment mieux accueillir les familles allophones au collège ?"),
                methods: vec![label("persona")],
                requester: Requester { organisation: label("Rectorat"), kind: RequesterKind::Academie },
                requested_on: requested,
            },
            seminars_already_held_this_year: 0,
        },
        C::StartScoping { on: requested },
    ];
    if let Some(project) = plan.linked {
        commands.push(C::LinkToProject { project });
    }
    // starts three hours before it is declared held (or on 2026-03-20 if it never is)
    let start = plan.held_at.map_or(at("2026-03-20T09:00:00Z"), |h| at(h) - Duration::hours(3));
    commands.push(C::ScheduleSession {
        schedule: DateRange::new(start, start + Duration::hours(2)).unwrap(),
        location: label("110 bis"),
        mode: SessionMode::InPerson,
        capacity: plan.capacity,
    });
    for _ in 0..plan.registrations {
        commands.push(C::RegisterParticipant { participant: PersonId::new(), profile: label("enseignant") });
    }
    if let Some(held) = plan.held_at {
        commands.push(C::HoldSession { now: at(held) });
    }
    if let Some((count, academies)) = plan.attendance {
        commands.push(C::RecordAttendance {
            attendance: Attendance {
                count,
                by_profile: BTreeMap::new(),
                organisations: vec![label("Collège Jean-Moulin")],
                academies: academies.iter().map(|c| aca(c)).collect::<BTreeSet<_>>(),
            },
        });
    }
    if let Some((respondents, mean)) = plan.satisfaction {
        commands.push(C::RecordSatisfactionSurvey { respondents, mean });
    }
    for command in commands {
        run_session(store, id, command).await;
    }
    id
}

/// Seven sessions; projects 1 (académie 24) and 4 (académie 10) of [`eight_projects`] are
/// linked to sessions 2 and 5.
///
/// | # | format     | held at              | cap. | reg. | attendance | satisfaction | linked |
/// |---|------------|----------------------|------|------|------------|--------------|--------|
/// | 1 | sprint     | 02-01 00:00:00       | 20   | 3    | 18 (24)    | 10 × 4.0     |        |
/// | 2 | hackathon  | 03-31 23:59:59       | 100  | 2    | 120 (01)   | 30 × 3.0     | P1     |
/// | 3 | hackathon  | 04-01 00:00:00       | 50   | 1    | 40 (24)    |              |        |
/// | 4 | world café | 01-31 23:59:59       | 40   | 0    | 30 (24)    |              |        |
/// | 5 | seminar    | 03-10 10:00          | 30   | 1    | —          |              | P4     |
/// | 6 | ideation   | never (scheduled)    | 20   | 2    | —          |              |        |
/// | 7 | codesign   | 02-15 12:00          | 10   | 0    | 12 (02)    | 5 × 5.0      |        |
async fn seven_sessions<S: ProjectionStore>(store: &S, projects: &[ProjectId]) {
    use SessionFormat::*;
    let plan = |format, capacity, registrations, held_at, attendance, satisfaction, linked| Plan {
        format,
        capacity,
        registrations,
        held_at,
        attendance,
        satisfaction,
        linked,
    };
    let (p1, p4) = (Some(projects[0]), Some(projects[3]));
    let held = |t: &'static str| Some(t);
    let plans = [
        plan(DesignSprint, 20, 3, held("2026-02-01T00:00:00Z"), Some((18, &["24"][..])), Some((10, 4.0)), None),
        plan(Hackathon, 100, 2, held("2026-03-31T23:59:59Z"), Some((120, &["01"][..])), Some((30, 3.0)), p1),
        plan(Hackathon, 50, 1, held("2026-04-01T00:00:00Z"), Some((40, &["24"][..])), None, None),
        plan(WorldCafe, 40, 0, held("2026-01-31T23:59:59Z"), Some((30, &["24"][..])), None, None),
        plan(Seminar, 30, 1, held("2026-03-10T10:00:00Z"), None, None, p4),
        plan(Ideation, 20, 2, None, None, None, None),
        plan(CodesignWorkshop, 10, 0, held("2026-02-15T12:00:00Z"), Some((12, &["02"][..])), Some((5, 5.0)), None),
    ];
    for (i, plan) in plans.into_iter().enumerate() {
        session(store, i as u32 + 1, plan).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

async fn an_empty_database_gives_zeros<S: ProjectionStore>(store: S, _: Backend) {
    let got = figures(&store, feb_march(), &[]).await;
    assert_eq!(got, Indicators::none(feb_march()));
    let (p, s) = (&got.projects, &got.sessions);
    assert_eq!((p.total, p.new_requests, p.accepted, p.transferred, p.abandoned), (0, 0, 0, 0, 0));
    assert_eq!(p.by_status.len(), ProjectStatus::ALL.len(), "every status, zeros included");
    assert!(p.by_status.iter().all(|c| c.count == 0));
    assert!(p.by_academie.is_empty());
    assert_eq!(p.acceptance_rate, None);
    assert_eq!((s.held, s.participants, s.visitors), (0, 0, 0));
    assert_eq!(s.by_format.len(), SessionFormat::ALL.len());
    assert_eq!((s.mean_satisfaction, s.attendance_rate), (None, None));
    // without a period, and for an académie, the same
    assert_eq!(figures(&store, Period::default(), &["24"]).await, Indicators::none(Period::default()));
}

async fn projects_are_counted_by_status_phase_mode_and_academie<S: ProjectionStore>(store: S, _: Backend) {
    eight_projects(&store).await;
    let got = figures(&store, feb_march(), &[]).await;
    assert_eq!(got.period, feb_march(), "the period is echoed");
    let p = &got.projects;
    assert_eq!(p.total, 8);
    use ProjectStatus as St;
    let statuses: Vec<(ProjectStatus, u64)> = p.by_status.iter().map(|c| (c.key, c.count)).collect();
    assert_eq!(
        statuses,
        [
            (St::Submitted, 1),
            (St::Qualifying, 1),
            (St::Active, 2),
            (St::Paused, 0),
            (St::Transferred, 1),
            (St::Abandoned, 1),
            (St::Declined, 1),
            (St::Withdrawn, 1),
        ],
        "every status, in the lifecycle's order"
    );
    let phases: Vec<(Phase, u64)> = p.by_phase.iter().map(|c| (c.key, c.count)).collect();
    assert_eq!(
        phases,
        [(Phase::Exploration, 1), (Phase::Prototyping, 1), (Phase::Experimentation, 0), (Phase::Transfer, 0)],
        "the open phase; ended projects have none"
    );
    assert_eq!(count_of(&p.by_support_mode, SupportMode::Incubation), 4, "project 3 was accepted as incubation");
    assert_eq!(count_of(&p.by_support_mode, SupportMode::Punctual), 3);
    assert_eq!(count_of(&p.by_support_mode, SupportMode::NetworkLab), 1);
    let academies: Vec<(&str, u64)> = p.by_academie.iter().map(|c| (c.key.as_str(), c.count)).collect();
    assert_eq!(academies, [("01", 3), ("02", 2), ("10", 2), ("24", 3)], "a project of two académies counts in each");
    assert_eq!((p.transferred, p.abandoned), (1, 1), "by current status");
}

async fn the_period_includes_both_of_its_days<S: ProjectionStore>(store: S, _: Backend) {
    eight_projects(&store).await;
    let p = figures(&store, feb_march(), &[]).await.projects;
    // submitted 02-01, 02-15, 03-01, 03-15, 03-31; not 01-20, 2025-12-31 nor 04-01
    assert_eq!(p.new_requests, 5);
    // accepted 02-01 and 03-31; not 01-05 nor 04-01
    assert_eq!(p.accepted, 2);
    // the cohort submitted in the period: 3 and 6 accepted (6 after the period), 2 declined;
    // 7 (withdrawn) and 8 (qualifying) are not decided
    assert!(close(p.acceptance_rate, 2.0 / 3.0), "{:?}", p.acceptance_rate);
    // the state as of now is the same whatever the period
    let all = figures(&store, Period::default(), &[]).await.projects;
    assert_eq!((all.total, all.by_status.clone(), all.transferred), (p.total, p.by_status.clone(), p.transferred));
    assert_eq!((all.new_requests, all.accepted), (8, 4), "no period: since the beginning");
    assert!(close(all.acceptance_rate, 4.0 / 5.0), "{:?}", all.acceptance_rate);
    // open ends
    let until_january = figures(&store, period(None, Some("2026-01-31")), &[]).await.projects;
    assert_eq!((until_january.new_requests, until_january.accepted), (2, 1));
    let from_april = figures(&store, period(Some("2026-04-01"), None), &[]).await.projects;
    assert_eq!((from_april.new_requests, from_april.accepted), (1, 1));
    // one day
    let one_day = figures(&store, period(Some("2026-03-31"), Some("2026-03-31")), &[]).await.projects;
    assert_eq!((one_day.new_requests, one_day.accepted), (1, 1));
    assert!(close(one_day.acceptance_rate, 1.0));
}

async fn sessions_held_in_the_period_are_counted_with_their_people<S: ProjectionStore>(store: S, _: Backend) {
    let projects = eight_projects(&store).await;
    seven_sessions(&store, &projects).await;
    let s = figures(&store, feb_march(), &[]).await.sessions;
    // 1 (at midnight opening the period), 2 (the last second of it), 5 and 7; not 3, 4 nor 6
    assert_eq!(s.held, 4);
    let formats: Vec<(SessionFormat, u64)> =
        s.by_format.iter().filter(|c| c.count > 0).map(|c| (c.key, c.count)).collect();
    use SessionFormat::*;
    assert_eq!(formats, [(DesignSprint, 1), (Hackathon, 1), (CodesignWorkshop, 1), (Seminar, 1)]);
    assert_eq!(s.by_format.len(), SessionFormat::ALL.len());
    assert_eq!(s.participants, 3 + 2 + 1, "registrations of the held sessions");
    assert_eq!(s.visitors, 18 + 120 + 12, "attendance counts; the seminar has none recorded");
    assert!(close(s.mean_satisfaction, (10.0 * 4.0 + 30.0 * 3.0 + 5.0 * 5.0) / 45.0), "{:?}", s.mean_satisfaction);
    assert!(close(s.attendance_rate, 150.0 / 130.0), "sessions with attendance and capacity only");

    let all = figures(&store, Period::default(), &[]).await.sessions;
    assert_eq!((all.held, all.visitors, all.participants), (6, 220, 7), "the scheduled one is never counted");
    let april = figures(&store, period(Some("2026-04-01"), Some("2026-04-30")), &[]).await.sessions;
    assert_eq!((april.held, april.visitors), (1, 40));
    let january = figures(&store, period(None, Some("2026-01-31")), &[]).await.sessions;
    assert_eq!((january.held, january.visitors, january.participants), (1, 30, 0));
    assert_eq!(january.mean_satisfaction, None, "no survey");
}

async fn a_territory_counts_its_own_projects_and_sessions<S: ProjectionStore>(store: S, _: Backend) {
    let projects = eight_projects(&store).await;
    seven_sessions(&store, &projects).await;

    let creteil = figures(&store, feb_march(), &["24"]).await;
    let p = &creteil.projects;
    // projects 1, 2 (24 and 10) and 6 (01 and 24)
    assert_eq!((p.total, p.new_requests, p.accepted, p.abandoned, p.transferred), (3, 2, 1, 1, 0));
    assert_eq!(count_of(&p.by_status, ProjectStatus::Declined), 1);
    assert_eq!(count_of(&p.by_phase, Phase::Exploration), 1);
    assert_eq!(count_of(&p.by_support_mode, SupportMode::Punctual), 2);
    let academies: Vec<(&str, u64)> = p.by_academie.iter().map(|c| (c.key.as_str(), c.count)).collect();
    assert_eq!(academies, [("24", 3)], "the territory's académies only");
    assert!(close(p.acceptance_rate, 0.5), "{:?}", p.acceptance_rate);
    // session 1 through its attendance, session 2 through project 1; 3 and 4 are out of the period
    let s = &creteil.sessions;
    assert_eq!((s.held, s.participants, s.visitors), (2, 5, 138));
    assert!(close(s.mean_satisfaction, 130.0 / 40.0));
    assert!(close(s.attendance_rate, 138.0 / 120.0));

    // session 5 belongs to académie 10 through project 4 only
    let reims = figures(&store, feb_march(), &["10"]).await.sessions;
    assert_eq!((reims.held, reims.participants, reims.visitors), (1, 1, 0));
    assert_eq!((reims.mean_satisfaction, reims.attendance_rate), (None, None));
    // session 2 belongs to Paris through its attendance
    let paris = figures(&store, feb_march(), &["01"]).await.sessions;
    assert_eq!((paris.held, paris.visitors), (1, 120));

    // several académies: each project and session once
    let both = figures(&store, feb_march(), &["24", "01"]).await;
    assert_eq!(both.projects.total, 5, "1, 2, 3, 6, 8");
    assert_eq!(both.sessions.held, 2, "sessions 1 and 2");
    let academies: Vec<(&str, u64)> = both.projects.by_academie.iter().map(|c| (c.key.as_str(), c.count)).collect();
    assert_eq!(academies, [("01", 3), ("24", 3)]);

    // the same projects and sessions as the lists' académie filter
    let listed = list_projects(
        store.db(),
        &ProjectFilter { academie_code: vec![aca("24")], ..Default::default() },
        ProjectOrder::default(),
        100,
        None,
    )
    .await
    .unwrap();
    assert_eq!(listed.total_count, 3);
    let listed = list_sessions(
        store.db(),
        &SessionFilter { academie_code: vec![aca("24")], status: vec![SessionStatus::Held], ..Default::default() },
        SessionOrder::default(),
        100,
        None,
    )
    .await
    .unwrap();
    let everywhere_held = figures(&store, Period::default(), &["24"]).await.sessions.held;
    assert_eq!(listed.total_count, everywhere_held, "sessions 1, 2, 3 and 4");
    assert_eq!(everywhere_held, 4);
}

async fn a_period_that_ends_before_it_starts_is_refused<S: ProjectionStore>(store: S, _: Backend) {
    let backwards = period(Some("2026-03-01"), Some("2026-02-28"));
    match indicators(store.db(), &backwards, &[]).await {
        Err(ProjectionError::InvalidArgument(message)) => assert!(message.contains("après sa fin"), "{message}"),
        other => panic!("{other:?}"),
    }
    let far = Period::new(Some(NaiveDate::from_ymd_opt(9999, 1, 1).unwrap()), None);
    assert!(matches!(indicators(store.db(), &far, &[]).await, Err(ProjectionError::InvalidArgument(_))));
}

/// `indicators_as_of(t)` reads the read models' timelines at `t`: at each moment of a scripted
/// workload, what `indicators` answered then (for several periods and territories) is what
/// `indicators_as_of` answers later — and still after a rebuild of the timelines.
async fn as_of_a_moment_they_are_what_they_were_then<S: ProjectionStore>(store: S, _: Backend) {
    let questions: [(Period, &[&str]); 4] = [
        (Period::default(), &[]),
        (feb_march(), &[]),
        (feb_march(), &["24"]),
        (period(None, Some("2026-02-15")), &["01", "02"]),
    ];
    let mut answered: Vec<(DateTime<Utc>, Vec<Indicators>)> = vec![];
    let mut record = async |store: &S| {
        let mut figures_then = vec![];
        for (period, academies) in &questions {
            figures_then.push(figures(store, *period, academies).await);
        }
        // the events of the next step are recorded strictly after this moment
        let now = Utc::now();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        answered.push((now, figures_then));
    };
    record(&store).await;
    let projects = eight_projects(&store).await;
    record(&store).await;
    seven_sessions(&store, &projects).await;
    record(&store).await;
    // later decisions change counts by status and the acceptance rate
    use ProjectCommand as C;
    run_project(&store, projects[4], C::StartQualification { on: day("2026-04-02") }).await;
    run_project(&store, projects[4], C::AcceptProject { on: day("2026-04-03"), support_mode: SupportMode::Punctual })
        .await;
    run_project(&store, projects[7], C::DeclineProject { on: day("2026-04-03"), reason: long("pas pour le lab") })
        .await;
    record(&store).await;

    let check = async |store: &S, when: &str| {
        for (step, (at, figures_then)) in answered.iter().enumerate() {
            for ((period, academies), expected) in questions.iter().zip(figures_then) {
                let codes: Vec<AcademieCode> = academies.iter().map(|c| aca(c)).collect();
                let got = indicators_as_of(store.db(), *at, period, &codes).await.unwrap();
                assert_eq!(&got, expected, "{when}: step {step}, {period:?}, {academies:?}");
            }
        }
    };
    check(&store, "live").await;
    let due = common::texts(store.db(), "select read_model from read_model_rebuild_due").await;
    assert!(due.is_empty(), "a database migrated before its first event has nothing to rebuild: {due:?}");
    assert_ne!(answered[1].1, answered[3].1, "the workload changed the figures");
    assert_eq!(answered[0].1[0], Indicators::none(Period::default()), "before anything, zeros");
    common::rebuild(&store).await.unwrap();
    check(&store, "rebuilt").await;

    let err = indicators_as_of(store.db(), Utc::now(), &period(Some("2026-03-01"), Some("2026-02-01")), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, ProjectionError::InvalidArgument(_)), "{err:?}");
}

/// The store's own migration, run again (not part of the generic store traits).
trait Migrate {
    async fn migrate_again(&self);
}

impl Migrate for carnet_store::PgStore {
    async fn migrate_again(&self) {
        self.migrate().await.unwrap();
    }
}

impl Migrate for carnet_store::SqliteStore {
    async fn migrate_again(&self) {
        self.migrate().await.unwrap();
    }
}

/// What the upgrade tests check an upgraded database against: the moment `at`, the figures of
/// now (`then`) and those as of `at` (`before`), answered before the upgrade.
struct Past {
    at: DateTime<Utc>,
    then: Indicators,
    before: Indicators,
}

/// Eight projects and seven sessions, a moment, then a decline after it (so that the figures of
/// now and those as of the moment differ).
async fn a_lab_with_a_past<S: ProjectionStore>(store: &S) -> Past {
    let projects = eight_projects(store).await;
    seven_sessions(store, &projects).await;
    let at = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    run_project(store, projects[7], ProjectCommand::DeclineProject { on: day("2026-04-03"), reason: long("non") })
        .await;
    let then = figures(store, Period::default(), &[]).await;
    let before = indicators_as_of(store.db(), at, &Period::default(), &[]).await.unwrap();
    assert_ne!(before, then, "the decline came after `at`");
    Past { at, then, before }
}

/// After `carnet rebuild`, nothing is due and the database answers as it did before the upgrade,
/// as of the moment and now.
async fn rebuilt_answers_as_before<S: ProjectionStore>(store: &S, past: &Past) {
    common::rebuild(store).await.unwrap();
    assert!(common::texts(store.db(), "select read_model from read_model_rebuild_due").await.is_empty());
    assert_eq!(indicators_as_of(store.db(), past.at, &Period::default(), &[]).await.unwrap(), past.before);
    assert_eq!(indicators_as_of(store.db(), Utc::now(), &Period::default(), &[]).await.unwrap(), past.then);
}

/// A database upgraded with its log: the migration that adds the timelines finds events and
/// nothing to fill the timelines with, so `indicators_as_of` is refused, naming its rule and the
/// command, until `carnet rebuild` has filled them — never answered from empty timelines. (The
/// database as the previous release left it: the timelines and the migration's record removed,
/// then the real migration run again.)
async fn an_upgraded_database_refuses_them_as_of_a_moment_until_rebuilt<S: ProjectionStore + Migrate>(
    store: S,
    _: Backend,
) {
    let past = a_lab_with_a_past(&store).await;

    // as the release before 0016 left it: no timelines, and none of what later migrations
    // added to them or beside them (0018's indexes go with the tables, 0019's column is dropped)
    for table in common::TIMELINES.iter().chain(&["read_model_rebuild_due"]) {
        common::exec(store.db(), &format!("drop table {table}")).await;
    }
    common::exec(store.db(), "alter table session drop column registration_count").await;
    common::exec(store.db(), "delete from _sqlx_migrations where version in (16, 18, 19)").await;
    store.migrate_again().await;

    let due = common::texts(store.db(), "select read_model from read_model_rebuild_due order by 1").await;
    assert_eq!(due, ["projects", "sessions"]);
    match indicators_as_of(store.db(), past.at, &Period::default(), &[]).await {
        Err(ProjectionError::Refused { rule, message }) => {
            assert_eq!(rule, "indicators.as_of_rebuild_due");
            assert!(message.contains("carnet rebuild"), "{message}");
        }
        other => panic!("an as-of answer from empty timelines: {other:?}"),
    }
    // the indicators of now need no timeline
    assert_eq!(figures(&store, Period::default(), &[]).await, past.then);

    rebuilt_answers_as_before(&store, &past).await;
}

/// A database upgraded across migration 0019 (a session's registration count on its row and in
/// its timeline): the live rows are filled by the migration, so the indicators of now answer at
/// once, participants included; the session timeline's past counts are not known without the
/// log, so the sessions are due for a rebuild and `indicators_as_of` is refused until then —
/// never answered with counts of zero. The projects' timelines are untouched and not due. (The
/// database as 0018 left it: the column removed, the registrations' timeline put back — empty,
/// 0019 drops it — and the migration's record removed, then the real migration run again.)
async fn an_upgrade_that_counts_registrations_refuses_them_as_of_a_moment_until_rebuilt<
    S: ProjectionStore + Migrate,
>(
    store: S,
    _: Backend,
) {
    let past = a_lab_with_a_past(&store).await;
    // sessions 1, 2, 3 and 5 are held, with 3 + 2 + 1 + 1 registrations
    assert_eq!((past.then.sessions.participants, past.before.sessions.participants), (7, 7));

    for table in ["session", "session_timeline"] {
        common::exec(store.db(), &format!("alter table {table} drop column registration_count")).await;
    }
    common::exec(store.db(), "create table session_registration_timeline (session_id text)").await;
    common::exec(store.db(), "delete from _sqlx_migrations where version = 19").await;
    store.migrate_again().await;

    let differ = common::texts(
        store.db(),
        "select cast(s.id as text) from session s \
         where s.registration_count <> (select count(*) from session_registration r where r.session_id = s.id)",
    )
    .await;
    assert!(differ.is_empty(), "sessions whose count is not their registrations: {differ:?}");
    let total = common::texts(store.db(), "select cast(sum(registration_count) as text) from session").await;
    assert_eq!(total, ["9"], "the seven sessions' registrations, held or not");
    assert_eq!(figures(&store, Period::default(), &[]).await, past.then, "the live rows are filled by the migration");
    let due = common::texts(store.db(), "select read_model from read_model_rebuild_due order by 1").await;
    assert_eq!(due, ["sessions"]);
    match indicators_as_of(store.db(), past.at, &Period::default(), &[]).await {
        Err(ProjectionError::Refused { rule, .. }) => assert_eq!(rule, "indicators.as_of_rebuild_due"),
        other => panic!("an as-of answer from timelines without their counts: {other:?}"),
    }

    rebuilt_answers_as_before(&store, &past).await;
}

/// A clock stepped back between two events of an entity closes a version before it opened
/// (`valid_to < valid_from`). Such a row is taken (PostgreSQL's range index of migration 0018
/// would refuse the bounds as a range, and with them the append, were they not ordered first)
/// and counts at no moment, on every timeline and both backends: forged copies of every open
/// row, opened an hour from now and closed before the workload began, would double every
/// figure if read as valid at a moment between.
async fn a_version_closed_before_it_opened_is_valid_at_no_moment<S: ProjectionStore>(store: S, _: Backend) {
    let start = Utc::now();
    let projects = eight_projects(&store).await;
    seven_sessions(&store, &projects).await;
    let later = Utc::now() + Duration::hours(1);
    let moments = [start, Utc::now(), later, later + Duration::seconds(1)];
    let mut before = vec![];
    for at in moments {
        before.push(indicators_as_of(store.db(), at, &Period::default(), &[]).await.unwrap());
    }
    assert!(before[1].projects.total > 0 && before[1].sessions.held > 0, "the workload shows: {before:?}");
    for table in common::TIMELINES {
        let catalog = match store.db() {
            Db::Postgres(_) => format!(
                "select column_name::text from information_schema.columns \
                 where table_schema = current_schema() and table_name = '{table}' order by ordinal_position"
            ),
            Db::Sqlite { .. } => format!("select name from pragma_table_info('{table}') order by cid"),
        };
        let kept: Vec<String> = common::texts(store.db(), &catalog)
            .await
            .into_iter()
            .filter(|c| !["valid_from", "valid_to", "opened_by", "item"].contains(&c.as_str()))
            .collect();
        assert!(kept.len() >= 2, "{table}: {kept:?}");
        let kept = kept.join(", ");
        let (from, to) = (carnet_store::timestamp_text(later), carnet_store::timestamp_text(start));
        common::exec(
            store.db(),
            &format!(
                "insert into {table} ({kept}, valid_from, valid_to, opened_by, item) \
                 select {kept}, '{from}', '{to}', opened_by + 1000000, item from {table} where valid_to is null"
            ),
        )
        .await;
        let forged = common::texts(
            store.db(),
            &format!("select count(*) || '' from {table} where opened_by > 1000000 and valid_to < valid_from"),
        )
        .await;
        assert_ne!(forged, ["0"], "{table}: rows forged");
    }
    for (at, expected) in moments.iter().zip(&before) {
        let got = indicators_as_of(store.db(), *at, &Period::default(), &[]).await.unwrap();
        assert_eq!(&got, expected, "as of {at}");
    }
}
