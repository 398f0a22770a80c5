//! The log's Merkle tree as stored (migration `0013_log_tree`; the hashing is
//! [`super::merkle`]'s): one leaf per event, in reading order, the leaf data being the event's
//! stored `hash`.
//!
//! - **Off the append path.** [`extend`] adds the committed events the tree does not hold yet,
//!   in one transaction, reading like the catch-up readers (`read_all`: on PostgreSQL only
//!   events of transactions older than the oldest still running), so that no event can ever
//!   commit later at a place the tree already covers. Appends neither wait for it nor write
//!   anything more. The server's checkpointer calls it, and so does `carnet checkpoint`.
//! - **One writer at a time.** `extend` first locks the `log_tree` row (an `update … returning`),
//!   so two instances never extend the same tree twice; the second sees the first's size.
//! - **Cost.** Adding n events to a tree of N reads O(log N) nodes (its right edge) and writes
//!   about 2n nodes and n leaves; a root or a proof reads O(log N) nodes in one statement.
//! - **Trust.** The tables are only an index: `verify` recomputes the tree from the events and
//!   compares, and the signed checkpoints fix its roots outside the database's control.

use super::Hash;
use super::merkle::{self, Frontier, Node};
use crate::any::{AnyStore, on_pool};
use crate::arg::{Arg, BindArgs};
use crate::error::StoreError;
use crate::model::Checkpoint;
use std::collections::{BTreeSet, HashMap};

/// The tree as far as it goes: its size, its root and the last event in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeHead {
    pub size: u64,
    pub root: Hash,
    /// The last event in the tree, in reading order ([`Checkpoint::START`] while empty).
    pub last: Checkpoint,
}

/// Rows per insert statement (3 values each, well under both backends' limits).
const ROWS_PER_INSERT: usize = 500;

/// `(level = $a and idx = $b) or …` for `nodes`, binds from `$first`.
fn nodes_condition(nodes: &[Node], first: usize, args: &mut Vec<Arg>) -> String {
    let mut conditions = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        conditions.push(format!("(level = ${} and idx = ${})", first + 2 * i, first + 2 * i + 1));
        args.push(Arg::Int(i64::from(node.level)));
        args.push(Arg::Int(node.index as i64));
    }
    if conditions.is_empty() { "false".into() } else { conditions.join(" or ") }
}

/// Turns stored `(level, idx, hash)` rows into hashes by node; a hash of the wrong length (a
/// database someone altered) is refused.
fn by_node(rows: Vec<(i64, i64, Vec<u8>)>) -> Result<HashMap<Node, Hash>, StoreError> {
    rows.into_iter()
        .map(|(level, index, hash)| {
            let node = Node { level: level as u32, index: index as u64 };
            let hash: Hash = hash
                .try_into()
                .map_err(|_| StoreError::unexpected(format!("the tree node {node:?} has no 32-byte hash")))?;
            Ok((node, hash))
        })
        .collect()
}

/// The nodes' hashes, one statement; a node missing is an error naming it.
async fn read_nodes(store: &AnyStore, nodes: &BTreeSet<Node>) -> Result<HashMap<Node, Hash>, StoreError> {
    if nodes.is_empty() {
        return Ok(HashMap::new());
    }
    let list: Vec<Node> = nodes.iter().copied().collect();
    let mut args = vec![];
    let sql = format!("select level, idx, hash from log_tree_nodes where {}", nodes_condition(&list, 1, &mut args));
    let rows =
        on_pool!(store, reader pool => sqlx::query_as_with(&sql, backend::Db::bind_args(args)?).fetch_all(pool).await?);
    let found = by_node(rows)?;
    if let Some(missing) = list.iter().find(|n| !found.contains_key(n)) {
        return Err(StoreError::unexpected(format!(
            "the log's tree lacks its node at level {} index {}: run `carnet verify`",
            missing.level, missing.index
        )));
    }
    Ok(found)
}

