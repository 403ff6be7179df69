"""Soft and hard delete (spec §4; issue 5): trash, purge, restore, who may
read the trash, the event cascade, unique constraints that ignore trashed
rows, the purge of old trash, and the per-type policy (SOFT_DELETE=on|off,
SOFT_DELETE_OFF=<types>).

Every operation is followed by a look at PostgreSQL (row counts, deleted_at
values), not only at the HTTP status. Within a test the checks are soft: a
test runs all of its checks and fails listing every mismatch (request,
expected, got), so one report shows all the broken rules at once.

World (see world()): users owner, organizer, coorganizer, trackorg
(track_organizer), moderator of event P; `other` owns event O; stranger has
no role; admin has the admin flag. P and O are published and public, each
with two tracks, a microlocation, a session type, a sponsor, a social link,
a ticket, two speakers and three accepted sessions (S1 on track T1 with both
speakers, S2 on track T2 with speaker 1, S3 without track).

Choices where the spec leaves room (marked CHOICE): a caller who may not
see a trashed row may get 403 or 404 for it; a PATCH with "deleted-at": null
of a live row may be answered 200 (nothing to do) or 404. Reading: the
flags apply to every read path that hides the trash, relationship linkage
and to-one related routes included (test_with_trashed_on_relationship_routes).
"""

import json
import time
from urllib.parse import quote

from fixtures import api, grant, login, make_user, res_body, signup, sql_event, sql_insert
from helpers import show, sql_lit

DELETED = {"message": "Object successfully deleted"}
SALES = dict(sales_starts_at="2030-01-01T00:00:00Z", sales_ends_at="2030-05-01T00:00:00Z")

# child key -> (JSON:API type, route, table)
KINDS = {
    "track": ("track", "tracks", "tracks"),
    "microlocation": ("microlocation", "microlocations", "microlocations"),
    "session-type": ("session-type", "session-types", "session_types"),
    "sponsor": ("sponsor", "sponsors", "sponsors"),
    "social-link": ("social-link", "social-links", "social_links"),
    "ticket": ("ticket", "tickets", "tickets"),
    "speaker": ("speaker", "speakers", "speakers"),
    "session": ("session", "sessions", "sessions"),
}
CHILD_TABLES = ["sessions", "speakers", "tracks", "microlocations", "sponsors", "session_types",
                "social_links", "tickets"]


# ---- soft checks ---------------------------------------------------------------

class Checks:
    """Collects failed checks; done() raises listing all of them."""

    def __init__(self, what):
        self.what = what
        self.n = 0
        self.errors = []

    def ok(self, cond, msg):
        self.n += 1
        if not cond:
            self.errors.append(msg)
        return bool(cond)

    def eq(self, got, want, what):
        return self.ok(got == want, "%s: expected %r, got %r" % (what, want, got))

    def done(self):
        if self.errors:
            raise AssertionError("%s: %d of %d checks failed:\n  - %s" % (
                self.what, len(self.errors), self.n, "\n  - ".join(self.errors)))


def label(who):
    if who is None:
        return "anonymous"
    if isinstance(who, dict):
        return who.get("name") or "user %s" % who.get("id")
    return "token"


def token(who):
    if who is None:
        return None
    return who["token"] if isinstance(who, dict) else who


def req(c, h, method, path, who, want, body=None):
    """Sends a request; checks its status is want (an int or a tuple of
    acceptable ones); returns (status, doc)."""
    st, hd, doc = api(h, method, path, body, token=token(who))
    wants = want if isinstance(want, tuple) else (want,)
    c.ok(st in wants, "%s %s as %s: expected %s, got %d: %s" % (
        method, path, label(who), " or ".join(str(w) for w in wants), st, show(doc, 300)))
    return st, doc


def with_q(path, q):
    return path + ("&" if "?" in path else "?") + q


def fq(flt):
    return "filter=" + quote(json.dumps(flt), safe="")


def list_ids(c, h, path, who, want, what=""):
    """GET a list; checks its ids (as a set) and meta.count equal want."""
    full = with_q(path, "page%5Bsize%5D=100")
    st, doc = req(c, h, "GET", full, who, 200)
    if st != 200 or not isinstance(doc, dict):
        return None
    got = sorted(int(r.get("id")) for r in doc.get("data") or [])
    c.eq(got, sorted(int(i) for i in want), "GET %s as %s%s: ids" % (path, label(who), what))
    c.eq((doc.get("meta") or {}).get("count"), len(set(want)),
         "GET %s as %s%s: meta.count" % (path, label(who), what))
    return doc


def linkage_ids(doc):
    d = (doc or {}).get("data")
    if d is None:
        return None
    if isinstance(d, list):
        return sorted(int(x["id"]) for x in d)
    return int(d["id"])


def rel_data(res, rel):
    return (((res or {}).get("relationships") or {}).get(rel) or {}).get("data", "absent")


def included_keys(doc):
    return {(r.get("type"), int(r.get("id"))) for r in (doc or {}).get("included") or []}


# ---- SQL -----------------------------------------------------------------------

def n(h, q):
    return int(h.sql(q))


def count(h, table, where="TRUE"):
    return n(h, "SELECT count(*) FROM %s WHERE %s" % (table, where))


def state(h, table, rid):
    """'gone', 'live', or the deleted_at text of the row."""
    out = h.sql("SELECT coalesce(deleted_at::text, 'live') FROM %s WHERE id = %d" % (table, rid))
    return out if out else "gone"


def fresh_trash(h, table, rid):
    """True when the row is trashed within the last 10 minutes."""
    return h.sql("SELECT deleted_at IS NOT NULL AND deleted_at > now() - interval '10 minutes' "
                 "AND deleted_at <= now() FROM %s WHERE id = %d" % (table, rid)) == "t"


def ids_sql(h, q):
    return sorted(int(x) for x in h.sql(q).split())


def trash_sql(h, table, rid, age="1 day"):
    h.sql("UPDATE %s SET deleted_at = now() - interval %s WHERE id = %d" % (table, sql_lit(age), rid))
    return state(h, table, rid)


# ---- world ---------------------------------------------------------------------

def children(h, eid, tag):
    c = {}
    c["track"] = sql_insert(h, "tracks", event_id=eid, name=tag + " track 1", color="#123456")
    c["track2"] = sql_insert(h, "tracks", event_id=eid, name=tag + " track 2", color="#abcdef")
    c["microlocation"] = sql_insert(h, "microlocations", event_id=eid, name=tag + " room")
    c["session-type"] = sql_insert(h, "session_types", event_id=eid, name=tag + " talk", length="00:30")
    c["sponsor"] = sql_insert(h, "sponsors", event_id=eid, name=tag + " sponsor")
    c["social-link"] = sql_insert(h, "social_links", event_id=eid, name=tag + " site",
                                  link="https://example.com/" + tag)
    c["ticket"] = sql_insert(h, "tickets", event_id=eid, name=tag + " ticket", type="free", **SALES)
    c["speaker"] = sql_insert(h, "speakers", event_id=eid, name=tag + " speaker 1")
    c["speaker2"] = sql_insert(h, "speakers", event_id=eid, name=tag + " speaker 2")
    c["session"] = sql_insert(h, "sessions", event_id=eid, title=tag + " talk 1", state="accepted",
                              track_id=c["track"], session_type_id=c["session-type"],
                              microlocation_id=c["microlocation"])
    c["session2"] = sql_insert(h, "sessions", event_id=eid, title=tag + " talk 2", state="accepted",
                               track_id=c["track2"])
    c["session3"] = sql_insert(h, "sessions", event_id=eid, title=tag + " talk 3", state="accepted")
    for s, p in (("session", "speaker"), ("session", "speaker2"), ("session2", "speaker")):
        h.sql("INSERT INTO sessions_speakers (session_id, speaker_id) VALUES (%d, %d)" % (c[s], c[p]))
    return c


def world(h):
    W = {}
    for name in ("owner", "organizer", "coorganizer", "trackorg", "moderator", "stranger", "other"):
        W[name] = make_user(h)
        W[name]["name"] = name
    W["admin"] = make_user(h, admin=True)
    W["admin"]["name"] = "admin"
    W["P"] = sql_event(h, owner=W["owner"], name="Pevent")
    for who, role in (("organizer", "organizer"), ("coorganizer", "coorganizer"),
                      ("trackorg", "track_organizer"), ("moderator", "moderator")):
        grant(h, W[who], W["P"], role)
    W["O"] = sql_event(h, owner=W["other"], name="Oevent")
    W["cP"] = children(h, W["P"]["id"], "P")
    W["cO"] = children(h, W["O"]["id"], "O")
    return W


def child_counts(h, eid):
    return {t: count(h, t, "event_id = %d" % eid) for t in CHILD_TABLES}


def restore_body(type_, rid):
    return {"data": {"type": type_, "id": str(rid), "attributes": {"deleted-at": None}}}


def check_restored_doc(c, doc, type_, rid, what):
    d = (doc or {}).get("data") or {}
    c.eq(d.get("type"), type_, what + ": data.type")
    c.eq(d.get("id"), str(rid), what + ": data.id")
    attrs = d.get("attributes") or {}
    c.ok("deleted-at" in attrs and attrs["deleted-at"] is None,
         "%s: data.attributes.deleted-at should be null, got %r" % (what, attrs.get("deleted-at", "absent")))


# ---- DELETE trashes, again 404 -------------------------------------------------

