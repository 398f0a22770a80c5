//! The live feed behind GraphQL subscriptions (DESIGN §2, §5): ONE follower of the global log
//! per process, fanned out to every subscription through a broadcast channel.
//!
//! Why one follower: a subscription that polled the database itself would cost a query per
//! subscriber per append. Here the process reads each event once ([`carnet_store::subscribe`]:
//! woken by the store's append signal, which PostgreSQL's LISTEN/NOTIFY feeds with the appends
//! of every instance, and polling as a fallback) and each subscription only filters what it is
//! handed, in log order.
//!
//! Decisions a newcomer must know:
//! - **From the head.** The feed starts after the last event committed when the application
//!   builds: subscriptions are about what happens from now on, and the history is the queries'
//!   business. The store has no "head" call, so [`head`] finds it with `read_all` (see there).
//! - **No payloads.** A [`LiveEvent`] is what the log says about an event (stream, type,
//!   version, times, actor), never its payload: payloads can hold personal data, and what the
//!   feed does not carry no subscription can leak.
//! - **Lag is loud.** The channel keeps [`CAPACITY`] events; a subscriber further behind gets
//!   `RecvError::Lagged` and its subscription ends with `SUBSCRIPTION_LAGGED`, so the client
//!   knows to subscribe again (and re-read) instead of silently missing changes.
//! - **Shutdown.** [`LiveFeed::stop`] ends the follower; subscriptions then complete and the
//!   WebSocket connections close with 1001 (going away), so that clients reconnect to another
//!   instance while this one finishes its in-flight requests.

use carnet_store::{Actor, Checkpoint, EventStore, RecordedEvent, StoreError, StreamId};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// Events kept for subscribers that are behind: about a minute of a busy lab's writes, and
/// far more than a burst of one command (a few events). A subscriber further behind has
/// lost its place (see the module doc).
pub const CAPACITY: usize = 4096;
/// Events read from the log per query.
const BATCH: usize = 500;
/// Fallback poll: wake-ups come from the store's append signal (NOTIFY across instances), this
/// only bounds the delay when a notification is lost.
const POLL: Duration = Duration::from_secs(1);

/// What subscriptions learn about a committed event: everything but its payload.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveEvent {
    pub global_position: i64,
    pub stream_id: StreamId,
    pub stream_version: u64,
    pub event_type: String,
    /// Business time, as the user said.
    pub occurred_at: DateTime<Utc>,
    /// When the log recorded it.
    pub recorded_at: DateTime<Utc>,
    pub actor: Actor,
}

impl From<RecordedEvent> for LiveEvent {
    fn from(e: RecordedEvent) -> Self {
        Self {
            global_position: e.global_position,
            stream_id: e.stream_id,
            stream_version: e.stream_version,
            event_type: e.event_type,
            occurred_at: e.metadata.occurred_at,
            recorded_at: e.recorded_at,
            actor: e.metadata.actor,
        }
    }
}

/// The process's follower of the global log. Cheap to clone (shared).
#[derive(Clone)]
pub struct LiveFeed {
    inner: Arc<Inner>,
}

struct Inner {
    /// Weak, so that the channel closes when the follower ends: subscriptions then complete
    /// instead of waiting forever on a feed that is gone.
    events: broadcast::WeakSender<Arc<LiveEvent>>,
    stopping: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    /// Where the follower stands: after the last event it broadcast.
    position: Arc<Mutex<Checkpoint>>,
}

impl LiveFeed {
    /// Finds the head of the log and starts following it from there.
    pub async fn start<S: EventStore>(store: S) -> Result<Self, StoreError> {
        Self::start_with(store, CAPACITY).await
    }

    /// [`Self::start`] with a channel of `capacity` events (tests make lag easy to provoke).
    pub async fn start_with<S: EventStore>(store: S, capacity: usize) -> Result<Self, StoreError> {
        let from = head(&store).await?;
        let (sender, _) = broadcast::channel(capacity);
        let (stopping, stop) = watch::channel(false);
        let events = sender.downgrade();
        let position = Arc::new(Mutex::new(from));
        let task = tokio::spawn(follow(store, from, sender, stop, position.clone()));
        Ok(Self { inner: Arc::new(Inner { events, stopping, task: Mutex::new(Some(task)), position }) })
    }

