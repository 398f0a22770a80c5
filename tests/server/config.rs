//! A configuration that cannot start the wrong server (issue 10, §2), as an operator meets it:
//! the real `carnet` binary, its exit status and what it prints, and the files it leaves.
//! - a configuration file named but unreadable, an unknown key (in any table) or variable, a
//!   wrong value: every command stops, naming the file or variable, the key, the accepted keys;
//! - a database URL's password is never printed, whatever its form; an unsupported scheme says
//!   so; an unreachable PostgreSQL fails within seconds naming its host and port;
//! - `serve` takes its port before writing anything;
//! - the SQLite database, its `-wal`/`-shm` and the `data/` folder are private (0600/0700).

use crate::support::*;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a command that should fail at once may run before the test calls it a start.
const LIMIT: Duration = Duration::from_secs(15);

/// `carnet args…` in `dir` with the environment `envs` and none of the caller's `CARNET_*`,
/// under `umask 022` (so that file modes are the binary's doing).
fn command(args: &[&str], envs: &[(&str, &str)], dir: &Path) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg("umask 022 && exec \"$0\" \"$@\"").arg(env!("CARGO_BIN_EXE_carnet")).args(args);
    for (name, _) in std::env::vars().filter(|(name, _)| name.to_ascii_uppercase().starts_with("CARNET_")) {
        cmd.env_remove(name);
    }
    cmd.env("RUST_LOG", "warn").env("RUST_BACKTRACE", "0").envs(envs.iter().copied()).current_dir(dir);
    cmd
}

struct Run {
    /// `None`: still running at [`LIMIT`] (it started), then killed.
    status: Option<ExitStatus>,
    /// Standard output and error, together.
    output: String,
    elapsed: Duration,
}

impl Run {
    /// Asserts that the command failed by itself, and returns what it printed.
    fn failed(&self, what: &str) -> &str {
        match self.status {
            None => panic!("{what}: still running after {LIMIT:?} (it started):\n{}", self.output),
            Some(status) => assert!(!status.success(), "{what}: exited 0:\n{}", self.output),
        }
        &self.output
    }
}

