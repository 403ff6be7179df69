"""Account lifecycle (spec §5b): password change and reset, email
verification, logout, revocations across instances, sign-in limits, and
the mails behind them, received by a real SMTP server on loopback
(Debian's python3-aiosmtpd, writing each message into a Maildir).

Tests that need the sign-in limits restart the server without the
harness's LOGIN_MAX_FAILURES override, so the default (10) applies.
"""

import base64
import hashlib
import json
import mailbox
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import time

from run import ROOT, free_port, log_tail
from helpers import TM, check_error, eq, expect, show, wait_for

JSON = {"Content-Type": "application/json"}
JSONAPI_CT = "application/vnd.api+json"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, where python3-aiosmtpd lives
RESET_ANSWER = "If your email was registered with us, you'll get an email with reset link shortly"


# ---- the SMTP sink ---------------------------------------------------------------


class SmtpSink:
    """`python3 -m aiosmtpd` on a free loopback port, every message stored
    in a Maildir; stopped at the end of the test."""

    def __init__(self, h, port=None, start=True):
        self.h = h
        self.port = port or free_port()
        self.dir = os.path.join(h.dir, "maildir-%d" % self.port)
        self.log_path = os.path.join(h.dir, "smtp-%d.log" % self.port)
        self.proc = None
        h.defer(self.stop)
        if start:
            self.start()

    @property
    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def start(self):
        r = subprocess.run([SYSTEM_PYTHON, "-c", "import aiosmtpd"], capture_output=True)
        expect(r.returncode == 0, "python3-aiosmtpd is not installed (scripts/deps.sh): %r" % r.stderr[-300:])
        mailbox.Maildir(self.dir, create=True)  # tmp/, new/, cur/
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:%d" % self.port,
             "-c", "aiosmtpd.handlers.Mailbox", self.dir],
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT, start_new_session=True)

        def up():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    return s.recv(100).startswith(b"220")
            except OSError:
                return False

        wait_for(up, 10, 0.05, "the SMTP sink on port %d\n%s" % (self.port, log_tail(self.log_path)))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def messages(self):
        """Every message received, oldest first."""
        if not os.path.isdir(os.path.join(self.dir, "new")):
            return []
        box = mailbox.Maildir(self.dir, factory=None, create=False)

        def order(key):  # <seconds>.M<microseconds>P<pid>Q<count>
            m = re.match(r"(\d+)\.M(\d+)P\d+Q(\d+)", key)
            return tuple(int(x) for x in m.groups()) if m else (0, 0, 0)

        return [box[k] for k in sorted(box.keys(), key=order)]

    def to(self, addr):
        return [m for m in self.messages() if addr.lower() in (m["To"] or "").lower()]

    def wait(self, addr, subject_part, n=1, timeout=10):
        """Waits for the n-th message to addr whose Subject contains
        subject_part; returns it."""
        def got():
            ms = [m for m in self.to(addr) if subject_part.lower() in (m["Subject"] or "").lower()]
            return ms[n - 1] if len(ms) >= n else None

        return wait_for(got, timeout, 0.05, "mail %r #%d to %s (have: %s)" % (
            subject_part, n, addr, [(m["To"], m["Subject"]) for m in self.messages()]))


def parts(msg):
    """{"text/plain": str, "text/html": str} of a multipart/alternative mail."""
    eq(msg.get_content_type(), "multipart/alternative", "mail Content-Type")
    out = {}
    for p in msg.walk():
        if p.get_content_maintype() == "text":
            out[p.get_content_type()] = p.get_payload(decode=True).decode("utf-8")
    expect("text/plain" in out and "text/html" in out, "mail parts: %r" % list(out))
    return out


def link_token(msg, h, path):
    """Checks the mail's link (in both bodies) and returns its token."""
    ps = parts(msg)
    base = "http://127.0.0.1:%d%s?token=" % (h.port, path)
    m = re.search(re.escape(base) + r"([A-Za-z0-9_-]+)", ps["text/plain"])
    expect(m, "no %s link in the plain-text body: %s" % (base, show(ps["text/plain"])))
    tok = m.group(1)
    expect(len(tok) >= 40, "token %r is short" % tok)
    expect('href="%s%s"' % (base, tok) in ps["text/html"], "the HTML body lacks the same link: %s" % show(ps["text/html"]))
    return tok


