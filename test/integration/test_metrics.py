"""GET /metrics: Prometheus text."""

from helpers import eq, expect, get_metrics, metric, seed_event


def requests_total(samples, status, route_part):
    return sum(v for n, l, v in samples
               if n == "oes_http_requests_total" and l.get("status") == status and route_part in l.get("route", ""))


def test_metrics_format_and_series(h):
    samples, text, hd = get_metrics(h)
    ct = hd.get("content-type", "")
    expect(ct.replace(" ", "").startswith("text/plain;version=0.0.4"),
           "GET /metrics: Content-Type %r, expected text/plain; version=0.0.4" % ct)
    expect(hd.get("x-request-id"), "GET /metrics: no X-Request-Id")
    names = {n for n, _, _ in samples}
    for name in ("oes_http_request_duration_seconds_bucket", "oes_pg_pool_busy", "oes_pg_pool_queued",
                 "oes_pg_pool_failures_total", "oes_req_ctx_live"):
        expect(name in names, "GET /metrics: no %s series" % name)
    for line in ("# TYPE oes_http_requests_total counter", "# TYPE oes_http_request_duration_seconds histogram"):
        expect(line in text.splitlines(), "GET /metrics: no line %r" % line)
    # one live request context: the metrics request itself
    live = metric(samples, "oes_req_ctx_live")
    expect(live in (0, 1), "GET /metrics on an idle server: oes_req_ctx_live = %r" % live)
    eq(metric(samples, "oes_pg_pool_queued"), 0, "idle server: oes_pg_pool_queued")
    for n, l, v in samples:
        if n == "oes_http_requests_total":
            expect(set(l) >= {"route", "status"}, "oes_http_requests_total without route/status labels: %r" % l)
    # histogram: cumulative buckets ending in +Inf == _count
    buckets = [(l, v) for n, l, v in samples if n == "oes_http_request_duration_seconds_bucket"]
    expect(any(l.get("le") == "+Inf" for l, _ in buckets), "histogram without le=\"+Inf\" bucket")


def test_request_counters_increase(h):
    ev = seed_event(h)
    before, _, _ = get_metrics(h)
    for _ in range(3):
        eq(h.request("GET", "/v1/events/%d" % ev["id"])[0], 200, "GET /v1/events/{id}")
    for _ in range(2):
        eq(h.request("GET", "/v1/nope")[0], 404, "GET /v1/nope")
    eq(h.request("DELETE", "/v1/events")[0], 405, "DELETE /v1/events")
    after, text, _ = get_metrics(h)
    d200 = requests_total(after, "200", "events") - requests_total(before, "200", "events")
    eq(d200, 3, "oes_http_requests_total{route~events,status=200} increase after 3 detail GETs")
    d404 = requests_total(after, "404", "") - requests_total(before, "404", "")
    eq(d404, 2, "oes_http_requests_total{status=404} increase after 2 unknown paths")
    d405 = requests_total(after, "405", "") - requests_total(before, "405", "")
    eq(d405, 1, "oes_http_requests_total{status=405} increase after DELETE /v1/events")
    inf_before = sum(v for n, l, v in before if n == "oes_http_request_duration_seconds_bucket" and l.get("le") == "+Inf")
    inf_after = sum(v for n, l, v in after if n == "oes_http_request_duration_seconds_bucket" and l.get("le") == "+Inf")
    expect(inf_after - inf_before >= 6, "latency histogram +Inf buckets grew by %r after 7 requests" % (inf_after - inf_before))


def test_slow_requests_are_logged_with_their_database_time(h):
    """SLOW_REQUEST_MS: a request held by a locked table is logged at warn
    with its route (not the client's path) and its time in the database; a
    quick one is not."""
    import threading
    import time

    from helpers import wait_for
    h.restart_server({"SLOW_REQUEST_MS": "150"})
    ev = seed_event(h, name="Slow")
    eq(h.request("GET", "/v1/events/%d" % ev["id"])[0], 200, "a quick request")
    lock = h.lock("events")
    got = {}
    t = threading.Thread(target=lambda: got.update(st=h.request("GET", "/v1/events/%d?x=%%0A" % ev["id"])[0]))
    t.start()
    wait_for(lambda: h.lock_waiters() >= 1, 5, 0.05, "the request waiting for the lock")
    time.sleep(0.3)
    lock.release()
    t.join(30)
    eq(got.get("st"), 200, "the held request")

    def slow_lines():
        with open(h.server_log, "rb") as f:
            return [l for l in f.read().decode("utf-8", "replace").splitlines() if "slow request:" in l]
    wait_for(lambda: slow_lines(), 5, 0.05, "a slow-request line in the server log")
    lines = slow_lines()
    eq(len(lines), 1, "slow-request lines (the quick request has none): %r" % lines)
    line = lines[0]
    import re
    expect(" warn " in line and re.search(r"GET /v1/events/\{[a-z_]+\} 200 in ", line),
           "the line names the level, the route and the status: %r" % line)
    m = re.search(r"in ([0-9.]+) ms; ([0-9]+) database operation\(s\), ([0-9.]+) ms from asking to answer "
                  r"\(longest ([0-9.]+) ms\), of which ([0-9.]+) ms waiting in the pool to be sent", line)
    expect(m, "the line's figures: %r" % line)
    total, nops, db, longest, pooled = (float(m.group(1)), int(m.group(2)), float(m.group(3)),
                                        float(m.group(4)), float(m.group(5)))
    expect(total >= 250 and nops >= 1 and longest >= 250 and db >= longest and total >= longest,
           "the time was spent waiting for the database: %r" % line)
    # the pool sent the query at once: the wait was PostgreSQL's (the lock)
    expect(pooled < 100, "the query waited in the pool, not at the database: %r" % line)


def test_slow_request_log_tells_pool_waits_apart(h):
    """With one connection and no pipelining, a request queued behind one
    held by a lock waits in the pool: its slow-request line says so."""
    import re
    import threading
    import time

    from helpers import wait_for
    h.restart_server({"SLOW_REQUEST_MS": "150", "PG_POOL_SIZE": "1", "PG_PIPELINE": "off"})
    ev = seed_event(h, name="Queued")
    eq(h.request("GET", "/v1/events/%d" % ev["id"])[0], 200, "a quick request")
    lock = h.lock("events")
    got = []
    threads = [threading.Thread(target=lambda: got.append(h.request("GET", "/v1/events/%d" % ev["id"])[0]))
               for _ in range(2)]
    threads[0].start()
    wait_for(lambda: h.lock_waiters() >= 1, 5, 0.05, "the first request waiting for the lock")
    threads[1].start()
    time.sleep(0.4)
    lock.release()
    for t in threads:
        t.join(30)
    eq(got, [200, 200], "both requests")

    def pooled():
        with open(h.server_log, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        return [float(x) for x in re.findall(r"of which ([0-9.]+) ms waiting in the pool", text)]
    wait_for(lambda: len(pooled()) >= 2, 5, 0.05, "two slow-request lines")
    p = sorted(pooled())
    expect(p[0] < 100 and p[1] >= 250, "one waited at the database, the other in the pool: %r" % p)
