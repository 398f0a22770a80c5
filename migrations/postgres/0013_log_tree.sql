-- The log's Merkle tree and its signed checkpoints (issue 12; store/src/integrity/tree.rs).
-- The tree is RFC 9162's: leaves in the log's reading order (transaction_id, global_position),
-- leaf = SHA-256(0x00 || events.hash), node = SHA-256(0x01 || left || right). It is built off
-- the append path by the checkpointer, which reads like the catch-up readers (below the
-- horizon), so no event can ever land inside the tree after it was added.

-- How far the tree goes: one row, locked by whoever extends the tree.
create table log_tree (
    id                   bigint primary key check (id = 1),
    size                 bigint not null check (size >= 0),
    -- the last event in the tree, in reading order ((0, 0) while empty)
    last_transaction_id  bigint not null,
    last_global_position bigint not null
);
insert into log_tree (id, size, last_transaction_id, last_global_position) values (1, 0, 0, 0);

-- Each leaf: which event it is (its hash is the event's hash).
create table log_leaves (
    leaf_index      bigint primary key check (leaf_index >= 0),
    global_position bigint not null unique
);

-- Every perfect subtree: level 0 are the leaves' hashes; node (level, idx) covers the leaves
-- idx * 2^level .. (idx + 1) * 2^level - 1. A proof reads O(log n) of them.
create table log_tree_nodes (
    level bigint   not null check (level between 0 and 63),
    idx   bigint   not null check (idx >= 0),
    hash  bytea    not null check (length(hash) = 32),
    primary key (level, idx)
);

-- The checkpoints issued: C2SP signed notes (origin, tree size, base64 root; a signature line).
create table checkpoints (
    tree_size bigint primary key check (tree_size >= 1),
    root      bytea not null check (length(root) = 32),
    note      text not null,
    issued_at timestamptz not null default now()
);
