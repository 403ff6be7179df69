"""Writes: document checks (409 type, 400 id/data, 403 client ids), value
validation (422 with pointers), missing relationships (404), media types
(415/406), unique emails (409), sign-up and passwords (spec §1, §2, §5)."""

import json

from fixtures import (EV_ENDS, EV_STARTS, JSONAPI, api, auth, check_err, create, login, make_event, make_user,
                      res_body, signup)
from helpers import check_ok_doc, eq, expect, show


def world(h):
    owner = make_user(h)
    ev = make_event(h, owner, name="W")
    return owner, ev


def event_attrs(**over):
    a = {"name": "E", "starts-at": EV_STARTS, "ends-at": EV_ENDS, "timezone": "UTC"}
    a.update(over)
    return a


def raw(h, method, path, body, token=None, content_type=JSONAPI, extra=None):
    hd = dict(auth(token))
    if content_type is not None:
        hd["Content-Type"] = content_type
    hd.update(extra or {})
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    return h.json(method, path, headers=hd, body=body)


def test_wrong_type_is_409(h):
    owner, ev = world(h)
    o = owner["token"]
    er = {"event": ("event", ev["id"])}
    got = api(h, "POST", "/v1/tracks", res_body("session", {"name": "T", "color": "#000000"}, er), token=o)
    check_err(got, 409, "POST /v1/tracks with type session", pointer="/data/type")
    got = api(h, "POST", "/v1/tracks", res_body("tracks", {"name": "T", "color": "#000000"}, er), token=o)
    check_err(got, 409, "POST /v1/tracks with type tracks (plural)", pointer="/data/type")
    p = "/v1/events/%d" % ev["id"]
    check_err(api(h, "PATCH", p, res_body("Event", {"name": "x"}, id=ev["id"]), token=o), 409,
              "PATCH %s with type Event" % p, pointer="/data/type")
    # relationship linkage of the wrong type
    got = api(h, "POST", "/v1/sessions", res_body("session", {"title": "S"}, {"event": ("track", ev["id"])}), token=o)
    check_err(got, 409, "POST /v1/sessions with event linkage of type track", pointer="/data/relationships/event")
    # type missing or not a string: 400
    for body in ({"data": {"attributes": {"name": "x"}}}, {"data": {"type": 5, "attributes": {"name": "x"}}}):
        check_err(api(h, "POST", "/v1/events", body, token=o), 400, "POST /v1/events %s" % json.dumps(body),
                  pointer="/data/type")
    eq(h.sql("SELECT count(*) FROM tracks"), "0", "tracks stored")


def test_patch_id_must_match(h):
    owner, ev = world(h)
    o = owner["token"]
    p = "/v1/events/%d" % ev["id"]
    other = make_event(h, owner, name="Other")
    bodies = [
        ("a different id", {"data": {"type": "event", "id": str(other["id"]), "attributes": {"name": "x"}}}),
        ("no id", {"data": {"type": "event", "attributes": {"name": "x"}}}),
        ("the id as a number", {"data": {"type": "event", "id": ev["id"], "attributes": {"name": "x"}}}),
        ("id null", {"data": {"type": "event", "id": None, "attributes": {"name": "x"}}}),
        ("id ' 1'", {"data": {"type": "event", "id": " %d" % ev["id"], "attributes": {"name": "x"}}}),
        ("the identifier", {"data": {"type": "event", "id": ev["identifier"], "attributes": {"name": "x"}}}),
    ]
    for what, body in bodies:
        check_err(api(h, "PATCH", p, body, token=o), 400, "PATCH %s with %s" % (p, what), pointer="/data/id")
    eq(h.sql("SELECT count(*) FROM events WHERE name = 'x'"), "0", "events renamed by refused PATCHes")


