"""Shared fixtures of the integration tests: users, tokens, events and other
resources, created through SQL (fast, no password hashing) or through the API.

Stable interface (other test modules import it; add, do not change):

Constants
  JSONAPI                      the JSON:API media type
  ROLE_IDS                     {"owner": 1, "organizer": 2, ..., "registrar": 6}
  EV_STARTS, EV_ENDS           default times of events made here (2030-06-01
                               09:00Z .. 2030-06-03 18:00Z)

Tokens
  b64url(data) -> str          base64url without padding (bytes or str)
  jwt_encode(header, payload, key=None, h=None, sign=True) -> str
                               an HS256 JWT over the given header/payload
                               dicts; key: bytes/str (default h.secret);
                               sign=False gives an empty signature part
  token_for(h, user_id, ttl=3600, **claims) -> str
                               a valid token of the server (identity, iat,
                               nbf, exp, jti), claims override/add fields
  auth(token) -> dict          {"Authorization": "JWT <token>"} ({} if None)

Users (SQL; the user has no password unless made with signup/create_admin)
  make_user(h, email=None, admin=False, super_admin=False, **cols) -> dict
                               {"id", "email", "token"}; ids from 100001 up,
                               never reused in a run (the server caches
                               users' flags by id; see the note below)
  signup(h, email, password, **attrs) -> dict
                               POST /v1/users anonymously (asserts 201);
                               {"id", "email", "password", "doc"}
  login(h, email, password) -> str    POST /v1/auth/login (asserts 200)
  create_admin(h, email, password) -> dict
                               `open-event-server create-admin EMAIL`, then
                               login; {"id", "email", "password", "token"}

Events and roles
  make_event(h, owner, name="Ev", state="published", privacy="public",
             **attrs) -> dict  POST /v1/events as owner (a make_user dict or
                               a token), then sets state/privacy by SQL if
                               the API left them otherwise; {"id",
                               "identifier", "name", "doc"}
  sql_event(h, owner=None, name="Ev", state="published", privacy="public",
            **cols) -> dict    INSERT (and the owner role when owner is
                               given); {"id", "identifier", "name"}
  grant(h, user, event, role) -> int
                               INSERT users_events_roles by SQL (user/event:
                               dict or id; role: name or id); returns its id
  sql_insert(h, table, **cols) -> int
                               INSERT one row, returns its id

Requests
  api(h, method, path, body=None, token=None, headers=None)
                               -> (status, headers, doc); a dict/list body is
                               sent as JSON with Content-Type JSON:API
  res_body(type, attrs=None, rels=None, id=None) -> dict
                               {"data": {...}}; rels values: ("type", id),
                               [("type", id), ...] or None (null linkage)
  create(h, path, type, attrs, rels=None, token=None) -> dict
                               POST /v1/<path>; asserts 201, returns data
  patch(h, path, id, type, attrs=None, rels=None, token=None) -> dict
                               PATCH /v1/<path>/<id>; asserts 200, returns data
  ids_of(doc) -> [str]         the ids of doc["data"] (a list)

Checks
  check_err(got, code, what, pointer=None, parameter=None) -> dict
                               got = (status, headers, doc): a JSON:API error
                               document of status code (helpers.check_error,
                               but the title of 413 may be RFC 7231's
                               "Payload Too Large"); returns errors[0]

`token` arguments take a token string or a make_user/create_admin dict.
"""

import base64
import hashlib
import hmac
import json
import secrets
import time

from helpers import JSONAPI as _JSONAPI, check_error, eq, expect, new_identifier, show, sql_lit

JSONAPI = "application/vnd.api+json"
ROLE_IDS = {"owner": 1, "organizer": 2, "coorganizer": 3, "track_organizer": 4, "moderator": 5,
            "registrar": 6}
EV_STARTS = "2030-06-01T09:00:00Z"
EV_ENDS = "2030-06-03T18:00:00Z"


# ---- tokens ------------------------------------------------------------------

