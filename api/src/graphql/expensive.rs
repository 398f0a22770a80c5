//! Fields that read the past (`indicators(asOf)`, `project(id, asOf)`, `session(id, asOf)`):
//! weighed in the complexity limit, and run a few at a time.
//!
//! - **Cost**: with `asOf`, `indicators` costs [`INDICATORS_AS_OF`] (it scans the timelines of
//!   every project and session) and `project`/`session` [`ENTITY_AS_OF`] (they fold one stream),
//!   on top of their selection, in the complexity limit (`limits::COMPLEXITY`, 5 000): a
//!   document holds at most four `indicators(asOf)`. (When `indicators(asOf)` still re-projected
//!   the whole log, 30 aliases of it took the server from 196 to 460 MB.)
//! - **Concurrency** ([`Expensive`]): at most `concurrency` such folds run at once in the process
//!   (`[expensive_queries]` in the configuration, [`ExpensiveConfig`]); at most `queue` more wait,
//!   each `wait_ms` at most. Beyond, the field fails at once with `RATE_LIMITED`
//!   (`reason: "BUSY"`, `retryAfterSeconds`): a bounded queue, never an unbounded one. Memory is
//!   bounded the same way: what the folds hold is at most `concurrency` rebuilds. One caller (its
//!   identity) holds at most `per_caller` of the places and the queue together, so it cannot
//!   fill the queue and keep another caller's fold out.
//! - **No starvation**: everything else (the read models' queries) never waits for a permit, so
//!   six heavy requests no longer make another caller's `projects(first: 5)` wait seconds; the
//!   black-box test `heavy_folds_are_bounded_and_light_queries_still_answer` shows it.

use super::error::ApiError;
use crate::auth::Identity;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Semaphore;

/// What `indicators(asOf)` adds to the complexity of a document.
pub const INDICATORS_AS_OF: usize = 1_000;
/// What `project(id, asOf)` and `session(id, asOf)` add.
pub const ENTITY_AS_OF: usize = 200;

/// The complexity of a field that folds the log when `as_of` is given.
pub fn as_of_cost(as_of: bool, weight: usize, child_complexity: usize) -> usize {
    if as_of { weight.saturating_add(child_complexity) } else { child_complexity + 1 }
}

/// `[expensive_queries]` in `carnet.toml`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ExpensiveConfig {
    /// Folds running at once (at least 1).
    pub concurrency: usize,
    /// Folds waiting for a place, at most; one more fails at once.
    pub queue: usize,
    /// How long a fold waits for a place before it fails, in milliseconds.
    pub wait_ms: u64,
    /// Folds one caller may have running or waiting at once.
    pub per_caller: usize,
}

impl Default for ExpensiveConfig {
    /// Two folds at once leave the second core to everything else; eight waiting for at most
    /// 5 s absorb an auditor's page of a few of them; four per caller let one document hold
    /// as many as the complexity limit allows, and leave half the queue to others.
    fn default() -> Self {
        Self { concurrency: 2, queue: 8, wait_ms: 5_000, per_caller: 4 }
    }
}

/// The places of the process's folds; cheap to clone.
#[derive(Clone)]
pub struct Expensive {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    queue: usize,
    wait: Duration,
    per_caller: usize,
    /// Each caller's folds, running or waiting.
    callers: Arc<Mutex<HashMap<(String, String), usize>>>,
}

impl Expensive {
    pub fn new(config: &ExpensiveConfig) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            queue: config.queue,
            wait: Duration::from_millis(config.wait_ms),
            per_caller: config.per_caller.max(1),
            callers: Arc::default(),
        }
    }

    /// Runs `work` once a place is free, and gives its outcome; `ApiError::Busy` instead when
    /// the queue is full or the wait too long.
    pub async fn run<T>(&self, caller: &Identity, work: impl Future<Output = T>) -> Result<T, ApiError> {
        let key = (caller.issuer.clone(), caller.sub.clone());
        {
            let mut callers = self.callers.lock().unwrap_or_else(PoisonError::into_inner);
            let held = callers.entry(key.clone()).or_default();
            if *held >= self.per_caller {
                return Err(busy());
            }
            *held += 1;
        }
        let done = self.within_places(work).await;
        let mut callers = self.callers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = callers.get_mut(&key) {
            *held -= 1;
            if *held == 0 {
                callers.remove(&key);
            }
        }
        done
    }

    async fn within_places<T>(&self, work: impl Future<Output = T>) -> Result<T, ApiError> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(busy());
                }
                let acquired = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await;
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                match acquired {
                    Ok(Ok(permit)) => permit,
                    _ => return Err(busy()),
                }
            }
        };
        let done = work.await;
        drop(permit);
        Ok(done)
    }
}

fn busy() -> ApiError {
    metrics::counter!(crate::telemetry::metric::EXPENSIVE_REFUSED).increment(1);
    ApiError::Busy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn someone() -> Identity {
        Identity {
            sub: "someone".into(),
            issuer: "carnet-local".into(),
            roles: Default::default(),
            academies: Default::default(),
            person: None,
            profile: Default::default(),
        }
    }

    #[tokio::test]
    async fn beyond_the_places_and_the_queue_a_fold_is_refused_at_once() {
        let expensive = Expensive::new(&ExpensiveConfig { concurrency: 1, queue: 1, wait_ms: 60_000, per_caller: 10 });
        let (release, hold) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn({
            let e = expensive.clone();
            async move { e.run(&someone(), hold).await }
        });
        while expensive.permits.available_permits() == 1 {
            tokio::task::yield_now().await;
        }
        let waiting = tokio::spawn({
            let e = expensive.clone();
            async move { e.run(&someone(), async { 2 }).await }
        });
        while expensive.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let refused = expensive.run(&someone(), async { 3 }).await;
        assert!(matches!(refused, Err(ApiError::Busy)), "the queue is full");
        release.send(()).unwrap();
        assert!(running.await.unwrap().is_ok_and(|held| held.is_ok()));
        assert_eq!(waiting.await.unwrap().unwrap(), 2, "the waiting one ran once the place was free");
    }

    #[tokio::test]
    async fn a_fold_waits_no_longer_than_the_bound() {
        let expensive = Expensive::new(&ExpensiveConfig { concurrency: 1, queue: 4, wait_ms: 10, per_caller: 10 });
        let _held = expensive.permits.clone().try_acquire_owned().unwrap();
        assert!(matches!(expensive.run(&someone(), async {}).await, Err(ApiError::Busy)));
    }

    #[test]
    fn a_fold_weighs_only_with_as_of() {
        assert_eq!(as_of_cost(false, INDICATORS_AS_OF, 7), 8, "as async-graphql counts any field");
        assert_eq!(as_of_cost(true, INDICATORS_AS_OF, 7), 1_007);
    }
}
