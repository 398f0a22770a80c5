-- The timelines' validity as a range, indexed (issue 13: indicators(asOf) at 1 M events).
-- "Valid at t" (`valid_from <= t and (valid_to is null or valid_to > t)`, migration 0016) is an
-- interval stabbing query: a B-tree on either bound leaves half the rows to filter, a GiST
-- index on the range finds those valid at t. The expression is written once more in
-- projections/src/sql/postgres.rs (`VALIDITY`), the same text, so that the planner matches it.
-- A row whose valid_to came before its valid_from (a clock stepped back between two events of
-- an entity) is the empty range, valid at no moment, as the comparisons say; tstzrange of
-- such bounds would be an error, and the append that wrote it would fail.
-- The rebuild copies these indexes to its shadow tables from the catalog, like the others.

create index project_timeline_validity_idx on project_timeline using gist (tstzrange(valid_from, case when valid_to < valid_from then valid_from else valid_to end));
create index project_academie_timeline_validity_idx on project_academie_timeline using gist (tstzrange(valid_from, case when valid_to < valid_from then valid_from else valid_to end));
create index session_timeline_validity_idx on session_timeline using gist (tstzrange(valid_from, case when valid_to < valid_from then valid_from else valid_to end));
create index session_registration_timeline_validity_idx on session_registration_timeline using gist (tstzrange(valid_from, case when valid_to < valid_from then valid_from else valid_to end));
create index session_project_timeline_validity_idx on session_project_timeline using gist (tstzrange(valid_from, case when valid_to < valid_from then valid_from else valid_to end));
create index session_academie_timeline_validity_idx on session_academie_timeline using gist (tstzrange(valid_from, case when valid_to < valid_from then valid_from else valid_to end));