def test_patch_by_identifier(h):
    """Events are addressable by identifier on every route (spec §1); the
    resource's id, which data.id must equal, is still the numeric one."""
    owner, ev = world(h)
    o = owner["token"]
    pi = "/v1/events/%s" % ev["identifier"]
    doc = check_ok_doc("PATCH", pi, api(h, "PATCH", pi, res_body("event", {"name": "By ident"}, id=ev["id"]),
                                        token=o))
    eq(doc["data"]["attributes"]["name"], "By ident", "PATCH %s: name" % pi)
    other = make_event(h, owner, name="Other")
    got = api(h, "PATCH", pi, res_body("event", {"name": "x"}, id=other["id"]), token=o)
    check_err(got, 400, "PATCH %s with another event's id" % pi, pointer="/data/id")
    p = pi + "/relationships/event-topic"
    check_ok_doc("PATCH", p, api(h, "PATCH", p, {"data": None}, token=o))
    st, hd, doc = api(h, "DELETE", pi, token=o)
    eq(st, 200, "DELETE %s: status" % pi)
    check_err(api(h, "GET", pi, token=o), 404, "GET %s after DELETE" % pi)


def test_ids_as_numbers_are_400(h):
    owner, ev = world(h)
    o = owner["token"]
    body = {"data": {"type": "track", "attributes": {"name": "T", "color": "#000000"},
                     "relationships": {"event": {"data": {"type": "event", "id": ev["id"]}}}}}
    check_err(api(h, "POST", "/v1/tracks", body, token=o), 400, "POST /v1/tracks with event id as a number",
              pointer="/data/relationships/event")
    tr = create(h, "tracks", "track", {"name": "T", "color": "#000000"}, {"event": ("event", ev["id"])}, o)
    sp = create(h, "speakers", "speaker", {"name": "S"}, {"event": ("event", ev["id"])}, o)
    body = {"data": {"type": "session", "attributes": {"title": "S"},
                     "relationships": {"event": {"data": {"type": "event", "id": str(ev["id"])}},
                                       "speakers": {"data": [{"type": "speaker", "id": int(sp["id"])}]}}}}
    check_err(api(h, "POST", "/v1/sessions", body, token=o), 400, "POST /v1/sessions with a speaker id as a number",
              pointer="/data/relationships/speakers")
    path = "/v1/tracks/%s" % tr["id"]
    check_err(api(h, "PATCH", path, {"data": {"type": "track", "id": int(tr["id"]), "attributes": {"name": "U"}}},
                  token=o), 400, "PATCH %s with data.id a number" % path, pointer="/data/id")
    eq(h.sql("SELECT count(*) FROM sessions"), "0", "sessions stored")


def test_client_generated_ids_are_403(h):
    owner = make_user(h)
    body = {"data": {"type": "event", "id": "77", "attributes": event_attrs()}}
    check_err(api(h, "POST", "/v1/events", body, token=owner["token"]), 403, "POST /v1/events with data.id",
              pointer="/data/id")
    eq(h.sql("SELECT count(*) FROM events"), "0", "events stored")


def test_data_must_be_one_object(h):
    owner, ev = world(h)
    o = owner["token"]
    p = "/v1/events/%d" % ev["id"]
    for what, body in (("data an array", {"data": [{"type": "event", "attributes": event_attrs()}]}),
                       ("data an empty array", {"data": []}),
                       ("data null", {"data": None}),
                       ("data a string", {"data": "event"}),
                       ("no data", {"type": "event", "attributes": event_attrs()})):
        check_err(api(h, "POST", "/v1/events", body, token=o), 400, "POST /v1/events with %s" % what, pointer="/data")
        check_err(api(h, "PATCH", p, body, token=o), 400, "PATCH %s with %s" % (p, what), pointer="/data")
    for what, body, ptr in (
            ("attributes an array", {"data": {"type": "event", "attributes": [1]}}, "/data/attributes"),
            ("relationships an array", {"data": {"type": "event", "attributes": event_attrs(), "relationships": []}},
             "/data/relationships"),
    ):
        check_err(api(h, "POST", "/v1/events", body, token=o), 400, "POST /v1/events with %s" % what, pointer=ptr)
    er = {"event": ("event", ev["id"])}
    for what, rel, ptr in (
            ("to-one linkage an array", {"event": {"data": [{"type": "event", "id": str(ev["id"])}]}},
             "/data/relationships/event"),
            ("a relationship without data", {"event": {"id": str(ev["id"])}}, "/data/relationships/event"),
            ("linkage without id", {"event": {"data": {"type": "event"}}}, "/data/relationships/event"),
    ):
        body = {"data": {"type": "track", "attributes": {"name": "T", "color": "#000000"}, "relationships": rel}}
        check_err(api(h, "POST", "/v1/tracks", body, token=o), 400, "POST /v1/tracks with %s" % what, pointer=ptr)
    body = {"data": {"type": "session", "attributes": {"title": "S"},
                     "relationships": {"event": {"data": {"type": "event", "id": str(ev["id"])}},
                                       "speakers": {"data": {"type": "speaker", "id": "1"}}}}}
    check_err(api(h, "POST", "/v1/sessions", body, token=o), 400, "POST /v1/sessions with to-many linkage an object",
              pointer="/data/relationships/speakers")
    del er