def test_delete_trashes_every_type(h):
    """DELETE of a soft-deletable row → 200 with the message; the row is
    still there with deleted_at set (now); DELETE again → 404 and the
    timestamp stays; the detail is 404."""
    W = world(h)
    c = Checks("DELETE trashes")
    cP = W["cP"]
    for key, (type_, route, table) in KINDS.items():
        rid = cP[key]
        p = "/v1/%s/%d" % (route, rid)
        st, doc = req(c, h, "DELETE", p, W["owner"], 200)
        if st == 200:
            c.eq((doc or {}).get("meta"), DELETED, "DELETE %s: meta" % p)
        c.ok(fresh_trash(h, table, rid), "after DELETE %s: %s row %d should exist with deleted_at = now, is %s"
             % (p, table, rid, state(h, table, rid)))
        c.eq(count(h, table, "event_id = %d AND deleted_at IS NOT NULL" % W["P"]["id"]), 1,
             "after DELETE %s: trashed %s rows of P (only that one)" % (p, table))
        before = state(h, table, rid)
        req(c, h, "DELETE", p, W["owner"], 404)
        req(c, h, "DELETE", p, W["admin"], 404)
        c.eq(state(h, table, rid), before, "after DELETE %s again: deleted_at unchanged" % p)
        req(c, h, "GET", p, W["owner"], 404)
        req(c, h, "GET", p, W["admin"], 404)
    # sessions_speakers links survive a trash (the rows are not purged)
    c.eq(count(h, "sessions_speakers", "session_id = %d" % cP["session"]), 2,
         "sessions_speakers links of the trashed session")
    # organisers may trash sub-resources too
    for who, key in (("organizer", "track2"), ("coorganizer", "speaker2")):
        table = "tracks" if key == "track2" else "speakers"
        p = "/v1/%s/%d" % (table, cP[key])
        req(c, h, "DELETE", p, W[who], 200)
        c.ok(fresh_trash(h, table, cP[key]), "after DELETE %s as %s: row trashed, is %s"
             % (p, who, state(h, table, cP[key])))
    # an event: its owner trashes it; an organizer may not
    p = "/v1/events/%d" % W["O"]["id"]
    req(c, h, "DELETE", p, W["owner"], (403, 404))
    c.eq(state(h, "events", W["O"]["id"]), "live", "event O after DELETE by a stranger to it")
    st, doc = req(c, h, "DELETE", p, W["other"], 200)
    if st == 200:
        c.eq((doc or {}).get("meta"), DELETED, "DELETE %s: meta" % p)
    c.ok(fresh_trash(h, "events", W["O"]["id"]), "after DELETE %s: event trashed, is %s"
         % (p, state(h, "events", W["O"]["id"])))
    ts = state(h, "events", W["O"]["id"])
    req(c, h, "DELETE", p, W["other"], 404)
    req(c, h, "DELETE", p, W["admin"], 404)
    c.eq(state(h, "events", W["O"]["id"]), ts, "event O after DELETE again")
    # event topics (admins)
    et = sql_insert(h, "event_topics", name="Topic")
    p = "/v1/event-topics/%d" % et
    req(c, h, "DELETE", p, W["owner"], 403)
    c.eq(state(h, "event_topics", et), "live", "topic after DELETE by a non-admin")
    req(c, h, "DELETE", p, W["admin"], 200)
    c.ok(fresh_trash(h, "event_topics", et), "after DELETE %s: topic trashed, is %s" % (p, state(h, "event_topics", et)))
    req(c, h, "DELETE", p, W["admin"], 404)
    req(c, h, "GET", p, None, 404)
    # users (self)
    u = W["stranger"]
    p = "/v1/users/%d" % u["id"]
    req(c, h, "DELETE", p, u, 200)
    c.ok(fresh_trash(h, "users", u["id"]), "after DELETE %s (self): user trashed, is %s" % (p, state(h, "users", u["id"])))
    req(c, h, "DELETE", p, W["admin"], 404)
    req(c, h, "GET", p, W["admin"], 404)
    c.eq(count(h, "users", "id = %d" % u["id"]), 1, "the trashed user row still exists")
    c.done()


# ---- ?permanent=true -----------------------------------------------------------

def test_permanent_purges_live_and_trashed_owner_and_admin_only(h):
    W = world(h)
    c = Checks("DELETE ?permanent=true")
    cP = W["cP"]
    # a live track: organisers other than the owner, staff and strangers may not purge
    t = cP["track"]
    p = "/v1/tracks/%d?permanent=true" % t
    req(c, h, "DELETE", p, None, 401)
    for who in ("organizer", "coorganizer", "trackorg", "moderator", "stranger", "other"):
        req(c, h, "DELETE", p, W[who], 403)
        c.eq(state(h, "tracks", t), "live", "track after %s by %s" % (p, who))
    req(c, h, "DELETE", p, W["owner"], 200)
    c.eq(state(h, "tracks", t), "gone", "track after %s by the owner" % p)
    c.eq(count(h, "sessions", "id = %d AND track_id IS NULL" % cP["session"]), 1,
         "the session of the purged track lost its track (ON DELETE SET NULL)")
    req(c, h, "DELETE", p, W["owner"], 404)
    # a trashed track: the same rule
    t2 = cP["track2"]
    ts = trash_sql(h, "tracks", t2)
    p = "/v1/tracks/%d?permanent=true" % t2
    req(c, h, "DELETE", p, None, 401)
    for who in ("organizer", "coorganizer"):
        req(c, h, "DELETE", p, W[who], 403)
        c.eq(state(h, "tracks", t2), ts, "trashed track after %s by %s" % (p, who))
    for who in ("trackorg", "moderator", "stranger", "other"):
        req(c, h, "DELETE", p, W[who], (403, 404))  # CHOICE: the trash is not theirs to see
        c.eq(state(h, "tracks", t2), ts, "trashed track after %s by %s" % (p, who))
    req(c, h, "DELETE", p, W["admin"], 200)
    c.eq(state(h, "tracks", t2), "gone", "trashed track after %s by an admin" % p)
    # the owner purges a trashed session (and its speaker links) and a live speaker
    s = cP["session"]
    st, _ = req(c, h, "DELETE", "/v1/sessions/%d" % s, W["owner"], 200)
    c.ok(fresh_trash(h, "sessions", s), "session trashed by DELETE")
    req(c, h, "DELETE", "/v1/sessions/%d?permanent=true" % s, W["owner"], 200)
    c.eq(state(h, "sessions", s), "gone", "trashed session after permanent DELETE by the owner")
    c.eq(count(h, "sessions_speakers", "session_id = %d" % s), 0, "speaker links of the purged session")
    sp = cP["speaker2"]
    req(c, h, "DELETE", "/v1/speakers/%d?permanent=true" % sp, W["owner"], 200)
    c.eq(state(h, "speakers", sp), "gone", "live speaker after permanent DELETE by the owner")
    # every other child type purged live by the owner
    for key in ("microlocation", "session-type", "sponsor", "social-link", "ticket"):
        type_, route, table = KINDS[key]
        rid = cP[key]
        req(c, h, "DELETE", "/v1/%s/%d?permanent=true" % (route, rid), W["organizer"], 403)
        c.eq(state(h, table, rid), "live", "%s %d after permanent DELETE by the organizer" % (table, rid))
        req(c, h, "DELETE", "/v1/%s/%d?permanent=true" % (route, rid), W["owner"], 200)
        c.eq(state(h, table, rid), "gone", "%s %d after permanent DELETE by the owner" % (table, rid))
    # the event: organizers may not, the owner may (cascade: test_purge_event_cascades)
    p = "/v1/events/%d?permanent=true" % W["P"]["id"]
    for who in ("organizer", "coorganizer", "trackorg", "moderator", "stranger"):
        req(c, h, "DELETE", p, W[who], 403)
        c.eq(state(h, "events", W["P"]["id"]), "live", "event P after %s by %s" % (p, who))
    # users: admins only, not even the user
    u = W["stranger"]
    p = "/v1/users/%d?permanent=true" % u["id"]
    req(c, h, "DELETE", p, u, 403)
    c.eq(state(h, "users", u["id"]), "live", "user after %s by itself" % p)
    req(c, h, "DELETE", p, W["owner"], 403)
    req(c, h, "DELETE", p, W["admin"], 200)
    c.eq(state(h, "users", u["id"]), "gone", "user after %s by an admin" % p)
    # a trashed user: self cannot (its token is dead), admins can
    v = make_user(h)
    v["name"] = "trashed user"
    req(c, h, "DELETE", "/v1/users/%d" % v["id"], v, 200)
    c.ok(fresh_trash(h, "users", v["id"]), "user trashed by self DELETE")
    req(c, h, "DELETE", "/v1/users/%d?permanent=true" % v["id"], v, 401)
    req(c, h, "DELETE", "/v1/users/%d?permanent=true" % v["id"], W["admin"], 200)
    c.eq(state(h, "users", v["id"]), "gone", "trashed user after permanent DELETE by an admin")
    # event topics: admins only; events keep existing with no topic
    et = sql_insert(h, "event_topics", name="Topic")
    h.sql("UPDATE events SET event_topic_id = %d WHERE id = %d" % (et, W["O"]["id"]))
    p = "/v1/event-topics/%d?permanent=true" % et
    req(c, h, "DELETE", p, W["other"], 403)
    c.eq(state(h, "event_topics", et), "live", "topic after %s by an event owner" % p)
    req(c, h, "DELETE", p, W["admin"], 200)
    c.eq(state(h, "event_topics", et), "gone", "topic after %s by an admin" % p)
    c.eq(count(h, "events", "id = %d AND event_topic_id IS NULL" % W["O"]["id"]), 1,
         "event O after its topic was purged: kept, topic unset")
    et2 = sql_insert(h, "event_topics", name="Topic 2")
    ts = trash_sql(h, "event_topics", et2)
    req(c, h, "DELETE", "/v1/event-topics/%d?permanent=true" % et2, W["other"], (403, 404))
    c.eq(state(h, "event_topics", et2), ts, "trashed topic after permanent DELETE by a non-admin")
    req(c, h, "DELETE", "/v1/event-topics/%d?permanent=true" % et2, W["admin"], 200)
    c.eq(state(h, "event_topics", et2), "gone", "trashed topic after permanent DELETE by an admin")
    c.done()


