//! `carnet-bench http`, the command itself, tiny and on SQLite: every phase makes requests and
//! none fails, the server runs in a process of its own and what it spends is reported. No
//! timing is asserted: this machine's speed is the benchmark's business.

use std::process::Command;

#[test]
fn a_tiny_run_makes_requests_without_errors_and_meters_the_server() {
    let out = Command::new(env!("CARGO_BIN_EXE_carnet-bench"))
        .args(["http", "--sqlite", "--connections", "2", "--seconds", "1", "--rate", "40", "--projects", "12"])
        .output()
        .expect("carnet-bench runs");
    let printed = String::from_utf8_lossy(&out.stdout);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{printed}\n{said}");
    assert!(!printed.contains("FAILED"), "{printed}");
    let rows: Vec<&str> = printed.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| phase")).collect();
    for phase in ["GET /healthz", "projects(first: 20) (closed", "at half load", "mutation mix"] {
        let row = rows.iter().find(|r| r.contains(phase)).unwrap_or_else(|| panic!("no {phase} row:\n{printed}"));
        let achieved: f64 = row.split('|').nth(3).and_then(|c| c.trim().parse().ok()).expect("achieved/s");
        assert!(achieved > 0.0, "{phase} made no request:\n{printed}");
    }
    for class in ["updateProjectProgress", "recordProjectMilestone", "submitProject"] {
        assert!(rows.iter().any(|r| r.contains(class)), "{class} ran:\n{printed}");
    }
    // the server's CPU per request is measured apart from the load generator's
    let metered = printed.lines().filter(|l| l.contains(" carnet ") && l.contains("peak RSS")).count();
    assert_eq!(metered, 4, "each of the four phases reports the server's CPU and memory:\n{printed}");
    assert!(printed.contains("p99 at half load"), "{printed}");
}
