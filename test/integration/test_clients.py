"""Hostile and careless clients (issue 9, item 2): 10,000 clients that leave
while their queries are blocked, clients that read their answers very
slowly, and slowloris. The server's memory comes back to its baseline and
normal clients keep being served quickly.

RSS is the server's VmRSS from /proc/<pid>/status (one process: the
harness's server runs without --workers). Under ASan (its quarantine keeps
freed memory) and valgrind the RSS bounds are printed but not asserted:
leaks are then LeakSanitizer's and valgrind's to find; latency limits are
multiplied by the harness's time factor TM."""

import os
import shutil
import socket
import struct
import subprocess
import threading
import time

from fixtures import JSONAPI
from run import SANITIZED, VALGRIND
from helpers import TM, check_ok_doc, eq, expect, get_metrics, metric, seed_event, show, wait_for


def rss_kb(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def live_ctx(h):
    return metric(get_metrics(h)[0], "oes_req_ctx_live")


def pool_idle(h):
    s = get_metrics(h)[0]
    return metric(s, "oes_pg_pool_queued") == 0 and metric(s, "oes_pg_pool_busy") == 0


def warm_up(h, paths, n):
    """n keep-alive requests over a few connections, so that buffers, the
    statement cache and the allocator reach their working size."""
    import http.client
    conns = [http.client.HTTPConnection("127.0.0.1", h.port, timeout=10 * TM) for _ in range(4)]
    for i in range(n):
        c = conns[i % len(conns)]
        c.request("GET", paths[i % len(paths)])
        r = c.getresponse()
        r.read()
        eq(r.status, 200, "warm-up GET %s: status" % paths[i % len(paths)])
    for c in conns:
        c.close()


def settled_rss(h, pid):
    """VmRSS once it stops moving (three equal-ish samples)."""
    last = None
    for _ in range(20):
        v = rss_kb(pid)
        if last is not None and abs(v - last) < 64:
            return v
        last = v
        time.sleep(0.1)
    return last


def leave_while_blocked(h, paths, n):
    """n clients send a request while the events table is locked and leave
    before the answer, in batches of 100, half with FIN, half with RST.
    Returns (seconds, oes_req_ctx_live just after, RSS while blocked)."""
    lock = h.lock("events")
    t0 = time.monotonic()
    try:
        opened = []
        for i in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(5 * TM)
            s.connect(("127.0.0.1", h.port))
            s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % paths[i % len(paths)]).encode())
            opened.append(s)
            # leave in batches, so that the server has read the requests
            # and holds their queries first
            if len(opened) == 100:
                if i == 99:
                    wait_for(lambda: h.lock_waiters() >= 1, 5, 0.05, "a server query waiting for the lock")
                for k, c in enumerate(opened):
                    if k % 2:
                        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    c.close()
                opened = []
        for c in opened:
            c.close()
        took = time.monotonic() - t0
        expect(took < 60 * TM, "%d connect/send/close took %.1f s" % (n, took))
        peak_live = live_ctx(h)
        # the contexts of the clients that left are freed while the lock is still held
        wait_for(lambda: (lambda v: v is not None and v <= 2)(live_ctx(h)), 10, 0.2,
                 "oes_req_ctx_live back to <= 2 while the lock is still held (was %r after %d clients left)"
                 % (peak_live, n))
        during = rss_kb(h.server_pid)
        # answers that need no database still come at once
        t = time.monotonic()
        eq(h.request("GET", "/metrics", timeout=2 * TM)[0], 200, "GET /metrics while blocked")
        expect(time.monotonic() - t < 0.5 * TM, "GET /metrics took %.2f s while blocked" % (time.monotonic() - t))
    finally:
        lock.release()
    wait_for(lambda: pool_idle(h), 15, 0.2, "the pool idle after the lock was released")
    return took, peak_live, during


