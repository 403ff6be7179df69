-- bench/seed_big.sql: the big event of bench/run.sh (psql -v sessions=N
-- -v speakers=N -v tracks=N): one published public event spanning 7 days
-- (identifier 'b19e0e17'), then bench/seed_lists.sql for it alone:
-- <tracks> tracks, <speakers> speakers, <sessions> accepted sessions with
-- 1-2 speakers each (16 half-hour slots a day per track: 2,000 sessions in
-- 20 tracks fill 7 days). The original took over a minute to render pages
-- of such events (fossasia/open-event-server issue #3437).

INSERT INTO events (name, starts_at, ends_at, timezone, identifier, state, privacy, description)
VALUES ('Big Open Tech Summit', timestamptz '2030-01-06 09:00:00+00',
        timestamptz '2030-01-12 18:00:00+00', 'Asia/Singapore', 'b19e0e17',
        'published', 'public',
        'A week-long summit: ' || :sessions || ' sessions, ' || :speakers
        || ' speakers, ' || :tracks || ' tracks.')
RETURNING id AS first \gset
\set events 1
\ir seed_lists.sql