/// Runs `compute` over the stored tree: once to learn which nodes it reads, then on them.
async fn over_stored<T>(
    store: &AnyStore,
    compute: impl Fn(&mut dyn FnMut(Node) -> Hash) -> T,
) -> Result<T, StoreError> {
    let needed = merkle::nodes_needed(|node| {
        compute(node);
    });
    let hashes = read_nodes(store, &needed).await?;
    Ok(compute(&mut |n| hashes[&n]))
}

/// How many leaves the tree holds, and its last event.
/// Migration 0013 writes the tree's one row; only someone emptying the table behind Carnet
/// removes it.
fn no_tree_row() -> StoreError {
    StoreError::unexpected(
        "the log's tree has no row in log_tree: the table was emptied behind Carnet's back (a database made by \
         `carnet migrate` has it)",
    )
}

async fn stored_size(store: &AnyStore) -> Result<(u64, Checkpoint), StoreError> {
    const SQL: &str = "select size, last_transaction_id, last_global_position from log_tree where id = 1";
    let row: Option<(i64, i64, i64)> = on_pool!(store, reader pool => sqlx::query_as(SQL).fetch_optional(pool).await?);
    let (size, transaction_id, global_position) = row.ok_or_else(no_tree_row)?;
    Ok((size.max(0) as u64, Checkpoint { transaction_id, global_position }))
}

/// The tree as stored now.
pub async fn head(store: &AnyStore) -> Result<TreeHead, StoreError> {
    let (size, last) = stored_size(store).await?;
    let root = over_stored(store, |node| merkle::root(size, node)).await?;
    Ok(TreeHead { size, root, last })
}

/// The root of the tree's first `size` leaves (`size` at most the tree's).
pub async fn root_at(store: &AnyStore, size: u64) -> Result<Hash, StoreError> {
    within(store, size).await?;
    over_stored(store, |node| merkle::root(size, node)).await
}

/// The inclusion proof of leaf `index` in the tree's first `size` leaves.
pub async fn inclusion_proof(store: &AnyStore, index: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
    within(store, size).await?;
    if index >= size {
        return Err(StoreError::InvalidInput { reason: format!("leaf {index} is not in a tree of {size} leaves") });
    }
    over_stored(store, |node| merkle::inclusion_proof(index, size, node)).await
}

/// The consistency proof from the tree's first `first` leaves to its first `second`.
pub async fn consistency_proof(store: &AnyStore, first: u64, second: u64) -> Result<Vec<Hash>, StoreError> {
    within(store, second).await?;
    if first > second {
        return Err(StoreError::InvalidInput {
            reason: format!("a tree of {first} leaves is not a prefix of one of {second}"),
        });
    }
    over_stored(store, |node| merkle::consistency_proof(first, second, node)).await
}

/// Refuses a size beyond the tree's.
async fn within(store: &AnyStore, size: u64) -> Result<(), StoreError> {
    let (stored, _) = stored_size(store).await?;
    if size > stored {
        return Err(StoreError::InvalidInput { reason: format!("the log's tree has {stored} leaves, not {size}") });
    }
    Ok(())
}

/// The leaf index of the event at `global_position`, once the tree holds it.
pub async fn leaf_index(store: &AnyStore, global_position: i64) -> Result<Option<u64>, StoreError> {
    const SQL: &str = "select leaf_index from log_leaves where global_position = $1";
    let index: Option<i64> =
        on_pool!(store, reader pool => sqlx::query_scalar(SQL).bind(global_position).fetch_optional(pool).await?);
    Ok(index.map(|i| i as u64))
}

/// Which event a leaf is looked up by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventRef {
    Position(i64),
    Id(uuid::Uuid),
}

/// An event's leaf in the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaf {
    /// From 0, in the log's reading order.
    pub index: u64,
    pub global_position: i64,
    /// The event's stored hash: the leaf's data.
    pub event_hash: Hash,
    /// Who wrote the event (its metadata's actor): whose receipt it is.
    pub actor: crate::Actor,
}