def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_encode(header, payload, key=None, h=None, sign=True):
    hp = b64url(json.dumps(header, separators=(",", ":"))) + "." + \
        b64url(json.dumps(payload, separators=(",", ":")))
    if not sign:
        return hp + "."
    if key is None:
        key = h.secret
    if isinstance(key, str):
        key = key.encode()
    sig = hmac.new(key, hp.encode(), hashlib.sha256).digest()
    return hp + "." + b64url(sig)


def token_for(h, user_id, ttl=3600, **claims):
    now = int(time.time())
    payload = {"identity": int(user_id), "iat": now, "nbf": now, "exp": now + ttl,
               "jti": secrets.token_hex(16)}
    payload.update(claims)
    return jwt_encode({"alg": "HS256", "typ": "JWT"}, payload, h=h)


def auth(token):
    return {"Authorization": "JWT " + token} if token else {}


# ---- users -------------------------------------------------------------------

def sql_insert(h, table, **cols):
    names = ", ".join(cols)
    vals = ", ".join(sql_lit(v) for v in cols.values())
    if cols:
        q = "INSERT INTO %s (%s) VALUES (%s) RETURNING id" % (table, names, vals)
    else:
        q = "INSERT INTO %s DEFAULT VALUES RETURNING id" % table
    return int(h.sql(q))


# Users made by SQL get ids from this counter, never reused within a run: the
# server caches a user's flags by id for up to 30 s (spec §5) and the harness
# truncates tables between tests without telling it, so a reused id could
# carry the flags of an earlier test's user. API-made users start at 1 and
# are forgotten by the server's cache when written through the API.
_next_user_id = [100000]


def make_user(h, email=None, admin=False, super_admin=False, **cols):
    email = email or "u-%s@example.com" % secrets.token_hex(5)
    _next_user_id[0] += 1
    cols.setdefault("id", _next_user_id[0])
    uid = sql_insert(h, "users", email=email, is_admin=bool(admin or super_admin),
                     is_super_admin=bool(super_admin), **cols)
    return {"id": uid, "email": email, "token": token_for(h, uid)}


def signup(h, email, password, **attrs):
    a = {"email": email, "password": password}
    a.update(attrs)
    st, hd, doc = api(h, "POST", "/v1/users", res_body("user", a))
    expect(st == 201, "sign-up POST /v1/users %s: expected 201, got %d: %s" % (email, st, show(doc)))
    return {"id": int(doc["data"]["id"]), "email": email, "password": password, "doc": doc}


def login(h, email, password):
    st, hd, doc = h.json("POST", "/v1/auth/login", headers={"Content-Type": "application/json"},
                         body={"email": email, "password": password})
    expect(st == 200 and isinstance(doc, dict) and doc.get("access_token"),
           "POST /v1/auth/login %s: expected 200 with access_token, got %d: %s" % (email, st, show(doc)))
    return doc["access_token"]


def create_admin(h, email, password):
    r = h.run_bin(["create-admin", email], env_overrides={"ADMIN_PASSWORD": password}, timeout=60)
    expect(r.returncode == 0, "create-admin %s: exit %d: %s" % (email, r.returncode, r.stderr[-500:]))
    uid = int(h.sql("SELECT id FROM users WHERE lower(email) = lower(%s) AND deleted_at IS NULL"
                    % sql_lit(email)))
    return {"id": uid, "email": email, "password": password, "token": login(h, email, password)}


# ---- events and roles ----------------------------------------------------------

def _id(x):
    return int(x["id"]) if isinstance(x, dict) else int(x)


def _token(x):
    if x is None:
        return None
    return x["token"] if isinstance(x, dict) else x


