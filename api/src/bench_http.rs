//! `carnet bench http`: the API under load over real HTTP (DESIGN §9, issue 3 point 7).
//!
//! The real application is built in process ([`Application::build`], production profile, port
//! 0) on a database of its own: a PostgreSQL database created on the given server and dropped at
//! the end, like `carnet bench store`, or a temporary SQLite file. It is filled with the demo
//! data and `projects` more projects through [`Lab`], so that lists have a realistic size and
//! the history is real history. Then a load driver written here (reqwest with keep-alive, tokio
//! tasks, latencies in an HDR histogram) runs four phases:
//!
//! 1. *baseline*: `GET /healthz`, closed loop at full concurrency: what this machine's HTTP stack
//!    and this client can do at all, measured in the same run so that the other figures can be
//!    read as ratios;
//! 2. `projects(first: 20)` with `totalCount`, closed loop at full concurrency: the maximum
//!    throughput, and its ratio to the baseline;
//! 3. the same query, open loop at half that throughput: the latency a user sees on a server
//!    that is busy but not saturated (DESIGN §9: p99 < 10 ms);
//! 4. a mutation mix, open loop at a fixed rate (DESIGN §9: p99 < 20 ms at 1 000/s).
//!
//! With [`Compare`], another GraphQL server (PostGraphile) is started on the same database and
//! driven with phase 2's load right after it, for DESIGN §9's "≥ 2 × PostGraphile".
//!
//! Open loop means a timetable fixed in advance: request `i` is due at `start + i / rate`,
//! whatever happened to the previous ones, and its latency is measured from that *intended*
//! time. A closed-loop client that waits for each answer before sending the next would send
//! less when the server slows down, and hide exactly the latencies that matter (coordinated
//! omission). When the server cannot keep up, requests queue and their latency grows; the
//! achieved rate is reported next to the asked one instead of being hidden.
//!
//! Every answer is checked (HTTP 200, and for GraphQL `data` present with no `errors`); errors
//! are counted, reported with the first message, and fail the command. Only successful
//! requests enter the latency histograms and the achieved rates.
//!
//! The client runs in the same process and on the same cores as the server (and, on the
//! project's machines, as the database): its own work is part of every figure, the baseline's
//! included. The dispatch lag (how late the open-loop scheduler itself sent) is reported so
//! that a client too busy to keep its timetable shows.

use crate::config::{Config, LogFormat, Profile, Secret};
use crate::demo;
use crate::lab::Lab;
use crate::rate_limit::RateLimitConfig;
use crate::startup::{Application, open_store, redact};
use anyhow::Context;
use carnet_domain::person::Role;
use carnet_domain::project::{Project, ProjectCommand, SupportMode};
use carnet_domain::reference::ReferenceKind;
use carnet_domain::values::{AcademieCode, Label, LongText, ProjectId, ProjectReference, Title};
use carnet_store::{Actor, Metadata};
use chrono::{Datelike, Days, NaiveDate, TimeZone, Utc};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use hdrhistogram::Histogram;
use serde_json::json;
use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use uuid::Uuid;

/// Where the bench database lives.
#[derive(Clone, Debug)]
pub enum Backend {
    /// A PostgreSQL server on which the bench creates, and drops at the end, a database of its
    /// own (the URL names any database the user may connect to, e.g. `postgres`).
    Postgres { server_url: String },
    /// A SQLite file in a temporary folder, removed at the end.
    Sqlite,
}

/// Another GraphQL server to drive with the same read phase, on the same database (e.g.
/// PostGraphile, for DESIGN §9's "≥ 2 × PostGraphile").
#[derive(Clone, Debug)]
pub struct Compare {
    /// A short name for the report, e.g. `postgraphile`.
    pub name: String,
    /// Its GraphQL endpoint, e.g. `http://127.0.0.1:5000/graphql`.
    pub graphql_url: String,
    /// The document that asks it for the same page of projects.
    pub query: String,
    /// A shell command that starts it, `{database_url}` replaced by the bench database's URL;
    /// started once the data is in, stopped (its whole process group) at the end. `None`: it is
    /// already running, on data of its own, so the two servers do not read the same rows.
    pub command: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub backend: Backend,
    /// Concurrent clients of the closed-loop phases.
    pub connections: usize,
    /// Measured length of each phase (after its warm-up).
    pub phase: Duration,
    /// Mutations per second asked in the mutation phase.
    pub rate: f64,
    /// Projects added to the demo data.
    pub projects: usize,
    /// Percentages of `updateProjectProgress`, `recordProjectMilestone` and `submitProject` in
    /// the mutation phase; they add up to 100.
    pub mix: [u32; 3],
    /// The command line, printed with the report so that a figure says what produced it.
    pub command_line: String,
    pub compare: Option<Compare>,
}

/// Requests in flight at most in an open-loop phase. Past it the scheduler waits (and the
/// waiting shows in the latencies, measured from the intended times): a bound on the client's
/// memory and sockets when the server falls far behind, far above what a healthy run needs.
const MAX_IN_FLIGHT: usize = 512;

/// Concurrent writers while seeding; the reference sequence of a year is one stream, so more
/// would mostly retry on conflicts.
const SEED_CONCURRENCY: usize = 4;

/// The read that the list pages of the front ends make.
pub const PROJECTS_QUERY: &str = "query BenchProjects { projects(first: 20) { totalCount \
    pageInfo { hasNextPage endCursor } edges { cursor node { id reference title status statusLabel \
    progress academieCodes updatedAt } } } }";

const MUTATION_CLASSES: [&str; 3] = ["updateProjectProgress", "recordProjectMilestone", "submitProject"];

