"""Permission matrix (spec §2 order of checks, §4 trash, §5 roles and
visibility; issue 4, item 8): callers x routes, the exact status of every
cell.

The matrix is data. A row is one request (method, path template, body
factory, optional fresh target per cell) and the expected answer of each
caller; a cell is (caller, row). Every cell runs and is compared; a test
fails listing ALL mismatching cells (caller, method, path, expected, got),
and prints how many cells it checked.

Callers (columns):
  anon         no Authorization header
  stranger     signed in (signed up and logged in through the API), no role
  proposer     signed in, no role; creator of proposals (sessions, a speaker)
               on event P
  owner        creator of the events P, D, V, C (role 1)
  organizer    role 2 on P, D, V, C
  coorganizer  role 3 on P, D, V, C
  trackorg     role 4 (track_organizer) on P, D, V, C
  moderator    role 5 on P, D, V, C
  other        owner of another event O (no role on P, D, V, C)
  admin        made by `create-admin`, logged in through the API

Events:
  P  published, public, call for sessions open (is-sessions-speakers-enabled)
  C  published, public, call for sessions closed
  D  draft, public, call open
  V  published, private, call open
  O  published, public, owned by `other`

Cell values: an HTTP status (int), or, for a 200 answer of a row with a
probe, the probe's word: "in"/"out" (the row's object is / is not among the
returned data or linkage), "public"/"private" (a user object without / with
its email).

Choices where the spec is silent or ambiguous are marked CHOICE in comments.
"""

import base64
import json
import random
import secrets
import time

from helpers import JSONAPI, show, sql_lit
from fixtures import create_admin, grant, login, make_user, res_body, signup, sql_event, sql_insert, token_for
from test_upload import multipart, png

CALLERS = ["anon", "stranger", "proposer", "owner", "organizer", "coorganizer", "trackorg",
           "moderator", "other", "admin"]
STAFF = ("owner", "organizer", "coorganizer", "trackorg", "moderator")
ROLE_OF = {"owner": 1, "organizer": 2, "coorganizer": 3, "trackorg": 4, "moderator": 5}

# the password of every user in the account rows (the stranger signs up with it)
SHARED_PASSWORD = "stranger-password-1"

EV_STARTS = "2030-06-01T09:00:00Z"
EV_ENDS = "2030-06-03T18:00:00Z"
SALES_START = "2030-01-01T00:00:00Z"
SALES_END = "2030-05-01T00:00:00Z"


# ---- expected rows ---------------------------------------------------------------


def E(anon, out, org, staff=None, tr=None, mod=None, prop=None, other=None, owner=None,
      admin=None, stranger=None):
    """Expected values per caller: anon; `out` for signed-in outsiders
    (stranger, proposer, other); `org` for organisers (owner, organizer,
    coorganizer) and admins; `staff` for the other staff (track organizer,
    moderator; default: as org); then per-caller overrides."""
    staff = org if staff is None else staff
    return {
        "anon": anon,
        "stranger": out if stranger is None else stranger,
        "proposer": out if prop is None else prop,
        "owner": org if owner is None else owner,
        "organizer": org,
        "coorganizer": org,
        "trackorg": staff if tr is None else tr,
        "moderator": staff if mod is None else mod,
        "other": out if other is None else other,
        "admin": org if admin is None else admin,
    }


def ALL(v):
    return {c: v for c in CALLERS}


def vis(ev, val, prop_sees=False):
    """A read of something under event ev: everyone on P and C (published,
    public); on D and V (draft, private) only staff and admins, else 404.
    val: the value when visible (a constant or a function of the caller).
    prop_sees: the proposer sees it too (their own proposal)."""
    out = {}
    for c in CALLERS:
        v = val(c) if callable(val) else val
        if ev in ("P", "C", "O") or c in STAFF or c == "admin" or (prop_sees and c == "proposer"):
            out[c] = v
        else:
            out[c] = 404
    return out


def hidden_in_list(prop_sees=False):
    """Membership of an object that only staff/admins (and maybe its creator)
    may see, in a list that anyone may read."""
    return {c: ("in" if c in STAFF or c == "admin" or (prop_sees and c == "proposer") else "out")
            for c in CALLERS}


def emailv(*selves):
    """Probe value of a user object: "private" (email shown) for the user
    itself and admins, else "public"."""
    return lambda c: "private" if c in selves or c == "admin" else "public"


# ---- probes ----------------------------------------------------------------------


def contains(key):
    """'in' when the object ctx[key] is among doc.data (list, linkage, or a
    single object)."""
    def probe(doc, ctx):
        want = str(ctx[key])
        data = (doc or {}).get("data")
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            return "out"
        return "in" if any(isinstance(r, dict) and r.get("id") == want for r in data) else "out"
    probe.what = "contains " + key
    return probe


PUBLIC_USER_ATTRS = {"public-name", "first-name", "last-name", "avatar-url"}


def email_probe(doc, ctx):
    """'private' when the user object shows its email; 'public' when it shows
    exactly the public attributes (spec §1 user); else what differs."""
    data = (doc or {}).get("data")
    if not isinstance(data, dict):
        return "no-data"
    keys = set(data.get("attributes") or {})
    if "email" in keys:
        return "private"
    if keys == PUBLIC_USER_ATTRS:
        return "public"
    return "public with extra %s, missing %s" % (sorted(keys - PUBLIC_USER_ATTRS),
                                                  sorted(PUBLIC_USER_ATTRS - keys))


email_probe.what = "email shown? (public: only public-name, first-name, last-name, avatar-url)"


def R(method, path, exp, body=None, fresh=None, probe=None, ctype=None, label=None, auth=None):
    """auth: a function (h, F, caller) -> the token the cell sends, instead of
    the caller's own (rows that revoke what they are sent with)."""
    assert set(exp) == set(CALLERS), (method, path)
    return {"method": method, "path": path, "exp": exp, "body": body, "fresh": fresh,
            "probe": probe, "ctype": ctype, "label": label, "auth": auth}


# ---- fixtures --------------------------------------------------------------------


