"""The vertical slice: GET /v1/events and GET /v1/events/{id|identifier}."""

from urllib.parse import quote

from helpers import (check_error, check_event, check_ok_doc, check_ts, eq, expect, link_query, seed_event,
                     show)


def get(h, path, headers=None):
    return h.json("GET", path, headers=headers)


def test_empty_list(h):
    doc = check_ok_doc("GET", "/v1/events", get(h, "/v1/events"))
    eq(doc.get("data"), [], "GET /v1/events on an empty database: data")
    eq((doc.get("meta") or {}).get("count"), 0, "GET /v1/events on an empty database: meta.count")
    expect(isinstance(doc.get("links"), dict) and doc["links"].get("self"),
           "GET /v1/events: links.self missing: %s" % show(doc))


def test_list_shows_only_live_published_public_in_id_order(h):
    a = seed_event(h, name="Alpha")
    seed_event(h, name="Draft", state="draft")
    b = seed_event(h, name="Beta")
    seed_event(h, name="Private", privacy="private")
    seed_event(h, name="Trashed", deleted_at="2026-01-01T00:00:00Z")
    seed_event(h, name="Draft and private", state="draft", privacy="private")
    c = seed_event(h, name="Gamma")
    doc = check_ok_doc("GET", "/v1/events", get(h, "/v1/events"))
    data = doc.get("data")
    expect(isinstance(data, list), "GET /v1/events: data is not a list: %s" % show(doc))
    eq([r.get("id") for r in data], [str(a["id"]), str(b["id"]), str(c["id"])],
       "GET /v1/events: ids of live published public events, ascending")
    eq(doc.get("meta"), {"count": 3}, "GET /v1/events: meta")
    for res, ev in zip(data, (a, b, c)):
        check_event(res, ev, "GET /v1/events data[%s]" % ev["id"])


def test_detail_by_id_and_identifier(h):
    seed_event(h, name="Other")
    ev = seed_event(h, name="Main event", starts_at="2026-03-04T05:06:07Z", ends_at="2026-03-05T10:00:00Z",
                    timezone_="Europe/Berlin", description="Über <b>all</b> \"quoted\"\n", online=True,
                    latitude=52.5)
    for ref in (str(ev["id"]), ev["identifier"]):
        path = "/v1/events/" + ref
        doc = check_ok_doc("GET", path, get(h, path))
        self_link = (doc.get("links") or {}).get("self")
        expect(self_link in (path, "/v1/events/%d" % ev["id"]),
               "%s: links.self %r, expected %r" % (path, self_link, path))
        res = doc.get("data")
        check_event(res, ev, path)
        a = res["attributes"]
        check_ts(a.get("starts-at"), "2026-03-04T05:06:07Z", path + ": starts-at")
        check_ts(a.get("ends-at"), "2026-03-05T10:00:00Z", path + ": ends-at")
        eq(a.get("timezone"), "Europe/Berlin", path + ": timezone")
        eq(a.get("state"), "published", path + ": state")
        eq(a.get("privacy"), "public", path + ": privacy")
        expect("deleted-at" in a, "%s: attribute deleted-at missing: %s" % (path, show(a)))
        eq(a.get("deleted-at"), None, path + ": deleted-at")
        if "description" in a:
            eq(a["description"], "Über <b>all</b> \"quoted\"\n", path + ": description round trip")
        if "online" in a:
            eq(a["online"], True, path + ": online (a JSON boolean)")
        if "latitude" in a:
            eq(a["latitude"], 52.5, path + ": latitude (a JSON number)")


