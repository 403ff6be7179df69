"""HTTP layer: request ids, media type, ETag/304, 404/405, bad input."""

import re

from helpers import check_error, check_ok_doc, eq, expect, seed_event, show


def status_of(raw):
    m = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
    return int(m.group(1)) if m else None


def test_request_ids_are_present_and_distinct(h):
    ev = seed_event(h)
    seen = set()
    for method, path in [("GET", "/v1/events"), ("GET", "/v1/events/%d" % ev["id"]), ("GET", "/v1/nope"),
                         ("DELETE", "/v1/events"), ("GET", "/health-check"), ("GET", "/metrics"),
                         ("GET", "/v1/events/0"), ("GET", "/v1/events"), ("GET", "/v1/events")]:
        st, hd, body = h.request(method, path)
        rid = hd.get("x-request-id", "")
        expect(rid.strip(), "%s %s (status %d): no X-Request-Id" % (method, path, st))
        expect(rid not in seen, "%s %s: X-Request-Id %r repeats an earlier one" % (method, path, rid))
        seen.add(rid)


def test_etag_and_if_none_match(h):
    ev = seed_event(h)
    for path in ("/v1/events/%d" % ev["id"], "/v1/events/" + ev["identifier"], "/v1/events",
                 "/v1/events?page[size]=1"):
        st, hd, body = h.request("GET", path)
        eq(st, 200, "GET %s: status" % path)
        etag = hd.get("etag", "")
        expect(re.match(r'^W/"[^"]+"$', etag), "GET %s: ETag %r is not a weak entity tag W/\"...\"" % (path, etag))
        vary = [v.strip().lower() for v in hd.get("vary", "").split(",")]
        expect("authorization" in vary, "GET %s: Vary %r lacks Authorization" % (path, hd.get("vary")))
        st2, hd2, body2 = h.request("GET", path, headers={"If-None-Match": etag})
        eq(st2, 304, "GET %s with If-None-Match: %s: status" % (path, etag))
        eq(body2, b"", "GET %s 304: body" % path)
        expect(hd2.get("x-request-id"), "GET %s 304: no X-Request-Id" % path)
        eq(hd2.get("etag"), etag, "GET %s 304: ETag" % path)
        st3, _, body3 = h.request("GET", path, headers={"If-None-Match": 'W/"no-such-tag", W/"x"'})
        eq(st3, 200, "GET %s with a non-matching If-None-Match: status" % path)
        eq(body3, body, "GET %s with a non-matching If-None-Match: body" % path)
        st4, _, _ = h.request("GET", path, headers={"If-None-Match": 'W/"x", ' + etag})
        eq(st4, 304, "GET %s with If-None-Match listing the ETag second: status" % path)


def test_etag_changes_with_content(h):
    ev = seed_event(h, name="Before")
    path = "/v1/events/%d" % ev["id"]
    st, hd, _ = h.request("GET", path)
    eq(st, 200, "GET %s: status" % path)
    old = hd.get("etag")
    h.sql("UPDATE events SET name = 'After' WHERE id = %d" % ev["id"])
    st, hd, doc = h.json("GET", path, headers={"If-None-Match": old})
    eq(st, 200, "GET %s with the ETag from before an UPDATE: status" % path)
    eq(doc["data"]["attributes"]["name"], "After", "GET %s after UPDATE: name" % path)
    expect(hd.get("etag") and hd.get("etag") != old, "GET %s: ETag %r unchanged after UPDATE" % (path, old))
    st, hd, _ = h.request("GET", "/v1/events")
    old_list = hd.get("etag")
    seed_event(h, name="New")
    st, hd, _ = h.request("GET", "/v1/events", headers={"If-None-Match": old_list})
    eq(st, 200, "GET /v1/events with the ETag from before an INSERT: status")


def test_head_matches_get(h):
    ev = seed_event(h)
    path = "/v1/events/%d" % ev["id"]
    st, hd, body = h.request("GET", path)
    st2, hd2, body2 = h.request("HEAD", path)
    eq(st2, 200, "HEAD %s: status" % path)
    eq(body2, b"", "HEAD %s: body" % path)
    eq(hd2.get("etag"), hd.get("etag"), "HEAD %s: ETag equals GET's" % path)
    expect(hd2.get("x-request-id"), "HEAD %s: no X-Request-Id" % path)


