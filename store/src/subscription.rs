//! A live subscription to the global log: catch up from a checkpoint, then follow.
//!
//! It is only `read_all` in a loop: read a batch after the last checkpoint; when there is
//! nothing new, wait for the store's append signal or a short poll interval (which also catches
//! appends made through another instance). Because `read_all` never returns an event while an
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
        idle: bool,
    }
    let wake = store.appended();
    let state = State { store, after: from, buffer: VecDeque::new(), wake, idle: false };
    futures::stream::unfold(state, move |mut s| async move {
        loop {
            if let Some(event) = s.buffer.pop_front() {
                s.after = event.checkpoint();
                return Some((Ok(event), s));
            }
            if s.idle {
                let _ = tokio::time::timeout(poll, s.wake.changed()).await;
            }
            // mark the signal seen before reading, so an append during the read wakes us again
            s.wake.borrow_and_update();
            match s.store.read_all(s.after, batch).await {
                Ok(events) => {
                    s.idle = events.is_empty();
                    s.buffer.extend(events);
                }
                Err(e) => {
                    s.idle = true;
                    return Some((Err(e), s));
                }
            }
        }
    })
}
