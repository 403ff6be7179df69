"""Bad input (issue 4, "Bad input"): bodies that are not JSON, bodies over
BODY_MAX_BYTES, SQL metacharacters everywhere, bad paging, and tokens that
are malformed, expired, not yet valid, wrongly signed or unsigned. Each is a
4xx JSON:API error naming the parameter or pointer, never a 5xx, and the
database is left intact."""

import hashlib
import hmac
import json
import time
from urllib.parse import quote

from fixtures import (EV_ENDS, EV_STARTS, JSONAPI, api, auth, b64url, check_err, create, jwt_encode, make_event,
                      make_user, res_body, token_for)
from helpers import check_ok_doc, eq, expect, show

TABLES = ("events", "users", "sessions", "speakers", "tracks", "roles", "users_events_roles", "sessions_speakers")


def tables_intact(h, what):
    for t in TABLES:
        eq(h.sql("SELECT to_regclass('public.%s') IS NOT NULL" % t), "t", "%s: table %s exists" % (what, t))
    eq(h.sql("SELECT count(*) FROM roles"), "6", "%s: roles" % what)


def post_raw(h, path, body, token=None, content_type=JSONAPI, method="POST"):
    hd = dict(auth(token))
    if content_type:
        hd["Content-Type"] = content_type
    st, hd2, data = h.request(method, path, headers=hd, body=body)
    try:
        doc = json.loads(data) if data else None
    except ValueError:
        raise AssertionError("%s %s: status %d, body is not JSON: %r" % (method, path, st, data[:200]))
    return st, hd2, doc


def test_bodies_that_are_not_json_are_400(h):
    owner = make_user(h)
    ev = make_event(h, owner)
    o = owner["token"]
    bodies = [b"{not json", b"", b" ", b"[]", b"null", b'"data"', b"42", b'{"data": {"type": "event"}}}',
              b'{"data": {"type": "event"}} trailing', b'{"data": {"type": "event",}}', b"{'data': 1}",
              b"[" * 100000, b'{"a":' * 5000 + b"1" + b"}" * 5000, b"\xff\xfe{}", b'{"data": {"type": "ev\x00ent"}}']
    p = "/v1/events/%d" % ev["id"]
    failures = []
    for body in bodies:
        for method, path in (("POST", "/v1/events"), ("PATCH", p), ("POST", "/v1/tracks"),
                             ("PATCH", p + "/relationships/event-topic")):
            got = post_raw(h, path, body, token=o, method=method)
            expect(got[0] < 500, "%s %s with body %r: status %d" % (method, path, body[:40], got[0]))
            try:
                check_err(got, 400, "%s %s with body %r" % (method, path, body[:40]))
            except AssertionError as e:
                failures.append(str(e)[:300])
    expect(not failures, "%d cases:\n  %s" % (len(failures), "\n  ".join(failures)))
    eq(h.sql("SELECT count(*) FROM events"), "1", "events stored")
    eq(h.sql("SELECT name FROM events"), "Ev", "event name")
    # sign-up (anonymous) too
    check_err(post_raw(h, "/v1/users", b"{"), 400, "POST /v1/users with body '{'")


def test_body_over_limit_is_413(h):
    owner = make_user(h)
    o = owner["token"]
    limit = 1024 * 1024
    a = {"name": "Big", "starts-at": EV_STARTS, "ends-at": EV_ENDS, "timezone": "UTC", "description": ""}
    frame = json.dumps(res_body("event", a)).encode()
    big = frame.replace(b'"description": ""', b'"description": "' + b"x" * (limit + 1 - len(frame)) + b'"')
    eq(len(big), limit + 1, "size of the oversized body")
    for token, ct, what in ((o, JSONAPI, ""), (None, JSONAPI, " anonymously"),
                            (o, "text/plain", " with Content-Type text/plain")):
        st, hd, data = h.request("POST", "/v1/events", headers=dict(auth(token), **({"Content-Type": ct})), body=big)
        doc = json.loads(data) if data else None
        check_err((st, hd, doc), 413, "POST /v1/events with %d bytes%s" % (len(big), what))
    # exactly at the limit (JSON whitespace fills it): taken
    ok = b"{" + b" " * (limit - len(frame)) + frame[1:]
    eq(len(ok), limit, "size of the body at the limit")
    st, hd, doc = post_raw(h, "/v1/events", ok, token=o)
    eq(st, 201, "POST /v1/events with %d bytes: status (%s)" % (len(ok), show(doc)))
    eq(h.sql("SELECT count(*) FROM events"), "1", "events stored")
    # over every limit (evhttp's own, sized for uploads: 4/3 of 20 MiB): the
    # HTTP layer drains the body and answers 413 (its body may be libevent's)
    huge = b"{" * (30 * 1024 * 1024)
    st, hd, data = h.request("POST", "/v1/events", headers=dict(auth(o), **{"Content-Type": JSONAPI}), body=huge,
                             timeout=60)
    eq(st, 413, "POST /v1/events with a 30 MiB body: status")
    # the server still serves
    check_ok_doc("GET", "/v1/events", api(h, "GET", "/v1/events"))


