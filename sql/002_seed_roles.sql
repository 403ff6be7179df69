-- 002_seed_roles.sql: the static event roles of spec/API.md §5, ids 1..6.
-- Applied in one transaction by `open-event-server migrate`; no BEGIN/COMMIT.

INSERT INTO roles (id, name, title_name) VALUES
    (1, 'owner',           'Owner'),
    (2, 'organizer',       'Organizer'),
    (3, 'coorganizer',     'Co-organizer'),
    (4, 'track_organizer', 'Track Organizer'),
    (5, 'moderator',       'Moderator'),
    (6, 'registrar',       'Registrar');

-- Later inserts (if any) continue after the seeded ids.
SELECT setval(pg_get_serial_sequence('roles', 'id'), (SELECT max(id) FROM roles));
