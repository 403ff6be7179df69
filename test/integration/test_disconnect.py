"""Clients that leave while their queries are blocked; the request deadline."""

import socket
import struct
import time

from helpers import TM, check_error, check_event, check_ok_doc, eq, expect, get_metrics, metric, seed_event, wait_for


def live_ctx(h):
    samples, _, _ = get_metrics(h)
    return metric(samples, "oes_req_ctx_live")


def test_100_clients_leave_while_blocked(h):
    ev = seed_event(h, name="Blocked")
    path = "/v1/events/%d" % ev["id"]
    check_ok_doc("GET", path, h.json("GET", path))
    pid = h.server_pid
    lock = h.lock("events")
    socks = []
    try:
        for i in range(100):
            s = socket.create_connection(("127.0.0.1", h.port), timeout=5 * TM)
            p = path if i % 2 == 0 else "/v1/events?page[size]=%d" % (1 + i % 7)
            s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n" % p).encode())
            socks.append(s)
        wait_for(lambda: h.lock_waiters() >= 1, 5, 0.1, "a server query waiting for the lock")
        # every request is in flight: the contexts are live
        n = wait_for(lambda: (lambda v: v if v is not None and v >= 100 else None)(live_ctx(h)), 5, 0.1,
                     "oes_req_ctx_live >= 100 with 100 requests blocked")
        expect(n <= 101 + 1, "oes_req_ctx_live = %r with 100 blocked requests" % n)
        # half leave with FIN, half with RST
        for i, s in enumerate(socks):
            if i % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        socks = []
        time.sleep(0.3 * TM)
        # routes that touch no database still answer while the lock is held
        for _ in range(3):
            t = time.monotonic()
            st, hd, _ = h.request("GET", "/metrics", timeout=2 * TM)
            eq(st, 200, "GET /metrics while the lock is held: status")
            check_error("GET", "/v1/nope", h.json("GET", "/v1/nope", timeout=2 * TM), 404)
            expect(time.monotonic() - t < 1 * TM, "GET /metrics + 404 took %.2f s while blocked" % (time.monotonic() - t))
    finally:
        for s in socks:
            s.close()
        lock.release()

    got = wait_for(lambda: (lambda g: g if g[0] == 200 else None)(h.json("GET", path, timeout=5 * TM)), 5, 0.1,
                   "GET %s == 200 after the lock was released" % path)
    check_event(check_ok_doc("GET", path, got)["data"], ev, "GET %s after the lock" % path)
    wait_for(lambda: (lambda v: v is not None and v <= 1)(live_ctx(h)), 5, 0.2,
             "oes_req_ctx_live back to <= 1 after the lock was released")

    def pool_idle():
        samples, _, _ = get_metrics(h)
        return metric(samples, "oes_pg_pool_queued") == 0 and metric(samples, "oes_pg_pool_busy") == 0

    wait_for(pool_idle, 5, 0.2, "oes_pg_pool_queued == 0 and oes_pg_pool_busy == 0")
    expect(h.server_pid == pid and h.server.running(), "server pid changed or server died")
    # the pool still serves many requests
    for _ in range(20):
        check_ok_doc("GET", path, h.json("GET", path))


def test_leaving_clients_do_not_starve_later_ones(h):
    """Leaving clients do not eat pool slots: after 100 leave, 100 more
    concurrent requests all get answers."""
    ev = seed_event(h)
    path = "/v1/events/%d" % ev["id"]
    lock = h.lock("events")
    socks = []
    for _ in range(100):
        s = socket.create_connection(("127.0.0.1", h.port), timeout=5 * TM)
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
        socks.append(s)
    wait_for(lambda: h.lock_waiters() >= 1, 5, 0.1, "a server query waiting for the lock")
    for s in socks:
        s.close()
    socks = []
    for _ in range(100):
        s = socket.create_connection(("127.0.0.1", h.port), timeout=10 * TM)
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
        socks.append(s)
    lock.release()
    for i, s in enumerate(socks):
        data = b""
        s.settimeout(10 * TM)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        expect(data.startswith(b"HTTP/1.1 200 "), "request %d after 100 clients left: %r" % (i, data[:200]))
        expect(('"id":"%d"' % ev["id"]).encode() in data.replace(b" ", b""), "request %d: body lacks the event: %r" % (i, data[-300:]))


def test_request_deadline_gives_504(h):
    ev = seed_event(h)
    path = "/v1/events/%d" % ev["id"]
    h.restart_server({"REQUEST_TIMEOUT_MS": "500"})
    check_ok_doc("GET", path, h.json("GET", path))
    lock = h.lock("events")
    for p in (path, "/v1/events"):
        t = time.monotonic()
        got = h.json("GET", p, timeout=10 * TM)
        took = time.monotonic() - t
        check_error("GET", p, got, 504)
        expect(0.4 <= took <= 1.5 * TM, "GET %s with REQUEST_TIMEOUT_MS=500 answered after %.2f s" % (p, took))
    # the deadline does not hit routes that answer at once
    eq(h.request("GET", "/metrics")[0], 200, "GET /metrics while the lock is held")
    lock.release()
    got = wait_for(lambda: (lambda g: g if g[0] == 200 else None)(h.json("GET", path)), 5, 0.1,
                   "GET %s == 200 after the lock was released" % path)
    check_event(got[2]["data"], ev, "GET %s after the deadline test" % path)
    wait_for(lambda: (lambda v: v is not None and v <= 1)(live_ctx(h)), 5, 0.2,
             "oes_req_ctx_live back to <= 1 after timed-out requests finished")
