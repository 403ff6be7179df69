-- 007_list_indexes.sql: indexes for the lists of an event's objects.
--
-- GET /v1/events/{id}/<type> pages through one event's rows in id order
-- (WHERE event_id = $1 ORDER BY id LIMIT n OFFSET m). With an index on
-- event_id alone, PostgreSQL's generic plan for that prepared statement
-- walked the primary key and filtered on event_id; an index on
-- (event_id, id) gives the page as one index range, and still serves every
-- lookup by event_id (the foreign keys' cascades included), so it replaces
-- the one-column indexes. Sessions keep (event_id, starts_at) for the
-- schedule and get (event_id, id) as well.

DROP INDEX tracks_event_id_idx;
CREATE INDEX tracks_event_id_idx ON tracks (event_id, id);
DROP INDEX microlocations_event_id_idx;
CREATE INDEX microlocations_event_id_idx ON microlocations (event_id, id);
DROP INDEX session_types_event_id_idx;
CREATE INDEX session_types_event_id_idx ON session_types (event_id, id);
DROP INDEX sponsors_event_id_idx;
CREATE INDEX sponsors_event_id_idx ON sponsors (event_id, id);
DROP INDEX social_links_event_id_idx;
CREATE INDEX social_links_event_id_idx ON social_links (event_id, id);
DROP INDEX tickets_event_id_idx;
CREATE INDEX tickets_event_id_idx ON tickets (event_id, id);
DROP INDEX speakers_event_id_idx;
CREATE INDEX speakers_event_id_idx ON speakers (event_id, id);
CREATE INDEX sessions_event_id_id_idx ON sessions (event_id, id);
