//! `carnet-bench scale`: how Carnet's reads, folds and whole-log commands behave as the log
//! grows (issue 13, point 7). One database per backend, grown in one sitting through sizes
//! (10 000, then 1 000 000 events by default; 10 000 000 if asked), and at each size:
//!
//! - **rebuild**: `carnet rebuild` of every read model (`rebuild_with`, the command's own
//!   function and batch size), events per second of the whole command, swap included;
//! - **list**: `projects(first: 20)` with its count, the front ends' page, and the same for one
//!   académie; **lookup**: one project by id; **project asOf**: one project folded at a random
//!   past moment; **indicators asOf**: the lab's figures at a random past moment, and the
//!   server's memory while they run; **history**: one project's events, as its `history`
//!   field reads them; each as p50 and p99 over `samples` calls;
//! - **verify**: sealing what is not sealed yet, then `carnet verify` of the whole log.
//!
//! The log is made of the lab's real commands, decided by the domain's deciders in memory and
//! appended through the store (several events per append, streams interleaved so that their
//! versions spread over the log's time, as in real use): projects submitted, qualified,
//! accepted or declined, linked to académies, given holders, phases, reviews, milestones,
//! impact figures, progress, pauses, transfers and abandons; sessions requested, scheduled,
//! attended, held, surveyed and linked to projects. A command its decider refuses (a rule of
//! the domain) is left out, so every event is one the API could have appended. The appends do
//! not run the inline projections: the read models are built by the rebuild being measured.
//!
//! Reads are called in process through the crates' public functions (the GraphQL layer's cost
//! is `carnet-bench http`'s subject), one at a time.

use carnet_domain::Decider;
use carnet_domain::project::{AbandonReason, Phase, Project, ProjectCommand, ReviewDecision, SupportMode};
use carnet_domain::session::{
    Attendance, Requester, RequesterKind, Session, SessionCommand, SessionDetails, SessionFormat, SessionMode,
};
use carnet_domain::values::{
    AcademieCode, DateRange, Label, LongText, PersonId, Progress, ProjectId, ProjectReference, SessionId, Title,
};
use carnet_projections::{
    Period, ProjectFilter, ProjectOrder, ProjectionStore, indicators_as_of, list_projects, project_as_of,
    project_by_id, rebuild_with,
};
use carnet_store::integrity::{Report, seal_pending, unsealed_events, verify};
use carnet_store::{Actor, AnyStore, Codec, EventStore, ExpectedVersion, Metadata, NewEvent, StreamId};
use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct ScaleOptions {
    /// A PostgreSQL server; the bench creates its own database there.
    pub database_url: String,
    /// The sizes the log grows through, in events, increasing.
    pub sizes: Vec<usize>,
    /// Calls per timed read, at each size.
    pub samples: usize,
    pub postgres: bool,
    pub sqlite: bool,
    /// Leave the databases in place at the end (to look at their plans), and say where.
    pub keep: bool,
}

/// What one size gave.
#[derive(Clone, Debug, Default)]
pub struct AtSize {
    pub events: u64,
    pub projects: usize,
    pub sessions: usize,
    /// Commands decided to make the log, and of them refused by the domain (left out).
    pub commands: usize,
    pub refused: usize,
    /// Seconds to append the events added for this size.
    pub fill_seconds: f64,
    pub rebuild_per_second: f64,
    pub list: Latency,
    pub list_academie: Latency,
    pub lookup: Latency,
    pub project_as_of: Latency,
    pub indicators_as_of: Latency,
    /// Resident memory of the process above what it was before the `indicators(asOf)` calls.
    pub indicators_as_of_rss_mib: f64,
    pub history: Latency,
    pub verify_per_second: f64,
    pub database_mib: f64,
}

/// p50 and p99 of a read, in milliseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
}

impl Latency {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        let at = |q: f64| {
            let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[i].as_secs_f64() * 1e3
        };
        if samples.is_empty() { Self::default() } else { Self { p50: at(0.50), p99: at(0.99) } }
    }
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>7.2} / {:>7.2}", self.p50, self.p99)
    }
}

