"""Secrets and headers (issue 9, item 7): passwords, tokens and the
SECRET_KEY never reach the server's logs; responses carry
`X-Content-Type-Options: nosniff`; /docs has a restrictive
Content-Security-Policy.

The logs checked are those the harness keeps for every server it started
(Server.log_path, under the harness directory): the ones of this module's
own servers, which go through every path that handles a secret at the
debug log level and in both log formats, and the logs of the whole run.
Since modules run in file order, the whole-run scan also hooks the
harness's close (it runs after the last test and before the final count),
so the servers of the modules after this one are scanned too; that scan is
reported as `test_secrets::whole_run_logs`."""

import json
import os
import re
import secrets
import shutil
import tempfile
import time

from fixtures import (EV_ENDS, EV_STARTS, JSONAPI, api, auth, create_admin, jwt_encode, login, make_event,
                      make_user, res_body, signup, token_for)
from helpers import check_ok_doc, eq, expect, show

# A JWT: three base64url parts, the first two JSON objects ("eyJ" is '{"').
JWT_RE = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
# A JSON body echoed into a log: a password member with a value.
PASSWORD_MEMBER_RE = re.compile(rb'"password"\s*:\s*"[^"]+')
# A password field of a database URL (postgresql://user:secret@host).
URL_PASSWORD_RE = re.compile(rb"postgres(?:ql)?://[^:/@\s]+:[^@\s]+@")

_seen_secrets = set()  # every password and token this module used


def remember(*values):
    for v in values:
        if v:
            _seen_secrets.add(v)


def scan(paths, extra=()):
    """Leaks in the given log files: [(file, what, excerpt)]."""
    needles = set(_seen_secrets) | set(extra)
    leaks = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        name = os.path.basename(path)
        for n in sorted(needles):
            b = n.encode() if isinstance(n, str) else n
            # a token is also caught by its signature alone
            parts = [b] + ([b.rsplit(b".", 1)[-1]] if b.count(b".") == 2 and len(b.rsplit(b".", 1)[-1]) >= 16 else [])
            for p in parts:
                i = data.find(p)
                if i >= 0:
                    leaks.append((name, "a secret of the tests (%s...)" % show(n, 12),
                                  data[max(0, i - 80):i + 40].decode("utf-8", "replace")))
                    break
        for rx, what in ((JWT_RE, "a JWT"), (PASSWORD_MEMBER_RE, "a password member"),
                         (URL_PASSWORD_RE, "a database URL with its password")):
            m = rx.search(data)
            if m:
                leaks.append((name, what, data[max(0, m.start() - 80):m.end() + 10].decode("utf-8", "replace")))
    return leaks


def report(leaks):
    return "\n  ".join("%s: %s: ...%s..." % (f, what, ex.replace("\n", "\\n")) for f, what, ex in leaks[:20])