# The sub-resources of an event: JSON:API type -> route, table, SQL columns of
# a fixture row, attributes of a POST, relationships (name, kind of target).
SUBS = {
    "track": dict(path="tracks", table="tracks", cols=dict(name="Track", color="#ff0000"),
                  attrs={"name": "New track", "color": "#00ff00"},
                  rels=[("event", "event"), ("sessions", "session")]),
    "microlocation": dict(path="microlocations", table="microlocations", cols=dict(name="Room"),
                          attrs={"name": "New room"},
                          rels=[("event", "event"), ("sessions", "session")]),
    "sponsor": dict(path="sponsors", table="sponsors", cols=dict(name="Sponsor"),
                    attrs={"name": "New sponsor"}, rels=[("event", "event")]),
    "session-type": dict(path="session-types", table="session_types", cols=dict(name="Talk", length="00:30"),
                         attrs={"name": "New type", "length": "00:45"},
                         rels=[("event", "event"), ("sessions", "session")]),
    "social-link": dict(path="social-links", table="social_links",
                        cols=dict(name="Site", link="https://example.com/"),
                        attrs={"name": "New link", "link": "https://example.org/"},
                        rels=[("event", "event")]),
    "ticket": dict(path="tickets", table="tickets",
                   cols=dict(name="Ticket", type="free", quantity=10, sales_starts_at=SALES_START,
                             sales_ends_at=SALES_END),
                   attrs={"name": "New ticket", "type": "free", "quantity": 5,
                          "sales-starts-at": SALES_START, "sales-ends-at": SALES_END},
                   rels=[("event", "event")]),
    "speaker": dict(path="speakers", table="speakers", cols=dict(name="Speaker"),
                    attrs={"name": "New speaker"},
                    rels=[("event", "event"), ("user", "user"), ("sessions", "session")]),
    "session": dict(path="sessions", table="sessions", cols=dict(title="Session", state="accepted"),
                    attrs={"title": "New session"},
                    rels=[("event", "event"), ("track", "track"), ("session-type", "session-type"),
                          ("microlocation", "microlocation"), ("speakers", "speaker"),
                          ("creator", "user")]),
}
NAME_ATTR = {"session": "title"}
EVENTS = ("P", "C", "D", "V")


def bulk(h, table, n, **cols):
    """n rows of table in one statement; returns their ids."""
    names = ", ".join(cols)
    vals = ", ".join(sql_lit(v) for v in cols.values())
    out = h.sql("INSERT INTO %s (%s) SELECT %s FROM generate_series(1, %d) RETURNING id"
                % (table, names, vals, n))
    return [int(x) for x in out.split()]


def build(h):
    """Users, tokens, the events and every object the rows name. Returns the
    context dict F (ids by key, plus F['tok'] and F['uid'] per caller)."""
    # The server caches users rows per worker for 30 s by id; the harness's
    # TRUNCATE ... RESTART IDENTITY would hand the previous test's ids (maybe
    # deleted or admin there) to our users.
    h.sql("SELECT setval(pg_get_serial_sequence('users', 'id'), %d)" % random.randint(10**6, 10**12))
    F = {"tok": {}, "uid": {}}
    tag = secrets.token_hex(3)
    su = signup(h, "stranger-%s@example.com" % tag, "stranger-password-1", **{"first-name": "Stan"})
    F["uid"]["stranger"] = su["id"]
    F["tok"]["stranger"] = login(h, su["email"], su["password"])
    ad = create_admin(h, "admin-%s@example.com" % tag, "admin-password-1")
    F["uid"]["admin"], F["tok"]["admin"] = ad["id"], ad["token"]
    for c in ("proposer", "owner", "organizer", "coorganizer", "trackorg", "moderator", "other"):
        u = make_user(h, "%s-%s@example.com" % (c, tag), first_name=c.title(), public_name=c)
        F["uid"][c], F["tok"][c] = u["id"], u["token"]
    uid = F["uid"]
    for c in CALLERS:
        if c in uid:
            F["u_" + c] = uid[c]

    F["topic"] = sql_insert(h, "event_topics", name="Topic %s" % tag)
    specs = {"P": ("published", "public", True), "C": ("published", "public", False),
             "D": ("draft", "public", True), "V": ("published", "private", True)}
    for ev, (state, privacy, call) in specs.items():
        e = sql_event(h, owner=uid["owner"], name="Event " + ev, state=state, privacy=privacy,
                      is_sessions_speakers_enabled=call, event_topic_id=F["topic"])
        F[ev], F[ev + "_ident"] = e["id"], e["identifier"]
        for c in ("organizer", "coorganizer", "trackorg", "moderator"):
            gid = grant(h, uid[c], e["id"], ROLE_OF[c])
            if c == "moderator":
                F["gmod_" + ev] = gid
        F["gown_" + ev] = int(h.sql("SELECT id FROM users_events_roles WHERE event_id = %d AND role_id = 1"
                                    % e["id"]))
        for typ, s in SUBS.items():
            if typ in ("session", "speaker"):
                continue
            F["%s_%s" % (typ, ev)] = sql_insert(h, s["table"], event_id=e["id"], **s["cols"])
        F["speaker_" + ev] = sql_insert(h, "speakers", event_id=e["id"], name="Speaker", user_id=uid["organizer"])
        F["session_" + ev] = sql_insert(h, "sessions", event_id=e["id"], title="Accepted", state="accepted",
                                        creator_id=uid["owner"], track_id=F["track_" + ev],
                                        session_type_id=F["session-type_" + ev],
                                        microlocation_id=F["microlocation_" + ev])
        h.sql("INSERT INTO sessions_speakers (session_id, speaker_id) VALUES (%d, %d)"
              % (F["session_" + ev], F["speaker_" + ev]))
    o = sql_event(h, owner=uid["other"], name="Other's event")
    F["O"] = o["id"]
    F["gown_O"] = int(h.sql("SELECT id FROM users_events_roles WHERE event_id = %d AND role_id = 1" % o["id"]))
    # proposals of `proposer` on P
    F["spk_prop"] = sql_insert(h, "speakers", event_id=F["P"], name="Proposer", user_id=uid["proposer"])
    F["s_pend"] = sql_insert(h, "sessions", event_id=F["P"], title="Pending", state="pending",
                             creator_id=uid["proposer"], track_id=F["track_P"])
    F["s_draft"] = sql_insert(h, "sessions", event_id=F["P"], title="Draft", state="draft",
                              creator_id=uid["proposer"], track_id=F["track_P"])
    F["s_acc_prop"] = sql_insert(h, "sessions", event_id=F["P"], title="Accepted proposal", state="accepted",
                                 creator_id=uid["proposer"])
    h.sql("INSERT INTO sessions_speakers (session_id, speaker_id) VALUES (%d, %d)" % (F["s_pend"], F["spk_prop"]))
    # a trashed track of P
    F["t_trash"] = sql_insert(h, "tracks", event_id=F["P"], name="Trashed", color="#123456",
                              deleted_at="2026-01-01T00:00:00Z")
    return F


# fresh targets: one per caller, made in one statement before the row runs

def fresh_sub(typ, ev, **over):
    s = SUBS[typ]

    def make(h, F, n):
        cols = dict(s["cols"])
        cols.update(over)
        return bulk(h, s["table"], n, event_id=F[ev], **cols)
    return make


