//! The layout's rules (docs/ARCHITECTURE.md), checked on the source tree itself:
//! - no code outside the backend seams names a backend;
//! - no file of non-test source is over 1 000 lines;
//! - the `carnet` binary does not link the benchmarks.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_path_buf()
}

/// Every `.rs` file under `dir`, recursively.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The production crates' sources (tests, benchmarks and test support aside).
fn production_sources() -> Vec<PathBuf> {
    let root = workspace();
    ["domain", "store", "projections", "lab", "api"]
        .iter()
        .flat_map(|krate| sources(&root.join(krate).join("src")))
        .filter(|path| !path.components().any(|c| c.as_os_str() == "tests"))
        .filter(|path| path.file_name().is_none_or(|name| name != "tests.rs"))
        .collect()
}

fn relative(path: &Path) -> String {
    path.strip_prefix(workspace()).unwrap_or(path).display().to_string()
}

/// Where a backend may be named: its own modules, and the one switch between them.
const SEAMS: &[&str] = &[
    "store/src/postgres/",
    "store/src/sqlite/",
    "store/src/any.rs",
    "store/src/contract.rs",
    "store/src/database_url.rs",
    "projections/src/sql/",
];

const BACKEND_NAMES: &[&str] = &[
    "AnyStore::Postgres",
    "AnyStore::Sqlite",
    "TxConn::Postgres",
    "TxConn::Sqlite",
    "Database::Postgres",
    "Database::Sqlite",
    "PgPool",
    "SqlitePool",
    "PgConnection",
    "SqliteConnection",
    "sqlx::Postgres",
    "sqlx::Sqlite",
];

#[test]
fn no_code_outside_the_backend_seams_names_a_backend() {
    let mut found = vec![];
    for path in production_sources() {
        let name = relative(&path);
        if SEAMS.iter().any(|seam| name.starts_with(seam)) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a source file");
        // unit tests at the end of a file may build either backend
        let code = text.split("#[cfg(test)]").next().unwrap_or(&text);
        for (n, line) in code.lines().enumerate() {
            let code_part = line.split("//").next().unwrap_or(line);
            if let Some(backend) = BACKEND_NAMES.iter().find(|b| code_part.contains(*b)) {
                found.push(format!("{name}:{}: {backend}", n + 1));
            }
        }
    }
    assert!(found.is_empty(), "backend named outside the seams ({SEAMS:?}):\n{}", found.join("\n"));
}

#[test]
fn no_source_file_is_over_a_thousand_lines() {
    let long: Vec<String> = production_sources()
        .into_iter()
        .chain(sources(&workspace().join("bench/src")))
        .chain(sources(&workspace().join("testkit/src")))
        .filter_map(|path| {
            let lines = std::fs::read_to_string(&path).expect("a source file").lines().count();
            (lines > 1000).then(|| format!("{}: {lines} lines", relative(&path)))
        })
        .collect();
    assert!(long.is_empty(), "split these files:\n{}", long.join("\n"));
}

#[test]
fn the_carnet_binary_does_not_link_the_benchmarks() {
    let manifest = std::fs::read_to_string(workspace().join("api/Cargo.toml")).expect("api/Cargo.toml");
    let dependencies = manifest.split("[dev-dependencies]").next().unwrap_or(&manifest);
    for linked in ["carnet-bench", "hdrhistogram"] {
        assert!(!dependencies.contains(linked), "api/Cargo.toml's dependencies name {linked}");
    }
    assert!(!workspace().join("api/src/bench_http.rs").exists(), "the load generator is back in the server");
}
