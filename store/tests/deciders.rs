//! Carnet's own deciders through the store, on both backends: every event type they emit is
//! written, read back and decoded to the same value, and the state folded from the log equals
//! the state the command handler returned.

use carnet_domain::Decider;
use carnet_domain::person::*;
use carnet_domain::project::*;
use carnet_domain::session::*;
use carnet_domain::values::*;
use carnet_store::*;
use carnet_testkit::{Backend, for_each_backend};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

for_each_backend!(a_project_lives_its_whole_life_in_the_log, a_session_and_a_person_round_trip_through_the_log);

fn meta() -> Metadata {
    Metadata::new(Actor { id: "lab-team-1".into(), issuer: "carnet-local".into() })
}

fn day(d: &str) -> NaiveDate {
    NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap()
}

fn at(t: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(t).unwrap().to_utc()
}

/// Runs `commands` on one aggregate, then checks the log against what the handler said.
async fn run<S: EventStore, D: Decider>(store: &S, id: uuid::Uuid, commands: Vec<D::Command>) -> D::State
where
    D::State: PartialEq,
{
    let repo = Repository::<_, D>::new(store.clone(), Arc::new(carnet_testkit::carnet_codec())).with_snapshot_every(4);
    let mut last = None;
    for command in &commands {
        let done = repo.execute(id, command, &meta(), None, None).await.unwrap_or_else(|e| panic!("{command:?}: {e}"));
        last = Some(done.state);
    }
    let recorded = store.read_stream(&StreamId::new(D::CATEGORY, id), 1, None).await.unwrap();
    let decoded: Vec<D::Event> = recorded.iter().map(|e| carnet_testkit::carnet_codec().decode(e).unwrap()).collect();
    for (event, row) in decoded.iter().zip(&recorded) {
        let encoded = carnet_testkit::carnet_codec().encode(event).unwrap();
        assert_eq!((encoded.event_type.as_str(), &encoded.payload), (row.event_type.as_str(), &row.payload));
    }
    let folded = D::fold(D::initial_state(), &decoded);
    let last = last.expect("at least one command");
    assert_eq!(folded, last, "the log folds to the state the handler returned");
    assert_eq!(repo.load(id).await.unwrap().state, last, "and so does a load through snapshots");
    last
}

async fn a_project_lives_its_whole_life_in_the_log<S: EventStore>(store: S, _: Backend) {
    use ProjectCommand as C;
    let id = ProjectId::new();
    let holder = PersonId::new();
    let commands = vec![
        C::SubmitProject {
            id,
            reference: ProjectReference::parse("110B-P-2026-007").unwrap(),
            title: Title::parse("Classe dehors : « apprendre au jardin »").unwrap(),
            problem_statement: LongText::parse("Les élèves de cycle 3 manquent d'occasions d'apprendre dehors.")
                .unwrap(),
            summary: None,
            support_mode: SupportMode::Incubation,
            academies: BTreeSet::from([AcademieCode::parse("24").unwrap()]),
            themes: vec![Label::parse("nature").unwrap()],
            target_users: vec![Label::parse("enseignants").unwrap()],
            submitted_on: day("2026-01-12"),
        },
        C::AddHolder { person: holder, role: Label::parse("porteuse").unwrap(), affiliation: None },
        C::LinkEstablishment { uai: Uai::parse("0750654D").unwrap() },
        C::StartQualification { on: day("2026-01-20") },
        C::AcceptProject { on: day("2026-02-02"), support_mode: SupportMode::Incubation },
        C::StartPhase { phase: Phase::Prototyping, on: day("2026-04-01") },
        C::RecordReview { decision: ReviewDecision::Continue, held_on: day("2026-06-15"), notes: None },
        C::UpdateProgress { progress: Progress::new(60).unwrap() },
        C::PauseProject { on: day("2026-07-01"), reason: LongText::parse("congés d'été").unwrap() },
        C::ResumeProject { on: day("2026-09-01") },
        C::StartPhase { phase: Phase::Transfer, on: day("2026-10-01") },
        C::TransferProject { on: day("2026-11-20"), to: Label::parse("Académie de Créteil").unwrap(), notes: None },
    ];
    let state = run::<_, Project>(&store, id.0, commands).await;
    assert_eq!(state.status, Some(ProjectStatus::Transferred));
    assert!(state.check_invariants().is_ok());
}

async fn a_session_and_a_person_round_trip_through_the_log<S: EventStore>(store: S, _: Backend) {
    use SessionCommand as C;
    let id = SessionId::new();
    let participant = PersonId::new();
    let label = |s: &str| Label::parse(s).unwrap();
    let commands = vec![
        C::RequestSession {
            id,
            details: SessionDetails {
                reference: label("110B-S-2026-012"),
                title: Title::parse("Atelier : l'orientation vue par les élèves").unwrap(),
                format: SessionFormat::parse("DESIGN_THINKING_WORKSHOP").unwrap(),
                objective: LongText::parse("Comment aider les élèves de seconde à choisir ?").unwrap(),
                methods: vec![label("persona")],
                requester: Requester { organisation: label("DGESCO"), kind: RequesterKind::Direction },
                requested_on: day("2026-02-01"),
            },
            seminars_already_held_this_year: 0,
        },
        C::StartScoping { on: day("2026-02-03") },
        C::ScheduleSession {
            schedule: DateRange::new(at("2026-03-10T09:00:00Z"), at("2026-03-10T17:00:00Z")).unwrap(),
            location: label("110 bis"),
            mode: SessionMode::InPerson,
            capacity: 20,
        },
        C::RegisterParticipant { participant, profile: label("enseignant") },
        C::HoldSession { now: at("2026-03-10T09:30:00Z") },
        C::RecordAttendance {
            attendance: Attendance {
                count: 18,
                by_profile: BTreeMap::from([(label("enseignant"), 12)]),
                organisations: vec![label("Lycée Jean-Jaurès")],
                academies: BTreeSet::from([AcademieCode::parse("01").unwrap()]),
            },
        },
        C::PublishReport {
            report: LongText::parse("Compte-rendu : trois pistes retenues.").unwrap(),
            on: day("2026-03-12"),
        },
        C::CloseSession { on: day("2026-03-13") },
    ];
    let state = run::<_, Session>(&store, id.0, commands).await;
    assert_eq!(state.status, Some(SessionStatus::Closed));

    use PersonCommand as P;
    let person = PersonId::new();
    let profile = PersonalData {
        given_name: label("Camille"),
        usual_name: label("Martin"),
        email: Some(Email::parse("camille.martin@ac-paris.fr").unwrap()),
        organisation: None,
        affiliation: None,
        academie: Some(AcademieCode::parse("01").unwrap()),
        uai: None,
    };
    let commands = vec![
        P::RegisterPerson { id: person, profile, registered_on: day("2026-01-05") },
        P::GrantRole { role: Role::Academie, academies: BTreeSet::from([AcademieCode::parse("01").unwrap()]) },
        P::ErasePerson { reason: LongText::parse("demande RGPD").unwrap(), on: day("2026-05-01") },
    ];
    let state = run::<_, Person>(&store, person.0, commands).await;
    assert_eq!(state.display_name(), "Personne effacée");
}
