"""Every type of spec §1 through the API: create, read, update, delete;
nested and reverse routes; relationship routes; linkage writes; business
rules; and the query language of spec §3 (filter, sort, page, include,
fields), each asserting exactly the expected ids in order."""

import json
import math
import re
from datetime import datetime
from urllib.parse import quote

from fixtures import (EV_ENDS, EV_STARTS, api, check_err, create, grant, ids_of, make_event, make_user, patch,
                      res_body, sql_event, sql_insert, token_for)
from helpers import check_ok_doc, eq, expect, link_query, show

DASHED = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
TIME_ATTRS = {"starts-at", "ends-at", "sales-starts-at", "sales-ends-at", "schedule-published-on",
              "deleted-at", "created-at", "submitted-at", "last-modified-at"}
DELETED = {"meta": {"message": "Object successfully deleted"}, "jsonapi": {"version": "1.0"}}


def instant(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def same_value(name, got, want):
    if want is None or got is None:
        return got is want
    if name in TIME_ATTRS and isinstance(want, str):
        try:
            return isinstance(got, str) and instant(got) == instant(want)
        except ValueError:
            return False
    if isinstance(want, float) or (isinstance(want, int) and isinstance(got, float)):
        return isinstance(got, (int, float)) and not isinstance(got, bool) and math.isclose(got, want)
    return type(got) is type(want) and got == want


def check_resource(res, type_, path, what, rid=None, sent=None, rels=()):
    """A resource object: type, string id, dasherized attributes equal to
    `sent`, the named relationships with their links, links.self."""
    expect(isinstance(res, dict), "%s: resource is not an object: %s" % (what, show(res)))
    eq(res.get("type"), type_, what + ": type")
    i = res.get("id")
    expect(isinstance(i, str) and i.isdigit() and int(i) > 0, "%s: id %r is not a positive integer string" % (what, i))
    if rid is not None:
        eq(i, str(rid), what + ": id")
    a = res.get("attributes")
    expect(isinstance(a, dict), "%s: no attributes: %s" % (what, show(res)))
    for k in a:
        expect(DASHED.match(k), "%s: attribute %r is not dasherized" % (what, k))
    for k, v in (sent or {}).items():
        if k == "password":
            expect(k not in a, "%s: the password is rendered" % what)
            continue
        expect(k in a, "%s: attribute %s missing: %s" % (what, k, show(a, 800)))
        expect(same_value(k, a[k], v), "%s: attribute %s: sent %r, got %r" % (what, k, v, a[k]))
    r = res.get("relationships")
    expect(isinstance(r, dict), "%s: no relationships: %s" % (what, show(res)))
    for name in rels:
        expect(name in r, "%s: relationship %s missing: %s" % (what, name, show(r)))
        eq((r[name] or {}).get("links"),
           {"self": "/v1/%s/%s/relationships/%s" % (path, i, name), "related": "/v1/%s/%s/%s" % (path, i, name)},
           "%s: relationships.%s.links" % (what, name))
    eq(res.get("links"), {"self": "/v1/%s/%s" % (path, i)}, what + ": links")
    return a


def get_ok(h, path, token=None, what=None):
    return check_ok_doc("GET", path, api(h, "GET", path, token=token))


def crud_cycle(h, path, type_, attrs, rels, token, change, rel_names, read_token=None, after_token=None):
    """POST, GET, PATCH, GET, DELETE, GET 404, DELETE 404. Returns the id."""
    read_token = read_token or token
    after_token = after_token or read_token
    st, hd, doc = api(h, "POST", "/v1/" + path, res_body(type_, attrs, rels), token=token)
    doc = check_ok_doc("POST", "/v1/" + path, (st, hd, doc), 201)
    res = doc.get("data")
    check_resource(res, type_, path, "POST /v1/" + path, sent=attrs, rels=rel_names)
    rid = res["id"]
    eq(hd.get("location"), "/v1/%s/%s" % (path, rid), "POST /v1/%s: Location" % path)
    one = "/v1/%s/%s" % (path, rid)
    doc = get_ok(h, one, read_token)
    before = check_resource(doc.get("data"), type_, path, "GET " + one, rid=rid, sent=attrs, rels=rel_names)
    st, hd, doc = api(h, "PATCH", one, res_body(type_, change, id=rid), token=token)
    doc = check_ok_doc("PATCH", one, (st, hd, doc))
    after = check_resource(doc.get("data"), type_, path, "PATCH " + one, rid=rid, sent=change, rels=rel_names)
    for k, v in before.items():  # the rest is unchanged
        if k not in change and k not in ("last-modified-at", "font-color"):
            expect(same_value(k, after.get(k), v), "PATCH %s: %s changed from %r to %r" % (one, k, v, after.get(k)))
    doc = get_ok(h, one, read_token)
    check_resource(doc.get("data"), type_, path, "GET %s after PATCH" % one, rid=rid, sent=change)
    st, hd, doc = api(h, "DELETE", one, token=token)
    expect(st == 200, "DELETE %s: expected 200, got %d: %s" % (one, st, show(doc)))
    eq(doc, DELETED, "DELETE %s: body" % one)
    eq((hd.get("content-type") or "").strip(), "application/vnd.api+json", "DELETE %s: Content-Type" % one)
    check_err(api(h, "GET", one, token=after_token), 404, "GET %s after DELETE" % one)
    check_err(api(h, "DELETE", one, token=token), 404, "DELETE %s again" % one)
    return rid


def world(h):
    """An owner, an admin, and a published public event made by the owner."""
    owner = make_user(h, first_name="Olga", public_name="olga")
    admin = make_user(h, admin=True)
    ev = make_event(h, owner, name="World")
    return owner, admin, ev


# ---- create, read, update, delete of every type --------------------------------------

def test_event_crud(h):
    owner = make_user(h)
    attrs = {"name": "PyCon Zürich", "starts-at": "2030-06-01T09:00:00Z", "ends-at": "2030-06-03T18:00:00+02:00",
             "timezone": "Europe/Zurich", "description": "Talks <b>and</b> \"more\"", "location-name": "Hall 1",
             "online": True, "latitude": 47.37, "longitude": 8.54, "privacy": "public", "state": "published",
             "external-event-url": "https://example.com/e", "ticket-url": "https://example.com/t",
             "code-of-conduct": "Be kind", "owner-name": "Olga", "owner-description": "Organiser",
             "is-sessions-speakers-enabled": True, "is-sponsors-enabled": False,
             "schedule-published-on": "2030-05-01T00:00:00Z", "logo-url": "https://example.com/logo.png",
             "original-image-url": "https://example.com/big.png"}
    crud_cycle(h, "events", "event", attrs, None, owner["token"],
               {"name": "PyCon CH", "description": None, "latitude": -12.5},
               ["sessions", "speakers", "tracks", "microlocations", "sponsors", "session-types", "social-links",
                "tickets", "event-topic", "owner", "users-events-roles"])


def test_event_identifier_is_generated_and_routes_work(h):
    owner = make_user(h)
    seen = set()
    for i in range(5):
        ev = make_event(h, owner, name="Gen %d" % i, state="draft")
        ident = ev["identifier"]
        expect(isinstance(ident, str) and re.match(r"^[0-9a-f]{8}$", ident) and not ident.isdigit(),
               "event %d: identifier %r is not 8 hex characters (not all digits)" % (ev["id"], ident))
        expect(ident not in seen, "identifier %r repeated" % ident)
        seen.add(ident)
        doc = get_ok(h, "/v1/events/" + ident, owner["token"])
        eq(doc["data"]["id"], str(ev["id"]), "GET /v1/events/%s: id" % ident)
    # a client-sent identifier is read-only: ignored
    st, hd, doc = api(h, "POST", "/v1/events", res_body("event", {
        "name": "Mine", "identifier": "abcdef12", "starts-at": EV_STARTS, "ends-at": EV_ENDS,
        "timezone": "UTC"}), token=owner["token"])
    doc = check_ok_doc("POST", "/v1/events", (st, hd, doc), 201)
    got = doc["data"]["attributes"]["identifier"]
    expect(re.match(r"^[0-9a-f]{8}$", got) and not got.isdigit(), "POST /v1/events: identifier %r" % got)


def sub_crud(h, path, type_, attrs, change, rel_names, extra_rels=None):
    owner, admin, ev = world(h)
    rels = {"event": ("event", ev["id"])}
    rels.update(extra_rels or {})
    rid = crud_cycle(h, path, type_, attrs, rels, owner["token"], change, ["event"] + rel_names)
    return owner, ev, rid


def test_session_crud(h):
    owner, admin, ev = world(h)
    tr = create(h, "tracks", "track", {"name": "T", "color": "#112233"}, {"event": ("event", ev["id"])}, owner)
    sp = create(h, "speakers", "speaker", {"name": "Ann"}, {"event": ("event", ev["id"])}, owner)
    attrs = {"title": "Opening", "subtitle": "Hello", "level": "1", "short-abstract": "short",
             "long-abstract": "long", "comments": "none", "starts-at": "2030-06-01T10:00:00Z",
             "ends-at": "2030-06-01T11:00:00Z", "language": "en", "slides-url": "https://example.com/s",
             "video-url": "https://example.com/v", "audio-url": "https://example.com/a",
             "signup-url": "https://example.com/u", "state": "accepted"}
    crud_cycle(h, "sessions", "session", attrs,
               {"event": ("event", ev["id"]), "track": ("track", tr["id"]), "speakers": [("speaker", sp["id"])]},
               owner["token"], {"title": "Opening keynote", "state": "confirmed"},
               ["event", "track", "session-type", "microlocation", "speakers", "creator"])


def test_speaker_crud(h):
    sub_crud(h, "speakers", "speaker",
             {"name": "Ann Lee", "email": "ann@example.com", "photo-url": "https://example.com/p.png",
              "short-biography": "b", "long-biography": "bb", "speaking-experience": "lots", "mobile": "+1 555",
              "website": "https://ann.example.com", "twitter": "https://twitter.com/ann",
              "facebook": "https://facebook.com/ann", "github": "https://github.com/ann",
              "linkedin": "https://linkedin.com/in/ann", "organisation": "ACME", "is-featured": True,
              "position": "CTO", "country": "NZ", "city": "Wellington", "gender": "female"},
             {"name": "Ann B. Lee", "is-featured": False}, ["user", "sessions"])


def test_track_crud(h):
    sub_crud(h, "tracks", "track", {"name": "Web", "description": "All web", "color": "#ffff00", "position": 2},
             {"name": "Web & Mobile", "position": 3}, ["sessions"])


def test_microlocation_crud(h):
    sub_crud(h, "microlocations", "microlocation",
             {"name": "Room 1", "latitude": 1.5, "longitude": -2.25, "floor": 2, "room": "1.01", "position": 1},
             {"floor": -1, "room": "B1"}, ["sessions"])


def test_sponsor_crud(h):
    sub_crud(h, "sponsors", "sponsor",
             {"name": "ACME", "description": "Anvils", "url": "https://acme.example.com", "level": 1,
              "logo-url": "https://acme.example.com/l.png", "type": "Gold"},
             {"level": 2, "type": "Silver"}, [])


def test_session_type_crud(h):
    sub_crud(h, "session-types", "session-type", {"name": "Talk", "length": "00:30", "position": 1},
             {"length": "01:45"}, ["sessions"])


def test_social_link_crud(h):
    sub_crud(h, "social-links", "social-link",
             {"name": "Twitter", "link": "https://twitter.com/ev", "identifier": "tw"},
             {"link": "https://x.com/ev"}, [])


def test_ticket_crud(h):
    sub_crud(h, "tickets", "ticket",
             {"name": "Early bird", "description": "cheap", "type": "paid", "price": 10.5, "quantity": 100,
              "sales-starts-at": "2030-01-01T00:00:00Z", "sales-ends-at": "2030-05-31T23:59:00Z",
              "is-hidden": False, "min-order": 1, "max-order": 5, "position": 1},
             {"price": 12.25, "quantity": 50}, [])


def test_event_topic_crud(h):
    admin = make_user(h, admin=True)
    crud_cycle(h, "event-topics", "event-topic", {"name": "Science", "system-image-url": "https://example.com/i.png"},
               None, admin["token"], {"name": "Sciences"}, ["events"])


def test_user_crud_sign_up_self_and_admin(h):
    admin = make_user(h, admin=True)
    attrs = {"email": "Newbie@Example.com", "password": "s3cret-pass", "first-name": "New",
             "last-name": "Bie", "public-name": "newbie", "avatar-url": "https://example.com/a.png"}
    st, hd, doc = api(h, "POST", "/v1/users", res_body("user", attrs))
    doc = check_ok_doc("POST", "/v1/users", (st, hd, doc), 201)
    sent = dict(attrs)
    del sent["password"]
    res = doc["data"]
    a = check_resource(res, "user", "users", "POST /v1/users", sent=sent, rels=["events", "sessions", "speakers"])
    expect("password" not in a and "password-hash" not in a, "POST /v1/users: password returned: %s" % show(a))
    expect("s3cret" not in json.dumps(doc), "POST /v1/users: the password appears in the body")
    uid = res["id"]
    eq(hd.get("location"), "/v1/users/" + uid, "POST /v1/users: Location")
    tok = token_for(h, uid)
    one = "/v1/users/" + uid
    doc = get_ok(h, one, tok)
    check_resource(doc["data"], "user", "users", "GET %s (self)" % one, rid=uid, sent=sent)
    doc = get_ok(h, one, admin["token"])
    check_resource(doc["data"], "user", "users", "GET %s (admin)" % one, rid=uid, sent=sent)
    st, hd, doc = api(h, "PATCH", one, res_body("user", {"first-name": "Renamed"}, id=uid), token=tok)
    doc = check_ok_doc("PATCH", one, (st, hd, doc))
    check_resource(doc["data"], "user", "users", "PATCH " + one, rid=uid, sent={"first-name": "Renamed",
                                                                                  "email": "Newbie@Example.com"})
    st, hd, doc = api(h, "DELETE", one, token=tok)
    expect(st == 200, "DELETE %s (self): expected 200, got %d: %s" % (one, st, show(doc)))
    eq(doc, DELETED, "DELETE %s: body" % one)
    check_err(api(h, "GET", one, token=admin["token"]), 404, "GET %s after DELETE (admin)" % one)
    # the deleted user's token is refused
    check_err(api(h, "GET", one, token=tok), 401, "GET %s with the deleted user's token" % one)


def test_user_admin_crud(h):
    admin = make_user(h, admin=True)
    crud_cycle(h, "users", "user", {"email": "made@example.com", "password": "password-1", "last-name": "M"},
               None, admin["token"], {"last-name": "N", "is-verified": True}, ["events", "sessions", "speakers"])


def test_roles_are_static(h):
    admin = make_user(h, admin=True)
    names = ["owner", "organizer", "coorganizer", "track_organizer", "moderator", "registrar"]
    doc = get_ok(h, "/v1/roles")
    eq(ids_of(doc), [str(i) for i in range(1, 7)], "GET /v1/roles: ids")
    eq([r["attributes"]["name"] for r in doc["data"]], names, "GET /v1/roles: names")
    eq(doc.get("meta"), {"count": 6}, "GET /v1/roles: meta")
    for i, n in enumerate(names, 1):
        doc = get_ok(h, "/v1/roles/%d" % i)
        a = check_resource(doc["data"], "role", "roles", "GET /v1/roles/%d" % i, rid=i)
        eq(a.get("name"), n, "GET /v1/roles/%d: name" % i)
    check_err(api(h, "GET", "/v1/roles/7"), 404, "GET /v1/roles/7")
    for method, path, body in (("POST", "/v1/roles", res_body("role", {"name": "boss"})),
                               ("PATCH", "/v1/roles/1", res_body("role", {"name": "boss"}, id=1)),
                               ("DELETE", "/v1/roles/1", None)):
        st, hd, doc = api(h, method, path, body, token=admin["token"])
        check_err((st, hd, doc), 405, "%s %s (admin)" % (method, path))
        expect("GET" in hd.get("allow", ""), "%s %s: Allow %r" % (method, path, hd.get("allow")))
    eq(h.sql("SELECT string_agg(name, ',' ORDER BY id) FROM roles"), ",".join(names), "roles table unchanged")


def test_users_events_role_crud(h):
    owner, admin, ev = world(h)
    other = make_user(h)
    rels = {"user": ("user", other["id"]), "event": ("event", ev["id"]), "role": ("role", 3)}
    st, hd, doc = api(h, "POST", "/v1/users-events-roles", res_body("users-events-role", None, rels),
                      token=owner["token"])
    doc = check_ok_doc("POST", "/v1/users-events-roles", (st, hd, doc), 201)
    res = doc["data"]
    check_resource(res, "users-events-role", "users-events-roles", "POST /v1/users-events-roles",
                   rels=["user", "event", "role"])
    rid = res["id"]
    one = "/v1/users-events-roles/" + rid
    eq(hd.get("location"), one, "POST /v1/users-events-roles: Location")
    for tok, who in ((owner["token"], "owner"), (other["token"], "grantee"), (admin["token"], "admin")):
        doc = get_ok(h, one, tok)
        check_resource(doc["data"], "users-events-role", "users-events-roles", "GET %s (%s)" % (one, who), rid=rid)
    for rel, want in (("user", ("user", other["id"])), ("event", ("event", ev["id"])), ("role", ("role", 3))):
        p = "%s/relationships/%s" % (one, rel)
        doc = get_ok(h, p, owner["token"])
        eq(doc.get("data"), {"type": want[0], "id": str(want[1])}, "GET %s: data" % p)
    doc = get_ok(h, "/v1/events/%d/users-events-roles" % ev["id"], owner["token"])
    eq(len(doc["data"]), 2, "GET /v1/events/%d/users-events-roles: owner and coorganizer rows" % ev["id"])
    expect(rid in ids_of(doc), "GET /v1/events/%d/users-events-roles: %s missing" % (ev["id"], rid))
    # the grant works: the coorganizer may now write the event
    patch(h, "events", ev["id"], "event", {"description": "by the coorganizer"}, token=other)
    st, hd, doc = api(h, "PATCH", one, res_body("users-events-role", None, {"role": ("role", 2)}, id=rid),
                      token=owner["token"])
    check_err((st, hd, doc), 405, "PATCH " + one)
    st, hd, doc = api(h, "DELETE", one, token=owner["token"])
    expect(st == 200, "DELETE %s: expected 200, got %d: %s" % (one, st, show(doc)))
    eq(doc, DELETED, "DELETE %s: body" % one)
    check_err(api(h, "GET", one, token=admin["token"]), 404, "GET %s after DELETE" % one)
    st, hd, doc = api(h, "PATCH", "/v1/events/%d" % ev["id"],
                      res_body("event", {"description": "revoked"}, id=ev["id"]), token=other["token"])
    check_err((st, hd, doc), 403, "PATCH /v1/events/%d by the revoked coorganizer" % ev["id"])


# ---- nested, reverse and relationship routes -------------------------------------------

def build_event(h):
    """One event with one of everything, made through the API by its owner."""
    owner = make_user(h, first_name="Olga", last_name="Owner", public_name="olga", avatar_url="https://a/o.png")
    admin = make_user(h, admin=True)
    spk_user = make_user(h, first_name="Sam")
    topic = create(h, "event-topics", "event-topic", {"name": "Tech"}, token=admin)
    ev = make_event(h, owner, name="Big", **{"is-sessions-speakers-enabled": True})
    patch(h, "events", ev["id"], "event", None, {"event-topic": ("event-topic", topic["id"])}, token=owner)
    er = {"event": ("event", ev["id"])}
    o = owner["token"]
    w = {"owner": owner, "admin": admin, "spk_user": spk_user, "ev": ev, "topic": topic["id"]}
    w["tracks"] = [create(h, "tracks", "track", {"name": n, "color": c}, er, o)["id"]
                   for n, c in (("Web", "#ff0000"), ("Data", "#00ff00"))]
    w["rooms"] = [create(h, "microlocations", "microlocation", {"name": n}, er, o)["id"] for n in ("R1", "R2")]
    w["types"] = [create(h, "session-types", "session-type", {"name": n, "length": "00:30"}, er, o)["id"]
                  for n in ("Talk", "Workshop")]
    rels = dict(er, user=("user", spk_user["id"]))
    w["speakers"] = [create(h, "speakers", "speaker", {"name": "Sam"}, rels, o)["id"],
                     create(h, "speakers", "speaker", {"name": "Kim"}, er, o)["id"]]
    w["sponsors"] = [create(h, "sponsors", "sponsor", {"name": "ACME"}, er, o)["id"]]
    w["links"] = [create(h, "social-links", "social-link", {"name": "tw", "link": "https://t.example"}, er, o)["id"]]
    w["tickets"] = [create(h, "tickets", "ticket", {"name": "Std", "type": "free", "quantity": 10,
                                                     "sales-starts-at": "2030-01-01T00:00:00Z",
                                                     "sales-ends-at": "2030-05-01T00:00:00Z"}, er, o)["id"]]
    s1 = create(h, "sessions", "session", {"title": "One", "state": "accepted"},
                dict(er, track=("track", w["tracks"][0]), microlocation=("microlocation", w["rooms"][0]),
                     **{"session-type": ("session-type", w["types"][0]),
                        "speakers": [("speaker", w["speakers"][0]), ("speaker", w["speakers"][1])]}), o)["id"]
    s2 = create(h, "sessions", "session", {"title": "Two", "state": "accepted"},
                dict(er, track=("track", w["tracks"][0]), speakers=[("speaker", w["speakers"][1])]), o)["id"]
    s3 = create(h, "sessions", "session", {"title": "Three", "state": "accepted"},
                dict(er, track=("track", w["tracks"][1])), o)["id"]
    w["sessions"] = [s1, s2, s3]
    return w


def expect_ids(h, path, want, token=None, type_=None):
    doc = get_ok(h, path, token)
    eq(ids_of(doc), [str(i) for i in want], "GET %s: ids" % path)
    eq((doc.get("meta") or {}).get("count"), len(want), "GET %s: meta.count" % path)
    if type_:
        for r in doc["data"]:
            eq(r.get("type"), type_, "GET %s: type" % path)
    return doc


def expect_one(h, path, type_, rid, token=None):
    doc = get_ok(h, path, token)
    d = doc.get("data")
    if rid is None:
        expect("data" in doc and d is None, "GET %s: expected data null, got %s" % (path, show(doc)))
        return None
    expect(isinstance(d, dict), "GET %s: data is not an object: %s" % (path, show(doc)))
    eq((d.get("type"), d.get("id")), (type_, str(rid)), "GET %s: (type, id)" % path)
    return d


def test_nested_routes_of_events(h):
    w = build_event(h)
    ev, o = w["ev"], w["owner"]["token"]
    for ref in (str(ev["id"]), ev["identifier"]):
        for sub, key, t in (("sessions", "sessions", "session"), ("speakers", "speakers", "speaker"),
                            ("tracks", "tracks", "track"), ("microlocations", "rooms", "microlocation"),
                            ("sponsors", "sponsors", "sponsor"), ("session-types", "types", "session-type"),
                            ("social-links", "links", "social-link"), ("tickets", "tickets", "ticket")):
            expect_ids(h, "/v1/events/%s/%s" % (ref, sub), w[key], o, t)
            # the event is public and published: anonymous callers see the same
            expect_ids(h, "/v1/events/%s/%s" % (ref, sub), w[key], None, t)
        expect_one(h, "/v1/events/%s/event-topic" % ref, "event-topic", w["topic"])
        d = expect_one(h, "/v1/events/%s/owner" % ref, "user", w["owner"]["id"])
        eq(set(d["attributes"]) - {"first-name", "last-name", "public-name", "avatar-url"}, set(),
           "GET /v1/events/%s/owner (anonymous): attributes beyond the public ones" % ref)
        eq(d["attributes"].get("public-name"), "olga", "GET /v1/events/%s/owner: public-name" % ref)
    # every sub-resource's way back to its event
    for path, key in (("sessions", "sessions"), ("speakers", "speakers"), ("tracks", "tracks"),
                      ("microlocations", "rooms"), ("sponsors", "sponsors"), ("session-types", "types"),
                      ("social-links", "links"), ("tickets", "tickets")):
        for rid in w[key]:
            expect_one(h, "/v1/%s/%s/event" % (path, rid), "event", ev["id"], o)
    expect_ids(h, "/v1/users/%d/events" % w["owner"]["id"], [ev["id"]], o, "event")
    expect_ids(h, "/v1/event-topics/%s/events" % w["topic"], [ev["id"]], None, "event")


def test_nested_routes_of_sessions_and_speakers(h):
    w = build_event(h)
    o = w["owner"]["token"]
    s1, s2, s3 = w["sessions"]
    t1, t2 = w["tracks"]
    expect_ids(h, "/v1/sessions/%s/speakers" % s1, w["speakers"], o, "speaker")
    expect_ids(h, "/v1/sessions/%s/speakers" % s3, [], o)
    expect_one(h, "/v1/sessions/%s/track" % s1, "track", t1, o)
    expect_one(h, "/v1/sessions/%s/microlocation" % s1, "microlocation", w["rooms"][0], o)
    expect_one(h, "/v1/sessions/%s/microlocation" % s2, None, None, o)
    expect_one(h, "/v1/sessions/%s/session-type" % s1, "session-type", w["types"][0], o)
    expect_one(h, "/v1/sessions/%s/creator" % s1, "user", w["owner"]["id"], o)
    expect_ids(h, "/v1/tracks/%s/sessions" % t1, [s1, s2], o, "session")
    expect_ids(h, "/v1/tracks/%s/sessions" % t2, [s3], o, "session")
    expect_ids(h, "/v1/microlocations/%s/sessions" % w["rooms"][0], [s1], o)
    expect_ids(h, "/v1/session-types/%s/sessions" % w["types"][0], [s1], o)
    expect_ids(h, "/v1/session-types/%s/sessions" % w["types"][1], [], o)
    expect_ids(h, "/v1/speakers/%s/sessions" % w["speakers"][0], [s1], o, "session")
    expect_ids(h, "/v1/speakers/%s/sessions" % w["speakers"][1], [s1, s2], o, "session")
    expect_one(h, "/v1/speakers/%s/user" % w["speakers"][0], "user", w["spk_user"]["id"], o)
    expect_one(h, "/v1/speakers/%s/user" % w["speakers"][1], None, None, o)
    expect_ids(h, "/v1/users/%d/sessions" % w["owner"]["id"], [s1, s2, s3], o, "session")
    expect_ids(h, "/v1/users/%d/speakers" % w["spk_user"]["id"], [w["speakers"][0]], w["spk_user"]["token"])
    # unknown parents are 404
    for p in ("/v1/sessions/999999/speakers", "/v1/tracks/999999/sessions", "/v1/events/999999/sessions",
              "/v1/events/abcdef99/tracks", "/v1/sessions/999999/track"):
        check_err(api(h, "GET", p, token=o), 404, "GET " + p)


def test_relationship_routes_give_linkage_only(h):
    w = build_event(h)
    o = w["owner"]["token"]
    ev = w["ev"]
    s1, s2, s3 = w["sessions"]
    cases = [
        ("/v1/sessions/%s/relationships/track" % s1, {"type": "track", "id": w["tracks"][0]}),
        ("/v1/sessions/%s/relationships/microlocation" % s2, None),
        ("/v1/sessions/%s/relationships/event" % s1, {"type": "event", "id": str(ev["id"])}),
        ("/v1/sessions/%s/relationships/speakers" % s1, [{"type": "speaker", "id": i} for i in w["speakers"]]),
        ("/v1/sessions/%s/relationships/speakers" % s3, []),
        ("/v1/events/%d/relationships/sessions" % ev["id"], [{"type": "session", "id": i} for i in w["sessions"]]),
        ("/v1/events/%s/relationships/tracks" % ev["identifier"], [{"type": "track", "id": i} for i in w["tracks"]]),
        ("/v1/events/%d/relationships/owner" % ev["id"], {"type": "user", "id": str(w["owner"]["id"])}),
        ("/v1/events/%d/relationships/event-topic" % ev["id"], {"type": "event-topic", "id": w["topic"]}),
        ("/v1/tracks/%s/relationships/sessions" % w["tracks"][0], [{"type": "session", "id": i} for i in (s1, s2)]),
        ("/v1/speakers/%s/relationships/user" % w["speakers"][0], {"type": "user", "id": str(w["spk_user"]["id"])}),
    ]
    for path, want in cases:
        doc = get_ok(h, path, o)
        eq(doc.get("data"), want, "GET %s: data" % path)
        expect("data" in doc, "GET %s: no data member" % path)
        base, _, rel = path.partition("/relationships/")
        links = doc.get("links") or {}
        num = base.replace("/" + ev["identifier"], "/%d" % ev["id"])
        expect(links.get("related") in ("%s/%s" % (base, rel), "%s/%s" % (num, rel)),
               "GET %s: links.related %r" % (path, links.get("related")))
        expect(links.get("self") in (path, "%s/relationships/%s" % (num, rel)),
               "GET %s: links.self %r" % (path, links.get("self")))
        expect("included" not in doc, "GET %s: included in a linkage document" % path)


def test_patch_to_one_relationship(h):
    w = build_event(h)
    o = w["owner"]["token"]
    s1 = w["sessions"][0]
    path = "/v1/sessions/%s/relationships/track" % s1
    st, hd, doc = api(h, "PATCH", path, {"data": {"type": "track", "id": w["tracks"][1]}}, token=o)
    doc = check_ok_doc("PATCH", path, (st, hd, doc))
    eq(doc.get("data"), {"type": "track", "id": w["tracks"][1]}, "PATCH %s: data" % path)
    doc = get_ok(h, path, o)
    eq(doc.get("data"), {"type": "track", "id": w["tracks"][1]}, "GET %s after PATCH: data" % path)
    expect_ids(h, "/v1/tracks/%s/sessions" % w["tracks"][1], [s1, w["sessions"][2]], o)
    st, hd, doc = api(h, "PATCH", path, {"data": None}, token=o)
    doc = check_ok_doc("PATCH", path + " (null)", (st, hd, doc))
    expect("data" in doc and doc["data"] is None, "PATCH %s null: data %s" % (path, show(doc)))
    expect_one(h, "/v1/sessions/%s/track" % s1, None, None, o)
    # wrong type 409, missing target 404, no write right 403, anonymous 401
    check_err(api(h, "PATCH", path, {"data": {"type": "speaker", "id": w["speakers"][0]}}, token=o), 409,
              "PATCH %s with a speaker" % path)
    check_err(api(h, "PATCH", path, {"data": {"type": "track", "id": "999999"}}, token=o), 404,
              "PATCH %s with a missing track" % path)
    stranger = make_user(h)
    check_err(api(h, "PATCH", path, {"data": {"type": "track", "id": w["tracks"][0]}}, token=stranger["token"]),
              403, "PATCH %s by a stranger" % path)
    check_err(api(h, "PATCH", path, {"data": {"type": "track", "id": w["tracks"][0]}}), 401,
              "PATCH %s anonymously" % path)
    # a track of another event is not a track this session can have
    other = make_event(h, w["owner"], name="Other")
    t_other = create(h, "tracks", "track", {"name": "X", "color": "#000000"}, {"event": ("event", other["id"])}, o)
    check_err(api(h, "PATCH", path, {"data": {"type": "track", "id": t_other["id"]}}, token=o), 404,
              "PATCH %s with another event's track" % path)


def test_to_many_linkage_in_post_and_patch(h):
    w = build_event(h)
    o = w["owner"]["token"]
    ev = w["ev"]
    sp = w["speakers"]
    sp3 = create(h, "speakers", "speaker", {"name": "Lee"}, {"event": ("event", ev["id"])}, o)["id"]
    s = create(h, "sessions", "session", {"title": "Linked"},
               {"event": ("event", ev["id"]), "speakers": [("speaker", sp[1]), ("speaker", sp[0])]}, o)["id"]
    rel = "/v1/sessions/%s/relationships/speakers" % s
    eq(get_ok(h, rel, o).get("data"), [{"type": "speaker", "id": i} for i in sp], "GET %s after POST" % rel)
    expect_ids(h, "/v1/speakers/%s/sessions" % sp[0], [w["sessions"][0], s], o)
    patch(h, "sessions", s, "session", None, {"speakers": [("speaker", sp[1]), ("speaker", sp3)]}, o)
    eq(get_ok(h, rel, o).get("data"), [{"type": "speaker", "id": i} for i in (sp[1], sp3)],
       "GET %s after PATCH" % rel)
    # attributes-only PATCH keeps the linkage
    patch(h, "sessions", s, "session", {"subtitle": "x"}, None, o)
    eq(get_ok(h, rel, o).get("data"), [{"type": "speaker", "id": i} for i in (sp[1], sp3)],
       "GET %s after an attributes-only PATCH" % rel)
    patch(h, "sessions", s, "session", None, {"speakers": []}, o)
    eq(get_ok(h, rel, o).get("data"), [], "GET %s after PATCH []" % rel)
    # the speaker side
    patch(h, "speakers", sp3, "speaker", None, {"sessions": [("session", s), ("session", w["sessions"][2])]}, o)
    expect_ids(h, "/v1/speakers/%s/sessions" % sp3, sorted([int(s), int(w["sessions"][2])]), o)
    eq(get_ok(h, rel, o).get("data"), [{"type": "speaker", "id": sp3}], "GET %s after the speaker's PATCH" % rel)
    # to-one in POST, changed in PATCH, cleared with null
    patch(h, "sessions", s, "session", None, {"track": ("track", w["tracks"][1]),
                                              "microlocation": ("microlocation", w["rooms"][1])}, o)
    expect_one(h, "/v1/sessions/%s/track" % s, "track", w["tracks"][1], o)
    expect_one(h, "/v1/sessions/%s/microlocation" % s, "microlocation", w["rooms"][1], o)
    patch(h, "sessions", s, "session", None, {"microlocation": None}, o)
    expect_one(h, "/v1/sessions/%s/microlocation" % s, None, None, o)
    # a missing speaker among several: 404, nothing changed
    before = get_ok(h, rel, o).get("data")
    st, hd, doc = api(h, "PATCH", "/v1/sessions/" + s,
                      res_body("session", None, {"speakers": [("speaker", sp[0]), ("speaker", 999999)]}, id=s),
                      token=o)
    check_err((st, hd, doc), 404, "PATCH /v1/sessions/%s with a missing speaker" % s)
    eq(get_ok(h, rel, o).get("data"), before, "GET %s after the refused PATCH" % rel)


# ---- business rules ----------------------------------------------------------------------

def test_track_font_color_is_derived(h):
    owner, admin, ev = world(h)
    er = {"event": ("event", ev["id"])}
    for color, font in (("#ffff00", "#000000"), ("#000080", "#ffffff"), ("#FFFFFF", "#000000"),
                        ("#000000", "#ffffff")):
        t = create(h, "tracks", "track", {"name": color, "color": color}, er, owner)
        eq(t["attributes"].get("font-color"), font, "track color %s: font-color" % color)
    t = create(h, "tracks", "track", {"name": "c", "color": "#ffff00", "font-color": "#123456"}, er, owner)
    eq(t["attributes"].get("font-color"), "#000000", "font-color sent by the client is read-only")
    t = patch(h, "tracks", t["id"], "track", {"color": "#000080"}, token=owner)
    eq(t["attributes"].get("font-color"), "#ffffff", "PATCH color #000080: font-color")
    doc = get_ok(h, "/v1/tracks/" + t["id"])
    eq(doc["data"]["attributes"].get("font-color"), "#ffffff", "GET after PATCH: font-color")
    for bad in ("red", "#fff", "#gggggg", "ffff00", "#ffff0000"):
        st, hd, doc = api(h, "POST", "/v1/tracks", res_body("track", {"name": "x", "color": bad}, er),
                          token=owner["token"])
        check_err((st, hd, doc), 422, "POST /v1/tracks color %r" % bad, pointer="/data/attributes/color")
    st, hd, doc = api(h, "PATCH", "/v1/tracks/" + t["id"], res_body("track", {"color": "blue"}, id=t["id"]),
                      token=owner["token"])
    check_err((st, hd, doc), 422, "PATCH /v1/tracks color 'blue'", pointer="/data/attributes/color")


def test_event_topic_slug_is_derived(h):
    admin = make_user(h, admin=True)
    t = create(h, "event-topics", "event-topic", {"name": "Science & Technology, Web/Mobile"}, token=admin)
    eq(t["attributes"].get("slug"), "science-technology-web-mobile", "event-topic slug")
    t2 = create(h, "event-topics", "event-topic", {"name": "Music", "slug": "ignored"}, token=admin)
    eq(t2["attributes"].get("slug"), "music", "event-topic slug (client slug is read-only)")
    t3 = create(h, "event-topics", "event-topic", {"name": "music"}, token=admin)
    s3 = t3["attributes"].get("slug")
    expect(isinstance(s3, str) and s3.startswith("music-") and s3 != "music",
           "a second topic 'music': slug %r must be unique (music-...)" % s3)
    user = make_user(h)
    check_err(api(h, "POST", "/v1/event-topics", res_body("event-topic", {"name": "Mine"}), token=user["token"]),
              403, "POST /v1/event-topics by a non-admin")


def test_session_times_inside_event(h):
    owner, admin, ev = world(h)  # 2030-06-01T09:00Z .. 2030-06-03T18:00Z
    er = {"event": ("event", ev["id"])}
    o = owner["token"]
    ok = [("2030-06-01T09:00:00Z", "2030-06-03T18:00:00Z"), ("2030-06-02T10:00:00+02:00", None),
          (None, "2030-06-02T10:00:00Z"), ("2030-06-02T10:00:00Z", "2030-06-02T10:00:00Z")]
    for s, e in ok:
        a = {"title": "ok"}
        if s:
            a["starts-at"] = s
        if e:
            a["ends-at"] = e
        create(h, "sessions", "session", a, er, o)
    bad = [("2030-06-01T08:59:59Z", "2030-06-01T10:00:00Z", "starts-at"),
           ("2030-06-04T10:00:00Z", None, "starts-at"),
           ("2030-06-01T10:00:00Z", "2030-06-03T18:00:01Z", "ends-at"),
           (None, "2030-05-01T10:00:00Z", "ends-at"),
           ("2030-06-02T11:00:00Z", "2030-06-02T10:00:00Z", "ends-at"),
           ("2030-06-03T18:00:00+01:00", None, None)]  # 17:00Z: inside
    for s, e, ptr in bad:
        a = {"title": "bad" if ptr else "inside"}
        if s:
            a["starts-at"] = s
        if e:
            a["ends-at"] = e
        got = api(h, "POST", "/v1/sessions", res_body("session", a, er), token=o)
        if ptr is None:
            eq(got[0], 201, "POST /v1/sessions %r..%r: status" % (s, e))
            continue
        e0 = check_err(got, 422, "POST /v1/sessions %r..%r" % (s, e), pointer="/data/attributes/" + ptr)
        expect(e0.get("detail"), "POST /v1/sessions %r..%r: no detail" % (s, e))
    n = int(h.sql("SELECT count(*) FROM sessions WHERE title = 'bad'"))
    eq(n, 0, "sessions stored from refused POSTs")
    sid = create(h, "sessions", "session", {"title": "move", "starts-at": "2030-06-02T10:00:00Z",
                                            "ends-at": "2030-06-02T11:00:00Z"}, er, o)["id"]
    got = api(h, "PATCH", "/v1/sessions/" + sid, res_body("session", {"ends-at": "2030-07-01T00:00:00Z"}, id=sid),
              token=o)
    check_err(got, 422, "PATCH session ends-at after the event", pointer="/data/attributes/ends-at")
    got = api(h, "PATCH", "/v1/sessions/" + sid, res_body("session", {"starts-at": "2030-06-02T12:00:00Z"}, id=sid),
              token=o)
    check_err(got, 422, "PATCH session starts-at after its ends-at", pointer="/data/attributes/ends-at")
    # moving the event is not blocked by its sessions, and they stay editable
    patch(h, "events", ev["id"], "event", {"starts-at": "2030-07-01T09:00:00Z", "ends-at": "2030-07-02T18:00:00Z"},
          token=owner)
    patch(h, "sessions", sid, "session", {"title": "still editable"}, token=owner)


def test_ticket_sales_window(h):
    owner, admin, ev = world(h)  # event ends 2030-06-03T18:00Z
    er = {"event": ("event", ev["id"])}
    base = {"name": "T", "type": "free", "quantity": 5}
    cases = [("2030-01-01T00:00:00Z", "2030-06-03T18:00:00Z", None),
             ("2030-01-01T00:00:00Z", "2030-06-03T18:00:01Z", "sales-ends-at"),
             ("2030-07-01T00:00:00Z", "2030-08-01T00:00:00Z", "sales-ends-at"),
             ("2030-03-01T00:00:00Z", "2030-02-01T00:00:00Z", "sales-ends-at")]
    for s, e, ptr in cases:
        a = dict(base, **{"sales-starts-at": s, "sales-ends-at": e})
        got = api(h, "POST", "/v1/tickets", res_body("ticket", a, er), token=owner["token"])
        what = "POST /v1/tickets sales %s..%s" % (s, e)
        if ptr is None:
            check_ok_doc("POST", "/v1/tickets", got, 201)
        else:
            check_err(got, 422, what, pointer="/data/attributes/" + ptr)
    tid = create(h, "tickets", "ticket", dict(base, **{"sales-starts-at": "2030-01-01T00:00:00Z",
                                                       "sales-ends-at": "2030-02-01T00:00:00Z"}), er, owner)["id"]
    got = api(h, "PATCH", "/v1/tickets/" + tid,
              res_body("ticket", {"sales-ends-at": "2031-01-01T00:00:00Z"}, id=tid), token=owner["token"])
    check_err(got, 422, "PATCH ticket sales-ends-at after the event", pointer="/data/attributes/sales-ends-at")


def test_event_ends_before_starts(h):
    owner = make_user(h)
    a = {"name": "Backwards", "starts-at": "2030-06-02T00:00:00Z", "ends-at": "2030-06-01T00:00:00Z",
         "timezone": "UTC"}
    check_err(api(h, "POST", "/v1/events", res_body("event", a), token=owner["token"]), 422,
              "POST /v1/events ending before it starts", pointer="/data/attributes/ends-at")
    ev = make_event(h, owner)
    got = api(h, "PATCH", "/v1/events/%d" % ev["id"],
              res_body("event", {"ends-at": "2030-05-01T00:00:00Z"}, id=ev["id"]), token=owner["token"])
    check_err(got, 422, "PATCH event ends-at before starts-at", pointer="/data/attributes/ends-at")


def test_session_type_length_format(h):
    owner, admin, ev = world(h)
    er = {"event": ("event", ev["id"])}
    for good in ("00:15", "01:30", "10:59"):
        create(h, "session-types", "session-type", {"name": good, "length": good}, er, owner)
    for bad in ("1:30", "01:60", "0130", "ab:cd", "01:30:00", ""):
        got = api(h, "POST", "/v1/session-types", res_body("session-type", {"name": "x", "length": bad}, er),
                  token=owner["token"])
        check_err(got, 422, "POST /v1/session-types length %r" % bad, pointer="/data/attributes/length")


# ---- the query language --------------------------------------------------------------------

def query_world(h):
    """Two events of one owner with tracks, speakers, sessions (SQL)."""
    owner = make_user(h)
    u1 = make_user(h, first_name="Ann")
    u2 = make_user(h, first_name="Bob")
    e1 = sql_event(h, owner, name="Alpha Conf")
    e2 = sql_event(h, owner, name="Beta Summit")
    T = {}
    for k, ev, name, color in (("T1", e1, "Web", "#ff0000"), ("T2", e1, "Data", "#00ff00"),
                               ("T3", e2, "Web", "#0000ff"), ("T4", e2, "Cloud", "#ffffff")):
        T[k] = sql_insert(h, "tracks", event_id=ev["id"], name=name, color=color)
    P = {"P1": sql_insert(h, "speakers", event_id=e1["id"], name="Ann", user_id=u1["id"]),
         "P2": sql_insert(h, "speakers", event_id=e1["id"], name="Bob", user_id=u2["id"]),
         "P3": sql_insert(h, "speakers", event_id=e2["id"], name="Cid")}
    S = {}
    rows = [("S1", e1, "Intro SQL", "T2", "2030-06-01T10:00:00Z", "en", "accepted"),
            ("S2", e1, "Advanced Web", "T1", "2030-06-01T11:00:00Z", "de", "confirmed"),
            ("S3", e1, "Web_Perf 100%", "T1", "2030-06-02T09:00:00Z", "en", "pending"),
            ("S4", e1, "Zeta talk", None, None, "fr", "accepted"),
            ("S5", e1, "Data Science", "T2", "2030-06-02T10:00:00Z", "de", "rejected"),
            ("S6", e2, "Alpha Omega", "T3", "2030-06-01T10:00:00Z", "en", "accepted"),
            ("S7", e2, "WebXPerfect", "T4", "2030-06-03T09:00:00Z", "de", "accepted"),
            ("S8", e2, "1000 users", None, "2030-06-01T12:00:00Z", "en", "draft")]
    for k, ev, title, tr, starts, lang, state in rows:
        S[k] = sql_insert(h, "sessions", event_id=ev["id"], title=title, track_id=T[tr] if tr else None,
                          starts_at=starts, language=lang, state=state, creator_id=owner["id"])
    for s, p in (("S1", "P1"), ("S1", "P2"), ("S2", "P1"), ("S3", "P2"), ("S6", "P3")):
        h.sql("INSERT INTO sessions_speakers (session_id, speaker_id) VALUES (%d, %d)" % (S[s], P[p]))
    return {"owner": owner, "u1": u1, "u2": u2, "e1": e1, "e2": e2, "T": T, "P": P, "S": S}


def qpath(base, **params):
    parts = []
    for k, v in params.items():
        if not isinstance(v, str):
            v = json.dumps(v)
        parts.append("%s=%s" % (quote(k, safe="[]"), quote(v, safe="")))
    return base + ("?" + "&".join(parts) if parts else "")


def q(h, base, token, **params):
    path = qpath(base, **params)
    return path, get_ok(h, path, token)


def test_filter_ops(h):
    w = query_world(h)
    S, o = w["S"], w["owner"]["token"]
    f = lambda name, op, val: [{"name": name, "op": op, "val": val}]  # noqa: E731
    cases = [
        (f("title", "eq", "Advanced Web"), ["S2"]),
        (f("language", "ne", "en"), ["S2", "S4", "S5", "S7"]),
        (f("starts-at", "lt", "2030-06-01T11:00:00Z"), ["S1", "S6"]),
        (f("starts-at", "le", "2030-06-01T11:00:00Z"), ["S1", "S2", "S6"]),
        (f("starts-at", "gt", "2030-06-02T00:00:00Z"), ["S3", "S5", "S7"]),
        (f("starts-at", "ge", "2030-06-02T10:00:00Z"), ["S5", "S7"]),
        (f("title", "like", "%Web%"), ["S2", "S3", "S7"]),
        (f("title", "like", "Web_Perf%"), ["S3", "S7"]),  # like takes the pattern as given
        (f("title", "ilike", "%web%"), ["S2", "S3", "S7"]),
        (f("title", "ilike", "%DATA%"), ["S5"]),
        (f("state", "in_", ["accepted", "confirmed"]), ["S1", "S2", "S4", "S6", "S7"]),
        (f("state", "notin_", ["accepted", "confirmed"]), ["S3", "S5", "S8"]),
        (f("starts-at", "is_", None), ["S4"]),
        (f("starts-at", "isnot", None), ["S1", "S2", "S3", "S5", "S6", "S7", "S8"]),
        (f("title", "startswith", "Web_"), ["S3"]),  # _ is literal
        (f("title", "endswith", "talk"), ["S4"]),
        (f("title", "contains", "100%"), ["S3"]),  # % is literal: not "1000 users"
        (f("starts-at", "between", ["2030-06-01T10:00:00Z", "2030-06-01T11:00:00Z"]), ["S1", "S2", "S6"]),
        (f("id", "in_", [S["S8"], S["S2"]]), ["S2", "S8"]),
        (f("id", "eq", S["S5"]), ["S5"]),
        ([{"and": [{"name": "language", "op": "eq", "val": "en"},
                   {"name": "state", "op": "eq", "val": "accepted"}]}], ["S1", "S6"]),
        ([{"name": "language", "op": "eq", "val": "en"}, {"name": "state", "op": "eq", "val": "accepted"}],
         ["S1", "S6"]),
        ([{"or": [{"name": "title", "op": "eq", "val": "Zeta talk"},
                  {"name": "language", "op": "eq", "val": "de"}]}], ["S2", "S4", "S5", "S7"]),
        ([{"not": {"name": "language", "op": "eq", "val": "en"}}], ["S2", "S4", "S5", "S7"]),
        ([{"or": [{"and": [{"name": "language", "op": "eq", "val": "de"},
                           {"not": {"name": "state", "op": "eq", "val": "rejected"}}]},
                  {"name": "title", "op": "startswith", "val": "1000"}]}], ["S2", "S7", "S8"]),
        (f("title", "eq", "no such title"), []),
    ]
    for flt, want in cases:
        path, doc = q(h, "/v1/sessions", o, filter=flt)
        eq(ids_of(doc), [str(S[k]) for k in want], "GET %s (%s): ids" % (path, json.dumps(flt)))
        eq(doc["meta"]["count"], len(want), "GET %s: meta.count" % path)
    # nested routes filter within their parent
    path, doc = q(h, "/v1/events/%s/sessions" % w["e2"]["identifier"], o, filter=f("language", "eq", "en"))
    eq(ids_of(doc), [str(S["S6"]), str(S["S8"])], "GET %s: ids" % path)


def test_filter_through_relationships(h):
    w = query_world(h)
    S, o = w["S"], w["owner"]["token"]
    cases = [
        ([{"name": "track", "op": "has", "val": {"name": "name", "op": "eq", "val": "Web"}}], ["S2", "S3", "S6"]),
        ([{"name": "event", "op": "has", "val": {"name": "name", "op": "eq", "val": "Beta Summit"}}],
         ["S6", "S7", "S8"]),
        ([{"name": "speakers", "op": "any", "val": {"name": "name", "op": "eq", "val": "Bob"}}], ["S1", "S3"]),
        ([{"name": "track", "op": "has", "val": {"name": "name", "op": "eq", "val": "Web"}},
          {"name": "event", "op": "has", "val": {"name": "name", "op": "eq", "val": "Alpha Conf"}}], ["S2", "S3"]),
        ([{"not": {"name": "track", "op": "has", "val": {"name": "name", "op": "eq", "val": "Web"}}}],
         ["S1", "S4", "S5", "S7", "S8"]),
    ]
    for flt, want in cases:
        path, doc = q(h, "/v1/sessions", o, filter=flt)
        eq(ids_of(doc), [str(S[k]) for k in want], "GET %s (%s): ids" % (path, json.dumps(flt)))
    flt = [{"name": "sessions", "op": "any", "val": {"name": "title", "op": "eq", "val": "Alpha Omega"}}]
    path, doc = q(h, "/v1/events", o, filter=flt)
    eq(ids_of(doc), [str(w["e2"]["id"])], "GET %s: ids" % path)
    flt = [{"name": "sessions", "op": "any", "val": {"name": "language", "op": "eq", "val": "fr"}}]
    path, doc = q(h, "/v1/events", None, filter=flt)
    eq(ids_of(doc), [str(w["e1"]["id"])], "GET %s (anonymous): ids" % path)
    # anonymous callers cannot find events through sessions they cannot see (draft S8)
    flt = [{"name": "sessions", "op": "any", "val": {"name": "title", "op": "eq", "val": "1000 users"}}]
    path, doc = q(h, "/v1/events", None, filter=flt)
    eq(ids_of(doc), [], "GET %s (anonymous, through a draft session): ids" % path)
    path, doc = q(h, "/v1/events", o, filter=flt)
    eq(ids_of(doc), [str(w["e2"]["id"])], "GET %s (owner): ids" % path)


def test_sort(h):
    w = query_world(h)
    S, o = w["S"], w["owner"]["token"]
    e1 = w["e1"]["id"]
    cases = [
        ("/v1/events/%d/sessions" % e1, "title", ["S2", "S5", "S1", "S3", "S4"]),
        ("/v1/events/%d/sessions" % e1, "-title", ["S4", "S3", "S1", "S5", "S2"]),
        ("/v1/sessions", "event.name,-language,starts-at", ["S4", "S1", "S3", "S2", "S5", "S6", "S8", "S7"]),
        ("/v1/sessions", "-event.name,language,-starts-at", ["S7", "S8", "S6", "S5", "S2", "S3", "S1", "S4"]),
        ("/v1/sessions", "language,-id", ["S7", "S5", "S2", "S8", "S6", "S3", "S1", "S4"]),
        ("/v1/sessions", "-id", ["S8", "S7", "S6", "S5", "S4", "S3", "S2", "S1"]),
    ]
    for base, sort, want in cases:
        path, doc = q(h, base, o, sort=sort)
        eq(ids_of(doc), [str(S[k]) for k in want], "GET %s: ids" % path)
    # sorted and filtered
    path, doc = q(h, "/v1/sessions", o, sort="-starts-at",
                  filter=[{"name": "starts-at", "op": "isnot", "val": None}])
    got = ids_of(doc)
    eq(got[:5], [str(S[k]) for k in ("S7", "S5", "S3", "S8", "S2")], "GET %s: first five ids" % path)
    eq(sorted(got[5:]), sorted([str(S["S1"]), str(S["S6"])]), "GET %s: the two sessions at 10:00" % path)
    path, doc = q(h, "/v1/sessions", o, sort="-starts-at,title",
                  filter=[{"name": "starts-at", "op": "isnot", "val": None}])
    eq(ids_of(doc), [str(S[k]) for k in ("S7", "S5", "S3", "S8", "S2", "S6", "S1")], "GET %s: ids" % path)
    path, doc = q(h, "/v1/events", o, sort="-name")
    eq(ids_of(doc), [str(w["e2"]["id"]), str(e1)], "GET %s: ids" % path)


def test_pagination_with_filter_and_sort(h):
    w = query_world(h)
    S, o = w["S"], w["owner"]["token"]
    flt = [{"name": "state", "op": "in_", "val": ["accepted", "confirmed"]}]
    pages = [["S2", "S6"], ["S1", "S7"], ["S4"]]
    for n, want in enumerate(pages, 1):
        path = qpath("/v1/sessions", filter=flt, sort="title", **{"page[size]": "2", "page[number]": str(n)})
        doc = get_ok(h, path, o)
        eq(ids_of(doc), [str(S[k]) for k in want], "GET %s: ids" % path)
        eq(doc.get("meta"), {"count": 5}, "GET %s: meta" % path)
        links = doc.get("links") or {}
        for rel, num in (("self", n), ("first", 1), ("last", 3), ("prev", n - 1 if n > 1 else None),
                         ("next", n + 1 if n < 3 else None)):
            if num is None:
                expect(links.get(rel) is None, "GET %s: links.%s %r" % (path, rel, links.get(rel)))
                continue
            p, qs = link_query(links.get(rel), "GET %s: links.%s" % (path, rel))
            eq(p, "/v1/sessions", "GET %s: links.%s path" % (path, rel))
            eq(qs.get("page[number]"), str(num), "GET %s: links.%s page[number]" % (path, rel))
            eq(qs.get("page[size]"), "2", "GET %s: links.%s page[size]" % (path, rel))
            eq(qs.get("sort"), "title", "GET %s: links.%s sort" % (path, rel))
            eq(json.loads(qs.get("filter") or "null"), flt, "GET %s: links.%s filter" % (path, rel))
            # following the link gives the same page as asking for it
            if rel in ("next", "prev"):
                d2 = get_ok(h, links[rel], o)
                eq(ids_of(d2), [str(S[k]) for k in pages[num - 1]], "GET %s (links.%s of %s): ids" %
                   (links[rel], rel, path))
    path = qpath("/v1/sessions", filter=flt, **{"page[size]": "2", "page[number]": "4"})
    doc = get_ok(h, path, o)
    eq(ids_of(doc), [], "GET %s (past the end): ids" % path)
    eq(doc.get("meta"), {"count": 5}, "GET %s: meta" % path)


def included_keys(doc):
    return [(r.get("type"), r.get("id")) for r in doc.get("included") or []]


def linkage(res, rel):
    d = ((res.get("relationships") or {}).get(rel) or {}).get("data", "absent")
    if isinstance(d, list):
        return [x.get("id") for x in d]
    return d if d in (None, "absent") else d.get("id")


def test_include_compound_documents(h):
    w = query_world(h)
    S, P, T, o = w["S"], w["P"], w["T"], w["owner"]["token"]
    flt = [{"name": "id", "op": "in_", "val": [S["S1"], S["S2"], S["S3"]]}]
    path, doc = q(h, "/v1/sessions", o, include="speakers.user", filter=flt)
    eq(ids_of(doc), [str(S[k]) for k in ("S1", "S2", "S3")], "GET %s: ids" % path)
    inc = included_keys(doc)
    eq(len(inc), len(set(inc)), "GET %s: duplicates in included %r" % (path, inc))
    eq(sorted(inc), sorted([("speaker", str(P["P1"])), ("speaker", str(P["P2"])),
                            ("user", str(w["u1"]["id"])), ("user", str(w["u2"]["id"]))]),
       "GET %s: included" % path)
    want_sp = {"S1": ["P1", "P2"], "S2": ["P1"], "S3": ["P2"]}
    for res in doc["data"]:
        k = [k for k, v in S.items() if str(v) == res["id"]][0]
        eq(sorted(linkage(res, "speakers")), sorted(str(P[p]) for p in want_sp[k]),
           "GET %s: session %s relationships.speakers.data" % (path, k))
    for res in doc["included"]:
        if res["type"] == "speaker":
            want = str(w["u1"]["id"]) if res["id"] == str(P["P1"]) else str(w["u2"]["id"])
            eq(linkage(res, "user"), want, "GET %s: included speaker %s user linkage" % (path, res["id"]))
        else:
            expect("email" not in res["attributes"], "GET %s: included user shows email: %s" % (path, show(res)))
    # events with their sessions and the sessions' tracks
    path, doc = q(h, "/v1/events", o, include="sessions.track")
    eq(ids_of(doc), [str(w["e1"]["id"]), str(w["e2"]["id"])], "GET %s: ids" % path)
    inc = included_keys(doc)
    eq(len(inc), len(set(inc)), "GET %s: duplicates in included %r" % (path, inc))
    eq(sorted(inc), sorted([("session", str(v)) for v in S.values()] + [("track", str(v)) for v in T.values()]),
       "GET %s: included" % path)
    for res in doc["data"]:
        want = [str(S[k]) for k in (("S1", "S2", "S3", "S4", "S5") if res["id"] == str(w["e1"]["id"])
                                    else ("S6", "S7", "S8"))]
        eq(sorted(linkage(res, "sessions"), key=int), want, "GET %s: event %s sessions linkage" % (path, res["id"]))
    tracks_of = {"S1": "T2", "S2": "T1", "S3": "T1", "S4": None, "S5": "T2", "S6": "T3", "S7": "T4", "S8": None}
    for res in doc["included"]:
        if res["type"] == "session":
            k = [k for k, v in S.items() if str(v) == res["id"]][0]
            want = str(T[tracks_of[k]]) if tracks_of[k] else None
            eq(linkage(res, "track"), want, "GET %s: included session %s track linkage" % (path, k))
    # several paths sharing objects; detail routes include too
    path, doc = q(h, "/v1/sessions/%d" % S["S1"], o, include="track,speakers,event,track.event")
    inc = included_keys(doc)
    eq(len(inc), len(set(inc)), "GET %s: duplicates in included %r" % (path, inc))
    eq(sorted(inc), sorted([("track", str(T["T2"])), ("speaker", str(P["P1"])), ("speaker", str(P["P2"])),
                            ("event", str(w["e1"]["id"]))]), "GET %s: included" % path)
    eq(linkage(doc["data"], "event"), str(w["e1"]["id"]), "GET %s: event linkage" % path)
    # the primary data is never repeated in included
    path, doc = q(h, "/v1/sessions", o, include="event.sessions", filter=[{"name": "id", "op": "eq", "val": S["S6"]}])
    inc = included_keys(doc)
    eq(sorted(inc), sorted([("event", str(w["e2"]["id"])), ("session", str(S["S7"])), ("session", str(S["S8"]))]),
       "GET %s: included (S6 itself is primary data)" % path)


def test_sparse_fieldsets(h):
    w = query_world(h)
    S, o = w["S"], w["owner"]["token"]
    path, doc = q(h, "/v1/sessions", o, **{"fields[session]": "title,starts-at",
                                           "filter": [{"name": "id", "op": "eq", "val": S["S1"]}]})
    res = doc["data"][0]
    eq(sorted(res["attributes"]), ["starts-at", "title"], "GET %s: attributes" % path)
    eq(sorted(res.get("relationships") or {}), [], "GET %s: relationships" % path)
    eq(res["attributes"]["title"], "Intro SQL", "GET %s: title" % path)
    path, doc = q(h, "/v1/sessions/%d" % S["S1"], o, **{"fields[session]": "title,track", "include": "track",
                                                          "fields[track]": "name"})
    res = doc["data"]
    eq(sorted(res["attributes"]), ["title"], "GET %s: attributes" % path)
    eq(sorted(res.get("relationships") or {}), ["track"], "GET %s: relationships" % path)
    eq(linkage(res, "track"), str(w["T"]["T2"]), "GET %s: track linkage" % path)
    eq([sorted(r["attributes"]) for r in doc["included"]], [["name"]], "GET %s: included attributes" % path)
    path, doc = q(h, "/v1/events/%d" % w["e1"]["id"], o, **{"fields[event]": "name,ends-at,starts-at"})
    eq(sorted(doc["data"]["attributes"]), ["ends-at", "name", "starts-at"], "GET %s: attributes" % path)


def test_bad_query_parameters_are_400(h):
    w = query_world(h)
    o = w["owner"]["token"]
    cases = [
        ("/v1/sessions", {"filter": '[{"name":"nope","op":"eq","val":1}]'}, "filter"),
        ("/v1/sessions", {"filter": '[{"name":"title","op":"regex","val":"x"}]'}, "filter"),
        ("/v1/sessions", {"filter": '[{"name":"title","op":"eq"'}, "filter"),
        ("/v1/sessions", {"filter": "not json"}, "filter"),
        ("/v1/sessions", {"filter": '[{"name":"title","val":"x"}]'}, "filter"),
        ("/v1/sessions", {"filter": '[{"name":"title","op":"has","val":{"name":"id","op":"eq","val":1}}]'}, "filter"),
        ("/v1/sessions", {"filter": '[{"name":"speakers","op":"has","val":{"name":"id","op":"eq","val":1}}]'},
         "filter"),
        ("/v1/sessions", {"filter": '[{"name":"track","op":"any","val":{"name":"id","op":"eq","val":1}}]'}, "filter"),
        ("/v1/sessions", {"filter": '[{"name":"track","op":"has","val":{"name":"nope","op":"eq","val":1}}]'},
         "filter"),
        ("/v1/sessions", {"filter": '[{"name":"starts-at","op":"eq","val":"not a time"}]'}, "filter"),
        ("/v1/sessions", {"filter": '[{"name":"starts-at","op":"gt","val":"2030-13-45T00:00:00Z"}]'}, "filter"),
        ("/v1/sessions", {"filter": '[{"name":"id","op":"eq","val":"abc"}]'}, "filter"),
        ("/v1/sessions", {"filter": '[{"name":"state","op":"in_","val":"accepted"}]'}, "filter"),
        ("/v1/sessions", {"filter": '[{"name":"id","op":"between","val":[1]}]'}, "filter"),
        ("/v1/events", {"filter": '[{"name":"sessions","op":"any","val":{"name":"nope","op":"eq","val":1}}]'},
         "filter"),
        ("/v1/sessions", {"sort": "nope"}, "sort"),
        ("/v1/sessions", {"sort": "title,-nope"}, "sort"),
        ("/v1/sessions", {"sort": "event.nope"}, "sort"),
        ("/v1/sessions", {"sort": "nope.name"}, "sort"),
        ("/v1/sessions", {"sort": "speakers.name"}, "sort"),
        ("/v1/sessions", {"include": "nope"}, "include"),
        ("/v1/sessions", {"include": "speakers.nope"}, "include"),
        ("/v1/sessions", {"include": "track,title"}, "include"),
        ("/v1/sessions", {"fields[session]": "nope"}, "fields[session]"),
        ("/v1/sessions", {"fields[session]": "title,nope"}, "fields[session]"),
        ("/v1/sessions", {"fields[nope]": "title"}, "fields[nope]"),
        ("/v1/events/%d" % w["e1"]["id"], {"include": "nope"}, "include"),
        ("/v1/events/%d" % w["e1"]["id"], {"fields[event]": "nope"}, "fields[event]"),
        ("/v1/events/%d/sessions" % w["e1"]["id"], {"sort": "nope"}, "sort"),
    ]
    for base, params, param in cases:
        path = qpath(base, **params)
        for tok in (o, None):
            check_err(api(h, "GET", path, token=tok), 400, "GET %s" % path, parameter=param)
    # write-only and private attributes cannot be filtered on, not even by admins
    admin = make_user(h, admin=True)
    for flt in ('[{"name":"password","op":"eq","val":"x"}]', '[{"name":"password","op":"like","val":"$argon2%"}]'):
        path = qpath("/v1/users", filter=flt)
        check_err(api(h, "GET", path, token=admin["token"]), 400, "GET %s (admin)" % path, parameter="filter")
    # a caller who may not list at all learns that first (spec §2 order)
    path = qpath("/v1/users", filter='[{"name":"nope","op":"eq","val":1}]')
    check_err(api(h, "GET", path), 401, "GET %s (anonymous)" % path)
    check_err(api(h, "GET", path, token=o), 403, "GET %s (not an admin)" % path)