# ---- helpers -------------------------------------------------------------------


def fresh_ids(h):
    # the server caches users rows per worker: new ids for every test
    h.sql("SELECT setval(pg_get_serial_sequence('users', 'id'), %d)" % random.randint(10**6, 10**12))


def with_mail(h, **env):
    sink = SmtpSink(h)
    e = {"SMTP_URL": sink.url, "MAIL_FROM": "Open Event <noreply@example.org>", "LOGIN_MAX_FAILURES": None}
    e.update(env)
    h.restart_server(e)
    return sink


def post(h, path, body, token=None, method="POST", port=None, headers=None):
    hd = dict(JSON)
    if token:
        hd["Authorization"] = "JWT " + token
    hd.update(headers or {})
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return h.json(method, path, headers=hd, body=raw, port=port)


def sign_up(h, email, password):
    doc = {"data": {"type": "user", "attributes": {"email": email, "password": password}}}
    st, hd, body = h.json("POST", "/v1/users", headers={"Content-Type": JSONAPI_CT}, body=json.dumps(doc).encode())
    eq(st, 201, "sign-up of %s: status (%s)" % (email, show(body)))
    return int(body["data"]["id"])


def login(h, email, password, port=None, headers=None):
    return post(h, "/v1/auth/login", {"email": email, "password": password}, port=port, headers=headers)


def token_of(h, email, password, port=None):
    st, hd, doc = login(h, email, password, port=port)
    eq(st, 200, "login of %s: status (%s)" % (email, show(doc)))
    return doc["access_token"]


def me(h, uid, token, port=None):
    return h.json("GET", "/v1/users/%d" % uid, headers={"Authorization": "JWT " + token}, port=port)


def check_ok(got, what):
    st, hd, doc = got
    eq(st, 200, "%s: status (%s)" % (what, show(doc)))
    expect((hd.get("content-type") or "").startswith("application/json"),
           "%s: Content-Type %r" % (what, hd.get("content-type")))
    return doc


def claims(token):
    p = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


def user_row(h, uid):
    return h.sql("SELECT is_verified FROM users WHERE id = %d" % uid)


# ---- the acceptance cycle ------------------------------------------------------


