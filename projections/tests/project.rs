//! The project read model on both backends: it follows every command inline (and rolls back
//! with it), a rebuild from the log gives the same tables row for row — also while commands keep
//! landing — and lists filter, order and page with keyset cursors.

mod common;

use carnet_testkit::{Backend, for_each_backend};

use carnet_domain::project::*;
use carnet_domain::values::*;
use carnet_projections::*;
use carnet_store::*;
use chrono::{Days, NaiveDate};
use common::{aca, assert_same, catalog, day, dump, label, long, meta, rebuild};
use futures::future::BoxFuture;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

for_each_backend!(
    the_read_model_follows_every_command_inline,
    a_failed_projection_rolls_the_events_back,
    a_rebuild_of_a_random_workload_equals_the_live_tables,
    commands_landing_during_a_rebuild_are_not_lost,
    lists_filter_order_and_page_with_keyset_cursors,
    catch_up_follows_the_log_from_its_checkpoint,
    an_empty_log_rebuilds_to_empty_tables_one_rebuild_at_a_time,
);

// ---------------------------------------------------------------------------------------------
// Helpers

use ProjectCommand as C;

fn repo<S: EventStore>(store: &S) -> Repository<S, Project> {
    Repository::new(store.clone(), Arc::new(carnet_testkit::carnet_codec())).with_snapshot_every(5)
}

#[allow(clippy::too_many_arguments)]
fn submit(
    id: ProjectId,
    seq: u32,
    on: NaiveDate,
    academies: &[&str],
    themes: &[&str],
    mode: SupportMode,
    title: &str,
) -> ProjectCommand {
    C::SubmitProject {
        id,
        reference: ProjectReference::build("110B", 2026, seq).unwrap(),
        title: Title::parse(title).unwrap(),
        problem_statement: long("Un problème que des enseignants veulent résoudre."),
        summary: seq.is_multiple_of(2).then(|| long("Résumé : une piste à explorer avec le lab.")),
        support_mode: mode,
        academies: academies.iter().map(|c| aca(c)).collect(),
        themes: themes.iter().map(|t| label(t)).collect(),
        target_users: vec![label("enseignants")],
        submitted_on: on,
    }
}

/// The row the read model must hold for a project in `state`, whose last event is `last`.
fn expected(state: &ProjectState, last: &RecordedEvent) -> ProjectRow {
    let text = |t: &LongText| t.as_str().to_owned();
    ProjectRow {
        id: state.id.unwrap().0,
        reference: state.reference.as_ref().unwrap().as_str().to_owned(),
        title: state.title.as_ref().unwrap().as_str().to_owned(),
        problem_statement: text(state.problem_statement.as_ref().unwrap()),
        summary: state.summary.as_ref().map(text),
        status: state.status.unwrap(),
        phase: state.open_phase().map(|p| p.phase),
        support_mode: state.support_mode.unwrap(),
        progress: state.progress.map(|p| p.value()),
        visibility: state.visibility,
        submitted_on: state.submitted_on.unwrap(),
        accepted_on: state.accepted_on,
        last_review_on: state.last_review_on,
        version: last.stream_version,
        updated_at: last.recorded_at,
        last_position: last.global_position,
        phases: state
            .phases
            .iter()
            .enumerate()
            .map(|(i, p)| PhaseRow {
                seq: i as u32 + 1,
                phase: p.phase,
                started_on: p.started_on,
                ended_on: p.ended_on,
            })
            .collect(),
        holders: state
            .holders
            .iter()
            .map(|(person, h)| HolderRow {
                person_id: person.0,
                role: h.role.as_str().to_owned(),
                affiliation: h.affiliation.as_ref().map(|a| a.as_str().to_owned()),
            })
            .collect(),
        academies: state.academies.iter().map(|c| c.as_str().to_owned()).collect(),
        establishments: state.establishments.iter().map(|u| u.as_str().to_owned()).collect(),
        themes: state.themes.iter().map(|t| t.as_str().to_owned()).collect(),
    }
}

/// The read model of project `id` is what the decider folds from the log.
async fn check_against_the_log<S: ProjectionStore>(store: &S, id: Uuid) {
    let loaded = repo(store).load(id).await.unwrap();
    let stream = StreamId::new("project", id);
    let last = store.read_stream(&stream, loaded.version, Some(loaded.version)).await.unwrap();
    let row = project_by_id(store.db(), id).await.unwrap().expect("the project is in the read model");
    assert_eq!(row, expected(&loaded.state, &last[0]), "project {id}");
}

