//! The load driver of `carnet-bench http`: closed-loop and open-loop phases over any [`Job`]
//! (a request and the check of its answer), latencies in HDR histograms. Open loop keeps a
//! timetable fixed in advance and measures from the intended times (see the parent module).

use anyhow::Context;
use futures::future::BoxFuture;
use hdrhistogram::Histogram;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
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
    /// What the servers and the machine spent in the measured window ([`super::usage`]).
    pub usage: Option<super::usage::Usage>,
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

/// Sends on `timetable` whatever the answers do, at most `max_in_flight` at a time (the run
/// passes `super::MAX_IN_FLIGHT`), and measures each latency from the request's intended time.
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
        usage: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

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
}