/// Runs `carnet args…` until it exits or [`LIMIT`] passes.
fn run(args: &[&str], envs: &[(&str, &str)], dir: &Path) -> Run {
    let started = Instant::now();
    let mut child = command(args, envs, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start carnet");
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("stdout")));
    let stderr = read(Box::new(child.stderr.take().expect("stderr")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let output = format!("{}{}", stdout.join().expect("stdout"), stderr.join().expect("stderr"));
    Run { status, output, elapsed }
}

/// `carnet serve` running, killed when dropped.
struct Served {
    child: Child,
    /// What it printed up to its address line.
    printed: Vec<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `carnet serve` on a free port and waits for it to print its address.
fn serve(envs: &[(&str, &str)], dir: &Path) -> Served {
    let mut child = command(&["serve"], &[envs, &[("CARNET_PORT", "0")]].concat(), dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start carnet serve");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, printed) = std::sync::mpsc::channel();
    // every line is read (a closed pipe would break the server's next print)
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut served = Served { child, printed: vec![] };
    loop {
        let line = printed.recv_timeout(LIMIT).unwrap_or_else(|_| panic!("no address printed: {:?}", served.printed));
        let done = line.starts_with("Carnet écoute sur ");
        served.printed.push(line);
        if done {
            return served;
        }
    }
}

/// The permission bits of `path`.
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// What `dir` holds, for messages (and to check that nothing was written).
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).expect("list").map(|e| e.expect("entry").file_name().to_string_lossy().into()).collect();
    names.sort();
    names
}

#[test]
fn a_named_configuration_file_that_cannot_be_read_stops_every_command() {
    let dir = TempDir::new();
    let missing = dir.path().join("etc/carnet/carnte.toml");
    let missing = missing.to_str().expect("a UTF-8 path");
    let commands: [&[&str]; 8] = [
        &["serve"],
        &["migrate"],
        &["token", "--role", "LAB_TEAM"],
        &["verify"],
        &["seal"],
        &["export"],
        &["rebuild"],
        &["rotate-master-key"],
    ];
    for args in commands {
        let out = run(args, &[("CARNET_CONFIG", missing), ("CARNET_PORT", "0")], dir.path());
        let printed = out.failed(&args.join(" "));
        assert!(
            printed.contains(&format!("the file {missing} (named by CARNET_CONFIG) cannot be read")),
            "{args:?}: {printed}"
        );
    }
    // a folder is not a file either
    std::fs::create_dir_all(dir.path().join("etc/carnet")).unwrap();
    let folder = dir.path().join("etc/carnet");
    let out = run(&["serve"], &[("CARNET_CONFIG", folder.to_str().unwrap()), ("CARNET_PORT", "0")], dir.path());
    assert!(out.failed("a folder as CARNET_CONFIG").contains("cannot be read"), "{}", out.output);
    assert_eq!(entries(dir.path()), ["etc"], "nothing written: no data/, no database, no secret");
}

#[test]
fn carnet_toml_is_optional_and_read_from_the_working_directory_only() {
    let dir = TempDir::new();
    let out = run(&["migrate"], &[], dir.path());
    assert_eq!(out.status.map(|s| s.success()), Some(true), "no carnet.toml, not named: the defaults\n{}", out.output);
    assert!(dir.path().join("data/carnet.db").exists(), "{:?}", entries(dir.path()));

    std::fs::write(dir.path().join("carnet.toml"), "database_url = \"sqlite://from-the-toml.db\"\n").unwrap();
    let read = run(&["migrate"], &[], dir.path());
    assert_eq!(read.status.map(|s| s.success()), Some(true), "{}", read.output);
    assert!(dir.path().join("from-the-toml.db").exists(), "carnet.toml is read: {:?}", entries(dir.path()));

    // a carnet.toml in a parent folder is not this directory's configuration
    let sub = dir.path().join("elsewhere");
    std::fs::create_dir(&sub).unwrap();
    let parent = run(&["migrate"], &[], &sub);
    assert_eq!(parent.status.map(|s| s.success()), Some(true), "{}", parent.output);
    assert!(sub.join("data/carnet.db").exists(), "the defaults, not the parent's file: {:?}", entries(&sub));
    assert!(!sub.join("from-the-toml.db").exists());
}

#[test]
fn an_unknown_key_or_a_wrong_value_stops_the_start_naming_the_file_the_key_and_the_accepted_keys() {
    let oidc = "[[oidc]]\nissuer = \"https://idp.example.gouv.fr\"\naudience = \"carnet\"\njwks_file = \"jwks.json\"\n";
    let cases = [
        ("prot = 8080\n".to_owned(), "unknown key `prot`; the accepted keys are: profile, database_url, host, port,"),
        (
            format!("{oidc}issuerr = \"https://idp.example.gouv.fr\"\n"),
            "unknown key `issuerr` in `oidc[0]`; the accepted keys in `oidc[0]` are: issuer, audience, jwks_file,",
        ),
        (
            "[rate_limit]\nper_minut = 60\n".into(),
            "unknown key `per_minut` in `rate_limit`; the accepted keys in `rate_limit` are: per_minute, burst,",
        ),
        (
            "[sealing]\nevery_second = 5\n".into(),
            "unknown key `every_second` in `sealing`; the accepted keys in `sealing` are: enabled, every_events, every_seconds",
        ),
        (
            "[master_keys]\ncurrent = \"k1\"\nkeys = {}\nold = \"k0\"\n".into(),
            "unknown key `old` in `master_keys`; the accepted keys in `master_keys` are: current, keys",
        ),
        ("port = \"huit mille\"\n".into(), "`port`: expected u16, found string \"huit mille\""),
        (
            "profile = \"prod\"\n".into(),
            "`profile`: unknown value `prod`; the accepted values are: development, production",
        ),
    ];
    for (toml, expected) in cases {
        let dir = TempDir::new();
        let file = dir.path().join("carnet.production.toml");
        // a free port from the file itself (CARNET_PORT would hide a wrong `port`)
        let with_port = if toml.starts_with("port") { toml.clone() } else { format!("port = 0\n{toml}") };
        std::fs::write(&file, &with_port).unwrap();
        let file = file.to_str().unwrap();
        let out = run(&["serve"], &[("CARNET_CONFIG", file)], dir.path());
        let printed = out.failed(&toml);
        assert!(
            printed.contains(&format!("invalid configuration in the file {file}: {expected}")),
            "{toml}\n{printed}"
        );
        assert_eq!(entries(dir.path()), ["carnet.production.toml"], "{toml}: nothing written");
    }
}

/// Decision (config.rs): the environment is a layer of the configuration like the file, so a
/// `CARNET_*` variable that is no key is refused, not ignored.
#[test]
fn an_unknown_carnet_variable_stops_the_start() {
    for (name, value) in [("CARNET_PROT", "9000"), ("CARNET_DATABSE_URL", "postgres://carnet:s3cret@db/carnet")] {
        let dir = TempDir::new();
        let out = run(&["serve"], &[(name, value), ("CARNET_PORT", "0")], dir.path());
        let printed = out.failed(name);
        assert!(
            printed.contains(&format!("invalid configuration in the environment variable {name}: unknown key")),
            "{printed}"
        );
        assert!(printed.contains("CARNET_DATABASE_URL, CARNET_HOST, CARNET_PORT"), "the accepted variables: {printed}");
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(entries(dir.path()).is_empty(), "nothing written: {:?}", entries(dir.path()));
    }
}

#[test]
fn a_database_password_is_never_printed_whatever_the_form_of_the_url() {
    let urls = [
        "postgres://carnet@127.0.0.1:1/nowhere?password=s3cret",
        "postgres://carnet:s3cret@127.0.0.1:1/nowhere?sslmode=disable&password=s3cret",
        "postgres://carnet:s3c%40ret@127.0.0.1:1/nowhere",
        "postgres://carnet:s3cret@127.0.0.1:54x32/nowhere",
        "postgres://carnet:s3c/ret@127.0.0.1:1/nowhere",
        "postgres://carnet:s3c@ret@127.0.0.1:1/nowhere",
        "postgres://carnet@127.0.0.1:1/nowhere?pasword=s3cret",
        "postgres//carnet:s3cret@127.0.0.1:1/nowhere",
        "mysql://carnet:s3cret@127.0.0.1/carnet",
        "host=127.0.0.1 user=carnet password=s3cret",
    ];
    for (i, url) in urls.into_iter().enumerate() {
        let dir = TempDir::new();
        // the URL from the command line or from the environment, in turn; logs at debug level
        let (args, envs) = match i % 2 {
            0 => (vec!["migrate", "--database-url", url], vec![("RUST_LOG", "debug")]),
            _ => (vec!["serve"], vec![("CARNET_DATABASE_URL", url), ("CARNET_PORT", "0"), ("RUST_LOG", "debug")]),
        };
        let out = run(&args, &envs, dir.path());
        let printed = out.failed(url);
        assert!(!printed.contains("s3c"), "the password leaked ({url}, {args:?}):\n{printed}");
        assert!(printed.contains("database"), "the error says what is wrong: {printed}");
    }
}

#[tokio::test]
async fn the_start_banner_hides_a_password_given_as_a_query_parameter() {
    let db = FreshDatabase::create().await;
    let dir = TempDir::new();
    // trust authentication: the password is accepted, and must still never be printed
    let separator = if db.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{separator}password=s3cret", db.url);
    let served = serve(&[("CARNET_DATABASE_URL", &url), ("CARNET_DEMO_DATA", "false")], dir.path());
    let banner = served.printed.last().expect("the address line");
    assert!(banner.contains("password=[redacted]") && !banner.contains("s3cret"), "{banner}");
}

#[test]
fn an_unsupported_scheme_is_refused_before_anything_is_created() {
    for url in ["mysql://carnet:s3cret@db/carnet", "mariadb://db/carnet", "data/carnet.db", "file:data/carnet.db"] {
        let dir = TempDir::new();
        let out = run(&["serve"], &[("CARNET_DATABASE_URL", url), ("CARNET_PORT", "0")], dir.path());
        let printed = out.failed(url);
        assert!(printed.contains("invalid database URL"), "{url}: {printed}");
        assert!(printed.contains("postgres://, postgresql:// or sqlite://"), "the accepted schemes: {printed}");
        assert!(entries(dir.path()).is_empty(), "{url} read as a file: {:?}", entries(dir.path()));
    }
    let dir = TempDir::new();
    let mysql = run(&["migrate", "--database-url", "mysql://carnet:s3cret@db/carnet"], &[], dir.path());
    assert!(mysql.failed("mysql").contains("unsupported scheme `mysql:`"), "{}", mysql.output);
}

#[test]
fn an_unreachable_postgres_fails_within_seconds_naming_its_host_and_port() {
    // refused: a port nobody listens on
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused_port = free.local_addr().unwrap().port();
    drop(free);
    // silent: a port that accepts connections and never answers
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let dir = TempDir::new();
    for (port, cause) in [(refused_port, "Connection refused"), (silent_port, "no answer within 5 s")] {
        let url = format!("postgres://carnet:s3cret@127.0.0.1:{port}/carnet");
        let out = run(&["migrate"], &[("CARNET_DATABASE_URL", &url)], dir.path());
        let printed = out.failed(&url);
        assert!(printed.contains(&format!("PostgreSQL at 127.0.0.1:{port} did not answer")), "{printed}");
        assert!(printed.contains(cause), "{printed}");
        assert!(out.elapsed < Duration::from_secs(8), "{port}: {:?} to fail", out.elapsed);
        assert!(!printed.contains("s3cret"), "{printed}");
    }
    drop(silent);
}

#[tokio::test]
async fn a_taken_port_stops_serve_before_anything_is_written() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let listen = format!("cannot listen on 127.0.0.1:{port}");

    // SQLite, development: demo data would load into a new database
    let dir = TempDir::new();
    let out = run(&["serve"], &[("CARNET_PORT", &port)], dir.path());
    assert!(out.failed("serve on a taken port").contains(&listen), "{}", out.output);
    assert!(entries(dir.path()).is_empty(), "no database, no secret: {:?}", entries(dir.path()));

    // PostgreSQL: not even the migrations
    let db = FreshDatabase::create().await;
    let out = run(&["serve"], &[("CARNET_PORT", &port), ("CARNET_DATABASE_URL", &db.url)], dir.path());
    assert!(out.failed("serve on a taken port").contains(&listen), "{}", out.output);
    let tables: i64 =
        sqlx::query_scalar("select count(*) from information_schema.tables where table_schema = 'public'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(tables, 0, "nothing written to the database");
    drop(taken);
}

#[test]
fn the_sqlite_database_its_wal_and_its_folder_are_private() {
    let dir = TempDir::new();
    let out = run(&["migrate"], &[], dir.path());
    assert_eq!(out.status.map(|s| s.success()), Some(true), "{}", out.output);
    let data = dir.path().join("data");
    assert_eq!(mode(&data), 0o700, "data/");
    assert_eq!(mode(&data.join("carnet.db")), 0o600, "data/carnet.db after migrate");
    for left in ["carnet.db-wal", "carnet.db-shm"].map(|f| data.join(f)).iter().filter(|f| f.exists()) {
        assert_eq!(mode(left), 0o600, "{} after migrate", left.display());
    }

    let dir = TempDir::new();
    let data = dir.path().join("data");
    let served = serve(&[], dir.path());
    // the WAL and its index exist while the server runs
    for file in ["carnet.db", "carnet.db-wal", "carnet.db-shm", "jwt-secret", "master-key"] {
        assert_eq!(mode(&data.join(file)), 0o600, "data/{file} while serving: {:?}", entries(&data));
    }
    assert_eq!(mode(&data), 0o700, "data/");
    drop(served);
    assert_eq!(mode(&data.join("carnet.db")), 0o600, "after serving");
}