def test_purge_event_cascades(h):
    W = world(h)
    c = Checks("purging an event")
    P, O = W["P"]["id"], W["O"]["id"]
    before_O = child_counts(h, O)
    # a child trashed on its own goes as well
    trash_sql(h, "tracks", W["cP"]["track2"])
    p = "/v1/events/%d?permanent=true" % P
    req(c, h, "DELETE", p, W["owner"], 200)
    c.eq(state(h, "events", P), "gone", "event P after %s" % p)
    for t in CHILD_TABLES:
        c.eq(count(h, t, "event_id = %d" % P), 0, "%s rows of P after %s" % (t, p))
    c.eq(count(h, "users_events_roles", "event_id = %d" % P), 0, "roles on P after %s" % p)
    c.eq(count(h, "sessions_speakers", "session_id IN (%d, %d)" % (W["cP"]["session"], W["cP"]["session2"])), 0,
         "speaker links of P's sessions after %s" % p)
    c.eq(child_counts(h, O), before_O, "rows of event O after purging P (untouched)")
    c.eq(count(h, "users", "id = %d AND deleted_at IS NULL" % W["owner"]["id"]), 1, "P's owner user is kept")
    req(c, h, "GET", "/v1/events/%d?with_trashed=true" % P, W["admin"], 404)
    req(c, h, "DELETE", p, W["owner"], (403, 404))
    # a trashed event is purged with its (cascade-trashed) children
    req(c, h, "DELETE", "/v1/events/%d" % O, W["other"], 200)
    c.ok(fresh_trash(h, "events", O), "event O trashed")
    c.eq(count(h, "tracks", "event_id = %d AND deleted_at IS NULL" % O), 0, "live tracks of O once trashed")
    req(c, h, "DELETE", "/v1/events/%d?permanent=true" % O, W["admin"], 200)
    c.eq(state(h, "events", O), "gone", "trashed event O after permanent DELETE by an admin")
    for t in CHILD_TABLES:
        c.eq(count(h, t, "event_id = %d" % O), 0, "%s rows of O after its purge" % t)
    c.eq(count(h, "users_events_roles", "event_id = %d" % O), 0, "roles on O after its purge")
    c.done()


# ---- reads hide the trash ------------------------------------------------------

def test_trashed_rows_hidden_from_every_read(h):
    W = world(h)
    c = Checks("trashed rows hidden")
    cP, P = W["cP"], W["P"]["id"]
    t1, t2 = cP["track"], cP["track2"]
    sp1, sp2 = cP["speaker"], cP["speaker2"]
    s1, s2, s3 = cP["session"], cP["session2"], cP["session3"]
    h.sql("UPDATE tracks SET name = 'ZZZ trashed' WHERE id = %d" % t1)
    h.sql("UPDATE tracks SET name = 'MMM live' WHERE id = %d" % t2)
    h.sql("UPDATE speakers SET name = 'Trashed speaker' WHERE id = %d" % sp1)
    et = sql_insert(h, "event_topics", name="Trashed topic")
    h.sql("UPDATE events SET event_topic_id = %d WHERE id = %d" % (et, P))
    # trash through the API
    req(c, h, "DELETE", "/v1/tracks/%d" % t1, W["owner"], 200)
    req(c, h, "DELETE", "/v1/speakers/%d" % sp1, W["owner"], 200)
    req(c, h, "DELETE", "/v1/event-topics/%d" % et, W["admin"], 200)
    c.ok(fresh_trash(h, "tracks", t1) and fresh_trash(h, "speakers", sp1) and fresh_trash(h, "event_topics", et),
         "the three rows are trashed: %s %s %s" % (state(h, "tracks", t1), state(h, "speakers", sp1),
                                                   state(h, "event_topics", et)))
    live_tracks = ids_sql(h, "SELECT id FROM tracks WHERE deleted_at IS NULL")
    live_tracks_P = ids_sql(h, "SELECT id FROM tracks WHERE deleted_at IS NULL AND event_id = %d" % P)
    c.eq(len(live_tracks), 3, "live tracks in SQL")
    for who in (W["admin"], W["owner"], None):
        lw = " (%s)" % label(who)
        # lists and meta.count
        list_ids(c, h, "/v1/tracks", who, live_tracks)
        list_ids(c, h, "/v1/events/%d/tracks" % P, who, live_tracks_P)
        list_ids(c, h, "/v1/events/%d/speakers" % P, who, [sp2])
        list_ids(c, h, "/v1/event-topics", who, [])
        # detail
        req(c, h, "GET", "/v1/tracks/%d" % t1, who, 404)
        req(c, h, "GET", "/v1/speakers/%d" % sp1, who, 404)
        req(c, h, "GET", "/v1/event-topics/%d" % et, who, 404)
        # nested and reverse routes of the trashed rows
        for sub in ("sessions", "event", "relationships/sessions", "relationships/event"):
            req(c, h, "GET", "/v1/tracks/%d/%s" % (t1, sub), who, 404)
        req(c, h, "GET", "/v1/speakers/%d/sessions" % sp1, who, 404)
        req(c, h, "GET", "/v1/event-topics/%d/events" % et, who, 404)
        # to-one through a trashed row: null
        st, doc = req(c, h, "GET", "/v1/sessions/%d/track" % s1, who, 200)
        if st == 200:
            c.eq(doc.get("data"), None, "GET /v1/sessions/%d/track%s: data" % (s1, lw))
        st, doc = req(c, h, "GET", "/v1/events/%d/event-topic" % P, who, 200)
        if st == 200:
            c.eq(doc.get("data"), None, "GET /v1/events/%d/event-topic%s: data" % (P, lw))
        list_ids(c, h, "/v1/sessions/%d/speakers" % s1, who, [sp2])
        list_ids(c, h, "/v1/speakers/%d/sessions" % sp2, who, [s1])
        # relationship linkage
        for path, want in (("/v1/sessions/%d/relationships/track" % s1, None),
                           ("/v1/events/%d/relationships/event-topic" % P, None),
                           ("/v1/events/%d/relationships/tracks" % P, live_tracks_P),
                           ("/v1/events/%d/relationships/speakers" % P, [sp2]),
                           ("/v1/sessions/%d/relationships/speakers" % s1, [sp2]),
                           ("/v1/sessions/%d/relationships/speakers" % s2, [])):
            st, doc = req(c, h, "GET", path, who, 200)
            if st == 200:
                c.eq(linkage_ids(doc), want, "GET %s%s: linkage" % (path, lw))
        # include: no trashed row in included, nor in linkage
        bad = {("track", t1), ("speaker", sp1), ("event-topic", et)}
        path = "/v1/sessions/%d?include=track,speakers" % s1
        st, doc = req(c, h, "GET", path, who, 200)
        if st == 200:
            c.eq(included_keys(doc) & bad, set(), "GET %s%s: trashed rows in included" % (path, lw))
            c.eq(rel_data(doc["data"], "track"), None, "GET %s%s: relationships.track.data" % (path, lw))
            c.eq(sorted(int(x["id"]) for x in rel_data(doc["data"], "speakers") or []), [sp2],
                 "GET %s%s: relationships.speakers.data" % (path, lw))
            c.ok(("speaker", sp2) in included_keys(doc), "GET %s%s: live speaker %d not included" % (path, lw, sp2))
        path = "/v1/events/%d?include=tracks,speakers,sessions.track,sessions.speakers,event-topic" % P
        st, doc = req(c, h, "GET", path, who, 200)
        if st == 200:
            inc = included_keys(doc)
            c.eq(inc & bad, set(), "GET %s%s: trashed rows in included" % (path, lw))
            c.ok(("track", t2) in inc and ("speaker", sp2) in inc,
                 "GET %s%s: live track/speaker missing from included %r" % (path, lw, sorted(inc)))
            d = doc.get("data") or {}
            c.eq(sorted(int(x["id"]) for x in rel_data(d, "tracks") or []), live_tracks_P,
                 "GET %s%s: relationships.tracks.data" % (path, lw))
            c.eq(sorted(int(x["id"]) for x in rel_data(d, "speakers") or []), [sp2],
                 "GET %s%s: relationships.speakers.data" % (path, lw))
            c.eq(rel_data(d, "event-topic"), None, "GET %s%s: relationships.event-topic.data" % (path, lw))
            for r in doc.get("included") or []:
                if r.get("type") == "session":
                    for rel in ("track", "speakers"):
                        v = rel_data(r, rel)
                        ids = [v] if isinstance(v, dict) else (v if isinstance(v, list) else [])
                        for x in ids:
                            c.ok((x.get("type"), int(x.get("id"))) not in bad,
                                 "GET %s%s: included session %s links trashed %r" % (path, lw, r.get("id"), x))
        path = "/v1/sessions?include=track,speakers&page%5Bsize%5D=100"
        st, doc = req(c, h, "GET", path, who, 200)
        if st == 200:
            c.eq(included_keys(doc) & bad, set(), "GET %s%s: trashed rows in included" % (path, lw))
        # filters through a trashed related row match nothing
        for base, flt in (
                ("/v1/sessions", [{"name": "track", "op": "has", "val": {"name": "name", "op": "eq", "val": "ZZZ trashed"}}]),
                ("/v1/sessions", [{"name": "track", "op": "has", "val": {"name": "id", "op": "eq", "val": t1}}]),
                ("/v1/sessions", [{"name": "speakers", "op": "any",
                                   "val": {"name": "name", "op": "eq", "val": "Trashed speaker"}}]),
                ("/v1/events", [{"name": "tracks", "op": "any", "val": {"name": "name", "op": "eq", "val": "ZZZ trashed"}}]),
                ("/v1/events", [{"name": "speakers", "op": "any",
                                 "val": {"name": "name", "op": "eq", "val": "Trashed speaker"}}]),
                ("/v1/events", [{"name": "event-topic", "op": "has",
                                 "val": {"name": "name", "op": "eq", "val": "Trashed topic"}}])):
            list_ids(c, h, base + "?" + fq(flt), who, [], " (filter %s)" % json.dumps(flt))
        # a filter through a live related row still matches (control)
        flt = [{"name": "track", "op": "has", "val": {"name": "name", "op": "eq", "val": "MMM live"}}]
        list_ids(c, h, "/v1/sessions?" + fq(flt), who, [s2], " (filter %s)" % json.dumps(flt))
        # sorts through a trashed to-one: it sorts as no track (no leak of its name)
        for sort, want in (("track.name", [s1, s3, s2]), ("-track.name", [s2, s1, s3])):
            path = "/v1/events/%d/sessions?sort=%s" % (P, sort)
            st, doc = req(c, h, "GET", path, who, 200)
            if st == 200:
                c.eq([int(x["id"]) for x in doc.get("data") or []], want, "GET %s%s: order" % (path, lw))
    c.done()


