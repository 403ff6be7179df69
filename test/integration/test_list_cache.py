"""Documents of anonymous event lists kept in memory (core/listcache,
sql/008_list_generations.sql): a repeated list is served from memory (kept
from its second build on: URIs asked once are never kept), and
never once the event's rows have changed, whoever changed them (the API,
SQL, a reset that recreates the same ids); lists that may depend on rows
outside the event, or on the caller, are always built; the memory stays
within LIST_CACHE_BYTES."""

import json

from fixtures import api, create, make_event, make_user, patch, sql_insert
from helpers import eq, expect, get_metrics, metric, seed_event, wait_for

LIST = "/v1/events/%d/sessions?include=speakers%%2Ctrack"


def counts(h):
    samples, _, _ = get_metrics(h)
    return {k: metric(samples, "oes_list_cache_%s" % k)
            for k in ("hits_total", "misses_total", "stores_total", "evictions_total", "first_builds_total",
                      "entries", "bytes")}


def get(h, path, headers=None):
    st, hd, body = h.request("GET", path, headers=headers)
    return st, hd, body


def doc_of(h, path):
    st, hd, body = get(h, path)
    eq(st, 200, "GET %s" % path)
    return json.loads(body), hd, body


def world(h):
    owner = make_user(h)
    ev = make_event(h, owner, name="Cached")
    er = {"event": ("event", ev["id"])}
    tr = create(h, "tracks", "track", {"name": "Main", "color": "#112233"}, er, owner)
    sp = create(h, "speakers", "speaker", {"name": "Ann"}, er, owner)
    se = create(h, "sessions", "session", {"title": "Opening", "state": "accepted"},
                dict(er, track=("track", tr["id"]), speakers=[("speaker", sp["id"])]), owner)
    return owner, ev, tr, sp, se


def included(doc, type_):
    return [o for o in doc.get("included", []) if o["type"] == type_]


def test_repeated_list_is_served_from_memory(h):
    owner, ev, tr, sp, se = world(h)
    path = LIST % ev["id"]
    c0 = counts(h)
    first, hd1, body1 = doc_of(h, path)
    cf = counts(h)
    eq((cf["stores_total"] - c0["stores_total"], cf["first_builds_total"] - c0["first_builds_total"]), (0, 1),
       "the first build of a URI is not kept")
    again = doc_of(h, path)[2]
    eq(again, body1, "the second build")
    c1 = counts(h)
    eq(c1["stores_total"] - cf["stores_total"], 1, "the second build is kept")
    second, hd2, body2 = doc_of(h, path)
    c2 = counts(h)
    eq(c2["hits_total"] - c1["hits_total"], 1, "the second is served from memory")
    eq(body2, body1, "the same bytes")
    eq(hd2.get("etag"), hd1.get("etag"), "the same ETag")
    expect(hd2.get("etag", "").startswith('W/"'), "a weak ETag on a document from memory")
    eq(hd2.get("content-type"), "application/vnd.api+json", "content type from memory")
    expect(hd2.get("x-request-id") and hd2.get("x-request-id") != hd1.get("x-request-id"),
           "every response has its own X-Request-Id")
    st, hd3, body3 = get(h, path, headers={"If-None-Match": hd1["etag"]})
    eq((st, body3), (304, b""), "If-None-Match on a document from memory")
    eq([d["attributes"]["title"] for d in first["data"]], ["Opening"], "the document")
    eq([o["attributes"]["name"] for o in included(first, "speaker")], ["Ann"], "included speakers")
    # HEAD is answered from the same document, without a body
    st, hd4, body4 = h.request("HEAD", path)
    eq((st, body4, hd4.get("etag")), (200, b"", hd1["etag"]), "HEAD from memory")