/// Latencies of the successful requests of one kind, and its failures.
#[derive(Clone, Debug)]
pub struct Latencies {
    /// Microseconds.
    histogram: Histogram<u64>,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    pub fn new() -> Self {
        // 1 µs to 10 min at 3 significant digits: the bounds are constants, so this cannot fail;
        // the fallback only keeps `unwrap` out of the code
        let histogram = Histogram::new_with_bounds(1, 600_000_000, 3)
            .or_else(|_| Histogram::new(3))
            .unwrap_or_else(|_| unreachable!("3 significant digits are valid"));
        Self { histogram, errors: 0, first_error: None }
    }

    pub fn record(&mut self, latency: Duration, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => self.histogram.saturating_record(latency.as_micros().try_into().unwrap_or(u64::MAX)),
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }

    pub fn merge(&mut self, other: &Latencies) {
        // same bounds on both sides, and saturating_record above: nothing out of range
        let _ = self.histogram.add(&other.histogram);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }

    /// Successful requests.
    pub fn ok(&self) -> u64 {
        self.histogram.len()
    }

    /// The latency below which `quantile` (0 to 1) of the successful requests fell.
    pub fn quantile(&self, quantile: f64) -> Duration {
        Duration::from_micros(self.histogram.value_at_quantile(quantile))
    }

    pub fn max(&self) -> Duration {
        Duration::from_micros(self.histogram.max())
    }
}

/// What one phase measured.
#[derive(Clone, Debug)]
pub struct PhaseResult {
    pub name: String,
    /// Per kind of request (one for the reads, three for the mutation mix).
    pub classes: Vec<(&'static str, Latencies)>,
    /// From the start of the measurement to the last answer of a measured request.
    pub elapsed: Duration,
    /// Open loop: the rate asked. Closed loop: `None`.
    pub asked_rate: Option<f64>,
    /// Open loop: how late the scheduler sent, against its timetable.
    pub dispatch_lag: Option<Latencies>,
}

impl PhaseResult {
    pub fn total(&self) -> Latencies {
        let mut total = Latencies::new();
        for (_, l) in &self.classes {
            total.merge(l);
        }
        total
    }