def test_body_limit_follows_body_max_bytes(h):
    h.restart_server({"BODY_MAX_BYTES": "4096"})
    owner = make_user(h)
    a = {"name": "B", "starts-at": EV_STARTS, "ends-at": EV_ENDS, "timezone": "UTC", "description": "z" * 4000}
    body = json.dumps(res_body("event", a)).encode()
    expect(len(body) > 4096, "body size")
    check_err(post_raw(h, "/v1/events", body, token=owner["token"]), 413, "POST /v1/events over BODY_MAX_BYTES=4096")
    a["description"] = "z" * 3000
    body = json.dumps(res_body("event", a)).encode()
    st, hd, doc = post_raw(h, "/v1/events", body, token=owner["token"])
    eq(st, 201, "POST /v1/events of %d bytes under BODY_MAX_BYTES=4096: status (%s)" % (len(body), show(doc)))


META = ["'; DROP TABLE events; --", "Robert'); DROP TABLE users;--", "100% _under_ back\\slash",
        "\\", "%", "_", "$1 %s %n {{x}} ${x}", "\" OR \"1\"=\"1", "a'b\"c`d", "--", "/* */", ";"]


def test_sql_metacharacters_in_values_are_stored_literally(h):
    owner = make_user(h)
    o = owner["token"]
    made = []
    for i, text in enumerate(META):
        a = {"name": text, "starts-at": EV_STARTS, "ends-at": EV_ENDS, "timezone": "UTC", "description": text,
             "location-name": text + str(i)}
        st, hd, doc = api(h, "POST", "/v1/events", res_body("event", a), token=o)
        doc = check_ok_doc("POST", "/v1/events with name %r" % text, (st, hd, doc), 201)
        got = doc["data"]["attributes"]
        eq((got["name"], got["description"]), (text, text), "POST /v1/events %r: echo" % text)
        eid = int(doc["data"]["id"])
        made.append(eid)
        eq(h.sql("SELECT name FROM events WHERE id = %d" % eid), text, "stored name of event %d" % eid)
        got = check_ok_doc("GET", "/v1/events/%d" % eid, api(h, "GET", "/v1/events/%d" % eid, token=o))
        eq(got["data"]["attributes"]["name"], text, "GET /v1/events/%d: name" % eid)
    tables_intact(h, "after storing metacharacters")
    eq(h.sql("SELECT count(*) FROM events"), str(len(META)), "events")
    # patched and used in a relationship-route PATCH as well
    eid = made[0]
    st, hd, doc = api(h, "PATCH", "/v1/events/%d" % eid, res_body("event", {"name": META[1]}, id=eid), token=o)
    check_ok_doc("PATCH", "/v1/events/%d" % eid, (st, hd, doc))
    eq(h.sql("SELECT name FROM events WHERE id = %d" % eid), META[1], "patched name")
    # a NUL byte cannot be stored: 422 naming the field, not a 5xx
    a = {"name": "nul\u0000byte", "starts-at": EV_STARTS, "ends-at": EV_ENDS, "timezone": "UTC"}
    # (the server refuses a NUL inside any JSON string with the whole body: 400;
    # a field check naming the pointer would be 422: both store nothing)
    got = api(h, "POST", "/v1/events", res_body("event", a), token=o)
    if got[0] == 400:
        check_err(got, 400, "POST /v1/events with a NUL byte")
    else:
        check_err(got, 422, "POST /v1/events with a NUL byte", pointer="/data/attributes/name")


