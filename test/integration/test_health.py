"""GET /health-check, PostgreSQL going away and coming back."""

import time

from helpers import (TM, check_error, check_event, check_ok_doc, eq, expect, get_metrics, metric, seed_event, show,
                     wait_for)


def test_health_ok(h):
    st, hd, doc = h.json("GET", "/health-check")
    eq(st, 200, "GET /health-check: status")
    expect(isinstance(doc, dict), "GET /health-check: body %s" % show(doc))
    eq({k: doc.get(k) for k in ("status", "database", "redis")},
       {"status": "ok", "database": "ok", "redis": "off"}, "GET /health-check: body")
    expect(hd.get("x-request-id"), "GET /health-check: no X-Request-Id")
    expect("json" in hd.get("content-type", ""), "GET /health-check: Content-Type %r" % hd.get("content-type"))


def test_database_down_and_back(h):
    ev = seed_event(h, name="Survivor")
    path = "/v1/events/%d" % ev["id"]
    check_ok_doc("GET", path, h.json("GET", path))
    pid = h.server_pid
    failures_before = metric(get_metrics(h)[0], "oes_pg_pool_failures_total")
    expect(failures_before is not None, "GET /metrics: no oes_pg_pool_failures_total")

    h.stop_pg()

    def health_503():
        st, hd, doc = h.json("GET", "/health-check", timeout=5 * TM)
        return (st, doc) if st == 503 else None

    st, doc = wait_for(health_503, 5, 0.2, "GET /health-check == 503 after PostgreSQL stopped")
    expect(isinstance(doc, dict) and doc.get("database") not in (None, "ok"),
           "GET /health-check while PostgreSQL is down: database part %s" % show(doc))
    expect(doc.get("status") != "ok", "GET /health-check while down: status %r" % doc.get("status"))

    for p in (path, "/v1/events", "/v1/events/" + ev["identifier"]):
        t1 = time.monotonic()
        got = h.json("GET", p, timeout=10 * TM)
        took = time.monotonic() - t1
        check_error("GET", p, got, 503)
        expect(took < 2 * TM, "GET %s while PostgreSQL is down took %.2f s (limit 2 s)" % (p, took))

    # Routes without the database are unaffected.
    check_error("GET", "/v1/nope", h.json("GET", "/v1/nope"), 404)
    failures = metric(get_metrics(h)[0], "oes_pg_pool_failures_total")
    expect(failures is not None and failures > failures_before,
           "oes_pg_pool_failures_total did not grow while PostgreSQL was down (%r -> %r)" % (failures_before, failures))

    h.start_pg()
    t2 = time.monotonic()

    def health_200():
        st, _, doc = h.json("GET", "/health-check", timeout=5 * TM)
        return doc if st == 200 else None

    doc = wait_for(health_200, 10, 0.2, "GET /health-check == 200 after PostgreSQL restarted")
    eq(doc.get("database"), "ok", "GET /health-check after restart: database")
    expect(h.server_pid == pid and h.server.running(), "server restarted or died (pid %s)" % pid)

    def detail_200():
        got = h.json("GET", path, timeout=5 * TM)
        return got if got[0] == 200 else None

    got = wait_for(detail_200, 10 - (time.monotonic() - t2) / TM, 0.2, "GET %s == 200 after restart" % path)
    doc = check_ok_doc("GET", path, got)
    check_event(doc["data"], ev, "GET %s after PostgreSQL restarted" % path)
    # every pool connection recovered: a burst of list and detail requests all succeed
    for _ in range(10):
        check_ok_doc("GET", "/v1/events", h.json("GET", "/v1/events"))
        check_ok_doc("GET", path, h.json("GET", path))