def fresh_session(state, creator="proposer", ev="P"):
    def make(h, F, n):
        return bulk(h, "sessions", n, event_id=F[ev], title="Fresh " + state, state=state,
                    creator_id=F["uid"][creator])
    return make


def fresh_events(state="published", privacy="public", ident=False):
    """Events with the same staff as P (owner, organizer, ...); their ids, or
    their identifiers when ident."""
    def make(h, F, n):
        vals = ", ".join("(%d, %d)" % (F["uid"][c], ROLE_OF[c]) for c in ROLE_OF)
        out = h.sql(
            "WITH e AS (INSERT INTO events (name, starts_at, ends_at, timezone, state, privacy) "
            "SELECT 'Fresh', %s, %s, 'UTC', %s, %s FROM generate_series(1, %d) RETURNING id, identifier), "
            "r AS (INSERT INTO users_events_roles (user_id, event_id, role_id) "
            "SELECT u.uid, e.id, u.rid FROM e, (VALUES %s) u(uid, rid)) SELECT id, identifier FROM e ORDER BY id"
            % (sql_lit(EV_STARTS), sql_lit(EV_ENDS), sql_lit(state), sql_lit(privacy), n, vals))
        rows = [line.split("|") for line in out.split()]
        return [r[1] if ident else int(r[0]) for r in rows]
    return make


def fresh_users(h, F, n):
    return [int(x) for x in h.sql(
        "INSERT INTO users (email) SELECT 'victim-' || g || '-%s@example.com' "
        "FROM generate_series(1, %d) g RETURNING id" % (secrets.token_hex(4), n)).split()]


def fresh_grants(ev):
    """A moderator grant on event ev for a fresh user, per cell."""
    def make(h, F, n):
        out = h.sql(
            "WITH u AS (INSERT INTO users (email) SELECT 'grantee-' || g || '-%s@example.com' "
            "FROM generate_series(1, %d) g RETURNING id) "
            "INSERT INTO users_events_roles (user_id, event_id, role_id) SELECT u.id, %d, 5 FROM u "
            "RETURNING id" % (secrets.token_hex(4), n, F[ev]))
        return [int(x) for x in out.split()]
    return make


def fresh_topics(h, F, n):
    return [int(x) for x in h.sql(
        "INSERT INTO event_topics (name) SELECT 'Fresh topic ' || g || ' %s' FROM generate_series(1, %d) g "
        "RETURNING id" % (secrets.token_hex(4), n)).split()]


# ---- body factories -------------------------------------------------------------


def post_body(typ, ev, **attrs):
    def body(ctx):
        a = dict(SUBS[typ]["attrs"])
        a.update(attrs)
        return res_body(typ, a, {"event": ("event", ctx[ev])})
    return body


def patch_body(typ, key="new", **attrs):
    def body(ctx):
        a = attrs or {NAME_ATTR.get(typ, "name"): "Renamed by %s" % ctx["caller"]}
        return res_body(typ, a, id=ctx[key])
    return body


def linkage_body(typ, key):
    return lambda ctx: {"data": {"type": typ, "id": str(ctx[key])}}


BAD_JSON = b'{"data": {"type": '


# ---- rows ------------------------------------------------------------------------


def rows_event_reads(F):
    """Events and everything under them, read on P, C, D and V."""
    rows = []
    for ev in EVENTS:
        rows.append(R("GET", "/v1/events/{%s}" % ev, vis(ev, 200)))
        rows.append(R("GET", "/v1/events/{%s_ident}" % ev, vis(ev, 200), label="by identifier"))
        rel_probe = {
            "sessions": "session_", "speakers": "speaker_", "tracks": "track_",
            "microlocations": "microlocation_", "sponsors": "sponsor_", "session-types": "session-type_",
            "social-links": "social-link_", "tickets": "ticket_", "users-events-roles": "gmod_",
        }
        for rel in ("sessions", "speakers", "tracks", "microlocations", "sponsors", "session-types",
                    "social-links", "tickets", "event-topic", "owner", "users-events-roles"):
            for kind in ("related", "linkage"):
                path = ("/v1/events/{%s}/%s" if kind == "related" else "/v1/events/{%s}/relationships/%s") % (ev, rel)
                if rel == "owner" and kind == "related":
                    # through nested routes others see only the public names (§1 user)
                    rows.append(R("GET", path, vis(ev, emailv("owner")), probe=email_probe))
                elif rel == "owner":
                    rows.append(R("GET", path, vis(ev, "in"), probe=contains("u_owner")))
                elif rel == "event-topic":
                    rows.append(R("GET", path, vis(ev, "in"), probe=contains("topic")))
                elif rel == "users-events-roles":
                    # CHOICE: grants are seen by the event's staff, the grantee and
                    # admins; for others this list is filtered (200, without them).
                    exp = vis(ev, lambda c: "in" if c in STAFF or c == "admin" else "out")
                    rows.append(R("GET", path, exp, probe=contains("gmod_" + ev)))
                else:
                    rows.append(R("GET", path, vis(ev, "in"), probe=contains(rel_probe[rel] + ev)))
        # the proposer's pending and draft sessions are not in the lists of others
        if ev == "P":
            for key in ("s_pend", "s_draft"):
                rows.append(R("GET", "/v1/events/{P}/sessions", hidden_in_list(True), probe=contains(key)))
                rows.append(R("GET", "/v1/events/{P}/relationships/sessions", hidden_in_list(True),
                              probe=contains(key)))
            rows.append(R("GET", "/v1/events/{P_ident}/sessions", hidden_in_list(True), probe=contains("s_pend"),
                          label="by identifier"))
        if ev == "D":
            rows.append(R("GET", "/v1/events/{D_ident}/sessions", vis(ev, "in"), probe=contains("session_D"),
                          label="by identifier"))
    # sub-resources by their own routes
    for typ, s in SUBS.items():
        for ev in EVENTS:
            key = "%s_%s" % (typ, ev)
            base = "/v1/%s/{%s}" % (s["path"], key)
            rows.append(R("GET", base, vis(ev, 200)))
            for rel, target in s["rels"]:
                tkey = {"event": ev, "user": "u_organizer", "session": "session_" + ev,
                        "speaker": "speaker_" + ev}.get(target, "%s_%s" % (target, ev))
                if typ == "session" and rel == "creator":
                    tkey = "u_owner"
                for kind in ("related", "linkage"):
                    path = base + ("/%s" if kind == "related" else "/relationships/%s") % rel
                    if kind == "related" and target == "user":
                        selves = ("owner",) if rel == "creator" else ("organizer",)
                        rows.append(R("GET", path, vis(ev, emailv(*selves)), probe=email_probe))
                    else:
                        rows.append(R("GET", path, vis(ev, "in"), probe=contains(tkey)))
    # the proposer's own proposals on P: hidden from anonymous and strangers
    pend = vis("D", 200, prop_sees=True)
    for key in ("s_pend", "s_draft"):
        rows.append(R("GET", "/v1/sessions/{%s}" % key, pend))
        rows.append(R("GET", "/v1/sessions/{%s}/event" % key, vis("D", "in", True), probe=contains("P")))
        rows.append(R("GET", "/v1/sessions/{%s}/relationships/track" % key, vis("D", "in", True),
                      probe=contains("track_P")))
        rows.append(R("GET", "/v1/sessions/{%s}/creator" % key,
                      vis("D", emailv("proposer"), True), probe=email_probe))
        rows.append(R("GET", "/v1/sessions", hidden_in_list(True), probe=contains(key)))
        rows.append(R("GET", "/v1/tracks/{track_P}/sessions", hidden_in_list(True), probe=contains(key)))
        rows.append(R("GET", "/v1/tracks/{track_P}/relationships/sessions", hidden_in_list(True),
                      probe=contains(key)))
    rows.append(R("GET", "/v1/speakers/{spk_prop}", ALL(200)))
    rows.append(R("GET", "/v1/speakers/{spk_prop}/sessions", hidden_in_list(True), probe=contains("s_pend")))
    rows.append(R("GET", "/v1/speakers/{spk_prop}/relationships/sessions", hidden_in_list(True),
                  probe=contains("s_pend")))
    rows.append(R("GET", "/v1/sessions/{s_pend}/speakers", vis("D", "in", True), probe=contains("spk_prop")))
    # global lists
    rows.append(R("GET", "/v1/events", ALL("in"), probe=contains("P")))
    for ev in ("D", "V"):
        # CHOICE: lists follow the detail rule: staff and admins see drafts and
        # private events of theirs in /v1/events too.
        rows.append(R("GET", "/v1/events", hidden_in_list(), probe=contains(ev)))
        rows.append(R("GET", "/v1/sessions", hidden_in_list(), probe=contains("session_" + ev)))
        rows.append(R("GET", "/v1/tracks", hidden_in_list(), probe=contains("track_" + ev)))
    rows.append(R("GET", "/v1/sessions", ALL("in"), probe=contains("session_P")))
    rows.append(R("GET", "/v1/tracks", ALL("in"), probe=contains("track_P")))
    rows.append(R("GET", "/v1/events/{P}/tracks", ALL("out"), probe=contains("t_trash"), label="trashed"))
    rows.append(R("GET", "/v1/tracks/{t_trash}", ALL(404), label="trashed"))
    return rows