def test_unknown_attributes_and_relationships_are_422(h):
    owner, ev = world(h)
    o = owner["token"]
    cases = [("nope", "/data/attributes/nope"), ("starts_at_x", "/data/attributes/starts_at_x"),
             ("Name", "/data/attributes/Name"), ("id", "/data/attributes/id"), ("type", "/data/attributes/type")]
    for name, ptr in cases:
        a = event_attrs(**{name: "x"})
        check_err(api(h, "POST", "/v1/events", res_body("event", a), token=o), 422,
                  "POST /v1/events with attribute %s" % name, pointer=ptr)
        p = "/v1/events/%d" % ev["id"]
        check_err(api(h, "PATCH", p, res_body("event", {name: "x"}, id=ev["id"]), token=o), 422,
                  "PATCH %s with attribute %s" % (p, name), pointer=ptr)
    body = res_body("track", {"name": "T", "color": "#000000"}, {"event": ("event", ev["id"])})
    body["data"]["relationships"]["nope"] = {"data": None}
    check_err(api(h, "POST", "/v1/tracks", body, token=o), 422, "POST /v1/tracks with relationship nope",
              pointer="/data/relationships/nope")
    eq(h.sql("SELECT count(*) FROM events"), "1", "events stored")


def test_wrong_value_types_are_422(h):
    owner, ev = world(h)
    o = owner["token"]
    er = {"event": ("event", ev["id"])}
    cases = [
        ("events", "event", event_attrs(name=5), None, "name"),
        ("events", "event", event_attrs(name=None), None, "name"),
        ("events", "event", event_attrs(name="   "), None, "name"),
        ("events", "event", event_attrs(**{"starts-at": "tomorrow"}), None, "starts-at"),
        ("events", "event", event_attrs(**{"starts-at": 1893456000}), None, "starts-at"),
        ("events", "event", event_attrs(online="yes"), None, "online"),
        ("events", "event", event_attrs(online=1), None, "online"),
        ("events", "event", event_attrs(latitude="north"), None, "latitude"),
        ("events", "event", event_attrs(latitude=True), None, "latitude"),
        ("events", "event", event_attrs(state="live"), None, "state"),
        ("events", "event", event_attrs(privacy="secret"), None, "privacy"),
        ("events", "event", event_attrs(description={"a": 1}), None, "description"),
        ("events", "event", event_attrs(timezone=["UTC"]), None, "timezone"),
        ("tracks", "track", {"name": "T", "color": "#000000", "position": 1.5}, er, "position"),
        ("tracks", "track", {"name": "T", "color": "#000000", "position": "3"}, er, "position"),
        ("tracks", "track", {"name": "T", "color": 0}, er, "color"),
        ("sessions", "session", {"title": "S", "state": "maybe"}, er, "state"),
        ("sessions", "session", {"title": ["S"]}, er, "title"),
        ("speakers", "speaker", {"name": "S", "is-featured": "true"}, er, "is-featured"),
        ("tickets", "ticket", {"name": "T", "type": "vip", "quantity": 1, "sales-starts-at": "2030-01-01T00:00:00Z",
                               "sales-ends-at": "2030-02-01T00:00:00Z"}, er, "type"),
        ("tickets", "ticket", {"name": "T", "type": "free", "quantity": "ten",
                               "sales-starts-at": "2030-01-01T00:00:00Z", "sales-ends-at": "2030-02-01T00:00:00Z"},
         er, "quantity"),
        ("social-links", "social-link", {"name": "x", "link": "javascript:alert(1)"}, er, "link"),
        ("sponsors", "sponsor", {"name": "x", "url": "ftp://x"}, er, "url"),
        ("microlocations", "microlocation", {"name": "x", "floor": "2"}, er, "floor"),
    ]
    for path, type_, attrs, rels, bad in cases:
        got = api(h, "POST", "/v1/" + path, res_body(type_, attrs, rels), token=o)
        check_err(got, 422, "POST /v1/%s with %s=%r" % (path, bad, attrs.get(bad)), pointer="/data/attributes/" + bad)
    p = "/v1/events/%d" % ev["id"]
    for attrs, bad in (({"online": "no"}, "online"), ({"starts-at": "2030-06-01"}, None),
                       ({"name": None}, "name"), ({"timezone": None}, "timezone")):
        got = api(h, "PATCH", p, res_body("event", attrs, id=ev["id"]), token=o)
        if bad is None:
            check_ok_doc("PATCH", p, got)
        else:
            check_err(got, 422, "PATCH %s with %r" % (p, attrs), pointer="/data/attributes/" + bad)
    eq(h.sql("SELECT count(*) FROM events"), "1", "events stored")
    for t in ("tracks", "sessions", "speakers", "tickets", "social_links", "sponsors", "microlocations"):
        eq(h.sql("SELECT count(*) FROM %s" % t), "0", "%s stored" % t)