def test_sql_metacharacters_in_filters_sort_include(h):
    owner = make_user(h)
    o = owner["token"]
    ids = {}
    for text in META:
        a = {"name": text, "starts-at": EV_STARTS, "ends-at": EV_ENDS, "timezone": "UTC", "description": text}
        ids[text] = create(h, "events", "event", a, token=owner)["id"]
    plain = create(h, "events", "event", {"name": "plain", "starts-at": EV_STARTS, "ends-at": EV_ENDS,
                                          "timezone": "UTC", "description": "plain"}, token=owner)["id"]

    def flt(f):
        return "/v1/events?page[size]=100&filter=" + quote(json.dumps(f), safe="")

    # each value found exactly, as a literal, by eq
    for text in META:
        path = flt([{"name": "name", "op": "eq", "val": text}])
        doc = check_ok_doc("GET", path, api(h, "GET", path, token=o))
        eq([r["id"] for r in doc["data"]], [ids[text]], "GET %s (eq %r): ids" % (path, text))
    # %, _ and \ are literal in startswith / endswith / contains
    for op, val, want in (("contains", "%", ["100% _under_ back\\slash", "%", "$1 %s %n {{x}} ${x}"]),
                          ("contains", "_", ["100% _under_ back\\slash", "_"]),
                          ("contains", "\\", ["100% _under_ back\\slash", "\\"]),
                          ("startswith", "'", ["'; DROP TABLE events; --"]),
                          ("endswith", "--", ["'; DROP TABLE events; --", "Robert'); DROP TABLE users;--", "--"]),
                          ("contains", "DROP TABLE", ["'; DROP TABLE events; --", "Robert'); DROP TABLE users;--"]),
                          ("in_", ["%", "_", "\\", "'"], ["\\", "%", "_"])):
        path = flt([{"name": "description", "op": op, "val": val}])
        doc = check_ok_doc("GET", path, api(h, "GET", path, token=o))
        eq([r["id"] for r in doc["data"]], sorted([ids[t] for t in want], key=int),
           "GET %s (%s %r): ids" % (path, op, val))
    # like / ilike take patterns: wildcard-only patterns match all; a pattern
    # PostgreSQL refuses (a trailing escape character) is the caller's error
    path = flt([{"name": "name", "op": "like", "val": "%"}])
    doc = check_ok_doc("GET", path, api(h, "GET", path, token=o))
    eq(len(doc["data"]), len(META) + 1, "GET %s: rows" % path)
    for pat in ("abc\\", "\\"):
        for op in ("like", "ilike"):
            path = flt([{"name": "name", "op": op, "val": pat}])
            got = api(h, "GET", path, token=o)
            expect(got[0] in (200, 400), "GET %s: status %d, expected 200 or 400: %s" % (path, got[0], show(got[2])))
            if got[0] == 400:
                check_err(got, 400, "GET " + path, parameter="filter")
    # metacharacters in names of fields, ops, sort keys, includes, fieldsets, pages
    bad = [
        ("filter", json.dumps([{"name": "name; DROP TABLE events", "op": "eq", "val": "x"}]), "filter"),
        ("filter", json.dumps([{"name": "name", "op": "eq; DROP TABLE events", "val": "x"}]), "filter"),
        ("filter", json.dumps([{"name": "name\" OR 1=1 --", "op": "eq", "val": "x"}]), "filter"),
        ("filter", json.dumps([{"name": "id", "op": "eq", "val": "1 OR 1=1"}]), "filter"),
        ("filter", json.dumps([{"name": "id", "op": "in_", "val": ["1); DROP TABLE events; --"]}]), "filter"),
        ("filter", json.dumps([{"name": "starts-at", "op": "gt", "val": "'; DROP TABLE events; --"}]), "filter"),
        ("filter", json.dumps([{"name": "online", "op": "eq", "val": "true; DROP TABLE events"}]), "filter"),
        ("filter", json.dumps([{"name": "sessions", "op": "any", "val": {"name": "title;--", "op": "eq",
                                                                        "val": 1}}]), "filter"),
        ("sort", "name;DROP TABLE events", "sort"),
        ("sort", "name--", "sort"),
        ("sort", "name DESC", "sort"),
        ("sort", "(SELECT 1)", "sort"),
        ("sort", "owner.email", "sort"),
        ("sort", "events.name", "sort"),
        ("include", "sessions' OR '1'='1", "include"),
        ("include", "sessions;DROP TABLE events", "include"),
        ("include", "sessions..track", "include"),
        ("fields[event]", "name,(SELECT 1)", "fields[event]"),
        ("fields[event]", "name;--", "fields[event]"),
        ("fields[event'--]", "name", "fields[event'--]"),
        ("page[size]", "1;DROP TABLE events", "page[size]"),
        ("page[number]", "1 OR 1=1", "page[number]"),
        ("page[number]", "0", "page[number]"),
        ("page[number]", "-3", "page[number]"),
    ]
    failures = []
    for key, val, param in bad:
        path = "/v1/events?%s=%s" % (quote(key, safe="[]"), quote(val, safe=""))
        for tok in (o, None):
            got = api(h, "GET", path, token=tok)
            expect(got[0] < 500, "GET %s: status %d" % (path, got[0]))
            try:
                check_err(got, 400, "GET %s" % path, parameter=param)
            except AssertionError as e:
                failures.append(str(e)[:300])
        path2 = "/v1/events/%s/sessions?%s=%s" % (plain, quote(key, safe="[]"), quote(val, safe=""))
        got = api(h, "GET", path2, token=o)
        expect(400 <= got[0] < 500, "GET %s: status %d: %s" % (path2, got[0], show(got[2])))
    # metacharacters in path ids and relationship ids
    for ref in ("1%27%3B%20DROP%20TABLE%20events%3B--", "1%20OR%201%3D1", "%27", "1;", "abcd%27123"):
        check_err(api(h, "GET", "/v1/events/" + ref, token=o), 404, "GET /v1/events/" + ref)
        check_err(api(h, "GET", "/v1/events/%s/sessions" % ref, token=o), 404, "GET /v1/events/%s/sessions" % ref)
    for rid in ("1; DROP TABLE events", "1 OR 1=1", "' OR '1'='1"):
        got = api(h, "POST", "/v1/tracks", res_body("track", {"name": "t", "color": "#000000"},
                                                    {"event": ("event", rid)}), token=o)
        check_err(got, 404, "POST /v1/tracks with event id %r" % rid, pointer="/data/relationships/event")
    tables_intact(h, "after metacharacters in queries")
    eq(h.sql("SELECT count(*) FROM events"), str(len(META) + 1), "events")
    expect(not failures, "%d cases:\n  %s" % (len(failures), "\n  ".join(failures)))