def test_full_cycle(h):
    """sign up -> login -> verification mail, link used -> change password ->
    old token refused, new one works -> reset by mail -> the reset link works
    once -> logout -> token refused."""
    fresh_ids(h)
    sink = with_mail(h)
    email, pw = "Cycle.User@example.com", "first-password"
    uid = sign_up(h, email, pw)
    t1 = token_of(h, email, pw)
    t_other = token_of(h, email, pw)  # a second session, also to be revoked
    eq(user_row(h, uid), "f", "is_verified after sign-up")

    # the verification mail
    msg = sink.wait(email, "verify")
    eq(msg["From"], "Open Event <noreply@example.org>", "From")
    eq(msg["To"], "<%s>" % email, "To")
    expect(msg["Message-ID"] and msg["Date"], "Message-ID and Date headers: %r" % msg.items())
    vtok = link_token(msg, h, "/verify")
    expect(vtok not in log_tail(h.server_log, 400), "the verification token is in the server log at info level")
    got = post(h, "/v1/auth/verify-email", {"token": vtok})
    eq(check_ok(got, "verify-email").get("message"), "Email Verified", "verify-email message")
    eq(user_row(h, uid), "t", "is_verified after the link")
    st, _, doc = me(h, uid, t1)
    eq(st, 200, "GET own user: status (%s)" % show(doc))
    eq(doc["data"]["attributes"]["is-verified"], True, "is-verified attribute")
    check_error("POST", "verify-email (used twice)", post(h, "/v1/auth/verify-email", {"token": vtok}), 400, pointer="/token")

    # change the password: every older token goes, the new one works
    got = post(h, "/v1/auth/change-password", {"old-password": pw, "new-password": "second-password"}, token=t1)
    doc = check_ok(got, "change-password")
    t2 = doc.get("access_token")
    expect(isinstance(t2, str) and t2.count(".") == 2, "change-password: access_token %r" % doc)
    eq(doc.get("password-changed"), True, "password-changed")
    eq(claims(t2)["identity"], uid, "new token identity")
    for t, what in ((t1, "the token used"), (t_other, "another older token")):
        st, hd, body = me(h, uid, t)
        e = check_error("GET", "user with %s after change-password" % what, (st, hd, body), 401)
        eq(hd.get("www-authenticate"), 'JWT realm="open-event-server"', "WWW-Authenticate")
    eq(me(h, uid, t2)[0], 200, "the new token after change-password")
    eq(login(h, email, pw)[0], 401, "login with the old password")
    t3 = token_of(h, email, "second-password")
    sink.wait(email, "password was changed")

    # reset by mail
    got = post(h, "/v1/auth/reset-password", {"email": email.lower()})
    eq(check_ok(got, "reset request").get("message"), RESET_ANSWER, "reset answer")
    msg = sink.wait(email, "reset your password")
    rtok = link_token(msg, h, "/reset-password")
    got = post(h, "/v1/auth/reset-password", {"token": rtok, "password": "third-password"}, method="PATCH")
    doc = check_ok(got, "reset PATCH")
    eq(doc.get("id"), uid, "reset answer id")
    eq(doc.get("email"), email, "reset answer email")
    check_error("PATCH", "reset-password (link used twice)",
                post(h, "/v1/auth/reset-password", {"token": rtok, "password": "fourth-password"}, method="PATCH"),
                400, pointer="/token")
    eq(login(h, email, "fourth-password")[0], 401, "the second use of the link changed nothing")
    for t in (t2, t3):
        eq(me(h, uid, t)[0], 401, "a token from before the reset")
    t4 = token_of(h, email, "third-password")
    eq(me(h, uid, t4)[0], 200, "token after the reset")

    # logout
    got = post(h, "/v1/auth/logout", {}, token=t4)
    eq(check_ok(got, "logout").get("success"), True, "logout answer")
    check_error("GET", "user after logout", me(h, uid, t4), 401)
    check_error("POST", "logout twice", post(h, "/v1/auth/logout", {}, token=t4), 401)
    eq(h.sql("SELECT count(*) FROM token_revocations WHERE jti = '%s'" % claims(t4)["jti"]), "1", "revocation row")
    t5 = token_of(h, email, "third-password")
    eq(me(h, uid, t5)[0], 200, "a new sign-in after logout")


def test_original_body_form_and_resend(h):
    """The original's clients wrap members in "data"; resend-verification-email
    needs a signed-in, unverified user."""
    fresh_ids(h)
    sink = with_mail(h)
    email = "wrapped@example.com"
    uid = sign_up(h, email, "wrapped-password")
    first = link_token(sink.wait(email, "verify"), h, "/verify")
    t = token_of(h, email, "wrapped-password")
    check_error("POST", "resend (anonymous)", post(h, "/v1/auth/resend-verification-email", {}), 401)
    got = post(h, "/v1/auth/resend-verification-email", {}, token=t)
    eq(check_ok(got, "resend").get("message"), "Verification email resent", "resend message")
    second = link_token(sink.wait(email, "verify", n=2), h, "/verify")
    expect(first != second, "the resent link has a new token")
    got = post(h, "/v1/auth/verify-email", {"data": {"token": second}})
    check_ok(got, "verify-email in the original's {data: {...}} form")
    eq(user_row(h, uid), "t", "is_verified")
    # the first link died with the use of the second
    check_error("POST", "verify-email (older link)", post(h, "/v1/auth/verify-email", {"token": first}), 400)
    check_error("POST", "resend (verified already)", post(h, "/v1/auth/resend-verification-email", {}, token=t), 422)
    got = post(h, "/v1/auth/change-password",
               {"data": {"old-password": "wrapped-password", "new-password": "wrapped-password-2"}}, token=t)
    check_ok(got, "change-password in the {data: {...}} form")


# ---- bad input -------------------------------------------------------------------


