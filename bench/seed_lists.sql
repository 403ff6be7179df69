-- bench/seed_lists.sql: sessions, speakers and tracks for the list cases of
-- bench/run.sh (psql -v first=ID -v events=N -v sessions=N -v tracks=N
-- -v speakers=N).
--
-- For each of the events first .. first + events - 1 (published, public,
-- seeded by run.sh, 09:00-18:00 on one day):
--   * tracks "Track 1" .. "Track <tracks>";
--   * <speakers> speakers with a ~200-character biography;
--   * <sessions> sessions, all 'accepted' (anonymous callers see them),
--     in track (k % tracks) + 1, 30 minutes each: 16 slots a day from 09:00
--     to 17:00 per track, then the next day (the event must span
--     ceil(sessions / (16 * tracks)) days; one day for 50 sessions in 5 tracks),
--     with a ~300-character abstract; session k has speaker k % speakers and,
--     when k is odd, speaker (k + 7) % speakers as well (1-2 speakers each).
-- Plain SQL: the triggers of sql/003_rules.sql check every row (session
-- times inside the event's).

INSERT INTO tracks (event_id, name, description, color, position)
SELECT e.id, 'Track ' || t, 'Talks of track ' || t || ' of ' || e.name,
       '#' || lpad(to_hex((t * 2654435) % 16777216), 6, '0'), t
FROM events e, generate_series(1, :tracks) AS t
WHERE e.id BETWEEN :first AND :first + :events - 1;

INSERT INTO speakers (event_id, name, email, short_biography, organisation, position,
                      country, city, website, twitter, github)
SELECT e.id, 'Speaker ' || s || ' of event ' || e.id,
       'speaker' || s || '.e' || e.id || '@example.org',
       left('Speaker ' || s || ' builds open source tools for events and communities, '
            || 'maintains several libraries, and has spoken at meetups and conferences '
            || 'across Asia and Europe about databases, web servers and performance. '
            || repeat('Likes tea. ', 4), 200),
       'Example Org ' || (s % 17), 'Engineer', 'Singapore', 'Singapore',
       'https://example.org/~s' || s, '@speaker' || s, 'speaker' || s
FROM events e, generate_series(0, :speakers - 1) AS s
WHERE e.id BETWEEN :first AND :first + :events - 1
ORDER BY e.id, s;

INSERT INTO sessions (event_id, track_id, title, subtitle, level, short_abstract,
                      long_abstract, starts_at, ends_at, language, state, submitted_at)
SELECT e.id,
       (SELECT t.id FROM tracks t WHERE t.event_id = e.id AND t.name = 'Track ' || (k % :tracks + 1)),
       'Session ' || k || ': building fast servers, part ' || (k % 7 + 1),
       'A talk of event ' || e.id, CASE k % 3 WHEN 0 THEN 'Beginner' WHEN 1 THEN 'Intermediate' ELSE 'Advanced' END,
       'What we learnt building session ' || k || ' of event ' || e.id || '.',
       left('Session ' || k || ' walks through the design of an event server: an event '
            || 'loop, a pool of database connections in pipeline mode, JSON:API documents '
            || 'written without intermediate trees, and the measurements that led there. '
            || repeat('With live demos and questions. ', 4), 300),
       date_trunc('day', e.starts_at) + (k / (16 * :tracks)) * interval '1 day'
           + interval '9 hours' + (k / :tracks % 16) * interval '30 minutes',
       date_trunc('day', e.starts_at) + (k / (16 * :tracks)) * interval '1 day'
           + interval '9 hours 30 minutes' + (k / :tracks % 16) * interval '30 minutes',
       'English', 'accepted', now()
FROM events e, generate_series(0, :sessions - 1) AS k
WHERE e.id BETWEEN :first AND :first + :events - 1
ORDER BY e.id, k;

-- session k of an event is its k-th row by id, speaker n its n-th (both
-- inserted in that order above)
INSERT INTO sessions_speakers (session_id, speaker_id)
SELECT x.session_id, sp.id
FROM (SELECT s.id AS session_id, s.event_id,
             row_number() OVER (PARTITION BY s.event_id ORDER BY s.id) - 1 AS k
      FROM sessions s
      WHERE s.event_id BETWEEN :first AND :first + :events - 1) x
JOIN LATERAL (SELECT x.k % :speakers AS n UNION
              SELECT (x.k + 7) % :speakers WHERE x.k % 2 = 1) pick ON true
JOIN (SELECT sp.id, sp.event_id,
             row_number() OVER (PARTITION BY sp.event_id ORDER BY sp.id) - 1 AS n
      FROM speakers sp
      WHERE sp.event_id BETWEEN :first AND :first + :events - 1) sp
  ON sp.event_id = x.event_id AND sp.n = pick.n;
