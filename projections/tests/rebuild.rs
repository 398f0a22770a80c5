//! Every read model together, on both backends: after a random workload of projects, sessions
//! and people (rejected and refused commands included), rebuilding all of them, or any one,
//! from the log gives the live tables row for row and the migrated catalog — also while
//! commands keep landing.

mod common;

use carnet_testkit::{Backend, for_each_backend};

use carnet_domain::person::*;
use carnet_domain::project::*;
use carnet_domain::session::*;
use carnet_domain::values::*;
use carnet_projections::*;
use carnet_store::*;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use common::{
    TABLES, aca, assert_same, catalog, check_person, check_session, day, dump, label, long, meta, rebuild, repo,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

for_each_backend!(
    a_rebuild_of_every_read_model_after_a_random_workload_equals_the_live_tables,
    commands_landing_during_a_rebuild_of_every_read_model_are_not_lost,
);

// ---------------------------------------------------------------------------------------------
// A random workload of real commands

const ACADEMIES: [&str; 5] = ["01", "02", "10", "24", "25"];
const ISSUERS: [&str; 2] = ["https://auth.agentconnect.gouv.fr", "https://idp.ac-lyon.fr"];
const SUBS: [&str; 4] = ["a-1", "b-2", "c-3", "d-4"];
const NAMES: [&str; 4] = ["Camille", "Dominique", "Zéphyrine", "Yannick"];
const PROFILES: [&str; 3] = ["enseignant", "CPE", "chef d'établissement"];

enum Command {
    Project(ProjectId, ProjectCommand),
    Session(SessionId, SessionCommand),
    Person(PersonId, PersonCommand),
}

#[derive(Debug, Default, Clone, Copy)]
struct Outcomes {
    landed: usize,
    /// Refused by a decider.
    rejected: usize,
    /// Refused by a read model (an identity or a reference already taken).
    refused: usize,
}

/// Random, valid-ish commands from a seed: the deciders reject what does not fit, the read
/// models refuse an identity linked twice.
struct Workload {
    rng: StdRng,
    projects: Vec<ProjectId>,
    sessions: Vec<SessionId>,
    people: Vec<PersonId>,
    /// Session references, some taken twice on purpose.
    references: u32,
    on: NaiveDate,
}

impl Workload {
    fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            projects: vec![],
            sessions: vec![],
            people: vec![],
            references: 0,
            on: day("2026-01-05"),
        }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())]
    }

    fn academies(&mut self, max: usize) -> BTreeSet<AcademieCode> {
        let n = self.rng.random_range(1..=max);
        (0..n).map(|_| aca(self.pick(&ACADEMIES))).collect()
    }

    fn time(&mut self) -> DateTime<Utc> {
        let base = DateTime::parse_from_rfc3339("2026-02-02T08:00:00Z").unwrap().to_utc();
        base + Duration::hours(self.rng.random_range(0..24 * 120))
    }

    /// Any next command, creating an entity now and then.
    fn command(&mut self) -> Command {
        self.on += Duration::days(self.rng.random_range(0..=2));
        let roll = self.rng.random_range(0..100);
        match roll {
            _ if self.projects.is_empty() || roll < 3 => self.submit_project(),
            _ if self.sessions.is_empty() || roll < 7 => self.request_session(),
            _ if self.people.is_empty() || roll < 10 => self.register_person(),
            10..28 => self.project_command(),
            28..80 => self.session_command(),
            _ => self.person_command(),
        }
    }

    fn submit_project(&mut self) -> Command {
        let id = ProjectId::new();
        self.projects.push(id);
        let seq = self.projects.len() as u32;
        let academies = self.academies(2);
        let support_mode = self.pick(&SupportMode::ALL);
        Command::Project(id, common::submission(id, seq, support_mode, academies, vec![label("numérique")], self.on))
    }

    fn project_command(&mut self) -> Command {
        use ProjectCommand as C;
        let id = self.pick(&self.projects.clone());
        let on = self.on;
        let command = match self.rng.random_range(0..9) {
            0 | 1 => C::LinkAcademie { code: aca(self.pick(&ACADEMIES)) },
            6 => C::LinkEstablishment { uai: Uai::parse(self.pick(&["0750654D", "0690026D"])).unwrap() },
            7 => C::StartPhase { phase: self.pick(&Phase::ALL), on },
            2 => C::UnlinkAcademie { code: aca(self.pick(&ACADEMIES)) },
            3 => C::StartQualification { on },
            4 => C::AcceptProject { on, support_mode: self.pick(&SupportMode::ALL) },
            5 => C::AddHolder { person: PersonId::new(), role: label("porteur"), affiliation: None },
            _ => C::DeclineProject { on, reason: long("non") },
        };
        Command::Project(id, command)
    }

    fn request_session(&mut self) -> Command {
        let id = SessionId::new();
        self.sessions.push(id);
        // one reference in twenty is taken already: the read model refuses it
        if self.references == 0 || self.rng.random_range(0..20) > 0 {
            self.references += 1;
        }
        let format = self.pick(&SessionFormat::ALL);
        Command::Session(
            id,
            SessionCommand::RequestSession {
                id,
                details: SessionDetails {
                    reference: label(&format!("110B-S-2026-{:03}", self.references)),
                    title: Title::parse(&format!("Session {}", self.sessions.len())).unwrap(),
                    format,
                    objective: long("Une question de politique éducative"),
                    methods: vec![label("persona")],
                    requester: Requester { organisation: label("DGESCO"), kind: self.pick(&RequesterKind::ALL) },
                    requested_on: self.on,
                },
                seminars_already_held_this_year: self.rng.random_range(0..2),
            },
        )
    }

    fn session_command(&mut self) -> Command {
        use SessionCommand as C;
        // mostly the latest sessions, so that some travel to the end of their life
        let from = if self.rng.random_bool(0.7) { self.sessions.len().saturating_sub(4) } else { 0 };
        let id = self.sessions[self.rng.random_range(from..self.sessions.len())];
        let on = self.on;
        let person = if self.people.is_empty() || self.rng.random_bool(0.3) {
            PersonId::new()
        } else {
            self.pick(&self.people.clone())
        };
        let start = self.time();
        let schedule = DateRange::new(start, start + Duration::hours(self.rng.random_range(1..48))).unwrap();
        // forward moves weighted up, so that sessions travel far
        let kinds = [
            0, 0, 0, 1, 2, 3, 3, 4, 5, 5, 5, 6, 7, 8, 8, 9, 10, 10, 10, 10, 10, 11, 12, 12, 12, 13, 13, 13, 13, 14, 14,
            15, 16, 17, 17, 18, 18, 19, 19,
        ];
        let command = match self.pick(&kinds) {
            0 => C::StartScoping { on },
            1 => C::DeclineSession { reason: long("hors champ"), on },
            2 => C::WithdrawSession { reason: long("plus besoin"), on },
            3 => C::AssignFacilitator { facilitator: person },
            4 => C::UnassignFacilitator { facilitator: person },
            5 => C::ScheduleSession {
                schedule,
                location: label("110 bis"),
                mode: self.pick(&SessionMode::ALL),
                capacity: self.rng.random_range(1..6),
            },
            6 => C::RescheduleSession {
                schedule,
                location: label("Rectorat"),
                mode: self.pick(&SessionMode::ALL),
                capacity: self.rng.random_range(1..6),
            },
            7 => C::CancelSession { reason: long("grève"), on },
            8 => C::AddAgendaItem { label: label("Atelier"), at: self.rng.random_bool(0.5).then_some(start) },
            9 => C::RemoveAgendaItem { item_id: self.rng.random_range(1..4) },
            10 => C::RegisterParticipant { participant: person, profile: label(self.pick(&PROFILES)) },
            11 => C::CancelRegistration { participant: person },
            12 => C::HoldSession { now: DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z").unwrap().to_utc() },
            13 => {
                let count = self.rng.random_range(1..30);
                let by_profile: BTreeMap<Label, u32> =
                    [(label(self.pick(&PROFILES)), count / 2)].into_iter().filter(|(_, n)| *n > 0).collect();
                let academies = if self.rng.random_bool(0.2) { BTreeSet::new() } else { self.academies(2) };
                C::RecordAttendance {
                    attendance: Attendance {
                        count,
                        by_profile,
                        organisations: vec![label("DNE"), label("Collège Jean-Moulin")],
                        academies,
                    },
                }
            }
            14 => C::PublishReport { report: long(&format!("Compte-rendu {}", self.rng.random_range(0..3))), on },
            15 => C::RecordFollowUpAction {
                description: long("Une suite"),
                due: self.rng.random_bool(0.5).then_some(on + Duration::days(30)),
            },
            16 => C::CompleteFollowUpAction { action_id: self.rng.random_range(1..4), on },
            17 => C::RecordSatisfactionSurvey {
                respondents: self.rng.random_range(1..12),
                mean: f64::from(self.rng.random_range(10..=50)) / 10.0,
            },
            18 => C::LinkToProject { project: self.pick(&self.projects.clone()) },
            19 => C::CloseSession { on },
            _ => C::StartScoping { on },
        };
        Command::Session(id, command)
    }

    fn profile(&mut self) -> PersonalData {
        let given = self.pick(&NAMES);
        PersonalData {
            given_name: label(given),
            usual_name: label(&format!("Martin{}", self.rng.random_range(0..3))),
            email: self
                .rng
                .random_bool(0.7)
                .then(|| Email::parse(&format!("{}@education.gouv.fr", given.to_lowercase())).unwrap()),
            organisation: self.rng.random_bool(0.5).then(|| label("DNE")),
            affiliation: None,
            academie: self.rng.random_bool(0.5).then(|| aca(self.pick(&ACADEMIES))),
            uai: self.rng.random_bool(0.3).then(|| Uai::parse("0750654D").unwrap()),
        }
    }

    fn register_person(&mut self) -> Command {
        let id = PersonId::new();
        self.people.push(id);
        let profile = self.profile();
        Command::Person(id, PersonCommand::RegisterPerson { id, profile, registered_on: self.on })
    }

    fn person_command(&mut self) -> Command {
        use PersonCommand as C;
        let id = self.pick(&self.people.clone());
        let on = self.on;
        let command = match self.rng.random_range(0..20) {
            0..=4 => C::LinkIdentity {
                identity: ExternalIdentity { issuer: label(self.pick(&ISSUERS)), sub: label(self.pick(&SUBS)) },
            },
            5 | 6 => C::UpdateProfile { profile: self.profile() },
            7 | 8 => C::GiveConsent { purpose: self.pick(&ConsentPurpose::ALL), on },
            9 => C::WithdrawConsent { purpose: self.pick(&ConsentPurpose::ALL), on },
            10..=13 => {
                let role = self.pick(&Role::ALL);
                // now and then codes where they do not belong, or none where they do
                let academies = if (role == Role::Academie) != self.rng.random_bool(0.1) {
                    self.academies(3)
                } else {
                    BTreeSet::new()
                };
                C::GrantRole { role, academies }
            }
            14 | 15 => C::RevokeRole { role: self.pick(&Role::ALL) },
            16 => C::ErasePerson { reason: long("demande RGPD"), on },
            _ => C::LinkIdentity {
                identity: ExternalIdentity { issuer: label(ISSUERS[0]), sub: label(&format!("own-{}", id.0)) },
            },
        };
        Command::Person(id, command)
    }
}