def test_rows_of_a_trashed_event_hidden(h):
    """The event alone is trashed (by SQL, children untouched): its children
    are hidden all the same."""
    W = world(h)
    c = Checks("rows of a trashed event hidden")
    O, cO, P, cP = W["O"]["id"], W["cO"], W["P"]["id"], W["cP"]
    et = sql_insert(h, "event_topics", name="Topic")
    h.sql("UPDATE events SET event_topic_id = %d WHERE id IN (%d, %d)" % (et, O, P))
    ts = trash_sql(h, "events", O, "1 minute")
    c.eq(count(h, "sessions", "event_id = %d AND deleted_at IS NULL" % O), 3, "O's sessions are live rows in SQL")
    for who in (W["admin"], W["other"], W["stranger"], None):
        lw = " (%s)" % label(who)
        req(c, h, "GET", "/v1/events/%d" % O, who, 404)
        for key, (type_, route, table) in KINDS.items():
            req(c, h, "GET", "/v1/%s/%d" % (route, cO[key]), who, 404)
            req(c, h, "GET", "/v1/%s/%d/event" % (route, cO[key]), who, 404)
            req(c, h, "GET", "/v1/%s/%d/relationships/event" % (route, cO[key]), who, 404)
        list_ids(c, h, "/v1/sessions", who, [cP["session"], cP["session2"], cP["session3"]])
        list_ids(c, h, "/v1/tracks", who, [cP["track"], cP["track2"]])
        list_ids(c, h, "/v1/events", who, [P])
        list_ids(c, h, "/v1/event-topics/%d/events" % et, who, [P])
        for sub in ("sessions", "tracks", "speakers", "sponsors", "relationships/sessions"):
            req(c, h, "GET", "/v1/events/%d/%s" % (O, sub), who, 404)
        req(c, h, "GET", "/v1/tracks/%d/sessions" % cO["track"], who, 404)
        req(c, h, "GET", "/v1/sessions/%d/speakers" % cO["session"], who, 404)
        flt = [{"name": "event", "op": "has", "val": {"name": "name", "op": "eq", "val": "Oevent"}}]
        list_ids(c, h, "/v1/sessions?" + fq(flt), who, [], " (filter through the trashed event)")
        path = "/v1/sessions?include=event&page%5Bsize%5D=100"
        st, doc = req(c, h, "GET", path, who, 200)
        if st == 200:
            c.ok(("event", O) not in included_keys(doc), "GET %s%s: trashed event O included" % (path, lw))
    # the owner's own events
    list_ids(c, h, "/v1/users/%d/events" % W["other"]["id"], W["other"], [])
    st, doc = req(c, h, "GET", "/v1/users/%d/relationships/events" % W["other"]["id"], W["other"], 200)
    if st == 200:
        c.eq(linkage_ids(doc), [], "GET /v1/users/%d/relationships/events: linkage" % W["other"]["id"])
    c.eq(state(h, "events", O), ts, "event O still trashed (reads change nothing)")
    # a trashed user is hidden from the relationships that point to it
    u = make_user(h)
    ev = sql_event(h, owner=u, name="Orphan")
    h.sql("UPDATE sessions SET creator_id = %d WHERE id = %d" % (u["id"], cP["session"]))
    h.sql("UPDATE users SET deleted_at = now() WHERE id = %d" % u["id"])
    for who in (W["admin"], None):
        lw = " (%s)" % label(who)
        for path in ("/v1/events/%d/owner" % ev["id"], "/v1/sessions/%d/creator" % cP["session"]):
            st, doc = req(c, h, "GET", path, who, 200)
            if st == 200:
                c.eq(doc.get("data"), None, "GET %s%s: data (trashed user)" % (path, lw))
        for path in ("/v1/events/%d/relationships/owner" % ev["id"],
                     "/v1/sessions/%d/relationships/creator" % cP["session"]):
            st, doc = req(c, h, "GET", path, who, 200)
            if st == 200:
                c.eq(doc.get("data"), None, "GET %s%s: linkage (trashed user)" % (path, lw))
        path = "/v1/events/%d?include=owner" % ev["id"]
        st, doc = req(c, h, "GET", path, who, 200)
        if st == 200:
            c.ok(("user", u["id"]) not in included_keys(doc), "GET %s%s: trashed user included" % (path, lw))
    list_ids(c, h, "/v1/users", W["admin"], ids_sql(h, "SELECT id FROM users WHERE deleted_at IS NULL"))
    c.done()


# ---- reading the trash: who --------------------------------------------------------

def test_trash_flags_and_who_may_read_the_trash(h):
    W = world(h)
    c = Checks("with_trashed / get_trashed / only_trashed")
    P, O, cP, cO = W["P"]["id"], W["O"]["id"], W["cP"], W["cO"]
    tP, tO = cP["track"], cO["track"]
    req(c, h, "DELETE", "/v1/tracks/%d" % tP, W["owner"], 200)
    req(c, h, "DELETE", "/v1/tracks/%d" % tO, W["other"], 200)
    c.ok(fresh_trash(h, "tracks", tP) and fresh_trash(h, "tracks", tO), "both tracks trashed")
    all_P = ids_sql(h, "SELECT id FROM tracks WHERE event_id = %d" % P)
    all_O = ids_sql(h, "SELECT id FROM tracks WHERE event_id = %d" % O)
    live = ids_sql(h, "SELECT id FROM tracks WHERE deleted_at IS NULL")
    everything = ids_sql(h, "SELECT id FROM tracks")
    c.eq(len(everything), 4, "tracks in SQL")
    flags = ("with_trashed=true", "get_trashed=true")
    # admins: all the trash
    a = W["admin"]
    for f in flags:
        list_ids(c, h, "/v1/tracks?" + f, a, everything)
        list_ids(c, h, "/v1/events/%d/tracks?%s" % (P, f), a, all_P)
        list_ids(c, h, "/v1/events/%d/tracks?%s" % (O, f), a, all_O)
        for t in (tP, tO):
            st, doc = req(c, h, "GET", "/v1/tracks/%d?%s" % (t, f), a, 200)
            if st == 200:
                c.ok(((doc.get("data") or {}).get("attributes") or {}).get("deleted-at") is not None,
                     "GET /v1/tracks/%d?%s (admin): deleted-at should be set" % (t, f))
    list_ids(c, h, "/v1/tracks?only_trashed=true", a, [tP, tO])
    list_ids(c, h, "/v1/events/%d/tracks?only_trashed=true" % P, a, [tP])
    req(c, h, "GET", "/v1/tracks/%d?only_trashed=true" % tP, a, 200)
    req(c, h, "GET", "/v1/tracks/%d?only_trashed=true" % cP["track2"], a, 404)
    # organisers of P: P's trash, not O's
    for name in ("owner", "organizer", "coorganizer"):
        who = W[name]
        for f in flags:
            list_ids(c, h, "/v1/tracks?" + f, who, live + [tP])
            list_ids(c, h, "/v1/events/%d/tracks?%s" % (P, f), who, all_P)
            st, doc = req(c, h, "GET", "/v1/tracks/%d?%s" % (tP, f), who, 200)
            if st == 200:
                c.eq((doc.get("data") or {}).get("id"), str(tP), "GET /v1/tracks/%d?%s (%s): id" % (tP, f, name))
            req(c, h, "GET", "/v1/tracks/%d?%s" % (tO, f), who, (403, 404))
            req(c, h, "GET", "/v1/events/%d/tracks?%s" % (O, f), who, (403, 404))
        list_ids(c, h, "/v1/tracks?only_trashed=true", who, [tP])
        list_ids(c, h, "/v1/events/%d/tracks?only_trashed=true" % P, who, [tP])
        req(c, h, "GET", "/v1/tracks/%d?only_trashed=true" % tP, who, 200)
        req(c, h, "GET", "/v1/tracks/%d?only_trashed=true" % cP["track2"], who, 404)
        req(c, h, "GET", "/v1/tracks/%d?only_trashed=true" % tO, who, (403, 404))
    # the owner of O: O's trash, not P's
    o = W["other"]
    list_ids(c, h, "/v1/tracks?only_trashed=true", o, [tO])
    list_ids(c, h, "/v1/tracks?with_trashed=true", o, live + [tO])
    req(c, h, "GET", "/v1/tracks/%d?with_trashed=true" % tP, o, (403, 404))
    # other signed-in callers: 403; anonymous: 401
    paths = ["/v1/tracks?%s", "/v1/events/%d/tracks?%%s" % P, "/v1/tracks/%d?%%s" % tP,
             "/v1/tracks/%d?%%s" % cP["track2"], "/v1/events?%s", "/v1/events/%d?%%s" % P,
             "/v1/events/%d/sessions?%%s" % P, "/v1/sessions?%s"]
    for name in ("trackorg", "moderator", "stranger"):
        for pth in paths:
            for f in flags + ("only_trashed=true",):
                req(c, h, "GET", pth % f, W[name], 403)
    for pth in paths:
        for f in flags + ("only_trashed=true",):
            req(c, h, "GET", pth % f, None, 401)
    # without the flags the trash stays hidden for everyone, admins included
    for who in (a, W["owner"]):
        list_ids(c, h, "/v1/tracks", who, live)
        req(c, h, "GET", "/v1/tracks/%d" % tP, who, 404)
    c.eq(state(h, "tracks", cP["track2"]), "live", "reads change nothing")
    c.ok(fresh_trash(h, "tracks", tP), "reads change nothing (trashed)")
    c.done()


