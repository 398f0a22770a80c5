-- PostgreSQL indexes its timelines' validity as ranges (GiST, issue 13); SQLite has no such
-- index and reads them with the two comparisons of 0016 (projections/src/sql/sqlite.rs,
-- `valid_at`). This file keeps the two trees paired (migrations/README.md).
select 1;