pub struct ScaleReport {
    pub backends: Vec<(&'static str, Vec<AtSize>)>,
}

impl std::fmt::Display for ScaleReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (name, sizes) in &self.backends {
            writeln!(f, "{name} (latencies: p50 / p99 ms)")?;
            for s in sizes {
                writeln!(
                    f,
                    "  {} events ({} projects, {} sessions; appended in {:.0} s; database {:.0} MiB)",
                    s.events, s.projects, s.sessions, s.fill_seconds, s.database_mib
                )?;
                writeln!(f, "    commands refused by the domain {:>10} of {}", s.refused, s.commands)?;
                writeln!(f, "    rebuild (every read model)     {:>10.0} events/s", s.rebuild_per_second)?;
                writeln!(f, "    verify (whole log)             {:>10.0} events/s", s.verify_per_second)?;
                writeln!(f, "    list projects(first: 20)       {}", s.list)?;
                writeln!(f, "    list, one académie             {}", s.list_academie)?;
                writeln!(f, "    lookup project(id)             {}", s.lookup)?;
                writeln!(f, "    project(id, asOf)              {}", s.project_as_of)?;
                writeln!(
                    f,
                    "    indicators(asOf)               {}   (memory +{:.1} MiB)",
                    s.indicators_as_of, s.indicators_as_of_rss_mib
                )?;
                writeln!(f, "    history of a project           {}", s.history)?;
            }
            if let (Some(small), Some(large)) = (sizes.first(), sizes.last())
                && sizes.len() > 1
            {
                let ratio = |a: Latency, b: Latency| b.p99 / a.p99.max(1e-9);
                writeln!(f, "  p99 at {} ÷ p99 at {} events (target <= 1.5):", large.events, small.events)?;
                for (what, a, b) in [
                    ("list", small.list, large.list),
                    ("lookup", small.lookup, large.lookup),
                    ("project asOf", small.project_as_of, large.project_as_of),
                    ("indicators asOf", small.indicators_as_of, large.indicators_as_of),
                    ("history", small.history, large.history),
                ] {
                    writeln!(f, "    {what:<16} {:>6.2}", ratio(a, b))?;
                }
            }
        }
        Ok(())
    }
}

pub async fn run(options: &ScaleOptions, progress: impl Fn(&str)) -> anyhow::Result<ScaleReport> {
    let mut backends = vec![];
    if options.postgres {
        let db = crate::scratch::ScratchPostgres::create(&options.database_url).await?;
        let result = async {
            let store = carnet_store::PgStore::connect(&db.url, 8).await?;
            store.migrate().await?;
            let figures = grow(&AnyStore::Postgres(store.clone()), options, "PostgreSQL", &progress).await;
            store.pool().close().await;
            figures
        }
        .await;
        if options.keep {
            progress(&format!("PostgreSQL: kept {}", db.url));
        } else {
            db.remove().await?;
        }
        backends.push(("PostgreSQL", result?));
    }
    if options.sqlite {
        let dir = crate::scratch::ScratchDir::create()?;
        let result = async {
            let url = format!("sqlite://{}", dir.0.join("scale.db").display());
            let store = carnet_store::SqliteStore::connect(&url).await?;
            store.migrate().await?;
            grow(&AnyStore::Sqlite(store), options, "SQLite", &progress).await
        }
        .await;
        if options.keep {
            progress(&format!("SQLite: kept {}", dir.0.join("scale.db").display()));
        } else {
            dir.remove();
        }
        backends.push(("SQLite", result?));
    }
    Ok(ScaleReport { backends })
}