def test_reset_unknown_email_same_answer(h):
    fresh_ids(h)
    sink = with_mail(h)
    sign_up(h, "known@example.com", "known-password")
    sink.wait("known@example.com", "verify")
    answers = {}
    for email in ("known@example.com", "unknown@example.com"):
        st, hd, doc = post(h, "/v1/auth/reset-password", {"email": email})
        answers[email] = (st, hd.get("content-type"), doc.get("message"), sorted(doc))
        eq(doc.get("email"), email, "reset answer email for %s" % email)
    eq(answers["unknown@example.com"], answers["known@example.com"], "answers for an unknown and a known email")
    eq(answers["known@example.com"][0], 200, "status")
    sink.wait("known@example.com", "reset your password")
    # the unknown address's task ran (and sent nothing)
    wait_for(lambda: h.sql("SELECT count(*) FROM tasks WHERE name = 'mail.send' AND state = 'SUCCESS' "
                           "AND payload->>'email' = 'unknown@example.com'") == "1", 10, 0.1, "the unknown address's mail task")
    eq(sink.to("unknown@example.com"), [], "mail to an unknown address")


def test_header_injection_and_bad_addresses(h):
    fresh_ids(h)
    sink = with_mail(h)
    sign_up(h, "victim@example.com", "victim-password")
    sink.wait("victim@example.com", "verify")
    for bad in ("victim@example.com\r\nBcc: evil@example.com", "victim@example.com\nBcc: evil@example.com",
                "victim@example.com>\r\nRCPT TO:<evil@example.com", "no-at-sign", "a b@example.com",
                "x" * 400 + "@example.com", ""):
        got = post(h, "/v1/auth/reset-password", {"email": bad})
        check_error("POST", "reset-password with email %r" % bad[:40], got, 422, pointer="/email")
    check_error("POST", "reset-password without email", post(h, "/v1/auth/reset-password", {}), 400, pointer="/email")
    check_error("POST", "reset-password with a number", post(h, "/v1/auth/reset-password", {"email": 5}), 400, pointer="/email")
    check_error("POST", "reset-password, not JSON", post(h, "/v1/auth/reset-password", b"email=x"), 400)
    # a sign-up with CR/LF in the address: refused, or at least never mailed
    doc = {"data": {"type": "user", "attributes": {"email": "new@example.com\r\nBcc: evil@example.com",
                                                   "password": "injected-password"}}}
    st, _, body = h.json("POST", "/v1/users", headers={"Content-Type": JSONAPI_CT}, body=json.dumps(doc).encode())
    expect(st in (201, 422), "sign-up with CR/LF in the email: status %d (%s)" % (st, show(body)))
    if st == 201:
        wait_for(lambda: h.sql("SELECT count(*) FROM tasks WHERE name = 'mail.send' AND state = 'FAILURE'") == "1",
                 10, 0.1, "the refused mail task")
    time.sleep(0.3)
    for m in sink.messages():
        raw = m.as_string()
        expect("evil@" not in raw.lower(), "an injected address reached the SMTP server:\n%s" % raw[:600])
        expect(m["Bcc"] is None, "a Bcc header was injected")