# ---- cascade and restore -------------------------------------------------------------

def cascade_setup(c, h, W):
    """Trashes P's track 2 on its own, then the event P; checks the
    timestamps in SQL; returns the early track's deleted_at."""
    P, cP = W["P"]["id"], W["cP"]
    early = cP["track2"]
    req(c, h, "DELETE", "/v1/tracks/%d" % early, W["owner"], 200)
    early_ts = state(h, "tracks", early)
    c.ok(fresh_trash(h, "tracks", early), "early track trashed: %s" % early_ts)
    time.sleep(0.05)
    before_O = {t: count(h, t, "event_id = %d AND deleted_at IS NULL" % W["O"]["id"]) for t in CHILD_TABLES}
    st, doc = req(c, h, "DELETE", "/v1/events/%d" % P, W["owner"], 200)
    c.ok(fresh_trash(h, "events", P), "event P trashed, is %s" % state(h, "events", P))
    for t in CHILD_TABLES:
        total = count(h, t, "event_id = %d" % P)
        same = n(h, "SELECT count(*) FROM %s x JOIN events e ON e.id = x.event_id WHERE e.id = %d "
                    "AND x.deleted_at = e.deleted_at" % (t, P))
        c.eq(same, total - (1 if t == "tracks" else 0),
             "%s rows of P trashed with the event's exact deleted_at (of %d)" % (t, total))
        c.eq(count(h, t, "event_id = %d AND deleted_at IS NULL" % P), 0, "live %s rows of trashed P" % t)
    c.eq(state(h, "tracks", early), early_ts, "the track trashed earlier keeps its own deleted_at")
    c.eq(n(h, "SELECT count(*) FROM tracks x JOIN events e ON e.id = x.event_id WHERE x.id = %d "
              "AND x.deleted_at < e.deleted_at" % early), 1, "early track's deleted_at is before the event's")
    c.eq({t: count(h, t, "event_id = %d AND deleted_at IS NULL" % W["O"]["id"]) for t in CHILD_TABLES}, before_O,
         "live rows of event O (untouched by P's trash)")
    c.eq(count(h, "events", "id = %d AND deleted_at IS NULL" % W["O"]["id"]), 1, "event O live")
    # reads: P and its rows are trash
    req(c, h, "GET", "/v1/events/%d" % P, W["owner"], 404)
    req(c, h, "GET", "/v1/sessions/%d" % cP["session"], W["owner"], 404)
    list_ids(c, h, "/v1/events?only_trashed=true", W["owner"], [P])
    list_ids(c, h, "/v1/events?only_trashed=true", W["other"], [])
    list_ids(c, h, "/v1/events/%d/sessions?with_trashed=true" % P, W["owner"],
             [cP["session"], cP["session2"], cP["session3"]])
    list_ids(c, h, "/v1/events/%d/tracks?with_trashed=true" % P, W["organizer"], [cP["track"], early])
    return early_ts


def cascade_after_restore(c, h, W, early_ts, how):
    P, cP = W["P"]["id"], W["cP"]
    early = cP["track2"]
    c.eq(state(h, "events", P), "live", "event P after %s" % how)
    for t in CHILD_TABLES:
        total = count(h, t, "event_id = %d" % P)
        c.eq(count(h, t, "event_id = %d AND deleted_at IS NULL" % P), total - (1 if t == "tracks" else 0),
             "live %s rows of P after %s (of %d)" % (t, how, total))
    c.eq(state(h, "tracks", early), early_ts, "the track trashed earlier on its own after %s (still trashed, same time)" % how)
    req(c, h, "GET", "/v1/events/%d" % P, None, 200)
    req(c, h, "GET", "/v1/sessions/%d" % cP["session"], None, 200)
    list_ids(c, h, "/v1/events/%d/tracks" % P, None, [cP["track"]])
    req(c, h, "GET", "/v1/tracks/%d" % early, W["owner"], 404)


def test_event_cascade_and_restore_by_post(h):
    W = world(h)
    c = Checks("event cascade, restore by POST /restore")
    P, cP = W["P"]["id"], W["cP"]
    early_ts = cascade_setup(c, h, W)
    path = "/v1/events/%d/restore" % P
    req(c, h, "POST", path, None, 401)
    req(c, h, "POST", path, W["stranger"], (403, 404))
    req(c, h, "POST", path, W["trackorg"], (403, 404))
    c.ok(fresh_trash(h, "events", P), "P still trashed after refused restores")
    st, doc = req(c, h, "POST", path, W["owner"], 200)
    if st == 200:
        check_restored_doc(c, doc, "event", P, "POST " + path)
        c.eq((((doc or {}).get("data") or {}).get("attributes") or {}).get("name"), "Pevent", "POST %s: name" % path)
    cascade_after_restore(c, h, W, early_ts, "POST " + path)
    req(c, h, "POST", path, W["owner"], 404)  # not trashed any more
    # the early track is restored on its own
    early = cP["track2"]
    st, doc = req(c, h, "POST", "/v1/tracks/%d/restore" % early, W["organizer"], 200)
    if st == 200:
        check_restored_doc(c, doc, "track", early, "POST /v1/tracks/%d/restore" % early)
    c.eq(state(h, "tracks", early), "live", "early track after its own restore")
    list_ids(c, h, "/v1/events/%d/tracks" % P, None, [cP["track"], early])
    # a trashed user and topic come back by POST /restore too (admins)
    et = sql_insert(h, "event_topics", name="Topic")
    trash_sql(h, "event_topics", et)
    st, doc = req(c, h, "POST", "/v1/event-topics/%d/restore" % et, W["admin"], 200)
    if st == 200:
        check_restored_doc(c, doc, "event-topic", et, "POST /v1/event-topics/%d/restore" % et)
    c.eq(state(h, "event_topics", et), "live", "topic after restore")
    c.done()


def test_event_cascade_and_restore_by_patch(h):
    W = world(h)
    c = Checks("event cascade, restore by PATCH with_trashed")
    P, cP = W["P"]["id"], W["cP"]
    early_ts = cascade_setup(c, h, W)
    path = "/v1/events/%d?with_trashed=true" % P
    body = restore_body("event", P)
    req(c, h, "PATCH", path, None, 401, body)
    req(c, h, "PATCH", path, W["stranger"], (403, 404), body)
    c.ok(fresh_trash(h, "events", P), "P still trashed after refused restores")
    st, doc = req(c, h, "PATCH", path, W["owner"], 200, body)
    if st == 200:
        check_restored_doc(c, doc, "event", P, "PATCH " + path)
    cascade_after_restore(c, h, W, early_ts, "PATCH " + path)
    # a child restored by PATCH
    early = cP["track2"]
    st, doc = req(c, h, "PATCH", "/v1/tracks/%d?with_trashed=true" % early, W["owner"], 200,
                  restore_body("track", early))
    if st == 200:
        check_restored_doc(c, doc, "track", early, "PATCH /v1/tracks/%d?with_trashed=true" % early)
    c.eq(state(h, "tracks", early), "live", "early track after PATCH restore")
    # trash and restore P again: this time every child comes back (all went with it)
    req(c, h, "DELETE", "/v1/events/%d" % P, W["owner"], 200)
    for t in CHILD_TABLES:
        c.eq(n(h, "SELECT count(*) FROM %s x JOIN events e ON e.id = x.event_id WHERE e.id = %d "
                  "AND x.deleted_at IS DISTINCT FROM e.deleted_at" % (t, P)), 0,
             "%s rows of P not trashed with the event (second trash)" % t)
    req(c, h, "PATCH", path, W["owner"], 200, body)
    for t in CHILD_TABLES:
        c.eq(count(h, t, "event_id = %d AND deleted_at IS NOT NULL" % P), 0, "trashed %s rows of P after second restore" % t)
    c.done()