def exercise_secrets(h, port=None):
    """Every path that handles a password or a token, with good and bad values."""
    pw = "pw-" + secrets.token_hex(12)
    remember(pw)
    email = "s-%s@example.com" % secrets.token_hex(4)
    if port is None:
        u = signup(h, email, pw, **{"first-name": "Secret"})
        tok = login(h, email, pw)
        remember(tok)
        # wrong passwords, unknown users, bodies in both media types
        for body in ({"email": email, "password": pw + "x"}, {"email": "nobody-" + email, "password": pw},
                     {"email": email}, {"password": pw}):
            st, _, _ = h.json("POST", "/v1/auth/login", headers={"Content-Type": "application/json"}, body=body)
            expect(st in (400, 401, 422), "POST /v1/auth/login with a bad body: status %d" % st)
        # unknown members are ignored: a good login
        st, _, doc = h.json("POST", "/v1/auth/login", headers={"Content-Type": "application/json"},
                            body={"email": email, "password": pw, "extra": pw})
        expect(st == 200, "POST /v1/auth/login with an extra member: status %d" % st)
        remember((doc or {}).get("access_token"))
        st, _, _ = h.request("POST", "/v1/auth/login", headers={"Content-Type": "application/json"},
                             body=('{"email": "%s", "password": "%s"' % (email, pw)).encode())
        expect(st == 400, "POST /v1/auth/login with broken JSON: status %d" % st)
        # a duplicate sign-up (the unique violation's detail must not carry the password)
        st, _, _ = api(h, "POST", "/v1/users", res_body("user", {"email": email, "password": pw}))
        expect(st in (409, 422), "duplicate sign-up: status %d" % st)
        # a password change, with a new password
        pw2 = "pw2-" + secrets.token_hex(12)
        remember(pw2)
        st, _, doc = api(h, "PATCH", "/v1/users/%d" % u["id"], res_body("user", {"password": pw2}, id=u["id"]), token=tok)
        expect(st in (200, 403, 422), "PATCH password: status %d: %s" % (st, show(doc)))
        # an admin made by the command line
        apw = "apw-" + secrets.token_hex(12)
        remember(apw)
        adm = create_admin(h, "a-%s@example.com" % secrets.token_hex(4), apw)
        remember(adm["token"])
    # tokens: good, expired, tampered, wrongly signed, in odd places
    user = make_user(h)
    good = token_for(h, user["id"])
    expired = token_for(h, user["id"], exp=int(time.time()) - 60)
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    other = jwt_encode({"alg": "HS256", "typ": "JWT"}, {"identity": user["id"], "exp": int(time.time()) + 60},
                       key="another-key-" + secrets.token_hex(16))
    remember(good, expired, tampered, other)
    for t in (good, expired, tampered, other):
        for path in ("/v1/users/%d" % user["id"], "/v1/events?include=nope", "/v1/nope"):
            h.request("GET", path, headers={"Authorization": "JWT " + t}, port=port)
        h.request("GET", "/v1/events?token=%s&access_token=%s" % (t, t), port=port)
        h.request("GET", "/v1/events", headers={"Authorization": "Bearer " + t, "X-Request-Id": t[:30]}, port=port)
    # a write with a valid token (the write path logs too)
    h.json("POST", "/v1/events", headers=dict(auth(good), **{"Content-Type": JSONAPI}), port=port,
           body=res_body("event", {"name": "S", "starts-at": EV_STARTS, "ends-at": EV_ENDS, "timezone": "UTC"}))
    return user


def all_logs(h):
    return [s.log_path for s in h.all_servers]


def test_no_secrets_in_logs_at_debug_level(h):
    for fmt in ("text", "json"):
        s = h.restart_server({"LOG_LEVEL": "debug", "LOG_FORMAT": fmt})
        exercise_secrets(h)
        h.stop_server()
        leaks = scan([s.log_path], extra=[h.secret])
        expect(os.path.getsize(s.log_path) > 0, "the debug server's log is empty")
        expect(not leaks, "LOG_LEVEL=debug LOG_FORMAT=%s: secrets in the server log:\n  %s" % (fmt, report(leaks)))


def test_no_secrets_in_command_output(h):
    pw = "cli-" + secrets.token_hex(12)
    remember(pw)
    for args in (["create-admin", "c-%s@example.com" % secrets.token_hex(4)], ["migrate"], ["--help"]):
        r = h.run_bin(args, env_overrides={"ADMIN_PASSWORD": pw, "LOG_LEVEL": "debug"}, timeout=60)
        out = (r.stdout + r.stderr).encode()
        for n in (pw, h.secret):
            expect(n.encode() not in out, "`%s` printed a secret (%s...): %s" % (" ".join(args), n[:6], show(out, 600)))


def test_no_secrets_in_the_logs_of_the_run_so_far(h):
    _hook_whole_run(h)
    exercise_secrets(h)
    leaks = scan(all_logs(h), extra=[h.secret])
    expect(not leaks, "secrets in the server logs of this run:\n  %s" % report(leaks))


