"""Signals and their receivers (spec §7; issue 7): the four named signals
sent after committed writes, the per-event version counters behind
GET /v1/events/{id}/versions, SIGNALS=off, and the coalesced regeneration
of an event's public exports.

The receivers bump the counters through `versions.bump` tasks, so every
check waits for the task to finish (polling the versions document) and then
checks that the counter moved by exactly one: not zero, not twice.
"""

import json
import os
import time

from fixtures import api, grant, make_user, patch, sql_event, sql_insert
from helpers import eq, expect, show, wait_for
from redis_fixture import RedisServer

COUNTERS = ("event-ver", "sessions-ver", "speakers-ver", "microlocations-ver")


def versions(h, ev, token=None, key="id"):
    path = "/v1/events/%s/versions" % ev[key]
    st, hd, doc = api(h, "GET", path, token=token)
    expect(st == 200, "GET %s: expected 200, got %d: %s" % (path, st, show(doc)))
    return doc


def counters(h, ev):
    return versions(h, ev)["data"]["attributes"]


def wait_counters(h, ev, want, timeout=10):
    """Waits until the counters equal want, then checks they stay so."""
    got = {}

    def reached():
        got.clear()
        got.update(counters(h, ev))
        return all(got.get(k) == v for k, v in want.items())

    try:
        wait_for(reached, timeout, what="versions %r" % want)
    except AssertionError:
        raise AssertionError("versions of event %d: expected %r, last seen %r"
                             % (ev["id"], want, got))
    time.sleep(0.5)
    now = counters(h, ev)
    for k, v in want.items():
        eq(now.get(k), v, "%s after settling (bumped twice?)" % k)


def world(h):
    owner = make_user(h)
    ev = sql_event(h, owner, name="Signals")
    sid = sql_insert(h, "sessions", event_id=ev["id"], title="Talk", state="accepted",
                     starts_at="2030-06-01T10:00:00Z", ends_at="2030-06-01T11:00:00Z")
    return owner, ev, sid


def test_versions_document(h):
    owner, ev, _ = world(h)
    doc = versions(h, ev)
    d = doc.get("data") or {}
    eq(d.get("type"), "event-version", "data.type")
    eq(d.get("id"), str(ev["id"]), "data.id (the event's id, a string)")
    eq(d.get("attributes"), {k: 0 for k in COUNTERS}, "attributes before any change")
    eq(doc.get("jsonapi"), {"version": "1.0"}, "jsonapi member")
    eq(versions(h, ev, key="identifier")["data"]["id"], str(ev["id"]), "by identifier")
    # visibility follows the event
    draft = sql_event(h, owner, name="Draft", state="draft")
    st, _, doc = api(h, "GET", "/v1/events/%d/versions" % draft["id"])
    eq(st, 404, "versions of a draft event, anonymous: %s" % show(doc))
    stranger = make_user(h)
    st, _, doc = api(h, "GET", "/v1/events/%d/versions" % draft["id"], token=stranger)
    eq(st, 404, "versions of a draft event, stranger: %s" % show(doc))
    eq(versions(h, draft, token=owner)["data"]["id"], str(draft["id"]), "owner reads the draft")
    st, _, _ = api(h, "GET", "/v1/events/999999/versions")
    eq(st, 404, "versions of an unknown event")


def test_session_patch_bumps_sessions_ver(h):
    owner, ev, sid = world(h)
    patch(h, "sessions", sid, "session", {"title": "Renamed"}, token=owner)
    wait_counters(h, ev, {"sessions-ver": 1, "event-ver": 0, "speakers-ver": 0,
                          "microlocations-ver": 0})
    patch(h, "sessions", sid, "session", {"title": "Renamed again"}, token=owner)
    wait_counters(h, ev, {"sessions-ver": 2})
    # trash and restore are writes too
    st, _, doc = api(h, "DELETE", "/v1/sessions/%d" % sid, token=owner)
    eq(st, 200, "DELETE session: %s" % show(doc))
    wait_counters(h, ev, {"sessions-ver": 3})
    st, _, doc = api(h, "POST", "/v1/sessions/%d/restore" % sid, token=owner)
    eq(st, 200, "restore session: %s" % show(doc))
    wait_counters(h, ev, {"sessions-ver": 4})


