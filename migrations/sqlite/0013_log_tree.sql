-- The log's Merkle tree and its signed checkpoints (issue 12; store/src/integrity/tree.rs).
-- The tree is RFC 9162's: leaves in the log's reading order (transaction_id, global_position),
-- leaf = SHA-256(0x00 || events.hash), node = SHA-256(0x01 || left || right). It is built off
-- the append path by the checkpointer.

-- How far the tree goes: one row.
create table log_tree (
    id                   integer primary key check (id = 1),
    size                 integer not null check (size >= 0),
    -- the last event in the tree, in reading order ((0, 0) while empty)
    last_transaction_id  integer not null,
    last_global_position integer not null
);
insert into log_tree (id, size, last_transaction_id, last_global_position) values (1, 0, 0, 0);

-- Each leaf: which event it is (its hash is the event's hash).
create table log_leaves (
    leaf_index      integer primary key check (leaf_index >= 0),
    global_position integer not null unique
);

-- Every perfect subtree: level 0 are the leaves' hashes; node (level, idx) covers the leaves
-- idx * 2^level .. (idx + 1) * 2^level - 1. A proof reads O(log n) of them.
create table log_tree_nodes (
    level integer not null check (level between 0 and 63),
    idx   integer not null check (idx >= 0),
    hash  blob    not null check (length(hash) = 32),
    primary key (level, idx)
) without rowid;

-- The checkpoints issued: C2SP signed notes (origin, tree size, base64 root; a signature line).
create table checkpoints (
    tree_size integer primary key check (tree_size >= 1),
    root      blob not null check (length(root) = 32),
    note      text not null,
    issued_at text not null   -- RFC 3339, UTC, microseconds
);
