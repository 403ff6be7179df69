'use strict';
/*
 * event-management.js: fixtures of the blueprint group "Event Management"
 * (docs/api/src/11-event-management.apib): the world of world.js, and the
 * user each example acts as.
 */
const W = require('./world.js');

const { OWNER, STRANGER, TRACK_ORGANIZER } = W;
const G = 'Event Management';

module.exports = function (h) {
  W.define(h, {
    [`${G} > Event Changes > Create an event > Example 1`]: {
      as: STRANGER,
      // The creator becomes the owner of the new event.
      after: async (t) => {
        if (t.fail) return;
        const r = await h.sql('SELECT user_id, role_id FROM users_events_roles WHERE event_id = 5');
        if (r.rows.length !== 1 || String(r.rows[0].user_id) !== '3' || String(r.rows[0].role_id) !== '1') {
          t.fail = `event 5 should have user 3 as its owner, roles: ${JSON.stringify(r.rows)}`;
        }
      },
    },
    [`${G} > Event Changes > Create an event > Example 2`]: {},
    [`${G} > Event Changes > Create an event > Example 3`]: STRANGER,
    [`${G} > Event Changes > Create an event > Example 4`]: STRANGER,
    [`${G} > Event Changes > Create an event > Example 5`]: STRANGER,
    [`${G} > Event Changes > Update an event > Example 1`]: OWNER,
    [`${G} > Event Changes > Update an event > Example 2`]: STRANGER,
    [`${G} > Event Changes > Update an event > Example 3`]: STRANGER,
    [`${G} > Event Changes > Update an event > Example 4`]: OWNER,
    [`${G} > Event Changes > Delete an event > Example 1`]: {
      as: OWNER,
      // Trashed with its sub-resources, all with the event's timestamp.
      after: async (t) => {
        if (t.fail) return;
        const r = await h.sql(
          `SELECT (SELECT count(*) FROM sessions s, events e WHERE s.event_id = 1 AND e.id = 1
                     AND s.deleted_at IS DISTINCT FROM e.deleted_at) AS sessions_left,
                  (SELECT deleted_at IS NOT NULL FROM events WHERE id = 1) AS trashed`,
        );
        if (!r.rows[0].trashed || Number(r.rows[0].sessions_left) !== 0) {
          t.fail = `event 1 and its sessions should be trashed together: ${JSON.stringify(r.rows[0])}`;
        }
      },
    },
    [`${G} > Event Changes > Delete an event > Example 2`]: TRACK_ORGANIZER,
    [`${G} > Event Changes > Delete an event > Example 3`]: {
      as: OWNER,
      after: async (t) => {
        if (t.fail) return;
        const r = await h.sql('SELECT count(*) AS n FROM events WHERE id = 1');
        if (Number(r.rows[0].n) !== 0) t.fail = 'event 1 should be gone for good';
      },
    },
    [`${G} > Event Changes > Restore an event`]: {
      as: OWNER,
      // Sponsor 2 went to the trash on its own before the event did; the
      // rest of event 1 went with the event.
      setup: () =>
        h.sql(`UPDATE sponsors SET deleted_at = '2026-02-01T00:00:00Z' WHERE id = 2;
               UPDATE events SET deleted_at = '2026-02-10T00:00:00Z' WHERE id = 1;
               UPDATE sessions SET deleted_at = '2026-02-10T00:00:00Z' WHERE event_id = 1;
               UPDATE tracks SET deleted_at = '2026-02-10T00:00:00Z' WHERE event_id = 1;
               UPDATE sponsors SET deleted_at = '2026-02-10T00:00:00Z' WHERE event_id = 1 AND deleted_at IS NULL`),
      after: async (t) => {
        if (t.fail) return;
        const doc = JSON.parse(t.real.body);
        const r = await h.sql(
          `SELECT (SELECT count(*) FROM sessions WHERE event_id = 1 AND deleted_at IS NULL) AS sessions,
                  (SELECT count(*) FROM tracks WHERE event_id = 1 AND deleted_at IS NULL) AS tracks,
                  (SELECT array_agg(id::int ORDER BY id) FROM sponsors WHERE deleted_at IS NULL) AS sponsors`,
        );
        const got = r.rows[0];
        if (doc.data.attributes['deleted-at'] !== null || Number(got.sessions) !== 3 ||
            Number(got.tracks) !== 2 || JSON.stringify(got.sponsors) !== '[1]') {
          t.fail = `restore: deleted-at ${doc.data.attributes['deleted-at']}, live: ${JSON.stringify(got)}`;
        }
      },
    },
    [`${G} > Event Owner > Retrieve the owner of an event`]: {},
    [`${G} > Event Topic of an Event > Retrieve the event topic of an event`]: {},
    [`${G} > Event Topic Relationship of an Event > Change the event topic of an event`]: OWNER,
    [`${G} > Sessions Relationship of an Event > Retrieve the sessions linkage of an event in the trash`]: {
      as: OWNER,
      setup: () =>
        h.sql(`UPDATE events SET deleted_at = '2026-02-10T00:00:00Z' WHERE id = 1;
               UPDATE sessions SET deleted_at = '2026-02-10T00:00:00Z' WHERE event_id = 1`),
      after: (t) => {
        if (t.fail) return;
        const ids = JSON.parse(t.real.body).data.map((o) => o.id);
        if (JSON.stringify(ids) !== '["1","2","3"]') t.fail = `expected sessions 1, 2, 3, got ${ids}`;
      },
    },
    [`${G} > Event of a Sub-resource > Retrieve the event of a session`]: {},
  });
};
