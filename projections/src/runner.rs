//! Following the global log from a checkpoint, and rebuilding read models from the whole log.

use crate::model::Model;
use crate::person::{PersonModel, PersonProjector};
use crate::project::{ProjectModel, ProjectProjector};
use crate::schema::{self, SHADOW};
use crate::session::{SessionModel, SessionProjector};
use crate::sql::{self, Arg, Conn, Exclusive, Tx};
use crate::{ProjectionError, ProjectionStore, Projector};
use carnet_store::{Checkpoint, Codec, Metadata, RecordedEvent, StreamId, TxConn};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::Deserialize;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use uuid::Uuid;

/// Events read per transaction by [`catch_up`] and [`rebuild`].
pub const DEFAULT_BATCH_SIZE: usize = 1000;

/// Entities a rebuild's fill holds in memory at most, per read model ([`rebuild_with`]), with
/// four times as many timeline versions not written yet: more than the lab's log of ten years
/// makes; past it, the least recently changed are written and let go (and the versions
/// written). About 430 MB at the peak for a log of 1 M events, 36 000 projects and 9 000
/// sessions (BENCHMARKS.md).
pub const HELD: usize = 100_000;

// ---------------------------------------------------------------------------------------------
// The read models

/// The read models a rebuild knows, by the names the command line gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadModel {
    Projects,
    Sessions,
    People,
}

impl ReadModel {
    pub const ALL: [Self; 3] = [Self::Projects, Self::Sessions, Self::People];

    /// `projects`, `sessions`, `people`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Projects => "projects",
            Self::Sessions => "sessions",
            Self::People => "people",
        }
    }

    /// Its tables, main table first.
    pub(crate) fn tables(self) -> Vec<&'static str> {
        match self {
            Self::Projects => ProjectModel::tables(),
            Self::Sessions => SessionModel::tables(),
            Self::People => PersonModel::tables(),
        }
    }

    /// Its projector, writing to the tables named with `suffix`, holding up to `holding`
    /// entities between batches if given (`model::ModelProjector::holding`).
    pub(crate) fn projector(self, codec: Arc<Codec>, suffix: &str, holding: Option<usize>) -> Box<dyn Projector> {
        match self {
            Self::Projects => Box::new(ProjectProjector::with_suffix(codec, suffix, holding)),
            Self::Sessions => Box::new(SessionProjector::with_suffix(codec, suffix, holding)),
            Self::People => Box::new(PersonProjector::with_suffix(codec, suffix, holding)),
        }
    }

    /// The name of its rebuild's advisory lock (`project__rebuild`).
    fn rebuild_name(self) -> String {
        format!("{}{SHADOW}", self.tables()[0])
    }
}

impl fmt::Display for ReadModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ReadModel {
    type Err = ProjectionError;

    fn from_str(raw: &str) -> Result<Self, ProjectionError> {
        Self::ALL.into_iter().find(|m| m.name() == raw.trim()).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|m| m.name()).collect();
            ProjectionError::InvalidArgument(format!(
                "« {raw} » n'est pas un modèle de lecture ; les modèles sont : {}",
                names.join(", ")
            ))
        })
    }
}

/// Several projectors applied in turn to the same batch, in the same transaction.
pub(crate) struct Several(pub Vec<Box<dyn Projector>>);

impl Projector for Several {
    fn apply<'c>(
        &'c self,
        mut tx: TxConn<'c>,
        events: &'c [RecordedEvent],
    ) -> BoxFuture<'c, Result<usize, ProjectionError>> {
        Box::pin(async move {
            let mut applied = 0;
            for projector in &self.0 {
                applied += projector.apply(sql::reborrow(&mut tx), events).await?;
            }
            Ok(applied)
        })
    }

    fn finish<'c>(&'c self, mut tx: TxConn<'c>) -> BoxFuture<'c, Result<(), ProjectionError>> {
        Box::pin(async move {
            for projector in &self.0 {
                projector.finish(sql::reborrow(&mut tx)).await?;
            }
            Ok(())
        })
    }
}

/// How far a [`catch_up`] or a [`rebuild`] went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CatchUpProgress {
    /// Events of the log read (of every category).
    pub events_read: u64,
    /// Events the projector applied.
    pub events_applied: u64,
    /// Where the projection stands now.
    pub checkpoint: Checkpoint,
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

/// Where the projection `name` stands (`Checkpoint::START` if it never ran).
pub async fn checkpoint<S: ProjectionStore>(store: &S, name: &str) -> Result<Checkpoint, ProjectionError> {
    let sql = "select transaction_id, global_position from projection_checkpoint where name = $1";
    let rows = sql::read_ints(store.db(), sql, vec![name_arg(name)]).await?;
    Ok(rows.first().map_or(Checkpoint::START, |&(t, g)| Checkpoint { transaction_id: t, global_position: g }))
}