/// Runs one command with the inline projections.
async fn run<S: ProjectionStore>(store: &S, hook: &InlineProjections, command: Command, outcomes: &mut Outcomes) {
    let result = match &command {
        Command::Project(id, c) => {
            repo::<S, Project>(store).execute(id.0, c, &meta(), None, Some(hook)).await.map(|_| ())
        }
        Command::Session(id, c) => {
            repo::<S, Session>(store).execute(id.0, c, &meta(), None, Some(hook)).await.map(|_| ())
        }
        Command::Person(id, c) => {
            repo::<S, Person>(store).execute(id.0, c, &meta(), None, Some(hook)).await.map(|_| ())
        }
    };
    match result {
        Ok(()) => outcomes.landed += 1,
        Err(CommandError::Rejected(_)) => outcomes.rejected += 1,
        Err(CommandError::Store(StoreError::Refused { .. })) => outcomes.refused += 1,
        Err(e) => panic!("{e}"),
    }
}

async fn workload<S: ProjectionStore>(store: &S, w: &mut Workload, commands: usize) -> Outcomes {
    let inline = InlineProjections::new(Arc::new(carnet_testkit::carnet_codec()));
    let mut outcomes = Outcomes::default();
    for _ in 0..commands {
        run(store, &inline, w.command(), &mut outcomes).await;
    }
    outcomes
}