def test_bad_link_tokens(h):
    fresh_ids(h)
    sink = with_mail(h)
    email = "tokens@example.com"
    uid = sign_up(h, email, "tokens-password")
    vtok = link_token(sink.wait(email, "verify"), h, "/verify")
    for n in (1, 2, 3):
        eq(post(h, "/v1/auth/reset-password", {"email": email})[0], 200, "reset request %d" % n)
    t1 = link_token(sink.wait(email, "reset your password", 1), h, "/reset-password")
    t2 = link_token(sink.wait(email, "reset your password", 2), h, "/reset-password")
    t3 = link_token(sink.wait(email, "reset your password", 3), h, "/reset-password")

    def reset(tok, pw="brand-new-password"):
        return post(h, "/v1/auth/reset-password", {"token": tok, "password": pw}, method="PATCH")

    forged = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    for tok, what in ((forged, "forged"), (vtok, "a verification token"), (t1[:-1], "truncated"),
                      (t1 + "A", "extended"), ("x" * 200, "over 128 bytes"), ("", "empty")):
        check_error("PATCH", "reset with a %s token" % what, reset(tok), 400, pointer="/token")
    # passwords: over 1 KiB, too short, NUL
    check_error("PATCH", "reset with a 1025-byte password", reset(t1, "p" * 1025), 422, pointer="/password")
    check_error("PATCH", "reset with a short password", reset(t1, "short"), 422, pointer="/password")
    check_error("PATCH", "reset with NUL in the password", reset(t1, "long-enough\u0000x"), 422, pointer="/password")
    check_error("PATCH", "reset without password", post(h, "/v1/auth/reset-password", {"token": t1}, method="PATCH"),
                400, pointer="/password")
    # expired: an hour has passed
    h.sql("UPDATE account_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = '%s'"
          % hashlib.sha256(t1.encode()).hexdigest())
    check_error("PATCH", "reset with an expired token", reset(t1), 400, pointer="/token")
    eq(login(h, email, "brand-new-password")[0], 401, "nothing changed by bad tokens")
    # a token bound to an address that is no longer the user's
    h.sql("UPDATE users SET email = 'moved@example.com' WHERE id = %d" % uid)
    check_error("PATCH", "reset after the address changed", reset(t2), 400, pointer="/token")
    h.sql("UPDATE users SET email = '%s' WHERE id = %d" % (email, uid))
    # the good one works once; the others of the user die with it
    check_ok(reset(t2), "reset with a good token")
    check_error("PATCH", "the same token again", reset(t2, "another-new-password"), 400, pointer="/token")
    check_error("PATCH", "an older sibling token", reset(t3, "another-new-password"), 400, pointer="/token")
    token_of(h, email, "brand-new-password")
    eq(h.sql("SELECT count(*) FROM account_tokens WHERE user_id = %d AND purpose = 'reset-password'" % uid), "0",
       "reset tokens left")
    expect(h.sql("SELECT count(*) FROM account_tokens WHERE token_hash !~ '^[0-9a-f]{64}$'") == "0", "token hashes")
    for tok in (t1, t2, t3, vtok):
        eq(h.sql("SELECT count(*) FROM account_tokens WHERE token_hash = '%s'" % tok), "0", "a token stored in clear")


def test_change_password_bad_input(h):
    fresh_ids(h)
    h.restart_server({"LOGIN_MAX_FAILURES": None})
    email = "change@example.com"
    uid = sign_up(h, email, "change-password")
    t = token_of(h, email, "change-password")
    path = "/v1/auth/change-password"
    check_error("POST", "change-password anonymous", post(h, path, {"old-password": "change-password",
                                                                   "new-password": "whatever-new"}), 401)
    got = post(h, path, {}, token=t)
    check_error("POST", "change-password {}", got, 400, pointer="/old-password")
    eq([e["source"]["pointer"] for e in got[2]["errors"]], ["/old-password", "/new-password"], "pointers")
    check_error("POST", "change-password, new over 1 KiB",
                post(h, path, {"old-password": "change-password", "new-password": "n" * 1025}, token=t), 422,
                pointer="/new-password")
    check_error("POST", "change-password, old over 1 KiB",
                post(h, path, {"old-password": "o" * 1025, "new-password": "valid-new-password"}, token=t), 422,
                pointer="/old-password")
    check_error("POST", "change-password, new too short",
                post(h, path, {"old-password": "change-password", "new-password": "short"}, token=t), 422,
                pointer="/new-password")
    check_error("POST", "change-password, wrong old password",
                post(h, path, {"old-password": "wrong-password", "new-password": "valid-new-password"}, token=t), 400,
                pointer="/old-password")
    check_error("POST", "change-password, same password",
                post(h, path, {"old-password": "change-password", "new-password": "change-password"}, token=t), 400,
                pointer="/new-password")
    eq(me(h, uid, t)[0], 200, "the token after refused changes")
    token_of(h, email, "change-password")


# ---- sign-in limits ----------------------------------------------------------------


def test_eleven_failed_logins_give_429(h):
    fresh_ids(h)
    h.restart_server({"LOGIN_MAX_FAILURES": None})
    sign_up(h, "limit@example.com", "limit-password")
    sign_up(h, "other@example.com", "other-password")
    for i in range(10):
        got = login(h, "limit@example.com", "wrong-%d" % i)
        check_error("POST", "failed login %d" % (i + 1), got, 401)
    got = login(h, "limit@example.com", "wrong-again")
    check_error("POST", "11th failed login", got, 429)
    ra = got[1].get("retry-after", "")
    expect(ra.isdigit() and 1 <= int(ra) <= 300, "Retry-After %r: not 1..300 seconds" % ra)
    # the right password does not help while the email is locked
    check_error("POST", "right password while locked", login(h, "limit@example.com", "limit-password"), 429)
    # and the client address is at its limit too
    check_error("POST", "another account from the same address", login(h, "other@example.com", "other-password"), 429)
    # other routes are not limited
    eq(h.request("GET", "/health-check")[0], 200, "/health-check while locked")


