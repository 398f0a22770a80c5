//! Demo data for a new database: the lab's first months as its own headline tells them — "une
//! dizaine de projets accompagnés, 27 sessions collaboratives, plus de 1 300 visiteurs" (DESIGN
//! §4.5). Everything goes through [`Lab`], the same commands as real use, dated in the past year,
//! so the log, the read models, the history and the indicators are real. Names and addresses are
//! fictitious (`example.org`).

use crate::Lab;
use anyhow::Context;
use carnet_domain::Decider;
use carnet_domain::person::{PersonCommand, PersonalData, Role};
use carnet_domain::project::{AbandonReason, Phase, Project, ProjectCommand, ReviewDecision, SupportMode};
use carnet_domain::reference::ReferenceKind;
use carnet_domain::session::{
    Attendance, Requester, RequesterKind, Session, SessionCommand, SessionDetails, SessionFormat, SessionMode,
};
use carnet_domain::values::{
    AcademieCode, DateRange, Email, Label, LongText, PersonId, Progress, ProjectId, ProjectReference, SessionId, Title,
    Uai,
};
use carnet_store::{Actor, Metadata};
use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// What the demo loaded.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DemoSummary {
    pub people: usize,
    pub projects: usize,
    /// Sessions held (of every session created).
    pub sessions_held: usize,
    pub sessions: usize,
    /// Participants counted in the attendance of the sessions held.
    pub visitors: u32,
}

/// Loads the demo into a database that has never held events; `None` otherwise.
pub async fn load_if_empty(lab: &Lab, today: NaiveDate) -> anyhow::Result<Option<DemoSummary>> {
    // only into a database that has never held events: never on top of a restored, emptied or
    // damaged one (`carnet_store::extent`), nor beside read models without a log
    if carnet_store::extent::ever_held_events(lab.store()).await?
        || carnet_projections::backing::holds_entities(lab.store()).await?
    {
        return Ok(None);
    }
    load(lab, today).await.map(Some)
}

fn text<const MAX: usize>(raw: &str) -> anyhow::Result<carnet_domain::values::Text<MAX>> {
    carnet_domain::values::Text::parse(raw).with_context(|| format!("demo text {raw:?}"))
}

fn at(day: NaiveDate, hour: u32) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(hour, 0, 0).unwrap_or_default())
}

/// Writes one day's facts as the lab team member `actor` would.
struct Writer<'a> {
    lab: &'a Lab,
    actor: Actor,
    today: NaiveDate,
}

impl Writer<'_> {
    fn day(&self, days_ago: u64) -> NaiveDate {
        self.today.checked_sub_days(Days::new(days_ago)).unwrap_or(self.today)
    }

    fn metadata(&self, on: NaiveDate) -> Metadata {
        Metadata { occurred_at: at(on, 9), ..Metadata::new(self.actor.clone()) }
    }

    async fn run<D: Decider>(&self, id: Uuid, on: NaiveDate, command: D::Command) -> anyhow::Result<()> {
        self.lab
            .execute::<D>(id, &command, &self.metadata(on), None)
            .await
            .with_context(|| format!("demo command {command:?}"))?;
        Ok(())
    }
}

struct DemoPerson {
    given: &'static str,
    usual: &'static str,
    organisation: &'static str,
    academie: Option<&'static str>,
    role: Option<Role>,
}

