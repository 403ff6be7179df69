'use strict';
/*
 * world.js: the fixture rows shared by the blueprint groups of the
 * sub-resources, users and roles (docs/api/src/11-*.apib and later). Not a
 * group of its own: the function it exports registers no hook; group files
 * require it for its rows and helpers.
 *
 * The world, as the examples of those groups describe it (ids are the ones
 * the rows get; the reset restarts every identity, the admin is user 1):
 *
 *   users    1 admin (seeded by hooks.js)
 *            2 Olivia Owner     olivia@example.org  owner of events 1, 3, 4
 *            3 Sam Stranger     sam@example.org     no role; proposed session 3
 *            4 Tom Trackman     tom@example.org     track organizer of event 1
 *   events   1 FOSSASIA Summit 2026   published, public, call for papers open
 *            2 Open Source Day 2026   published, public (no owner)
 *            3 Planning Retreat       draft
 *            4 Board Meeting          published, private
 *   event-topics   1 Science & Technology (event 1), 2 Music
 *   tracks         1 Open Hardware (#a5d6a7), 2 Web (#1565c0)        event 1
 *   session-types  1 Talk (00:30), 2 Workshop (02:00)                 event 1
 *   microlocations 1 Hall A, 2 Room 2.01                              event 1
 *   speakers       1 Ana Lima, 2 Kenji Sato (user 3)                  event 1
 *   sessions       1 Building a Mesh Network   accepted  track 1, speaker 1
 *                  2 Progressive Web Apps      confirmed track 2, speakers 1, 2
 *                  3 Rust on Microcontrollers  pending   by user 3, speaker 2
 *                  4 Keynote: Open Source Day  accepted  event 2
 *   sponsors       1 Acme Cloud (level 1), 2 Byte Foundation (level 2) event 1
 *   social-links   1 Mastodon, 2 Website                              event 1
 *   tickets        1 Standard (paid), 2 Student (free)                event 1
 *   users-events-roles 1 (2, 1, owner), 2 (2, 3, owner), 3 (2, 4, owner),
 *                      4 (4, 1, track_organizer)
 *
 * Every user's password is the test admin's (a random one per run), so
 * that hooks can sign them in (h.as) without hashing anything.
 */

const EVENTS = [
  {
    id: 1,
    identifier: 'a1b2c3d4',
    name: 'FOSSASIA Summit 2026',
    starts_at: '2026-03-10T09:00:00+08:00',
    ends_at: '2026-03-12T18:00:00+08:00',
    timezone: 'Asia/Singapore',
    state: 'published',
    privacy: 'public',
    location_name: 'Lifelong Learning Institute',
    searchable_location_name: 'Singapore',
    latitude: 1.3331,
    longitude: 103.9599,
    description: "Asia's open technology summit.",
    owner_name: 'FOSSASIA',
    is_map_shown: true,
    is_sessions_speakers_enabled: true,
    event_topic_id: 1,
  },
  {
    id: 2,
    identifier: 'b2c3d4e5',
    name: 'Open Source Day 2026',
    starts_at: '2026-05-01T10:00:00Z',
    ends_at: '2026-05-01T17:00:00Z',
    timezone: 'UTC',
    state: 'published',
    privacy: 'public',
    online: true,
  },
  {
    id: 3,
    identifier: 'c3d4e5f6',
    name: 'Planning Retreat',
    starts_at: '2026-06-01T09:00:00Z',
    ends_at: '2026-06-02T17:00:00Z',
    timezone: 'UTC',
    state: 'draft',
    privacy: 'public',
  },
  {
    id: 4,
    identifier: 'd4e5f6a7',
    name: 'Board Meeting',
    starts_at: '2026-07-01T09:00:00Z',
    ends_at: '2026-07-01T12:00:00Z',
    timezone: 'UTC',
    state: 'published',
    privacy: 'private',
  },
];

// password_hash is filled in from the admin's row when inserted.
const USERS = [
  {
    id: 2,
    email: 'olivia@example.org',
    first_name: 'Olivia',
    last_name: 'Owner',
    public_name: 'Olivia',
    is_verified: true,
    created_at: '2026-01-05T10:00:00Z',
  },
  {
    id: 3,
    email: 'sam@example.org',
    first_name: 'Sam',
    last_name: 'Stranger',
    public_name: 'sam',
    created_at: '2026-01-06T10:00:00Z',
  },
  {
    id: 4,
    email: 'tom@example.org',
    first_name: 'Tom',
    last_name: 'Trackman',
    created_at: '2026-01-07T10:00:00Z',
  },
];

const EVENT_TOPICS = [
  { id: 1, name: 'Science & Technology', slug: 'science-technology' },
  { id: 2, name: 'Music', slug: 'music' },
];

const USERS_EVENTS_ROLES = [
  { id: 1, user_id: 2, event_id: 1, role_id: 1 },
  { id: 2, user_id: 2, event_id: 3, role_id: 1 },
  { id: 3, user_id: 2, event_id: 4, role_id: 1 },
  { id: 4, user_id: 4, event_id: 1, role_id: 4 },
];