# ---- tokens -----------------------------------------------------------------------

def refused(h, token_header, what, method="GET", path="/v1/events", body=None):
    hd = {"Authorization": token_header}
    if body is not None:
        hd["Content-Type"] = JSONAPI
    st, hd2, doc = h.json(method, path, headers=hd, body=body)
    check_err((st, hd2, doc), 401, "%s %s with %s" % (method, path, what))
    expect((hd2.get("www-authenticate") or "").strip(),
           "%s %s with %s: no WWW-Authenticate on 401" % (method, path, what))


def sign(h, header, payload, key=None, digest=hashlib.sha256):
    if key is None:
        key = h.secret
    if isinstance(key, str):
        key = key.encode()
    hp = b64url(json.dumps(header)) + "." + b64url(json.dumps(payload))
    return hp + "." + b64url(hmac.new(key, hp.encode(), digest).digest())


def test_good_tokens_are_taken(h):
    user = make_user(h)
    ev = make_event(h, user, state="draft")
    path = "/v1/events/%d" % ev["id"]
    tok = token_for(h, user["id"])
    for hdr in ("JWT " + tok, "Bearer " + tok, "jwt " + tok, "bearer " + tok, "JWT  " + tok):
        got = h.json("GET", path, headers={"Authorization": hdr})
        check_ok_doc("GET", "%s with Authorization %r" % (path, hdr[:8]), got)
    # without the token the draft is hidden
    check_err(api(h, "GET", path), 404, "GET %s anonymously" % path)


