//! What the read-model tests share: dumps of the read-model tables and of their catalog, and the
//! rows the read models must hold, folded from the deciders' own states. Fresh databases and
//! `for_each_backend!` come from carnet-testkit.

#![allow(dead_code)] // each test binary uses a different part

use carnet_projections::{Db, ProjectionStore};
use sqlx::Row;

pub const TABLES: &[(&str, &str)] = &[
    ("project", "id"),
    ("project_phase", "project_id, seq"),
    ("project_holder", "project_id, person_id"),
    ("project_academie", "project_id, academie_code"),
    ("project_establishment", "project_id, uai"),
    ("project_theme", "project_id, theme"),
    ("session", "id"),
    ("session_facilitator", "session_id, person_id"),
    ("session_registration", "session_id, person_id"),
    ("session_project", "session_id, project_id"),
    ("session_academie", "session_id, academie_code"),
    ("person", "id"),
    ("person_identity", "person_id, issuer, sub"),
    ("person_role", "person_id, role"),
    ("person_consent", "person_id, purpose"),
    ("project_timeline", "id, opened_by, item"),
    ("project_academie_timeline", "project_id, opened_by, item"),
    ("session_timeline", "id, opened_by, item"),
    ("session_project_timeline", "session_id, opened_by, item"),
    ("session_academie_timeline", "session_id, opened_by, item"),
];

/// The read models' timelines (`TIMELINES` of the project and session read models).
pub const TIMELINES: &[&str] = &[
    "project_timeline",
    "project_academie_timeline",
    "session_timeline",
    "session_project_timeline",
    "session_academie_timeline",
];

pub async fn texts(db: Db<'_>, sql: &str) -> Vec<String> {
    match db {
        Db::Postgres(pool) => sqlx::query(sql).fetch_all(pool).await.unwrap().iter().map(|r| r.get(0)).collect(),
        Db::Sqlite { reader, .. } => {
            sqlx::query(sql).fetch_all(reader).await.unwrap().iter().map(|r| r.get(0)).collect()
        }
    }
}

