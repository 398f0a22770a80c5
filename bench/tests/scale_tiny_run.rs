//! `carnet-bench scale`, the command itself, tiny, on both backends: the log grows through both
//! sizes out of the lab's real commands (hardly any refused by the domain), and every measure
//! is reported at each size. No timing is asserted: this machine's speed is the benchmark's
//! business. (PostgreSQL at `DATABASE_URL`, or the local default, as the other tests.)

use std::process::Command;

#[test]
fn a_tiny_run_grows_the_log_of_real_commands_and_measures_each_size() {
    let url = carnet_testkit::database_url();
    let out = Command::new(env!("CARGO_BIN_EXE_carnet-bench"))
        .args(["scale", "--sizes", "400,1500", "--samples", "3", "--postgres-url", &url])
        .output()
        .expect("carnet-bench runs");
    let printed = String::from_utf8_lossy(&out.stdout);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{printed}\n{said}");
    for backend in ["PostgreSQL", "SQLite"] {
        let part = printed.split(backend).nth(1).unwrap_or_else(|| panic!("no {backend} part:\n{printed}"));
        let sizes: Vec<u64> = part
            .lines()
            .filter_map(|l| l.trim().split(" events (").next().filter(|_| l.contains(" events ("))?.parse().ok())
            .take(2)
            .collect();
        assert_eq!(sizes.len(), 2, "{backend}: two sizes:\n{printed}");
        assert!(sizes[0] >= 400 && sizes[1] >= 1500 && sizes[1] > sizes[0], "{backend}: {sizes:?}\n{printed}");
        let refused: Vec<(u64, u64)> = part
            .lines()
            .filter_map(|l| l.trim().strip_prefix("commands refused by the domain"))
            .filter_map(|r| {
                let (n, of) = r.split_once(" of ")?;
                Some((n.trim().parse().ok()?, of.trim().parse().ok()?))
            })
            .take(2)
            .collect();
        assert_eq!(refused.len(), 2, "{printed}");
        for (n, of) in refused {
            assert!(of > 0 && n * 20 < of, "{backend}: the domain refused {n} of {of} commands:\n{printed}");
        }
        for measure in ["rebuild (every read model)", "verify (whole log)"] {
            let rate: Vec<f64> = part
                .lines()
                .filter_map(|l| l.trim().strip_prefix(measure))
                .filter_map(|r| r.split_whitespace().next()?.parse().ok())
                .take(2)
                .collect();
            assert!(rate.len() == 2 && rate.iter().all(|r| *r > 0.0), "{backend}: {measure}: {rate:?}\n{printed}");
        }
        for read in ["list projects", "lookup project(id)", "project(id, asOf)", "indicators(asOf)", "history"] {
            assert_eq!(part.lines().filter(|l| l.trim().starts_with(read)).take(2).count(), 2, "{read}:\n{printed}");
        }
    }
}
