-- PostgreSQL's append function answers one row per append (issue 13); SQLite's append is Rust
-- code in the store (store/src/sqlite), which needs nothing here. This file keeps the two trees
-- paired (migrations/README.md).
select 1;
