'use strict';
/*
 * sessions.js: fixtures of the blueprint group "Sessions"
 * (docs/api/src/12-sessions.apib), and the checks of the query examples:
 * the filter, the three-key sort, the compound document and the sparse
 * fieldsets return exactly the documented objects.
 */
const W = require('./world.js');

const { OWNER, STRANGER, expectIds } = W;
const G = 'Sessions';

// The compound document holds the session's two speakers and its track,
// each once, and the relationships carry their linkage.
function checkIncluded(t) {
  if (t.fail) return;
  const doc = JSON.parse(t.real.body);
  const inc = (doc.included || []).map((o) => `${o.type}:${o.id}`).sort();
  const want = ['speaker:1', 'speaker:2', 'track:2'];
  const rels = doc.data.relationships;
  const speakers = ((rels.speakers && rels.speakers.data) || []).map((o) => o.id).sort();
  const track = rels.track && rels.track.data && rels.track.data.id;
  if (JSON.stringify(inc) !== JSON.stringify(want) || JSON.stringify(speakers) !== '["1","2"]' || track !== '2') {
    t.fail = `included ${inc}, speakers linkage ${speakers}, track linkage ${track}`;
  }
}

// Only title and state, and only the track relationship.
function checkSparse(t) {
  if (t.fail) return;
  const doc = JSON.parse(t.real.body);
  for (const o of doc.data) {
    const attrs = Object.keys(o.attributes).sort().join(',');
    const rels = Object.keys(o.relationships || {}).join(',');
    if (attrs !== 'state,title' || rels !== 'track') {
      t.fail = `session ${o.id}: attributes ${attrs}, relationships ${rels}`;
      return;
    }
  }
  expectIds(['1', '2'])(t);
}

module.exports = function (h) {
  W.define(h, {
    [`${G} > Sessions Collection > List sessions`]: { after: expectIds(['1', '2', '4']) },
    [`${G} > Sessions Collection > Create a session > Example 1`]: {
      as: OWNER,
      after: async (t) => {
        if (t.fail) return;
        const r = await h.sql('SELECT speaker_id FROM sessions_speakers WHERE session_id = 5');
        if (r.rows.length !== 1 || String(r.rows[0].speaker_id) !== '1') {
          t.fail = `session 5 should have speaker 1, has ${JSON.stringify(r.rows)}`;
        }
      },
    },
    [`${G} > Sessions Collection > Create a session > Example 2`]: STRANGER,
    [`${G} > Sessions Collection > Create a session > Example 3`]: {},
    [`${G} > Sessions Collection > Create a session > Example 4`]: STRANGER,
    [`${G} > Sessions Collection > Create a session > Example 5`]: OWNER,
    [`${G} > Sessions Collection > Create a session > Example 6`]: OWNER,
    [`${G} > Sessions Collection > Create a session > Example 7`]: OWNER,
    [`${G} > Session > Retrieve a session > Example 1`]: {},
    [`${G} > Session > Retrieve a session > Example 2`]: {},
    [`${G} > Session > Update a session > Example 1`]: {
      as: OWNER,
      // `speakers` in a PATCH replaces the session's speakers.
      after: async (t) => {
        if (t.fail) return;
        const r = await h.sql('SELECT speaker_id::int AS id FROM sessions_speakers WHERE session_id = 1 ORDER BY 1');
        const ids = r.rows.map((x) => x.id);
        if (JSON.stringify(ids) !== '[1,2]') t.fail = `session 1 should have speakers 1, 2, has ${ids}`;
      },
    },
    [`${G} > Session > Update a session > Example 2`]: STRANGER,
    [`${G} > Session > Delete a session`]: OWNER,
    [`${G} > Session > Retrieve a session with its speakers and track`]: { after: checkIncluded },
    [`${G} > Sessions of an Event > List the sessions of an event > Example 1`]: { after: expectIds(['1', '2']) },
    [`${G} > Sessions of an Event > List the sessions of an event > Example 2`]: {
      as: OWNER,
      after: expectIds(['1', '2', '3']),
    },
    [`${G} > Sessions of an Event > Filter sessions through a relationship`]: { after: expectIds(['2']) },
    [`${G} > Sessions of an Event > Sort sessions by three keys`]: { as: OWNER, after: expectIds(['2', '3', '1']) },
    [`${G} > Sessions of an Event > List sessions with sparse fieldsets`]: { after: checkSparse },
    [`${G} > Sessions of an Event > Filter sessions by an unknown field`]: {},
    [`${G} > Sessions of an Event > Sort sessions by an unknown key`]: {},
    [`${G} > Sessions of an Event > Include an unknown relationship`]: {},
    [`${G} > Speakers Relationship of a Session > Retrieve the speakers linkage of a session`]: {
      after: (t) => {
        if (t.fail) return;
        const ids = JSON.parse(t.real.body).data.map((o) => o.id);
        if (JSON.stringify(ids) !== '["1","2"]') t.fail = `expected speakers 1, 2, got ${ids}`;
      },
    },
    [`${G} > Track Relationship of a Session > Change the track of a session > Example 1`]: OWNER,
    [`${G} > Track Relationship of a Session > Change the track of a session > Example 2`]: OWNER,
  });
};