/// What the log holds so far, for the reads to draw from.
#[derive(Default)]
struct Log {
    events: u64,
    projects: Vec<Uuid>,
    sessions: usize,
    /// Commands decided so far, and of them refused by the domain.
    commands: usize,
    refused: usize,
    /// The first and last moments an event was recorded.
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

async fn grow(
    store: &AnyStore,
    options: &ScaleOptions,
    name: &str,
    progress: &impl Fn(&str),
) -> anyhow::Result<Vec<AtSize>> {
    let codec = Arc::new(carnet_lab::codec::carnet_codec());
    let mut log = Log::default();
    let mut figures = vec![];
    let mut rng = StdRng::seed_from_u64(13);
    for &size in &options.sizes {
        progress(&format!("{name}: growing the log to {size} events"));
        let start = Instant::now();
        fill(store, &codec, &mut log, size, &mut rng).await?;
        let fill_seconds = start.elapsed().as_secs_f64();
        progress(&format!("{name}: {} events: rebuild", log.events));
        let start = Instant::now();
        let rebuilt = rebuild_with(store, codec.clone(), None, 5_000, &mut |_| {}).await?;
        let rebuild_per_second = rebuilt.events_read as f64 / start.elapsed().as_secs_f64();
        progress(&format!("{name}: {} events: reads", log.events));
        let mut at = measure(store, &codec, &log, options.samples, &mut rng).await?;
        progress(&format!("{name}: {} events: seal and verify", log.events));
        at.verify_per_second = seal_and_verify(store).await?;
        at.events = log.events;
        at.projects = log.projects.len();
        at.sessions = log.sessions;
        at.commands = log.commands;
        at.refused = log.refused;
        at.fill_seconds = fill_seconds;
        at.rebuild_per_second = rebuild_per_second;
        at.database_mib = database_size(store).await? as f64 / (1 << 20) as f64;
        figures.push(at);
    }
    Ok(figures)
}

async fn measure(
    store: &AnyStore,
    codec: &Arc<Codec>,
    log: &Log,
    samples: usize,
    rng: &mut StdRng,
) -> anyhow::Result<AtSize> {
    let db = store.db();
    let (first, last) = (log.first.unwrap_or_else(Utc::now), log.last.unwrap_or_else(Utc::now));
    let moment = |rng: &mut StdRng| {
        let span = (last - first).num_microseconds().unwrap_or(0).max(1);
        first + chrono::Duration::microseconds(rng.random_range(0..=span))
    };
    let project = |rng: &mut StdRng| log.projects[rng.random_range(0..log.projects.len())];
    let lyon = ProjectFilter { academie_code: vec![AcademieCode::parse("10")?], ..Default::default() };
    let mut at = AtSize::default();
    let mut timed = Vec::with_capacity(samples);

    macro_rules! time {
        ($field:ident, $call:expr) => {{
            timed.clear();
            for _ in 0..samples {
                let start = Instant::now();
                std::hint::black_box($call);
                timed.push(start.elapsed());
            }
            at.$field = Latency::of(std::mem::take(&mut timed));
        }};
    }

    time!(list, list_projects(db, &ProjectFilter::default(), ProjectOrder::default(), 20, None).await?);
    time!(list_academie, list_projects(db, &lyon, ProjectOrder::default(), 20, None).await?);
    time!(lookup, project_by_id(db, project(rng)).await?);
    time!(project_as_of, project_as_of(store, codec, project(rng), moment(rng)).await?);
    let before = resident_mib();
    time!(indicators_as_of, indicators_as_of(db, moment(rng), &Period::default(), &[]).await?);
    at.indicators_as_of_rss_mib = (resident_mib() - before).max(0.0);
    time!(history, store.read_stream(&StreamId::new("project", project(rng)), 1, None).await?);
    Ok(at)
}

/// Seals what is not sealed, then verifies the whole log: events per second of the verify.
async fn seal_and_verify(store: &AnyStore) -> anyhow::Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while unsealed_events(store, 1).await? > 0 {
        seal_pending(store).await?;
        anyhow::ensure!(Instant::now() < deadline, "events stay unsealable: a transaction is held open");
    }
    let start = Instant::now();
    match verify(store, |_| {}).await? {
        Report::Intact(summary) => Ok(summary.events as f64 / start.elapsed().as_secs_f64()),
        Report::Broken(breach) => anyhow::bail!("the bench log does not verify: {breach}"),
    }
}