def test_limits_per_email_and_address(h):
    """TRUSTED_PROXIES decides the address; the email and the address count
    apart; a good password clears the email's count."""
    fresh_ids(h)
    h.restart_server({"LOGIN_MAX_FAILURES": "3", "TRUSTED_PROXIES": "127.0.0.1/32"})
    sign_up(h, "a@example.com", "a-password")
    sign_up(h, "b@example.com", "b-password")
    sign_up(h, "c@example.com", "c-password")

    def via(addr, email, pw):
        return login(h, email, pw, headers={"X-Forwarded-For": addr})[0]

    # a success clears its email's count (not its address's)
    eq([via(a, "b@example.com", p) for a, p in (("10.0.0.9", "x1"), ("10.0.0.9", "x2"), ("10.0.0.8", "b-password"),
                                                 ("10.0.0.7", "x3"), ("10.0.0.7", "x4"), ("10.0.0.6", "x5"),
                                                 ("10.0.0.5", "b-password"))],
       [401, 401, 200, 401, 401, 401, 429], "failures of one email around a success, from several addresses")
    eq([via("10.0.0.9", "c@example.com", "x") for _ in range(2)], [401, 429],
       "10.0.0.9 (two failures and a success before) is at its limit")
    eq([via("10.0.0.1", "a@example.com", "wrong") for _ in range(3)], [401] * 3, "three failures from 10.0.0.1")
    eq(via("10.0.0.1", "a@example.com", "wrong"), 429, "4th failure from 10.0.0.1")
    eq(via("10.0.0.1", "c@example.com", "c-password"), 429, "another email from the locked address")
    eq(via("10.0.0.3", "a@example.com", "a-password"), 429, "the locked email from another address")
    eq(via("10.0.0.2", "c@example.com", "c-password"), 200, "another email from another address")
    # the window ends
    h.restart_server({"LOGIN_MAX_FAILURES": "2", "LOGIN_WINDOW_S": "1"})
    eq([login(h, "a@example.com", "wrong")[0] for _ in range(3)], [401, 401, 429], "a window of 1 s")
    time.sleep(1.2)
    eq(login(h, "a@example.com", "a-password")[0], 200, "after the window")


def test_limits_shared_through_redis(h):
    from redis_fixture import RedisServer

    fresh_ids(h)
    r = RedisServer(h)
    env = {"LOGIN_MAX_FAILURES": "4", "REDIS_URL": r.url}
    h.restart_server(env)
    other = h.spawn_server(env)
    sign_up(h, "shared@example.com", "shared-password")
    got = [login(h, "shared@example.com", "wrong", port=port)[0] for port in (h.port, other.port, h.port, other.port)]
    eq(got, [401] * 4, "four failures on two instances")
    eq(login(h, "shared@example.com", "shared-password", port=other.port)[0], 429, "5th attempt, other instance")
    eq(login(h, "shared@example.com", "shared-password", port=h.port)[0], 429, "5th attempt, first instance")
    keys = r.cmd("KEYS", "oes:rl:*")
    eq(len(keys), 2, "counters in Redis (email and address): %r" % keys)
    for k in keys:
        expect(re.fullmatch(r"oes:rl:[0-9a-f]{32}", k), "counter key %r names no address" % k)
        ttl = r.cmd("PTTL", k)
        expect(0 < ttl <= 300000, "counter %s expires in %r ms" % (k, ttl))
    # Redis gone: counting goes on per worker, sign-in still works
    r.stop()
    eq(login(h, "fresh@example.com", "nope", port=other.port)[0], 401, "login while Redis is down")


# ---- revocations across instances, mail delivery ------------------------------------