/// The event's leaf once the tree holds it.
pub async fn leaf_of(store: &AnyStore, event: EventRef) -> Result<Option<Leaf>, StoreError> {
    let (condition, arg) = match event {
        EventRef::Position(p) => ("e.global_position = $1", Arg::Int(p)),
        EventRef::Id(id) => ("e.event_id = $1", Arg::Uuid(id)),
    };
    let row: Option<(i64, i64, Option<Vec<u8>>, String)> = on_pool!(store, reader pool => {
        let sql = format!(
            "select l.leaf_index, e.global_position, e.hash, {} from events e \
             join log_leaves l on l.global_position = e.global_position where {condition}",
            backend::json_text("e.metadata")
        );
        sqlx::query_as_with(&sql, backend::Db::bind_args(vec![arg])?).fetch_optional(pool).await?
    });
    let Some((index, global_position, hash, metadata)) = row else { return Ok(None) };
    let event_hash = super::hash_column(hash)
        .ok_or_else(|| StoreError::unexpected(format!("the event at global position {global_position} has no hash")))?;
    let metadata: crate::Metadata = serde_json::from_str(&metadata).map_err(StoreError::unexpected)?;
    Ok(Some(Leaf { index: index as u64, global_position, event_hash, actor: metadata.actor }))
}

/// The events of leaves `from..to`, in leaf order, as `(leaf index, global position)`.
pub async fn leaves(store: &AnyStore, from: u64, to: u64) -> Result<Vec<(u64, i64)>, StoreError> {
    const SQL: &str = "select leaf_index, global_position from log_leaves where leaf_index >= $1 and leaf_index < $2 order by leaf_index";
    let rows: Vec<(i64, i64)> = on_pool!(store, reader pool => {
        sqlx::query_as(SQL).bind(from as i64).bind(to as i64).fetch_all(pool).await?
    });
    Ok(rows.into_iter().map(|(i, p)| (i as u64, p)).collect())
}

/// What [`root_from_events`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recomputed {
    /// The root of the tree of the first `size` events.
    Root(Hash),
    /// The log holds only this many events, fewer than asked.
    Short(u64),
}

/// The root of the tree of the log's first `size` events, recomputed from the events themselves
/// (their stored hashes, in reading order), not from the stored tree: what an auditor compares
/// with a checkpoint, since the tree's tables are only an index someone could leave untouched
/// while removing or replacing events.
pub async fn root_from_events(store: &AnyStore, size: u64) -> Result<Recomputed, StoreError> {
    use futures::TryStreamExt;
    let mut frontier = Frontier::default();
    let mut events = super::hashed_events(store, Checkpoint::START);
    while frontier.size() < size {
        let Some(event) = events.try_next().await? else { return Ok(Recomputed::Short(frontier.size())) };
        // a missing hash cannot match anything: the leaf of 32 0xff bytes
        frontier.push(merkle::leaf_hash(&event.hash.unwrap_or([0xff; 32])), &mut |_, _| {});
    }
    Ok(Recomputed::Root(frontier.root()))
}