def rows_writes(F):
    """Creates, updates, deletes and relationship updates of events and their
    sub-resources; proposals; session states."""
    rows = []
    # events
    rows.append(R("POST", "/v1/events", E(401, 201, 201),
                  body=lambda ctx: res_body("event", {"name": "By " + ctx["caller"], "starts-at": EV_STARTS,
                                                      "ends-at": EV_ENDS, "timezone": "UTC"})))
    for ev in ("P", "D", "V"):
        out = 403 if ev == "P" else 404
        rows.append(R("PATCH", "/v1/events/{%s}" % ev, E(401, out, 200, staff=403),
                      body=patch_body("event", ev)))
        rows.append(R("PATCH", "/v1/events/{%s}/relationships/event-topic" % ev, E(401, out, 200, staff=403),
                      body=linkage_body("event-topic", "topic")))
    # CHOICE: the role table lists "delete or purge it" for the owner only;
    # organizers and coorganizers "write" the event but may not delete it.
    rows.append(R("DELETE", "/v1/events/{new}", E(401, 403, 403, owner=200, admin=200),
                  fresh=fresh_events(), label="published"))
    rows.append(R("DELETE", "/v1/events/{new}", E(401, 404, 403, owner=200, admin=200),
                  fresh=fresh_events("draft"), label="draft"))
    rows.append(R("DELETE", "/v1/events/{new}", E(401, 404, 403, owner=200, admin=200),
                  fresh=fresh_events("draft", ident=True), label="draft, by identifier"))
    rows.append(R("DELETE", "/v1/events/{new}?permanent=true", E(401, 403, 403, owner=200, admin=200),
                  fresh=fresh_events(), label="purge"))
    # sub-resources other than sessions: organisers write them (§5)
    for typ, s in SUBS.items():
        if typ == "session":
            continue
        for ev in ("P", "D", "V", "C"):
            out = 403 if ev in ("P", "C") else 404
            if typ == "speaker" and ev == "P":
                # a proposal: anyone signed in, on a published event with an open call
                post_exp = E(401, 201, 201)
            elif typ == "speaker" and ev == "V":
                # CHOICE: V is published with an open call, so whoever may see
                # it (its staff) may propose; outsiders cannot see it (404)
                post_exp = E(401, 404, 201)
            elif typ == "speaker":
                post_exp = E(401, out, 201, staff=403)
            else:
                post_exp = E(401, out, 201, staff=403)
            if ev == "C" and typ != "speaker":
                continue  # C differs from P only by its call for sessions
            rows.append(R("POST", "/v1/" + s["path"], post_exp, body=post_body(typ, ev), label="event " + ev))
            if ev == "C":
                continue
            key = "%s_%s" % (typ, ev)
            rows.append(R("PATCH", "/v1/%s/{%s}" % (s["path"], key), E(401, out, 200, staff=403),
                          body=patch_body(typ, key)))
            rows.append(R("DELETE", "/v1/%s/{new}" % s["path"], E(401, out, 200, staff=403),
                          fresh=fresh_sub(typ, ev), label="event " + ev))
        rows.append(R("PATCH", "/v1/%s/{%s_P}/relationships/event" % (s["path"], typ), ALL(405),
                      label="fixed to-one"))
    rows.append(R("PATCH", "/v1/speakers/{speaker_P}/relationships/user", E(401, 403, 200, staff=403),
                  body=linkage_body("user", "u_organizer")))
    rows.append(R("PATCH", "/v1/speakers/{speaker_D}/relationships/user", E(401, 404, 200, staff=403),
                  body=linkage_body("user", "u_organizer")))
    # the speaker's own user may edit it (CHOICE: not delete it)
    rows.append(R("PATCH", "/v1/speakers/{spk_prop}", E(401, 403, 200, staff=403, prop=200),
                  body=patch_body("speaker", "spk_prop")))
    rows.append(R("DELETE", "/v1/speakers/{new}", E(401, 403, 200, staff=403, prop=403),
                  fresh=fresh_sub("speaker", "P", user_id=F["uid"]["proposer"]), label="the proposer's"))
    # sessions: organisers and track organisers write them (§5)
    for ev in ("P", "C", "D", "V"):
        out = 403 if ev in ("P", "C") else 404
        if ev == "P":
            post_exp = E(401, 201, 201)  # proposals
        elif ev == "V":
            post_exp = E(401, 404, 201)  # proposals by those who see it (see speakers)
        else:
            post_exp = E(401, out, 201, staff=403, tr=201)
        rows.append(R("POST", "/v1/sessions", post_exp, body=post_body("session", ev), label="event " + ev))
        if ev == "C":
            continue
        key = "session_" + ev
        rows.append(R("PATCH", "/v1/sessions/{%s}" % key, E(401, out, 200, staff=403, tr=200),
                      body=patch_body("session", key)))
        rows.append(R("DELETE", "/v1/sessions/{new}", E(401, out, 200, staff=403, tr=200),
                      fresh=fresh_session("accepted", "owner", ev), label="event " + ev))
        for rel, typ in (("track", "track"), ("session-type", "session-type"), ("microlocation", "microlocation")):
            rows.append(R("PATCH", "/v1/sessions/{%s}/relationships/%s" % (key, rel),
                          E(401, out, 200, staff=403, tr=200), body=linkage_body(typ, "%s_%s" % (typ, ev))))
    # a relationship to an object of another event (D's track) is not found
    rows.append(R("POST", "/v1/sessions", E(401, 404, 404), label="track of another event",
                  body=lambda ctx: res_body("session", {"title": "Cross"}, {
                      "event": ("event", ctx["P"]), "track": ("track", ctx["track_D"])})))
    # events by identifier on writes too (spec §1)
    rows.append(R("PATCH", "/v1/events/{P_ident}", E(401, 403, 200, staff=403), body=patch_body("event", "P"),
                  label="by identifier"))
    rows.append(R("PATCH", "/v1/events/{D_ident}", E(401, 404, 200, staff=403), body=patch_body("event", "D"),
                  label="by identifier"))
    for rel in ("speakers", "event", "creator"):
        rows.append(R("PATCH", "/v1/sessions/{session_P}/relationships/" + rel, ALL(405),
                      label="to-many or fixed or read-only"))
    # a proposal may start as draft or pending only
    rows.append(R("POST", "/v1/sessions", E(401, 403, 201, staff=403, tr=201),
                  body=post_body("session", "P", state="accepted"), label="proposal already accepted"))
    # session states (§5): organisers and track organisers any; the creator
    # draft -> pending and any -> withdrawn. Sessions not accepted/confirmed
    # are invisible to outsiders (404).
    st = lambda state: (lambda ctx: res_body("session", {"state": state}, id=ctx["new"]))  # noqa: E731
    writer = dict(staff=403, tr=200)
    for cur, new, prop in (("draft", "pending", 200), ("pending", "accepted", 403),
                           ("pending", "withdrawn", 200), ("draft", "withdrawn", 200),
                           ("draft", "accepted", 403), ("withdrawn", "pending", 403),
                           ("accepted", "withdrawn", 200), ("accepted", "confirmed", 403),
                           ("confirmed", "withdrawn", 200), ("rejected", "withdrawn", 200),
                           ("accepted", "rejected", 403)):
        out = 403 if cur in ("accepted", "confirmed") else 404
        rows.append(R("PATCH", "/v1/sessions/{new}", E(401, out, 200, prop=prop, **writer),
                      body=st(new), fresh=fresh_session(cur), label="%s -> %s (proposer's)" % (cur, new)))
    # the creator edits their proposal (CHOICE: edits yes, delete no: they withdraw)
    rows.append(R("PATCH", "/v1/sessions/{new}", E(401, 404, 200, prop=200, **writer),
                  body=patch_body("session"), fresh=fresh_session("pending"), label="title of a pending proposal"))
    rows.append(R("DELETE", "/v1/sessions/{new}", E(401, 404, 200, prop=403, **writer),
                  fresh=fresh_session("pending"), label="a pending proposal"))
    # the session of another creator: the proposer is a stranger to it
    rows.append(R("PATCH", "/v1/sessions/{new}", E(401, 403, 200, **writer),
                  body=st("withdrawn"), fresh=fresh_session("accepted", "owner"),
                  label="accepted -> withdrawn (owner's session)"))
    return rows