async fn database_size(store: &AnyStore) -> anyhow::Result<u64> {
    Ok(match store {
        AnyStore::Postgres(s) => {
            let n: i64 = sqlx::query_scalar("select pg_database_size(current_database())").fetch_one(s.pool()).await?;
            n as u64
        }
        AnyStore::Sqlite(s) => {
            let pages: i64 =
                sqlx::query_scalar("select page_count * page_size from pragma_page_count(), pragma_page_size()")
                    .fetch_one(s.reader())
                    .await?;
            pages as u64
        }
    })
}

/// The process's resident memory, in MiB (Linux).
fn resident_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

// ---------------------------------------------------------------------------------------------
// The log

/// Events per append: a command's worth, about.
const PER_APPEND: usize = 3;
/// Entities whose appends interleave.
const WINDOW: usize = 200;
const WRITERS: usize = 4;

/// One entity's life: its stream and its events, in order.
struct Life {
    stream: StreamId,
    events: Vec<NewEvent>,
    /// Commands decided, and of them refused by the domain (left out).
    commands: usize,
    refused: usize,
}

/// Appends lives until the log holds at least `size` events.
async fn fill(store: &AnyStore, codec: &Codec, log: &mut Log, size: usize, rng: &mut StdRng) -> anyhow::Result<()> {
    while (log.events as usize) < size {
        // a window of lives: mostly projects, a session for every four
        let mut lives = Vec::with_capacity(WINDOW * WRITERS);
        let mut planned = 0usize;
        while lives.len() < WINDOW * WRITERS && (log.events as usize) + planned < size {
            let life = if lives.len() % 5 == 4 {
                log.sessions += 1;
                let linked = (!log.projects.is_empty()).then(|| log.projects[rng.random_range(0..log.projects.len())]);
                session_life(codec, log.sessions, linked, rng)?
            } else {
                let n = log.projects.len() + 1;
                let (id, life) = project_life(codec, n, rng)?;
                log.projects.push(id);
                life
            };
            planned += life.events.len();
            log.commands += life.commands;
            log.refused += life.refused;
            lives.push(life);
        }
        let mut shares: Vec<Vec<Life>> = (0..WRITERS).map(|_| vec![]).collect();
        for (i, life) in lives.into_iter().enumerate() {
            shares[i % WRITERS].push(life);
        }
        let tasks: Vec<_> = shares
            .into_iter()
            .map(|share| {
                let store = store.clone();
                tokio::spawn(async move { append_interleaved(&store, share).await })
            })
            .collect();
        for t in tasks {
            let (first, last) = t.await??;
            log.first = log.first.min(first).or(first);
            log.last = log.last.max(last);
        }
        log.events += planned as u64;
    }
    Ok(())
}

/// Appends the lives a few events at a time, round-robin, each append at the stream's version.
async fn append_interleaved(
    store: &AnyStore,
    lives: Vec<Life>,
) -> anyhow::Result<(Option<DateTime<Utc>>, Option<DateTime<Utc>>)> {
    let actor = Actor { id: "carnet-bench".into(), issuer: "carnet-bench".into() };
    let (mut first, mut last) = (None, None);
    let rounds = lives.iter().map(|l| l.events.len().div_ceil(PER_APPEND)).max().unwrap_or(0);
    for round in 0..rounds {
        for life in &lives {
            let from = round * PER_APPEND;
            if from >= life.events.len() {
                continue;
            }
            let to = (from + PER_APPEND).min(life.events.len());
            let expected = if from == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(from as u64) };
            // each append is a command of its own (its own command id)
            let metadata = Metadata::new(actor.clone());
            let appended = store.append(&life.stream, expected, &life.events[from..to], &metadata).await?;
            if let Some(e) = appended.events.first() {
                first = first.or(Some(e.recorded_at));
            }
            if let Some(e) = appended.events.last() {
                last = Some(e.recorded_at);
            }
        }
    }
    Ok((first, last))
}