def test_revocation_reaches_other_instances(h):
    fresh_ids(h)
    h.restart_server({"LOGIN_MAX_FAILURES": None})
    other = h.spawn_server({"LOGIN_MAX_FAILURES": None})
    email = "multi@example.com"
    uid = sign_up(h, email, "multi-password")
    t1 = token_of(h, email, "multi-password")
    eq(me(h, uid, t1, port=other.port)[0], 200, "token on the other instance")
    eq(post(h, "/v1/auth/logout", {}, token=t1)[0], 200, "logout")
    eq(me(h, uid, t1)[0], 401, "at once on the instance that revoked")
    t0 = time.monotonic()
    wait_for(lambda: me(h, uid, t1, port=other.port)[0] == 401, 5, 0.05, "logout seen by the other instance")
    took = time.monotonic() - t0
    expect(took < 5 * TM, "the other instance took %.1f s" % took)
    t2 = token_of(h, email, "multi-password")
    eq(me(h, uid, t2, port=other.port)[0], 200, "new token on the other instance")
    got = post(h, "/v1/auth/change-password", {"old-password": "multi-password", "new-password": "multi-password-2"},
               token=t2, port=other.port)
    t3 = check_ok(got, "change-password on the other instance")["access_token"]
    eq(me(h, uid, t2, port=other.port)[0], 401, "old token at once where it changed")
    wait_for(lambda: me(h, uid, t2)[0] == 401, 5, 0.05, "password change seen by the first instance")
    eq(me(h, uid, t3)[0], 200, "the new token on the first instance")
    # a server started later loads the revocations
    third = h.spawn_server({"LOGIN_MAX_FAILURES": None})
    eq(me(h, uid, t1, port=third.port)[0], 401, "a logged-out token on a fresh instance")
    eq(me(h, uid, t2, port=third.port)[0], 401, "a pre-change token on a fresh instance")
    eq(me(h, uid, t3, port=third.port)[0], 200, "the current token on a fresh instance")


def test_mail_retried_until_smtp_answers(h):
    fresh_ids(h)
    sink = SmtpSink(h, start=False)  # nothing listens yet
    h.restart_server({"SMTP_URL": sink.url, "LOGIN_MAX_FAILURES": None})
    email = "patient@example.com"
    sign_up(h, email, "patient-password")
    q = "SELECT state || ':' || attempts FROM tasks WHERE name = 'mail.send'"
    wait_for(lambda: h.sql(q).startswith("RETRY:"), 10, 0.05, "the mail task failing and waiting for a retry")
    sink.start()
    msg = sink.wait(email, "verify", timeout=20)
    link_token(msg, h, "/verify")
    wait_for(lambda: h.sql(q).startswith("SUCCESS:"), 10, 0.1, "the mail task succeeding")
    expect(int(h.sql(q).split(":")[1]) >= 2, "attempts: %s" % h.sql(q))


def test_mail_logged_when_smtp_unset(h):
    fresh_ids(h)
    h.restart_server({"LOGIN_MAX_FAILURES": None})
    email = "logged@example.com"
    uid = sign_up(h, email, "logged-password")
    q = "SELECT count(*) FROM tasks WHERE name = 'mail.send' AND state = 'SUCCESS'"
    wait_for(lambda: h.sql(q) == "1", 10, 0.1, "the verification task")
    eq(post(h, "/v1/auth/reset-password", {"email": email})[0], 200, "reset request")
    wait_for(lambda: h.sql(q) == "2", 10, 0.1, "the reset task")
    with open(h.server_log, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    expect("SMTP_URL is unset" in text, "no log line for the unsent mail:\n%s" % log_tail(h.server_log, 15))
    expect("token=" not in text and email not in text, "a link or an address is in the log at info level")
    # at debug level the link is logged (and works)
    h.restart_server({"LOG_LEVEL": "debug", "LOGIN_MAX_FAILURES": None})
    eq(post(h, "/v1/auth/reset-password", {"email": email})[0], 200, "reset request")
    wait_for(lambda: h.sql(q) == "3", 10, 0.1, "the reset task at debug level")

    def link():
        with open(h.server_log, "rb") as f:
            m = re.search(rb"/reset-password\?token=([A-Za-z0-9_-]+)", f.read())
        return m and m.group(1).decode()

    tok = wait_for(link, 5, 0.05, "the link in the debug log")
    got = post(h, "/v1/auth/reset-password", {"token": tok, "password": "from-the-log"}, method="PATCH")
    eq(check_ok(got, "reset with the logged link").get("id"), uid, "reset id")