def rows_misc(F):
    """Users, roles, grants, event topics, trash, the order of checks."""
    rows = []
    # users (§1: /v1/users admin; /v1/users/{id} self or admin)
    rows.append(R("GET", "/v1/users", E(401, 403, 403, admin=200)))
    rows.append(R("POST", "/v1/users", ALL(201), label="sign-up",
                  body=lambda ctx: res_body("user", {"email": "new-%s-%s@example.com" % (
                      ctx["caller"], secrets.token_hex(3)), "password": "new-password-1"})))
    owner_only = E(401, 403, 403, owner=200, admin=200)
    rows.append(R("GET", "/v1/users/{u_owner}", owner_only))
    rows.append(R("PATCH", "/v1/users/{u_owner}", owner_only, body=patch_body("user", "u_owner",
                                                                             **{"first-name": "Olive"})))
    rows.append(R("GET", "/v1/users/{me}", E(401, 200, 200), label="self"))
    rows.append(R("GET", "/v1/users/{me}", E(401, "private", "private"), probe=email_probe, label="self"))
    rows.append(R("PATCH", "/v1/users/{me}", E(401, 200, 200), label="self",
                  body=lambda ctx: res_body("user", {"last-name": "Self"}, id=ctx["me"])))
    for attr in ("is-admin", "is-verified"):
        # §1: is-admin writable by admins, is-verified by email verification or admins
        rows.append(R("PATCH", "/v1/users/{me}", E(401, 403, 403, admin=200), label="self, " + attr,
                      body=(lambda a: lambda ctx: res_body("user", {a: True}, id=ctx["me"]))(attr)))
    rows.append(R("DELETE", "/v1/users/{new}", E(401, 403, 403, admin=200), fresh=fresh_users,
                  label="another user"))
    # CHOICE: the events of a user are the user's business, like
    # /v1/users/{id} (the original's EventList refuses others than the user
    # itself with 403 on /v1/users/{id}/events); a user's sessions and
    # speakers are lists of objects that have their own visibility (200,
    # filtered), as in the original.
    for kind in ("related", "linkage"):
        path = "/v1/users/{u_owner}/" + ("events" if kind == "related" else "relationships/events")
        rows.append(R("GET", path, E(401, 403, 403, owner="in", admin="in"), probe=contains("P")))
        path = "/v1/users/{u_proposer}/" + ("sessions" if kind == "related" else "relationships/sessions")
        rows.append(R("GET", path, hidden_in_list(True), probe=contains("s_pend")))
        rows.append(R("GET", path, ALL("in"), probe=contains("s_acc_prop")))
        path = "/v1/users/{u_organizer}/" + ("speakers" if kind == "related" else "relationships/speakers")
        rows.append(R("GET", path, ALL("in"), probe=contains("speaker_P")))
        rows.append(R("GET", path, hidden_in_list(), probe=contains("speaker_D")))
    # the public face of users through nested routes
    rows.append(R("GET", "/v1/events/{O}/owner", ALL("public") | {"other": "private", "admin": "private"},
                  probe=email_probe))
    # roles: static, read by anyone, no writes (405: no such method on the route)
    rows.append(R("GET", "/v1/roles", ALL(200)))
    rows.append(R("GET", "/v1/roles/1", ALL(200)))
    rows.append(R("GET", "/v1/roles/99", ALL(404)))
    rows.append(R("POST", "/v1/roles", ALL(405), body=res_body("role", {"name": "x"})))
    rows.append(R("PATCH", "/v1/roles/1", ALL(405), body=res_body("role", {"name": "x"}, id=1)))
    rows.append(R("DELETE", "/v1/roles/1", ALL(405)))
    # users-events-roles: grant and revoke by the owner and admins
    staff_or_self = E(401, 404, 200)
    rows.append(R("GET", "/v1/users-events-roles", E(401, "out", "in"), probe=contains("gmod_P")))
    rows.append(R("GET", "/v1/users-events-roles", E(401, "out", "in"), probe=contains("gmod_D")))
    # CHOICE: grants need a signed-in caller (401 for anonymous, as the list);
    # signed-in callers who are not the grantee nor staff cannot see them (404).
    rows.append(R("GET", "/v1/users-events-roles/{gmod_P}", staff_or_self))
    rows.append(R("GET", "/v1/users-events-roles/{gown_P}", staff_or_self))
    for rel, key in (("event", "P"), ("role", None), ("user", "u_moderator")):
        if rel == "user":
            rows.append(R("GET", "/v1/users-events-roles/{gmod_P}/user",
                          E(401, 404, "public", mod="private", admin="private"), probe=email_probe))
        else:
            rows.append(R("GET", "/v1/users-events-roles/{gmod_P}/" + rel, staff_or_self))
        rows.append(R("GET", "/v1/users-events-roles/{gmod_P}/relationships/" + rel, staff_or_self))

    def grant_body(ev, role=5):
        return lambda ctx: {"data": {"type": "users-events-role", "relationships": {
            "user": {"data": {"type": "user", "id": str(ctx["new"])}},
            "event": {"data": {"type": "event", "id": str(ctx[ev])}},
            "role": {"data": {"type": "role", "id": str(role)}}}}}
    rows.append(R("POST", "/v1/users-events-roles", E(401, 403, 403, owner=201, admin=201),
                  body=grant_body("P"), fresh=fresh_users, label="moderator on P"))
    rows.append(R("POST", "/v1/users-events-roles", E(401, 403, 403, owner=201, admin=201),
                  body=grant_body("P", 2), fresh=fresh_users, label="organizer on P"))
    rows.append(R("POST", "/v1/users-events-roles", E(401, 404, 403, owner=201, admin=201),
                  body=grant_body("D"), fresh=fresh_users, label="moderator on D"))
    # CHOICE: outsiders cannot see a grant (GET 404), so revoking it is 404
    # too (spec §2: 404 where existence must not leak); staff who see it: 403.
    rows.append(R("DELETE", "/v1/users-events-roles/{new}", E(401, 404, 403, owner=200, admin=200),
                  fresh=fresh_grants("P"), label="on P"))
    rows.append(R("DELETE", "/v1/users-events-roles/{new}", E(401, 404, 403, owner=200, admin=200),
                  fresh=fresh_grants("D"), label="on D"))
    rows.append(R("PATCH", "/v1/users-events-roles/{gmod_P}", ALL(405),
                  body=lambda ctx: {"data": {"type": "users-events-role", "id": str(ctx["gmod_P"])}}))
    rows.append(R("GET", "/v1/events/{O}/users-events-roles", ALL("out") | {"other": "in", "admin": "in"},
                  probe=contains("gown_O")))
    # event topics: read by anyone, written by admins
    rows.append(R("GET", "/v1/event-topics", ALL("in"), probe=contains("topic")))
    rows.append(R("GET", "/v1/event-topics/{topic}", ALL(200)))
    rows.append(R("GET", "/v1/event-topics/{topic}/events", ALL("in"), probe=contains("P")))
    rows.append(R("GET", "/v1/event-topics/{topic}/events", hidden_in_list(), probe=contains("D")))
    rows.append(R("GET", "/v1/event-topics/{topic}/relationships/events", hidden_in_list(), probe=contains("V")))
    admin_only = lambda ok: E(401, 403, 403, admin=ok)  # noqa: E731
    rows.append(R("POST", "/v1/event-topics", admin_only(201),
                  body=lambda ctx: res_body("event-topic", {
                      "name": "Topic by %s %s" % (ctx["caller"], secrets.token_hex(3))})))
    rows.append(R("PATCH", "/v1/event-topics/{topic}", admin_only(200),
                  body=lambda ctx: res_body("event-topic", {"system-image-url": "https://example.com/t.png"},
                                            id=ctx["topic"])))
    rows.append(R("DELETE", "/v1/event-topics/{new}", admin_only(200), fresh=fresh_topics))
    # trash (§4): admins all; organisers the trash of their events; other
    # signed-in callers 403; anonymous 401.
    trash_p = E(401, 403, 200, staff=403)
    rows.append(R("GET", "/v1/events?with_trashed=true", E(401, 403, 200, staff=403, other=200),
                  label="other is an organiser of O"))
    rows.append(R("GET", "/v1/events?get_trashed=true", E(401, 403, 200, staff=403, other=200)))
    rows.append(R("GET", "/v1/events?only_trashed=true", E(401, 403, 200, staff=403, other=200)))
    rows.append(R("GET", "/v1/events/{P}?with_trashed=true", trash_p))
    rows.append(R("GET", "/v1/events/{P}/tracks?with_trashed=true",
                  E(401, 403, "in", staff=403), probe=contains("t_trash")))
    rows.append(R("GET", "/v1/events/{P}/tracks?only_trashed=true",
                  E(401, 403, "in", staff=403), probe=contains("t_trash")))
    rows.append(R("GET", "/v1/tracks/{t_trash}?with_trashed=true", trash_p))
    rows.append(R("GET", "/v1/tracks?with_trashed=true", E(401, 403, 200, staff=403, other=200)))
    # refusing trash to a non-organiser leaks nothing, whether the event is
    # visible to them or not: 403 (not 404) on a draft event as well
    rows.append(R("GET", "/v1/events/{D}/sessions?with_trashed=true", E(401, 403, 200, staff=403),
                  label="draft event"))
    rows.append(R("DELETE", "/v1/tracks/{new}?permanent=true", E(401, 403, 403, owner=200, admin=200),
                  fresh=fresh_sub("track", "P"), label="purge: owner and admins only"))
    rows.append(R("DELETE", "/v1/sessions/{new}?permanent=true", E(401, 403, 403, owner=200, admin=200),
                  fresh=fresh_session("accepted", "owner"), label="purge: owner and admins only"))
    # order of checks (§2): route 404 -> method 405 -> media type 415 ->
    # authentication 401 -> permission 403/404 -> document 400/409/422
    rows.append(R("GET", "/v1/nope", ALL(404)))
    rows.append(R("GET", "/v1/events/{P}/nope", ALL(404)))
    rows.append(R("GET", "/v1/events/0", ALL(404)))
    rows.append(R("POST", "/v1/nope", ALL(404), body=b"{}"))
    rows.append(R("PUT", "/v1/events/{P}", ALL(405), body=b"{}"))
    rows.append(R("POST", "/v1/events/{P}", ALL(405), body=b"{}"))
    rows.append(R("DELETE", "/v1/events", ALL(405)))
    rows.append(R("PATCH", "/v1/tracks", ALL(405), body=b"{}"))
    for path in ("tickets", "speakers", "microlocations", "sponsors", "session-types", "social-links"):
        rows.append(R("GET", "/v1/" + path, ALL(405), label="no list route (spec §1)"))
    rows.append(R("POST", "/v1/events/{P}/sessions", ALL(405), body=post_body("session", "P")))
    rows.append(R("DELETE", "/v1/events/{P}/relationships/sessions", ALL(405)))
    rows.append(R("PATCH", "/v1/tracks/{track_P}", ALL(415), body=patch_body("track", "track_P"),
                  ctype="application/json", label="wrong media type"))
    rows.append(R("POST", "/v1/tracks", E(401, 400, 400), body=BAD_JSON, label="malformed body"))
    rows.append(R("PATCH", "/v1/tracks/{track_P}", E(401, 403, 400, staff=403), body=BAD_JSON,
                  label="malformed body"))
    rows.append(R("PATCH", "/v1/tracks/{track_D}", E(401, 404, 400, staff=403), body=BAD_JSON,
                  label="malformed body"))
    rows.append(R("PATCH", "/v1/events/{P}", E(401, 403, 400, staff=403), label="data.id mismatch",
                  body=lambda ctx: res_body("event", {"name": "x"}, id=ctx["P"] + 100000)))
    rows.append(R("PATCH", "/v1/events/{P}", E(401, 403, 422, staff=403), label="unknown attribute",
                  body=lambda ctx: res_body("event", {"no-such-attribute": 1}, id=ctx["P"])))
    rows.append(R("POST", "/v1/event-topics", admin_only(400), body=BAD_JSON, label="malformed body"))
    rows.append(R("PATCH", "/v1/users/{u_owner}", owner_only | {"owner": 400, "admin": 400}, body=BAD_JSON,
                  label="malformed body"))
    rows.append(R("POST", "/v1/users-events-roles", E(401, 400, 400), body=BAD_JSON, label="malformed body"))
    return rows


