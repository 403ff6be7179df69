"""PG_PIPELINE=on and off answer the same; many concurrent clients."""

import json
import threading

from helpers import TM, check_event, eq, expect, seed_event, show


def seed(h):
    evs = [
        seed_event(h, name="One", description="first", online=True, latitude=1.5),
        seed_event(h, name="Two", starts_at="2025-06-01T00:00:00Z", ends_at="2025-06-02T00:00:00Z",
                   timezone_="Asia/Kolkata"),
        seed_event(h, name="Three \u00e9\u4e2d\U0001F600", location_name="Somewhere"),
        seed_event(h, name="Four", schedule_published_on="2026-01-01T00:00:00Z"),
        seed_event(h, name="Five", privacy="public", is_featured=True),
    ]
    hidden = seed_event(h, name="Draft", state="draft")
    return evs, hidden


def request_set(evs, hidden):
    paths = ["/v1/events", "/v1/events?page[size]=0", "/v1/events?page[size]=2",
             "/v1/events?page[size]=2&page[number]=2", "/v1/events?page[size]=2&page[number]=3",
             "/v1/events?page[size]=3&page[number]=2", "/v1/events?page[size]=1&page[number]=5",
             "/v1/events?page[size]=5", "/v1/events?page[size]=1001", "/v1/events?page[number]=0"]
    for e in evs:
        paths += ["/v1/events/%d" % e["id"], "/v1/events/" + e["identifier"]]
    paths += ["/v1/events/%d" % hidden["id"], "/v1/events/" + hidden["identifier"], "/v1/events/999999",
              "/v1/events/deadbeef", "/v1/events/0", "/v1/nope"]
    return paths


def fetch_all(h, paths, concurrent):
    """{path: (status, parsed body)}; concurrently: all at once from threads."""
    out = {}
    errors = []

    def one(p):
        try:
            st, hd, body = h.request("GET", p, timeout=20 * TM)
            out[p] = (st, json.loads(body) if body else None)
        except Exception as e:  # noqa: BLE001
            errors.append("%s: %r" % (p, e))

    if concurrent:
        threads = [threading.Thread(target=one, args=(p,)) for p in paths for _ in (0,)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30 * TM)
    else:
        for p in paths:
            one(p)
    expect(not errors, "requests failed: %s" % errors[:5])
    return out


def expected_status(p, evs, hidden):
    if p in ("/v1/events?page[size]=1001", "/v1/events?page[number]=0"):
        return 400
    if p.startswith("/v1/events?") or p == "/v1/events":
        return 200
    ref = p.rsplit("/", 1)[1]
    if p.startswith("/v1/events/") and any(ref in (str(e["id"]), e["identifier"]) for e in evs):
        return 200
    return 404


def test_pipeline_on_and_off_answer_the_same(h):
    evs, hidden = seed(h)
    paths = request_set(evs, hidden)
    answers = {}
    for mode in ("on", "off"):
        h.restart_server({"PG_PIPELINE": mode})
        seq = fetch_all(h, paths, concurrent=False)
        conc = fetch_all(h, paths * 3, concurrent=True)
        for p in paths:
            want = expected_status(p, evs, hidden)
            eq(seq[p][0], want, "PG_PIPELINE=%s GET %s: status" % (mode, p))
            eq(conc[p], seq[p], "PG_PIPELINE=%s GET %s: concurrent answer differs from sequential" % (mode, p))
        for e in evs:
            check_event(seq["/v1/events/%d" % e["id"]][1]["data"], e, "PG_PIPELINE=%s detail" % mode)
        eq([r["id"] for r in seq["/v1/events?page[size]=0"][1]["data"]], [str(e["id"]) for e in evs],
           "PG_PIPELINE=%s list ids" % mode)
        answers[mode] = seq
    for p in paths:
        on, off = answers["on"][p], answers["off"][p]
        expect(on == off, "GET %s: PG_PIPELINE=on and off differ:\n  on:  %s\n  off: %s" % (p, show(on[1], 600), show(off[1], 600)))


def test_200_concurrent_gets(h):
    evs = [seed_event(h, name="C%d" % i) for i in range(10)]
    results = [None] * 200
    barrier = threading.Barrier(200, timeout=30 * TM)

    def one(i):
        e = evs[i % len(evs)]
        kind = i % 3
        p = ("/v1/events" if kind == 0 else "/v1/events/%d" % e["id"] if kind == 1 else "/v1/events/" + e["identifier"])
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        try:
            st, hd, body = h.request("GET", p, timeout=30 * TM)
            results[i] = (p, st, json.loads(body) if body else None, None)
        except Exception as ex:  # noqa: BLE001
            results[i] = (p, None, None, repr(ex))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60 * TM)
    bad = []
    for i, r in enumerate(results):
        if r is None:
            bad.append("request %d: no result" % i)
            continue
        p, st, doc, err = r
        if err or st != 200:
            bad.append("GET %s: %s" % (p, err or "status %s %s" % (st, show(doc, 200))))
            continue
        e = evs[i % len(evs)]
        try:
            if p == "/v1/events":
                eq([d["id"] for d in doc["data"]], [str(x["id"]) for x in evs], "GET /v1/events ids")
                eq(doc["meta"]["count"], 10, "GET /v1/events meta.count")
            else:
                check_event(doc["data"], e, "GET " + p)
        except (AssertionError, KeyError, TypeError) as ex:
            bad.append(str(ex))
    expect(not bad, "%d of 200 concurrent GETs wrong; first: %s" % (len(bad), bad[:5]))