def test_each_signal_bumps_its_counter(h):
    owner, ev, _ = world(h)
    spk = sql_insert(h, "speakers", event_id=ev["id"], name="Ada")
    mic = sql_insert(h, "microlocations", event_id=ev["id"], name="Room 1")
    trk = sql_insert(h, "tracks", event_id=ev["id"], name="Main", color="#112233")
    patch(h, "speakers", spk, "speaker", {"name": "Ada L."}, token=owner)
    wait_counters(h, ev, {"speakers-ver": 1, "sessions-ver": 0})
    patch(h, "microlocations", mic, "microlocation", {"name": "Room 2"}, token=owner)
    wait_counters(h, ev, {"microlocations-ver": 1, "speakers-ver": 1})
    # other sub-resources send event_json_modified
    patch(h, "tracks", trk, "track", {"name": "Side"}, token=owner)
    wait_counters(h, ev, {"event-ver": 1, "microlocations-ver": 1})
    patch(h, "events", ev["id"], "event", {"name": "Signals 2"}, token=owner)
    wait_counters(h, ev, {"event-ver": 2, "sessions-ver": 0, "speakers-ver": 1})


def test_signals_off_delivers_nothing(h):
    h.restart_server({"SIGNALS": "off"})
    owner, ev, sid = world(h)
    patch(h, "sessions", sid, "session", {"title": "Renamed"}, token=owner)
    time.sleep(1.5)
    eq(counters(h, ev), {k: 0 for k in COUNTERS}, "counters with SIGNALS=off")
    eq(h.sql("SELECT count(*) FROM tasks"), "0", "tasks enqueued with SIGNALS=off")


def test_export_regeneration_is_coalesced(h):
    uploads = h.server.env["UPLOAD_DIR"]  # the harness's local storage
    owner, ev, sid = world(h)
    sql_insert(h, "sessions", event_id=ev["id"], title="Secret draft", state="draft")
    t0 = time.monotonic()
    for i in range(10):
        patch(h, "sessions", sid, "session", {"title": "Title %d" % i}, token=owner)
    elapsed = time.monotonic() - t0
    wait_counters(h, ev, {"sessions-ver": 10}, timeout=20)
    q = ("SELECT count(*) FROM tasks WHERE name = 'export.regenerate' "
         "AND (payload->>'event_id')::bigint = %d" % ev["id"])
    wait_for(lambda: int(h.sql(q + " AND state = 'SUCCESS'")) >= 1, 10,
             what="the regeneration task to succeed")
    time.sleep(1.5)
    n = int(h.sql(q))
    if elapsed < 0.8:
        eq(n, 1, "export.regenerate tasks after ten changes within %.2f s" % elapsed)
    else:  # a slow build (valgrind): one regeneration per coalescing window at most
        expect(1 <= n <= 2 + int(elapsed), "export.regenerate tasks after ten changes in "
               "%.2f s: %d" % (elapsed, n))
    res = h.sql("SELECT result::text FROM tasks WHERE name = 'export.regenerate' LIMIT 1")
    for k in ("json_url", "ical_url", "xcal_url"):
        expect(k in res, "regeneration result has %s: %s" % (k, res))
    # the public files: no draft session in them
    files = [os.path.join(uploads, "exports", ev["identifier"], f)
             for f in ("event.json", "calendar.ics", "calendar.xcs")]
    for f in files:
        expect(os.path.isfile(f), "regenerated file %s" % f)
    with open(files[0]) as fh:
        data = json.load(fh)
    eq([s["title"] for s in data["sessions"]], ["Title 9"], "sessions of the public export")
    # a later change makes a new regeneration; unpublished, the files go
    patch(h, "events", ev["id"], "event", {"state": "draft"}, token=owner)
    wait_for(lambda: int(h.sql(q + " AND state = 'SUCCESS'")) == n + 1, 10,
             what="another regeneration after a later change")
    wait_for(lambda: not any(os.path.exists(f) for f in files), 10,
             what="the public files of an unpublished event to go")


def test_signals_through_redis(h):
    r = RedisServer(h)
    # a host name: resolved with evdns (from /etc/hosts), not on the loop
    h.restart_server({"REDIS_URL": "redis://localhost:%d" % r.port})
    owner, ev, sid = world(h)
    patch(h, "sessions", sid, "session", {"title": "Renamed"}, token=owner)
    wait_counters(h, ev, {"sessions-ver": 1})
    eq(r.cmd("LLEN", "oes:tasks:processing"), 0, "processing list after the tasks were acked")