def test_bad_tokens_are_401(h):
    user = make_user(h)
    blocked = make_user(h, is_blocked=True)
    deleted = make_user(h, deleted_at="2026-01-01T00:00:00Z")
    now = int(time.time())
    good = {"identity": user["id"], "iat": now, "nbf": now, "exp": now + 3600, "jti": "abc"}
    hs = {"alg": "HS256", "typ": "JWT"}
    tok = token_for(h, user["id"])
    hp, _, sig = tok.rpartition(".")
    head, _, pay = hp.partition(".")
    tampered = head + "." + b64url(json.dumps(dict(good, identity=blocked["id"]))) + "." + sig
    cases = [
        ("JWT", "no token"),
        ("JWT ", "an empty token"),
        ("Basic dXNlcjpwYXNzd29yZA==", "Basic credentials"),
        ("Token " + tok, "an unknown scheme"),
        ("JWT " + tok + " extra", "two tokens"),
        ("JWT abc", "a token of one part"),
        ("JWT a.b", "a token of two parts"),
        ("JWT a.b.c.d", "a token of four parts"),
        ("JWT ...", "a token of empty parts"),
        ("JWT " + hp, "a token without its signature"),
        ("JWT " + hp + ".", "a token with an empty signature"),
        ("JWT " + hp + ".!!!", "a signature that is not base64url"),
        ("JWT " + tok[:-2], "a truncated signature"),
        ("JWT " + tampered, "a tampered payload"),
        ("JWT " + sign(h, {"alg": "HS256"}, good, key="wrong-key-" * 4), "a token signed with another key"),
        ("JWT " + sign(h, {"alg": "HS256"}, good, key=h.secret + "x"), "a token signed with a longer key"),
        ("JWT " + sign(h, {"alg": "HS512"}, good, digest=hashlib.sha512), "an HS512 token with our key"),
        ("JWT " + sign(h, {"alg": "HS384"}, good, digest=hashlib.sha384), "an HS384 token with our key"),
        ("JWT " + jwt_encode({"alg": "none", "typ": "JWT"}, good, sign=False), "alg none, no signature"),
        ("JWT " + jwt_encode({"alg": "none"}, good, h=h), "alg none with a signature"),
        ("JWT " + jwt_encode({"alg": "None"}, good, sign=False), "alg None"),
        ("JWT " + jwt_encode({"alg": "NONE"}, good, sign=False), "alg NONE"),
        ("JWT " + jwt_encode({"alg": "RS256"}, good, h=h), "alg RS256 with an HMAC signature"),
        ("JWT " + jwt_encode({"typ": "JWT"}, good, h=h), "no alg"),
        ("JWT " + b64url("not json") + "." + pay + "." + sig, "a header that is not JSON"),
        ("JWT " + token_for(h, user["id"], exp=now - 10), "an expired token"),
        ("JWT " + token_for(h, user["id"], exp=now), "a token expiring now"),
        ("JWT " + token_for(h, user["id"], nbf=now + 3600), "a token not valid yet (nbf)"),
        ("JWT " + token_for(h, user["id"], exp=str(now + 3600)), "exp a string"),
        ("JWT " + token_for(h, user["id"], exp=None), "exp null"),
        ("JWT " + jwt_encode(hs, {k: v for k, v in good.items() if k != "exp"}, h=h), "no exp"),
        ("JWT " + jwt_encode(hs, {k: v for k, v in good.items() if k != "identity"}, h=h), "no identity"),
        ("JWT " + token_for(h, user["id"], identity=str(user["id"])), "identity a string"),
        ("JWT " + token_for(h, user["id"], identity=0), "identity 0"),
        ("JWT " + token_for(h, user["id"], identity=-1), "identity -1"),
        ("JWT " + token_for(h, user["id"], identity=987654321), "a user who does not exist"),
        ("JWT " + token_for(h, blocked["id"]), "a blocked user's token"),
        ("JWT " + token_for(h, deleted["id"]), "a deleted user's token"),
        ("JWT " + jwt_encode(hs, [1, 2, 3], h=h), "a payload that is an array"),
        ("JWT " + "a" * 10000 + "." + pay + "." + sig, "a 10 kB header"),
    ]
    for hdr, what in cases:
        refused(h, hdr, what)
    # writes and the routes that need a caller refuse them the same way
    body = res_body("event", {"name": "x", "starts-at": EV_STARTS, "ends-at": EV_ENDS, "timezone": "UTC"})
    for hdr, what in cases[::6]:
        refused(h, hdr, what, method="POST", path="/v1/events", body=body)
        refused(h, hdr, what, path="/v1/users/%d" % user["id"])
    eq(h.sql("SELECT count(*) FROM events"), "0", "events stored")
    # the good token still works
    check_ok_doc("GET", "/v1/users/%d" % user["id"], api(h, "GET", "/v1/users/%d" % user["id"], token=tok))