const TRACKS = [
  { id: 1, event_id: 1, name: 'Open Hardware', description: 'Boards, radios and makers.', color: '#a5d6a7', position: 1 },
  { id: 2, event_id: 1, name: 'Web', description: 'Browsers and the open web.', color: '#1565c0', position: 2 },
];

const SESSION_TYPES = [
  { id: 1, event_id: 1, name: 'Talk', length: '00:30', position: 1 },
  { id: 2, event_id: 1, name: 'Workshop', length: '02:00', position: 2 },
];

const MICROLOCATIONS = [
  { id: 1, event_id: 1, name: 'Hall A', floor: 1, room: 'A', latitude: 1.3332, longitude: 103.96, position: 1 },
  { id: 2, event_id: 1, name: 'Room 2.01', floor: 2, room: '2.01', position: 2 },
];

const SPEAKERS = [
  {
    id: 1,
    event_id: 1,
    name: 'Ana Lima',
    email: 'ana@example.org',
    short_biography: 'Builds community mesh networks.',
    organisation: 'Mesh Collective',
    country: 'Brazil',
    city: 'Recife',
    is_featured: true,
  },
  {
    id: 2,
    event_id: 1,
    user_id: 3,
    name: 'Kenji Sato',
    email: 'sam@example.org',
    short_biography: 'Writes firmware in Rust.',
    organisation: 'Embedded Rustaceans',
    country: 'Japan',
    city: 'Osaka',
  },
];

const SESSIONS = [
  {
    id: 1,
    event_id: 1,
    track_id: 1,
    session_type_id: 1,
    microlocation_id: 1,
    creator_id: 2,
    title: 'Building a Mesh Network',
    short_abstract: 'Community networks from a box of routers.',
    language: 'English',
    level: 'Beginner',
    starts_at: '2026-03-10T10:00:00+08:00',
    ends_at: '2026-03-10T10:30:00+08:00',
    state: 'accepted',
    created_at: '2026-01-20T08:00:00Z',
    submitted_at: '2026-01-20T08:00:00Z',
    last_modified_at: '2026-01-25T08:00:00Z',
  },
  {
    id: 2,
    event_id: 1,
    track_id: 2,
    session_type_id: 2,
    microlocation_id: 2,
    creator_id: 2,
    title: 'Progressive Web Apps',
    short_abstract: 'Offline first, installable, fast.',
    language: 'English',
    level: 'Intermediate',
    starts_at: '2026-03-10T14:00:00+08:00',
    ends_at: '2026-03-10T16:00:00+08:00',
    state: 'confirmed',
    created_at: '2026-01-21T08:00:00Z',
    submitted_at: '2026-01-21T08:00:00Z',
    last_modified_at: '2026-01-26T08:00:00Z',
  },
  {
    id: 3,
    event_id: 1,
    track_id: 1,
    session_type_id: 1,
    creator_id: 3,
    title: 'Rust on Microcontrollers',
    short_abstract: 'No std, no problem.',
    language: 'English',
    level: 'Advanced',
    state: 'pending',
    created_at: '2026-01-22T08:00:00Z',
    submitted_at: '2026-01-22T08:00:00Z',
    last_modified_at: '2026-01-22T08:00:00Z',
  },
  {
    id: 4,
    event_id: 2,
    title: 'Keynote: Open Source Day',
    starts_at: '2026-05-01T10:00:00Z',
    ends_at: '2026-05-01T10:45:00Z',
    state: 'accepted',
    created_at: '2026-02-01T08:00:00Z',
    last_modified_at: '2026-02-01T08:00:00Z',
  },
];

const SESSIONS_SPEAKERS = [
  { session_id: 1, speaker_id: 1 },
  { session_id: 2, speaker_id: 1 },
  { session_id: 2, speaker_id: 2 },
  { session_id: 3, speaker_id: 2 },
];

const SPONSORS = [
  {
    id: 1,
    event_id: 1,
    name: 'Acme Cloud',
    description: 'Hosting for open source projects.',
    url: 'https://cloud.example.com',
    level: 1,
    type: 'Gold',
  },
  { id: 2, event_id: 1, name: 'Byte Foundation', url: 'https://bytes.example.org', level: 2, type: 'Silver' },
];

const SOCIAL_LINKS = [
  { id: 1, event_id: 1, name: 'Mastodon', link: 'https://floss.social/@summit', identifier: 'summit' },
  { id: 2, event_id: 1, name: 'Website', link: 'https://summit.example.org' },
];