def export_task(h, F):
    """A task created by `owner` (an export of P), for the task-status rows."""
    st, hd, data = h.request("POST", "/v1/events/%d/export/json" % F["P"],
                             headers={"Authorization": "JWT " + F["tok"]["owner"]})
    assert st == 200, "export of P by its owner: %d %s" % (st, data[:300])
    url = json.loads(data)["task_url"]
    assert url.startswith("/v1/tasks/"), url
    return url[len("/v1/tasks/"):]


def rows_tasks_exports_uploads(F):
    """Task status, exports, versions, uploads, operations routes."""
    rows = []
    # task status (spec §7): the creator and admins; other signed-in callers
    # 403; anonymous 401; an unknown task 404 (after authentication)
    rows.append(R("GET", "/v1/tasks/{task_owner}", E(401, 403, 403, owner=200, admin=200)))
    rows.append(R("GET", "/v1/tasks/00000000-0000-4000-8000-000000000000", E(401, 404, 404),
                  label="unknown task"))
    rows.append(R("GET", "/v1/tasks/not-a-uuid", ALL(404), label="no route"))
    # exports: organisers (owner, organizer, coorganizer) and admins; staff
    # and outsiders who see the event 403, those who do not 404
    for method, kind in (("POST", "json"), ("GET", "ical"), ("GET", "xcal")):
        for ev in ("P", "D", "V"):
            hidden = 404 if ev in ("D", "V") else 403
            rows.append(R(method, "/v1/events/{%s}/export/%s" % (ev, kind),
                          E(401, hidden, 200, staff=403)))
        rows.append(R(method, "/v1/events/{P_ident}/export/%s" % kind, E(401, 403, 200, staff=403),
                      label="by identifier"))
    rows.append(R("POST", "/v1/events/{O}/export/json", E(401, 403, 403, other=200, admin=200)))
    rows.append(R("POST", "/v1/events/0/export/json", ALL(404), label="no route: ids start at 1"))
    rows.append(R("POST", "/v1/events/999999999999/export/json", E(401, 404, 404), label="no such event"))
    # versions: whoever sees the event
    for ev in ("P", "C", "D", "V"):
        rows.append(R("GET", "/v1/events/{%s}/versions" % ev, vis(ev, 200)))
    # uploads: any signed-in caller
    image = lambda ctx: {"data": "data:image/png;base64," + base64.b64encode(png()).decode()}  # noqa: E731
    rows.append(R("POST", "/v1/upload/image", E(401, 200, 200), body=image, ctype="application/json"))
    files, files_type = multipart([("file", "photo.png", png(), "image/png")], boundary="----oesmatrix")
    rows.append(R("POST", "/v1/upload/files", E(401, 200, 200), body=files, ctype=files_type))
    rows.append(R("GET", "/static/{static_file}", ALL(200)))
    rows.append(R("GET", "/static/../../etc/passwd", ALL(404), label="traversal"))
    # operations
    rows.append(R("GET", "/health-check", ALL(200)))
    # (/docs is public too; whether it is built depends on the run's order:
    # test_secrets.py and Dredd cover it)
    # CHOICE: /metrics is open on the instance's port, like /health-check;
    # deploy/nginx.conf does not publish it (test_nginx.py)
    rows.append(R("GET", "/metrics", ALL(200)))
    return rows


