#!/usr/bin/env python3
"""Latency of a big event's schedule pages at one connection, for bench/run.sh.

GET /v1/events/{id}/sessions?include=speakers,track&page[size]=SIZE&page[number]=N
for each page, in turn (1, 2, 1, 2, ...), over one keep-alive connection, as
a client paging through the schedule would. The first round is a warm-up
and is checked: 200, a JSON:API document with SIZE sessions (fewer on the
last page), speakers and tracks in `included`, meta.count. Then `count`
measured requests per page, each timed from sending the request to the last
byte of the body. One line on stdout, NAME=VALUE figures, per page N:

    rps=X pN_requests=N pN_bytes=N pN_sessions=N pN_included=N
    pN_median_ms=X pN_max_ms=X pN_min_ms=X ...

(rps: measured requests over the time they took).

Exit status 1, with the reason on stderr, when a page is not such a document.

usage: bigpage.py --port P --event ID [--pages 2] [--size 1000] [--count 7]
"""
import argparse
import http.client
import json
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--event", required=True)
    ap.add_argument("--pages", type=int, default=2)
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--count", type=int, default=7)
    a = ap.parse_args()

    def path(p):
        return ("/v1/events/%s/sessions?include=speakers%%2Ctrack&page%%5Bsize%%5D=%d&page%%5Bnumber%%5D=%d"
                % (a.event, a.size, p))

    conn = http.client.HTTPConnection(a.host, a.port, timeout=60)

    def get(p):
        t = time.perf_counter()
        conn.request("GET", path(p))
        r = conn.getresponse()
        body = r.read()
        return r.status, body, (time.perf_counter() - t) * 1000

    info = {}
    for p in range(1, a.pages + 1):
        status, body, _ = get(p)
        if status != 200:
            sys.stderr.write("GET %s answered %d: %s\n" % (path(p), status, body[:500].decode(errors="replace")))
            return 1
        try:
            doc = json.loads(body)
            data, inc = doc["data"], doc.get("included", [])
            count = doc["meta"]["count"]
        except (ValueError, KeyError, TypeError) as e:
            sys.stderr.write("GET %s: not a JSON:API list (%s)\n" % (path(p), e))
            return 1
        want = min(a.size, max(count - (p - 1) * a.size, 0))
        types = {x.get("type") for x in inc}
        if len(data) != want or want == 0 or not {"speaker", "track"} <= types:
            sys.stderr.write("GET %s: %d sessions (want %d of meta.count %d), included types %s\n"
                             % (path(p), len(data), want, count, sorted(types)))
            return 1
        info[p] = (len(body), len(data), len(inc))

    times = {p: [] for p in info}
    t0 = time.perf_counter()
    for _ in range(a.count):
        for p in info:
            status, body, ms = get(p)
            if status != 200 or len(body) != info[p][0]:
                sys.stderr.write("GET %s answered %d with %d bytes (first: %d)\n" % (path(p), status, len(body), info[p][0]))
                return 1
            times[p].append(ms)
    elapsed = time.perf_counter() - t0
    out = ["rps=%.2f" % (sum(len(t) for t in times.values()) / elapsed)]
    for p in info:
        t = times[p]
        out.append("p%d_requests=%d p%d_bytes=%d p%d_sessions=%d p%d_included=%d p%d_median_ms=%.1f p%d_max_ms=%.1f p%d_min_ms=%.1f"
                   % (p, len(t), p, info[p][0], p, info[p][1], p, info[p][2], p, statistics.median(t), p, max(t), p, min(t)))
    print(" ".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