def test_unknown_paths_are_404(h):
    for path in ("/", "/v1", "/v1/", "/v1/nope", "/v1/events/1/nope/2", "/v2/events", "/v1/EVENTS",
                 "/health-check/x", "/v1/events//1", "/%ff", "/v1/" + "a" * 3000):
        check_error("GET", path, h.json("GET", path), 404)


def test_wrong_method_is_405_with_allow(h):
    seed_event(h)
    for method, path in [("DELETE", "/v1/events"), ("PUT", "/v1/events/1"), ("POST", "/health-check"),
                         ("PUT", "/v1/events"), ("PATCH", "/v1/events"), ("DELETE", "/metrics"),
                         ("POST", "/metrics"), ("PUT", "/v1/events/abcdef12")]:
        body = b"{}" if method in ("POST", "PUT", "PATCH") else None
        headers = {"Content-Type": "application/vnd.api+json"} if body else {}
        got = h.json(method, path, headers=headers, body=body)
        check_error(method, path, got, 405)
        allow = [m.strip().upper() for m in got[1].get("allow", "").split(",") if m.strip()]
        expect("GET" in allow, "%s %s: 405 Allow %r lacks GET" % (method, path, got[1].get("allow")))
        expect(method not in allow, "%s %s: 405 Allow %r lists the refused method" % (method, path, got[1].get("allow")))