def rows_account(F):
    """The account endpoints (spec §5b); change-password last, as it revokes
    every token of the caller."""
    rows = []
    login_body = lambda pw: lambda ctx: {"email": ctx["owner_email"], "password": pw}  # noqa: E731
    for path in ("/v1/auth/login", "/auth/session"):
        rows.append(R("POST", path, ALL(200), body=login_body(SHARED_PASSWORD), ctype="application/json"))
        rows.append(R("POST", path, ALL(401), body=login_body("not the password"), ctype="application/json"))
    rows.append(R("POST", "/v1/auth/reset-password", ALL(200), ctype="application/json",
                  body=lambda ctx: {"email": ctx["owner_email"]}))
    rows.append(R("POST", "/v1/auth/reset-password", ALL(200), ctype="application/json",
                  body={"email": "nobody-%s@example.com" % secrets.token_hex(4)}, label="unknown email"))
    rows.append(R("PATCH", "/v1/auth/reset-password", ALL(400), ctype="application/json",
                  body={"token": secrets.token_urlsafe(32), "password": "a-new-password-1"},
                  label="forged token"))
    rows.append(R("POST", "/v1/auth/verify-email", ALL(400), ctype="application/json",
                  body={"token": secrets.token_urlsafe(32)}, label="forged token"))
    # every caller but the admin (create-admin: verified) is unverified
    rows.append(R("POST", "/v1/auth/resend-verification-email", E(401, 200, 200, admin=422),
                  ctype="application/json", body=b"{}"))
    # logout revokes the token it is sent with: each cell signs in afresh
    fresh_token = lambda h, F, c: token_for(h, F["uid"][c]) if c in F["uid"] else None  # noqa: E731
    rows.append(R("POST", "/v1/auth/logout", E(401, 200, 200), auth=fresh_token))
    rows.append(R("POST", "/v1/auth/change-password", E(401, 400, 400), ctype="application/json",
                  body={"old-password": "not the password", "new-password": "a-new-password-1"},
                  label="wrong old password"))
    rows.append(R("POST", "/v1/auth/change-password", E(401, 200, 200), ctype="application/json",
                  body={"old-password": SHARED_PASSWORD, "new-password": "a-new-password-1"}))
    return rows