def test_restore_and_patch_errors(h):
    W = world(h)
    c = Checks("restore errors")
    cP = W["cP"]
    live, t = cP["track"], cP["track2"]
    o = W["owner"]
    # restoring a row that is not trashed
    req(c, h, "POST", "/v1/tracks/%d/restore" % live, o, 404)
    c.eq(state(h, "tracks", live), "live", "live track after POST restore")
    req(c, h, "POST", "/v1/events/%d/restore" % W["P"]["id"], o, 404)
    req(c, h, "POST", "/v1/tracks/99999999/restore", o, 404)
    # CHOICE: PATCH "deleted-at": null of a live row may be 200 (no-op) or 404
    req(c, h, "PATCH", "/v1/tracks/%d?with_trashed=true" % live, o, (200, 404), restore_body("track", live))
    c.eq(state(h, "tracks", live), "live", "live track after PATCH deleted-at null")
    # a trashed row cannot be changed without being restored
    ts = trash_sql(h, "tracks", t)
    name = h.sql("SELECT name FROM tracks WHERE id = %d" % t)
    rename = res_body("track", {"name": "Renamed"}, id=t)
    for path in ("/v1/tracks/%d" % t, "/v1/tracks/%d?with_trashed=true" % t):
        req(c, h, "PATCH", path, o, 404, rename)
        c.eq(state(h, "tracks", t), ts, "trashed track after PATCH %s (name only)" % path)
        c.eq(h.sql("SELECT name FROM tracks WHERE id = %d" % t), name, "trashed track's name after PATCH %s" % path)
    req(c, h, "PATCH", "/v1/tracks/%d" % t, o, 404, restore_body("track", t))
    c.eq(state(h, "tracks", t), ts, "trashed track after PATCH deleted-at null without with_trashed")
    # deleted-at set to a timestamp: 422 with a pointer
    stamp = res_body("track", {"deleted-at": "2026-01-01T00:00:00Z"}, id=live)
    st, doc = req(c, h, "PATCH", "/v1/tracks/%d" % live, o, 422, stamp)
    if st == 422:
        e = ((doc or {}).get("errors") or [{}])[0]
        c.eq((e.get("source") or {}).get("pointer"), "/data/attributes/deleted-at",
             "PATCH /v1/tracks/%d deleted-at timestamp: pointer" % live)
    c.eq(state(h, "tracks", live), "live", "live track after PATCH with a deleted-at timestamp")
    stamp = res_body("track", {"deleted-at": "2026-01-01T00:00:00Z"}, id=t)
    st, doc = req(c, h, "PATCH", "/v1/tracks/%d?with_trashed=true" % t, o, 422, stamp)
    if st == 422:
        e = ((doc or {}).get("errors") or [{}])[0]
        c.eq((e.get("source") or {}).get("pointer"), "/data/attributes/deleted-at",
             "PATCH /v1/tracks/%d?with_trashed=true deleted-at timestamp: pointer" % t)
    c.eq(state(h, "tracks", t), ts, "trashed track after PATCH with a deleted-at timestamp")
    ev = W["P"]["id"]
    st, doc = req(c, h, "PATCH", "/v1/events/%d" % ev, o, 422,
                  res_body("event", {"deleted-at": "2030-01-01T00:00:00+02:00"}, id=ev))
    if st == 422:
        e = ((doc or {}).get("errors") or [{}])[0]
        c.eq((e.get("source") or {}).get("pointer"), "/data/attributes/deleted-at", "PATCH event deleted-at: pointer")
    c.eq(state(h, "events", ev), "live", "event after PATCH with a deleted-at timestamp")
    # who may restore: not anonymous, not strangers; nothing changes
    req(c, h, "POST", "/v1/tracks/%d/restore" % t, None, 401)
    for who in ("stranger", "moderator", "trackorg"):
        req(c, h, "POST", "/v1/tracks/%d/restore" % t, W[who], (403, 404))
        req(c, h, "PATCH", "/v1/tracks/%d?with_trashed=true" % t, W[who], (403, 404), restore_body("track", t))
    c.eq(state(h, "tracks", t), ts, "trashed track after refused restores")
    # a purged row cannot be restored
    req(c, h, "DELETE", "/v1/tracks/%d?permanent=true" % t, o, 200)
    req(c, h, "POST", "/v1/tracks/%d/restore" % t, o, 404)
    c.eq(state(h, "tracks", t), "gone", "purged track after restore")
    c.done()


# ---- unique constraints, login -------------------------------------------------------

def login_status(h, email, password):
    st, hd, doc = h.json("POST", "/v1/auth/login", headers={"Content-Type": "application/json"},
                         body={"email": email, "password": password})
    return st, doc


def test_unique_email_ignores_trashed_users(h):
    c = Checks("unique email and trashed users")
    admin = make_user(h, admin=True)
    admin["name"] = "admin"
    pw = "correct horse battery staple"
    a = signup(h, "Dana@Example.com", pw)
    a["token"] = login(h, a["email"], pw)
    a["name"] = "user a"
    em = "lower(email) = 'dana@example.com'"
    # sign-up with the same email while a is live: 409
    st, hd, doc = api(h, "POST", "/v1/users", res_body("user", {"email": "dana@example.com", "password": pw}))
    c.eq(st, 409, "POST /v1/users with a live user's email (other case): status")
    c.eq(count(h, "users", em), 1, "users with that email after the refused sign-up")
    # a trashes itself
    req(c, h, "DELETE", "/v1/users/%d" % a["id"], a, 200)
    c.ok(fresh_trash(h, "users", a["id"]), "user a trashed, is %s" % state(h, "users", a["id"]))
    st, doc = login_status(h, a["email"], pw)
    c.eq(st, 401, "POST /v1/auth/login of trashed user a: status (body %s)" % show(doc, 200))
    st, hd, doc = h.json("POST", "/auth/session", headers={"Content-Type": "application/json"},
                         body={"email": a["email"], "password": pw})
    c.eq(st, 401, "POST /auth/session of trashed user a: status (body %s)" % show(doc, 200))
    req(c, h, "GET", "/v1/users/%d" % a["id"], a, 401)
    # the same email signs up again (exactly), then case-different
    st, hd, doc = api(h, "POST", "/v1/users", res_body("user", {"email": "Dana@Example.com", "password": pw + "2"}))
    c.eq(st, 201, "POST /v1/users with trashed user a's email: status (body %s)" % show(doc, 200))
    b = int(doc["data"]["id"]) if st == 201 else None
    c.eq(count(h, "users", em), 2 if b else 1, "users with that email (a trashed, b live)")
    c.eq(count(h, "users", em + " AND deleted_at IS NULL"), 1, "live users with that email")
    if b:
        st, doc = login_status(h, "dana@example.com", pw + "2")
        c.eq(st, 200, "login of the new user b")
        req(c, h, "DELETE", "/v1/users/%d" % b, admin, 200)
        c.ok(fresh_trash(h, "users", b), "user b trashed")
    st, hd, doc = api(h, "POST", "/v1/users", res_body("user", {"email": "DANA@example.COM", "password": pw + "3"}))
    c.eq(st, 201, "POST /v1/users with a case-different trashed email: status (body %s)" % show(doc, 200))
    cc = int(doc["data"]["id"]) if st == 201 else None
    c.eq(count(h, "users", em + " AND deleted_at IS NULL"), 1, "live users with that email after the third sign-up")
    if b and cc:
        c.eq(count(h, "users", em), 3, "users with that email (two trashed, one live)")
    # restoring an old user now clashes: 409, and it stays trashed
    for old in [x for x in (a["id"], b) if x]:
        ts = state(h, "users", old)
        req(c, h, "POST", "/v1/users/%d/restore" % old, admin, 409)
        c.eq(state(h, "users", old), ts, "user %d after a refused POST restore" % old)
        req(c, h, "PATCH", "/v1/users/%d?with_trashed=true" % old, admin, 409, restore_body("user", old))
        c.eq(state(h, "users", old), ts, "user %d after a refused PATCH restore" % old)
    c.eq(count(h, "users", em + " AND deleted_at IS NULL"), 1, "live users with that email after refused restores")
    st, doc = login_status(h, a["email"], pw)
    c.eq(st, 401, "login of trashed user a (its email belongs to a live user now)")
    # once the live one is trashed, a may come back
    if cc:
        req(c, h, "DELETE", "/v1/users/%d" % cc, admin, 200)
        st, doc = req(c, h, "POST", "/v1/users/%d/restore" % a["id"], admin, 200)
        if st == 200:
            check_restored_doc(c, doc, "user", a["id"], "POST /v1/users/%d/restore" % a["id"])
        c.eq(state(h, "users", a["id"]), "live", "user a after restore")
        st, doc = login_status(h, a["email"], pw)
        c.eq(st, 200, "login of restored user a")
        if b:
            req(c, h, "POST", "/v1/users/%d/restore" % b, admin, 409)
            c.ok(state(h, "users", b) not in ("live", "gone"), "user b stays trashed")
    c.done()


def test_unique_topic_slug_ignores_trashed_topics(h):
    """The other partial unique index: event-topic slugs."""
    c = Checks("unique slug and trashed topics")
    admin = make_user(h, admin=True)
    admin["name"] = "admin"
    st, doc = req(c, h, "POST", "/v1/event-topics", admin, 201, res_body("event-topic", {"name": "Music"}))
    old = int(doc["data"]["id"]) if st == 201 else None
    if old is None:
        c.done()
    c.eq(h.sql("SELECT slug FROM event_topics WHERE id = %d" % old), "music", "slug of the first topic")
    req(c, h, "DELETE", "/v1/event-topics/%d" % old, admin, 200)
    ts = state(h, "event_topics", old)
    c.ok(fresh_trash(h, "event_topics", old), "first topic trashed, is %s" % ts)
    st, doc = req(c, h, "POST", "/v1/event-topics", admin, 201, res_body("event-topic", {"name": "Music"}))
    new = int(doc["data"]["id"]) if st == 201 else None
    if new:
        c.eq(h.sql("SELECT slug FROM event_topics WHERE id = %d" % new), "music",
             "slug of the new topic (the trashed one's slug is free)")
        c.eq(count(h, "event_topics", "slug = 'music'"), 2, "topics with slug music (one trashed)")
        req(c, h, "POST", "/v1/event-topics/%d/restore" % old, admin, 409)
        c.eq(state(h, "event_topics", old), ts, "first topic after a refused restore")
        req(c, h, "PATCH", "/v1/event-topics/%d?with_trashed=true" % old, admin, 409, restore_body("event-topic", old))
        c.eq(state(h, "event_topics", old), ts, "first topic after a refused PATCH restore")
        c.eq(count(h, "event_topics", "slug = 'music' AND deleted_at IS NULL"), 1, "live topics with slug music")
    c.done()