def test_10000_clients_leave_while_blocked(h):
    evs = [seed_event(h, name="E%d" % i) for i in range(20)]
    paths = ["/v1/events/%d" % e["id"] for e in evs] + ["/v1/events?page[size]=5", "/v1/events/%s" % evs[0]["identifier"]]
    pid = h.server_pid
    warm_up(h, paths, 3000)
    # rounds before the measured one bring the allocator to its working
    # size for this pattern (glibc keeps freed heap, fragmented): the
    # baseline is taken once a round adds less than 1 MB (one round was not
    # always enough: how many contexts are live at once varies from run to
    # run), so that what the measured round adds is what it leaks
    base = settled_rss(h, pid)
    for _ in range(4):
        leave_while_blocked(h, paths, 10000)
        prev, base = base, settled_rss(h, pid)
        if base - prev < 1024:
            break
    gone0 = metric(get_metrics(h)[0], "oes_http_requests_total", status="499") or 0
    n = 10000
    took, peak_live, during = leave_while_blocked(h, paths, n)
    gone = (metric(get_metrics(h)[0], "oes_http_requests_total", status="499") or 0) - gone0
    for p in paths:
        check_ok_doc("GET", p, h.json("GET", p))
    after = settled_rss(h, pid)
    hwm = rss_kb(pid, "VmHWM")
    slack = max(4 * 1024, base // 5)
    print("    clients: 10,000 left in %.1f s (%r contexts live just after); %d answered 499; RSS baseline %d kB, "
          "while blocked %d kB, after %d kB (peak %d kB), slack %d kB" % (took, peak_live, gone, base, during, after,
                                                                         hwm, slack))
    expect(gone >= n // 2, "only %d requests counted as left (499) of %d" % (gone, n))
    expect(SANITIZED or VALGRIND or after <= base + slack,
           "RSS after 10,000 clients left is %d kB, baseline %d kB (+%d kB, slack %d kB)" % (after, base, after - base, slack))
    expect(h.server.running() and h.server_pid == pid, "the server died or was replaced")


def test_slow_readers_do_not_grow_memory(h):
    """Clients that pipeline requests for large answers and never read: the
    server holds one answer per connection, not one per request."""
    desc = "x" * 2000
    h.sql("INSERT INTO events (name, starts_at, ends_at, timezone, identifier, state, privacy, description) "
          "SELECT 'Big ' || i, now(), now() + interval '1 day', 'UTC', 'b' || lpad(to_hex(i), 7, '0'), "
          "'published', 'public', '%s' FROM generate_series(1, 100) i" % desc)
    path = "/v1/events?page[size]=100"
    st, _, body = h.request("GET", path)
    eq(st, 200, "GET %s: status" % path)
    size = len(body)
    expect(size > 150000, "the page is only %d bytes" % size)
    pid = h.server_pid
    warm_up(h, [path], 50)
    base = settled_rss(h, pid)
    conns, per_conn = 20, 50
    socks = []
    try:
        for _ in range(conns):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", h.port))
            s.setblocking(False)
            req = ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode() * per_conn
            try:
                s.send(req)
            except BlockingIOError:
                pass
            socks.append(s)
        time.sleep(2 * TM)
        grown = rss_kb(pid) - base
        unbounded = conns * per_conn * size // 1024
        bound = max(32 * 1024, 4 * conns * size // 1024)
        # a normal client is served meanwhile
        t = time.monotonic()
        st, _, _ = h.request("GET", "/v1/events/%d" % 1, timeout=5 * TM)
        took = time.monotonic() - t
        expect(st in (200, 404), "GET /v1/events/1 beside slow readers: status %d" % st)
        expect(took < 1.0 * TM, "GET /v1/events/1 beside slow readers took %.2f s" % took)
        print("    clients: %d slow readers x %d pipelined %d-byte answers: RSS +%d kB (all buffered would be "
              "~%d kB; bound %d kB)" % (conns, per_conn, size, grown, unbounded, bound))
        expect(SANITIZED or VALGRIND or grown < bound, "RSS grew by %d kB with %d slow readers (bound %d kB; all answers buffered: ~%d kB)"
               % (grown, conns, bound, unbounded))
    finally:
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
    wait_for(lambda: (lambda v: v is not None and v <= 1)(live_ctx(h)), 10, 0.2, "oes_req_ctx_live back to <= 1")
    after = settled_rss(h, pid)
    expect(SANITIZED or VALGRIND or after <= base + max(8 * 1024, base // 4), "RSS after the slow readers left: %d kB (baseline %d kB)" % (after, base))
    check_ok_doc("GET", path, h.json("GET", path))


def latencies(h, path, seconds, out, stop):
    """Sequential requests on fresh connections; appends seconds per request."""
    import http.client
    end = time.monotonic() + seconds
    while time.monotonic() < end and not stop.is_set():
        t = time.monotonic()
        c = http.client.HTTPConnection("127.0.0.1", h.port, timeout=10 * TM)
        try:
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            out.append((time.monotonic() - t, r.status))
        except OSError as e:
            out.append((time.monotonic() - t, repr(e)))
        finally:
            c.close()
        time.sleep(0.005)


def p99(vals):
    vals = sorted(vals)
    return vals[min(len(vals) - 1, int(len(vals) * 0.99))] if vals else None


def python_slowloris(h, n, seconds, stop, body=False):
    """n sockets that send a request head (or body) one byte-line at a time."""
    socks = []
    for i in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", h.port), timeout=2)
        except OSError:
            break
        if body:
            s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: " + JSONAPI.encode() +
                      b"\r\nContent-Length: 100000\r\n\r\n{")
        else:
            s.sendall(b"GET /v1/events HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    end = time.monotonic() + seconds
    k = 0
    while time.monotonic() < end and not stop.is_set():
        for s in socks:
            try:
                s.sendall(b" " if body else (b"X-%d: y\r\n" % k))
            except OSError:
                pass
        k += 1
        time.sleep(1)
    for s in socks:
        s.close()
    return len(socks)


def run_slowloris(h, mode, seconds, conns):
    """Runs slowhttptest (or the Python fallback) against the server for
    `seconds` while a normal client measures its latency; returns
    (tool, p99 seconds, samples, errors)."""
    ev = seed_event(h, name="Normal")
    path = "/v1/events/%d" % ev["id"]
    out, stop = [], threading.Event()
    tool = "slowhttptest" if shutil.which("slowhttptest") else "python"
    proc = None
    thr = None
    if tool == "slowhttptest":
        # -H slow headers / -B slow body; -c connections, -r per second,
        # -i seconds between follow-up bytes, -l test length, -x max bytes per follow-up
        args = ["slowhttptest", "-c", str(conns), "-r", str(conns), "-i", "2", "-l", str(seconds + 5),
                "-x", "16", "-p", "3", "-u", "http://127.0.0.1:%d/v1/events" % h.port]
        args += ["-H"] if mode == "headers" else ["-B", "-s", "100000", "-t", "POST"]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/tmp")
        h.defer(lambda: proc.poll() is None and proc.kill())
    else:
        thr = threading.Thread(target=python_slowloris, args=(h, conns, seconds + 5, stop, mode == "body"))
        thr.start()
    try:
        time.sleep(3)  # the slow connections are open
        latencies(h, path, seconds, out, stop)
    finally:
        stop.set()
        if proc:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if thr:
            thr.join(20)
    ok = [t for t, st in out if st == 200]
    errors = [(t, st) for t, st in out if st != 200]
    return tool, p99(ok), len(out), errors


def test_slowloris_slow_headers(h):
    tool, q, n, errors = run_slowloris(h, "headers", 12, 400)
    print("    clients: slowloris (%s, slow headers, 400 connections): %d normal requests, p99 %.1f ms, %d errors"
          % (tool, n, (q or 0) * 1000, len(errors)))
    expect(n >= 100, "only %d normal requests completed during slowloris" % n)
    expect(not errors, "normal requests failed during slowloris: %s" % show(repr(errors[:5])))
    expect(q is not None and q < 0.050 * TM, "p99 of normal requests during slowloris (slow headers) is %.1f ms "
           "(limit %.0f ms)" % ((q or 0) * 1000, 50 * TM))
    eq(h.request("GET", "/health-check")[0], 200, "GET /health-check after slowloris")


def test_slowloris_slow_bodies(h):
    tool, q, n, errors = run_slowloris(h, "body", 12, 400)
    print("    clients: slowloris (%s, slow bodies, 400 connections): %d normal requests, p99 %.1f ms, %d errors"
          % (tool, n, (q or 0) * 1000, len(errors)))
    expect(n >= 100, "only %d normal requests completed during slow bodies" % n)
    expect(not errors, "normal requests failed during slow bodies: %s" % show(repr(errors[:5])))
    expect(q is not None and q < 0.050 * TM, "p99 of normal requests during slowloris (slow bodies) is %.1f ms "
           "(limit %.0f ms)" % ((q or 0) * 1000, 50 * TM))
    eq(h.request("GET", "/health-check")[0], 200, "GET /health-check after slow bodies")
