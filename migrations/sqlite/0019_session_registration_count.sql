-- A session's number of registrations kept on its row and in its timeline (issue 13):
-- `indicators` and `indicators(asOf)` sum it over the held sessions instead of counting the
-- registrations of each, so the registration rows' timeline, kept only for that count, goes.
-- Written only by carnet-projections (projections/src/session.rs, `counted`).
--
-- The live rows are filled here, exactly: a session's registrations are its rows of
-- `session_registration`. The timeline cannot be: a registration changed the count without
-- making a version of the session's row, so the count of each past version is known only by
-- replaying the log. A database that holds events marks the session read model due for a
-- rebuild, and `indicators(asOf)` is refused (rule `indicators.as_of_rebuild_due`) until
-- `carnet rebuild` has swapped in; the indicators of now read the live rows and answer.

alter table session add column registration_count integer not null default 0;

update session set registration_count = (
    select count(*) from session_registration r where r.session_id = session.id
);

alter table session_timeline add column registration_count integer not null default 0;

drop table session_registration_timeline;

insert or ignore into read_model_rebuild_due (read_model, reason)
select 'sessions', 'migration 0019 keeps the registration count in the session timeline'
where exists (select 1 from events);