    /// After the last event the follower broadcast.
    pub fn position(&self) -> Checkpoint {
        self.inner.position.lock().map(|p| *p).unwrap_or(Checkpoint::START)
    }

    /// Whether the follower still runs (it ends only when stopped, or if it panicked).
    pub fn is_following(&self) -> bool {
        self.inner.task.lock().is_ok_and(|task| task.as_ref().is_some_and(|t| !t.is_finished()))
    }

    /// How many committed events the follower has yet to broadcast, counted up to `bound + 1`
    /// (one bounded read: readiness asks it often).
    pub async fn backlog<S: EventStore>(&self, store: &S, bound: usize) -> Result<usize, StoreError> {
        Ok(store.read_all(self.position(), bound + 1).await?.len())
    }

    /// Every event committed from now on, in log order. After [`Self::stop`], a receiver that
    /// is already closed.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        match self.inner.events.upgrade() {
            Some(sender) => sender.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    /// Turns `true` when the application starts shutting down: long-lived connections close.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.inner.stopping.subscribe()
    }

    /// Stops following the log and waits for the follower to end. Idempotent.
    pub async fn stop(&self) {
        self.inner.stopping.send_replace(true);
        let task = self.inner.task.lock().ok().and_then(|mut task| task.take());
        if let Some(task) = task
            && let Err(e) = task.await
            && e.is_panic()
        {
            tracing::error!("the live feed panicked");
        }
    }
}

/// The follower: reads the log after `from` and broadcasts each event until told to stop.
async fn follow<S: EventStore>(
    store: S,
    from: Checkpoint,
    sender: broadcast::Sender<Arc<LiveEvent>>,
    mut stop: watch::Receiver<bool>,
    position: Arc<Mutex<Checkpoint>>,
) {
    let events = carnet_store::subscribe(store, from, BATCH, POLL);
    let mut events = std::pin::pin!(events);
    tracing::debug!(?from, "live feed started");
    loop {
        tokio::select! {
            // a dropped sender means the application is gone: stop as well
            _ = stop.wait_for(|stopping| *stopping) => break,
            next = events.next() => match next {
                Some(Ok(event)) => {
                    metrics::counter!(crate::metrics::LIVE_EVENTS).increment(1);
                    let at = event.checkpoint();
                    // no receiver is not an error: nobody is subscribed right now
                    let _ = sender.send(Arc::new(LiveEvent::from(event)));
                    if let Ok(mut position) = position.lock() {
                        *position = at;
                    }
                }
                // the store's subscription waits a poll interval before the next read
                Some(Err(e)) => tracing::warn!(error = %e, "live feed: reading the log failed; retrying"),
                None => break,
            },
        }
    }
    tracing::debug!("live feed stopped");
}

