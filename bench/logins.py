#!/usr/bin/env python3
"""Background sign-ins for bench/run.sh: POST /v1/auth/login at a fixed rate.

Login i starts at t0 + i / rate (each in its own thread, so a slow answer
never lowers the rate), for `seconds` seconds or until SIGTERM; at the end
one line on stdout:

    logins=N logins_ok=N login_p50_ms=X login_p99_ms=X login_max_ms=X login_rate=X

(logins_ok: answers 200 with an access_token; latencies of every answered
login; login_rate: logins started per second, measured). Never more than
rate * seconds logins; every request has a 10 s timeout. The password comes
from the environment (BENCH_LOGIN_PASSWORD), not the command line.

usage: logins.py --port P --email E [--rate 10] [--seconds 5]
"""
import argparse
import http.client
import json
import os
import signal
import sys
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--email", required=True)
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--seconds", type=float, default=5.0)
    a = ap.parse_args()
    password = os.environ.get("BENCH_LOGIN_PASSWORD")
    if not password:
        sys.stderr.write("logins.py: BENCH_LOGIN_PASSWORD is not set\n")
        return 2

    body = json.dumps({"email": a.email, "password": password})
    lock = threading.Lock()
    results = []  # (ok, ms)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def login():
        t = time.perf_counter()
        ok = False
        try:
            c = http.client.HTTPConnection(a.host, a.port, timeout=10)
            c.request("POST", "/v1/auth/login", body=body, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            ok = r.status == 200 and b"access_token" in data
            c.close()
        except (OSError, http.client.HTTPException):
            pass
        ms = (time.perf_counter() - t) * 1000
        with lock:
            results.append((ok, ms))

    n = int(a.rate * a.seconds)
    threads = []
    t0 = time.perf_counter()
    for i in range(n):
        delay = t0 + i / a.rate - time.perf_counter()
        if delay > 0 and stop.wait(delay):
            break
        if stop.is_set():
            break
        th = threading.Thread(target=login, daemon=True)
        th.start()
        threads.append(th)
    started = len(threads)
    elapsed = max(time.perf_counter() - t0, 1e-9)
    for th in threads:
        th.join(12)
    with lock:
        lat = sorted(ms for _, ms in results)
        ok = sum(1 for o, _ in results if o)

    def pct(p):
        if not lat:
            return "null"
        return "%.1f" % lat[min(len(lat) - 1, int(round(p / 100.0 * (len(lat) - 1))))]

    print("logins=%d logins_ok=%d login_p50_ms=%s login_p99_ms=%s login_max_ms=%s login_rate=%.1f" % (
        started, ok, pct(50), pct(99), "%.1f" % lat[-1] if lat else "null",
        (started - 1) / elapsed if started > 1 else 0.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