def test_out_of_range_values_are_422_with_pointer(h):
    """Values of the right JSON type that the database refuses (a CHECK, the
    column's range, a date that does not exist) are validation errors too:
    422 naming the field."""
    owner, ev = world(h)
    o = owner["token"]
    er = {"event": ("event", ev["id"])}
    cases = [
        ("events", "event", event_attrs(latitude=91), None, "latitude"),
        ("events", "event", event_attrs(longitude=-180.5), None, "longitude"),
        ("tickets", "ticket", {"name": "T", "type": "free", "quantity": -1,
                               "sales-starts-at": "2030-01-01T00:00:00Z", "sales-ends-at": "2030-02-01T00:00:00Z"},
         er, "quantity"),
        ("tickets", "ticket", {"name": "T", "type": "paid", "quantity": 1, "price": -5,
                               "sales-starts-at": "2030-01-01T00:00:00Z", "sales-ends-at": "2030-02-01T00:00:00Z"},
         er, "price"),
        ("tracks", "track", {"name": "T", "color": "#000000", "position": 2 ** 40}, er, "position"),
        ("microlocations", "microlocation", {"name": "x", "latitude": 123.0}, er, "latitude"),
        ("events", "event", event_attrs(**{"ends-at": "2030-02-30T00:00:00Z"}), None, "ends-at"),
        ("events", "event", event_attrs(**{"starts-at": "2030-06-01T25:00:00Z"}), None, "starts-at"),
        ("microlocations", "microlocation", {"name": "x", "floor": -2 ** 31 - 1}, er, "floor"),
    ]
    failures = []
    for path, type_, attrs, rels, bad in cases:
        got = api(h, "POST", "/v1/" + path, res_body(type_, attrs, rels), token=o)
        try:
            check_err(got, 422, "POST /v1/%s with %s=%r" % (path, bad, attrs.get(bad)),
                      pointer="/data/attributes/" + bad)
        except AssertionError as e:
            failures.append(str(e))
        expect(got[0] < 500, "POST /v1/%s with %s=%r: status %d" % (path, bad, attrs.get(bad), got[0]))
    expect(not failures, "%d of %d cases:\n  %s" % (len(failures), len(cases), "\n  ".join(failures)))


