//! What the servers spend during a measured phase, read from `/proc` (Linux): the CPU time of a
//! process group (the server and any children it started: `sh`, `node`), its peak resident
//! memory, the CPU time of the database's backends serving the bench database, and the whole
//! machine's busy time. Divided by the requests answered, CPU time gives **CPU microseconds per
//! request**, a figure that depends much less on what else the noisy 2-core machine does than
//! requests per second do (issue 13, point 1).
//!
//! Clock ticks are `getconf CLK_TCK` (100 on Linux): a 10 s phase at 1 000 requests/s is
//! 10 000 requests for 2 000 ticks of two cores, enough for two significant digits.

use std::time::Duration;
use tokio::time::Instant;

/// What to watch in a phase.
#[derive(Clone, Debug)]
pub enum Watched {
    /// Every process whose process group is this one (a server started with
    /// `process_group(0)`, and what it started).
    Group { name: String, pgid: u32 },
    /// The PostgreSQL backends connected to this database (`pg_stat_activity`), read through
    /// `url` (any database of the same server).
    Backends { name: String, url: String, database: String },
}

impl Watched {
    pub fn name(&self) -> &str {
        match self {
            Self::Group { name, .. } | Self::Backends { name, .. } => name,
        }
    }
}

/// What one watched thing spent in the measured window.
#[derive(Clone, Debug)]
pub struct Spent {
    pub name: String,
    pub cpu: Duration,
    /// Peak resident set (`VmHWM`, summed over the group's processes), for process groups.
    pub peak_rss_kib: Option<u64>,
}

/// What a phase cost the machine.
#[derive(Clone, Debug, Default)]
pub struct Usage {
    pub spent: Vec<Spent>,
    /// Busy time of all CPUs (user, nice, system, irq, softirq, steal), everything included:
    /// servers, database, this load generator, anything else running.
    pub machine: Duration,
}

/// A phase's meter, started with the phase: it samples at the end of the warm-up and at the end
/// of the measured window, the very instants the driver measures between.
pub struct Meter(tokio::task::JoinHandle<anyhow::Result<Usage>>);

impl Meter {
    pub fn new(watched: Vec<Watched>, warmup: Duration, measure: Duration) -> Self {
        let from = Instant::now() + warmup;
        Self(tokio::spawn(between(watched, from, from + measure)))
    }

    /// `result` with what its window cost.
    pub async fn into(self, mut result: super::driver::PhaseResult) -> anyhow::Result<super::driver::PhaseResult> {
        result.usage = Some(self.0.await??);
        Ok(result)
    }
}

/// Samples `watched` at `from` and at `to` (both `Instant`s of the phase's measured window) and
/// returns what was spent in between. Run it beside the phase (`tokio::spawn`).
pub async fn between(watched: Vec<Watched>, from: Instant, to: Instant) -> anyhow::Result<Usage> {
    tokio::time::sleep_until(from).await;
    let before = sample(&watched).await?;
    let machine_before = machine_busy_ticks()?;
    tokio::time::sleep_until(to).await;
    let after = sample(&watched).await?;
    let machine_after = machine_busy_ticks()?;
    let tick = tick();
    let spent = watched
        .iter()
        .zip(before.iter().zip(&after))
        .map(|(w, (b, a))| Spent {
            name: w.name().to_owned(),
            cpu: tick * u32::try_from(a.spent_since(b)).unwrap_or(u32::MAX),
            peak_rss_kib: a.peak_rss_kib,
        })
        .collect();
    Ok(Usage { spent, machine: tick * u32::try_from(machine_after.saturating_sub(machine_before)).unwrap_or(u32::MAX) })
}

/// The CPU ticks of each process of a watched thing at one moment, and their peak RSS.
struct Sample {
    ticks: std::collections::HashMap<u32, u64>,
    peak_rss_kib: Option<u64>,
}

impl Sample {
    /// Ticks spent since `earlier`, process by process: one that started meanwhile counts
    /// whole, one that ended meanwhile (a pool closing an idle connection) is left out rather
    /// than subtracted from the others.
    fn spent_since(&self, earlier: &Sample) -> u64 {
        self.ticks.iter().map(|(pid, now)| now.saturating_sub(earlier.ticks.get(pid).copied().unwrap_or(0))).sum()
    }
}

