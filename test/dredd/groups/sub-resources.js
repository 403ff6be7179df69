'use strict';
/*
 * sub-resources.js: fixtures of the blueprint groups of an event's
 * sub-resources other than sessions: "Speakers", "Tracks",
 * "Microlocations", "Session Types", "Sponsors", "Social Links" and
 * "Tickets" (docs/api/src/13-*.apib to 19-*.apib). Every example runs on
 * the world of world.js.
 */
const W = require('./world.js');

const { OWNER, STRANGER, expectIds } = W;

module.exports = function (h) {
  W.define(h, {
    // Speakers
    'Speakers > Speakers Collection > Create a speaker': OWNER,
    'Speakers > Speakers Collection > List all speakers': {},
    'Speakers > Speaker > Retrieve a speaker': {},
    'Speakers > Speaker > Update a speaker': STRANGER,
    'Speakers > Speaker > Delete a speaker': OWNER,
    'Speakers > Speakers of an Event > List the speakers of an event': { after: expectIds(['1', '2']) },
    'Speakers > Speakers of a Session > List the speakers of a session': { after: expectIds(['1', '2']) },
    'Speakers > Sessions Relationship of a Speaker > Retrieve the sessions linkage of a speaker': {},

    // Tracks
    'Tracks > Tracks Collection > List tracks': { after: expectIds(['1', '2']) },
    'Tracks > Tracks Collection > Create a track': OWNER,
    'Tracks > Track > Retrieve a track': {},
    'Tracks > Track > Update a track': OWNER,
    'Tracks > Track > Delete a track': OWNER,
    'Tracks > Tracks of an Event > List the tracks of an event': { after: expectIds(['1', '2']) },
    'Tracks > Track of a Session > Retrieve the track of a session': {},
    'Tracks > Sessions Relationship of a Track > Retrieve the sessions linkage of a track': {},

    // Microlocations
    'Microlocations > Microlocations Collection > Create a microlocation': OWNER,
    'Microlocations > Microlocation > Retrieve a microlocation': {},
    'Microlocations > Microlocation > Update a microlocation': OWNER,
    'Microlocations > Microlocation > Delete a microlocation': OWNER,
    'Microlocations > Microlocations of an Event > List the microlocations of an event': {
      after: expectIds(['1', '2']),
    },
    'Microlocations > Microlocation of a Session > Retrieve the microlocation of a session': {},
    'Microlocations > Sessions Relationship of a Microlocation > Retrieve the sessions linkage of a microlocation': {},

    // Session types
    'Session Types > Session Types Collection > Create a session type > Example 1': OWNER,
    'Session Types > Session Types Collection > Create a session type > Example 2': STRANGER,
    'Session Types > Session Type > Retrieve a session type': {},
    'Session Types > Session Type > Update a session type': OWNER,
    'Session Types > Session Type > Delete a session type': OWNER,
    'Session Types > Session Types of an Event > List the session types of an event': {
      after: expectIds(['1', '2']),
    },
    'Session Types > Session Type of a Session > Retrieve the session type of a session': {},
    'Session Types > Session Type Relationship of a Session > Retrieve the session type linkage of a session': {},

    // Sponsors
    'Sponsors > Sponsors Collection > Create a sponsor': OWNER,
    'Sponsors > Sponsor > Retrieve a sponsor': {},
    'Sponsors > Sponsor > Update a sponsor': OWNER,
    'Sponsors > Sponsor > Delete a sponsor': OWNER,
    'Sponsors > Sponsors of an Event > List the sponsors of an event': { after: expectIds(['1', '2']) },
    'Sponsors > Event Relationship of a Sponsor > Retrieve the event linkage of a sponsor': {},

    // Social links
    'Social Links > Social Links Collection > Create a social link': OWNER,
    'Social Links > Social Link > Retrieve a social link': {},
    'Social Links > Social Link > Update a social link': OWNER,
    'Social Links > Social Link > Delete a social link': OWNER,
    'Social Links > Social Links of an Event > List the social links of an event': {
      after: expectIds(['1', '2']),
    },
    'Social Links > Event Relationship of a Social Link > Retrieve the event linkage of a social link': {},

    // Tickets
    'Tickets > Tickets Collection > Create a ticket > Example 1': OWNER,
    'Tickets > Tickets Collection > Create a ticket > Example 2': OWNER,
    'Tickets > Ticket > Retrieve a ticket': {},
    'Tickets > Ticket > Update a ticket': OWNER,
    'Tickets > Ticket > Delete a ticket': OWNER,
    'Tickets > Tickets of an Event > List the tickets of an event': { after: expectIds(['1', '2']) },
    'Tickets > Event Relationship of a Ticket > Retrieve the event linkage of a ticket': {},
  });
};