def test_api_writes_are_seen_at_once(h):
    owner, ev, tr, sp, se = world(h)
    path = LIST % ev["id"]
    doc_of(h, path)
    doc_of(h, path)  # in memory now

    patch(h, "sessions", se["id"], "session", {"title": "Keynote"}, token=owner)
    eq([d["attributes"]["title"] for d in doc_of(h, path)[0]["data"]], ["Keynote"], "session title after PATCH")

    patch(h, "tracks", tr["id"], "track", {"name": "Hall A"}, token=owner)
    eq([o["attributes"]["name"] for o in included(doc_of(h, path)[0], "track")], ["Hall A"],
       "included track after PATCH")

    patch(h, "speakers", sp["id"], "speaker", {"name": "Ann Lee"}, token=owner)
    eq([o["attributes"]["name"] for o in included(doc_of(h, path)[0], "speaker")], ["Ann Lee"],
       "included speaker after PATCH")

    sp2 = create(h, "speakers", "speaker", {"name": "Bo"}, {"event": ("event", ev["id"])}, owner)
    patch(h, "sessions", se["id"], "session", rels={"speakers": [("speaker", sp2["id"])]}, token=owner)
    eq([o["attributes"]["name"] for o in included(doc_of(h, path)[0], "speaker")], ["Bo"],
       "included speakers after the relationship changed")

    new = create(h, "sessions", "session", {"title": "Second", "state": "accepted"},
                 {"event": ("event", ev["id"])}, owner)
    d = doc_of(h, path)[0]
    eq([x["attributes"]["title"] for x in d["data"]], ["Keynote", "Second"], "a created session")
    eq(d["meta"]["count"], 2, "meta.count after a create")

    st, _, _ = api(h, "DELETE", "/v1/sessions/%s" % new["id"], token=owner)
    eq(st, 200, "DELETE the second session")
    eq([x["attributes"]["title"] for x in doc_of(h, path)[0]["data"]], ["Keynote"], "after a (soft) delete")

    patch(h, "events", ev["id"], "event", {"state": "draft"}, token=owner)
    st, _, _ = get(h, path)
    eq(st, 404, "the list of an event made a draft (not visible anonymously)")
    patch(h, "events", ev["id"], "event", {"state": "published"}, token=owner)
    eq(len(doc_of(h, path)[0]["data"]), 1, "published again")


def test_sql_writes_are_seen_at_once(h):
    owner, ev, tr, sp, se = world(h)
    path = LIST % ev["id"]
    doc_of(h, path)
    doc_of(h, path)  # in memory now
    h.sql("UPDATE tracks SET name = 'Renamed' WHERE id = %s" % tr["id"])
    eq([o["attributes"]["name"] for o in included(doc_of(h, path)[0], "track")], ["Renamed"],
       "a track renamed by SQL")
    cy = sql_insert(h, "speakers", event_id=ev["id"], name="Cy")
    doc_of(h, path)  # kept under the generation the insert made
    h.sql("UPDATE sessions_speakers SET speaker_id = %d WHERE session_id = %s" % (cy, se["id"]))
    eq([o["attributes"]["name"] for o in included(doc_of(h, path)[0], "speaker")], ["Cy"],
       "a link changed by SQL")
    h.sql("DELETE FROM sessions_speakers WHERE session_id = %s" % se["id"])
    eq(included(doc_of(h, path)[0], "speaker"), [], "a link deleted by SQL")
    h.sql("UPDATE sessions SET state = 'rejected' WHERE id = %s" % se["id"])
    eq(doc_of(h, path)[0]["data"], [], "a session rejected by SQL")
    h.sql("UPDATE events SET privacy = 'private' WHERE id = %s" % ev["id"])
    eq(get(h, path)[0], 404, "an event made private by SQL")