const PEOPLE: &[DemoPerson] = &[
    DemoPerson { given: "Inès", usual: "Garnier", organisation: "110 bis", academie: None, role: Some(Role::LabTeam) },
    DemoPerson {
        given: "Thomas",
        usual: "Lefebvre",
        organisation: "110 bis",
        academie: None,
        role: Some(Role::LabTeam),
    },
    DemoPerson {
        given: "Sophie",
        usual: "Marchand",
        organisation: "110 bis",
        academie: None,
        role: Some(Role::LabTeam),
    },
    DemoPerson { given: "Karim", usual: "Benali", organisation: "110 bis", academie: None, role: Some(Role::Admin) },
    DemoPerson {
        given: "Julie",
        usual: "Rousseau",
        organisation: "Collège Jean-Moulin",
        academie: Some("17"),
        role: None,
    },
    DemoPerson {
        given: "Nicolas", usual: "Perrin", organisation: "Lycée Condorcet", academie: Some("24"), role: None
    },
    DemoPerson {
        given: "Amélie",
        usual: "Fontaine",
        organisation: "École Jules-Ferry",
        academie: Some("09"),
        role: None,
    },
    DemoPerson {
        given: "Hugo",
        usual: "Lemaire",
        organisation: "CARDIE de Créteil",
        academie: Some("24"),
        role: Some(Role::Academie),
    },
    DemoPerson {
        given: "Claire",
        usual: "Vasseur",
        organisation: "Lycée Marie-Curie",
        academie: Some("10"),
        role: None,
    },
    DemoPerson {
        given: "Mehdi",
        usual: "Haddad",
        organisation: "Collège Victor-Hugo",
        academie: Some("02"),
        role: None,
    },
    DemoPerson {
        given: "Élodie",
        usual: "Caron",
        organisation: "Inspection générale",
        academie: None,
        role: Some(Role::Auditor),
    },
    DemoPerson { given: "Yann", usual: "Le Goff", organisation: "Lycée maritime", academie: Some("14"), role: None },
    DemoPerson {
        given: "Nadia", usual: "Bensaïd", organisation: "École Paul-Bert", academie: Some("25"), role: None
    },
    DemoPerson { given: "Laurent", usual: "Chevalier", organisation: "DNE", academie: None, role: None },
];

/// A project's story: its submission, then what happened to it (days ago, command).
struct DemoProject {
    title: &'static str,
    problem: &'static str,
    support_mode: SupportMode,
    academies: &'static [&'static str],
    uai: Option<&'static str>,
    themes: &'static [&'static str],
    submitted_days_ago: u64,
    /// Index into [`PEOPLE`] of its holder.
    holder: usize,
    story: Story,
}

#[derive(Clone, Copy)]
enum Story {
    Submitted,
    Qualifying,
    Declined,
    /// Accepted, then phases started, progress, the last phase open.
    Active {
        phases: usize,
        progress: i64,
    },
    Paused,
    Transferred,
    Abandoned,
}