/// Decides `commands` in turn from an empty stream, leaving out those the decider refuses.
fn decide_all<D: Decider>(codec: &Codec, id: Uuid, commands: Vec<D::Command>) -> anyhow::Result<Life> {
    let mut state = D::initial_state();
    let mut events = vec![];
    let mut refused = 0;
    for command in &commands {
        let Ok(decided) = D::decide(&state, command) else {
            refused += 1;
            continue;
        };
        for event in decided {
            events.push(codec.encode(&event)?);
            state = D::evolve(state, &event);
        }
    }
    Ok(Life { stream: StreamId::new(D::CATEGORY, id), events, commands: commands.len(), refused })
}

const ACADEMIES: [&str; 12] = ["01", "02", "03", "09", "10", "13", "14", "17", "19", "24", "25", "31"];
const THEMES: [&str; 6] = ["pédagogie", "inclusion", "numérique", "orientation", "bien-être", "vie scolaire"];

fn label(s: &str) -> anyhow::Result<Label> {
    Ok(Label::parse(s)?)
}

fn long(s: &str) -> anyhow::Result<LongText> {
    Ok(LongText::parse(s)?)
}

fn academie(rng: &mut StdRng) -> anyhow::Result<AcademieCode> {
    Ok(AcademieCode::parse(ACADEMIES[rng.random_range(0..ACADEMIES.len())])?)
}

/// A project's life: submitted, most often qualified and accepted, then phases, reviews,
/// milestones, impact figures and many progress updates; some paused, transferred, abandoned.
fn project_life(codec: &Codec, n: usize, rng: &mut StdRng) -> anyhow::Result<(Uuid, Life)> {
    use ProjectCommand as C;
    let id = ProjectId::new();
    let mut day = NaiveDate::from_ymd_opt(2018, 6, 5).expect("a day") + Days::new(rng.random_range(0..2900));
    let mut next = |rng: &mut StdRng| {
        day = day + Days::new(rng.random_range(1..20));
        day
    };
    let theme = THEMES[n % THEMES.len()];
    let mode = [SupportMode::Incubation, SupportMode::Punctual, SupportMode::NetworkLab][n % 3];
    let submitted = next(rng);
    let mut commands = vec![C::SubmitProject {
        id,
        reference: ProjectReference::parse(&format!("110B-P-{}-{:06}", 2018 + n / 999_999, n % 999_999 + 1))?,
        title: Title::parse(&format!("Projet n° {n} : {theme}"))?,
        problem_statement: long("Une équipe de terrain décrit un besoin que le lab l'aide à instruire.")?,
        summary: None,
        support_mode: mode,
        academies: BTreeSet::from([academie(rng)?]),
        themes: vec![label(theme)?],
        target_users: vec![label("enseignants")?],
        submitted_on: submitted,
    }];
    let fate = rng.random_range(0..100);
    if fate < 8 {
        return Ok((id.0, decide_all::<Project>(codec, id.0, commands)?));
    }
    commands.push(C::StartQualification { on: next(rng) });
    if fate < 16 {
        commands.push(C::DeclineProject { on: next(rng), reason: long("hors du champ du lab")? });
        return Ok((id.0, decide_all::<Project>(codec, id.0, commands)?));
    }
    commands.push(C::AcceptProject { on: next(rng), support_mode: mode });
    commands.push(C::AddHolder { person: PersonId::new(), role: label("porteur")?, affiliation: None });
    if rng.random_bool(0.3) {
        commands.push(C::LinkAcademie { code: academie(rng)? });
    }
    commands.push(C::StartPhase { phase: Phase::Exploration, on: next(rng) });
    let updates = rng.random_range(4..30);
    for u in 0..updates {
        let on = next(rng);
        commands.push(match rng.random_range(0..12) {
            0 => C::RecordMilestone { title: Title::parse(&format!("Jalon {u}"))?, on },
            1 => C::RecordReview { decision: ReviewDecision::Continue, held_on: on, notes: None },
            2 => C::RecordImpactIndicator {
                name: label("élèves touchés")?,
                value: f64::from(rng.random_range(10..500)),
                unit: label("élèves")?,
                measured_on: on,
            },
            _ => C::UpdateProgress { progress: Progress::new(((u + 1) * 100 / updates) as i64)? },
        });
        if u == updates / 3 {
            commands.push(C::StartPhase { phase: Phase::Prototyping, on: next(rng) });
        }
        if u == updates / 2 && rng.random_bool(0.1) {
            commands.push(C::PauseProject { on: next(rng), reason: long("le porteur change de poste")? });
            commands.push(C::ResumeProject { on: next(rng) });
        }
        if u == 2 * updates / 3 {
            commands.push(C::StartPhase { phase: Phase::Experimentation, on: next(rng) });
        }
    }
    match rng.random_range(0..10) {
        0..2 => commands.push(C::TransferProject { on: next(rng), to: label("DNE")?, notes: None }),
        2 => commands.push(C::AbandonProject {
            on: next(rng),
            reason_code: AbandonReason::LackOfResources,
            explanation: long("faute de temps dégagé")?,
        }),
        _ => {}
    }
    Ok((id.0, decide_all::<Project>(codec, id.0, commands)?))
}