/// Runs one statement through the store's writer.
pub async fn exec(db: Db<'_>, sql: &str) {
    match db {
        Db::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        Db::Sqlite { writer, .. } => sqlx::query(sql).execute(writer).await.map(|_| ()),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Waits until the store's readers see every committed event. On PostgreSQL they read below
/// the oldest transaction still running on the server, and other tests' transactions run on
/// the same server: right after a commit, `read_all` may still hold events back for a moment.
pub async fn readable<S: ProjectionStore>(store: &S) {
    let committed: i64 = texts(store.db(), "select cast(count(*) as text) from events").await[0].parse().unwrap();
    for _ in 0..1000 {
        let seen = store.read_all(carnet_store::Checkpoint::START, 1_000_000).await.unwrap().len();
        if seen as i64 == committed {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the store's readers still hold committed events back after 10 s");
}

/// Every row of every read-model table, whole, in primary-key order: `table: row`.
pub async fn dump<S: ProjectionStore>(store: &S) -> Vec<String> {
    let mut out = vec![];
    for (table, key) in TABLES {
        let sql = match store.db() {
            Db::Postgres(_) => format!("select t::text from {table} t order by {key}"),
            Db::Sqlite { .. } => {
                let columns =
                    texts(store.db(), &format!("select name from pragma_table_info('{table}') order by cid")).await;
                let quoted: Vec<String> = columns.iter().map(|c| format!("quote({c})")).collect();
                format!("select {} from {table} order by {key}", quoted.join(" || ',' || "))
            }
        };
        out.extend(texts(store.db(), &sql).await.into_iter().map(|row| format!("{table}: {row}")));
    }
    out
}

/// The catalog of the read-model tables: columns, constraints and indexes with their names.
pub async fn catalog<S: ProjectionStore>(store: &S) -> Vec<String> {
    let names: Vec<String> = TABLES.iter().map(|(t, _)| format!("'{t}'")).collect();
    let names = names.join(", ");
    let queries = match store.db() {
        Db::Postgres(_) => vec![
            format!(
                "select table_name || '.' || column_name || ' #' || ordinal_position || ' ' || data_type || ' ' \
                 || is_nullable || ' ' || coalesce(column_default, '') from information_schema.columns \
                 where table_schema = current_schema() and table_name in ({names}) order by 1"
            ),
            format!(
                "select conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) \
                 from pg_constraint where conrelid::regclass::text in ({names}) order by 1"
            ),
            format!(
                "select tablename || ' ' || indexname || ' ' || indexdef from pg_indexes \
                 where schemaname = current_schema() and tablename in ({names}) order by 1"
            ),
            "select relname::text from pg_class where relnamespace = current_schema()::regnamespace \
             and relname like '%\\_\\_%' escape '\\' order by 1"
                .to_owned(),
        ],
        Db::Sqlite { .. } => vec![
            format!(
                "select m.name || '.' || p.name || ' #' || p.cid || ' ' || p.type || ' ' || p.\"notnull\" || ' ' \
                 || coalesce(p.dflt_value, '') || ' ' || p.pk \
                 from sqlite_master m, pragma_table_info(m.name) p where m.type = 'table' and m.name in ({names}) \
                 order by 1"
            ),
            format!(
                "select m.name || ' ' || l.name || ' ' || l.\"unique\" || ' ' || l.origin || ' ' \
                 || (select group_concat(i.name, ',') from pragma_index_info(l.name) i) \
                 from sqlite_master m, pragma_index_list(m.name) l where m.type = 'table' and m.name in ({names}) \
                 order by 1"
            ),
            "select name from sqlite_master where name like '%\\_\\_%' escape '\\' order by 1".to_owned(),
        ],
    };
    let mut out = vec![];
    for sql in queries {
        out.extend(texts(store.db(), &sql).await);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// What the read models must hold, from the deciders' own states

use carnet_domain::person::{Person, PersonState};
use carnet_domain::project::{ProjectCommand, SupportMode};
use carnet_domain::session::{Session, SessionState};
use carnet_domain::values::{AcademieCode, Label, LongText, ProjectId, ProjectReference, Title};
use carnet_projections::*;
use carnet_store::{Actor, EventStore, Metadata, RecordedEvent, Repository, StreamId};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeSet;
use std::sync::Arc;
use uuid::Uuid;

pub fn day(d: &str) -> NaiveDate {
    NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap()
}

pub fn at(t: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(t).unwrap().to_utc()
}

pub fn label(s: &str) -> Label {
    Label::parse(s).unwrap()
}

pub fn long(s: &str) -> LongText {
    LongText::parse(s).unwrap()
}

pub fn aca(code: &str) -> AcademieCode {
    AcademieCode::parse(code).unwrap()
}

pub fn meta() -> Metadata {
    Metadata::new(Actor { id: "lab-team-1".into(), issuer: "carnet-local".into() })
}

pub fn repo<S: EventStore, D: carnet_domain::Decider>(store: &S) -> Repository<S, D> {
    Repository::new(store.clone(), Arc::new(carnet_testkit::carnet_codec())).with_snapshot_every(5)
}

/// Runs `command` on aggregate `id` of `D` through the repository, the inline read models
/// committing with its events.
pub async fn execute<S: ProjectionStore, D: carnet_domain::Decider>(
    store: &S,
    id: Uuid,
    command: &D::Command,
) -> Result<carnet_store::Executed<D>, carnet_store::CommandError> {
    let inline = InlineProjections::new(Arc::new(carnet_testkit::carnet_codec()));
    repo::<S, D>(store).execute(id, command, &meta(), None, Some(&inline)).await
}

/// The same, failing the test (naming the command) when it is refused.
pub async fn run<S: ProjectionStore, D: carnet_domain::Decider>(
    store: &S,
    id: Uuid,
    command: &D::Command,
) -> carnet_store::Executed<D> {
    execute(store, id, command).await.unwrap_or_else(|e| panic!("{command:?}: {e}"))
}

/// Starts `writer(stop, landed)` in a task of its own (it writes until `stop` is set, counting
/// in `landed` the commands that landed), rebuilds every read model in small batches meanwhile,
/// so that the rebuild takes turns with it, then stops it and returns what it gives back. Fails
/// unless commands landed during the rebuild.
pub async fn rebuild_during<S: ProjectionStore, W: Send + 'static, F: Future<Output = W> + Send + 'static>(
    store: &S,
    writer: impl FnOnce(Arc<std::sync::atomic::AtomicBool>, Arc<std::sync::atomic::AtomicUsize>) -> F,
) -> W {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let (stop, landed) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    let writer = tokio::spawn(writer(stop.clone(), landed.clone()));
    let before = landed.load(Ordering::Relaxed);
    rebuild_with(store, Arc::new(carnet_testkit::carnet_codec()), None, 5, &mut |_| {}).await.unwrap();
    let during = landed.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    let w = writer.await.unwrap();
    assert!(during > 0, "commands landed during the rebuild");
    eprintln!("{during} commands landed during the rebuild, {} in all", landed.load(Ordering::Relaxed));
    w
}

/// The submission of test project number `seq`: reference `110B-P-2026-{seq}`, title
/// "Projet {seq}", a stock problem statement, no summary and no target users.
pub fn submission(
    id: ProjectId,
    seq: u32,
    support_mode: SupportMode,
    academies: BTreeSet<AcademieCode>,
    themes: Vec<Label>,
    submitted_on: NaiveDate,
) -> ProjectCommand {
    ProjectCommand::SubmitProject {
        id,
        reference: ProjectReference::build("110B", 2026, seq).unwrap(),
        title: Title::parse(&format!("Projet {seq}")).unwrap(),
        problem_statement: long("Un problème que des enseignants veulent résoudre."),
        summary: None,
        support_mode,
        academies,
        themes,
        target_users: vec![],
        submitted_on,
    }
}

/// The code a domain enum is stored as.
pub fn code<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).unwrap().as_str().unwrap().to_owned()
}

/// The row the read model must hold for a session in `state` whose last event is `last`;
/// `project_academies` are the académies of its linked projects.
pub fn expected_session(state: &SessionState, last: &RecordedEvent, project_academies: &[String]) -> SessionRow {
    let details = state.details.as_ref().unwrap();
    let mut academies: Vec<String> = project_academies.to_vec();
    if let Some(a) = &state.attendance {
        academies.extend(a.academies.iter().map(|c| c.as_str().to_owned()));
    }
    academies.sort();
    academies.dedup();
    SessionRow {
        id: state.id.unwrap().0,
        reference: details.reference.as_str().to_owned(),
        title: details.title.as_str().to_owned(),
        format: details.format,
        status: state.status.unwrap(),
        objective: details.objective.as_str().to_owned(),
        methods: details.methods.iter().map(|m| m.as_str().to_owned()).collect(),
        requester_organisation: details.requester.organisation.as_str().to_owned(),
        requester_kind: details.requester.kind,
        requested_on: details.requested_on,
        starts_at: state.schedule.map(|s| s.start()),
        ends_at: state.schedule.map(|s| s.end()),
        location: state.location.as_ref().map(|l| l.as_str().to_owned()),
        mode: state.mode,
        capacity: state.capacity,
        held_at: state.held_at,
        ended_on: state.ended_on,
        end_reason: state.end_reason.as_ref().map(|r| r.as_str().to_owned()),
        attendance: state.attendance.as_ref().map(|a| AttendanceRow {
            count: a.count,
            by_profile: a
                .by_profile
                .iter()
                .map(|(profile, count)| ProfileCount { profile: profile.as_str().to_owned(), count: *count })
                .collect(),
            organisations: a.organisations.iter().map(|o| o.as_str().to_owned()).collect(),
            academies: a.academies.iter().map(|c| c.as_str().to_owned()).collect(),
        }),
        report: state
            .report
            .as_ref()
            .map(|r| ReportRow { text: r.text.as_str().to_owned(), published_on: r.published_on }),
        satisfaction: state.satisfaction.map(|s| SatisfactionRow { respondents: s.respondents, mean: s.mean }),
        agenda: state
            .agenda
            .iter()
            .map(|i| AgendaItemRow { id: i.id, label: i.label.as_str().to_owned(), at: i.at })
            .collect(),
        follow_up_actions: state
            .follow_up_actions
            .iter()
            .map(|a| FollowUpActionRow {
                id: a.id,
                description: a.description.as_str().to_owned(),
                due: a.due,
                completed_on: a.completed_on,
            })
            .collect(),
        facilitators: state.facilitators.iter().map(|p| p.0).collect(),
        registrations: state
            .registrations
            .iter()
            .map(|(p, profile)| RegistrationRow { person_id: p.0, profile: profile.as_str().to_owned() })
            .collect(),
        projects: state.linked_projects.iter().map(|p| p.0).collect(),
        academies,
        version: last.stream_version,
        updated_at: last.recorded_at,
        last_position: last.global_position,
    }
}

/// The row the read model must hold for a person in `state` whose last event is `last`.
pub fn expected_person(state: &PersonState, last: &RecordedEvent) -> PersonRow {
    let p = state.profile.as_ref();
    let text = |l: Option<&carnet_domain::values::Label>| l.map(|l| l.as_str().to_owned());
    let mut roles: Vec<RoleRow> = state
        .roles
        .iter()
        .map(|(role, codes)| RoleRow { role: *role, academies: codes.iter().map(|c| c.as_str().to_owned()).collect() })
        .collect();
    roles.sort_by_key(|r| code(&r.role));
    let mut consents: Vec<ConsentRow> =
        state.consents.iter().map(|(purpose, on)| ConsentRow { purpose: *purpose, given_on: *on }).collect();
    consents.sort_by_key(|c| code(&c.purpose));
    PersonRow {
        id: state.id.unwrap().0,
        given_name: text(p.map(|p| &p.given_name)),
        usual_name: text(p.map(|p| &p.usual_name)),
        email: p.and_then(|p| p.email.as_ref()).map(|e| e.as_str().to_owned()),
        organisation: text(p.and_then(|p| p.organisation.as_ref())),
        affiliation: text(p.and_then(|p| p.affiliation.as_ref())),
        academie_code: p.and_then(|p| p.academie).map(|c| c.as_str().to_owned()),
        uai: p.and_then(|p| p.uai.as_ref()).map(|u| u.as_str().to_owned()),
        registered_on: state.registered_on.unwrap(),
        erased_on: state.erased_on,
        roles,
        identities: state
            .identities
            .iter()
            .map(|i| IdentityRow { issuer: i.issuer.as_str().to_owned(), sub: i.sub.as_str().to_owned() })
            .collect(),
        consents,
        version: last.stream_version,
        updated_at: last.recorded_at,
        last_position: last.global_position,
    }
}

/// The last event of a stream at `version`.
async fn last_event<S: ProjectionStore>(store: &S, category: &str, id: Uuid, version: u64) -> RecordedEvent {
    let stream = StreamId::new(category, id);
    store.read_stream(&stream, version, Some(version)).await.unwrap().remove(0)
}

/// The académies of these projects, as the project read model has them.
pub async fn project_academies<S: ProjectionStore>(store: &S, projects: &[Uuid]) -> Vec<String> {
    let rows = projects_by_ids(store.db(), projects).await.unwrap();
    rows.values().flat_map(|p| p.academies.clone()).collect()
}

/// The session read model of `id` is what the decider folds from the log.
pub async fn check_session<S: ProjectionStore>(store: &S, id: Uuid) {
    let loaded = repo::<S, Session>(store).load(id).await.unwrap();
    let last = last_event(store, "session", id, loaded.version).await;
    let projects: Vec<Uuid> = loaded.state.linked_projects.iter().map(|p| p.0).collect();
    let academies = project_academies(store, &projects).await;
    let row = session_by_id(store.db(), id).await.unwrap().expect("the session is in the read model");
    assert_eq!(row, expected_session(&loaded.state, &last, &academies), "session {id}");
}

/// The person read model of `id` is what the decider folds from the log.
pub async fn check_person<S: ProjectionStore>(store: &S, id: Uuid) {
    let loaded = repo::<S, Person>(store).load(id).await.unwrap();
    let last = last_event(store, "person", id, loaded.version).await;
    let row = person_by_id(store.db(), id).await.unwrap().expect("the person is in the read model");
    assert_eq!(row, expected_person(&loaded.state, &last), "person {id}");
}

/// Same lines, or where they first differ.
pub fn assert_same(actual: &[String], expected: &[String], what: &str) {
    if let Some(i) = (0..actual.len().max(expected.len())).find(|&i| actual.get(i) != expected.get(i)) {
        panic!(
            "{what}: first difference at line {i} ({} vs {} lines)\n  got:      {:?}\n  expected: {:?}",
            actual.len(),
            expected.len(),
            actual.get(i),
            expected.get(i)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Keyset paging, as a client pages: cursors go through JSON and back

/// The cursor as the API hands it out and gets it back.
fn through_the_client<C: serde::Serialize + serde::de::DeserializeOwned>(cursor: C) -> C {
    serde_json::from_str(&serde_json::to_string(&cursor).unwrap()).unwrap()
}

/// Every page of a keyset-paged list, forward from the start or `backward` from the end (then
/// put back in order): `list(cursor)` is the page after (before) a cursor, `at(row)` a row's id
/// and cursor. Checks the page flags, the page sizes and the total on each page.
pub async fn page_through<R, C: serde::Serialize + serde::de::DeserializeOwned>(
    list: impl AsyncFn(Option<&C>) -> Page<R>,
    at: impl Fn(&R) -> (Uuid, C),
    size: u32,
    total: usize,
    backward: bool,
    what: &dyn std::fmt::Debug,
) -> Vec<Uuid> {
    let (mut pages, mut cursor) = (vec![], None);
    loop {
        let page = list(cursor.as_ref()).await;
        assert_eq!(page.total_count, total as u64, "{what:?}");
        let (more, from_a_cursor) = if backward {
            (page.has_previous_page, page.has_next_page)
        } else {
            (page.has_next_page, page.has_previous_page)
        };
        assert_eq!(from_a_cursor, cursor.is_some(), "{what:?}");
        let ids: Vec<Uuid> = page.rows.iter().map(|r| at(r).0).collect();
        if !more {
            assert!(ids.len() <= size as usize);
            pages.push(ids);
            break;
        }
        assert_eq!(ids.len(), size as usize);
        let edge = if backward { page.rows.first() } else { page.rows.last() };
        cursor = Some(through_the_client(at(edge.unwrap()).1));
        pages.push(ids);
        assert!(pages.iter().map(Vec::len).sum::<usize>() <= total, "pages go on past the total");
    }
    if backward {
        pages.reverse();
    }
    pages.concat()
}

/// The ids of `rows` in `order`: ascending as `by(field, a, b)` compares them, or the reverse.
pub fn sorted<R, F: Copy>(
    rows: &[&R],
    order: Order<F>,
    id: impl Fn(&R) -> Uuid,
    by: impl Fn(F, &R, &R) -> std::cmp::Ordering,
) -> Vec<Uuid> {
    let mut rows = rows.to_vec();
    rows.sort_by(|a, b| {
        let o = by(order.field, a, b);
        if order.direction == Direction::Desc { o.reverse() } else { o }
    });
    rows.iter().map(|r| id(r)).collect()
}

/// Every order on `fields`, both ways: `list(order, size, backward)`, the whole list paged `size`
/// at a time, gives each row exactly once, as `sorted(order)` has them, for each page size of
/// `forward` and, paging backward, of `backward`.
pub async fn check_every_order<F: Copy + std::fmt::Debug>(
    fields: &[F],
    sorted: impl Fn(Order<F>) -> Vec<Uuid>,
    list: impl AsyncFn(Order<F>, u32, bool) -> Vec<Uuid>,
    forward: &[u32],
    backward: &[u32],
) {
    for &field in fields {
        for direction in [Direction::Asc, Direction::Desc] {
            let order = Order::new(field, direction);
            let expected = sorted(order);
            for &size in forward {
                assert_eq!(list(order, size, false).await, expected, "{order:?}, pages of {size}");
            }
            for &size in backward {
                assert_eq!(list(order, size, true).await, expected, "{order:?}, backward pages of {size}");
            }
        }
    }
}

/// Whether a row passes a filter, as a test case has it.
pub type Check<R> = Box<dyn Fn(&R) -> bool>;

/// Each filter of `cases` selects the rows of `all` that its check accepts: `check(filter,
/// matching)` for each; the fixtures make most filters (12 at least) select some rows, not all.
pub async fn check_filters<R, F>(all: &[&R], cases: &[(F, Check<R>)], check: impl AsyncFn(&F, &[&R])) {
    let mut matched_some = 0;
    for (filter, accepts) in cases {
        let matching: Vec<&R> = all.iter().copied().filter(|r| accepts(r)).collect();
        matched_some += usize::from(!matching.is_empty() && matching.len() < all.len());
        check(filter, &matching).await;
    }
    assert!(matched_some >= 12, "the fixtures should make most filters select something ({matched_some})");
}

/// Defines `async fn pages(store, filter, order, size, total, backward) -> Vec<Uuid>`, every page
/// of a keyset-paged list for `filter` in `order`, `size` at a time, forward or `backward`
/// ([`page_through`]): the list of `$row`s by `$forward` and `$backward`.
#[allow(unused_macros)] // each test binary uses a different part
macro_rules! keyset_pages {
    ($row:ty, $filter:ty, $order:ty, $cursor:ty, $forward:path, $backward:path) => {
        /// Every page of the list for `filter` in `order`, `size` at a time, forward or `backward`.
        async fn pages<S: carnet_projections::ProjectionStore>(
            store: &S,
            filter: &$filter,
            order: $order,
            size: u32,
            total: usize,
            backward: bool,
        ) -> Vec<uuid::Uuid> {
            let list = async |cursor: Option<&$cursor>| {
                if backward {
                    $backward(store.db(), filter, order, size, cursor).await.unwrap()
                } else {
                    $forward(store.db(), filter, order, size, cursor).await.unwrap()
                }
            };
            $crate::common::page_through(list, |r: &$row| (r.id, r.cursor(order.field)), size, total, backward, filter)
                .await
        }
    };
}
#[allow(unused_imports)] // each test binary uses a different part
pub(crate) use keyset_pages;

/// Rebuilds every read model from the whole log with Carnet's codec, as `carnet rebuild` does.
pub async fn rebuild<S: ProjectionStore>(store: &S) -> Result<CatchUpProgress, ProjectionError> {
    rebuild_with(store, Arc::new(carnet_testkit::carnet_codec()), None, DEFAULT_BATCH_SIZE, &mut |_| {}).await
}