def rows_last(F):
    """Runs last: every caller deletes their own account."""
    return [R("DELETE", "/v1/users/{me}", E(401, 200, 200), label="self")]


# ---- the runner ------------------------------------------------------------------


def run_cell(h, F, row, caller, new):
    ctx = dict(F)
    ctx["caller"] = caller
    ctx["me"] = F["uid"].get(caller) or F["uid"]["owner"]
    if new is not None:
        ctx["new"] = new
    path = row["path"].format(**ctx)
    body = row["body"]
    if callable(body):
        body = body(ctx)
    headers = {}
    tok = row["auth"](h, F, caller) if row["auth"] else F["tok"].get(caller)
    if tok:
        headers["Authorization"] = "JWT " + tok
    if body is not None:
        headers["Content-Type"] = row["ctype"] or JSONAPI
        if not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body).encode()
    st, hd, data = h.request(row["method"], path, headers=headers, body=body)
    got = st
    doc = None
    if data:
        try:
            doc = json.loads(data)
        except ValueError:
            doc = None
    if st == 200 and row["probe"] is not None:
        got = row["probe"](doc, ctx)
    return path, got, doc


def run_matrix(h, F, rows, section):
    checked = 0
    bad = []
    t0 = time.monotonic()
    for row in rows:
        fresh = None
        if row["fresh"] is not None:
            fresh = row["fresh"](h, F, len(CALLERS))
            assert len(fresh) == len(CALLERS), fresh
        for i, caller in enumerate(CALLERS):
            want = row["exp"][caller]
            try:
                path, got, doc = run_cell(h, F, row, caller, fresh[i] if fresh else None)
            except (OSError, ValueError, KeyError) as e:
                path, got, doc = row["path"], "error %r" % e, None
            checked += 1
            if str(got) != str(want):
                what = ""
                if row["probe"] is not None:
                    what = " [%s]" % getattr(row["probe"], "what", "probe")
                detail = ""
                if isinstance(doc, dict) and doc.get("errors"):
                    detail = " (%s)" % show((doc["errors"][0] or {}).get("detail", ""), 120)
                bad.append("  %-11s %-6s %s%s%s: expected %s, got %s%s" % (
                    caller, row["method"], path, " {%s}" % row["label"] if row["label"] else "",
                    what, want, got, detail))
    dt = time.monotonic() - t0
    print("    permission matrix [%s]: %d cells checked (%d rows x %d callers), %d pass, %d mismatches, %.1f s"
          % (section, checked, len(rows), len(CALLERS), checked - len(bad), len(bad), dt), flush=True)
    if bad:
        raise AssertionError("permission matrix [%s]: %d of %d cells mismatch:\n%s"
                             % (section, len(bad), checked, "\n".join(bad)))


# ---- tests -----------------------------------------------------------------------


def test_matrix_reads(h):
    """Visibility of events P, C, D, V and everything under them, by every
    route (detail, related, relationships, lists), per caller."""
    F = build(h)
    run_matrix(h, F, rows_event_reads(F), "reads")


def test_matrix_writes(h):
    """Who may create, change and delete events and their sub-resources;
    proposals; session states."""
    F = build(h)
    run_matrix(h, F, rows_writes(F), "writes")


def test_matrix_tasks_exports_uploads_account(h):
    """Task status, exports, versions, uploads, operations, and the account
    endpoints (sign-in, reset, verification, logout, password change)."""
    F = build(h)
    F["task_owner"] = export_task(h, F)
    body, ctype = multipart([("file", "f.png", png(), None)])
    st, hd, data = h.request("POST", "/v1/upload/files", body=body,
                             headers={"Content-Type": ctype, "Authorization": "JWT " + F["tok"]["owner"]})
    assert st == 200, "upload by the owner: %d %s" % (st, data[:300])
    F["static_file"] = json.loads(data)["url"].split("/static/", 1)[1]
    # every user gets one known password, so that sign-in and the password
    # change can name it
    h.sql("UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE id = %d) WHERE id IN (%s)"
          % (F["uid"]["stranger"], ", ".join(str(u) for u in F["uid"].values())))
    F["owner_email"] = h.sql("SELECT email FROM users WHERE id = %d" % F["uid"]["owner"]).strip()
    run_matrix(h, F, rows_tasks_exports_uploads(F) + rows_account(F),
               "tasks, exports, versions, uploads, operations, account")


def test_matrix_users_roles_topics_trash_order(h):
    """Users, roles, grants, event topics, trash, order of checks; last,
    every caller deletes their own account."""
    F = build(h)
    run_matrix(h, F, rows_misc(F) + rows_last(F), "users, roles, grants, topics, trash, order")