def _hook_whole_run(h):
    """Scans every server log once more when the harness closes (after the
    last module), recording the result as one more test."""
    if getattr(h, "_secrets_hooked", False):
        return
    h._secrets_hooked = True
    original = h.close

    def close():
        if not h._closed:
            for s in h.all_servers:
                if s.running():
                    s.stop()
            leaks = scan(all_logs(h), extra=[h.secret])
            h.record("test_secrets::whole_run_logs", not leaks,
                     "secrets in the server logs of the run (%d logs):\n  %s" % (len(h.all_servers), report(leaks)))
        original()

    h.close = close


# ---- headers -------------------------------------------------------------------

def test_nosniff_on_every_kind_of_answer(h):
    owner = make_user(h)
    ev = make_event(h, owner)
    p = "/v1/events/%d" % ev["id"]
    st, hd, _ = h.request("GET", p)
    etag = hd.get("etag")
    cases = [
        ("GET", p, None, None, 200),
        ("HEAD", p, None, None, 200),
        ("GET", p, {"If-None-Match": etag or "x"}, None, 304),
        ("GET", "/v1/events", None, None, 200),
        ("GET", "/v1/nope", None, None, 404),
        ("GET", "/static/x.js", None, None, 404),
        ("DELETE", "/v1/events", None, None, 405),
        ("OPTIONS", p, {"Origin": "http://x", "Access-Control-Request-Method": "PATCH"}, None, 204),
        ("GET", "/v1/users/%d" % owner["id"], {"Authorization": "JWT nope"}, None, 401),
        ("POST", "/v1/events", {"Content-Type": "text/plain"}, b"x", 415),
        ("POST", "/v1/events", dict(auth(owner["token"]), **{"Content-Type": JSONAPI}), b"{", 400),
        ("GET", "/v1/events?page[size]=abc", None, None, 400),
        ("POST", "/v1/auth/login", {"Content-Type": "application/json"}, b'{"email":"a@b","password":"x"}', 401),
        ("GET", "/health-check", None, None, 200),
        ("GET", "/metrics", None, None, 200),
    ]
    bad = []
    for method, path, headers, body, want in cases:
        st, hd, data = h.request(method, path, headers=headers or {}, body=body)
        if st != want:
            bad.append("%s %s: status %d, expected %d (%s)" % (method, path, st, want, show(data, 120)))
        if (hd.get("x-content-type-options") or "").strip().lower() != "nosniff":
            bad.append("%s %s (%d): X-Content-Type-Options %r" % (method, path, st, hd.get("x-content-type-options")))
    expect(not bad, "%d problems:\n  %s" % (len(bad), "\n  ".join(bad)))


def test_docs_have_a_restrictive_csp(h):
    d = tempfile.mkdtemp(prefix="oes-docs-")
    h.defer(lambda: shutil.rmtree(d, ignore_errors=True))
    with open(os.path.join(d, "index.html"), "w") as f:
        f.write("<!doctype html><title>API</title><script>document.title='x'</script><h1>API</h1>")
    os.chmod(d, 0o755)
    h.restart_server({"DOCS_DIR": d})
    for method in ("GET", "HEAD"):
        st, hd, body = h.request(method, "/docs")
        eq(st, 200, "%s /docs: status" % method)
        expect((hd.get("content-type") or "").startswith("text/html"), "%s /docs: Content-Type %r" % (method, hd.get("content-type")))
        eq((hd.get("x-content-type-options") or "").lower(), "nosniff", "%s /docs: X-Content-Type-Options" % method)
        csp = hd.get("content-security-policy") or ""
        expect(csp, "%s /docs: no Content-Security-Policy" % method)
        directives = {}
        for part in csp.split(";"):
            words = part.split()
            if words:
                directives[words[0].lower()] = [w.lower() for w in words[1:]]
        problems = []
        if directives.get("default-src") not in (["'none'"], ["'self'"]):
            problems.append("default-src is %r, not 'none' or 'self'" % directives.get("default-src"))
        for name, sources in directives.items():
            for s in sources:
                if s in ("*", "http:", "https:", "data:") and name in ("default-src", "script-src", "connect-src",
                                                                        "object-src", "frame-src", "child-src"):
                    problems.append("%s allows %s" % (name, s))
                if s == "'unsafe-eval'":
                    problems.append("%s allows 'unsafe-eval'" % name)
        if directives.get("frame-ancestors") != ["'none'"]:
            problems.append("frame-ancestors is %r, not 'none' (clickjacking)" % directives.get("frame-ancestors"))
        for name in ("base-uri", "form-action"):
            if directives.get(name) not in (["'none'"], ["'self'"]):
                problems.append("%s is %r, not 'none' or 'self'" % (name, directives.get(name)))
        if "object-src" in directives and directives["object-src"] != ["'none'"]:
            problems.append("object-src is %r" % directives["object-src"])
        expect(not problems, "%s /docs: Content-Security-Policy %r is not restrictive: %s" % (method, csp, "; ".join(problems)))
        if method == "GET":
            expect(b"<h1>API</h1>" in body, "GET /docs: not the DOCS_DIR page: %s" % show(body))
    # JSON answers are not documents a browser should render with scripts
    st, hd, _ = h.request("GET", "/v1/events")
    eq(st, 200, "GET /v1/events: status")
    expect((hd.get("content-type") or "").startswith(JSONAPI), "GET /v1/events: Content-Type %r" % hd.get("content-type"))