def test_a_write_during_a_build_is_not_hidden(h):
    owner, ev, tr, sp, se = world(h)
    path = LIST % ev["id"]
    doc_of(h, path)
    patch(h, "sessions", se["id"], "session", {"title": "Built"}, token=owner)  # new generation
    lock = h.lock("sessions")
    import threading
    got = {}
    t = threading.Thread(target=lambda: got.update(r=get(h, path)))
    t.start()
    # the list has read the generation and waits for the table
    wait_for(lambda: h.lock_waiters() >= 1, 5, 0.05, "the list waiting for the lock")
    lock.proc.stdin.write(("UPDATE sessions SET title = 'Changed meanwhile' WHERE id = %s;\n"
                           % se["id"]).encode())
    lock.release()
    t.join(30)
    eq(got["r"][0], 200, "the list that waited")
    eq([d["attributes"]["title"] for d in doc_of(h, path)[0]["data"]], ["Changed meanwhile"],
       "the next list shows the write that committed during the build")


def test_recreated_ids_do_not_see_old_documents(h):
    ev = seed_event(h, name="Before")
    sql_insert(h, "sessions", event_id=ev["id"], title="Old talk", state="accepted")
    path = LIST % ev["id"]
    doc_of(h, path)
    doc_of(h, path)
    h.reset_db()  # TRUNCATE ... RESTART IDENTITY: the same ids come again
    ev2 = seed_event(h, name="After")
    eq(ev2["id"], ev["id"], "the reset hands out the same event id")
    sql_insert(h, "sessions", event_id=ev2["id"], title="New talk", state="accepted")
    eq([d["attributes"]["title"] for d in doc_of(h, path)[0]["data"]], ["New talk"],
       "an event recreated with the same id")


def test_lists_that_are_always_built(h):
    owner, ev, tr, sp, se = world(h)
    eid = ev["id"]
    cases = [
        ("signed in", LIST % eid, {"Authorization": "JWT " + owner["token"]}),
        ("include reaching users", "/v1/events/%d/sessions?include=creator" % eid, None),
        ("filter", "/v1/events/%d/sessions?filter=%%5B%%5D" % eid, None),
        ("sort through a relationship", "/v1/events/%d/sessions?sort=track.name" % eid, None),
        ("event by identifier", "/v1/events/%s/sessions" % ev["identifier"], None),
        ("a list outside events", "/v1/sessions", None),
    ]
    for what, path, hd in cases:
        before = counts(h)
        for _ in range(2):
            st, _, _ = get(h, path, headers=hd)
            expect(st in (200, 400), "%s: GET %s gave %d" % (what, path, st))
        after = counts(h)
        eq((after["stores_total"] - before["stores_total"], after["hits_total"] - before["hits_total"]),
           (0, 0), "%s: not stored, not served from memory" % what)


def test_off_and_budget(h):
    h.restart_server({"LIST_CACHE_BYTES": "0"})
    ev = seed_event(h, name="Off")
    sql_insert(h, "sessions", event_id=ev["id"], title="T", state="accepted")
    for _ in range(3):
        doc_of(h, LIST % ev["id"])
    c = counts(h)
    eq((c["stores_total"], c["hits_total"], c["entries"]), (0, 0, 0), "LIST_CACHE_BYTES=0: nothing kept")

    budget = 40000  # a document of at most 5,000 bytes is kept
    h.restart_server({"LIST_CACHE_BYTES": str(budget)})
    events = []
    for i in range(12):
        e = seed_event(h, name="B%d" % i)
        sql_insert(h, "sessions", event_id=e["id"], title="Talk %d %s" % (i, "x" * 3000), state="accepted")
        events.append(e)
    for e in events:
        doc_of(h, LIST % e["id"])
        doc_of(h, LIST % e["id"])  # kept from the second build
    c = counts(h)
    eq(c["stores_total"], 12, "12 lists stored")
    expect(c["evictions_total"] >= 1, "the budget evicted: %r" % c)
    expect(c["bytes"] <= budget, "bytes within LIST_CACHE_BYTES: %r" % c)
    # the most recent is still there, the first was evicted
    before = counts(h)
    doc_of(h, LIST % events[-1]["id"])
    doc_of(h, LIST % events[0]["id"])
    after = counts(h)
    eq((after["hits_total"] - before["hits_total"], after["misses_total"] - before["misses_total"]),
       (1, 1), "the newest from memory, the oldest rebuilt")
    # a document larger than an eighth of the budget is not kept
    big = seed_event(h, name="Big")
    h.sql("INSERT INTO sessions (event_id, title, state) SELECT %d, repeat('y', 500), 'accepted' "
          "FROM generate_series(1, 20)" % big["id"])
    before = counts(h)
    for _ in range(3):
        doc_of(h, LIST % big["id"])
    eq(counts(h)["stores_total"] - before["stores_total"], 0, "a document over budget/8 is not kept")