def test_methods_evhttp_refuses(h):
    for method in ("TRACE", "FOO", "CONNECT", "PROPFIND"):
        # one_response: evhttp answers CONNECT but keeps the connection open
        raw = h.raw(("%s /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % method).encode(),
                    one_response=True)
        st = status_of(raw)
        expect(st in (405, 501), "%s /v1/events: expected 501 or 405, got %r: %r" % (method, st, raw[:300]))


def test_malformed_requests(h):
    cases = [
        (b"GARBAGE\r\n\r\n", (400,)),
        (b"GET\r\n\r\n", (400,)),
        (b"GET /v1/events HTTP/1.1 extra\r\nHost: x\r\n\r\n", (400,)),
        (b"GET /v1/events HTTP/x.y\r\nHost: x\r\n\r\n", (400, 505)),
        (b"GET /v1/events HTTP/1.1\r\nNo colon header\r\n\r\n", (400,)),
        (b"\x00\x01\x02\x03\r\n\r\n", (400, 501)),
        (b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", (400,)),
    ]
    for data, want in cases:
        raw = h.raw(data)
        st = status_of(raw)
        expect(st in want, "raw %r: expected %s, got %r: %r" % (data[:60], want, st, raw[:200]))
    ok = h.request("GET", "/health-check")
    eq(ok[0], 200, "GET /health-check after malformed requests: status")


def test_huge_headers(h):
    big = "GET /v1/events HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n" % ("a" * 20000)
    raw = h.raw(big.encode())
    st = status_of(raw)
    expect(st in (400, 413, 431), "GET /v1/events with a 20 KB header: expected 431/400/413, got %r: %r" % (st, raw[:200]))
    many = "GET /v1/events HTTP/1.1\r\nHost: x\r\n" + "".join("X-H%d: %s\r\n" % (i, "b" * 40) for i in range(600)) + "\r\n"
    raw = h.raw(many.encode())
    st = status_of(raw)
    expect(st in (400, 413, 431), "GET /v1/events with 600 headers (~28 KB): expected 431/400/413, got %r: %r" % (st, raw[:200]))
    huge = b"GET /v1/events HTTP/1.1\r\nHost: x\r\nX-Big: " + b"c" * (1 << 20)
    raw = h.raw(huge, timeout=10)
    st = status_of(raw)
    expect(st in (400, 413, 431, None), "1 MiB header line: got %r" % st)
    eq(h.request("GET", "/health-check")[0], 200, "GET /health-check after huge headers: status")


def test_bad_query_strings(h):
    seed_event(h)
    for path in ("/v1/events?page%5Bsize%5D=%zz", "/v1/events?%zz=1", "/v1/events?page[size]=%00",
                 "/v1/events?a=%4"):
        check_error("GET", path, h.json("GET", path), 400)
    # odd but well-formed query strings are fine
    for path in ("/v1/events?", "/v1/events?&&", "/v1/events?x", "/v1/events?page[size]=2&page[size]=2"):
        check_ok_doc("GET", path, h.json("GET", path))


def test_keep_alive_serves_several_requests(h):
    ev = seed_event(h)
    req = ("GET /v1/events/%d HTTP/1.1\r\nHost: x\r\n\r\n" % ev["id"]).encode()
    raw = h.raw(req * 3 + b"GET /v1/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=5)
    statuses = [int(s) for s in re.findall(rb"HTTP/1\.1 (\d{3}) ", raw)]
    eq(statuses, [200, 200, 200, 404], "3 pipelined detail GETs + 404 on one connection: statuses")


def test_server_survives_bad_input(h):
    pid = h.server_pid
    test_malformed_requests(h)
    test_huge_headers(h)
    test_methods_evhttp_refuses(h)
    # half-sent requests and abrupt closes
    for data in (b"GET /v1/ev", b"GET /v1/events HTTP/1.1\r\nHost:", b"POST /v1/events HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"):
        h.raw(data, timeout=0.2)
    st, hd, doc = h.json("GET", "/v1/events")
    check_ok_doc("GET", "/v1/events", (st, hd, doc))
    expect(h.server_pid == pid and h.server.running(), "server pid changed or server died")
    expect(show(doc), "no body")


def _access_lines(path, rid, parse):
    out = []
    with open(path, "rb") as f:
        for raw in f.read().split(b"\n"):
            if rid.encode() in raw:
                out.append(parse(raw))
    return out


def test_log_lines_are_whole_and_valid(h):
    """Each log line is one write: in JSON every line parses, whatever the
    client put in the path (quotes, backslashes, control bytes, 5,000
    bytes), and a long field is cut with "..." instead of the line's end."""
    import json

    odd = '/v1/x"y\\z\x7f\u00e9'
    long_path = "/v1/" + "a" * 5000
    for fmt in ("json", "text"):
        h.restart_server({"LOG_FORMAT": fmt, "LOG_LEVEL": "info"})
        for i, p in enumerate((odd, long_path)):
            rid = "logcheck-%s-%d" % (fmt, i)
            raw = h.raw(("GET %s HTTP/1.1\r\nHost: x\r\nX-Request-Id: %s\r\nConnection: close\r\n\r\n"
                         % (p, rid)).encode("utf-8", "surrogateescape"))
            eq(status_of(raw), 404, "GET %r: status" % p[:40])
        h.request("GET", "/health-check")  # the access lines are written before this answer
        logf = h.server_log
        if fmt == "json":
            with open(logf, "rb") as f:
                lines = [ln for ln in f.read().split(b"\n") if ln.strip()]
            bad = []
            for ln in lines:
                try:
                    json.loads(ln)
                except ValueError:
                    bad.append(ln[:200])
            eq(bad, [], "JSON log: lines that do not parse")
            a = _access_lines(logf, "logcheck-json-0", json.loads)
            eq(len(a), 1, "access lines for the odd path")
            eq(a[0]["path"], odd, "the odd path, unescaped from JSON")
            eq((a[0]["status"], a[0]["type"], a[0]["method"]), (404, "access", "GET"), "access fields")
            b = _access_lines(logf, "logcheck-json-1", json.loads)
            eq(len(b), 1, "access lines for the long path")
            expect(b[0]["path"].endswith("...") and len(b[0]["path"]) <= 2048 + 3
                   and b[0]["path"].startswith("/v1/aaaa"), "long path cut: %r" % b[0]["path"][-20:])
            eq(b[0]["status"], 404, "long path: status still logged after the cut")
        else:
            a = _access_lines(logf, "logcheck-text-0", lambda x: x)
            eq(len(a), 1, "text access lines for the odd path")
            expect(b'"GET /v1/x"y\\z?\xc3\xa9"' in a[0], "text line shows control bytes as '?': %r" % a[0])
            expect(re.search(rb'" 404 \d+ [0-9.]+ms$', a[0]), "text line ends with status, bytes, time: %r" % a[0])
            b = _access_lines(logf, "logcheck-text-1", lambda x: x)
            eq(len(b), 1, "text access lines for the long path")
            expect(re.search(rb'/v1/a{2000,}\.\.\." 404 \d+ [0-9.]+ms$', b[0]), "long path cut in text: %r" % b[0][-60:])
    h.restart_server()
