//! The HTTP client side of `carnet-bench http`: a [`Target`] (an endpoint, its token), the
//! checks every answer goes through, and the jobs of each phase: `GET /healthz`, a read, the
//! mutation mix.

use super::ACADEMIES;
use super::driver::{Job, Outcome};
use anyhow::Context;
use futures::FutureExt;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
/// An HTTP endpoint and how to call it.
#[derive(Clone)]
pub(super) struct Target {
    client: reqwest::Client,
    base: String,
    pub(super) graphql_url: String,
    token: Option<String>,
}

impl Target {
    pub(super) fn new(base: &str, graphql_url: &str, token: Option<String>) -> anyhow::Result<Self> {
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
    pub(super) async fn graphql(&self, body: String) -> Result<serde_json::Value, String> {
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

pub(super) fn graphql_body(query: &str, variables: serde_json::Value) -> String {
    json!({ "query": query, "variables": variables }).to_string()
}

/// One kind of request for the read phases.
pub(super) fn read_job(target: &Target, query: &str) -> Job {
    let (target, body) = (target.clone(), graphql_body(query, json!({})));
    Arc::new(move |_| {
        let (target, body) = (target.clone(), body.clone());
        async move { Outcome { class: 0, result: target.graphql(body).await.map(|_| ()) } }.boxed()
    })
}

pub(super) fn health_job(target: &Target) -> Job {
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
pub(super) fn mutation_job(target: &Target, active: Arc<Vec<String>>, mix: [u32; 3]) -> Job {
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

/// The GraphQL ids of every `ACTIVE` project, read through the API as a client would.
pub(super) async fn active_projects(target: &Target) -> anyhow::Result<Vec<String>> {
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

pub(super) async fn total_projects(target: &Target) -> anyhow::Result<u64> {
    let data = target
        .graphql(graphql_body("{ projects(first: 1) { totalCount } }", json!({})))
        .await
        .map_err(|e| anyhow::anyhow!("counting the projects failed: {e}"))?;
    data["projects"]["totalCount"].as_u64().context("no totalCount")
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
