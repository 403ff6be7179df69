"""Auth (spec §5): create-admin, POST /v1/auth/login and /auth/session, JWT
verification on every JSON:API route, refused users and tokens.

Every test moves the users id sequence to a random value first: the server
caches users rows per worker for 30 s, and the harness's
TRUNCATE ... RESTART IDENTITY would otherwise hand the same ids to the users
of the next test while the main server still remembers the old ones.
"""

import base64
import hashlib
import hmac
import json
import random
import re
import socket
import subprocess
import threading
import time

from run import BIN, ROOT
from run import VALGRIND
from helpers import TM, check_error, check_ok_doc, eq, expect, get_metrics, metric, seed_event, show, wait_for

CHALLENGE = 'JWT realm="open-event-server"'
FAILED = "Authentication failed"


# ---- helpers -------------------------------------------------------------------


def fresh_ids(h):
    h.sql("SELECT setval(pg_get_serial_sequence('users', 'id'), %d)" % random.randint(10**6, 10**12))


def create_admin(h, email, password=None, stdin=None):
    """Runs `create-admin EMAIL`; password via ADMIN_PASSWORD (None: unset,
    then stdin gets `stdin`). Returns CompletedProcess."""
    env = h.server_env(h.port)
    env.pop("ADMIN_PASSWORD", None)
    if password is not None:
        env["ADMIN_PASSWORD"] = password
    return subprocess.run([BIN, "create-admin", email], env=env, cwd=ROOT, input=stdin or "",
                          capture_output=True, text=True, timeout=30 * TM)


def admin(h, email="admin@example.com", password="s3cret-passw0rd"):
    r = create_admin(h, email, password)
    eq(r.returncode, 0, "create-admin %s: exit code (stderr %r)" % (email, r.stderr[-400:]))
    out = r.stdout.strip()
    expect(re.fullmatch(r"[1-9][0-9]*", out), "create-admin: stdout %r is not a user id" % r.stdout)
    return int(out)


def seed_user(h, email, password, **cols):
    """A user row with a real password hash (made by create-admin, then demoted)."""
    uid = admin(h, email, password)
    sets = {"is_admin": False, "is_super_admin": False, "is_verified": False}
    sets.update(cols)
    h.sql("UPDATE users SET %s WHERE id = %d" % (", ".join(
        "%s = %s" % (k, "true" if v is True else "false" if v is False else v) for k, v in sets.items()), uid))
    return uid


def login(h, email, password, path="/v1/auth/login", headers=None, raw=None):
    body = raw if raw is not None else json.dumps({"email": email, "password": password}).encode()
    hd = {"Content-Type": "application/json"}
    hd.update(headers or {})
    return h.json("POST", path, headers=hd, body=body)


def token_of(h, email, password, path="/v1/auth/login"):
    st, hd, doc = login(h, email, password, path)
    expect(st == 200, "POST %s as %s: expected 200, got %d: %s" % (path, email, st, show(doc)))
    expect((hd.get("content-type") or "").startswith("application/json"),
           "POST %s: Content-Type %r, expected application/json" % (path, hd.get("content-type")))
    expect(isinstance(doc, dict) and isinstance(doc.get("access_token"), str),
           "POST %s: no access_token in %s" % (path, show(doc)))
    return doc["access_token"]


def b64(data):
    if isinstance(data, (dict, list)):
        data = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def claims_of(token):
    parts = token.split(".")
    eq(len(parts), 3, "token parts")
    return json.loads(unb64(parts[0])), json.loads(unb64(parts[1]))


def craft(payload, key, alg="HS256", header=None):
    head = b64(header if header is not None else {"alg": alg, "typ": "JWT"})
    body = b64(payload)
    msg = ("%s.%s" % (head, body)).encode()
    if alg == "none":
        sig = ""
    else:
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
        sig = b64(hmac.new(key.encode(), msg, digest).digest())
    return "%s.%s.%s" % (head, body, sig)


