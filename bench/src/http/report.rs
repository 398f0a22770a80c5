//! The report of `carnet-bench http`: every phase's requests/s, p50 and p99, the ratios and the
//! targets of DESIGN §9, with what produced them (command line, database, machine, load).

use super::driver::{Latencies, PhaseResult};
use std::fmt;
use std::time::Duration;
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
        writeln!(
            f,
            "CPU per request answered in the measured window (µs; server = its whole process group, \
             postgres = the backends of the bench database, machine = every CPU's busy time), and peak RSS:"
        )?;
        for p in self.phases() {
            if let Some(usage) = &p.usage {
                let ok = p.total().ok().max(1) as f64;
                let per = |d: Duration| d.as_secs_f64() * 1e6 / ok;
                let mut line = format!("  {:<46}", p.name);
                for s in &usage.spent {
                    line.push_str(&format!(" {} {:>6.0}", s.name, per(s.cpu)));
                    if let Some(kib) = s.peak_rss_kib {
                        line.push_str(&format!(" (peak RSS {:.0} MiB)", kib as f64 / 1024.0));
                    }
                    line.push(';');
                }
                line.push_str(&format!(" machine {:>6.0}", per(usage.machine)));
                writeln!(f, "{line}")?;
            }
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

/// A short description of the machine for the report.
pub(super) fn machine() -> String {
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
pub(super) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