/// Adds to the tree up to `max` committed events it does not hold yet, in reading order, in one
/// transaction; the tree after. Safe to run from several instances at once.
pub async fn extend(store: &AnyStore, max: usize) -> Result<TreeHead, StoreError> {
    on_pool!(store, writer pool => {
        let mut tx = pool.begin().await?;
        // the lock: whoever extends the tree holds this row until commit (on SQLite, this first
        // statement writes: the deferred transaction takes the write lock here, waiting its turn)
        let row: Option<(i64, i64, i64)> = sqlx::query_as(
            "update log_tree set size = size where id = 1 returning size, last_transaction_id, last_global_position",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let (size, transaction_id, global_position) = row.ok_or_else(no_tree_row)?;
        let size = size.max(0) as u64;
        let after = Checkpoint { transaction_id, global_position };

        let edge = Frontier::edge(size);
        let mut args = vec![];
        let sql = format!("select level, idx, hash from log_tree_nodes where {}", nodes_condition(&edge, 1, &mut args));
        let found = by_node(sqlx::query_as_with(&sql, backend::Db::bind_args(args)?).fetch_all(&mut *tx).await?)?;
        let hashes = edge.iter().map(|n| found.get(n).copied()).collect::<Option<Vec<Hash>>>().ok_or_else(|| {
            StoreError::unexpected(format!("the log's tree of {size} leaves lacks a node of its right edge: run `carnet verify`"))
        })?;
        let mut frontier = Frontier::resume(size, hashes).expect("one hash per edge node");

        let sql = format!(
            "select transaction_id, global_position, hash from events \
             where (transaction_id, global_position) > ($1, $2) {} \
             order by transaction_id, global_position limit $3",
            backend::VISIBLE
        );
        let events: Vec<(i64, i64, Option<Vec<u8>>)> = sqlx::query_as(&sql)
            .bind(after.transaction_id)
            .bind(after.global_position)
            .bind(i64::try_from(max).unwrap_or(i64::MAX))
            .fetch_all(&mut *tx)
            .await?;
        let Some(&(last_tx, last_position, _)) = events.last() else {
            tx.commit().await?;
            return Ok(TreeHead { size, root: frontier.root(), last: after });
        };

        let mut nodes: Vec<(Node, Hash)> = Vec::with_capacity(events.len() * 2 + 64);
        let mut leaves: Vec<(u64, i64)> = Vec::with_capacity(events.len());
        for (_, position, hash) in &events {
            let Some(hash) = super::hash_column(hash.clone()) else {
                return Err(StoreError::unexpected(format!(
                    "the event at global position {position} has no hash: it cannot enter the log's tree; run `carnet verify`"
                )));
            };
            leaves.push((frontier.size(), *position));
            frontier.push(merkle::leaf_hash(&hash), &mut |node, hash| nodes.push((node, hash)));
        }
        let nodes = nodes.iter().map(|(node, hash)| {
            vec![Arg::Int(i64::from(node.level)), Arg::Int(node.index as i64), Arg::Bytes(hash.to_vec())]
        });
        let leaves = leaves.iter().map(|(index, position)| vec![Arg::Int(*index as i64), Arg::Int(*position)]);
        let inserts = [inserts("log_tree_nodes (level, idx, hash)", nodes), inserts("log_leaves (leaf_index, global_position)", leaves)];
        for (sql, args) in inserts.into_iter().flatten() {
            sqlx::query_with(&sql, backend::Db::bind_args(args)?).execute(&mut *tx).await?;
        }
        let last = Checkpoint { transaction_id: last_tx, global_position: last_position };
        sqlx::query("update log_tree set size = $1, last_transaction_id = $2, last_global_position = $3 where id = 1")
            .bind(frontier.size() as i64)
            .bind(last.transaction_id)
            .bind(last.global_position)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(TreeHead { size: frontier.size(), root: frontier.root(), last })
    })
}

/// The statements that insert `rows` into `table (columns…)`, [`ROWS_PER_INSERT`] rows each.
fn inserts(table: &str, rows: impl Iterator<Item = Vec<Arg>>) -> Vec<(String, Vec<Arg>)> {
    let rows: Vec<Vec<Arg>> = rows.collect();
    rows.chunks(ROWS_PER_INSERT)
        .map(|chunk| {
            let mut args = Vec::with_capacity(chunk.len() * chunk.first().map_or(0, Vec::len));
            let values: Vec<String> = chunk
                .iter()
                .map(|row| {
                    let placeholders: Vec<String> = row
                        .iter()
                        .map(|arg| {
                            args.push(arg.clone());
                            format!("${}", args.len())
                        })
                        .collect();
                    format!("({})", placeholders.join(", "))
                })
                .collect();
            (format!("insert into {table} values {}", values.join(", ")), args)
        })
        .collect()
}

/// Extends the tree until it holds every committed event ([`extend`] by batches of `batch`).
pub async fn extend_all(store: &AnyStore, batch: usize) -> Result<TreeHead, StoreError> {
    loop {
        let before = stored_size(store).await?.0;
        let head = extend(store, batch).await?;
        if head.size - before < batch as u64 {
            return Ok(head);
        }
    }
}