// ---------------------------------------------------------------------------------------------
// (a) inline: the read model is the state the command handler returns

async fn the_read_model_follows_every_command_inline<S: ProjectionStore>(store: S, _: Backend) {
    let inline = InlineProjections::new(Arc::new(carnet_testkit::carnet_codec()));
    let repo = repo(&store);
    let id = ProjectId::new();
    let (holder, other) = (PersonId::new(), PersonId::new());
    let commands = vec![
        submit(
            id,
            7,
            day("2026-01-12"),
            &["24", "01"],
            &["nature", "sciences"],
            SupportMode::Incubation,
            "Classe dehors",
        ),
        C::AddHolder { person: holder, role: label("porteuse"), affiliation: Some(label("École Jean-Moulin")) },
        C::AddHolder { person: other, role: label("co-porteur"), affiliation: None },
        C::LinkEstablishment { uai: Uai::parse("0750654D").unwrap() },
        C::LinkEstablishment { uai: Uai::parse("0690026D").unwrap() },
        C::LinkAcademie { code: aca("10") },
        C::UnlinkAcademie { code: aca("01") },
        C::StartQualification { on: day("2026-01-20") },
        C::UpdateProjectDetails {
            title: Title::parse("Classe dehors : « apprendre au jardin »").unwrap(),
            problem_statement: long("Les élèves de cycle 3 manquent d'occasions d'apprendre dehors."),
            summary: Some(long("Un jardin par école.")),
            themes: vec![label("jardin"), label("nature")],
            target_users: vec![],
        },
        C::AcceptProject { on: day("2026-02-02"), support_mode: SupportMode::NetworkLab },
        C::RemoveHolder { person: other },
        C::AssignReferent { person: PersonId::new() },
        C::StartPhase { phase: Phase::Prototyping, on: day("2026-04-01") },
        C::RecordReview { decision: ReviewDecision::Continue, held_on: day("2026-06-15"), notes: None },
        C::RecordMilestone { title: Title::parse("Premier jardin planté").unwrap(), on: day("2026-06-20") },
        C::UpdateProgress { progress: Progress::new(60).unwrap() },
        C::PublishProject,
        C::PauseProject { on: day("2026-07-01"), reason: long("congés d'été") },
        C::ResumeProject { on: day("2026-09-01") },
        C::StartPhase { phase: Phase::Transfer, on: day("2026-10-01") },
        C::AbandonProject {
            on: day("2026-11-20"),
            reason_code: AbandonReason::LackOfResources,
            explanation: long("plus de moyens"),
        },
        C::ReopenProject { on: day("2026-12-01"), reason: long("nouveaux moyens") },
        C::ResumeProject { on: day("2026-12-02") },
        C::UnpublishProject,
        C::TransferProject { on: day("2027-01-15"), to: label("DNE"), notes: None },
    ];
    for command in &commands {
        let done = repo
            .execute(id.0, command, &meta(), None, Some(&inline))
            .await
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
        let row = project_by_id(store.db(), id.0).await.unwrap().expect("the project is in the read model");
        assert_eq!(row, expected(&done.state, done.events.last().unwrap()), "after {command:?}");
    }

    // the same, in the read model's own words
    let row = project_by_id(store.db(), id.0).await.unwrap().unwrap();
    assert_eq!((row.status, row.phase, row.version), (ProjectStatus::Transferred, None, 31));
    assert_eq!(row.academies, ["10", "24"]);
    assert_eq!(row.establishments, ["0690026D", "0750654D"]);
    assert_eq!(row.themes, ["jardin", "nature"]);
    assert_eq!(row.holders.iter().map(|h| h.person_id).collect::<Vec<_>>(), [holder.0]);
    let phases: Vec<_> = row.phases.iter().map(|p| (p.seq, p.phase, p.ended_on.is_some())).collect();
    assert_eq!(
        phases,
        [
            (1, Phase::Exploration, true),
            (2, Phase::Prototyping, true),
            (3, Phase::Transfer, true),
            (4, Phase::Transfer, true)
        ]
    );
    assert_eq!(
        (row.progress, row.last_review_on, row.visibility),
        (Some(60), Some(day("2026-06-15")), Visibility::Internal)
    );
    assert_eq!(project_by_id(store.db(), Uuid::new_v4()).await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// (b) a projection that fails takes the events down with it

/// Runs the real projections, then fails: their writes must roll back with the events.
struct FailAfter(InlineProjections);

impl InlineHook for FailAfter {
    fn run<'c>(&'c self, tx: TxConn<'c>, events: &'c [RecordedEvent]) -> BoxFuture<'c, Result<(), StoreError>> {
        Box::pin(async move {
            self.0.run(tx, events).await?;
            Err(StoreError::InvalidInput { reason: "refused on purpose".into() })
        })
    }
}

