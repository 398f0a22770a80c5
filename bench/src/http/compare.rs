//! `--compare-*`: another GraphQL server (PostGraphile) on the same database, started by a shell
//! command of the user's and stopped (its whole process group) at the end.

use super::client::{Target, graphql_body};
use anyhow::Context;
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;
/// A process group started for the comparison, ended (the whole group: `npx` starts children)
/// when dropped.
pub(super) struct Spawned(std::process::Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = std::process::Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.0.wait();
    }
}

impl Spawned {
    /// Its process group (it leads it).
    pub(super) fn pgid(&self) -> u32 {
        self.0.id()
    }
}

pub(super) fn spawn_compare(command: &str, database_url: &str) -> anyhow::Result<Spawned> {
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
pub(super) async fn wait_ready(target: &Target, query: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match target.graphql(graphql_body(query, json!({}))).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => anyhow::bail!("{} never answered: {e}", target.graphql_url),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}
