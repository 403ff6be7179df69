"""SIGTERM: in-flight requests finish, then the server exits 0. Runs last."""

import signal
import socket
import threading
import time

from helpers import TM, check_event, check_ok_doc, eq, expect, seed_event, wait_for


def test_sigterm_drains_in_flight_request(h):
    ev = seed_event(h, name="Draining")
    path = "/v1/events/%d" % ev["id"]
    check_ok_doc("GET", path, h.json("GET", path))
    lock = h.lock("events")
    result = {}

    def slow():
        try:
            result["got"] = h.json("GET", path, timeout=20 * TM)
        except Exception as e:  # noqa: BLE001
            result["err"] = repr(e)

    port = h.port
    t = threading.Thread(target=slow)
    t.start()
    wait_for(lambda: h.lock_waiters() >= 1, 5, 0.05, "the request's query waiting for the lock")
    s = h.take_server()
    s.proc.send_signal(signal.SIGTERM)
    # Fixed (not TM-scaled) waits: the lock must go well within the server's
    # 10 s drain limit, under valgrind too.
    time.sleep(0.3)
    expect(s.running(), "server exited (code %s) with a request in flight" % s.proc.returncode)
    # the listener is closed: a new connection is refused or not answered with 200
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=1)
        c.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
        c.settimeout(0.5)
        try:
            data = c.recv(100)
        except (socket.timeout, OSError):
            data = b""
        c.close()
        expect(not data.startswith(b"HTTP/1.1 200"), "new request after SIGTERM got 200: %r" % data)
    except OSError:
        pass
    time.sleep(0.5)
    lock.release()
    t.join(20 * TM)
    expect("err" not in result, "in-flight GET %s failed after SIGTERM: %s" % (path, result.get("err")))
    expect("got" in result, "in-flight GET %s got no answer" % path)
    doc = check_ok_doc("GET", path, result["got"])
    check_event(doc["data"], ev, "in-flight GET %s after SIGTERM" % path)
    try:
        code = s.proc.wait(10 * TM)
    except Exception:  # noqa: BLE001
        code = "still running after %.0f s" % (10 * TM)
    eq(code, 0, "exit code after SIGTERM with a request in flight")


def test_sigterm_idle_exits_promptly(h):
    s = h.take_server()
    t = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    try:
        code = s.proc.wait(10 * TM)
    except Exception:  # noqa: BLE001
        code = "still running"
    eq(code, 0, "idle server: exit code after SIGTERM")
    expect(time.monotonic() - t < 2 * TM + (5 if TM > 1 else 0),
           "idle server took %.1f s to exit after SIGTERM" % (time.monotonic() - t))


def test_sigint_exits_zero(h):
    s = h.take_server()
    s.proc.send_signal(signal.SIGINT)
    try:
        code = s.proc.wait(10 * TM)
    except Exception:  # noqa: BLE001
        code = "still running"
    eq(code, 0, "exit code after SIGINT")