/// Each session and person of the workload is what its decider folds from the log.
async fn check_against_the_log<S: ProjectionStore>(store: &S, w: &Workload) {
    for id in &w.sessions {
        if store.stream_version(&StreamId::new("session", id.0)).await.unwrap() > 0 {
            check_session(store, id.0).await;
        }
    }
    for id in &w.people {
        check_person(store, id.0).await;
    }
}

// ---------------------------------------------------------------------------------------------

async fn a_rebuild_of_every_read_model_after_a_random_workload_equals_the_live_tables<S: ProjectionStore>(
    store: S,
    _: Backend,
) {
    let mut w = Workload::new(20_260_302);
    let outcomes = workload(&store, &mut w, 700).await;
    eprintln!("{outcomes:?}");
    assert!(outcomes.landed > 220, "a good part of the workload should land: {outcomes:?}");
    assert!(outcomes.rejected > 50 && outcomes.refused > 3, "rejections and refusals too: {outcomes:?}");
    check_against_the_log(&store, &w).await;
    let live = dump(&store).await;
    let schema = catalog(&store).await;
    for (table, _) in TABLES {
        let rows = live.iter().filter(|l| l.starts_with(&format!("{table}: "))).count();
        eprintln!("{table}: {rows} rows");
        assert!(rows > 0, "the workload fills {table}");
    }
    common::readable(&store).await;
    let events = store.read_all(Checkpoint::START, 100_000).await.unwrap();

    // the live projectors applied to the whole log again, in batches that start anywhere in an
    // entity's history: nothing changes
    let codec = Arc::new(carnet_testkit::carnet_codec());
    catch_up(&store, "projects-again", &ProjectProjector::new(codec.clone()), 37, &mut |_| {}).await.unwrap();
    catch_up(&store, "sessions-again", &SessionProjector::new(codec.clone()), 41, &mut |_| {}).await.unwrap();
    catch_up(&store, "people-again", &PersonProjector::new(codec.clone()), 43, &mut |_| {}).await.unwrap();
    assert_same(&dump(&store).await, &live, "live after applying the log again");

    // every read model at once
    let mut batches = 0;
    let progress = rebuild_with(&store, codec.clone(), None, 64, &mut |_| batches += 1).await.unwrap();
    assert_eq!(progress.events_read, events.len() as u64);
    assert_eq!(progress.events_applied, events.len() as u64, "every event belongs to one read model");
    assert_eq!(progress.checkpoint, events.last().unwrap().checkpoint());
    assert!(batches >= events.len() / 64, "{batches} batches");
    assert_same(&dump(&store).await, &live, "all rebuilt vs live");
    assert_same(&catalog(&store).await, &schema, "catalog after a rebuild of all vs migrated");

    // the fill holding almost nothing: entities let go and read back again and again, their
    // timeline versions closed in memory, in the table and opened again, written in pieces
    for held in [1, 3, 17] {
        rebuild_holding(&store, codec.clone(), None, 29, held, &mut |_| {}).await.unwrap();
        assert_same(&dump(&store).await, &live, &format!("all rebuilt holding {held} vs live"));
    }

    // each alone, the others staying live
    for model in ReadModel::ALL {
        let progress = rebuild_with(&store, codec.clone(), Some(model), 100, &mut |_| {}).await.unwrap();
        assert_eq!(progress.events_read, events.len() as u64);
        assert!(progress.events_applied < events.len() as u64, "{model} applies its own events only");
        assert_same(&dump(&store).await, &live, &format!("{model} rebuilt vs live"));
        assert_same(&catalog(&store).await, &schema, &format!("catalog after rebuilding {model}"));
    }

    // the rebuilt tables keep following commands
    rebuild(&store).await.unwrap();
    workload(&store, &mut w, 150).await;
    check_against_the_log(&store, &w).await;
    let live = dump(&store).await;
    rebuild(&store).await.unwrap();
    assert_same(&dump(&store).await, &live, "rebuilt after more commands vs live");
}

async fn commands_landing_during_a_rebuild_of_every_read_model_are_not_lost<S: ProjectionStore>(store: S, _: Backend) {
    let mut w = Workload::new(11);
    workload(&store, &mut w, 200).await;

    let writer = |stop: Arc<AtomicBool>, landed: Arc<AtomicUsize>| {
        let store = store.clone();
        async move {
            let inline = InlineProjections::new(Arc::new(carnet_testkit::carnet_codec()));
            let mut outcomes = Outcomes::default();
            let mut tried = 0;
            while tried < 30 || !stop.load(Ordering::Relaxed) {
                run(&store, &inline, w.command(), &mut outcomes).await;
                landed.store(outcomes.landed, Ordering::Relaxed);
                tried += 1;
            }
            w
        }
    };
    let w = common::rebuild_during(&store, writer).await;

    check_against_the_log(&store, &w).await;
    let live = dump(&store).await;
    rebuild(&store).await.unwrap();
    assert_same(&dump(&store).await, &live, "live after a busy rebuild vs a quiet rebuild");
}