async fn a_failed_projection_rolls_the_events_back<S: ProjectionStore>(store: S, _: Backend) {
    let inline = InlineProjections::new(Arc::new(carnet_testkit::carnet_codec()));
    let repo = repo(&store);
    let a = ProjectId::new();
    let first = submit(a, 1, day("2026-03-02"), &["02"], &["numérique"], SupportMode::Punctual, "Un projet");
    repo.execute(a.0, &first, &meta(), None, Some(&inline)).await.unwrap();
    let before = dump(&store).await;

    // another project under a reference already taken: the read model refuses it, in words
    let b = ProjectId::new();
    let second = submit(b, 1, day("2026-03-03"), &["02"], &[], SupportMode::Punctual, "Un autre projet");
    match repo.execute(b.0, &second, &meta(), None, Some(&inline)).await {
        Err(CommandError::Store(StoreError::Refused { rule, reason })) => {
            assert_eq!(rule, "project.reference_taken");
            assert!(reason.contains("110B-P-2026-001") && reason.contains("déjà"), "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(store.stream_version(&StreamId::new("project", b.0)).await.unwrap(), 0, "no event was kept");
    assert_same(&dump(&store).await, &before, "read model after the refusal");

    // a hook failing after the projection wrote: both the events and the writes are gone
    let add = C::AddHolder { person: PersonId::new(), role: label("porteur"), affiliation: None };
    let err = repo
        .execute(
            a.0,
            &add,
            &meta(),
            None,
            Some(&FailAfter(InlineProjections::new(Arc::new(carnet_testkit::carnet_codec())))),
        )
        .await;
    assert!(matches!(err, Err(CommandError::Store(StoreError::InvalidInput { .. }))), "{err:?}");
    assert_eq!(store.stream_version(&StreamId::new("project", a.0)).await.unwrap(), 1);
    assert_same(&dump(&store).await, &before, "read model after the failed hook");

    // the same command through the real hook lands in both; replaying it changes nothing
    let metadata = meta();
    let done = repo.execute(a.0, &add, &metadata, None, Some(&inline)).await.unwrap();
    assert_eq!(project_by_id(store.db(), a.0).await.unwrap().unwrap(), expected(&done.state, &done.events[0]));
    let after = dump(&store).await;
    let replayed = repo.execute(a.0, &add, &metadata, None, Some(&inline)).await.unwrap();
    assert!(replayed.replayed);
    assert_same(&dump(&store).await, &after, "read model after a replayed command");
}

// ---------------------------------------------------------------------------------------------
// (c) random workload, then rebuild

const ACADEMIES: [&str; 5] = ["01", "02", "10", "24", "25"];
const UAIS: [&str; 3] = ["0750654D", "0750655E", "0690026D"];
const THEMES: [&str; 4] = ["numérique", "nature", "inclusion", "orientation"];

/// Random, valid-ish project commands from a seed: the deciders reject what does not fit.
struct Workload {
    rng: StdRng,
    projects: Vec<ProjectId>,
    people: Vec<PersonId>,
    on: NaiveDate,
}

impl Workload {
    fn new(seed: u64) -> Self {
        Self { rng: StdRng::seed_from_u64(seed), projects: vec![], people: vec![], on: day("2026-01-05") }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())]
    }

    fn submit(&mut self) -> (ProjectId, ProjectCommand) {
        let id = ProjectId::new();
        self.projects.push(id);
        let seq = self.projects.len() as u32;
        let academies: Vec<&str> = (0..self.rng.random_range(1..=2)).map(|_| self.pick(&ACADEMIES)).collect();
        let themes: Vec<&str> = (0..self.rng.random_range(0..=2)).map(|_| self.pick(&THEMES)).collect();
        let mode = self.pick(&SupportMode::ALL);
        let title = format!("Projet {seq} : {}", self.pick(&["élèves", "Numérique", "jardins", "écoles"]));
        (id, submit(id, seq, self.on, &academies, &themes, mode, &title))
    }

    fn command(&mut self) -> (ProjectId, ProjectCommand) {
        self.on = self.on + Days::new(self.rng.random_range(0..=3));
        let on = self.on;
        let id = self.pick(&self.projects.clone());
        if self.people.len() < 6 {
            self.people.push(PersonId::new());
        }
        let person = self.pick(&self.people.clone());
        let text = long("une raison");
        // forward moves weighted up, so that projects travel far
        let kinds = [
            0, 1, 1, 1, 2, 2, 2, 3, 4, 5, 5, 6, 7, 8, 9, 10, 11, 11, 11, 12, 12, 13, 14, 14, 15, 16, 17, 18, 19, 19,
            19, 20,
        ];
        let command = match self.pick(&kinds) {
            0 => C::UpdateProjectDetails {
                title: Title::parse(&format!("Titre revu {}", self.rng.random_range(0..5))).unwrap(),
                problem_statement: long("Un problème reformulé."),
                summary: self.rng.random_bool(0.5).then(|| long("Résumé")),
                themes: vec![label(self.pick(&THEMES))],
                target_users: vec![],
            },
            1 => C::StartQualification { on },
            2 => C::AcceptProject { on, support_mode: self.pick(&SupportMode::ALL) },
            3 => C::DeclineProject { on, reason: text },
            4 => C::WithdrawProject { on, reason: text },
            5 => C::AddHolder {
                person,
                role: label(self.pick(&["porteur", "co-porteuse"])),
                affiliation: self.rng.random_bool(0.5).then(|| label("Collège Jean-Jaurès")),
            },
            6 => C::RemoveHolder { person },
            7 => C::LinkAcademie { code: aca(self.pick(&ACADEMIES)) },
            8 => C::UnlinkAcademie { code: aca(self.pick(&ACADEMIES)) },
            9 => C::LinkEstablishment { uai: Uai::parse(self.pick(&UAIS)).unwrap() },
            10 => C::RecordReview { decision: self.pick(&ReviewDecision::ALL), held_on: on, notes: None },
            11 => C::StartPhase { phase: self.pick(&Phase::ALL), on },
            12 => C::UpdateProgress { progress: Progress::new(self.rng.random_range(0..=100)).unwrap() },
            13 => C::PauseProject { on, reason: text },
            14 => C::ResumeProject { on },
            15 => C::PublishProject,
            16 => C::UnpublishProject,
            17 => C::TransferProject { on, to: label("DNE"), notes: None },
            18 => C::AbandonProject { on, reason_code: self.pick(&AbandonReason::ALL), explanation: text },
            19 => C::ReopenProject { on, reason: text },
            _ => C::AssignReferent { person },
        };
        (id, command)
    }
}

/// Runs one command; a rejection is fine, anything else is not. Returns whether it landed.
async fn run<S: ProjectionStore>(
    store: &S,
    hook: &InlineProjections,
    (id, command): (ProjectId, ProjectCommand),
) -> bool {
    match repo(store).execute(id.0, &command, &meta(), None, Some(hook)).await {
        Ok(_) => true,
        Err(CommandError::Rejected(_)) => false,
        Err(e) => panic!("{command:?}: {e}"),
    }
}

async fn workload<S: ProjectionStore>(store: &S, w: &mut Workload, projects: usize, commands: usize) -> usize {
    let inline = InlineProjections::new(Arc::new(carnet_testkit::carnet_codec()));
    for _ in 0..projects {
        assert!(run(store, &inline, w.submit()).await);
    }
    let mut landed = 0;
    for _ in 0..commands {
        landed += usize::from(run(store, &inline, w.command()).await);
    }
    landed
}

async fn a_rebuild_of_a_random_workload_equals_the_live_tables<S: ProjectionStore>(store: S, _: Backend) {
    let mut w = Workload::new(20_260_112);
    let landed = workload(&store, &mut w, 24, 400).await;
    assert!(landed > 120, "a good part of the workload should land, {landed} of 400 did");
    for id in &w.projects {
        check_against_the_log(&store, id.0).await;
    }
    let live = dump(&store).await;
    let schema = catalog(&store).await;
    common::readable(&store).await;
    let events = store.read_all(Checkpoint::START, 100_000).await.unwrap();
    for table in ["project_phase", "project_holder", "project_academie", "project_establishment", "project_theme"] {
        assert!(live.iter().any(|l| l.starts_with(&format!("{table}: "))), "the workload fills {table}");
    }

    // the live projector applied to the whole log again, in batches that start anywhere in a
    // project's history: nothing changes
    let again = ProjectProjector::new(Arc::new(carnet_testkit::carnet_codec()));
    catch_up(&store, "project-again", &again, 50, &mut |_| {}).await.unwrap();
    assert_same(&dump(&store).await, &live, "live after applying the log again");

    let mut batches = 0;
    let progress =
        rebuild_with(&store, Arc::new(carnet_testkit::carnet_codec()), Some(ReadModel::Projects), 64, &mut |_| {
            batches += 1
        })
        .await
        .unwrap();
    assert_eq!(progress.events_read, events.len() as u64);
    assert_eq!(progress.events_applied, events.len() as u64);
    assert_eq!(progress.checkpoint, events.last().unwrap().checkpoint());
    assert!(batches >= events.len() / 64, "{batches} batches");
    assert_same(&dump(&store).await, &live, "rebuilt vs live");
    assert_same(&catalog(&store).await, &schema, "catalog after a rebuild vs migrated");

    // a second rebuild finds its names free again, and the rebuilt tables keep following commands
    rebuild(&store).await.unwrap();
    assert_same(&dump(&store).await, &live, "rebuilt twice vs live");
    assert_same(&catalog(&store).await, &schema, "catalog after two rebuilds vs migrated");
    workload(&store, &mut w, 2, 60).await;
    for id in &w.projects {
        check_against_the_log(&store, id.0).await;
    }
}

async fn commands_landing_during_a_rebuild_are_not_lost<S: ProjectionStore>(store: S, _: Backend) {
    let mut w = Workload::new(7);
    workload(&store, &mut w, 12, 120).await;

    let writer = |stop: Arc<AtomicBool>, landed: Arc<AtomicUsize>| {
        let store = store.clone();
        async move {
            let inline = InlineProjections::new(Arc::new(carnet_testkit::carnet_codec()));
            let mut tried = 0;
            while tried < 20 || !stop.load(Ordering::Relaxed) {
                let command = if tried % 10 == 0 { w.submit() } else { w.command() };
                if run(&store, &inline, command).await {
                    landed.fetch_add(1, Ordering::Relaxed);
                }
                tried += 1;
            }
            w
        }
    };
    let w = common::rebuild_during(&store, writer).await;

    for id in &w.projects {
        check_against_the_log(&store, id.0).await;
    }
    let live = dump(&store).await;
    rebuild(&store).await.unwrap();
    assert_same(&dump(&store).await, &live, "live after a busy rebuild vs a quiet rebuild");
}

// ---------------------------------------------------------------------------------------------
// (d) lists

fn sorted(rows: &[&ProjectRow], order: ProjectOrder) -> Vec<Uuid> {
    common::sorted(rows, order, |r| r.id, by)
}

/// Two rows on an order's field, ascending.
fn by(field: ProjectOrderField, a: &ProjectRow, b: &ProjectRow) -> std::cmp::Ordering {
    match field {
        ProjectOrderField::SubmittedAt => (a.submitted_on, a.id).cmp(&(b.submitted_on, b.id)),
        ProjectOrderField::Reference => a.reference.cmp(&b.reference),
        ProjectOrderField::UpdatedAt => (a.updated_at, a.id).cmp(&(b.updated_at, b.id)),
    }
}

common::keyset_pages!(ProjectRow, ProjectFilter, ProjectOrder, ProjectCursor, list_projects, list_projects_backward);

async fn lists_filter_order_and_page_with_keyset_cursors<S: ProjectionStore>(store: S, _: Backend) {
    let inline = InlineProjections::new(Arc::new(carnet_testkit::carnet_codec()));
    let repo = repo(&store);
    let mut ids = vec![];
    for i in 0..30u32 {
        let id = ProjectId::new();
        // references, submission dates (with ties) and creation order all differ
        let seq = (i * 7) % 30 + 1;
        let on = day("2026-01-05") + Days::new(u64::from((i * 11) % 6));
        let mut academies = vec![ACADEMIES[(i % 4) as usize]];
        if i % 3 == 0 {
            academies.push(ACADEMIES[((i + 1) % 4) as usize]);
        }
        let theme = ["numérique", "nature", "inclusion"][(i % 3) as usize];
        let title = match i {
            3 => "Des élèves à l'écoute".to_owned(),
            8 => "ÉLÈVES ambassadeurs".to_owned(),
            12 => "Taux de 100 % de réussite".to_owned(),
            _ => format!("Projet ordinaire n°{i}"),
        };
        let mode = SupportMode::ALL[(i % 3) as usize];
        let mut commands = vec![submit(id, seq, on, &academies, &[theme], mode, &title)];
        let later = on + Days::new(10);
        let accept = C::AcceptProject { on: later, support_mode: mode };
        match i % 5 {
            0 => {}
            1 => commands.push(C::StartQualification { on: later }),
            2 => commands.extend([C::StartQualification { on: later }, accept]),
            3 => commands.extend([
                C::StartQualification { on: later },
                accept,
                C::StartPhase { phase: Phase::Prototyping, on: later },
            ]),
            _ => commands
                .extend([C::StartQualification { on: later }, C::DeclineProject { on: later, reason: long("non") }]),
        }
        for command in &commands {
            repo.execute(id.0, command, &meta(), None, Some(&inline)).await.unwrap();
        }
        ids.push(id.0);
    }
    // later changes move some projects in the updated order; some enter the public catalogue
    for (_, id) in ids.iter().enumerate().filter(|(i, _)| i % 4 == 0 && i % 5 != 4) {
        let add = C::AddHolder { person: PersonId::new(), role: label("porteur"), affiliation: None };
        repo.execute(*id, &add, &meta(), None, Some(&inline)).await.unwrap();
    }
    for (_, id) in ids.iter().enumerate().filter(|(i, _)| i % 7 == 2 && i % 5 != 4) {
        repo.execute(*id, &C::PublishProject, &meta(), None, Some(&inline)).await.unwrap();
    }
    let all = projects_by_ids(store.db(), &ids).await.unwrap();
    assert_eq!(all.len(), 30);
    let all: Vec<&ProjectRow> = all.values().collect();

    // every order, both ways, any page size: each project exactly once, in order
    let fields = [ProjectOrderField::SubmittedAt, ProjectOrderField::Reference, ProjectOrderField::UpdatedAt];
    let list = async |order, size, backward| pages(&store, &ProjectFilter::default(), order, size, 30, backward).await;
    common::check_every_order(&fields, |order| sorted(&all, order), list, &[1, 7, 30, 100], &[1, 7, 100]).await;

    // filters, alone and together
    let has = |list: &[String], v: &str| list.iter().any(|x| x == v);
    let text = |t: &str| ProjectFilter { text: Some(t.into()), ..Default::default() };
    let cases: Vec<(ProjectFilter, common::Check<ProjectRow>)> = vec![
        (ProjectFilter::default(), Box::new(|_| true)),
        (
            ProjectFilter { status: vec![ProjectStatus::Active], ..Default::default() },
            Box::new(|p| p.status == ProjectStatus::Active),
        ),
        (
            ProjectFilter { status: vec![ProjectStatus::Submitted, ProjectStatus::Declined], ..Default::default() },
            Box::new(|p| matches!(p.status, ProjectStatus::Submitted | ProjectStatus::Declined)),
        ),
        (
            ProjectFilter { phase: vec![Phase::Prototyping], ..Default::default() },
            Box::new(|p| p.phase == Some(Phase::Prototyping)),
        ),
        (
            ProjectFilter {
                phase: vec![Phase::Exploration, Phase::Prototyping],
                support_mode: vec![SupportMode::Incubation],
                ..Default::default()
            },
            Box::new(|p| p.phase.is_some() && p.support_mode == SupportMode::Incubation),
        ),
        (
            ProjectFilter { academie_code: vec![aca("24")], ..Default::default() },
            Box::new(move |p| has(&p.academies, "24")),
        ),
        (
            ProjectFilter { academie_code: vec![aca("01"), aca("10")], ..Default::default() },
            Box::new(move |p| has(&p.academies, "01") || has(&p.academies, "10")),
        ),
        (
            ProjectFilter { theme: vec!["nature".into()], ..Default::default() },
            Box::new(move |p| has(&p.themes, "nature")),
        ),
        (
            ProjectFilter { support_mode: vec![SupportMode::Punctual], ..Default::default() },
            Box::new(|p| p.support_mode == SupportMode::Punctual),
        ),
        (
            ProjectFilter { visibility: vec![Visibility::Public], ..Default::default() },
            Box::new(|p| p.visibility == Visibility::Public),
        ),
        (
            ProjectFilter { visibility: vec![Visibility::Internal], ..Default::default() },
            Box::new(|p| p.visibility == Visibility::Internal),
        ),
        // case and accents do not matter, and LIKE's wildcards are plain characters
        (text("eleves"), Box::new(|p| p.title.starts_with("Des élèves") || p.title.starts_with("ÉLÈVES"))),
        (text("  ÉLÈVES "), Box::new(|p| p.title.starts_with("Des élèves") || p.title.starts_with("ÉLÈVES"))),
        (text("100 %"), Box::new(|p| p.title.contains('%'))),
        (text("%"), Box::new(|p| p.title.contains('%'))),
        (text("_"), Box::new(|_| false)),
        (text("2026-013"), Box::new(|p| p.reference == "110B-P-2026-013")),
        (text("résumé : une piste"), Box::new(|p| p.summary.is_some())),
        (text("   "), Box::new(|_| true)),
        (
            ProjectFilter {
                status: vec![ProjectStatus::Active],
                academie_code: vec![aca("02")],
                text: Some("projet".into()),
                ..Default::default()
            },
            Box::new(move |p| {
                p.status == ProjectStatus::Active && has(&p.academies, "02") && p.title.contains("Projet")
            }),
        ),
    ];
    let order = ProjectOrder::new(ProjectOrderField::SubmittedAt, Direction::Desc);
    common::check_filters(&all, &cases, async |filter, matching| {
        let got = pages(&store, filter, order, 4, matching.len(), false).await;
        assert_eq!(got, sorted(matching, order), "{filter:?}");
    })
    .await;

    // what a list fetches: a part left out decodes empty and the rest is the whole row's; the
    // filter is counted only when asked, on the page's own statement; a page past the end,
    // which has no row to carry the count, still counts
    let filter = ProjectFilter { academie_code: vec![aca("24")], ..Default::default() };
    let matching = all.iter().filter(|p| has(&p.academies, "24")).count();
    assert!(matching > 5, "more than one page: {matching}");
    let whole = list_projects(store.db(), &filter, order, 5, None).await.unwrap();
    assert_eq!(whole.total_count, matching as u64);
    let lean = Fetch { omit: ProjectPart::ALL.to_vec(), count: false };
    let page = list_projects_fetching(store.db(), &filter, order, 5, None, false, &lean).await.unwrap();
    assert_eq!((page.total_count, page.has_next_page, page.rows.len()), (0, true, 5));
    for (got, full) in page.rows.iter().zip(&whole.rows) {
        let expected = ProjectRow {
            problem_statement: String::new(),
            summary: None,
            phases: vec![],
            holders: vec![],
            academies: vec![],
            establishments: vec![],
            themes: vec![],
            ..full.clone()
        };
        assert_eq!(got, &expected, "everything but the parts left out");
    }
    let some = Fetch { omit: vec![ProjectPart::Holders, ProjectPart::ProblemStatement], count: true };
    let page = list_projects_fetching(store.db(), &filter, order, 5, None, false, &some).await.unwrap();
    assert_eq!(page.total_count, matching as u64);
    for (got, full) in page.rows.iter().zip(&whole.rows) {
        assert_eq!(got, &ProjectRow { holders: vec![], problem_statement: String::new(), ..full.clone() });
    }
    let everything = list_projects(store.db(), &filter, order, 100, None).await.unwrap();
    let (first, last) = (everything.rows.first().unwrap(), everything.rows.last().unwrap());
    let cursor = |row: &ProjectRow| row.cursor(order.field);
    for (at, backward) in [(cursor(last), false), (cursor(first), true)] {
        let page = list_projects_fetching(store.db(), &filter, order, 5, Some(&at), backward, &some).await.unwrap();
        assert!(page.rows.is_empty(), "nothing beyond the end (backward: {backward})");
        assert_eq!(page.total_count, matching as u64, "counted all the same (backward: {backward})");
    }

    // what a list refuses
    let none = ProjectFilter::default();
    let by_reference = all[0].cursor(ProjectOrderField::Reference);
    for size in [0, MAX_PAGE_SIZE + 1] {
        let err = list_projects(store.db(), &none, order, size, None).await.unwrap_err();
        assert!(matches!(err, ProjectionError::InvalidArgument(_)), "{err:?}");
    }
    let err = list_projects(store.db(), &none, order, 10, Some(&by_reference)).await.unwrap_err();
    assert!(matches!(err, ProjectionError::InvalidCursor(_)), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// catch-up

/// Remembers the positions it is given.
#[derive(Default)]
struct Recorder(Mutex<Vec<i64>>);

impl Projector for Recorder {
    fn apply<'c>(
        &'c self,
        _: TxConn<'c>,
        events: &'c [RecordedEvent],
    ) -> BoxFuture<'c, Result<usize, ProjectionError>> {
        self.0.lock().unwrap().extend(events.iter().map(|e| e.global_position));
        Box::pin(async move { Ok(events.len()) })
    }
}

async fn catch_up_follows_the_log_from_its_checkpoint<S: ProjectionStore>(store: S, _: Backend) {
    let mut w = Workload::new(3);
    workload(&store, &mut w, 3, 12).await;
    common::readable(&store).await;
    let recorder = Recorder::default();
    let mut batches = 0;
    let progress = catch_up(&store, "recorder", &recorder, 4, &mut |_| batches += 1).await.unwrap();
    let events = store.read_all(Checkpoint::START, 10_000).await.unwrap();
    let positions: Vec<i64> = events.iter().map(|e| e.global_position).collect();
    assert_eq!(*recorder.0.lock().unwrap(), positions);
    assert_eq!(batches, events.len().div_ceil(4));
    assert_eq!((progress.events_read, progress.events_applied), (events.len() as u64, events.len() as u64));
    assert_eq!(progress.checkpoint, events.last().unwrap().checkpoint());
    assert_eq!(checkpoint(&store, "recorder").await.unwrap(), progress.checkpoint);

    // nothing new: nothing read; new events: only those
    let again = catch_up(&store, "recorder", &recorder, 4, &mut |_| {}).await.unwrap();
    assert_eq!((again.events_read, again.checkpoint), (0, progress.checkpoint));
    workload(&store, &mut w, 1, 5).await;
    common::readable(&store).await;
    let more = catch_up(&store, "recorder", &recorder, 100, &mut |_| {}).await.unwrap();
    let events = store.read_all(Checkpoint::START, 10_000).await.unwrap();
    assert_eq!(*recorder.0.lock().unwrap(), events.iter().map(|e| e.global_position).collect::<Vec<_>>());
    assert_eq!(more.checkpoint, events.last().unwrap().checkpoint());
    assert_eq!(checkpoint(&store, "never-ran").await.unwrap(), Checkpoint::START);
}

async fn an_empty_log_rebuilds_to_empty_tables_one_rebuild_at_a_time<S: ProjectionStore>(store: S, _: Backend) {
    let schema = catalog(&store).await;
    let progress = rebuild(&store).await.unwrap();
    assert_eq!(progress, CatchUpProgress::default());
    assert!(dump(&store).await.is_empty());
    assert_same(&catalog(&store).await, &schema, "catalog after rebuilding nothing");

    // on PostgreSQL, a rebuild running elsewhere (here: its lock, held by hand) refuses another
    if let Db::Postgres(pool) = store.db() {
        let mut other = pool.acquire().await.unwrap();
        let lock = "select pg_try_advisory_lock(2, hashtext('project__rebuild'))";
        assert!(sqlx::query_scalar::<_, bool>(lock).fetch_one(&mut *other).await.unwrap());
        let err = rebuild(&store).await.unwrap_err();
        assert!(matches!(err, ProjectionError::Refused { rule: "rebuild.in_progress", .. }), "{err:?}");
        let unlock = "select pg_advisory_unlock(2, hashtext('project__rebuild'))";
        sqlx::query(unlock).execute(&mut *other).await.unwrap();
        rebuild(&store).await.unwrap();
    }
}