/// A session's life: requested, scoped, scheduled, participants registered, held, attendance and
/// satisfaction recorded, linked to a project; some cancelled.
fn session_life(codec: &Codec, n: usize, project: Option<Uuid>, rng: &mut StdRng) -> anyhow::Result<Life> {
    use SessionCommand as C;
    let id = SessionId::new();
    let requested = NaiveDate::from_ymd_opt(2018, 6, 5).expect("a day") + Days::new(rng.random_range(0..2900));
    let held_on = requested + Days::new(rng.random_range(20..60));
    let at = |day: NaiveDate, hour: u32| Utc.from_utc_datetime(&day.and_hms_opt(hour, 0, 0).expect("an hour"));
    let format = SessionFormat::ALL[n % SessionFormat::ALL.len()];
    let details = SessionDetails {
        reference: label(&format!("110B-S-{}-{:06}", 2018 + n / 999_999, n % 999_999 + 1))?,
        title: Title::parse(&format!("Session n° {n}"))?,
        format,
        objective: long("Avancer ensemble sur un besoin du terrain")?,
        methods: vec![label("prototypage rapide")?],
        requester: Requester { organisation: label("Académie de Lyon")?, kind: RequesterKind::Academie },
        requested_on: requested,
    };
    let capacity = rng.random_range(10..60);
    let mut commands = vec![
        C::RequestSession { id, details, seminars_already_held_this_year: 0 },
        C::StartScoping { on: requested },
        C::AssignFacilitator { facilitator: PersonId::new() },
        C::ScheduleSession {
            schedule: DateRange::new(at(held_on, 9), at(held_on, 12))?,
            location: label("110 bis")?,
            mode: SessionMode::InPerson,
            capacity,
        },
    ];
    if let Some(project) = project {
        commands.push(C::LinkToProject { project: ProjectId(project) });
    }
    for _ in 0..rng.random_range(2..capacity.min(25)) {
        commands.push(C::RegisterParticipant { participant: PersonId::new(), profile: label("enseignant")? });
    }
    if rng.random_bool(0.1) {
        commands.push(C::CancelSession { reason: long("salle indisponible")?, on: held_on });
        return decide_all::<Session>(codec, id.0, commands);
    }
    let count = rng.random_range(5..capacity + 10);
    commands.push(C::HoldSession { now: at(held_on, 12) });
    commands.push(C::RecordAttendance {
        attendance: Attendance {
            count,
            by_profile: BTreeMap::from([(label("enseignant")?, count / 2)]),
            organisations: vec![label("Éducation nationale")?],
            academies: BTreeSet::from([academie(rng)?]),
        },
    });
    commands.push(C::RecordSatisfactionSurvey {
        respondents: (count / 2).max(1),
        mean: 3.0 + f64::from(rng.random_range(0..20)) / 10.0,
    });
    decide_all::<Session>(codec, id.0, commands)
}
