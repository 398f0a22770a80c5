-- The GraphQL error codes of each request (issue 10): `status` is the HTTP status the client saw,
-- 200 for most GraphQL answers, errors included (GraphQL over HTTP under `application/json`);
-- `error_codes` says what went wrong: the distinct `extensions.code` of the answer's errors,
-- comma-separated in order of appearance (`FORBIDDEN`, `BAD_USER_INPUT,NOT_FOUND`), null when
-- the answer has none.
alter table access_log add column error_codes text;