def claims(uid, **over):
    now = int(time.time())
    c = {"identity": uid, "iat": now, "nbf": now, "exp": now + 3600, "jti": "0123456789abcdef"}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def get_events(h, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    return h.json("GET", "/v1/events", headers=headers)


def check_401(h, got, what, token=None):
    e = check_error("GET", "/v1/events (%s)" % what, got, 401)
    eq(got[1].get("www-authenticate"), CHALLENGE, "%s: WWW-Authenticate" % what)
    if token:
        expect(token not in json.dumps(got[2]), "%s: the error repeats the token" % what)
    return e


# ---- create-admin --------------------------------------------------------------


def test_create_admin_then_login(h):
    fresh_ids(h)
    uid = admin(h, "Root@Example.com", "correct horse battery")
    row = h.sql("SELECT email, is_admin, is_super_admin, is_verified, is_blocked, "
                "left(password_hash, 10) FROM users WHERE id = %d" % uid)
    eq(row, "Root@Example.com|t|t|t|f|$argon2id$", "create-admin: the users row")
    m = re.search(r"m=(\d+),t=(\d+)", h.sql("SELECT password_hash FROM users WHERE id = %d" % uid))
    expect(m and int(m.group(1)) >= 19456 and int(m.group(2)) >= 2, "argon2id parameters below OWASP's")

    t0 = int(time.time())
    token = token_of(h, "root@example.COM", "correct horse battery")  # email without case
    head, c = claims_of(token)
    eq(head.get("alg"), "HS256", "token header alg")
    eq(c.get("identity"), uid, "token claim identity")
    expect(t0 - 2 <= c.get("iat", 0) <= time.time() + 2, "token iat %r" % c.get("iat"))
    eq(c.get("exp") - c.get("iat"), 86400, "token lifetime (JWT_TTL_S default)")
    expect(c.get("nbf") is not None and c["nbf"] <= c["iat"], "token nbf %r" % c.get("nbf"))
    expect(re.fullmatch(r"[0-9a-f]{32}", c.get("jti") or ""), "token jti %r: not 128 random bits in hex" % c.get("jti"))
    expect(claims_of(token_of(h, "root@example.com", "correct horse battery"))[1]["jti"] != c["jti"],
           "two logins gave the same jti")

    seed_event(h, name="Public")
    for scheme in ("JWT", "Bearer", "bearer"):
        doc = check_ok_doc("GET", "/v1/events", get_events(h, "%s %s" % (scheme, token)))
        eq(len(doc["data"]), 1, "GET /v1/events with a %s token: data" % scheme)
    # last_accessed_at is written after the answer
    deadline = time.monotonic() + 3 * TM
    while h.sql("SELECT last_accessed_at IS NOT NULL FROM users WHERE id = %d" % uid) != "t":
        expect(time.monotonic() < deadline, "last_accessed_at not set after a login")
        time.sleep(0.05)


def test_create_admin_stdin_promote_and_errors(h):
    fresh_ids(h)
    # the password from standard input
    r = create_admin(h, "stdin@example.com", None, stdin="from-stdin-pw\n")
    eq(r.returncode, 0, "create-admin with the password on stdin: exit (%r)" % r.stderr[-300:])
    uid = int(r.stdout.strip())
    token_of(h, "stdin@example.com", "from-stdin-pw")

    # promote an existing user: same row, password kept when none is given
    plain = seed_user(h, "Plain.User@example.com", "plain-user-pw", is_blocked=True)
    r = create_admin(h, "plain.user@EXAMPLE.com", None, stdin="")
    eq(r.returncode, 0, "create-admin promoting without a password: exit (%r)" % r.stderr[-300:])
    eq(int(r.stdout.strip()), plain, "create-admin promoted another row")
    eq(h.sql("SELECT is_admin, is_super_admin, is_verified, is_blocked, email FROM users WHERE id = %d" % plain),
       "t|t|t|f|Plain.User@example.com", "promoted row")
    token_of(h, "plain.user@example.com", "plain-user-pw")
    # and with a password: it is replaced
    eq(create_admin(h, "plain.user@example.com", "a-new-password").returncode, 0, "promote with a password")
    eq(login(h, "plain.user@example.com", "plain-user-pw")[0], 401, "old password after create-admin")
    token_of(h, "plain.user@example.com", "a-new-password")
    eq(h.sql("SELECT count(*) FROM users"), "2", "users after promotions")

    # a trashed user with that email is not promoted: a new user is made
    h.sql("UPDATE users SET deleted_at = now() WHERE id = %d" % uid)
    r = create_admin(h, "stdin@example.com", "another-password")
    eq(r.returncode, 0, "create-admin over a trashed user: exit")
    expect(int(r.stdout.strip()) != uid, "create-admin revived the trashed user")

    # errors: no row is written
    before = h.sql("SELECT count(*) FROM users")
    r = create_admin(h, "nobody@example.com", None, stdin="")
    eq(r.returncode, 1, "create-admin for a new email without a password: exit")
    expect("password" in r.stderr, "create-admin without a password: stderr %r" % r.stderr)
    for bad_email in ("not-an-email", "a b@example.com", "@example.com", ""):
        r = create_admin(h, bad_email, "long-enough-pw")
        eq(r.returncode, 2, "create-admin %r: exit" % bad_email)
    for bad_pw in ("short", "x" * 1025):
        r = create_admin(h, "new@example.com", bad_pw)
        eq(r.returncode, 2, "create-admin with a %d-byte password: exit" % len(bad_pw))
        expect(r.stdout == "", "create-admin refused but printed %r" % r.stdout)
    r = h.run_bin(["create-admin"], timeout=10)
    eq(r.returncode, 2, "create-admin without EMAIL: exit")
    eq(h.sql("SELECT count(*) FROM users"), before, "users after refused create-admin runs")


# ---- login ---------------------------------------------------------------------


def test_login_failures_share_one_answer(h):
    fresh_ids(h)
    admin(h, "known@example.com", "the-right-password")
    seed_user(h, "blocked@example.com", "blocked-password", is_blocked=True)
    gone = seed_user(h, "gone@example.com", "gone-password")
    h.sql("UPDATE users SET deleted_at = now() WHERE id = %d" % gone)
    h.sql("INSERT INTO users (email) VALUES ('nohash@example.com')")

    cases = [("known@example.com", "wrong-password"), ("unknown@example.com", "the-right-password"),
             ("blocked@example.com", "blocked-password"), ("gone@example.com", "gone-password"),
             ("nohash@example.com", ""), ("known@example.com", ""), ("", "x"),
             ("known@example.com", "x" * 1024)]
    bodies = []
    for email, pw in cases:
        got = login(h, email, pw)
        what = "login %r / %d-byte password" % (email, len(pw))
        e = check_error("POST", "/v1/auth/login (%s)" % what, got, 401)
        eq(e.get("detail"), FAILED, what + ": detail")
        eq(got[1].get("www-authenticate"), CHALLENGE, what + ": WWW-Authenticate")
        bodies.append(got[2])
    for (email, pw), body in zip(cases, bodies):
        eq(body, bodies[0], "login %r: the 401 body differs from a wrong password's" % email)

    # an unknown email costs a password check too (a dummy hash)
    def took(email):
        best = 1e9
        for _ in range(3):
            t = time.monotonic()
            eq(login(h, email, "wrong-password")[0], 401, "login %s" % email)
            best = min(best, time.monotonic() - t)
        return best

    known, unknown = took("known@example.com"), took("unknown@example.com")
    expect(unknown > known * 0.4,
           "an unknown email answers in %.1f ms, a wrong password in %.1f ms: unknown emails skip the hash"
           % (unknown * 1000, known * 1000))


def test_login_bad_input(h):
    fresh_ids(h)
    admin(h, "known@example.com", "the-right-password")
    for raw, what in ((b"", "empty body"), (b"not json", "not JSON"), (b"[1,2]", "an array"),
                      (b'"a string"', "a string"), (b"null", "null"),
                      (b'{"email":"known@example.com","password":"the-right-password"} x', "trailing junk"),
                      (b'{"email":"known@example.com",', "truncated")):
        got = login(h, None, None, raw=raw)
        check_error("POST", "/v1/auth/login (%s)" % what, got, 400)
    for body, pointers in (({"password": "p"}, ["/email"]), ({"email": "known@example.com"}, ["/password"]),
                           ({}, ["/email", "/password"]), ({"email": 5, "password": "p"}, ["/email"]),
                           ({"email": "known@example.com", "password": None}, ["/password"]),
                           ({"email": ["known@example.com"], "password": {"x": 1}}, ["/email", "/password"])):
        got = login(h, None, None, raw=json.dumps(body).encode())
        check_error("POST", "/v1/auth/login %s" % json.dumps(body), got, 400, pointer=pointers[0])
        eq([(e.get("source") or {}).get("pointer") for e in got[2]["errors"]], pointers,
           "login %s: the pointers of the errors" % json.dumps(body))
    # over 1 KiB: 422, never hashed
    got = login(h, "known@example.com", "x" * 1025)
    check_error("POST", "/v1/auth/login (1025-byte password)", got, 422, pointer="/password")
    # a NUL inside a JSON string is refused with the whole body (400), or by
    # the field check (422 /password): never hashed, never a 5xx
    got = login(h, "known@example.com", "the-right-password\u0000tail")
    if got[0] == 400:
        check_error("POST", "/v1/auth/login (password with NUL)", got, 400)
    else:
        check_error("POST", "/v1/auth/login (password with NUL)", got, 422, pointer="/password")
    got = login(h, "k" * 400 + "@example.com", "the-right-password")
    check_error("POST", "/v1/auth/login (400-byte email)", got, 422, pointer="/email")
    # the right credentials still work, with any Content-Type (plain JSON route)
    got = login(h, "known@example.com", "the-right-password", headers={"Content-Type": "text/plain"})
    eq(got[0], 200, "login with Content-Type text/plain: status (%s)" % show(got[2]))
    got = h.json("GET", "/v1/auth/login")
    eq(got[0], 405, "GET /v1/auth/login: status")


def test_session_alias_and_stale_header(h):
    fresh_ids(h)
    uid = admin(h, "alias@example.com", "alias-password")
    token = token_of(h, "alias@example.com", "alias-password", path="/auth/session")
    eq(claims_of(token)[1]["identity"], uid, "/auth/session token identity")
    check_ok_doc("GET", "/v1/events", get_events(h, "JWT " + token))
    check_error("POST", "/auth/session", login(h, "alias@example.com", "nope", path="/auth/session"), 401)
    # signing in is not blocked by an old or broken token in the request
    got = login(h, "alias@example.com", "alias-password", headers={"Authorization": "JWT garbage.garbage.garbage"})
    eq(got[0], 200, "login with a broken Authorization header: status (%s)" % show(got[2]))


def test_loop_not_blocked_by_hashing(h):
    """16 concurrent logins (about 16 argon2id checks on 2 threads) while the
    loop keeps answering /health-check quickly."""
    fresh_ids(h)
    admin(h, "busy@example.com", "busy-password")
    statuses = []

    def one():
        statuses.append(login(h, "busy@example.com", "busy-password" if len(statuses) % 2 else "wrong")[0])

    threads = [threading.Thread(target=one) for _ in range(16)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    worst = 0.0
    for _ in range(10):
        t = time.monotonic()
        eq(h.request("GET", "/health-check")[0], 200, "/health-check during logins")
        worst = max(worst, time.monotonic() - t)
        time.sleep(0.005)
    for t in threads:
        t.join(30 * TM)
    total = time.monotonic() - t0
    eq(len(statuses), 16, "logins answered")
    expect(set(statuses) <= {200, 401}, "login statuses under load: %r" % statuses)
    if VALGRIND:
        # valgrind runs one thread at a time (its big lock): a hash on a
        # worker thread stops the loop there by construction
        return
    expect(worst < max(0.25 * total, 0.05 * TM),
           "/health-check took %.0f ms during %.0f ms of logins: the loop is blocked"
           % (worst * 1000, total * 1000))


# ---- tokens on the JSON:API routes ---------------------------------------------


def test_bad_tokens_get_401(h):
    fresh_ids(h)
    uid = admin(h, "tok@example.com", "tok-password")
    good = token_of(h, "tok@example.com", "tok-password")
    now = int(time.time())
    key = h.secret
    head, body, sig = good.split(".")
    other = seed_user(h, "other@example.com", "other-password")
    tampered = "%s.%s.%s" % (head, b64(dict(claims_of(good)[1], identity=other)), sig)
    cases = {
        "garbage": "JWT garbage",
        "three garbage parts": "JWT aaa.bbb.ccc",
        "empty": "JWT ",
        "scheme only": "Bearer",
        "Basic scheme": "Basic dXNlcjpwYXNz",
        "expired": "JWT " + craft(claims(uid, iat=now - 7200, nbf=now - 7200, exp=now - 10), key),
        "not yet valid": "JWT " + craft(claims(uid, nbf=now + 600), key),
        "alg none": "JWT " + craft(claims(uid), key, alg="none", header={"alg": "none", "typ": "JWT"}),
        "alg none, no dot": "JWT " + craft(claims(uid), key, alg="none", header={"alg": "none"})[:-1],
        "HS512 with our key": "JWT " + craft(claims(uid), key, alg="HS512", header={"alg": "HS512", "typ": "JWT"}),
        "HS384 with our key": "JWT " + craft(claims(uid), key, alg="HS384", header={"alg": "HS384", "typ": "JWT"}),
        "wrong key": "JWT " + craft(claims(uid), "x" * 64),
        "tampered payload": "JWT " + tampered,
        "no identity": "JWT " + craft(claims(None), key),
        "identity a string": "JWT " + craft(claims(str(uid)), key),
        "no exp": "JWT " + craft(claims(uid, exp=None), key),
        "two tokens": "JWT %s %s" % (good, good),
        "too long": "JWT " + "a" * 3000 + "." + "b" * 3000 + ".c",
    }
    for what, value in cases.items():
        e = check_401(h, get_events(h, value), what, token=value.split(" ", 1)[-1] if len(value) > 12 else None)
        expect(e.get("detail"), "%s: no detail" % what)
    e = check_401(h, get_events(h, "JWT " + craft(claims(uid, exp=now - 10), key)), "expired")
    expect("expired" in e["detail"], "expired token: detail %r does not say so" % e["detail"])
    # a well-signed token for a user that does not exist: the generic answer
    e = check_401(h, get_events(h, "JWT " + craft(claims(999999999999), key)), "no such user")
    eq(e.get("detail"), FAILED, "token of a missing user: detail")
    # and the good one still works; no header is anonymous
    check_ok_doc("GET", "/v1/events", get_events(h, "JWT " + good))
    check_ok_doc("GET", "/v1/events", get_events(h, None))


def test_blocked_and_deleted_users_tokens(h):
    fresh_ids(h)
    b = seed_user(h, "b@example.com", "b-password")
    d = seed_user(h, "d@example.com", "d-password")
    c = seed_user(h, "c@example.com", "c-password")
    tb = token_of(h, "b@example.com", "b-password")
    td = token_of(h, "d@example.com", "d-password")
    tc = token_of(h, "c@example.com", "c-password")
    # c's status gets cached by a first use
    check_ok_doc("GET", "/v1/events", get_events(h, "JWT " + tc))
    h.sql("UPDATE users SET is_blocked = true WHERE id = %d" % b)
    h.sql("UPDATE users SET deleted_at = now() WHERE id IN (%d, %d)" % (d, c))
    # not cached yet: refused at once, with the generic answer
    for what, t in (("blocked", tb), ("deleted", td)):
        e = check_401(h, get_events(h, "JWT " + t), "token of a %s user" % what)
        eq(e.get("detail"), FAILED, "token of a %s user: detail" % what)
    eq(login(h, "b@example.com", "b-password")[0], 401, "login of a blocked user")
    eq(login(h, "d@example.com", "d-password")[0], 401, "login of a deleted user")
    # c was cached as fine before its row changed behind the server's back
    # (plain SQL; the API's own user routes call auth_forget_user): the
    # cache lives at most 30 s, and a restart empties it
    h.restart_server()
    e = check_401(h, get_events(h, "JWT " + tc), "token of a user deleted after a cached use (after restart)")
    eq(e.get("detail"), FAILED, "deleted user after restart: detail")


def test_client_leaves_during_login(h):
    """Clients that hang up while their password is being checked: the late
    result is discarded (the job held the request), nothing breaks."""
    fresh_ids(h)
    admin(h, "leave@example.com", "leave-password")
    body = json.dumps({"email": "leave@example.com", "password": "leave-password"}).encode()
    req = (b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % len(body)) + body
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", h.port), timeout=5 * TM)
        s.sendall(req)
        if i % 2:
            time.sleep(0.01)  # some leave after the lookup, during the hash
        s.close()
    # the server noticed (status 499 in the metrics) and stays well
    def left():
        samples = get_metrics(h)[0]
        return metric(samples, "oes_http_requests_total", route="/v1/auth/login", status="499") or 0

    wait_for(lambda: left() >= 5, 5, 0.05, "logins counted as 499 (client left)")
    eq(h.request("GET", "/health-check")[0], 200, "/health-check after clients left mid-login")
    token_of(h, "leave@example.com", "leave-password")
