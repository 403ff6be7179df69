'use strict';
/*
 * tasks.js: fixtures of the blueprint group "Tasks and Exports"
 * (docs/api/src/50-tasks.apib): the world's events and users, and for the
 * task reads a finished export task of Olivia's with the documented UUID.
 */
const W = require('./world.js');

const { OWNER, STRANGER } = W;
const G = 'Tasks and Exports';
const TASK = '6f1c2b7e-5a4d-4c3b-9e8f-0a1b2c3d4e5f';

function insertTask(h) {
  return h.sql(
    `INSERT INTO tasks (id, name, payload, state, attempts, result, creator_id, finished_at)
     VALUES ($1, 'export.json', '{"event_id": 1}', 'SUCCESS', 1, $2, $3, now())`,
    [
      TASK,
      JSON.stringify({
        download_url: 'http://127.0.0.1:8080/static/exports/3f2a9c1d0b8e4f6a7c5d2e1b0a9f8e7d/a1b2c3d4.json',
        format: 'json',
      }),
      OWNER,
    ],
  );
}

// The answer names a task that exists and belongs to the caller.
function taskCreated(h, by) {
  return async (t) => {
    if (t.fail) return;
    const url = JSON.parse(t.real.body).task_url || '';
    const m = /^\/v1\/tasks\/([0-9a-f-]{36})$/.exec(url);
    if (!m) {
      t.fail = `task_url ${JSON.stringify(url)}`;
      return;
    }
    const r = await h.sql('SELECT name, creator_id FROM tasks WHERE id = $1', [m[1]]);
    if (r.rows.length !== 1 || String(r.rows[0].creator_id) !== String(by)) {
      t.fail = `task ${m[1]}: ${JSON.stringify(r.rows)}`;
    }
  };
}

module.exports = function (h) {
  W.define(h, {
    [`${G} > Event Versions > Read the versions of an event > Example 1`]: {},
    [`${G} > Event Versions > Read the versions of an event > Example 2`]: {},
    [`${G} > JSON Export > Export an event as JSON > Example 1`]: {
      as: OWNER,
      after: taskCreated(h, OWNER),
    },
    [`${G} > JSON Export > Export an event as JSON > Example 2`]: STRANGER,
    [`${G} > JSON Export > Export an event as JSON > Example 3`]: {},
    [`${G} > iCalendar Export > Export the schedule as iCalendar`]: {
      as: OWNER,
      after: taskCreated(h, OWNER),
    },
    [`${G} > xCal Export > Export the schedule as xCal`]: { as: OWNER, after: taskCreated(h, OWNER) },
    [`${G} > Task > Read a task > Example 1`]: { as: OWNER, setup: () => insertTask(h) },
    [`${G} > Task > Read a task > Example 2`]: { as: STRANGER, setup: () => insertTask(h) },
    [`${G} > Task > Read a task > Example 3`]: OWNER,
  });
};