def test_missing_required_values_are_422(h):
    owner, ev = world(h)
    o = owner["token"]
    er = {"event": ("event", ev["id"])}
    for name in ("name", "starts-at", "ends-at", "timezone"):
        a = event_attrs()
        del a[name]
        check_err(api(h, "POST", "/v1/events", res_body("event", a), token=o), 422,
                  "POST /v1/events without %s" % name, pointer="/data/attributes/" + name)
    check_err(api(h, "POST", "/v1/events", {"data": {"type": "event"}}, token=o), 422,
              "POST /v1/events without attributes")
    cases = [("sessions", "session", {}, "title"), ("tracks", "track", {"name": "T"}, "color"),
             ("tracks", "track", {"color": "#000000"}, "name"),
             ("session-types", "session-type", {"name": "x"}, "length"),
             ("social-links", "social-link", {"name": "x"}, "link"),
             ("tickets", "ticket", {"name": "T", "type": "free", "quantity": 1,
                                    "sales-starts-at": "2030-01-01T00:00:00Z"}, "sales-ends-at")]
    for path, type_, attrs, missing in cases:
        check_err(api(h, "POST", "/v1/" + path, res_body(type_, attrs, er), token=o), 422,
                  "POST /v1/%s without %s" % (path, missing), pointer="/data/attributes/" + missing)
    # the event relationship is required of every sub-resource
    for path, type_, attrs in (("sessions", "session", {"title": "S"}),
                               ("tracks", "track", {"name": "T", "color": "#000000"}),
                               ("speakers", "speaker", {"name": "S"})):
        check_err(api(h, "POST", "/v1/" + path, res_body(type_, attrs), token=o), 422,
                  "POST /v1/%s without an event" % path, pointer="/data/relationships/event")
        check_err(api(h, "POST", "/v1/" + path, res_body(type_, attrs, {"event": None}), token=o), 422,
                  "POST /v1/%s with event null" % path, pointer="/data/relationships/event")
    # sign-up without email or password
    check_err(api(h, "POST", "/v1/users", res_body("user", {"password": "password-1"})), 422,
              "POST /v1/users without email", pointer="/data/attributes/email")
    check_err(api(h, "POST", "/v1/users", res_body("user", {"email": "x@example.com"})), 422,
              "POST /v1/users without password", pointer="/data/attributes/password")
    eq(h.sql("SELECT count(*) FROM users WHERE email = 'x@example.com'"), "0", "users stored")


def test_relationship_to_missing_object_is_404(h):
    owner, ev = world(h)
    o = owner["token"]
    stranger = make_user(h)
    hidden = make_event(h, stranger, name="Hidden", state="draft")
    trashed = make_event(h, owner, name="Trashed")
    h.sql("UPDATE events SET deleted_at = now() WHERE id = %d" % trashed["id"])
    for eid, what in ((999999, "a missing event"), (hidden["id"], "someone else's draft event"),
                      (trashed["id"], "a trashed event"), ("99999999999999999999", "an out-of-range id"),
                      ("0", "id 0")):
        got = api(h, "POST", "/v1/sessions", res_body("session", {"title": "S"}, {"event": ("event", eid)}), token=o)
        check_err(got, 404, "POST /v1/sessions with %s" % what, pointer="/data/relationships/event")
    er = {"event": ("event", ev["id"])}
    for rels, what, ptr in (
            ({"track": ("track", 999999)}, "a missing track", "track"),
            ({"speakers": [("speaker", 999999)]}, "a missing speaker", "speakers"),
            ({"microlocation": ("microlocation", 999999)}, "a missing microlocation", "microlocation"),
            ({"session-type": ("session-type", 999999)}, "a missing session type", "session-type"),
    ):
        rels = dict(er, **rels)
        got = api(h, "POST", "/v1/sessions", res_body("session", {"title": "S"}, rels), token=o)
        check_err(got, 404, "POST /v1/sessions with %s" % what, pointer="/data/relationships/" + ptr)
    got = api(h, "POST", "/v1/events", res_body("event", event_attrs(), {"event-topic": ("event-topic", 999999)}),
              token=o)
    check_err(got, 404, "POST /v1/events with a missing event-topic", pointer="/data/relationships/event-topic")
    got = api(h, "POST", "/v1/users-events-roles",
              res_body("users-events-role", None, {"user": ("user", 999999), "event": ("event", ev["id"]),
                                                   "role": ("role", 2)}), token=o)
    check_err(got, 404, "POST /v1/users-events-roles with a missing user", pointer="/data/relationships/user")
    got = api(h, "POST", "/v1/users-events-roles",
              res_body("users-events-role", None, {"user": ("user", stranger["id"]), "event": ("event", ev["id"]),
                                                   "role": ("role", 99)}), token=o)
    check_err(got, 404, "POST /v1/users-events-roles with a missing role", pointer="/data/relationships/role")
    eq(h.sql("SELECT count(*) FROM sessions"), "0", "sessions stored")


