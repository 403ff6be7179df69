-- Purging old trash (spec §4): rows trashed more than `days` days ago are
-- deleted for good. Events go first: their children follow by ON DELETE
-- CASCADE. Returns how many rows were deleted in the tables named here
-- (cascaded rows are not counted). Run by `open-event-server purge-trash`
-- and by the periodic job (TRASH_RETENTION_DAYS).
CREATE FUNCTION oes_purge_trash(days integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    cutoff timestamptz := now() - make_interval(days => days);
    total bigint := 0;
    n bigint;
    t text;
BEGIN
    IF days IS NULL OR days < 1 THEN
        RAISE EXCEPTION 'oes_purge_trash: days must be at least 1';
    END IF;
    FOREACH t IN ARRAY ARRAY['events', 'sessions', 'speakers', 'tracks', 'microlocations',
                             'sponsors', 'session_types', 'social_links', 'tickets',
                             'event_topics', 'users'] LOOP
        EXECUTE format('DELETE FROM %I WHERE deleted_at < $1', t) USING cutoff;
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
    END LOOP;
    RETURN total;
END;
$$;
