-- 003_rules.sql: business rules of writes, as BEFORE triggers.
--
-- Every rule raises SQLSTATE P0422 with a human MESSAGE and, in HINT, the
-- JSON pointer of the offending attribute (e.g. '/data/attributes/ends-at').
-- The resource engine (src/core/crud.c, db_fail) answers such an error with
-- 422 and that pointer, so the rules hold for every writer, and a plain SQL
-- writer gets the same message.
--
-- Rules
--   * event: ends-at >= starts-at (the events_dates_check CHECK stays as the
--     last guard; BEFORE triggers run before CHECK constraints).
--   * session: starts-at and ends-at, when set, lie within the event's
--     starts-at..ends-at, and starts-at <= ends-at. Checked on insert, and on
--     update only when the times or the event change: an event whose times
--     are edited so that existing sessions fall outside is not blocked, and
--     those sessions stay editable (trash, restore, other attributes).
--   * ticket: sales-starts-at <= sales-ends-at and sales-ends-at <= the
--     event's ends-at. Checked like sessions (insert, or when the sales
--     window or the event changes).
--   * session-type: length is 'HH:MM' (minutes 00..59).
--   * track: color is '#rrggbb'.
--
-- Applied in one transaction by `open-event-server migrate`; no BEGIN/COMMIT.

-- Raises the rule error: P0422, message, pointer in HINT.
CREATE FUNCTION oes_rule_fail(message text, pointer text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'P0422', MESSAGE = message, HINT = pointer;
END;
$fn$;

-- ---------------------------------------------------------------------------
-- events
-- ---------------------------------------------------------------------------
CREATE FUNCTION oes_events_rules_trg() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF NEW.starts_at IS NOT NULL AND NEW.ends_at IS NOT NULL
       AND NEW.ends_at < NEW.starts_at THEN
        PERFORM oes_rule_fail('ends-at must not be before starts-at.',
                              '/data/attributes/ends-at');
    END IF;
    RETURN NEW;
END;
$fn$;
CREATE TRIGGER events_rules BEFORE INSERT OR UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION oes_events_rules_trg();

-- ---------------------------------------------------------------------------
-- sessions
-- ---------------------------------------------------------------------------
CREATE FUNCTION oes_sessions_rules_trg() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    ev_starts timestamptz;
    ev_ends   timestamptz;
BEGIN
    IF NEW.starts_at IS NULL AND NEW.ends_at IS NULL THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE'
       AND NEW.starts_at IS NOT DISTINCT FROM OLD.starts_at
       AND NEW.ends_at IS NOT DISTINCT FROM OLD.ends_at
       AND NEW.event_id IS NOT DISTINCT FROM OLD.event_id THEN
        RETURN NEW;
    END IF;
    IF NEW.starts_at IS NOT NULL AND NEW.ends_at IS NOT NULL
       AND NEW.starts_at > NEW.ends_at THEN
        PERFORM oes_rule_fail('A session''s ends-at must not be before its starts-at.',
                              '/data/attributes/ends-at');
    END IF;
    SELECT e.starts_at, e.ends_at INTO ev_starts, ev_ends
      FROM events e WHERE e.id = NEW.event_id;
    IF NOT FOUND THEN
        RETURN NEW; -- the foreign key answers
    END IF;
    IF NEW.starts_at IS NOT NULL
       AND (NEW.starts_at < ev_starts OR NEW.starts_at > ev_ends) THEN
        PERFORM oes_rule_fail('A session''s starts-at must lie within its event''s '
                              'starts-at and ends-at.', '/data/attributes/starts-at');
    END IF;
    IF NEW.ends_at IS NOT NULL
       AND (NEW.ends_at < ev_starts OR NEW.ends_at > ev_ends) THEN
        PERFORM oes_rule_fail('A session''s ends-at must lie within its event''s '
                              'starts-at and ends-at.', '/data/attributes/ends-at');
    END IF;
    RETURN NEW;
END;
$fn$;
CREATE TRIGGER sessions_rules BEFORE INSERT OR UPDATE ON sessions
    FOR EACH ROW EXECUTE FUNCTION oes_sessions_rules_trg();

-- ---------------------------------------------------------------------------
-- tickets
-- ---------------------------------------------------------------------------
CREATE FUNCTION oes_tickets_rules_trg() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    ev_ends timestamptz;
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.sales_starts_at IS NOT DISTINCT FROM OLD.sales_starts_at
       AND NEW.sales_ends_at IS NOT DISTINCT FROM OLD.sales_ends_at
       AND NEW.event_id IS NOT DISTINCT FROM OLD.event_id THEN
        RETURN NEW;
    END IF;
    IF NEW.sales_starts_at IS NOT NULL AND NEW.sales_ends_at IS NOT NULL
       AND NEW.sales_starts_at > NEW.sales_ends_at THEN
        PERFORM oes_rule_fail('A ticket''s sales-ends-at must not be before its '
                              'sales-starts-at.', '/data/attributes/sales-ends-at');
    END IF;
    SELECT e.ends_at INTO ev_ends FROM events e WHERE e.id = NEW.event_id;
    IF NOT FOUND THEN
        RETURN NEW; -- the foreign key answers
    END IF;
    IF NEW.sales_ends_at IS NOT NULL AND NEW.sales_ends_at > ev_ends THEN
        PERFORM oes_rule_fail('A ticket''s sales-ends-at must not be after its event''s '
                              'ends-at.', '/data/attributes/sales-ends-at');
    END IF;
    RETURN NEW;
END;
$fn$;
CREATE TRIGGER tickets_rules BEFORE INSERT OR UPDATE ON tickets
    FOR EACH ROW EXECUTE FUNCTION oes_tickets_rules_trg();

-- ---------------------------------------------------------------------------
-- session types
-- ---------------------------------------------------------------------------
CREATE FUNCTION oes_session_types_rules_trg() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF NEW.length IS NOT NULL AND NEW.length !~ '^[0-9]{2}:[0-5][0-9]$' THEN
        PERFORM oes_rule_fail('length must be a duration ''HH:MM''.',
                              '/data/attributes/length');
    END IF;
    RETURN NEW;
END;
$fn$;
CREATE TRIGGER session_types_rules BEFORE INSERT OR UPDATE ON session_types
    FOR EACH ROW EXECUTE FUNCTION oes_session_types_rules_trg();

-- ---------------------------------------------------------------------------
-- tracks
-- ---------------------------------------------------------------------------
CREATE FUNCTION oes_tracks_rules_trg() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF NEW.color IS NOT NULL AND NEW.color !~ '^#[0-9a-fA-F]{6}$' THEN
        PERFORM oes_rule_fail('color must be a colour ''#rrggbb''.',
                              '/data/attributes/color');
    END IF;
    RETURN NEW;
END;
$fn$;
CREATE TRIGGER tracks_rules BEFORE INSERT OR UPDATE ON tracks
    FOR EACH ROW EXECUTE FUNCTION oes_tracks_rules_trg();