const PROJECTS: &[DemoProject] = &[
    DemoProject {
        title: "Classe dehors au cycle 3",
        problem: "Les enseignants veulent faire classe dehors mais manquent de repères pour l'organiser en sécurité.",
        support_mode: SupportMode::Incubation,
        academies: &["17"],
        uai: Some("0440001M"),
        themes: &["pédagogie", "bien-être"],
        submitted_days_ago: 330,
        holder: 4,
        story: Story::Active { phases: 3, progress: 70 },
    },
    DemoProject {
        title: "Tutorat entre pairs en mathématiques",
        problem: "Les élèves de seconde qui décrochent en mathématiques ne demandent pas d'aide à leurs enseignants.",
        support_mode: SupportMode::Incubation,
        academies: &["24"],
        uai: Some("0750654D"),
        themes: &["mathématiques", "décrochage"],
        submitted_days_ago: 300,
        holder: 5,
        story: Story::Active { phases: 2, progress: 45 },
    },
    DemoProject {
        title: "Un carnet de liaison numérique accessible",
        problem: "Les familles éloignées du numérique ne lisent pas le carnet de liaison en ligne.",
        support_mode: SupportMode::Punctual,
        academies: &["09"],
        uai: None,
        themes: &["familles", "accessibilité"],
        submitted_days_ago: 280,
        holder: 6,
        story: Story::Transferred,
    },
    DemoProject {
        title: "Réseau des labs d'innovation académiques",
        problem: "Les labs académiques inventent chacun leurs méthodes sans les partager.",
        support_mode: SupportMode::NetworkLab,
        academies: &["10", "08", "06"],
        uai: None,
        themes: &["réseau", "méthodes"],
        submitted_days_ago: 260,
        holder: 8,
        story: Story::Active { phases: 1, progress: 20 },
    },
    DemoProject {
        title: "Orientation : des stages d'observation mieux préparés",
        problem: "Les élèves de troisième trouvent leur stage au hasard des relations de leurs parents.",
        support_mode: SupportMode::Incubation,
        academies: &["02"],
        uai: None,
        themes: &["orientation", "égalité des chances"],
        submitted_days_ago: 240,
        holder: 9,
        story: Story::Paused,
    },
    DemoProject {
        title: "La cantine zéro gaspillage",
        problem: "Un tiers des repas servis au collège finit à la poubelle.",
        support_mode: SupportMode::Punctual,
        academies: &["14"],
        uai: None,
        themes: &["alimentation", "développement durable"],
        submitted_days_ago: 200,
        holder: 11,
        story: Story::Transferred,
    },
    DemoProject {
        title: "Accueillir les élèves allophones dès le premier jour",
        problem: "Les élèves allophones attendent des semaines avant un premier cours adapté.",
        support_mode: SupportMode::Incubation,
        academies: &["25"],
        uai: None,
        themes: &["inclusion", "langues"],
        submitted_days_ago: 150,
        holder: 12,
        story: Story::Abandoned,
    },
    DemoProject {
        title: "Des salles de classe flexibles",
        problem: "Le mobilier fixe empêche le travail en groupe.",
        support_mode: SupportMode::Punctual,
        academies: &["24", "25"],
        uai: None,
        themes: &["espaces", "pédagogie"],
        submitted_days_ago: 120,
        holder: 5,
        story: Story::Declined,
    },
    DemoProject {
        title: "Former les néo-titulaires par les pairs",
        problem: "Les enseignants débutants se sentent seuls face à leurs premières classes.",
        support_mode: SupportMode::Incubation,
        academies: &["01"],
        uai: None,
        themes: &["formation", "entrée dans le métier"],
        submitted_days_ago: 40,
        holder: 13,
        story: Story::Qualifying,
    },
    DemoProject {
        title: "Un tableau de bord de l'absentéisme pour les CPE",
        problem: "Les CPE repèrent l'absentéisme trop tard pour agir.",
        support_mode: SupportMode::Punctual,
        academies: &["70"],
        uai: None,
        themes: &["vie scolaire", "données"],
        submitted_days_ago: 10,
        holder: 13,
        story: Story::Submitted,
    },
];

