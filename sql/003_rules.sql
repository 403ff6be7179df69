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
--   * ranges that the tables' CHECK constraints also hold, raised here first
--     so that the answer names the field: latitude in -90..90 and longitude
--     in -180..180 (events, microlocations); a ticket's quantity, price,
--     min-price, max-price, min-order and max-order not negative.
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
-- latitude -90..90 and longitude -180..180 (NULL is allowed).
CREATE FUNCTION oes_rule_position(lat double precision, lon double precision) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    IF lat IS NOT NULL AND NOT (lat BETWEEN -90 AND 90) THEN
        PERFORM oes_rule_fail('latitude must lie between -90 and 90.',
                              '/data/attributes/latitude');
    END IF;
    IF lon IS NOT NULL AND NOT (lon BETWEEN -180 AND 180) THEN
        PERFORM oes_rule_fail('longitude must lie between -180 and 180.',
                              '/data/attributes/longitude');
    END IF;
END;
$fn$;

CREATE FUNCTION oes_events_rules_trg() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM oes_rule_position(NEW.latitude, NEW.longitude);
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
    IF NEW.quantity < 0 THEN
        PERFORM oes_rule_fail('quantity must not be negative.', '/data/attributes/quantity');
    ELSIF NEW.price < 0 THEN
        PERFORM oes_rule_fail('price must not be negative.', '/data/attributes/price');
    ELSIF NEW.min_price < 0 THEN
        PERFORM oes_rule_fail('min-price must not be negative.', '/data/attributes/min-price');
    ELSIF NEW.max_price < 0 THEN
        PERFORM oes_rule_fail('max-price must not be negative.', '/data/attributes/max-price');
    ELSIF NEW.min_order < 0 THEN
        PERFORM oes_rule_fail('min-order must not be negative.', '/data/attributes/min-order');
    ELSIF NEW.max_order < 0 THEN
        PERFORM oes_rule_fail('max-order must not be negative.', '/data/attributes/max-order');
    END IF;
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

-- ---------------------------------------------------------------------------
-- microlocations
-- ---------------------------------------------------------------------------
CREATE FUNCTION oes_microlocations_rules_trg() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM oes_rule_position(NEW.latitude, NEW.longitude);
    RETURN NEW;
END;
$fn$;
CREATE TRIGGER microlocations_rules BEFORE INSERT OR UPDATE ON microlocations
    FOR EACH ROW EXECUTE FUNCTION oes_microlocations_rules_trg();
