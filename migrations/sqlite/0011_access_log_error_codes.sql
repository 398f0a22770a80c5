-- The GraphQL error codes of each request: see migrations/postgres/0012_access_log_error_codes.sql.
alter table access_log add column error_codes text;