def test_attribute_types_follow_columns(h):
    """Every attribute that mirrors a boolean column is a JSON boolean, a
    numeric column a JSON number, a timestamptz column an ISO string."""
    ev = seed_event(h, name="Types")
    path = "/v1/events/%d" % ev["id"]
    doc = check_ok_doc("GET", path, get(h, path))
    attrs = doc["data"]["attributes"]
    cols = h.sql("SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                 "WHERE table_schema = 'public' AND table_name = 'events'")
    checked = 0
    for line in cols.splitlines():
        col, typ, nullable = line.split("|")
        key = col.replace("_", "-")
        if key not in attrs:
            continue
        v = attrs[key]
        if v is None:
            expect(nullable == "YES", "%s: %s is null but column %s is NOT NULL" % (path, key, col))
            continue
        checked += 1
        if typ == "boolean":
            expect(isinstance(v, bool), "%s: %s = %r, expected a JSON boolean" % (path, key, v))
        elif typ in ("integer", "bigint", "smallint", "double precision", "numeric", "real"):
            expect(isinstance(v, (int, float)) and not isinstance(v, bool),
                   "%s: %s = %r, expected a JSON number" % (path, key, v))
        elif typ.startswith("timestamp"):
            expect(isinstance(v, str) and len(v) >= 20 and v[10] == "T",
                   "%s: %s = %r, expected an ISO 8601 timestamp" % (path, key, v))
        elif typ == "text":
            expect(isinstance(v, str), "%s: %s = %r, expected a string" % (path, key, v))
    expect(checked >= 6, "%s: only %d attributes match events columns: %s" % (path, checked, show(attrs)))


def test_timestamps_render_as_postgresql_to_json(h):
    """Timestamps are formatted by the server from PostgreSQL's text (not by
    to_json() in the query): every shape must come out exactly as to_json()
    writes it: whole seconds, fractions, offsets given in other zones, and
    the values that are not dates."""
    cases = [
        ("2026-01-01T10:00:00Z", "2026-01-02T10:00:00.5+05:30"),
        ("2026-07-01T23:59:59.123456+14:00", "2026-07-02T00:00:00.000001-09:30"),
        ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"),
    ]
    for starts, ends in cases:
        ev = seed_event(h, name="Times", starts_at=starts, ends_at=ends)
        path = "/v1/events/%d" % ev["id"]
        attrs = check_ok_doc("GET", path, get(h, path))["data"]["attributes"]
        want = h.sql("SELECT to_json(starts_at)#>>'{}', to_json(ends_at)#>>'{}', to_json(created_at)#>>'{}' "
                     "FROM events WHERE id = %d" % ev["id"]).split("|")
        eq([attrs["starts-at"], attrs["ends-at"], attrs["created-at"]], want, path + ": timestamps")
    ev = seed_event(h, name="Infinite", schedule_published_on="infinity")
    path = "/v1/events/%d" % ev["id"]
    attrs = check_ok_doc("GET", path, get(h, path))["data"]["attributes"]
    eq(attrs["schedule-published-on"], "infinity", path + ": schedule-published-on")


def test_hidden_events_are_404(h):
    hidden = [
        seed_event(h, name="Draft", state="draft"),
        seed_event(h, name="Private", privacy="private"),
        seed_event(h, name="Trashed", deleted_at="2026-01-01T00:00:00Z"),
    ]
    for ev in hidden:
        for ref in (str(ev["id"]), ev["identifier"]):
            path = "/v1/events/" + ref
            check_error("GET", path, get(h, path), 404)


def test_bad_and_unknown_ids_are_404(h):
    ev = seed_event(h, name="Exists")
    refs = ["0", "-1", "01", "0%s" % ev["id"], "abc", "9223372036854775808", "9223372036854775807",
            "99999999999999999999999", "12345678", str(ev["id"] + 1000), "deadbeef", "abcdef1",
            "abcdef123", "ghijklmn", "1.5", "1e3", "%2B1", "%20" + str(ev["id"]), "+1", "0x1f"]
    if ev["identifier"] == "deadbeef":
        refs.remove("deadbeef")
    for ref in refs:
        path = "/v1/events/" + ref
        e = check_error("GET", path, get(h, path), 404)
        expect(isinstance(e.get("detail"), str) and e["detail"], "%s: errors[0].detail missing" % path)


def ids(doc):
    return [int(r["id"]) for r in doc.get("data") or []]


def test_pagination(h):
    evs = [seed_event(h, name="P%d" % i) for i in range(5)]
    all_ids = [e["id"] for e in evs]
    cases = [  # (page[size], page[number], expected ids, last page number)
        (2, 1, all_ids[0:2], 3),
        (2, 2, all_ids[2:4], 3),
        (2, 3, all_ids[4:5], 3),
        (5, 1, all_ids, 1),
        (3, 2, all_ids[3:5], 2),
    ]
    for size, number, want, last in cases:
        path = "/v1/events?page%%5Bsize%%5D=%d&page%%5Bnumber%%5D=%d" % (size, number)
        doc = check_ok_doc("GET", path, get(h, path))
        eq(ids(doc), want, path + ": ids")
        eq((doc.get("meta") or {}).get("count"), 5, path + ": meta.count")
        links = doc.get("links") or {}
        for rel, n in (("self", number), ("first", 1), ("last", last)):
            p, q = link_query(links.get(rel), "%s: links.%s" % (path, rel))
            eq(p, "/v1/events", "%s: links.%s path" % (path, rel))
            eq(q.get("page[number]"), str(n), "%s: links.%s page[number]" % (path, rel))
            eq(q.get("page[size]"), str(size), "%s: links.%s page[size]" % (path, rel))
        if number > 1:
            p, q = link_query(links.get("prev"), path + ": links.prev")
            eq(q.get("page[number]"), str(number - 1), path + ": links.prev page[number]")
            eq(q.get("page[size]"), str(size), path + ": links.prev page[size]")
        else:
            expect(links.get("prev") is None, "%s: links.prev on the first page: %r" % (path, links.get("prev")))
        if number < last:
            p, q = link_query(links.get("next"), path + ": links.next")
            eq(q.get("page[number]"), str(number + 1), path + ": links.next page[number]")
            eq(q.get("page[size]"), str(size), path + ": links.next page[size]")
        else:
            expect(links.get("next") is None, "%s: links.next on the last page: %r" % (path, links.get("next")))


def test_default_page_size_is_20(h):
    evs = [seed_event(h, name="D%d" % i) for i in range(25)]
    doc = check_ok_doc("GET", "/v1/events", get(h, "/v1/events"))
    eq(ids(doc), [e["id"] for e in evs[:20]], "GET /v1/events: first page ids")
    eq(doc["meta"]["count"], 25, "GET /v1/events: meta.count")
    _, q = link_query(doc["links"].get("next"), "GET /v1/events: links.next")
    eq(q.get("page[number]"), "2", "GET /v1/events: links.next page[number]")
    _, q = link_query(doc["links"].get("last"), "GET /v1/events: links.last")
    eq(q.get("page[number]"), "2", "GET /v1/events: links.last page[number]")
    path = "/v1/events?page[number]=2"
    doc = check_ok_doc("GET", path, get(h, path))
    eq(ids(doc), [e["id"] for e in evs[20:]], path + ": ids")
    expect(doc["links"].get("next") is None, "%s: links.next on the last page: %r" % (path, doc["links"].get("next")))


def test_page_size_zero_returns_all(h):
    evs = [seed_event(h, name="Z%d" % i) for i in range(23)]
    path = "/v1/events?page[size]=0"
    doc = check_ok_doc("GET", path, get(h, path))
    eq(ids(doc), [e["id"] for e in evs], path + ": ids")
    eq(doc["meta"]["count"], 23, path + ": meta.count")
    path = "/v1/events?page[size]=1000"
    doc = check_ok_doc("GET", path, get(h, path))
    eq(len(doc["data"]), 23, path + ": rows")


def test_links_keep_other_parameters(h):
    for i in range(3):
        seed_event(h, name="L%d" % i)
    path = "/v1/events?utm_source=a%20b%26c&page[size]=1&page[number]=2"
    doc = check_ok_doc("GET", path, get(h, path))
    eq(len(doc["data"]), 1, path + ": rows")
    for rel in ("self", "first", "last", "prev", "next"):
        p, q = link_query(doc["links"].get(rel), "%s: links.%s" % (path, rel))
        eq(q.get("utm_source"), "a b&c", "%s: links.%s keeps utm_source (decoded)" % (path, rel))
        eq(q.get("page[size]"), "1", "%s: links.%s page[size]" % (path, rel))


def test_bad_page_parameters_are_400(h):
    seed_event(h)
    cases = [
        ("page[size]=1001", "page[size]"),
        ("page[size]=99999999999999999999", "page[size]"),
        ("page[size]=-1", "page[size]"),
        ("page[size]=abc", "page[size]"),
        ("page[number]=0", "page[number]"),
        ("page[number]=-1", "page[number]"),
        ("page[number]=abc", "page[number]"),
        ("page[number]=1x", "page[number]"),
    ]
    for qs, param in cases:
        path = "/v1/events?" + qs
        check_error("GET", path, get(h, path), 400, parameter=param)
        enc = "/v1/events?" + quote(qs, safe="=")
        check_error("GET", enc, get(h, enc), 400, parameter=param)


def test_page_size_cap_follows_max_page_size(h):
    for i in range(4):
        seed_event(h, name="M%d" % i)
    h.restart_server({"MAX_PAGE_SIZE": "3"})
    check_error("GET", "/v1/events?page[size]=4", get(h, "/v1/events?page[size]=4"), 400, parameter="page[size]")
    doc = check_ok_doc("GET", "/v1/events?page[size]=3", get(h, "/v1/events?page[size]=3"))
    eq(len(doc["data"]), 3, "MAX_PAGE_SIZE=3, page[size]=3: rows")
    # page[size]=0 means everything, refused when more rows than MAX_PAGE_SIZE (spec §3)
    check_error("GET", "/v1/events?page[size]=0", get(h, "/v1/events?page[size]=0"), 400, parameter="page[size]")