    /// Successful requests per second.
    pub fn per_second(&self) -> f64 {
        self.total().ok() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn errors(&self) -> u64 {
        self.classes.iter().map(|(_, l)| l.errors).sum()
    }

    /// Open loop: whether the achieved rate is within 2 % of the asked one.
    pub fn sustained(&self) -> bool {
        self.asked_rate.is_none_or(|asked| self.per_second() >= 0.98 * asked)
    }
}

/// The answer to one request, as the driver sees it.
pub struct Outcome {
    /// Index of the kind of request, in [`PhaseResult::classes`].
    pub class: usize,
    pub result: Result<(), String>,
}

/// Request number `n` of a phase: sends it, checks the answer.
pub type Job = Arc<dyn Fn(u64) -> BoxFuture<'static, Outcome> + Send + Sync>;

/// `clients` tasks each send a request, wait for its answer, and send the next, for `warmup`
/// (not recorded: connections open, caches fill) then `measure`.
pub async fn closed_loop(
    name: &str,
    classes: &[&'static str],
    job: Job,
    clients: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<PhaseResult> {
    let next = Arc::new(AtomicU64::new(0));
    let measure_from = Instant::now() + warmup;
    let deadline = measure_from + measure;
    let mut tasks = JoinSet::new();
    for _ in 0..clients.max(1) {
        let (next, job, kinds) = (next.clone(), job.clone(), classes.len());
        tasks.spawn(async move {
            let mut stats = vec![Latencies::new(); kinds];
            let mut last_done = measure_from;
            loop {
                let sent = Instant::now();
                if sent >= deadline {
                    break;
                }
                let outcome = job(next.fetch_add(1, Ordering::Relaxed)).await;
                let done = Instant::now();
                if sent >= measure_from {
                    stats[outcome.class].record(done - sent, outcome.result);
                    last_done = last_done.max(done);
                }
            }
            (stats, last_done)
        });
    }
    let mut result = empty_result(name, classes, None);
    let mut last_done = measure_from;
    while let Some(joined) = tasks.join_next().await {
        let (stats, done) = joined.context("a load task failed")?;
        for (total, s) in result.classes.iter_mut().zip(&stats) {
            total.1.merge(s);
        }
        last_done = last_done.max(done);
    }
    result.elapsed = last_done - measure_from;
    Ok(result)
}

/// The timetable of an open-loop phase: request `i` is due `i / rate` seconds after the start;
/// those due in the warm-up are sent but not recorded.
#[derive(Clone, Copy, Debug)]
pub struct Timetable {
    rate: f64,
    warmup: Duration,
    measure: Duration,
}

impl Timetable {
    pub fn new(rate: f64, warmup: Duration, measure: Duration) -> anyhow::Result<Self> {
        anyhow::ensure!(rate.is_finite() && rate > 0.0, "the rate must be a positive number of requests per second");
        Ok(Self { rate, warmup, measure })
    }

    /// When request `i` is due, after the start.
    pub fn due(&self, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// How many requests the phase sends: those due before the end of warm-up and measure.
    pub fn total(&self) -> u64 {
        ((self.warmup + self.measure).as_secs_f64() * self.rate).ceil() as u64
    }

    /// Whether request `i` is measured (due after the warm-up).
    pub fn measured(&self, i: u64) -> bool {
        self.due(i) >= self.warmup
    }
}

/// Sends on `timetable` whatever the answers do, at most [`MAX_IN_FLIGHT`] at a time, and
/// measures each latency from the request's intended time.
pub async fn open_loop(
    name: &str,
    classes: &[&'static str],
    job: Job,
    timetable: Timetable,
    max_in_flight: usize,
) -> anyhow::Result<PhaseResult> {
    let start = Instant::now();
    let measure_from = start + timetable.warmup;
    let limit = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let mut running = JoinSet::new();
    let mut result = empty_result(name, classes, Some(timetable.rate));
    let mut lag = Latencies::new();
    let mut last_done = measure_from;
    let mut collect = |joined: Result<(Outcome, Instant, Instant, bool), tokio::task::JoinError>| {
        let (outcome, intended, done, measured) = joined.context("a load task failed")?;
        if measured {
            result.classes[outcome.class].1.record(done - intended, outcome.result);
            last_done = last_done.max(done);
        }
        anyhow::Ok(())
    };
    for i in 0..timetable.total() {
        let intended = start + timetable.due(i);
        tokio::time::sleep_until(intended).await;
        let permit = limit.clone().acquire_owned().await.context("the in-flight limit closed")?;
        let measured = timetable.measured(i);
        if measured {
            lag.record(Instant::now() - intended, Ok(()));
        }
        let request = job(i);
        running.spawn(async move {
            let outcome = request.await;
            drop(permit);
            (outcome, intended, Instant::now(), measured)
        });
        while let Some(joined) = running.try_join_next() {
            collect(joined)?;
        }
    }
    while let Some(joined) = running.join_next().await {
        collect(joined)?;
    }
    result.elapsed = last_done - measure_from;
    result.dispatch_lag = Some(lag);
    Ok(result)
}

fn empty_result(name: &str, classes: &[&'static str], asked_rate: Option<f64>) -> PhaseResult {
    PhaseResult {
        name: name.to_owned(),
        classes: classes.iter().map(|c| (*c, Latencies::new())).collect(),
        elapsed: Duration::ZERO,
        asked_rate,
        dispatch_lag: None,
    }
}

/// An HTTP endpoint and how to call it.
#[derive(Clone)]
struct Target {
    client: reqwest::Client,
    base: String,
    graphql_url: String,
    token: Option<String>,
}

impl Target {
    fn new(base: &str, graphql_url: &str, token: Option<String>) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(usize::MAX)
            .timeout(Duration::from_secs(60))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self { client, base: base.to_owned(), graphql_url: graphql_url.to_owned(), token })
    }

    async fn get_ok(&self, path: &str) -> Result<(), String> {
        let res = self.client.get(format!("{}{path}", self.base)).send().await.map_err(|e| e.to_string())?;
        let status = res.status();
        let body = res.bytes().await.map_err(|e| e.to_string())?;
        if status != reqwest::StatusCode::OK {
            return Err(format!("GET {path}: HTTP {status}: {}", excerpt(&body)));
        }
        Ok(())
    }

    /// POSTs a GraphQL request and returns its `data`, or what was wrong with the answer.
    async fn graphql(&self, body: String) -> Result<serde_json::Value, String> {
        let mut req = self.client.post(&self.graphql_url).header("content-type", "application/json").body(body);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.map_err(|e| e.to_string())?;
        let status = res.status();
        let body = res.bytes().await.map_err(|e| e.to_string())?;
        check_graphql(status.as_u16(), &body)
    }
}

/// The `data` of a GraphQL answer that is HTTP 200, JSON, with `data` and no `errors`.
fn check_graphql(status: u16, body: &[u8]) -> Result<serde_json::Value, String> {
    if status != 200 {
        return Err(format!("HTTP {status}: {}", excerpt(body)));
    }
    let mut value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON ({e}): {}", excerpt(body)))?;
    if let Some(errors) = value.get("errors").and_then(|e| e.as_array()).filter(|e| !e.is_empty()) {
        return Err(format!("GraphQL errors ({}), first: {}", errors.len(), excerpt(errors[0].to_string().as_bytes())));
    }
    match value.get_mut("data").map(serde_json::Value::take) {
        Some(data) if !data.is_null() => Ok(data),
        _ => Err(format!("no data: {}", excerpt(body))),
    }
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.chars().take(300).collect()
}

fn graphql_body(query: &str, variables: serde_json::Value) -> String {
    json!({ "query": query, "variables": variables }).to_string()
}

/// One kind of request for the read phases.
fn read_job(target: &Target, query: &str) -> Job {
    let (target, body) = (target.clone(), graphql_body(query, json!({})));
    Arc::new(move |_| {
        let (target, body) = (target.clone(), body.clone());
        async move { Outcome { class: 0, result: target.graphql(body).await.map(|_| ()) } }.boxed()
    })
}

fn health_job(target: &Target) -> Job {
    let target = target.clone();
    Arc::new(move |_| {
        let target = target.clone();
        async move { Outcome { class: 0, result: target.get_ok("/healthz").await } }.boxed()
    })
}

const PROGRESS: &str = "mutation BenchProgress($input: UpdateProjectProgressInput!) { \
    updateProjectProgress(input: $input) { project { id version progress } } }";
const MILESTONE: &str = "mutation BenchMilestone($input: RecordProjectMilestoneInput!) { \
    recordProjectMilestone(input: $input) { project { id version } } }";
const SUBMIT: &str = "mutation BenchSubmit($input: SubmitProjectInput!) { \
    submitProject(input: $input) { project { id reference version } } }";

/// The mutation mix: `mix` gives the percentages of `updateProjectProgress`,
/// `recordProjectMilestone` and `submitProject`, spread evenly over every 100 requests; changes
/// go to active projects drawn at random, without `expectedVersion` (the way a form that does
/// not care about concurrent edits sends them).
fn mutation_job(target: &Target, active: Arc<Vec<String>>, mix: [u32; 3]) -> Job {
    let target = target.clone();
    Arc::new(move |n| {
        let target = target.clone();
        let project = active[rand::random_range(0..active.len())].clone();
        let (class, query, input) = match mix_class(mix, n) {
            0 => (0, PROGRESS, json!({ "projectId": project, "progress": (n % 101) })),
            1 => (1, MILESTONE, json!({ "projectId": project, "title": format!("Jalon de charge n° {n}") })),
            _ => (
                2,
                SUBMIT,
                json!({
                    "title": format!("Projet de charge n° {n}"),
                    "problemStatement": "Un besoin de terrain, décrit pour le banc d'essai.",
                    "supportMode": "INCUBATION",
                    "academieCodes": [ACADEMIES[(n as usize) % ACADEMIES.len()]],
                    "themes": ["charge"],
                }),
            ),
        };
        let body = graphql_body(query, json!({ "input": input }));
        async move { Outcome { class, result: target.graphql(body).await.map(|_| ()) } }.boxed()
    })
}

/// The kind of request `n` in a mix of percentages: within every 100 requests each kind gets
/// its share, spread out (61 is prime to 100, so `n × 61 mod 100` visits every slot once per
/// hundred) rather than in bursts.
fn mix_class(mix: [u32; 3], n: u64) -> usize {
    let slot = (n.wrapping_mul(61) % 100) as u32;
    if slot < mix[0] {
        0
    } else if slot < mix[0] + mix[1] {
        1
    } else {
        2
    }
}

/// Everything the run measured.
#[derive(Clone, Debug)]
pub struct Report {
    pub command_line: String,
    /// e.g. `PostgreSQL 15.20 on 127.0.0.1:5432, a fresh database`.
    pub database: String,
    pub machine: String,
    /// `/proc/loadavg` before and after the phases: other work on the machine shows here.
    pub load_before: String,
    pub load_after: String,
    pub projects: u64,
    pub seeded: usize,
    pub demo_projects: usize,
    pub mutation_targets: usize,
    pub connections: usize,
    pub phase: Duration,
    pub warmup: Duration,
    pub baseline: PhaseResult,
    pub read: PhaseResult,
    pub half_load: PhaseResult,
    pub mutations: PhaseResult,
    /// The other server's read phase, when asked.
    pub compare: Option<PhaseResult>,
}

impl Report {
    pub fn errors(&self) -> u64 {
        self.phases().map(PhaseResult::errors).sum()
    }

    fn phases(&self) -> impl Iterator<Item = &PhaseResult> {
        [&self.baseline, &self.read].into_iter().chain(self.compare.as_ref()).chain([&self.half_load, &self.mutations])
    }

    pub fn read_ratio(&self) -> f64 {
        self.read.per_second() / self.baseline.per_second().max(1e-9)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT MET" }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command:   {}", self.command_line)?;
        writeln!(f, "database:  {}", self.database)?;
        writeln!(f, "machine:   {}", self.machine)?;
        writeln!(f, "loadavg:   {} before the phases, {} after", self.load_before, self.load_after)?;
        writeln!(
            f,
            "data:      {} projects ({} demo + {} seeded, more from submitProject), {} active ones as mutation targets",
            self.projects, self.demo_projects, self.seeded, self.mutation_targets
        )?;
        writeln!(
            f,
            "load:      {} clients in closed loop; each phase {:.0} s measured after {:.1} s of warm-up",
            self.connections,
            self.phase.as_secs_f64(),
            self.warmup.as_secs_f64()
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "| {:<46} | {:>8} | {:>10} | {:>7} | {:>7} | {:>7} | {:>8} | {:>6} |",
            "phase", "asked/s", "achieved/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"
        )?;
        writeln!(
            f,
            "| {:-<46} | {:->8}:| {:->10}:| {:->7}:| {:->7}:| {:->7}:| {:->8}:| {:->6}:|",
            "", "", "", "", "", "", "", ""
        )?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, asked: Option<f64>, per_second: f64, l: &Latencies| {
            let asked = asked.map_or_else(|| "—".to_owned(), |a| format!("{a:.0}"));
            writeln!(
                f,
                "| {name:<46} | {asked:>8} | {per_second:>10.0} | {:>7.2} | {:>7.2} | {:>7.2} | {:>8.1} | {:>6} |",
                ms(l.quantile(0.5)),
                ms(l.quantile(0.9)),
                ms(l.quantile(0.99)),
                ms(l.max()),
                l.errors
            )
        };
        let phase = |f: &mut fmt::Formatter<'_>, p: &PhaseResult| -> fmt::Result {
            row(f, &p.name, p.asked_rate, p.per_second(), &p.total())?;
            if p.classes.len() > 1 {
                for (class, l) in p.classes.iter().filter(|(_, l)| l.ok() + l.errors > 0) {
                    let share = l.ok() as f64 / p.elapsed.as_secs_f64().max(1e-9);
                    row(f, &format!("  {class}"), None, share, l)?;
                }
            }
            Ok(())
        };
        for p in self.phases() {
            phase(f, p)?;
        }
        writeln!(f)?;
        writeln!(f, "DESIGN §9:")?;
        writeln!(
            f,
            "  projects(first: 20) / GET /healthz throughput, same run: {:.2} ({:.0} / {:.0} requests/s)",
            self.read_ratio(),
            self.read.per_second(),
            self.baseline.per_second()
        )?;
        if let Some(other) = &self.compare {
            let ratio = self.read.per_second() / other.per_second().max(1e-9);
            writeln!(
                f,
                "  projects(first: 20) / {}: {ratio:.2} (target >= 2): {}",
                other.name,
                verdict(ratio >= 2.0 && other.errors() == 0)
            )?;
        }
        let half = self.half_load.total();
        writeln!(
            f,
            "  p99 at half load {:.2} ms (target < 10 ms): {}{}",
            ms(half.quantile(0.99)),
            verdict(ms(half.quantile(0.99)) < 10.0 && self.half_load.sustained() && self.half_load.errors() == 0),
            sustained_note(&self.half_load)
        )?;
        let mutations = self.mutations.total();
        let asked = self.mutations.asked_rate.unwrap_or_default();
        let p99 = ms(mutations.quantile(0.99));
        let judged = if asked >= 1000.0 {
            verdict(p99 < 20.0 && self.mutations.sustained() && self.mutations.errors() == 0)
        } else {
            "no verdict, asked below the target's rate"
        };
        writeln!(
            f,
            "  mutation p99 {p99:.2} ms at {asked:.0}/s asked (target < 20 ms at 1000/s): {judged}{}",
            sustained_note(&self.mutations)
        )?;
        for p in self.phases() {
            if let Some(lag) = &p.dispatch_lag {
                writeln!(
                    f,
                    "  scheduler lateness in {}: p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms (client side, part of the latencies)",
                    p.name,
                    ms(lag.quantile(0.5)),
                    ms(lag.quantile(0.99)),
                    ms(lag.max())
                )?;
            }
        }
        let errors = self.errors();
        if errors > 0 {
            writeln!(f)?;
            writeln!(f, "!!! {errors} REQUESTS FAILED: the figures above are not valid !!!")?;
            for p in self.phases() {
                for (class, l) in &p.classes {
                    if let Some(e) = &l.first_error {
                        writeln!(f, "!!! {} / {class}: {} errors, first: {e}", p.name, l.errors)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn sustained_note(p: &PhaseResult) -> String {
    match p.asked_rate {
        Some(asked) if !p.sustained() => {
            format!(" — rate NOT sustained: {:.0}/s achieved of {asked:.0}/s asked", p.per_second())
        }
        _ => String::new(),
    }
}

/// Académie codes the seeded projects are spread over.
const ACADEMIES: [&str; 8] = ["01", "02", "09", "10", "14", "17", "24", "25"];
const THEMES: [&str; 6] = ["pédagogie", "inclusion", "numérique", "orientation", "bien-être", "vie scolaire"];

/// A scratch database, and how to get rid of it.
struct Scratch {
    url: String,
    /// A folder for the token secret (and the SQLite file): removed at the end.
    dir: PathBuf,
    /// PostgreSQL: the server's URL and the database's name, to drop it.
    postgres: Option<(String, String)>,
    description: String,
}

impl Scratch {
    async fn create(backend: &Backend) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("carnet-bench-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.join("carnet.db").display());
                Ok(Self { url, dir, postgres: None, description: "SQLite, a temporary file (WAL)".into() })
            }
            Backend::Postgres { server_url } => {
                // the admin statements of a scratch database: the store has no helper for them
                let admin = sqlx::PgPool::connect(server_url)
                    .await
                    .with_context(|| format!("PostgreSQL is not reachable at {}", redact(server_url)))?;
                let version: String = sqlx::query_scalar("show server_version").fetch_one(&admin).await?;
                // a name of our own, hex digits only: safe inside the statement
                let name = format!("carnet_bench_{}", Uuid::new_v4().simple());
                sqlx::query(&format!("create database \"{name}\"")).execute(&admin).await?;
                admin.close().await;
                let url = with_database(server_url, &name)?;
                let description = format!("PostgreSQL {version}, a fresh database {name} (dropped at the end)");
                Ok(Self { url, dir, postgres: Some((server_url.clone(), name)), description })
            }
        }
    }

    async fn remove(self) -> anyhow::Result<()> {
        let dropped = match &self.postgres {
            Some((server_url, name)) => async {
                let admin = sqlx::PgPool::connect(server_url).await?;
                sqlx::query(&format!("drop database if exists \"{name}\" with (force)")).execute(&admin).await?;
                admin.close().await;
                anyhow::Ok(())
            }
            .await
            .with_context(|| format!("cannot drop the bench database {name}")),
            None => Ok(()),
        };
        let _ = std::fs::remove_dir_all(&self.dir);
        dropped
    }
}

/// `url` with its database (the path) replaced by `name`, query string kept.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let scheme_end = url.find("://").context("the PostgreSQL URL has no scheme")? + 3;
    let (base, query) = match url.find('?') {
        Some(q) => url.split_at(q),
        None => (url, ""),
    };
    let authority_end = base[scheme_end..].find('/').map_or(base.len(), |p| scheme_end + p);
    Ok(format!("{}/{name}{query}", &base[..authority_end]))
}

/// A short description of the machine for the report.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} logical CPUs ({model}), shared by the server, the database and this load generator")
}

/// The first three fields of `/proc/loadavg` (1, 5 and 15 minutes).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Submits project `n` (dated in the past three years) and, for most, qualifies and accepts it,
/// the way the lab would have.
async fn seed_project(lab: &Lab, today: NaiveDate, n: usize) -> anyhow::Result<()> {
    let actor = Actor { id: "carnet-bench".into(), issuer: "carnet-bench".into() };
    let submitted = today.checked_sub_days(Days::new((n as u64 * 7) % 1000 + 1)).unwrap_or(today);
    let metadata = || Metadata {
        occurred_at: Utc.from_utc_datetime(&submitted.and_hms_opt(9, 0, 0).unwrap_or_default()),
        ..Metadata::new(actor.clone())
    };
    let id = ProjectId::new();
    let support_mode = if n.is_multiple_of(3) { SupportMode::Punctual } else { SupportMode::Incubation };
    let title = Title::parse(&format!("Projet d'essai n° {n} : {}", THEMES[n % THEMES.len()]))?;
    let problem = LongText::parse("Une équipe de terrain décrit un besoin que le lab l'aide à instruire.")?;
    let academies: BTreeSet<AcademieCode> = [AcademieCode::parse(ACADEMIES[n % ACADEMIES.len()])?].into();
    let themes = vec![Label::parse(THEMES[n % THEMES.len()])?];
    let build = |reference: &str| {
        Ok(ProjectCommand::SubmitProject {
            id,
            reference: ProjectReference::parse(reference)?,
            title: title.clone(),
            problem_statement: problem.clone(),
            summary: None,
            support_mode,
            academies: academies.clone(),
            themes: themes.clone(),
            target_users: vec![],
            submitted_on: submitted,
        })
    };
    lab.create_numbered::<Project>(ReferenceKind::Project, submitted.year(), id.0, build, &metadata()).await?;
    // of every 10: one left submitted, one in qualification, eight accepted (ACTIVE)
    if n.is_multiple_of(10) {
        return Ok(());
    }
    lab.execute::<Project>(id.0, &ProjectCommand::StartQualification { on: submitted }, &metadata(), None).await?;
    if n % 10 == 1 {
        return Ok(());
    }
    let accept = ProjectCommand::AcceptProject { on: submitted, support_mode };
    lab.execute::<Project>(id.0, &accept, &metadata(), None).await?;
    Ok(())
}

/// The GraphQL ids of every `ACTIVE` project, read through the API as a client would.
async fn active_projects(target: &Target) -> anyhow::Result<Vec<String>> {
    const QUERY: &str = "query BenchActive($after: String) { projects(first: 100, after: $after, \
        filter: { status: [ACTIVE] }) { pageInfo { hasNextPage endCursor } nodes { id } } }";
    let mut ids = vec![];
    let mut after = serde_json::Value::Null;
    loop {
        let data = target
            .graphql(graphql_body(QUERY, json!({ "after": after })))
            .await
            .map_err(|e| anyhow::anyhow!("listing the active projects failed: {e}"))?;
        let page = &data["projects"];
        let nodes = page["nodes"].as_array().context("no nodes in the projects page")?;
        ids.extend(nodes.iter().filter_map(|n| n["id"].as_str().map(str::to_owned)));
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            return Ok(ids);
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

async fn total_projects(target: &Target) -> anyhow::Result<u64> {
    let data = target
        .graphql(graphql_body("{ projects(first: 1) { totalCount } }", json!({})))
        .await
        .map_err(|e| anyhow::anyhow!("counting the projects failed: {e}"))?;
    data["projects"]["totalCount"].as_u64().context("no totalCount")
}

/// A process group started for the comparison, ended (the whole group: `npx` starts children)
/// when dropped.
struct Spawned(std::process::Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = std::process::Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.0.wait();
    }
}

fn spawn_compare(command: &str, database_url: &str) -> anyhow::Result<Spawned> {
    use std::os::unix::process::CommandExt;
    let command = command.replace("{database_url}", database_url);
    let child = std::process::Command::new("sh")
        .args(["-c", &command])
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {command}"))?;
    Ok(Spawned(child))
}

/// Waits (up to 2 minutes) until `target` answers `query` without errors.
async fn wait_ready(target: &Target, query: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match target.graphql(graphql_body(query, json!({}))).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => anyhow::bail!("{} never answered: {e}", target.graphql_url),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Runs the whole benchmark; `progress` is told what starts. The scratch database is removed
/// whatever happens.
pub async fn run(options: &Options, progress: impl Fn(&str)) -> anyhow::Result<Report> {
    anyhow::ensure!(options.connections > 0, "--connections must be at least 1");
    anyhow::ensure!(options.mix.iter().sum::<u32>() == 100, "the mutation mix must add up to 100 %");
    progress("creating the bench database");
    let scratch = Scratch::create(&options.backend).await?;
    let result = run_in(options, &scratch, &progress).await;
    progress("removing the bench database");
    let removed = scratch.remove().await;
    let report = result?;
    removed?;
    Ok(report)
}

async fn run_in(options: &Options, scratch: &Scratch, progress: &impl Fn(&str)) -> anyhow::Result<Report> {
    // a master key of the scratch database's own, as production requires one
    let master_keys = std::sync::Arc::new(carnet_store::MasterKeys::generate("bench"));
    let config = Config {
        profile: Profile::Production,
        master_keys: Some(crate::master_keys::MasterKeysConfig::of(&master_keys)),
        database_url: Secret::new(&scratch.url),
        host: "127.0.0.1".into(),
        port: 0,
        log_format: LogFormat::Json,
        jwt_secret_file: scratch.dir.join("jwt-secret").display().to_string(),
        demo_data: Some(false),
        // the rate limit off: the driver sends far more than one caller's budget (600 a
        // minute) with its one token, and measures the application, not the limiter's 429s
        rate_limit: RateLimitConfig { per_minute: 0, ..Default::default() },
        ..Config::default()
    };

    progress("loading the demo data");
    let store = open_store(&scratch.url).await?;
    let lab = Lab::new(store, config.reference_prefix.clone(), master_keys);
    let today = Utc::now().date_naive();
    let demo = demo::load(&lab, today).await.context("demo data")?;
    progress(&format!("seeding {} more projects", options.projects));
    futures::stream::iter(0..options.projects)
        .map(|n| seed_project(&lab, today, n))
        .buffer_unordered(SEED_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await
        .context("seeding projects")?;
    drop(lab);

    progress("starting the application");
    let app = Application::build(config).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let token = app.verifier().mint("carnet-bench", &[Role::LabTeam], &[], 4);
    tokio::spawn(app.run_until_stopped());
    let target = Target::new(&base, &format!("{base}/graphql"), Some(token))?;
    let active = Arc::new(active_projects(&target).await?);
    anyhow::ensure!(!active.is_empty(), "no active project to change");
    let projects = total_projects(&target).await?;

    // started before the phases, so that it is warm and idle during ours; stopped when dropped
    let (_running, other) = match &options.compare {
        Some(compare) => {
            progress(&format!("starting {}", compare.name));
            let running = compare.command.as_deref().map(|c| spawn_compare(c, &scratch.url)).transpose()?;
            let other = Target::new(&base, &compare.graphql_url, None)?;
            wait_ready(&other, &compare.query).await?;
            (running, Some(other))
        }
        None => (None, None),
    };
    let load_before = loadavg();
    let warmup = (options.phase / 5).clamp(Duration::from_millis(200), Duration::from_secs(2));
    let clients = options.connections;
    progress("baseline: GET /healthz, closed loop");
    let baseline = closed_loop(
        "GET /healthz (baseline, closed loop)",
        &["healthz"],
        health_job(&target),
        clients,
        warmup,
        options.phase,
    )
    .await?;
    progress("projects(first: 20), closed loop");
    let projects_job = read_job(&target, PROJECTS_QUERY);
    let read = closed_loop(
        "projects(first: 20) (closed loop)",
        &["projects"],
        projects_job.clone(),
        clients,
        warmup,
        options.phase,
    )
    .await?;
    // the other server right after ours, on the same data, while ours idles
    let compare = match (&options.compare, &other) {
        (Some(compare), Some(other)) => {
            progress(&format!("{}: the same page, closed loop", compare.name));
            let name = format!("{} (closed loop)", compare.name);
            let job = read_job(other, &compare.query);
            Some(closed_loop(&name, &["projects"], job, clients, warmup, options.phase).await?)
        }
        _ => None,
    };
    let half = (read.per_second() / 2.0).max(1.0);
    progress(&format!("projects(first: 20) at half load ({half:.0}/s), open loop"));
    let half_load = open_loop(
        "projects(first: 20) at half load (open loop)",
        &["projects"],
        projects_job,
        Timetable::new(half, warmup, options.phase)?,
        MAX_IN_FLIGHT,
    )
    .await?;
    progress(&format!("mutation mix at {:.0}/s, open loop", options.rate));
    let mutations = open_loop(
        &format!("mutation mix {}/{}/{} (open loop)", options.mix[0], options.mix[1], options.mix[2]),
        &MUTATION_CLASSES,
        mutation_job(&target, active.clone(), options.mix),
        Timetable::new(options.rate, warmup, options.phase)?,
        MAX_IN_FLIGHT,
    )
    .await?;

    Ok(Report {
        command_line: options.command_line.clone(),
        database: scratch.description.clone(),
        machine: machine(),
        load_before,
        load_after: loadavg(),
        projects,
        seeded: options.projects,
        demo_projects: demo.projects,
        mutation_targets: active.len(),
        connections: clients,
        phase: options.phase,
        warmup,
        baseline,
        read,
        half_load,
        mutations,
        compare,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_recorded_latencies() {
        let mut l = Latencies::new();
        for ms in 1..=100u64 {
            l.record(Duration::from_millis(ms), Ok(()));
        }
        l.record(Duration::from_millis(5), Err("HTTP 500".into()));
        l.record(Duration::from_millis(5), Err("second".into()));
        assert_eq!(l.ok(), 100, "failures are counted apart");
        assert_eq!(l.errors, 2);
        assert_eq!(l.first_error.as_deref(), Some("HTTP 500"));
        let near = |d: Duration, ms: f64| (d.as_secs_f64() * 1000.0 - ms).abs() <= ms * 0.002;
        assert!(near(l.quantile(0.5), 50.0), "{:?}", l.quantile(0.5));
        assert!(near(l.quantile(0.99), 99.0), "{:?}", l.quantile(0.99));
        assert!(near(l.max(), 100.0), "{:?}", l.max());
        let mut other = Latencies::new();
        other.record(Duration::from_secs(2), Ok(()));
        other.record(Duration::ZERO, Err("third".into()));
        l.merge(&other);
        assert_eq!((l.ok(), l.errors), (101, 3));
        assert_eq!(l.first_error.as_deref(), Some("HTTP 500"), "the first error stays the first");
        assert!(near(l.max(), 2000.0));
    }

    #[test]
    fn the_timetable_is_fixed_in_advance() {
        let t = Timetable::new(1000.0, Duration::from_millis(500), Duration::from_secs(2)).expect("timetable");
        assert_eq!(t.total(), 2500);
        assert_eq!(t.due(0), Duration::ZERO);
        assert_eq!(t.due(1500), Duration::from_millis(1500));
        assert_eq!((0..t.total()).filter(|&i| t.measured(i)).count(), 2000, "rate × measured seconds");
        assert!(!t.measured(499) && t.measured(500));
        let odd = Timetable::new(3.0, Duration::ZERO, Duration::from_secs(1)).expect("timetable");
        assert_eq!(odd.total(), 3, "due at 0, 1/3 and 2/3 s");
        assert!(Timetable::new(0.0, Duration::ZERO, Duration::from_secs(1)).is_err());
    }

    /// A fake server that answers after `delay`, failing every `fail_every`-th request.
    fn fake(delay: Duration, fail_every: u64) -> Job {
        Arc::new(move |n| {
            async move {
                tokio::time::sleep(delay).await;
                let result =
                    if fail_every > 0 && n.is_multiple_of(fail_every) { Err(format!("fail {n}")) } else { Ok(()) };
                Outcome { class: (n % 2) as usize, result }
            }
            .boxed()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn open_loop_keeps_its_timetable_and_measures_from_the_intended_time() {
        // the clock is tokio's paused one: it jumps to the next timer, so latencies are exact
        let t = Timetable::new(100.0, Duration::from_millis(200), Duration::from_secs(1)).expect("timetable");
        let r = open_loop("fast", &["a", "b"], fake(Duration::from_millis(5), 0), t, 64).await.expect("run");
        let total = r.total();
        assert_eq!((total.ok(), r.errors()), (100, 0), "100/s for 1 s measured, warm-up left out");
        assert_eq!(r.classes[0].1.ok() + r.classes[1].1.ok(), 100);
        let p99 = total.quantile(0.99);
        assert!(p99 >= Duration::from_millis(5) && p99 <= Duration::from_millis(7), "{p99:?}");
        assert!(r.sustained(), "{} of 100/s", r.per_second());

        // a server slower than the rate, one request at a time: the queue shows in the latencies
        // (a closed loop would report 50 ms every time, at 20/s, and hide it)
        let slow = open_loop("slow", &["a", "b"], fake(Duration::from_millis(50), 0), t, 1).await.expect("run");
        let lat = slow.total();
        assert_eq!(lat.ok(), 100);
        assert!(lat.quantile(0.5) > Duration::from_millis(500), "queued: {:?}", lat.quantile(0.5));
        assert!(lat.max() > Duration::from_secs(4), "{:?}", lat.max());
        assert!(!slow.sustained(), "20/s cannot pass for 100/s: {}", slow.per_second());
        assert!(slow.dispatch_lag.as_ref().is_some_and(|l| l.max() > Duration::from_secs(1)));
    }

    #[tokio::test(start_paused = true)]
    async fn closed_loop_counts_each_clients_requests_and_errors() {
        let r = closed_loop(
            "c",
            &["a", "b"],
            fake(Duration::from_millis(10), 7),
            4,
            Duration::from_millis(100),
            Duration::from_secs(1),
        )
        .await
        .expect("run");
        let total = r.total();
        let made = total.ok() + total.errors;
        assert!((360..=404).contains(&made), "4 clients × about 100 requests of 10 ms: {made}");
        assert!(total.errors > 0 && total.errors < 70, "{}", total.errors);
        assert!(r.classes[0].1.first_error.is_some(), "every 7th is even half the time");
        let p50 = total.quantile(0.5);
        assert!(p50 >= Duration::from_millis(10) && p50 <= Duration::from_millis(12), "{p50:?}");
    }

    #[test]
    fn the_mix_gives_each_kind_its_share_spread_out() {
        let kinds: Vec<usize> = (0..100).map(|n| mix_class([60, 20, 20], n)).collect();
        assert_eq!(kinds.iter().filter(|&&k| k == 0).count(), 60);
        assert_eq!(kinds.iter().filter(|&&k| k == 1).count(), 20);
        assert_eq!(kinds.iter().filter(|&&k| k == 2).count(), 20);
        let longest_run = kinds.chunk_by(|a, b| a == b).map(<[usize]>::len).max();
        assert!(longest_run <= Some(4), "no bursts: {kinds:?}");
        assert!((0..1000).all(|n| mix_class([100, 0, 0], n) == 0));
        assert!((0..1000).all(|n| mix_class([0, 0, 100], n) == 2));
    }

    #[test]
    fn graphql_answers_are_checked() {
        assert!(check_graphql(200, br#"{"data":{"a":1}}"#).is_ok());
        assert!(check_graphql(200, br#"{"data":{"a":1},"errors":[]}"#).is_ok());
        let e = check_graphql(200, br#"{"data":null,"errors":[{"message":"non"}]}"#).unwrap_err();
        assert!(e.contains("non"), "{e}");
        assert!(check_graphql(200, br#"{"data":null}"#).is_err());
        assert!(check_graphql(500, br#"{"data":{"a":1}}"#).is_err());
        assert!(check_graphql(200, b"<html>").is_err());
    }

    #[test]
    fn the_bench_database_replaces_the_path_only() {
        let url = |u: &str| with_database(u, "b").expect("url");
        assert_eq!(url("postgres://postgres@127.0.0.1:5432/postgres"), "postgres://postgres@127.0.0.1:5432/b");
        assert_eq!(url("postgres://u:p@h/db?sslmode=disable"), "postgres://u:p@h/b?sslmode=disable");
        assert_eq!(url("postgres://h"), "postgres://h/b");
        assert_eq!(url("postgres://h?x=1"), "postgres://h/b?x=1");
    }

    /// A whole run, tiny and on SQLite: every phase makes requests and none fails. No timing is
    /// asserted: this machine's speed is the benchmark's business.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tiny_run_makes_requests_without_errors() {
        let options = Options {
            backend: Backend::Sqlite,
            connections: 2,
            phase: Duration::from_millis(600),
            rate: 40.0,
            projects: 12,
            mix: [60, 20, 20],
            command_line: "test".into(),
            compare: None,
        };
        let report = run(&options, |_| {}).await.expect("the bench runs");
        let printed = report.to_string();
        assert_eq!(report.errors(), 0, "{printed}");
        for p in [&report.baseline, &report.read, &report.half_load, &report.mutations] {
            assert!(p.total().ok() > 0, "{} made no request:\n{printed}", p.name);
        }
        assert!(report.mutations.classes.iter().all(|(_, l)| l.ok() > 0), "{printed}");
        assert!(report.projects >= 12 + report.demo_projects as u64, "{printed}");
        assert!(report.mutation_targets >= 9, "most seeded projects are active: {printed}");
        assert!(printed.contains("p99 at half load"), "{printed}");
    }
}