def test_lists_asked_once_are_not_kept(h):
    """URIs asked once (an ignored parameter that changes every time, as a
    cache-busting client or a crawler makes them) are built, not kept, and
    push nothing out of memory."""
    owner, ev, tr, sp, se = world(h)
    path = LIST % ev["id"]
    doc_of(h, path)
    doc_of(h, path)  # in memory now
    before = counts(h)
    for i in range(40):
        eq(doc_of(h, path + "&nocache=%d" % i)[0]["data"][0]["attributes"]["title"], "Opening", "a one-off URI")
    after = counts(h)
    eq((after["stores_total"] - before["stores_total"], after["first_builds_total"] - before["first_builds_total"],
        after["evictions_total"] - before["evictions_total"]), (0, 40, 0), "40 one-off URIs: built, not kept")
    doc_of(h, path)
    eq(counts(h)["hits_total"] - after["hits_total"], 1, "the repeated list is still served from memory")


def test_every_event_table_changes_the_generation(h):
    """A table whose rows belong to an event (an event_id column) must change
    the event's generation on every kind of write, or lists could be served
    stale after a write to it."""
    # event_versions: counters the versions route shows (never kept);
    # users_events_roles: role rows, which no anonymous caller sees or is
    # judged by (see sql/008)
    tables = set(h.sql("SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
                       "AND column_name = 'event_id' AND table_name NOT IN ('event_generations', "
                       "'event_versions', 'users_events_roles')").split())
    tables |= {"events", "sessions_speakers"}
    have = h.sql("SELECT c.relname || ' ' || t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                 "WHERE t.tgname LIKE '%\\_generation\\_%'").splitlines()
    for t in sorted(tables):
        for op in ("ins", "upd", "del", "trunc"):
            expect("%s %s_generation_%s" % (t, t, op) in have, "table %s lacks its %s generation trigger" % (t, op))


def test_identical_large_lists_waiting_share_one_build(h):
    """Large lists take turns (LARGE_LISTS_MAX); identical ones that waited
    for a turn are answered with the document the first one built."""
    from test_large_lists import raw_get, read_all, seed_sessions
    h.restart_server({"LARGE_LIST_ROWS": "5", "LARGE_LISTS_MAX": "1"})
    ev = seed_event(h, name="Herd")
    seed_sessions(h, ev["id"], 30)
    path = "/v1/events/%d/sessions?page%%5Bsize%%5D=10" % ev["id"]
    before = counts(h)
    lock = h.lock("sessions")
    socks = []
    try:
        socks.append(raw_get(h.port, path))
        wait_for(lambda: h.lock_waiters() >= 1, 5, 0.05, "the first large list waiting for the lock")
        socks += [raw_get(h.port, path) for _ in range(3)]
        wait_for(lambda: counts(h)["misses_total"] - before["misses_total"] >= 4, 5, 0.05,
                 "four lists that found nothing in memory")
    finally:
        lock.release()
    bodies = []
    for s in socks:
        st, body = read_all(s)
        eq(st, 200, "a large list")
        bodies.append(body)
    eq(len(set(bodies)), 1, "the four documents are the same")
    eq(len(json.loads(bodies[0])["data"]), 10, "rows")
    after = counts(h)
    eq((after["stores_total"] - before["stores_total"], after["hits_total"] - before["hits_total"]), (1, 3),
       "built once, the three that waited answered from memory")
