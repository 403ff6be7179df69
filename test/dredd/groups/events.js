'use strict';
/*
 * events.js: fixtures of the blueprint group "Events"
 * (docs/api/src/10-events.apib). Transaction names are
 * "Events > <Resource> > <Action>[ > Example N]".
 *
 * The examples assume the four events of the table at the top of the group:
 * two published public ones (1, 2), a draft (3) and a private one (4).
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

module.exports = function (h) {
  const withEvents = () => h.insert('events', EVENTS);

  h.before('Events > Events Collection > List events', withEvents);
  h.before('Events > Events Collection > List events, one page', withEvents);
  h.before('Events > Event > Retrieve an event > Example 1', withEvents);
  h.before('Events > Event > Retrieve an event > Example 2', withEvents);
  h.before('Events > Event > Retrieve a hidden or missing event > Example 1', withEvents);
  h.before('Events > Event > Retrieve a hidden or missing event > Example 2', withEvents);
  h.before('Events > Event > Retrieve a hidden or missing event > Example 3', withEvents);
  h.before('Events > Event > Retrieve a hidden or missing event > Example 4', withEvents);
  h.before('Events > Event > Replace an event', withEvents);

  // Beyond the documented types: the list shows exactly the published
  // public events, in id order, and counts only them.
  const expectIds = (ids, count) => (t) => {
    const doc = JSON.parse(t.real.body);
    const got = doc.data.map((e) => e.id);
    if (JSON.stringify(got) !== JSON.stringify(ids) || doc.meta.count !== count) {
      throw new Error(`expected events ${ids} of ${count}, got ${got} of ${doc.meta.count}`);
    }
  };
  h.after('Events > Events Collection > List events', expectIds(['1', '2'], 2));
  h.after('Events > Events Collection > List events, one page', expectIds(['2'], 2));

  // A conditional GET needs the ETag of the event as it is now: ask once,
  // then send the transaction's request with it.
  h.before('Events > Event > Retrieve an event that has not changed', async (t) => {
    await withEvents();
    const res = await h.request('GET', '/v1/events/1', { headers: { Accept: 'application/vnd.api+json' } });
    if (res.status !== 200 || !res.headers.etag) {
      throw new Error(`GET /v1/events/1 for its ETag: ${res.status}, ETag ${res.headers.etag}`);
    }
    t.request.headers['If-None-Match'] = res.headers.etag;
    t.expected.headers.ETag = res.headers.etag;
  });
};