const TICKETS = [
  {
    id: 1,
    event_id: 1,
    name: 'Standard',
    description: 'All three days.',
    type: 'paid',
    price: 50,
    quantity: 300,
    position: 1,
    sales_starts_at: '2026-01-01T00:00:00Z',
    sales_ends_at: '2026-03-09T00:00:00Z',
    max_order: 5,
  },
  {
    id: 2,
    event_id: 1,
    name: 'Student',
    type: 'free',
    price: 0,
    quantity: 100,
    position: 2,
    sales_starts_at: '2026-01-01T00:00:00Z',
    sales_ends_at: '2026-03-09T00:00:00Z',
  },
];

// Tables in the order they are filled (referenced tables first).
const TABLES = [
  ['event_topics', EVENT_TOPICS],
  ['users', USERS],
  ['events', EVENTS],
  ['users_events_roles', USERS_EVENTS_ROLES],
  ['tracks', TRACKS],
  ['session_types', SESSION_TYPES],
  ['microlocations', MICROLOCATIONS],
  ['speakers', SPEAKERS],
  ['sessions', SESSIONS],
  ['sessions_speakers', SESSIONS_SPEAKERS],
  ['sponsors', SPONSORS],
  ['social_links', SOCIAL_LINKS],
  ['tickets', TICKETS],
];

const ROWS = Object.fromEntries(TABLES);

// Ids of the users, by the role they play in the examples.
const OWNER = 2;
const STRANGER = 3;
const TRACK_ORGANIZER = 4;

/*
 * Inserts the world, or the named tables of it (with the tables they
 * depend on: callers name what the transaction needs, e.g. ['tracks']),
 * with h.insert. `except` leaves tables out (e.g. ['users'] for a sign-up
 * example that must get id 2).
 */
const NEEDS = {
  event_topics: [],
  users: [],
  events: ['event_topics'],
  users_events_roles: ['users', 'events'],
  tracks: ['events'],
  session_types: ['events'],
  microlocations: ['events'],
  speakers: ['events', 'users'],
  sessions: ['tracks', 'session_types', 'microlocations', 'users'],
  sessions_speakers: ['sessions', 'speakers'],
  sponsors: ['events'],
  social_links: ['events'],
  tickets: ['events'],
};

function closure(names) {
  const out = new Set();
  const visit = (n) => {
    if (out.has(n)) return;
    if (!NEEDS[n]) throw new Error(`world: no table ${n}`);
    out.add(n);
    NEEDS[n].forEach(visit);
  };
  names.forEach(visit);
  return out;
}

async function insertWorld(h, names = TABLES.map(([t]) => t)) {
  const want = closure(names);
  // Every event of the world has its owner role when both exist.
  if (want.has('events') && want.has('users')) want.add('users_events_roles');
  const hash = h.admin && h.admin.passwordHash;
  for (const [table, rows] of TABLES) {
    if (!want.has(table)) continue;
    const data = table === 'users' ? rows.map((u) => ({ ...u, password_hash: hash })) : rows;
    await h.insert(table, data);
  }
}

// The ids of a list answer's data, and its meta.count.
function listed(t) {
  if (!t.real || !t.real.body) throw new Error('no answer to check');
  const doc = JSON.parse(t.real.body);
  return { ids: (doc.data || []).map((o) => o.id), count: doc.meta && doc.meta.count, doc };
}

// An after hook: the list holds exactly `ids`, in this order, of `count`
// in all (default: as many as ids).
function expectIds(ids, count = ids.length) {
  return (t) => {
    if (t.fail) return; // already failed: Gavel says why
    const got = listed(t);
    if (JSON.stringify(got.ids) !== JSON.stringify(ids) || got.count !== count) {
      t.fail = `expected ids [${ids}] of ${count}, got [${got.ids}] of ${got.count}`;
    }
  };
}

/*
 * Registers the hooks of a group: `entries` maps transaction names to
 *   a user id (act as that user), or an object with
 *     as       user id to act as (1: the admin); none: anonymous
 *     tables   tables of the world to insert (default: all of it; [] none)
 *     setup    async (t) => {...} run after the fixtures, before signing in
 *     after    an after hook (e.g. expectIds(...))
 * A transaction whose documented request carries an Authorization header
 * with a placeholder ("<token ...>") must name a user: the run fails
 * otherwise, so that no example is sent with the placeholder by mistake.
 */
function define(h, entries) {
  for (const [name, spec] of Object.entries(entries)) {
    const o = typeof spec === 'number' ? { as: spec } : spec || {};
    h.before(name, async (t) => {
      await insertWorld(h, o.tables);
      if (o.setup) await o.setup(t);
      if (o.as) await h.as(t, o.as);
      const auth = t.request.headers.Authorization || '';
      if (auth.includes('<token')) throw new Error('documented with a token but no user: set `as`');
    });
    if (o.after) h.after(name, o.after);
  }
}

module.exports = function () {
  // registers nothing: see the comment at the top
};
Object.assign(module.exports, {
  ROWS,
  TABLES,
  OWNER,
  STRANGER,
  TRACK_ORGANIZER,
  insertWorld,
  define,
  expectIds,
  listed,
});