/// 27 sessions held, with their attendance: the formats the lab runs, and more than 1 300
/// visitors in all.
const HELD: &[(SessionFormat, &str, u32, RequesterKind)] = &[
    (SessionFormat::Acculturation, "Découvrir le design des politiques publiques", 42, RequesterKind::Direction),
    (SessionFormat::DesignThinkingWorkshop, "Classe dehors : imaginer la journée type", 24, RequesterKind::School),
    (SessionFormat::Hackathon, "Hackathon données de l'orientation", 118, RequesterKind::Direction),
    (SessionFormat::WorldCafe, "World café des CARDIE", 64, RequesterKind::Academie),
    (SessionFormat::DesignSprint, "Sprint carnet de liaison accessible", 18, RequesterKind::ProjectTeam),
    (SessionFormat::Seminar, "Séminaire de direction DGESCO", 85, RequesterKind::Direction),
    (SessionFormat::CodesignWorkshop, "Co-concevoir la cantine avec les élèves", 32, RequesterKind::School),
    (SessionFormat::Ideation, "Idéation : accueillir les élèves allophones", 27, RequesterKind::Academie),
    (SessionFormat::UserTesting, "Tests utilisateurs du carnet de liaison", 15, RequesterKind::ProjectTeam),
    (SessionFormat::Prototyping, "Prototyper une salle flexible", 21, RequesterKind::School),
    (SessionFormat::Acculturation, "Innovation publique pour les IA-IPR", 56, RequesterKind::Academie),
    (SessionFormat::Residency, "Résidence du lab de Lyon", 12, RequesterKind::Academie),
    (SessionFormat::Hackathon, "Hackathon accessibilité numérique", 96, RequesterKind::Partner),
    (
        SessionFormat::DesignThinkingWorkshop,
        "Tutorat entre pairs : cartographier les besoins",
        26,
        RequesterKind::ProjectTeam,
    ),
    (SessionFormat::WorldCafe, "World café parents-école", 71, RequesterKind::School),
    (SessionFormat::Seminar, "Séminaire de la DNE", 78, RequesterKind::Direction),
    (SessionFormat::Acculturation, "Journée portes ouvertes du 110 bis", 148, RequesterKind::Other),
    (SessionFormat::CodesignWorkshop, "Co-concevoir le stage de troisième", 29, RequesterKind::ProjectTeam),
    (SessionFormat::DesignSprint, "Sprint tableau de bord vie scolaire", 14, RequesterKind::Academie),
    (SessionFormat::Ideation, "Idéation : l'école du futur", 45, RequesterKind::Partner),
    (SessionFormat::UserTesting, "Tests de l'application de tutorat", 19, RequesterKind::ProjectTeam),
    (SessionFormat::Acculturation, "Les méthodes du lab pour les inspecteurs", 38, RequesterKind::Academie),
    (SessionFormat::Hackathon, "Hackathon climat scolaire", 104, RequesterKind::Direction),
    (SessionFormat::Other, "Rencontre des labs d'innovation publique", 52, RequesterKind::Partner),
    (SessionFormat::Prototyping, "Prototyper la classe dehors", 23, RequesterKind::ProjectTeam),
    (SessionFormat::WorldCafe, "World café des néo-titulaires", 47, RequesterKind::Academie),
    (SessionFormat::DesignThinkingWorkshop, "Repenser l'accueil des familles", 31, RequesterKind::School),
];

