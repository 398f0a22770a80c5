//! A live subscription to the global log: catch up from a checkpoint, then follow.
//!
//! It is only `read_all` in a loop: read a batch after the last checkpoint; when there is
//! nothing new, wait for the store's append signal or the poll interval (which also catches
//! appends made through another instance without notifications). A wake-up whose events are not
//! readable yet (held back behind an older open transaction) is followed by quick re-reads,
//! backing off to one second, until they are. Because `read_all` never returns an event while an
//! earlier one may still commit, the subscriber sees every event exactly once, in order.

use crate::contract::EventStore;
use crate::error::StoreError;
use crate::model::{Checkpoint, RecordedEvent};
use futures::Stream;
use std::collections::VecDeque;
use std::time::Duration;

/// Events after `from`, forever. Errors are yielded, and the next poll resumes from the last
/// event delivered.
pub fn subscribe<S: EventStore>(
    store: S,
    from: Checkpoint,
    batch: usize,
    poll: Duration,
) -> impl Stream<Item = Result<RecordedEvent, StoreError>> + Send {
    struct State<S> {
        store: S,
        after: Checkpoint,
        buffer: VecDeque<RecordedEvent>,
        wake: tokio::sync::watch::Receiver<()>,
        /// How long to wait before the next read; `None` right after a read that found events.
        wait: Option<Duration>,
        /// A wake-up announced events that were not readable yet.
        pending: bool,
    }
    /// After a wake-up that found nothing yet (on PostgreSQL an older transaction may still
    /// hold the new events back), read again soon, backing off from this...
    const RETRY_FIRST: Duration = Duration::from_millis(20);
    /// ...up to this, until events show up (a late notification for events already read costs
    /// a read a second until the next event).
    const RETRY_MAX: Duration = Duration::from_secs(1);
    let wake = store.appended();
    let state = State { store, after: from, buffer: VecDeque::new(), wake, wait: None, pending: false };
    futures::stream::unfold(state, move |mut s| async move {
        loop {
            if let Some(event) = s.buffer.pop_front() {
                s.after = event.checkpoint();
                return Some((Ok(event), s));
            }
            let mut woken = false;
            if let Some(wait) = s.wait {
                woken = matches!(tokio::time::timeout(wait, s.wake.changed()).await, Ok(Ok(())));
            }
            // mark the signal seen before reading, so an append during the read wakes us again
            s.wake.borrow_and_update();
            match s.store.read_all(s.after, batch).await {
                Ok(events) if events.is_empty() => {
                    s.pending |= woken;
                    s.wait = Some(match s.wait {
                        _ if woken => RETRY_FIRST,
                        Some(w) if s.pending => (w * 2).min(RETRY_MAX).min(poll),
                        _ => poll,
                    });
                }
                Ok(events) => {
                    s.pending = false;
                    s.wait = None;
                    s.buffer.extend(events);
                }
                Err(e) => {
                    s.wait = Some(poll);
                    return Some((Err(e), s));
                }
            }
        }
    })
}
