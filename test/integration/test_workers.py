"""--workers N: forked workers sharing the port, replaced when they die."""

import os
import signal
import time

from run import alive, children
from helpers import TM, check_event, check_ok_doc, eq, expect, seed_event, wait_for


def test_workers_2(h):
    ev = seed_event(h, name="Workers")
    path = "/v1/events/%d" % ev["id"]
    s = h.spawn_server(args=["--workers", "2"])
    kids = wait_for(lambda: (lambda c: c if len(c) == 2 else None)(children(s.pid)), 5, 0.1,
                    "2 worker processes under the parent %d" % s.pid)
    for i in range(50):
        got = h.json("GET", path if i % 2 else "/v1/events", port=s.port)
        doc = check_ok_doc("GET", path, got)
        if i % 2:
            check_event(doc["data"], ev, "--workers 2 GET %s" % path)
    victim = kids[0]
    os.kill(victim, signal.SIGKILL)
    t = time.monotonic()
    # Once the victim is dead its listening socket is gone (with SO_REUSEPORT,
    # connections already queued on it are lost: that is the kernel's doing).
    wait_for(lambda: not alive(victim), 5, 0.02, "worker %d dead after SIGKILL" % victim)
    resets = 0
    for i in range(20):
        try:
            got = h.json("GET", path, port=s.port, timeout=5 * TM)
        except ConnectionResetError:
            # a connection the kernel had already queued on the dead worker's
            # SO_REUSEPORT socket: lost with it; the next one goes elsewhere
            resets += 1
            expect(resets <= 2, "more than 2 connections reset after SIGKILL of worker %d" % victim)
            got = h.json("GET", path, port=s.port, timeout=5 * TM)
        eq(got[0], 200, "--workers 2, request %d after SIGKILL of worker %d: status" % (i, victim))
    new = wait_for(lambda: (lambda c: c if len(c) == 2 and victim not in c else None)(children(s.pid)), 5, 0.1,
                   "2 workers again after SIGKILL of %d (now %r)" % (victim, children(s.pid)))
    expect(time.monotonic() - t < 5 * TM + 2, "replacement took too long")
    for i in range(20):
        eq(h.json("GET", path, port=s.port)[0], 200, "--workers 2 after replacement: request %d" % i)
    expect(s.running(), "the parent %d died" % s.pid)
    code = s.stop()
    eq(code, 0, "--workers 2: parent exit code after SIGTERM")
    still = [p for p in new if alive(p)]
    wait_for(lambda: not [p for p in new if alive(p)], 5, 0.1, "workers %r gone after the parent exited" % still)
