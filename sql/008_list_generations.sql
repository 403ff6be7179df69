-- 008_list_generations.sql: a generation number per event, changed in the
-- same transaction as any change to the event or to a row that belongs to it.
--
-- The server keeps the documents of recent anonymous event-scoped lists
-- (GET /v1/events/{id}/sessions?include=... and the like) in memory, each
-- with the generation it was built under. Before serving one it reads the
-- event's generation (one primary-key lookup); a different number means the
-- document is rebuilt. Because triggers set the number inside the writing
-- transaction, a read that starts after a write has committed sees the new
-- number: no window of staleness, whichever process or tool wrote (the API,
-- a task, psql).
--
-- Numbers come from one sequence that nothing owns, so TRUNCATE ... RESTART
-- IDENTITY and the test harnesses' setval() of owned sequences never hand
-- out a number twice: an event recreated with an old id never matches a
-- document of its predecessor. An event without a row here is never served
-- from memory.

CREATE SEQUENCE event_generation_seq;

CREATE TABLE event_generations (
    event_id bigint PRIMARY KEY,
    gen      bigint NOT NULL
);

INSERT INTO event_generations (event_id, gen)
SELECT id, nextval('event_generation_seq') FROM events;

-- events: a new event gets its row; a changed event a new number; a removed
-- event loses its row.
CREATE FUNCTION oes_event_generation_events_trg() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM event_generations g USING old_rows o WHERE g.event_id = o.id;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO event_generations (event_id, gen)
        SELECT id, nextval('event_generation_seq')
          FROM (SELECT id FROM new_rows UNION SELECT id FROM old_rows) ids
        ON CONFLICT (event_id) DO UPDATE SET gen = EXCLUDED.gen;
    ELSE
        INSERT INTO event_generations (event_id, gen)
        SELECT id, nextval('event_generation_seq') FROM new_rows
        ON CONFLICT (event_id) DO UPDATE SET gen = EXCLUDED.gen;
    END IF;
    RETURN NULL;
END
$fn$;

-- A new number for each of the events named.
CREATE FUNCTION oes_event_generation_bump(ids bigint[]) RETURNS void
LANGUAGE sql AS $fn$
    UPDATE event_generations SET gen = nextval('event_generation_seq') WHERE event_id = ANY (ids)
$fn$;

-- tables with an event_id column: the events of the old and new rows. (Each
-- transition table is named in its own statement: a statement naming one
-- the trigger lacks fails when planned, taken or not.)
CREATE FUNCTION oes_event_generation_rows_trg() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM oes_event_generation_bump(ARRAY(SELECT event_id FROM old_rows));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM oes_event_generation_bump(ARRAY(SELECT event_id FROM new_rows));
    END IF;
    RETURN NULL;
END
$fn$;

-- sessions_speakers: the events of the session and of the speaker.
CREATE FUNCTION oes_event_generation_links_trg() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM oes_event_generation_bump(ARRAY(
            SELECT s.event_id FROM old_rows o JOIN sessions s ON s.id = o.session_id
            UNION SELECT p.event_id FROM old_rows o JOIN speakers p ON p.id = o.speaker_id));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM oes_event_generation_bump(ARRAY(
            SELECT s.event_id FROM new_rows o JOIN sessions s ON s.id = o.session_id
            UNION SELECT p.event_id FROM new_rows o JOIN speakers p ON p.id = o.speaker_id));
    END IF;
    RETURN NULL;
END
$fn$;

-- TRUNCATE names no rows: every event gets a new number.
CREATE FUNCTION oes_event_generation_truncate_trg() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    UPDATE event_generations SET gen = nextval('event_generation_seq');
    RETURN NULL;
END
$fn$;

-- One statement-level trigger per table and operation (a trigger with
-- transition tables may name only one operation). A table added later with
-- an event_id column needs the same triggers: test_list_cache checks that
-- every such table has them. users_events_roles has none: anonymous callers
-- see no role rows, and no rule of what they see reads roles (core/access.c
-- consults roles for signed-in callers only), so a grant changes no document
-- kept for them; an event's creation would otherwise pay for a second
-- change of the row its insert just made (measured: 15% of a create).
DO $do$
DECLARE
    t text;
    fn text;
BEGIN
    FOREACH t IN ARRAY ARRAY['events', 'tracks', 'microlocations', 'session_types', 'sponsors',
                             'social_links', 'tickets', 'sessions', 'speakers',
                             'sessions_speakers'] LOOP
        fn := CASE t WHEN 'events' THEN 'oes_event_generation_events_trg'
                     WHEN 'sessions_speakers' THEN 'oes_event_generation_links_trg'
                     ELSE 'oes_event_generation_rows_trg' END;
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %I()', t || '_generation_ins', t, fn);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING OLD TABLE AS old_rows '
                       'NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION %I()',
                       t || '_generation_upd', t, fn);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %I()', t || '_generation_del', t, fn);
        EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION oes_event_generation_truncate_trg()',
                       t || '_generation_trunc', t);
    END LOOP;
END
$do$;
