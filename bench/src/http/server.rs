//! Carnet's server in a process of its own, so that what it spends (CPU time, peak memory) can be
//! read apart from the load generator's ([`super::usage`]).
//!
//! The process is this very binary again (`carnet-bench serve CONFIG`, hidden): the same build
//! as the bench, so a stale `target/release/carnet` can never be measured by mistake. It runs
//! what `carnet serve` runs — [`Application::build`] on the configuration the bench wrote, the
//! global allocator of `carnet_api`, the telemetry of `carnet_api::telemetry` (its log goes to
//! `server.log` in the run's scratch folder) — and prints `port N` once it listens.

use anyhow::Context;
use carnet_api::config::Config;
use carnet_api::startup::Application;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `carnet-bench serve CONFIG`: the server side of `carnet-bench http`.
pub async fn serve(config_file: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(config_file)
        .with_context(|| format!("cannot read the bench server's configuration {}", config_file.display()))?;
    let config: Config = serde_json::from_str(&text).context("the bench server's configuration")?;
    carnet_api::telemetry::init(config.log_format, std::io::stderr);
    let app = Application::build(config).await?;
    println!("port {}", app.port());
    app.run_until_stopped().await?;
    Ok(())
}

/// The server process, stopped (SIGTERM, then waited for) when dropped.
pub struct Server {
    child: std::process::Child,
    pub port: u16,
}

impl Server {
    /// Writes `config` into `dir`, starts the server on it and waits (up to a minute) until it
    /// says its port. Its log goes to `dir/server.log`.
    pub fn start(config: &Config, dir: &Path) -> anyhow::Result<Self> {
        use std::os::unix::process::CommandExt;
        let config_file = dir.join("server-config.json");
        std::fs::write(&config_file, serde_json::to_vec(config)?)?;
        let log = std::fs::File::create(dir.join("server.log"))?;
        let exe = std::env::current_exe().context("where is carnet-bench?")?;
        let mut child = std::process::Command::new(exe)
            .arg("serve")
            .arg(&config_file)
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(log)
            .spawn()
            .context("cannot start the bench server")?;
        let stdout = child.stdout.take().context("the server's output")?;
        let (said, heard) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let port = lines.next().and_then(|l| l.ok()?.strip_prefix("port ")?.trim().parse::<u16>().ok());
            let _ = said.send(port);
            // keep reading, so that the server never blocks on a full pipe
            for _ in lines {}
        });
        let mut server = Self { child, port: 0 };
        match heard.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(port)) => server.port = port,
            _ => {
                let log = log_tail(&dir.join("server.log"));
                anyhow::bail!("the bench server did not start; the end of its log:\n{log}");
            }
        }
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

fn log_tail(path: &PathBuf) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