/// Each watched thing now.
async fn sample(watched: &[Watched]) -> anyhow::Result<Vec<Sample>> {
    let mut samples = Vec::with_capacity(watched.len());
    for w in watched {
        samples.push(match w {
            Watched::Group { pgid, .. } => {
                let processes = group_members(*pgid);
                let rss = processes.iter().filter_map(|&pid| peak_rss_kib(pid)).sum();
                Sample { ticks: processes.iter().map(|&pid| (pid, cpu_ticks(pid))).collect(), peak_rss_kib: Some(rss) }
            }
            Watched::Backends { url, database, .. } => {
                let pids = backends(url, database).await?;
                Sample { ticks: pids.iter().map(|&pid| (pid, cpu_ticks(pid))).collect(), peak_rss_kib: None }
            }
        });
    }
    Ok(samples)
}

/// The processes of process group `pgid`.
fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return vec![] };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| stat_fields(pid).and_then(|f| f.get(2)?.parse::<u32>().ok()) == Some(pgid))
        .collect()
}

/// The fields of `/proc/<pid>/stat` after the command name (which may hold spaces): state,
/// ppid, pgrp, …, utime (index 11), stime (12).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// User and system CPU ticks of process `pid` (all its threads); 0 once it is gone.
fn cpu_ticks(pid: u32) -> u64 {
    stat_fields(pid).map(|f| [11, 12].iter().filter_map(|&i| f.get(i)?.parse::<u64>().ok()).sum()).unwrap_or(0)
}

/// `VmHWM` of process `pid`, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Busy ticks of all CPUs since boot, from the first line of `/proc/stat`.
fn machine_busy_ticks() -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().unwrap_or_default();
    let fields: Vec<u64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    anyhow::ensure!(fields.len() >= 8, "/proc/stat has no cpu line");
    // user nice system idle iowait irq softirq steal: all but idle and iowait
    Ok(fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7])
}

/// One clock tick.
fn tick() -> Duration {
    let hz = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse::<u32>().ok())
        .filter(|&hz| hz > 0)
        .unwrap_or(100);
    Duration::from_secs(1) / hz
}

/// The process ids of the backends connected to `database`.
async fn backends(url: &str, database: &str) -> anyhow::Result<Vec<u32>> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let pids: Vec<i32> = sqlx::query_scalar("select pid from pg_stat_activity where datname = $1")
        .bind(database)
        .fetch_all(&mut conn)
        .await?;
    conn.close().await?;
    Ok(pids.into_iter().filter_map(|p| u32::try_from(p).ok()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend that ended in the window (a pool closing an idle connection) takes its ticks
    /// away with it, not from the others; one that started counts whole.
    #[test]
    fn processes_that_come_and_go_do_not_cancel_the_others() {
        let at = |pairs: &[(u32, u64)]| Sample { ticks: pairs.iter().copied().collect(), peak_rss_kib: None };
        let before = at(&[(1, 100), (2, 5_000)]);
        let after = at(&[(1, 130), (3, 7)]);
        assert_eq!(after.spent_since(&before), 30 + 7);
    }

    /// This very process, spinning: its group's CPU time grows by about what it spun, and its
    /// peak memory is seen.
    #[tokio::test]
    async fn a_group_that_works_is_seen_working() {
        let child = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 2000000 ]; do i=$((i+1)); done"])
            .spawn()
            .expect("sh");
        // the child is in our process group
        let pgid = stat_fields(child.id()).and_then(|f| f.get(2)?.parse::<u32>().ok()).expect("pgrp");
        let from = Instant::now() + Duration::from_millis(50);
        let to = from + Duration::from_millis(600);
        let usage = between(vec![Watched::Group { name: "me".into(), pgid }], from, to).await.expect("usage");
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
        let spent = &usage.spent[0];
        assert!(spent.cpu >= Duration::from_millis(200), "the spinning shell is counted: {:?}", spent.cpu);
        assert!(spent.peak_rss_kib.is_some_and(|k| k > 0), "{:?}", spent.peak_rss_kib);
        assert!(usage.machine >= spent.cpu / 2, "the machine was busy at least that much: {usage:?}");
    }
}
