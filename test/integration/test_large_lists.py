"""Large lists take turns (LARGE_LIST_ROWS, LARGE_LISTS_MAX): a worker
builds at most LARGE_LISTS_MAX lists of more than LARGE_LIST_ROWS rows at
once; the others wait for a turn without querying, small lists never
wait, a waiting client that leaves gives up its place, and every
waiter is answered in the end with the same document it would have got.

The lists here are anonymous lists under one event, which the server would
otherwise answer from memory after their first build (LIST_CACHE_BYTES,
test_list_cache): these tests are about building them, so it is off."""

import json
import socket
import threading
import time

from helpers import TM, check_ok_doc, eq, expect, seed_event, wait_for


def seed_sessions(h, event_id, n):
    h.sql("INSERT INTO sessions (event_id, title, state) SELECT %d, 'Talk ' || i, 'accepted' "
          "FROM generate_series(1, %d) AS i" % (event_id, n))


def raw_get(port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=10 * TM)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
    return s


def read_all(s):
    chunks = []
    while True:
        c = s.recv(65536)
        if not c:
            break
        chunks.append(c)
    s.close()
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_large_lists_take_turns(h):
    h.restart_server({"LARGE_LIST_ROWS": "5", "LARGE_LISTS_MAX": "1", "LIST_CACHE_BYTES": "0"})
    ev = seed_event(h, name="Large")
    seed_sessions(h, ev["id"], 30)
    large = "/v1/events/%d/sessions?page%%5Bsize%%5D=10" % ev["id"]
    every = "/v1/events/%d/sessions?page%%5Bsize%%5D=0" % ev["id"]
    small = "/v1/events/%d/sessions?page%%5Bsize%%5D=5" % ev["id"]
    want = check_ok_doc("GET", large, h.json("GET", large))
    eq(len(want["data"]), 10, "a large page: rows")

    lock = h.lock("sessions")
    socks = []
    try:
        first = raw_get(h.port, large)
        wait_for(lambda: h.lock_waiters() >= 1, 5, 0.05, "the first large list waiting for the lock")
        # three more large lists (one of page[size]=0) wait for a turn
        # without querying: still one backend waits for the lock
        socks = [raw_get(h.port, p) for p in (large, every, large)]
        time.sleep(0.3 * TM)
        eq(h.lock_waiters(), 1, "backends waiting for the lock with 4 large lists in flight (1 builds at once)")
        # a small list is not held back: its query goes out at once
        small_sock = raw_get(h.port, small)
        wait_for(lambda: h.lock_waiters() >= 2, 5, 0.05, "the small list's query sent while large ones wait")
        # a waiting client leaves: its place is given up
        socks[0].close()
        socks = socks[1:]
        time.sleep(0.2 * TM)
    finally:
        lock.release()

    st, body = read_all(first)
    eq(st, 200, "the first large list")
    eq(json.loads(body)["data"], want["data"], "the first large list: document")
    st, body = read_all(small_sock)
    eq(st, 200, "the small list")
    eq(len(json.loads(body)["data"]), 5, "the small list: rows")
    st, body = read_all(socks[0])
    eq(st, 200, "the page[size]=0 list that waited")
    eq(len(json.loads(body)["data"]), 30, "the page[size]=0 list: rows")
    st, body = read_all(socks[1])
    eq(st, 200, "the last large list that waited")
    eq(json.loads(body)["data"], want["data"], "the last large list: document")

    # many at once, all answered, all the same
    results = []

    def get():
        results.append(h.json("GET", large, timeout=10 * TM))

    threads = [threading.Thread(target=get) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    eq(len(results), 20, "answers to 20 concurrent large lists")
    for got in results:
        eq(check_ok_doc("GET", large, got)["data"], want["data"], "a concurrent large list")
    expect(h.server.running(), "the server is running")


def test_waiting_large_list_meets_its_deadline(h):
    """A large list waiting for its turn is still under REQUEST_TIMEOUT_MS:
    504, and the turn is not lost for those after it."""
    h.restart_server({"LARGE_LIST_ROWS": "5", "LARGE_LISTS_MAX": "1", "REQUEST_TIMEOUT_MS": "1000",
                      "LIST_CACHE_BYTES": "0"})
    ev = seed_event(h, name="Deadline")
    seed_sessions(h, ev["id"], 12)
    large = "/v1/events/%d/sessions?page%%5Bsize%%5D=10" % ev["id"]
    lock = h.lock("sessions")
    try:
        first = raw_get(h.port, large)
        wait_for(lambda: h.lock_waiters() >= 1, 5, 0.05, "the first large list waiting for the lock")
        second = raw_get(h.port, large)
        st, _ = read_all(second)
        eq(st, 504, "a large list that waited for its turn past the deadline")
    finally:
        lock.release()
    st, _ = read_all(first)
    eq(st, 504, "the large list blocked on the lock past the deadline")
    got = h.json("GET", large)
    eq(len(check_ok_doc("GET", large, got)["data"]), 10, "a large list after both timed out")


def test_memory_freed_after_list_builds_goes_back(h):
    """Builds of many lists at once leave free memory between blocks still
    in use, which glibc keeps in the RSS; the worker hands it back within
    a few seconds (malloc_trim, once a second when 1 MiB or more is free)."""
    import http.client
    from run import SANITIZED, VALGRIND
    from test_clients import rss_kb, settled_rss
    h.restart_server({"LIST_CACHE_BYTES": "0"})
    ev = seed_event(h, name="Trim")
    seed_sessions(h, ev["id"], 300)
    h.sql("INSERT INTO speakers (event_id, name, short_biography) SELECT %d, 'Speaker ' || i, repeat('b', 400) "
          "FROM generate_series(1, 300) AS i" % ev["id"])
    h.sql("INSERT INTO sessions_speakers (session_id, speaker_id) SELECT s.id, p.id FROM sessions s "
          "JOIN speakers p ON p.event_id = s.event_id AND p.name = 'Speaker ' || substr(s.title, 6) "
          "WHERE s.event_id = %d" % ev["id"])
    sizes = (20, 50, 100)  # not large (LARGE_LIST_ROWS): they are built at once
    paths = ["/v1/events/%d/sessions?include=speakers&page%%5Bsize%%5D=%d&page%%5Bnumber%%5D=%d" % (ev["id"], s, n)
             for s in sizes for n in (1, 2, 3)]
    pid = h.server_pid
    errors = []

    def client(k):
        c = http.client.HTTPConnection("127.0.0.1", h.port, timeout=30 * TM)
        for i in range(40):
            c.request("GET", paths[(k * 7 + i) % len(paths)])
            r = c.getresponse()
            r.read()
            if r.status != 200:
                errors.append(r.status)
        c.close()

    def round_of(n):
        ts = [threading.Thread(target=client, args=(k,)) for k in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)

    round_of(2)  # the working size
    time.sleep(1.5)
    base = settled_rss(h, pid)
    peak = 0
    ts = [threading.Thread(target=client, args=(k,)) for k in range(32)]
    for t in ts:
        t.start()
    while any(t.is_alive() for t in ts):
        peak = max(peak, rss_kb(pid))
        time.sleep(0.02)
    eq(errors, [], "statuses other than 200")
    held = rss_kb(pid)
    time.sleep(2.5)
    after = settled_rss(h, pid)
    print("    RSS kB: base %d, peak %d, just after %d, 2.5 s later %d" % (base, peak, held, after))
    if not (SANITIZED or VALGRIND):
        expect(after - base < 1536, "RSS %d kB after the builds, %d kB before (peak %d kB): the freed memory "
               "was not handed back" % (after, base, peak))
    h.restart_server()