def test_media_types(h):
    owner, ev = world(h)
    o = owner["token"]
    body = json.dumps(res_body("event", event_attrs()))
    for ct in ("application/json", "application/vnd.api+json; charset=utf-8", "text/plain",
               "application/vnd.api+json;ext=bulk", "multipart/form-data; boundary=x", None):
        got = raw(h, "POST", "/v1/events", body, token=o, content_type=ct)
        check_err(got, 415, "POST /v1/events with Content-Type %r" % ct)
        p = "/v1/events/%d" % ev["id"]
        got = raw(h, "PATCH", p, json.dumps(res_body("event", {"name": "x"}, id=ev["id"])), token=o, content_type=ct)
        check_err(got, 415, "PATCH %s with Content-Type %r" % (p, ct))
    eq(h.sql("SELECT count(*) FROM events"), "1", "events stored")
    # the media type's name is case-insensitive
    got = raw(h, "POST", "/v1/events", body, token=o, content_type="Application/Vnd.Api+JSON")
    check_ok_doc("POST", "/v1/events (Content-Type in mixed case)", got, 201)
    # 406 when every JSON:API media type in Accept carries parameters
    for accept, want in (("application/vnd.api+json; ext=x", 406),
                         ("application/vnd.api+json; ext=x, application/vnd.api+json; profile=y", 406),
                         ("application/vnd.api+json; ext=x, application/vnd.api+json", 200),
                         ("*/*", 200), ("application/json", 200)):
        got = api(h, "GET", "/v1/events", headers={"Accept": accept})
        if want == 200:
            check_ok_doc("GET", "/v1/events (Accept: %s)" % accept, got)
        else:
            check_err(got, 406, "GET /v1/events (Accept: %s)" % accept)
    # 415 comes before 401 (spec §2 order)
    check_err(raw(h, "POST", "/v1/events", body, content_type="application/json"), 415,
              "POST /v1/events anonymously with Content-Type application/json")
    # login takes plain JSON
    st, hd, doc = h.json("POST", "/v1/auth/login", headers={"Content-Type": "application/json"},
                         body={"email": "nobody@example.com", "password": "whatever-1"})
    eq(st, 401, "POST /v1/auth/login (plain JSON, unknown user): status")


def test_duplicate_email_is_409(h):
    signup(h, "Dup@Example.com", "password-1")
    for email in ("Dup@Example.com", "dup@example.com", "DUP@EXAMPLE.COM"):
        got = api(h, "POST", "/v1/users", res_body("user", {"email": email, "password": "password-2"}))
        check_err(got, 409, "POST /v1/users with taken email %s" % email)
    eq(h.sql("SELECT count(*) FROM users"), "1", "users stored")
    # changing one's email to a taken one
    other = signup(h, "other@example.com", "password-3")
    tok = login(h, "other@example.com", "password-3")
    p = "/v1/users/%d" % other["id"]
    got = api(h, "PATCH", p, res_body("user", {"email": "dUP@example.com"}, id=other["id"]), token=tok)
    check_err(got, 409, "PATCH %s to a taken email" % p)
    eq(h.sql("SELECT email FROM users WHERE id = %d" % other["id"]), "other@example.com", "email after refused PATCH")
    # a trashed user's email is free again
    h.sql("UPDATE users SET deleted_at = now() WHERE lower(email) = 'dup@example.com'")
    signup(h, "dup@example.com", "password-4")


