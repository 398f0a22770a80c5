//! The session read model on both backends: it follows a session's whole life inline, applying
//! the log again changes nothing, lists filter (académie through the attendance and through a
//! linked project included), order and page with keyset cursors, and a loader gets the
//! sessions of several projects at once.

mod common;

use carnet_testkit::{Backend, for_each_backend};

use carnet_domain::project::{Project, ProjectCommand, SupportMode};
use carnet_domain::session::*;
use carnet_domain::values::*;
use carnet_projections::*;
use carnet_store::*;
use chrono::{DateTime, Duration, Utc};
use common::{
    aca, assert_same, at, check_session, day, dump, expected_session, label, long, meta, project_academies, repo,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use uuid::Uuid;

for_each_backend!(
    a_session_s_whole_life_is_reflected_row_by_row,
    applying_the_log_again_changes_nothing,
    a_taken_reference_is_refused_and_rolls_back,
    lists_filter_order_and_page_with_keyset_cursors,
    sessions_of_several_projects_come_in_one_call,
    seminars_held_by_a_requester_are_counted_by_year,
);

// ---------------------------------------------------------------------------------------------
// Helpers

use SessionCommand as C;

fn range(start: DateTime<Utc>, hours: i64) -> DateRange {
    DateRange::new(start, start + Duration::hours(hours)).unwrap()
}

fn request(id: SessionId, seq: u32, format: SessionFormat, title: &str) -> SessionCommand {
    request_by(id, seq, format, title, "DGESCO")
}

fn request_by(id: SessionId, seq: u32, format: SessionFormat, title: &str, requester: &str) -> SessionCommand {
    C::RequestSession {
        id,
        details: SessionDetails {
            reference: label(&format!("110B-S-2026-{seq:03}")),
            title: Title::parse(title).unwrap(),
            format,
            objective: long("Comment mieux accueillir les familles allophones au collège ?"),
            methods: vec![label("carte d'empathie"), label("persona")],
            requester: Requester { organisation: label(requester), kind: RequesterKind::Academie },
            requested_on: day("2026-01-10"),
        },
        seminars_already_held_this_year: 0,
    }
}

fn attendance(count: u32, academies: &[&str]) -> Attendance {
    Attendance {
        count,
        by_profile: BTreeMap::from([(label("enseignant"), count / 2), (label("chef d'établissement"), 1)]),
        organisations: vec![label("Collège Jean-Moulin"), label("DNE")],
        academies: academies.iter().map(|c| aca(c)).collect::<BTreeSet<_>>(),
    }
}

async fn run<S: ProjectionStore>(store: &S, id: SessionId, command: &SessionCommand) -> Executed<Session> {
    common::run(store, id.0, command).await
}

/// A project of these académies, in the read model.
async fn project<S: ProjectionStore>(store: &S, seq: u32, academies: &[&str]) -> ProjectId {
    let id = ProjectId::new();
    let submit = ProjectCommand::SubmitProject {
        id,
        reference: ProjectReference::build("110B", 2026, seq).unwrap(),
        title: Title::parse(&format!("Projet {seq}")).unwrap(),
        problem_statement: long("Un problème que des enseignants veulent résoudre."),
        summary: None,
        support_mode: SupportMode::Incubation,
        academies: academies.iter().map(|c| aca(c)).collect(),
        themes: vec![],
        target_users: vec![],
        submitted_on: day("2026-01-05"),
    };
    let inline = InlineProjections::new(Arc::new(carnet_testkit::carnet_codec()));
    repo::<S, Project>(store).execute(id.0, &submit, &meta(), None, Some(&inline)).await.unwrap();
    id
}

// ---------------------------------------------------------------------------------------------
// (a) a whole life, inline

async fn a_session_s_whole_life_is_reflected_row_by_row<S: ProjectionStore>(store: S, _: Backend) {
    let linked = project(&store, 1, &["24", "10"]).await;
    let id = SessionId::new();
    let (alice, bob, carol, facilitator) = (PersonId::new(), PersonId::new(), PersonId::new(), PersonId::new());
    let start = at("2026-03-02T08:00:00Z");
    let commands = vec![
        request(id, 12, SessionFormat::DesignSprint, "Repenser l'accueil des familles"),
        C::StartScoping { on: day("2026-01-15") },
        C::AssignFacilitator { facilitator },
        C::AssignFacilitator { facilitator: alice },
        C::UnassignFacilitator { facilitator: alice },
        C::LinkToProject { project: linked },
        C::AddAgendaItem { label: label("Accueil"), at: Some(start) },
        C::AddAgendaItem { label: label("Idéation"), at: None },
        C::AddAgendaItem { label: label("Restitution"), at: Some(start + Duration::hours(7)) },
        C::RemoveAgendaItem { item_id: 2 },
        C::ScheduleSession {
            schedule: range(start, 8),
            location: label("110 bis"),
            mode: SessionMode::Hybrid,
            capacity: 3,
        },
        C::RegisterParticipant { participant: alice, profile: label("enseignante") },
        C::RegisterParticipant { participant: bob, profile: label("CPE") },
        C::RegisterParticipant { participant: carol, profile: label("principal") },
        C::CancelRegistration { participant: bob },
        C::RescheduleSession {
            schedule: range(start + Duration::days(1), 6),
            location: label("Rectorat de Lyon"),
            mode: SessionMode::InPerson,
            capacity: 20,
        },
        C::HoldSession { now: at("2026-03-03T09:00:00Z") },
        C::RecordAttendance { attendance: attendance(14, &["10", "01"]) },
        C::RecordAttendance { attendance: attendance(15, &["01", "02"]) },
        C::PublishReport { report: long("Trois pistes retenues."), on: day("2026-03-05") },
        C::RecordFollowUpAction { description: long("Prototype de livret d'accueil"), due: Some(day("2026-04-01")) },
        C::RecordFollowUpAction { description: long("Point d'étape"), due: None },
        C::CompleteFollowUpAction { action_id: 1, on: day("2026-03-20") },
        C::RecordSatisfactionSurvey { respondents: 12, mean: 4.3 },
        C::CloseSession { on: day("2026-03-21") },
        C::RecordFollowUpAction { description: long("Bilan à six mois"), due: Some(day("2026-09-21")) },
    ];
    let academies = project_academies(&store, &[linked.0]).await;
    assert_eq!(academies.len(), 2);
    for command in &commands {
        let done = run(&store, id, command).await;
        let row = session_by_id(store.db(), id.0).await.unwrap().expect("the session is in the read model");
        let linked_academies = if done.state.linked_projects.is_empty() { &[][..] } else { &academies[..] };
        assert_eq!(
            row,
            expected_session(&done.state, done.events.last().unwrap(), linked_academies),
            "after {command:?}"
        );
    }

    // the same, in the read model's own words
    let row = session_by_id(store.db(), id.0).await.unwrap().unwrap();
    assert_eq!((row.status, row.version, row.format), (SessionStatus::Closed, 26, SessionFormat::DesignSprint));
    assert_eq!(row.facilitators, [facilitator.0]);
    let mut registered = vec![alice.0, carol.0];
    registered.sort();
    assert_eq!(row.registrations.iter().map(|r| r.person_id).collect::<Vec<_>>(), registered);
    assert_eq!(row.agenda.iter().map(|i| i.id).collect::<Vec<_>>(), [1, 3]);
    assert_eq!((row.starts_at, row.location.as_deref()), (Some(start + Duration::days(1)), Some("Rectorat de Lyon")));
    assert_eq!((row.mode, row.capacity), (Some(SessionMode::InPerson), Some(20)));
    let attendance = row.attendance.as_ref().unwrap();
    assert_eq!((attendance.count, attendance.academies.clone()), (15, vec!["01".to_owned(), "02".to_owned()]));
    assert_eq!(row.academies, ["01", "02", "10", "24"], "attendance and linked project together");
    assert_eq!(row.satisfaction, Some(SatisfactionRow { respondents: 12, mean: 4.3 }));
    assert_eq!(row.report.as_ref().map(|r| r.published_on), Some(day("2026-03-05")));
    assert_eq!(row.follow_up_actions.len(), 3);
    assert_eq!(row.ended_on, Some(day("2026-03-21")));
    assert_eq!(row.projects, [linked.0]);
    assert_eq!(session_by_id(store.db(), Uuid::new_v4()).await.unwrap(), None);

    // a session that ends early keeps why
    let other = SessionId::new();
    run(&store, other, &request(other, 13, SessionFormat::Hackathon, "Hackathon")).await;
    run(&store, other, &C::DeclineSession { reason: long("hors du champ du lab"), on: day("2026-01-20") }).await;
    let row = session_by_id(store.db(), other.0).await.unwrap().unwrap();
    assert_eq!((row.status, row.end_reason.as_deref()), (SessionStatus::Declined, Some("hors du champ du lab")));
    assert_eq!((row.starts_at, row.attendance, row.academies.len()), (None, None, 0));
}

// ---------------------------------------------------------------------------------------------
// (b) idempotence

async fn applying_the_log_again_changes_nothing<S: ProjectionStore>(store: S, _: Backend) {
    let mut w = Sessions::new(&store, 8).await;
    w.fill(&store, 12).await;
    let live = dump(&store).await;
    for id in &w.ids {
        check_session(&store, id.0).await;
    }
    // the whole log again, in batches that start anywhere in a session's history, twice
    let again = SessionProjector::new(Arc::new(carnet_testkit::carnet_codec()));
    for (name, batch) in [("sessions-again-3", 3), ("sessions-again-7", 7), ("sessions-again-3", 3)] {
        common::readable(&store).await;
        catch_up(&store, name, &again, batch, &mut |_| {}).await.unwrap();
        assert_same(&dump(&store).await, &live, "live after applying the log again");
    }
    // a rebuild of the sessions alone gives the same tables
    rebuild_with(&store, Arc::new(carnet_testkit::carnet_codec()), Some(ReadModel::Sessions), 5, &mut |_| {})
        .await
        .unwrap();
    assert_same(&dump(&store).await, &live, "sessions rebuilt vs live");
}

async fn a_taken_reference_is_refused_and_rolls_back<S: ProjectionStore>(store: S, _: Backend) {
    let first = SessionId::new();
    run(&store, first, &request(first, 7, SessionFormat::WorldCafe, "Un world café")).await;
    let second = SessionId::new();
    let inline = InlineProjections::new(Arc::new(carnet_testkit::carnet_codec()));
    let err = repo::<S, Session>(&store)
        .execute(second.0, &request(second, 7, SessionFormat::Ideation, "Une autre"), &meta(), None, Some(&inline))
        .await
        .unwrap_err();
    match err {
        CommandError::Store(StoreError::Refused { rule: "session.reference_taken", reason }) => {
            assert!(reason.contains("110B-S-2026-007"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.stream_version(&StreamId::new("session", second.0)).await.unwrap(), 0, "rolled back");
    assert_eq!(session_by_id(store.db(), second.0).await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// (c) lists

/// Sessions in every state, with schedules (some tied, some missing), attendances and links.
struct Sessions {
    ids: Vec<SessionId>,
    projects: Vec<ProjectId>,
}

const PROJECT_ACADEMIES: [&[&str]; 3] = [&["24"], &["10", "01"], &["02"]];

impl Sessions {
    async fn new<S: ProjectionStore>(store: &S, projects: usize) -> Self {
        let mut ids = vec![];
        for i in 0..projects {
            ids.push(project(store, i as u32 + 1, PROJECT_ACADEMIES[i % 3]).await);
        }
        Self { ids: vec![], projects: ids }
    }

    /// `n` more sessions, the `i`-th taken as far as `i % 9` says.
    async fn fill<S: ProjectionStore>(&mut self, store: &S, n: u32) {
        let base = at("2026-03-02T08:00:00Z");
        for _ in 0..n {
            let i = self.ids.len() as u32;
            let id = SessionId::new();
            self.ids.push(id);
            let format = SessionFormat::ALL[(i % 5) as usize];
            // references in another order than creation
            let seq = (i * 7) % 97 + 1;
            // starts tie two by two, and run one day or one week
            let start = base + Duration::days(i64::from(i / 2) * 3);
            let hours = if i.is_multiple_of(4) { 24 * 7 } else { 8 };
            let schedule = C::ScheduleSession {
                schedule: range(start, hours),
                location: label("110 bis"),
                mode: SessionMode::ALL[(i % 3) as usize],
                capacity: 30,
            };
            let mut commands = vec![request(id, seq, format, &format!("Session n°{i}"))];
            let step = i % 9;
            if step >= 1 {
                commands.push(C::StartScoping { on: day("2026-01-20") });
            }
            if i.is_multiple_of(3) && !self.projects.is_empty() {
                let project = self.projects[(i as usize / 3) % self.projects.len()];
                commands.push(C::LinkToProject { project });
            }
            if step == 2 {
                commands.push(C::DeclineSession { reason: long("non"), on: day("2026-01-21") });
            }
            if step >= 3 {
                commands.push(schedule);
            }
            if step == 4 {
                commands.push(C::CancelSession { reason: long("grève"), on: day("2026-02-01") });
            }
            if step >= 5 {
                commands.push(C::HoldSession { now: start + Duration::hours(1) });
            }
            if step >= 6 {
                let academies = [&["01"][..], &["25", "24"], &["10"]][(i % 3) as usize];
                commands.push(C::RecordAttendance { attendance: attendance(10 + i, academies) });
            }
            if step >= 7 {
                commands.push(C::PublishReport { report: long("Compte-rendu"), on: day("2026-06-01") });
            }
            if step >= 8 {
                commands.push(C::CloseSession { on: day("2026-06-02") });
            }
            for command in &commands {
                run(store, id, command).await;
            }
        }
    }
}

fn sorted(rows: &[&SessionRow], order: SessionOrder) -> Vec<Uuid> {
    common::sorted(rows, order, |r| r.id, by)
}

/// Two rows on an order's field, ascending.
fn by(field: SessionOrderField, a: &SessionRow, b: &SessionRow) -> std::cmp::Ordering {
    match field {
        // unscheduled last
        SessionOrderField::StartsAt => {
            (a.starts_at.is_none(), a.starts_at, a.id).cmp(&(b.starts_at.is_none(), b.starts_at, b.id))
        }
        SessionOrderField::Reference => a.reference.cmp(&b.reference),
        SessionOrderField::UpdatedAt => (a.updated_at, a.id).cmp(&(b.updated_at, b.id)),
    }
}

common::keyset_pages!(SessionRow, SessionFilter, SessionOrder, SessionCursor, list_sessions, list_sessions_backward);

async fn lists_filter_order_and_page_with_keyset_cursors<S: ProjectionStore>(store: S, _: Backend) {
    let mut w = Sessions::new(&store, 4).await;
    w.fill(&store, 27).await;
    // later changes move some sessions in the updated order
    let open = w.ids.iter().enumerate().filter(|(i, _)| matches!(i % 9, 0 | 1 | 3 | 5) && i % 2 == 0);
    for (_, id) in open {
        run(&store, *id, &C::AssignFacilitator { facilitator: PersonId::new() }).await;
    }
    let ids: Vec<Uuid> = w.ids.iter().map(|i| i.0).collect();
    let all = sessions_by_ids(store.db(), &ids).await.unwrap();
    assert_eq!(all.len(), 27);
    for id in &ids {
        check_session(&store, *id).await;
    }
    let all: Vec<&SessionRow> = all.values().collect();
    assert!(all.iter().filter(|s| s.starts_at.is_none()).count() >= 6, "unscheduled sessions to sort last");

    // every order, both ways, several page sizes: each session exactly once, in order
    let none = SessionFilter::default();
    let fields = [SessionOrderField::StartsAt, SessionOrderField::Reference, SessionOrderField::UpdatedAt];
    let list = async |order, size, backward| pages(&store, &none, order, size, 27, backward).await;
    common::check_every_order(&fields, |order| sorted(&all, order), list, &[1, 4, 27, 100], &[1, 5, 100]).await;

    // filters, alone and together
    let has = |list: &[String], v: &str| list.iter().any(|x| x == v);
    let attends = move |s: &SessionRow, code: &str| s.attendance.as_ref().is_some_and(|a| has(&a.academies, code));
    let project_codes: HashMap<Uuid, Vec<String>> =
        projects_by_ids(store.db(), &w.projects.iter().map(|p| p.0).collect::<Vec<_>>())
            .await
            .unwrap()
            .into_iter()
            .map(|(id, p)| (id, p.academies))
            .collect();
    let through_projects = move |s: &SessionRow, code: &str| s.projects.iter().any(|p| has(&project_codes[p], code));
    let overlaps = |from: &str, to: &str| {
        let (from, to) = (at(&format!("{from}T00:00:00Z")), at(&format!("{to}T00:00:00Z")) + Duration::days(1));
        move |s: &SessionRow| s.starts_at.is_some_and(|start| start < to) && s.ends_at.is_some_and(|end| end > from)
    };
    let (linked, unlinked) = (w.projects[1].0, w.projects[3].0);
    let cases: Vec<(SessionFilter, common::Check<SessionRow>)> = vec![
        (SessionFilter::default(), Box::new(|_| true)),
        (
            SessionFilter { status: vec![SessionStatus::Held, SessionStatus::Closed], ..Default::default() },
            Box::new(|s| matches!(s.status, SessionStatus::Held | SessionStatus::Closed)),
        ),
        (
            SessionFilter { status: vec![SessionStatus::Scheduled], ..Default::default() },
            Box::new(|s| s.status == SessionStatus::Scheduled),
        ),
        (
            SessionFilter { format: vec![SessionFormat::Hackathon], ..Default::default() },
            Box::new(|s| s.format == SessionFormat::Hackathon),
        ),
        (
            SessionFilter { from: Some(day("2026-03-10")), to: Some(day("2026-03-20")), ..Default::default() },
            Box::new(overlaps("2026-03-10", "2026-03-20")),
        ),
        // a one-day window on a start day, and the day a one-week session ends
        (
            SessionFilter { from: Some(day("2026-03-05")), to: Some(day("2026-03-05")), ..Default::default() },
            Box::new(overlaps("2026-03-05", "2026-03-05")),
        ),
        (
            SessionFilter { from: Some(day("2026-04-01")), ..Default::default() },
            Box::new(overlaps("2026-04-01", "9000-01-01")),
        ),
        (
            SessionFilter { to: Some(day("2026-03-04")), ..Default::default() },
            Box::new(overlaps("1000-01-01", "2026-03-04")),
        ),
        // the académie of an attendance, or of a linked project
        (SessionFilter { academie_code: vec![aca("25")], ..Default::default() }, Box::new(move |s| attends(s, "25"))),
        (SessionFilter { academie_code: vec![aca("02")], ..Default::default() }, {
            let through_projects = through_projects.clone();
            Box::new(move |s| attends(s, "02") || through_projects(s, "02"))
        }),
        (SessionFilter { academie_code: vec![aca("01"), aca("24")], ..Default::default() }, {
            let through_projects = through_projects.clone();
            Box::new(move |s| {
                attends(s, "01") || attends(s, "24") || through_projects(s, "01") || through_projects(s, "24")
            })
        }),
        (SessionFilter { academie_code: vec![aca("10")], ..Default::default() }, {
            let through_projects = through_projects.clone();
            Box::new(move |s| s.academies.iter().any(|a| a == "10") && (attends(s, "10") || through_projects(s, "10")))
        }),
        (
            SessionFilter { project_id: Some(linked), ..Default::default() },
            Box::new(move |s| s.projects.contains(&linked)),
        ),
        (
            SessionFilter { project_id: Some(unlinked), ..Default::default() },
            Box::new(move |s| s.projects.contains(&unlinked)),
        ),
        (
            SessionFilter { text: Some("SESSION N°1".into()), ..Default::default() },
            Box::new(|s| s.title == "Session n°1" || s.title.starts_with("Session n°1")),
        ),
        (
            SessionFilter {
                status: vec![SessionStatus::Held, SessionStatus::Closed, SessionStatus::Scheduled],
                academie_code: vec![aca("10")],
                from: Some(day("2026-03-01")),
                to: Some(day("2026-03-31")),
                ..Default::default()
            },
            {
                let overlaps = overlaps("2026-03-01", "2026-03-31");
                Box::new(move |s| {
                    matches!(s.status, SessionStatus::Held | SessionStatus::Closed | SessionStatus::Scheduled)
                        && has(&s.academies, "10")
                        && overlaps(s)
                })
            },
        ),
    ];
    common::check_filters(&all, &cases, async |filter, matching| {
        for order in [
            SessionOrder::new(SessionOrderField::StartsAt, Direction::Asc),
            SessionOrder::new(SessionOrderField::Reference, Direction::Desc),
        ] {
            let got = pages(&store, filter, order, 4, matching.len(), false).await;
            assert_eq!(got, sorted(matching, order), "{filter:?}");
            let got = pages(&store, filter, order, 3, matching.len(), true).await;
            assert_eq!(got, sorted(matching, order), "{filter:?}, backward");
        }
    })
    .await;
    // every session belongs to the académies of its attendance and of its projects
    for s in &all {
        let mut expected: Vec<String> = s.attendance.iter().flat_map(|a| a.academies.clone()).collect();
        expected.extend(project_academies(&store, &s.projects).await);
        expected.sort();
        expected.dedup();
        assert_eq!(s.academies, expected, "{}", s.reference);
    }

    // what a list refuses
    let order = SessionOrder::default();
    for size in [0, MAX_PAGE_SIZE + 1] {
        let err = list_sessions(store.db(), &none, order, size, None).await.unwrap_err();
        assert!(matches!(err, ProjectionError::InvalidArgument(_)), "{err:?}");
    }
    let by_reference = all[0].cursor(SessionOrderField::Reference);
    let err = list_sessions(store.db(), &none, order, 10, Some(&by_reference)).await.unwrap_err();
    assert!(matches!(err, ProjectionError::InvalidCursor(_)), "{err:?}");
    let backwards = SessionFilter { from: Some(day("2026-03-10")), to: Some(day("2026-03-01")), ..Default::default() };
    let err = list_sessions(store.db(), &backwards, order, 10, None).await.unwrap_err();
    assert!(matches!(err, ProjectionError::InvalidArgument(_)), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// (d) the loader of a project's sessions

async fn sessions_of_several_projects_come_in_one_call<S: ProjectionStore>(store: S, _: Backend) {
    let mut w = Sessions::new(&store, 4).await;
    w.fill(&store, 24).await;
    // one session linked to two projects
    let shared = w.ids[1];
    run(&store, shared, &C::LinkToProject { project: w.projects[0] }).await;
    run(&store, shared, &C::LinkToProject { project: w.projects[2] }).await;
    let lonely = project(&store, 99, &["01"]).await;

    let asked: Vec<Uuid> = w.projects.iter().map(|p| p.0).chain([lonely.0, Uuid::new_v4()]).collect();
    let got = sessions_by_project_ids(store.db(), &asked).await.unwrap();
    let all = sessions_by_ids(store.db(), &w.ids.iter().map(|i| i.0).collect::<Vec<_>>()).await.unwrap();
    let start_order = SessionOrder::new(SessionOrderField::StartsAt, Direction::Asc);
    let mut expected: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for project in &w.projects {
        let linked: Vec<&SessionRow> = all.values().filter(|s| s.projects.contains(&project.0)).collect();
        if !linked.is_empty() {
            expected.insert(project.0, sorted(&linked, start_order));
        }
    }
    assert!(expected.len() >= 3 && expected.values().any(|s| s.len() >= 3), "{expected:?}");
    assert!(expected[&w.projects[0].0].contains(&shared.0) && expected[&w.projects[2].0].contains(&shared.0));
    let got_ids: HashMap<Uuid, Vec<Uuid>> =
        got.iter().map(|(project, sessions)| (*project, sessions.iter().map(|s| s.id).collect())).collect();
    assert_eq!(got_ids, expected);
    // the rows are whole, académies included
    for sessions in got.values() {
        for s in sessions {
            assert_eq!(s, &all[&s.id]);
        }
    }
    assert!(sessions_by_project_ids(store.db(), &[]).await.unwrap().is_empty());
    assert!(sessions_by_ids(store.db(), &[]).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// (e) what "a direction holds one seminar a year" counts

async fn seminars_held_by_a_requester_are_counted_by_year<S: ProjectionStore>(store: S, _: Backend) {
    // (format, requester, start, held)
    let sessions = [
        (SessionFormat::Seminar, "DGESCO", "2026-03-02T08:00:00Z", true),
        (SessionFormat::Seminar, "DGESCO", "2026-12-31T22:00:00Z", false),
        (SessionFormat::Seminar, "DGESCO", "2027-01-15T08:00:00Z", true),
        (SessionFormat::Seminar, "DNE", "2026-05-02T08:00:00Z", true),
        (SessionFormat::Hackathon, "DGESCO", "2026-06-02T08:00:00Z", true),
    ];
    for (i, (format, requester, start, held)) in sessions.into_iter().enumerate() {
        let id = SessionId::new();
        let start = at(start);
        run(&store, id, &request_by(id, i as u32 + 1, format, "Séminaire de direction", requester)).await;
        run(&store, id, &C::StartScoping { on: day("2026-01-20") }).await;
        let schedule = range(start, 8);
        run(
            &store,
            id,
            &C::ScheduleSession { schedule, location: label("110 bis"), mode: SessionMode::InPerson, capacity: 9 },
        )
        .await;
        if held {
            run(&store, id, &C::HoldSession { now: start + Duration::hours(1) }).await;
        }
    }
    let count = |requester: &'static str, year: i32| {
        let db = store.db();
        async move { seminars_of(db, requester, year).await.unwrap() }
    };
    assert_eq!(count("DGESCO", 2026).await, 1, "a scheduled seminar is not held yet, a hackathon no seminar");
    assert_eq!(count("DGESCO", 2027).await, 1);
    assert_eq!(count("DGESCO", 2025).await, 0);
    assert_eq!(count("DNE", 2026).await, 1);
    assert_eq!(count("Dgesco", 2026).await, 0, "the requester's exact name");
    assert_eq!(count("DGESCO", 0).await, 0);
}