/// Loads the whole demo (the log should be empty).
pub async fn load(lab: &Lab, today: NaiveDate) -> anyhow::Result<DemoSummary> {
    let w = Writer { lab, actor: Actor { id: "demo".into(), issuer: "carnet-demo".into() }, today };
    let mut summary = DemoSummary::default();

    // people first: projects and sessions refer to them by id
    let mut people = vec![];
    for (i, p) in PEOPLE.iter().enumerate() {
        let id = PersonId::new();
        let on = w.day(365 - i as u64);
        let email = format!("{}.{}@example.org", ascii(p.given), ascii(p.usual));
        let profile = PersonalData {
            given_name: text(p.given)?,
            usual_name: text(p.usual)?,
            email: Some(Email::parse(&email)?),
            organisation: Some(text(p.organisation)?),
            affiliation: None,
            academie: p.academie.map(AcademieCode::parse).transpose()?,
            uai: None,
        };
        w.run::<carnet_domain::person::Person>(
            id.0,
            on,
            PersonCommand::RegisterPerson { id, profile, registered_on: on },
        )
        .await?;
        if let Some(role) = p.role {
            let academies: BTreeSet<AcademieCode> = match role {
                Role::Academie => p.academie.map(AcademieCode::parse).transpose()?.into_iter().collect(),
                _ => BTreeSet::new(),
            };
            w.run::<carnet_domain::person::Person>(id.0, on, PersonCommand::GrantRole { role, academies }).await?;
        }
        people.push(id);
    }
    summary.people = people.len();

    let mut projects = vec![];
    for p in PROJECTS {
        projects.push(project(&w, p, &people).await?);
    }
    summary.projects = projects.len();

    let lab_team = &people[..3];
    let total = HELD.len() as u64;
    for (i, (format, title, count, kind)) in HELD.iter().enumerate() {
        // one session every twelve days or so, the oldest first, all held by now
        let held_on = w.day(10 + (total - i as u64) * 12);
        let linked = projects.get(i % 12).copied().filter(|_| *kind == RequesterKind::ProjectTeam);
        let id = session(&w, i, *format, title, *kind, held_on, lab_team[i % 3], linked).await?;
        hold(&w, i, id, held_on, *count, &people, i + 3 < HELD.len()).await?;
        summary.visitors += count;
        summary.sessions_held += 1;
    }
    // and what is under way: one requested, one being scoped, one scheduled next month
    let coming = [
        (SessionFormat::DesignSprint, "Sprint orientation post-bac", 0),
        (SessionFormat::Hackathon, "Hackathon éducation au développement durable", 1),
        (SessionFormat::CodesignWorkshop, "Co-concevoir l'ENT de demain", 2),
    ];
    for (i, (format, title, stage)) in coming.into_iter().enumerate() {
        let requested = w.day(20 - i as u64 * 5);
        let id = session(&w, HELD.len() + i, format, title, RequesterKind::Partner, requested, people[i], None).await?;
        if stage >= 1 {
            w.run::<Session>(id.0, requested, SessionCommand::StartScoping { on: requested }).await?;
        }
        if stage >= 2 {
            let start = at(today.checked_add_days(Days::new(30)).unwrap_or(today), 9);
            let end = at(today.checked_add_days(Days::new(30)).unwrap_or(today), 17);
            let schedule = SessionCommand::ScheduleSession {
                schedule: DateRange::new(start, end)?,
                location: text("110 bis, grande salle")?,
                mode: SessionMode::Hybrid,
                capacity: 40,
            };
            w.run::<Session>(id.0, requested, schedule).await?;
            for (n, person) in people[4..8].iter().enumerate() {
                let profile = text(if n % 2 == 0 { "enseignant" } else { "personnel de direction" })?;
                let register = SessionCommand::RegisterParticipant { participant: *person, profile };
                w.run::<Session>(id.0, requested, register).await?;
            }
        }
    }
    summary.sessions = HELD.len() + coming.len();
    Ok(summary)
}

