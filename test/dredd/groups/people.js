'use strict';
/*
 * people.js: fixtures of the blueprint groups "Event Topics", "Users",
 * "Roles", "Users Events Roles" and "Authentication"
 * (docs/api/src/20-*.apib, 30-*.apib to 32-*.apib, 40-*.apib). Every
 * example runs on the world of world.js, except sign-up, which starts from
 * the admin alone so that the new user is user 2.
 */
const W = require('./world.js');

const { OWNER, STRANGER, TRACK_ORGANIZER, expectIds } = W;
const ADMIN = 1;

module.exports = function (h) {
  // The examples write "<Olivia's password>": the fixture users share the
  // admin's password (random per run).
  const withPassword = (t) => {
    t.request.body = t.request.body.replace("<Olivia's password>", h.admin.password);
  };

  W.define(h, {
    // Event topics
    'Event Topics > Event Topics Collection > List event topics': { after: expectIds(['1', '2']) },
    'Event Topics > Event Topics Collection > Create an event topic > Example 1': ADMIN,
    'Event Topics > Event Topics Collection > Create an event topic > Example 2': OWNER,
    'Event Topics > Event Topic > Retrieve an event topic': {},
    'Event Topics > Event Topic > Update an event topic': ADMIN,
    'Event Topics > Event Topic > Delete an event topic': ADMIN,
    'Event Topics > Events of an Event Topic > List the events of an event topic': { after: expectIds(['1']) },
    'Event Topics > Events Relationship of an Event Topic > Retrieve the events linkage of an event topic': {},

    // Users
    'Users > Users Collection > Sign up > Example 1': { tables: [] },
    'Users > Users Collection > Sign up > Example 2': {},
    'Users > Users Collection > Sign up > Example 3': { tables: [] },
    'Users > Users Collection > Sign up > Example 4': { tables: [] },
    'Users > Users Collection > List users': { as: ADMIN, after: expectIds(['1', '2', '3', '4']) },
    'Users > User > Retrieve a user > Example 1': STRANGER,
    'Users > User > Retrieve a user > Example 2': STRANGER,
    'Users > User > Update a user': STRANGER,
    'Users > User > Delete a user': STRANGER,
    'Users > Creator of a Session > Retrieve the creator of a session': {},
    'Users > User of a Speaker > Retrieve the user of a speaker': STRANGER,
    'Users > Events of a User > List the events a user owns > Example 1': {
      as: OWNER,
      after: expectIds(['1', '3', '4']),
    },
    'Users > Events of a User > List the events a user owns > Example 2': STRANGER,
    'Users > Speakers Relationship of a User > Retrieve the speakers linkage of a user': {},

    // Roles
    'Roles > Roles Collection > List roles': { tables: [], after: expectIds(['1', '2', '3', '4', '5', '6']) },
    'Roles > Role > Retrieve a role': { tables: [] },
    'Roles > Role > Delete a role': { tables: [], as: ADMIN },

    // Users events roles
    'Users Events Roles > Users Events Roles Collection > List grants': {
      as: OWNER,
      after: expectIds(['1', '2', '3', '4']),
    },
    'Users Events Roles > Users Events Roles Collection > Grant a role > Example 1': OWNER,
    'Users Events Roles > Users Events Roles Collection > Grant a role > Example 2': TRACK_ORGANIZER,
    'Users Events Roles > Users Events Roles Collection > Grant a role > Example 3': OWNER,
    'Users Events Roles > Users Events Role > Retrieve a grant': TRACK_ORGANIZER,
    'Users Events Roles > Users Events Role > Revoke a grant': OWNER,
    'Users Events Roles > Grants of an Event > List the grants of an event': {
      as: TRACK_ORGANIZER,
      after: expectIds(['1', '4']),
    },
    'Users Events Roles > Role Relationship of a Grant > Retrieve the role linkage of a grant': TRACK_ORGANIZER,

    // Authentication
    'Authentication > Login > Sign in > Example 1': { tables: ['users'], setup: withPassword },
    'Authentication > Login > Sign in > Example 2': { tables: ['users'] },
    'Authentication > Login > Sign in > Example 3': { tables: ['users'] },
    'Authentication > Login > Send an invalid token': { tables: ['users'] },
    'Authentication > Session > Sign in (original path)': { tables: ['users'], setup: withPassword },
  });
};