def make_event(h, owner, name="Ev", state="published", privacy="public", **attrs):
    a = {"name": name, "starts-at": EV_STARTS, "ends-at": EV_ENDS, "timezone": "UTC",
         "state": state, "privacy": privacy}
    a.update(attrs)
    st, hd, doc = api(h, "POST", "/v1/events", res_body("event", a), token=_token(owner))
    expect(st == 201, "make_event POST /v1/events: expected 201, got %d: %s" % (st, show(doc)))
    eid = int(doc["data"]["id"])
    got = doc["data"]["attributes"]
    if got.get("state") != state or got.get("privacy") != privacy:
        h.sql("UPDATE events SET state = %s, privacy = %s WHERE id = %d" % (sql_lit(state), sql_lit(privacy), eid))
    return {"id": eid, "identifier": got.get("identifier"), "name": name, "doc": doc}


def sql_event(h, owner=None, name="Ev", state="published", privacy="public", **cols):
    row = dict(name=name, starts_at=EV_STARTS, ends_at=EV_ENDS, timezone="UTC",
               identifier=new_identifier(), state=state, privacy=privacy)
    row.update(cols)
    eid = sql_insert(h, "events", **row)
    if owner is not None:
        grant(h, owner, eid, "owner")
    return {"id": eid, "identifier": row["identifier"], "name": name}


def grant(h, user, event, role):
    rid = ROLE_IDS[role] if isinstance(role, str) else int(role)
    return sql_insert(h, "users_events_roles", user_id=_id(user), event_id=_id(event), role_id=rid)


# ---- requests --------------------------------------------------------------------

def api(h, method, path, body=None, token=None, headers=None):
    hd = {}
    if body is not None:
        hd["Content-Type"] = JSONAPI
    hd.update(auth(_token(token)))
    hd.update(headers or {})
    return h.json(method, path, headers=hd, body=body)


def _linkage(v):
    if v is None:
        return None
    if isinstance(v, list):
        return [{"type": t, "id": str(i)} for t, i in v]
    t, i = v
    return {"type": t, "id": str(i)}


def res_body(type_, attrs=None, rels=None, id=None):
    d = {"type": type_}
    if id is not None:
        d["id"] = str(id)
    if attrs is not None:
        d["attributes"] = attrs
    if rels is not None:
        d["relationships"] = {k: {"data": _linkage(v)} for k, v in rels.items()}
    return {"data": d}


def create(h, path, type_, attrs, rels=None, token=None):
    st, hd, doc = api(h, "POST", "/v1/" + path, res_body(type_, attrs, rels), token=_token(token))
    expect(st == 201, "POST /v1/%s: expected 201, got %d: %s" % (path, st, show(doc, 600)))
    return doc["data"]


def patch(h, path, id, type_, attrs=None, rels=None, token=None):
    st, hd, doc = api(h, "PATCH", "/v1/%s/%s" % (path, id), res_body(type_, attrs, rels, id=id),
                      token=_token(token))
    expect(st == 200, "PATCH /v1/%s/%s: expected 200, got %d: %s" % (path, id, st, show(doc, 600)))
    return doc["data"]


def ids_of(doc):
    return [r.get("id") for r in (doc or {}).get("data") or []]


_TITLES_413 = ("Payload Too Large", "Content Too Large", "Request Entity Too Large")


def check_err(got, code, what, pointer=None, parameter=None):
    if code != 413:
        method, _, path = what.partition(" ")
        return check_error(method, path, got, code, parameter=parameter, pointer=pointer)
    status, headers, doc = got
    expect(status == 413, "%s: expected status 413, got %d; body %s" % (what, status, show(doc)))
    eq((headers.get("content-type") or "").strip(), _JSONAPI, what + ": Content-Type")
    expect(isinstance(doc, dict) and isinstance(doc.get("errors"), list) and doc["errors"],
           "%s: no errors[] in %s" % (what, show(doc)))
    e = doc["errors"][0]
    eq(e.get("status"), "413", what + ": errors[0].status")
    expect(e.get("title") in _TITLES_413, "%s: errors[0].title %r" % (what, e.get("title")))
    eq(doc.get("jsonapi"), {"version": "1.0"}, what + ": jsonapi member")
    return e