def test_docs_kept_compressed(h):
    """The documentation page is kept gzip-compressed: served as it is to a
    client that accepts gzip, inflated for one that does not (or refuses it
    with q=0); the same bytes and ETag either way; and an 8 MB page adds far
    less than 8 MB to the server's RSS."""
    import gzip
    from run import SANITIZED, VALGRIND

    def rss_kb(pid):
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])

    d = tempfile.mkdtemp(prefix="oes-docs-")
    h.defer(lambda: shutil.rmtree(d, ignore_errors=True))
    os.chmod(d, 0o755)
    h.restart_server({"DOCS_DIR": d})  # no page: the baseline
    eq(h.request("GET", "/docs")[0], 404, "GET /docs without a page")
    base = rss_kb(h.server_pid)
    rows = "".join("<tr><td>%d</td><td>session %d</td><td>%s</td></tr>\n" % (i, i * 7919 % 1000, "x" * (i % 40))
                   for i in range(112000))
    page = ("<!doctype html><title>API</title><h1>API</h1><table>\n" + rows + "</table>\n").encode()
    expect(len(page) > 8_000_000, "page size %d" % len(page))
    with open(os.path.join(d, "index.html"), "wb") as f:
        f.write(page)
    h.restart_server({"DOCS_DIR": d})
    grown = rss_kb(h.server_pid) - base
    print("    an %d-byte page: RSS +%d kB" % (len(page), grown))
    if not (SANITIZED or VALGRIND):  # their allocators keep freed memory: not asserted there
        expect(grown < 3000, "an %d-byte page added %d kB to the server's RSS" % (len(page), grown))
    tags = set()
    for ae, gz in (("gzip", True), ("gzip, deflate, br", True), ("br;q=1.0, gzip;q=0.5", True), ("*", True),
                   (None, False), ("identity", False), ("gzip;q=0", False), ("br", False)):
        headers = {"Accept-Encoding": ae} if ae else {}
        st, hd, body = h.request("GET", "/docs", headers=headers)
        eq(st, 200, "GET /docs (Accept-Encoding %r): status" % ae)
        eq(hd.get("content-encoding"), "gzip" if gz else None, "Accept-Encoding %r: Content-Encoding" % ae)
        expect("accept-encoding" in (hd.get("vary") or "").lower(), "Accept-Encoding %r: Vary %r" % (ae, hd.get("vary")))
        got = gzip.decompress(body) if gz else body
        expect(got == page, "Accept-Encoding %r: %d bytes that are not the page (%d)" % (ae, len(got), len(page)))
        tags.add(hd.get("etag"))
    eq(len(tags), 1, "one ETag for the page in either encoding: %s" % tags)
    tag = tags.pop()
    expect(tag, "GET /docs: no ETag")
    eq(h.request("GET", "/docs", headers={"If-None-Match": tag, "Accept-Encoding": "gzip"})[0], 304,
       "GET /docs with If-None-Match")
    h.restart_server()