fn name_arg(name: &str) -> Arg {
    Arg::Text(name.to_owned())
}

/// The checkpoint of `name` inside a transaction, created if missing and locked until commit
/// (on SQLite the transaction holds the write lock from here on).
async fn lock_checkpoint(conn: &mut Conn<'_>, name: &str) -> Result<Checkpoint, sqlx::Error> {
    let insert = "insert into projection_checkpoint (name, transaction_id, global_position, updated_at) \
                  values ($1, 0, 0, $2) on conflict (name) do nothing";
    sql::execute(conn, insert, vec![name_arg(name), Arg::Time(Utc::now())]).await?;
    let select = format!(
        "select transaction_id, global_position from projection_checkpoint where name = $1{}",
        conn.backend().for_update()
    );
    let rows = sql::fetch_ints(conn, &select, vec![name_arg(name)]).await?;
    Ok(rows.first().map_or(Checkpoint::START, |&(t, g)| Checkpoint { transaction_id: t, global_position: g }))
}

async fn save_checkpoint(conn: &mut Conn<'_>, name: &str, at: Checkpoint) -> Result<(), sqlx::Error> {
    let update = "update projection_checkpoint set transaction_id = $2, global_position = $3, updated_at = $4 \
                  where name = $1";
    let args = vec![name_arg(name), Arg::Int(at.transaction_id), Arg::Int(at.global_position), Arg::Time(Utc::now())];
    sql::execute(conn, update, args).await?;
    Ok(())
}