def test_sign_up_and_password_never_returned(h):
    pw = "correct horse battery staple"
    u = signup(h, "Sign.Up@example.com", pw, **{"first-name": "Sig"})
    doc = u["doc"]
    expect(pw not in json.dumps(doc), "POST /v1/users: the password is in the response")
    a = doc["data"]["attributes"]
    expect("password" not in a, "POST /v1/users: password attribute rendered: %s" % show(a))
    eq(a.get("email"), "Sign.Up@example.com", "POST /v1/users: email")
    eq(a.get("is-admin"), False, "POST /v1/users: is-admin")
    eq(a.get("is-verified"), False, "POST /v1/users: is-verified")
    stored = h.sql("SELECT password_hash FROM users WHERE id = %d" % u["id"])
    expect(stored.startswith("$argon2id$") and pw not in stored, "stored password is not an argon2id hash: %r" %
           stored[:20])
    tok = login(h, "sign.up@EXAMPLE.com", pw)
    admin = make_user(h, admin=True)
    for path, t in (("/v1/users/%d" % u["id"], tok), ("/v1/users/%d" % u["id"], admin["token"]),
                    ("/v1/users", admin["token"]),
                    ("/v1/users?fields[user]=email,first-name", admin["token"])):
        st, hd, body = h.request("GET", path, headers=auth(t))
        eq(st, 200, "GET %s: status" % path)
        expect(pw.encode() not in body and b"argon2" not in body and b'"password' not in body,
               "GET %s: the password or its hash is in the body" % path)
    check_err(api(h, "GET", "/v1/users?fields[user]=password", token=admin["token"]), 400,
              "GET /v1/users?fields[user]=password", parameter="fields[user]")
    # a signed-up user cannot make themselves admin or verified
    p = "/v1/users/%d" % u["id"]
    for attr in ("is-admin", "is-super-admin", "is-verified"):
        got = api(h, "PATCH", p, res_body("user", {attr: True}, id=u["id"]), token=tok)
        check_err(got, 403, "PATCH %s %s=true by the user" % (p, attr))
    eq(h.sql("SELECT is_admin OR is_super_admin OR is_verified FROM users WHERE id = %d" % u["id"]), "f",
       "flags after the refused PATCHes")
    got = api(h, "POST", "/v1/users", res_body("user", {"email": "x@example.com", "password": "password-1",
                                                       "is-admin": True}))
    check_err(got, 403, "POST /v1/users with is-admin=true (anonymous)")
    # changing one's password through PATCH works and is hashed too
    got = api(h, "PATCH", p, res_body("user", {"password": "new password 2"}, id=u["id"]), token=tok)
    check_ok_doc("PATCH", p, got)
    expect("new password 2" not in json.dumps(got[2]), "PATCH %s: the password is in the response" % p)
    login(h, "sign.up@example.com", "new password 2")


def test_password_length_limit(h):
    long_pw = "p" * 1025
    got = api(h, "POST", "/v1/users", res_body("user", {"email": "long@example.com", "password": long_pw}))
    check_err(got, 422, "POST /v1/users with a 1025-byte password", pointer="/data/attributes/password")
    got = api(h, "POST", "/v1/users", res_body("user", {"email": "long@example.com", "password": "é" * 513}))
    check_err(got, 422, "POST /v1/users with a 1026-byte (513 characters) password",
              pointer="/data/attributes/password")
    got = api(h, "POST", "/v1/users", res_body("user", {"email": "long@example.com", "password": "p" * 100000}))
    check_err(got, 422, "POST /v1/users with a 100000-byte password", pointer="/data/attributes/password")
    eq(h.sql("SELECT count(*) FROM users"), "0", "users stored")
    u = signup(h, "max@example.com", "q" * 1024)
    login(h, "max@example.com", "q" * 1024)
    tok = login(h, "max@example.com", "q" * 1024)
    p = "/v1/users/%d" % u["id"]
    got = api(h, "PATCH", p, res_body("user", {"password": "r" * 1025}, id=u["id"]), token=tok)
    check_err(got, 422, "PATCH %s with a 1025-byte password" % p, pointer="/data/attributes/password")
    for pw in (5, None, ["x" * 10]):
        got = api(h, "POST", "/v1/users", res_body("user", {"email": "t@example.com", "password": pw}))
        check_err(got, 422, "POST /v1/users with password %r" % (pw,), pointer="/data/attributes/password")
    st, hd, doc = h.json("POST", "/v1/auth/login", headers={"Content-Type": "application/json"},
                         body={"email": "max@example.com", "password": "q" * 1025})
    expect(st in (401, 422), "POST /v1/auth/login with a 1025-byte password: status %d" % st)
    eq(st, 422, "POST /v1/auth/login with a 1025-byte password: status")
