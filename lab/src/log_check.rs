//! Is the log whole? One check for `carnet verify`, the auditors' `integrity` query and
//! `/readyz`, so that they cannot disagree.
//!
//! Four questions, cheapest last in [`verify`] (a broken hash chain is the first broken place
//! and is reported first), all of them in [`LogGuard`] except the chains:
//! 1. every hash chain and seal verifies (`carnet_store::integrity`);
//! 2. the log reaches as far as it was ever seen to (`carnet_store::extent`): `truncate events`
//!    or deleting the newest events is [`BreachKind::LogCut`], never "intact, 0 events";
//! 3. every entity of the read models is backed by its stream's events
//!    (`carnet_projections::backing`): a log that lost what the read models were built from is
//!    [`BreachKind::ReadModelAhead`];
//! 4. the log holds the tree of the last checkpoint this server issued (kept outside the database,
//!    [`crate::checkpoints::Remembered`]): a restored older dump or a rewritten history is
//!    [`BreachKind::CheckpointDiffers`], naming the sizes.
//!
//! [`LogGuard`] runs 2, 3 and 4 (4 on the stored tree: [`verify`] recomputes it from the events)
//! at start and every [`GUARD_PERIOD`] in the server and keeps the outcome for `/readyz`, which
//! then fails, naming the breach, until someone repairs the database (a restore of a good
//! backup, then a restart). It also remembers the furthest
//! position this process saw, which catches a cut that emptied the recorded mark too.

use crate::checkpoints::Remembered;
use carnet_store::AnyStore;
use carnet_store::extent::{self, ExtentCheck};
use carnet_store::integrity::{self, Breach, BreachKind, Progress, RecordedSeal, Report};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the server checks that the log is whole.
pub const GUARD_PERIOD: Duration = Duration::from_secs(5);

/// Why the check could not run (the database could not be read).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Store(#[from] carnet_store::StoreError),
    #[error(transparent)]
    Projection(#[from] carnet_projections::ProjectionError),
}

/// The whole verification: chains and seals, then the log's extent, then the read models, then
/// the last checkpoint this server issued (`remembered`, see [`crate::checkpoints`]).
pub async fn verify(
    store: &AnyStore,
    recorded: &[RecordedSeal],
    remembered: Option<&Remembered>,
    on_progress: impl FnMut(Progress) + Send,
) -> Result<Report, CheckError> {
    let report = integrity::verify_against(store, recorded, on_progress).await?;
    let Report::Intact(summary) = report else { return Ok(report) };
    Ok(match whole(store, None, remembered.map(|r| (r, Thorough::Events)), summary.events).await? {
        Some(breach) => Report::Broken(breach),
        None => Report::Intact(summary),
    })
}

/// How a remembered checkpoint is checked: against the stored tree (every few seconds, for
/// `/readyz`) or against the events themselves (one read of the log: `verify`).
#[derive(Clone, Copy)]
enum Thorough {
    Tree,
    Events,
}

/// Checks 2, 3 and 4 of the module's documentation; `seen_here`: the furthest position the
/// caller saw itself; `events_checked`: what the breach reports as verified before it.
async fn whole(
    store: &AnyStore,
    seen_here: Option<i64>,
    remembered: Option<(&Remembered, Thorough)>,
    events_checked: u64,
) -> Result<Option<Breach>, CheckError> {
    if let ExtentCheck::Cut { seen, last } = extent::check(store, seen_here).await? {
        return Ok(Some(Breach {
            global_position: last,
            stream_id: None,
            stream_version: None,
            seal: None,
            kind: BreachKind::LogCut { seen, last },
            events_checked,
        }));
    }
    if let Some(u) = carnet_projections::backing::first_unbacked(store).await? {
        return Ok(Some(Breach {
            global_position: None,
            stream_id: Some(u.stream_id),
            stream_version: Some(u.version),
            seal: None,
            kind: BreachKind::ReadModelAhead { read_model: u.read_model.to_owned() },
            events_checked,
        }));
    }
    if let Some(reason) = match remembered {
        Some((remembered, Thorough::Tree)) => remembered.check(store).await?,
        Some((remembered, Thorough::Events)) => remembered.check_events(store).await?,
        None => None,
    } {
        return Ok(Some(Breach {
            global_position: None,
            stream_id: None,
            stream_version: None,
            seal: None,
            kind: BreachKind::CheckpointDiffers { reason },
            events_checked,
        }));
    }
    Ok(None)
}

/// The server's watch over the log's extent and the read models' backing (see the module's
/// documentation). Cloned into the application state; one task per server.
#[derive(Clone, Default)]
pub struct LogGuard {
    inner: Arc<Mutex<GuardState>>,
    remembered: Option<Remembered>,
}

#[derive(Default)]
struct GuardState {
    /// The furthest position this process saw.
    seen: Option<i64>,
    /// What the last check found: `None` when whole.
    breach: Option<String>,
}

impl LogGuard {
    /// Checks once now (so that `/readyz` is right from the first request), then every
    /// [`GUARD_PERIOD`] until the process ends.
    pub async fn start(store: AnyStore, remembered: Option<Remembered>) -> Result<Self, CheckError> {
        let guard = Self { remembered, ..Self::default() };
        guard.check(&store).await?;
        let watcher = guard.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(GUARD_PERIOD);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = watcher.check(&store).await {
                    // the database is unreachable: /readyz says so on its own
                    tracing::debug!(error = %e, "cannot check the log's extent now");
                }
            }
        });
        Ok(guard)
    }

    /// Runs the check and keeps its outcome.
    pub async fn check(&self, store: &AnyStore) -> Result<Option<String>, CheckError> {
        let seen = self.lock().seen;
        let remembered = self.remembered.as_ref().map(|r| (r, Thorough::Tree));
        let breach = whole(store, seen, remembered, 0).await?.map(|b| b.to_string());
        let last = extent::last_position(store).await?;
        let mut state = self.lock();
        state.seen = state.seen.max(last);
        if breach.is_some() && state.breach.is_none() {
            tracing::error!(breach = breach.as_deref().unwrap_or_default(), "the log is not whole");
        }
        state.breach = breach.clone();
        Ok(breach)
    }

    /// The last checkpoint this server issued, if it issues them.
    pub fn remembered(&self) -> Option<&Remembered> {
        self.remembered.as_ref()
    }

    /// What the last check found wrong, in words; `None` when the log was whole.
    pub fn breach(&self) -> Option<String> {
        self.lock().breach.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GuardState> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