def test_event_routes_by_identifier(h):
    """Events are addressable by identifier on every route: trash, restore, purge."""
    W = world(h)
    c = Checks("trash and restore by identifier")
    P, ident = W["P"]["id"], W["P"]["identifier"]
    req(c, h, "DELETE", "/v1/events/%s" % ident, W["owner"], 200)
    c.ok(fresh_trash(h, "events", P), "event P after DELETE by identifier, is %s" % state(h, "events", P))
    c.eq(count(h, "sessions", "event_id = %d AND deleted_at IS NULL" % P), 0, "live sessions of P")
    req(c, h, "DELETE", "/v1/events/%s" % ident, W["owner"], 404)
    list_ids(c, h, "/v1/events/%s/sessions?with_trashed=true" % ident, W["owner"],
             [W["cP"]["session"], W["cP"]["session2"], W["cP"]["session3"]])
    st, doc = req(c, h, "POST", "/v1/events/%s/restore" % ident, W["owner"], 200)
    if st == 200:
        check_restored_doc(c, doc, "event", P, "POST /v1/events/%s/restore" % ident)
    c.eq(state(h, "events", P), "live", "event P after restore by identifier")
    c.eq(count(h, "sessions", "event_id = %d AND deleted_at IS NOT NULL" % P), 0, "trashed sessions of P after restore")
    req(c, h, "DELETE", "/v1/events/%s" % ident, W["owner"], 200)
    st, doc = req(c, h, "PATCH", "/v1/events/%s?with_trashed=true" % ident, W["owner"], 200, restore_body("event", P))
    c.eq(state(h, "events", P), "live", "event P after PATCH restore by identifier")
    req(c, h, "DELETE", "/v1/events/%s?permanent=true" % ident, W["organizer"], 403)
    c.eq(state(h, "events", P), "live", "event P after a refused purge by identifier")
    req(c, h, "DELETE", "/v1/events/%s?permanent=true" % ident, W["owner"], 200)
    c.eq(state(h, "events", P), "gone", "event P after purge by identifier")
    c.eq(sum(child_counts(h, P).values()), 0, "rows of P after purge by identifier")
    c.done()


def test_with_trashed_on_relationship_routes(h):
    """§4: reads hide the trash in relationship linkage and related routes;
    ?with_trashed=true shows it there too (for those who may read it, who
    are gated with 403 on these routes as well)."""
    W = world(h)
    c = Checks("with_trashed on relationship routes")
    P, cP = W["P"]["id"], W["cP"]
    t1, s1 = cP["track"], cP["session"]
    req(c, h, "DELETE", "/v1/tracks/%d" % t1, W["owner"], 200)
    c.ok(fresh_trash(h, "tracks", t1), "track trashed")
    for who in (W["owner"], W["admin"]):
        path = "/v1/events/%d/relationships/tracks?with_trashed=true" % P
        st, doc = req(c, h, "GET", path, who, 200)
        if st == 200:
            c.eq(linkage_ids(doc), sorted([t1, cP["track2"]]), "GET %s as %s: linkage" % (path, label(who)))
        path = "/v1/events/%d/relationships/tracks?only_trashed=true" % P
        st, doc = req(c, h, "GET", path, who, 200)
        if st == 200:
            c.eq(linkage_ids(doc), [t1], "GET %s as %s: linkage" % (path, label(who)))
        path = "/v1/sessions/%d/relationships/track?with_trashed=true" % s1
        st, doc = req(c, h, "GET", path, who, 200)
        if st == 200:
            c.eq(linkage_ids(doc), t1, "GET %s as %s: linkage" % (path, label(who)))
        path = "/v1/sessions/%d/track?with_trashed=true" % s1
        st, doc = req(c, h, "GET", path, who, 200)
        if st == 200:
            c.eq(((doc or {}).get("data") or {}).get("id"), str(t1), "GET %s as %s: data.id" % (path, label(who)))
    for f in ("with_trashed=true", "get_trashed=true", "only_trashed=true"):
        for path in ("/v1/events/%d/relationships/tracks?%s" % (P, f),
                     "/v1/sessions/%d/relationships/track?%s" % (s1, f),
                     "/v1/sessions/%d/track?%s" % (s1, f)):
            req(c, h, "GET", path, W["stranger"], 403)
            req(c, h, "GET", path, W["moderator"], 403)
            req(c, h, "GET", path, None, 401)
    # a trashed parent: its related list answers with with_trashed, its linkage too
    req(c, h, "DELETE", "/v1/events/%d" % P, W["owner"], 200)
    list_ids(c, h, "/v1/events/%d/tracks?with_trashed=true" % P, W["owner"], [t1, cP["track2"]])
    path = "/v1/events/%d/relationships/tracks?with_trashed=true" % P
    st, doc = req(c, h, "GET", path, W["owner"], 200)
    if st == 200:
        c.eq(linkage_ids(doc), sorted([t1, cP["track2"]]), "GET %s (trashed event) as owner: linkage" % path)
    c.done()


# ---- purge of old trash ---------------------------------------------------------------

# trashed 31 days ago (over 30), 29 days (under 30), 25 hours (over 1 day),
# 23 hours (under a day); and live rows
AGES = {"old": "31 days", "mid": "29 days", "day": "25 hours", "new": "23 hours"}


def purge_world(h):
    rows = {t: {"old": [], "mid": [], "day": [], "new": [], "live": [], "cascade_old": [], "cascade_mid": []}
            for t in CHILD_TABLES + ["events", "event_topics", "users"]}

    def put(table, rid, age):
        if age in AGES:
            h.sql("UPDATE %s SET deleted_at = now() - interval %s WHERE id = %d" % (table, sql_lit(AGES[age]), rid))
        rows[table][age].append(rid)

    e_live = sql_event(h, name="Live")["id"]
    rows["events"]["live"].append(e_live)
    for age in ("old", "mid", "day", "new", "live"):
        cs = children(h, e_live, "L" + age)
        for key, (type_, route, table) in KINDS.items():
            put(table, cs[key], age)
        # the rest stays live
        for key, table in (("track2", "tracks"), ("speaker2", "speakers"), ("session2", "sessions"),
                           ("session3", "sessions")):
            rows[table]["live"].append(cs[key])
        put("event_topics", sql_insert(h, "event_topics", name="Topic " + age), age)
        put("users", make_user(h)["id"], age)
    # whole events: "old" with live children (they go with it by cascade),
    # "mid" with a track trashed with it and a live session, "new" likewise
    for age in ("old", "mid", "new"):
        ev = sql_event(h, name="Trashed " + age)["id"]
        put("events", ev, age)
        tr = sql_insert(h, "tracks", event_id=ev, name="t", color="#000000")
        se = sql_insert(h, "sessions", event_id=ev, title="s", state="accepted", track_id=tr)
        if age == "old":
            rows["tracks"]["cascade_old"].append(tr)
            rows["sessions"]["cascade_old"].append(se)
            continue
        h.sql("UPDATE tracks SET deleted_at = (SELECT deleted_at FROM events WHERE id = %d) WHERE id = %d"
              % (ev, tr))
        if age == "mid":
            rows["tracks"]["mid"].append(tr)
            rows["sessions"]["cascade_mid"].append(se)
        else:
            rows["tracks"]["new"].append(tr)
            rows["sessions"]["live"].append(se)
    return rows


def expected_ids(rows, table, gone):
    return sorted(i for k, v in rows[table].items() if k not in gone for i in v)


def test_purge_trash_command(h):
    c = Checks("purge-trash")
    rows = purge_world(h)
    tables = list(rows)

    def snapshot():
        return {t: ids_sql(h, "SELECT id FROM %s" % t) for t in tables}

    start = snapshot()
    for t in tables:
        c.eq(start[t], expected_ids(rows, t, ()), "%s rows before purging (setup)" % t)

    def run(env, what):
        r = h.run_bin(["purge-trash"], env_overrides=env, timeout=60)
        c.ok(r.returncode == 0, "%s: exit %d, stderr %s" % (what, r.returncode, r.stderr.strip()[-300:]))

    # the default retention (30 days), then 30 explicitly (nothing more to do)
    gone30 = ("old", "cascade_old")
    for env, what in (({}, "purge-trash (default TRASH_RETENTION_DAYS)"),
                      ({"TRASH_RETENTION_DAYS": "30"}, "purge-trash TRASH_RETENTION_DAYS=30")):
        run(env, what)
        now = snapshot()
        for t in tables:
            c.eq(now[t], expected_ids(rows, t, gone30), "%s rows after %s" % (t, what))
    c.eq(count(h, "sessions_speakers"), n(h, "SELECT count(*) FROM sessions_speakers ss JOIN sessions s "
                                           "ON s.id = ss.session_id JOIN speakers p ON p.id = ss.speaker_id"),
         "sessions_speakers rows all point to existing rows")
    # one day: the 29-day and 25-hour-old trash goes too; 23 hours and live rows stay
    run({"TRASH_RETENTION_DAYS": "1"}, "purge-trash TRASH_RETENTION_DAYS=1")
    gone1 = gone30 + ("mid", "day", "cascade_mid")
    now = snapshot()
    for t in tables:
        c.eq(now[t], expected_ids(rows, t, gone1), "%s rows after TRASH_RETENTION_DAYS=1" % t)
    for t in tables:
        c.eq(count(h, t, "deleted_at < now() - interval '1 day'"), 0, "%s rows trashed over a day ago left" % t)
    c.eq(h.sql("SELECT oes_purge_trash(1)"), "0", "oes_purge_trash(1) right after: rows deleted")
    c.eq(snapshot(), now, "rows after oes_purge_trash(1) with nothing to do")
    c.done()


# ---- the per-type policy ---------------------------------------------------------------