async fn delete_checkpoint(conn: &mut Conn<'_>, name: &str) -> Result<(), sqlx::Error> {
    sql::execute(conn, "delete from projection_checkpoint where name = $1", vec![name_arg(name)]).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Catch-up

/// Applies the global log after the checkpoint of `name` to `projector`, `batch_size` events at
/// a time, until it has read everything committed; returns where it stopped. Each batch and the
/// new checkpoint commit in one transaction, so a crash costs at most the batch in flight and
/// never applies an event twice. Events are read before the transaction starts (on PostgreSQL
/// the store withholds events of transactions younger than the oldest running one, which would
/// otherwise include this one); the checkpoint is then locked and, if another runner moved it
/// meanwhile, the batch is read again from there. While a full batch is applied, the next one is
/// read on another connection, in a task of its own (a rebuild's Rust and database work
/// overlap, and its decoding can take another core); it is used only if it is not empty, and
/// only from the checkpoint it was read after.
pub async fn catch_up<S: ProjectionStore>(
    store: &S,
    name: &str,
    projector: &dyn Projector,
    batch_size: usize,
    on_batch: &mut (dyn FnMut(CatchUpProgress) + Send),
) -> Result<CatchUpProgress, ProjectionError> {
    let batch_size = batch_size.max(1);
    let mut progress = CatchUpProgress { checkpoint: checkpoint(store, name).await?, ..Default::default() };
    // the batch after this one, read while this one is applied (a full batch says more may
    // follow); empty, it proves nothing — the log is read again once the batch is committed
    let mut ahead: Vec<RecordedEvent> = vec![];
    loop {
        let events = match std::mem::take(&mut ahead) {
            read if !read.is_empty() => read,
            _ => store.read_all(progress.checkpoint, batch_size).await?,
        };
        let Some(last) = events.last().map(RecordedEvent::checkpoint) else {
            return Ok(progress);
        };
        let mut tx = Tx::begin(store.db()).await?;
        let current = lock_checkpoint(&mut tx.conn(), name).await?;
        if current != progress.checkpoint {
            tracing::debug!(projection = name, "checkpoint moved by another runner, reading again");
            progress.checkpoint = current;
            continue; // dropping the transaction rolls it back
        }
        // on another connection: on PostgreSQL it sees only transactions older than this one's
        // (see above), so it may come back short or empty, never wrong; in a task of its own,
        // so that decoding the rows can take another core while this batch is applied
        let read_ahead = (events.len() == batch_size).then(|| {
            let store = store.clone();
            AbortOnDrop(tokio::spawn(async move { store.read_all(last, batch_size).await }))
        });
        let applied = projector.apply(tx.tx_conn(), &events).await?;
        save_checkpoint(&mut tx.conn(), name, last).await?;
        tx.commit().await?;
        if let Some(mut read) = read_ahead {
            ahead = match (&mut read.0).await {
                Ok(read) => read?,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            };
        }
        progress.events_read += events.len() as u64;
        progress.events_applied += applied as u64;
        progress.checkpoint = last;
        on_batch(progress);
    }
}

/// A task that stops when its handle goes (a batch that fails does not leave its read-ahead
/// running).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Rebuild

/// Rebuilds one read model (`which`), or all of them (`None`), from the whole log without
/// taking them away from readers:
///
/// 1. creates empty shadow tables (`project__rebuild`, …; leftovers of an interrupted rebuild
///    are dropped first), copied from the live ones as the database's catalog has them;
/// 2. fills them with [`catch_up`] — one pass over the log for all the read models rebuilt —
///    under the checkpoint `<main tables joined by +>__rebuild` (`project__rebuild` for the
///    projects alone), calling `on_batch` after each batch (for a progress bar), while
///    commands keep landing in the live tables. Its projectors *hold* the entities in memory
///    between batches, up to [`HELD`] per read model (the least recently changed let go and
///    written past it), and write the rest at the end of the fill: an entity is written about
///    once, not once per batch its events fall in;
/// 3. gives them the live tables' secondary indexes (PostgreSQL; SQLite, which cannot rename an
///    index, gets them at the swap) and, on PostgreSQL, their planner statistics — the tables
///    side by side, on connections of their own;
/// 4. in one transaction: locks the live tables (PostgreSQL; on SQLite the transaction holds
///    the only writer), applies the events committed since step 2 — read directly on that
///    transaction, so none can be missing — renames the shadow tables in, drops the old ones;
/// 5. scrubs the database files of the old tables' bytes (`carnet_store::personal_data::scrub`).
///
/// A command that commits during step 4 waits for it and then writes to the new tables, whose
/// rows it finds at the version it expects. Read models that refer to one another's tables in
/// their queries (sessions to `project_academie`) are swapped together when rebuilt together,
/// and each alone stays consistent with the other's live tables. On PostgreSQL a second
/// rebuild of a same read model started meanwhile (from any instance) is refused.
pub async fn rebuild_with<S: ProjectionStore>(
    store: &S,
    codec: Arc<Codec>,
    which: Option<ReadModel>,
    batch_size: usize,
    on_batch: &mut (dyn FnMut(CatchUpProgress) + Send),
) -> Result<CatchUpProgress, ProjectionError> {
    rebuild_holding(store, codec, which, batch_size, HELD, on_batch).await
}

/// [`rebuild_with`], its fill holding at most `held` entities per read model in memory
/// (at least one): fewer costs the rebuild writes and reads, not its result.
pub async fn rebuild_holding<S: ProjectionStore>(
    store: &S,
    codec: Arc<Codec>,
    which: Option<ReadModel>,
    batch_size: usize,
    held: usize,
    on_batch: &mut (dyn FnMut(CatchUpProgress) + Send),
) -> Result<CatchUpProgress, ProjectionError> {
    let models: Vec<ReadModel> = which.map_or_else(|| ReadModel::ALL.to_vec(), |m| vec![m]);
    // one rebuild of a read model at a time, across instances (on SQLite, run one at a time)
    let names: Vec<String> = models.iter().map(|m| m.rebuild_name()).collect();
    let owner = Exclusive::take(store.db(), &names).await?.map_err(|name| ProjectionError::Refused {
        rule: "rebuild.in_progress",
        message: format!("une reconstruction ({name}) est déjà en cours"),
    })?;
    let result = rebuild_tables(store, codec, &models, batch_size, held, on_batch).await;
    owner.release().await;
    let progress = result?;
    // the old tables' pages were zeroed as they were freed (SQLite's secure_delete), but the WAL
    // still holds their images: checkpoint and truncate it (carnet_store::personal_data::scrub)
    store.scrub(&[]).await?;
    Ok(progress)
}

async fn rebuild_tables<S: ProjectionStore>(
    store: &S,
    codec: Arc<Codec>,
    models: &[ReadModel],
    batch_size: usize,
    held: usize,
    on_batch: &mut (dyn FnMut(CatchUpProgress) + Send),
) -> Result<CatchUpProgress, ProjectionError> {
    let tables: Vec<&str> = models.iter().flat_map(|m| m.tables()).collect();
    let mains: Vec<&str> = models.iter().map(|m| m.tables()[0]).collect();
    let checkpoint_name = format!("{}{SHADOW}", mains.join("+"));
    // the fill, the only writer and reader of the shadow tables, holds the entities between
    // batches (a batch that fails ends the rebuild, and the projector with it); the swap, which
    // may be tried again after a rollback, writes each batch
    let projectors = |holding| Several(models.iter().map(|m| m.projector(codec.clone(), SHADOW, holding)).collect());
    let fill = projectors(Some(held));

    let mut tx = Tx::begin(store.db()).await?;
    schema::create(&mut tx.conn(), &tables, SHADOW).await?;
    delete_checkpoint(&mut tx.conn(), &checkpoint_name).await?;
    tx.commit().await?;

    let mut progress = catch_up(store, &checkpoint_name, &fill, batch_size, on_batch).await?;
    // what the fill holds is written before anything reads the shadow tables (the checkpoint
    // catch-up saved is theirs once it is), each read model in a transaction of its own, side
    // by side
    futures::future::try_join_all(fill.0.iter().map(|projector| async move {
        let mut tx = Tx::begin(store.db()).await?;
        projector.finish(tx.tx_conn()).await?;
        tx.commit().await?;
        Ok::<(), ProjectionError>(())
    }))
    .await?;
    drop(fill);
    let shadow = projectors(None);

    schema::index_shadow(store.db(), &tables).await?;

    // A lock wait that times out leaves the shadow tables as they were: try again.
    let mut attempt = 0;
    loop {
        match swap(store, models, &tables, &checkpoint_name, &shadow, batch_size, &mut progress).await {
            Err(ProjectionError::Database(e)) if sql::lock_timed_out(&e) && attempt < 5 => {
                attempt += 1;
                tracing::info!(attempt, "read-model tables busy, trying the swap again");
            }
            other => return other.map(|()| progress),
        }
    }
}

async fn swap<S: ProjectionStore>(
    store: &S,
    models: &[ReadModel],
    tables: &[&str],
    checkpoint_name: &str,
    shadow: &dyn Projector,
    batch_size: usize,
    progress: &mut CatchUpProgress,
) -> Result<(), ProjectionError> {
    let mut tx = Tx::begin(store.db()).await?;
    schema::lock_live(&mut tx.conn(), tables, 10_000).await?;
    let mut after = lock_checkpoint(&mut tx.conn(), checkpoint_name).await?;
    let (mut read, mut applied) = (0, 0);
    loop {
        let events = committed_after(&mut tx.conn(), after, batch_size).await?;
        let Some(last) = events.last().map(RecordedEvent::checkpoint) else { break };
        applied += shadow.apply(tx.tx_conn(), &events).await? as u64;
        read += events.len() as u64;
        after = last;
    }
    schema::swap_in(&mut tx.conn(), tables).await?;
    delete_checkpoint(&mut tx.conn(), checkpoint_name).await?;
    // what a migration left for a rebuild to fill is filled now
    let names: Vec<&str> = models.iter().map(|m| m.name()).collect();
    crate::timeline::clear_rebuild_due(&mut tx.conn(), &names).await?;
    tx.commit().await?;
    progress.events_read += read;
    progress.events_applied += applied;
    progress.checkpoint = after;
    Ok(())
}

/// What `json_object` gives back for one event row.
#[derive(Deserialize)]
struct EventRow {
    global_position: i64,
    transaction_id: i64,
    stream_id: String,
    stream_version: u64,
    event_id: Uuid,
    event_type: String,
    schema_version: i32,
    payload: serde_json::Value,
    metadata: Metadata,
    recorded_at: DateTime<Utc>,
}

/// Events after `after` in reading order, as the transaction sees them: everything committed.
/// Used only once the live tables are locked, so every transaction that could still add to
/// them is either committed (and read here) or waiting for the lock (and writes after the swap).
/// (The store's `read_all` would withhold the events of any transaction younger than the oldest
/// one running, such as a command waiting for this lock.)
async fn committed_after(
    conn: &mut Conn<'_>,
    after: Checkpoint,
    limit: usize,
) -> Result<Vec<RecordedEvent>, ProjectionError> {
    let b = conn.backend();
    let object = b.json_object(&[
        ("global_position", "global_position".into()),
        ("transaction_id", "transaction_id".into()),
        ("stream_id", "stream_id".into()),
        ("stream_version", "stream_version".into()),
        ("event_id", "event_id".into()),
        ("event_type", "event_type".into()),
        ("schema_version", "schema_version".into()),
        ("payload", b.json_column("payload")),
        ("metadata", b.json_column("metadata")),
        ("recorded_at", "recorded_at".into()),
    ]);
    let sql = format!(
        "select {} from events where (transaction_id, global_position) > ($1, $2) \
         order by transaction_id, global_position limit $3",
        b.json_text(object)
    );
    let args = vec![Arg::Int(after.transaction_id), Arg::Int(after.global_position), Arg::Int(limit as i64)];
    let texts = sql::fetch_texts(conn, &sql, args).await?;
    texts
        .iter()
        .map(|text| {
            let row: EventRow =
                serde_json::from_str(text).map_err(|e| ProjectionError::Corrupt(format!("an event row: {e}")))?;
            Ok(RecordedEvent {
                global_position: row.global_position,
                transaction_id: row.transaction_id,
                stream_id: StreamId::parse(&row.stream_id)?,
                stream_version: row.stream_version,
                event_id: row.event_id,
                event_type: row.event_type,
                schema_version: row.schema_version,
                payload: row.payload,
                metadata: row.metadata,
                recorded_at: row.recorded_at,
            })
        })
        .collect()
}