/// Lowercase ASCII for a fictitious email address.
fn ascii(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .map(|c| match c {
            'é' | 'è' | 'ê' => 'e',
            'ï' | 'î' => 'i',
            ' ' => '-',
            c => c,
        })
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

async fn project(w: &Writer<'_>, p: &DemoProject, people: &[PersonId]) -> anyhow::Result<ProjectId> {
    let id = ProjectId::new();
    let submitted = w.day(p.submitted_days_ago);
    let academies = p.academies.iter().map(|c| AcademieCode::parse(c)).collect::<Result<BTreeSet<_>, _>>()?;
    let themes = p.themes.iter().map(|t| text(t)).collect::<anyhow::Result<Vec<Label>>>()?;
    let build = |reference: &str| {
        Ok(ProjectCommand::SubmitProject {
            id,
            reference: ProjectReference::parse(reference)?,
            title: Title::parse(p.title)?,
            problem_statement: LongText::parse(p.problem)?,
            summary: None,
            support_mode: p.support_mode,
            academies: academies.clone(),
            themes: themes.clone(),
            target_users: vec![],
            submitted_on: submitted,
        })
    };
    w.lab
        .create_numbered::<Project>(ReferenceKind::Project, submitted.year(), id.0, build, &w.metadata(submitted))
        .await
        .with_context(|| format!("demo project {}", p.title))?;
    let step = |days: u64| submitted.checked_add_days(Days::new(days)).unwrap_or(submitted).min(w.today);
    let run = |on: NaiveDate, command: ProjectCommand| w.run::<Project>(id.0, on, command);
    let holder =
        ProjectCommand::AddHolder { person: people[p.holder], role: text("porteur principal")?, affiliation: None };
    run(submitted, holder).await?;
    if let Some(uai) = p.uai {
        run(submitted, ProjectCommand::LinkEstablishment { uai: Uai::parse(uai)? }).await?;
    }
    if matches!(p.story, Story::Submitted) {
        return Ok(id);
    }
    run(step(7), ProjectCommand::StartQualification { on: step(7) }).await?;
    match p.story {
        Story::Qualifying => return Ok(id),
        Story::Declined => {
            let reason = text("Le besoin relève de l'équipement, pas d'un accompagnement du lab.")?;
            run(step(21), ProjectCommand::DeclineProject { on: step(21), reason }).await?;
            return Ok(id);
        }
        _ => {}
    }
    run(step(21), ProjectCommand::AcceptProject { on: step(21), support_mode: p.support_mode }).await?;
    run(step(21), ProjectCommand::AssignReferent { person: people[(p.submitted_days_ago % 3) as usize] }).await?;
    let phases = match p.story {
        Story::Active { phases, .. } => phases,
        Story::Transferred => 4,
        _ => 2,
    };
    for (n, phase) in [Phase::Prototyping, Phase::Experimentation, Phase::Transfer].iter().take(phases - 1).enumerate()
    {
        let on = step(60 + 50 * n as u64);
        run(on, ProjectCommand::StartPhase { phase: *phase, on }).await?;
        let review = ProjectCommand::RecordReview { decision: ReviewDecision::Continue, held_on: on, notes: None };
        run(on, review).await?;
    }
    let progress = match p.story {
        Story::Active { progress, .. } => progress,
        Story::Transferred => 100,
        _ => 30,
    };
    run(step(200), ProjectCommand::UpdateProgress { progress: Progress::new(progress)? }).await?;
    match p.story {
        Story::Paused => {
            let reason = text("La porteuse est en congé jusqu'à la rentrée.")?;
            run(step(210), ProjectCommand::PauseProject { on: step(210), reason }).await?;
        }
        Story::Transferred => {
            let to = text("Direction du numérique pour l'éducation")?;
            run(step(230), ProjectCommand::PublishProject).await?;
            run(step(240), ProjectCommand::TransferProject { on: step(240), to, notes: None }).await?;
        }
        Story::Abandoned => {
            let explanation = text("L'équipe a changé d'établissement et personne n'a repris le projet.")?;
            let abandon = ProjectCommand::AbandonProject {
                on: step(120),
                reason_code: AbandonReason::HolderUnavailable,
                explanation,
            };
            run(step(120), abandon).await?;
        }
        _ => run(step(30), ProjectCommand::PublishProject).await?,
    }
    Ok(id)
}

#[allow(clippy::too_many_arguments)] // one session's description
async fn session(
    w: &Writer<'_>,
    n: usize,
    format: SessionFormat,
    title: &str,
    kind: RequesterKind,
    on: NaiveDate,
    facilitator: PersonId,
    project: Option<ProjectId>,
) -> anyhow::Result<SessionId> {
    let id = SessionId::new();
    let requested = on.checked_sub_days(Days::new(30)).unwrap_or(on);
    let organisation = match kind {
        RequesterKind::Direction => ["DGESCO", "DNE", "DGRH", "DEPP"][n % 4],
        RequesterKind::Academie => ["Académie de Lyon", "Académie de Créteil", "Académie de Lille"][n % 3],
        RequesterKind::School => ["Collège Jean-Moulin", "Lycée Condorcet", "École Jules-Ferry"][n % 3],
        RequesterKind::ProjectTeam => "Équipe projet",
        RequesterKind::Partner => ["Réseau Canopé", "Etalab", "Une université partenaire"][n % 3],
        RequesterKind::Other => "110 bis",
    };
    let details = SessionDetails {
        reference: text("110B-S-0000-000")?,
        title: text(title)?,
        format,
        objective: text(&format!("Comment avancer ensemble sur : {}", title.to_lowercase()))?,
        methods: vec![text("cartographie d'acteurs")?, text("prototypage rapide")?],
        requester: Requester { organisation: text(organisation)?, kind },
        requested_on: requested,
    };
    let build = |reference: &str| {
        let mut details = details.clone();
        details.reference = Label::parse(reference)?;
        Ok(SessionCommand::RequestSession { id, details, seminars_already_held_this_year: 0 })
    };
    w.lab
        .create_numbered::<Session>(ReferenceKind::Session, requested.year(), id.0, build, &w.metadata(requested))
        .await
        .with_context(|| format!("demo session {title}"))?;
    w.run::<Session>(id.0, requested, SessionCommand::AssignFacilitator { facilitator }).await?;
    if let Some(project) = project {
        w.run::<Session>(id.0, requested, SessionCommand::LinkToProject { project }).await?;
    }
    Ok(id)
}

/// Scopes, schedules and holds session `id` on `on`, with `count` present; closes it unless
/// `close` is false (its report still to come).
async fn hold(
    w: &Writer<'_>,
    n: usize,
    id: SessionId,
    on: NaiveDate,
    count: u32,
    people: &[PersonId],
    close: bool,
) -> anyhow::Result<()> {
    let run = |day: NaiveDate, command: SessionCommand| w.run::<Session>(id.0, day, command);
    let scoped = on.checked_sub_days(Days::new(20)).unwrap_or(on);
    run(scoped, SessionCommand::StartScoping { on: scoped }).await?;
    let (start, end) = (at(on, 9), at(on, if count > 90 { 18 } else { 12 }));
    let schedule = SessionCommand::ScheduleSession {
        schedule: DateRange::new(start, end)?,
        location: text(if count > 90 { "110 bis, tout l'espace" } else { "110 bis, salle de créativité" })?,
        mode: if n.is_multiple_of(5) { SessionMode::Hybrid } else { SessionMode::InPerson },
        capacity: count + 10,
    };
    run(scoped, schedule).await?;
    for person in people.iter().skip(4 + n % 5).take(2) {
        run(scoped, SessionCommand::RegisterParticipant { participant: *person, profile: text("enseignant")? }).await?;
    }
    run(on, SessionCommand::HoldSession { now: end }).await?;
    let academies = ["01", "24", "25", "17", "10", "09", "02"];
    let attendance = Attendance {
        count,
        by_profile: BTreeMap::from([(text("enseignant")?, count / 2), (text("encadrement")?, count / 5)]),
        organisations: vec![
            text("Éducation nationale")?,
            text(["Réseau Canopé", "Une collectivité", "Une association"][n % 3])?,
        ],
        academies: [academies[n % 7], academies[(n + 3) % 7]]
            .iter()
            .map(|c| AcademieCode::parse(c))
            .collect::<Result<_, _>>()?,
    };
    run(on, SessionCommand::RecordAttendance { attendance }).await?;
    let respondents = (count * 2 / 3).max(1);
    let mean = 3.6 + (n % 5) as f64 * 0.3;
    run(on, SessionCommand::RecordSatisfactionSurvey { respondents, mean }).await?;
    if close {
        let report =
            text(&format!("Compte-rendu : {count} participants, trois pistes retenues et un prototype à tester."))?;
        let published = on.checked_add_days(Days::new(3)).unwrap_or(on).min(w.today);
        run(published, SessionCommand::PublishReport { report, on: published }).await?;
        run(published, SessionCommand::CloseSession { on: published }).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_headline_figures_hold() {
        assert_eq!(HELD.len(), 27, "27 sessions collaboratives");
        let visitors: u32 = HELD.iter().map(|(_, _, n, _)| n).sum();
        assert!(visitors > 1300, "plus de 1 300 visiteurs: {visitors}");
        assert!((8..=12).contains(&PROJECTS.len()), "une dizaine de projets");
        let formats: BTreeSet<_> = HELD.iter().map(|(f, ..)| f.label()).collect();
        assert!(formats.len() >= 10, "varied formats: {formats:?}");
    }
}