/// The checkpoint after the last event readable now: where a follower that wants only new
/// events starts.
///
/// The store has no call for it, and reading the whole log to its end would cost a full scan
/// at every start. So this searches for it with `read_all(after, 1)` (an index lookup): the
/// smallest transaction id `t` with nothing readable after `(t, i64::MAX)`. About 64 tiny
/// queries whatever the size of the log. A transaction still running when it looks has a
/// larger id than any readable one (`read_all` holds back everything from the oldest running
/// transaction on), so its events come after the result and reach subscribers.
pub async fn head<S: EventStore>(store: &S) -> Result<Checkpoint, StoreError> {
    let after = |transaction_id| Checkpoint { transaction_id, global_position: i64::MAX };
    let Some(first) = store.read_all(Checkpoint::START, 1).await?.into_iter().next() else {
        return Ok(Checkpoint::START);
    };
    let (mut low, mut high) = (first.transaction_id, i64::MAX);
    while low < high {
        let middle = low + (high - low) / 2;
        if store.read_all(after(middle), 1).await?.is_empty() {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    Ok(after(low))
}

#[cfg(test)]
mod tests {
    use super::*;
    use carnet_store::{ExpectedVersion, Metadata, NewEvent, SqliteStore};
    use tokio::sync::broadcast::error::RecvError;

    async fn store() -> (carnet_testkit::FreshSqlite, SqliteStore) {
        let db = carnet_testkit::sqlite().await;
        let store = db.store.clone();
        (db, store)
    }

    async fn append(store: &SqliteStore, stream: &StreamId, event_type: &str) {
        let actor = Actor { id: "alice".into(), issuer: "test".into() };
        let event = NewEvent::new(event_type, serde_json::json!({ "secret": "personal data" }));
        store.append(stream, ExpectedVersion::Any, &[event], &Metadata::new(actor)).await.unwrap();
    }

    async fn next(rx: &mut broadcast::Receiver<Arc<LiveEvent>>) -> Result<Arc<LiveEvent>, RecvError> {
        tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("an event within 10 s")
    }

    #[tokio::test]
    async fn the_head_is_after_the_last_event_and_start_on_an_empty_log() {
        let (_db, store) = store().await;
        assert_eq!(head(&store).await.unwrap(), Checkpoint::START);
        let stream = StreamId::new("project", uuid::Uuid::now_v7());
        for _ in 0..5 {
            append(&store, &stream, "Something").await;
        }
        let head = head(&store).await.unwrap();
        assert!(store.read_all(head, 10).await.unwrap().is_empty(), "nothing after the head");
        let all = store.read_all(Checkpoint::START, 10).await.unwrap();
        assert!(all.iter().all(|e| e.checkpoint() < head), "every event before it");
    }

    #[tokio::test]
    async fn subscribers_get_new_events_only_in_order_without_payload_and_close_on_stop() {
        let (_db, store) = store().await;
        let stream = StreamId::new("project", uuid::Uuid::now_v7());
        append(&store, &stream, "Old").await;
        let feed = LiveFeed::start(store.clone()).await.unwrap();
        let mut rx = feed.subscribe();
        append(&store, &stream, "First").await;
        append(&store, &stream, "Second").await;
        let first = next(&mut rx).await.unwrap();
        assert_eq!((first.event_type.as_str(), first.stream_version), ("First", 2), "the history is not replayed");
        assert_eq!(first.actor.id, "alice");
        assert_eq!(next(&mut rx).await.unwrap().event_type, "Second");

        let mut stopping = feed.stopping();
        feed.stop().await;
        assert!(*stopping.borrow_and_update(), "connections learn that the server stops");
        assert!(matches!(next(&mut rx).await, Err(RecvError::Closed)), "subscriptions complete");
        assert!(matches!(next(&mut feed.subscribe()).await, Err(RecvError::Closed)), "and new ones at once");
        feed.stop().await;
    }

    #[tokio::test]
    async fn the_backlog_counts_what_the_follower_has_not_broadcast_yet() {
        let (_db, store) = store().await;
        let feed = LiveFeed::start(store.clone()).await.unwrap();
        let mut rx = feed.subscribe();
        let stream = StreamId::new("project", uuid::Uuid::now_v7());
        append(&store, &stream, "Seen").await;
        next(&mut rx).await.unwrap();
        // the position moves right after the broadcast: wait for it rather than race it
        for _ in 0..500 {
            if feed.backlog(&store, 10).await.unwrap() == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(feed.backlog(&store, 10).await.unwrap(), 0, "caught up");
        assert!(feed.is_following());

        feed.stop().await;
        assert!(!feed.is_following(), "a stopped feed is not following");
        for _ in 0..3 {
            append(&store, &stream, "Missed").await;
        }
        assert_eq!(feed.backlog(&store, 10).await.unwrap(), 3, "what it did not deliver");
        assert_eq!(feed.backlog(&store, 1).await.unwrap(), 2, "counted up to the bound and one more");
    }

    #[tokio::test]
    async fn a_subscriber_too_far_behind_is_told_it_lagged() {
        let (_db, store) = store().await;
        let feed = LiveFeed::start_with(store.clone(), 2).await.unwrap();
        let mut slow = feed.subscribe();
        let mut fast = feed.subscribe();
        let stream = StreamId::new("session", uuid::Uuid::now_v7());
        for version in 1..=4 {
            append(&store, &stream, "Tick").await;
            assert_eq!(next(&mut fast).await.unwrap().stream_version, version, "a subscriber that keeps up");
        }
        assert!(matches!(next(&mut slow).await, Err(RecvError::Lagged(2))), "never a silent gap");
        feed.stop().await;
    }
}