def pre_trashed(h, W):
    """Rows trashed earlier (by SQL) before the switches changed."""
    cP = W["cP"]
    x = {}
    x["track"] = cP["track2"]
    x["track_ts"] = trash_sql(h, "tracks", cP["track2"])
    x["sponsor"] = sql_insert(h, "sponsors", event_id=W["P"]["id"], name="old sponsor")
    x["sponsor_ts"] = trash_sql(h, "sponsors", x["sponsor"])
    x["topic"] = sql_insert(h, "event_topics", name="old topic")
    trash_sql(h, "event_topics", x["topic"])
    x["user"] = make_user(h)["id"]
    trash_sql(h, "users", x["user"])
    ev = sql_event(h, owner=W["owner"], name="Old trashed event")["id"]
    x["event"] = ev
    x["event_track"] = sql_insert(h, "tracks", event_id=ev, name="t", color="#000000")
    x["event_sponsor"] = sql_insert(h, "sponsors", event_id=ev, name="s")
    h.sql("UPDATE events SET deleted_at = now() - interval '2 days' WHERE id = %d" % ev)
    for table, rid in (("tracks", x["event_track"]), ("sponsors", x["event_sponsor"])):
        h.sql("UPDATE %s SET deleted_at = (SELECT deleted_at FROM events WHERE id = %d) WHERE id = %d"
              % (table, ev, rid))
    return x


def check_pre_trashed(c, h, W, x):
    """Rows trashed earlier stay hidden and restorable whatever the switches."""
    o, a = W["owner"], W["admin"]
    P = W["P"]["id"]
    for route, rid in (("tracks", x["track"]), ("sponsors", x["sponsor"]), ("events", x["event"]),
                       ("tracks", x["event_track"])):
        req(c, h, "GET", "/v1/%s/%d" % (route, rid), o, 404)
    req(c, h, "GET", "/v1/event-topics/%d" % x["topic"], None, 404)
    req(c, h, "GET", "/v1/users/%d" % x["user"], a, 404)
    list_ids(c, h, "/v1/events/%d/sponsors?only_trashed=true" % P, o, [x["sponsor"]])
    # a plain DELETE of a trashed row: 404, it stays trashed (it is not purged)
    req(c, h, "DELETE", "/v1/sponsors/%d" % x["sponsor"], o, 404)
    c.eq(state(h, "sponsors", x["sponsor"]), x["sponsor_ts"], "pre-trashed sponsor after a plain DELETE")
    req(c, h, "DELETE", "/v1/tracks/%d" % x["track"], o, 404)
    c.eq(state(h, "tracks", x["track"]), x["track_ts"], "pre-trashed track after a plain DELETE")
    # restorable
    st, doc = req(c, h, "POST", "/v1/sponsors/%d/restore" % x["sponsor"], o, 200)
    if st == 200:
        check_restored_doc(c, doc, "sponsor", x["sponsor"], "POST /v1/sponsors/%d/restore" % x["sponsor"])
    c.eq(state(h, "sponsors", x["sponsor"]), "live", "pre-trashed sponsor after restore")
    req(c, h, "PATCH", "/v1/tracks/%d?with_trashed=true" % x["track"], o, 200, restore_body("track", x["track"]))
    c.eq(state(h, "tracks", x["track"]), "live", "pre-trashed track after PATCH restore")
    req(c, h, "POST", "/v1/events/%d/restore" % x["event"], o, 200)
    c.eq(state(h, "events", x["event"]), "live", "pre-trashed event after restore")
    c.eq(state(h, "tracks", x["event_track"]), "live", "its track (trashed with it) after restore")
    c.eq(state(h, "sponsors", x["event_sponsor"]), "live", "its sponsor (trashed with it) after restore")
    req(c, h, "GET", "/v1/sponsors/%d" % x["event_sponsor"], None, 200)
    req(c, h, "POST", "/v1/event-topics/%d/restore" % x["topic"], a, 200)
    c.eq(state(h, "event_topics", x["topic"]), "live", "pre-trashed topic after restore")
    req(c, h, "PATCH", "/v1/users/%d?with_trashed=true" % x["user"], a, 200, restore_body("user", x["user"]))
    c.eq(state(h, "users", x["user"]), "live", "pre-trashed user after PATCH restore")


def test_soft_delete_off_purges_everything(h):
    h.restart_server({"SOFT_DELETE": "off"})
    W = world(h)
    c = Checks("SOFT_DELETE=off")
    x = pre_trashed(h, W)
    cP, P = W["cP"], W["P"]["id"]
    for key, (type_, route, table) in KINDS.items():
        rid = cP[key]
        p = "/v1/%s/%d" % (route, rid)
        st, doc = req(c, h, "DELETE", p, W["owner"], 200)
        if st == 200:
            c.eq((doc or {}).get("meta"), DELETED, "DELETE %s: meta" % p)
        c.eq(state(h, table, rid), "gone", "after DELETE %s with SOFT_DELETE=off" % p)
        req(c, h, "DELETE", p, W["owner"], 404)
        req(c, h, "POST", "/v1/%s/%d/restore" % (route, rid), W["owner"], 404)
    c.eq(count(h, "sessions_speakers", "session_id = %d" % cP["session"]), 0, "links of the purged session")
    c.eq(count(h, "tracks", "deleted_at IS NOT NULL AND id <> %d AND id <> %d" % (x["track"], x["event_track"])), 0,
         "no trashed tracks made by DELETE")
    # an event: gone with all its rows
    O = W["O"]["id"]
    req(c, h, "DELETE", "/v1/events/%d" % O, W["other"], 200)
    c.eq(state(h, "events", O), "gone", "event O after DELETE with SOFT_DELETE=off")
    for t in CHILD_TABLES:
        c.eq(count(h, t, "event_id = %d" % O), 0, "%s rows of O after its DELETE" % t)
    # topics and users
    et = sql_insert(h, "event_topics", name="Topic")
    req(c, h, "DELETE", "/v1/event-topics/%d" % et, W["admin"], 200)
    c.eq(state(h, "event_topics", et), "gone", "topic after DELETE with SOFT_DELETE=off")
    u = W["stranger"]
    req(c, h, "DELETE", "/v1/users/%d" % u["id"], u, 200)
    c.eq(state(h, "users", u["id"]), "gone", "user after self DELETE with SOFT_DELETE=off")
    # rows trashed earlier: hidden, restorable
    check_pre_trashed(c, h, W, x)
    # and purgeable with ?permanent=true
    y = sql_insert(h, "tracks", event_id=P, name="y", color="#000000")
    trash_sql(h, "tracks", y)
    req(c, h, "DELETE", "/v1/tracks/%d?permanent=true" % y, W["owner"], 200)
    c.eq(state(h, "tracks", y), "gone", "pre-trashed track after permanent DELETE")
    c.done()


def test_soft_delete_off_for_sponsor_only(h):
    h.restart_server({"SOFT_DELETE_OFF": "sponsor"})
    W = world(h)
    c = Checks("SOFT_DELETE_OFF=sponsor")
    x = pre_trashed(h, W)
    cP = W["cP"]
    for key, (type_, route, table) in KINDS.items():
        rid = cP[key]
        p = "/v1/%s/%d" % (route, rid)
        req(c, h, "DELETE", p, W["owner"], 200)
        if key == "sponsor":
            c.eq(state(h, table, rid), "gone", "after DELETE %s with SOFT_DELETE_OFF=sponsor" % p)
        else:
            c.ok(fresh_trash(h, table, rid), "after DELETE %s with SOFT_DELETE_OFF=sponsor: trashed, is %s"
                 % (p, state(h, table, rid)))
        req(c, h, "DELETE", p, W["owner"], 404)
    et = sql_insert(h, "event_topics", name="Topic")
    req(c, h, "DELETE", "/v1/event-topics/%d" % et, W["admin"], 200)
    c.ok(fresh_trash(h, "event_topics", et), "topic trashed with SOFT_DELETE_OFF=sponsor")
    u = W["stranger"]
    req(c, h, "DELETE", "/v1/users/%d" % u["id"], u, 200)
    c.ok(fresh_trash(h, "users", u["id"]), "user trashed with SOFT_DELETE_OFF=sponsor")
    # an event is trashed; its sponsor is hidden with it and back with it
    O, cO = W["O"]["id"], W["cO"]
    req(c, h, "DELETE", "/v1/events/%d" % O, W["other"], 200)
    c.ok(fresh_trash(h, "events", O), "event O trashed with SOFT_DELETE_OFF=sponsor")
    c.eq(count(h, "sponsors", "id = %d" % cO["sponsor"]), 1, "O's sponsor row kept while O is in the trash")
    req(c, h, "GET", "/v1/sponsors/%d" % cO["sponsor"], None, 404)
    for t in CHILD_TABLES:
        if t == "sponsors":
            continue
        total = count(h, t, "event_id = %d" % O)
        c.eq(n(h, "SELECT count(*) FROM %s x JOIN events e ON e.id = x.event_id WHERE e.id = %d "
                  "AND x.deleted_at = e.deleted_at" % (t, O)), total, "%s rows of O trashed with it" % t)
    req(c, h, "POST", "/v1/events/%d/restore" % O, W["other"], 200)
    c.eq(state(h, "events", O), "live", "event O after restore")
    for t in CHILD_TABLES:
        c.eq(count(h, t, "event_id = %d AND deleted_at IS NOT NULL" % O), 0, "trashed %s rows of O after restore" % t)
    req(c, h, "GET", "/v1/sponsors/%d" % cO["sponsor"], None, 200)
    # rows trashed earlier
    check_pre_trashed(c, h, W, x)
    # two types off
    h.restart_server({"SOFT_DELETE_OFF": "sponsor,social-link"})
    for key, table in (("sponsor", "sponsors"), ("social-link", "social_links"), ("track", "tracks"),
                       ("ticket", "tickets")):
        rid = cO[key]
        req(c, h, "DELETE", "/v1/%s/%d" % (KINDS[key][1], rid), W["other"], 200)
        if key in ("sponsor", "social-link"):
            c.eq(state(h, table, rid), "gone", "%s after DELETE with SOFT_DELETE_OFF=sponsor,social-link" % table)
        else:
            c.ok(fresh_trash(h, table, rid), "%s after DELETE with SOFT_DELETE_OFF=sponsor,social-link: trashed, is %s"
                 % (table, state(h, table, rid)))
    c.done()

