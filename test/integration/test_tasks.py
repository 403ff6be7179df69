"""Background tasks (spec §7; issue 7): the task status route, exports for
organisers (JSON, iCalendar, xCal of an event with 200 sessions, read back
with a JSON parser, python3-icalendar and an XML parser), and the task
machinery: Redis dispatch, a `worker` killed in the middle of a task, a
Redis outage with 100 tasks queued, retries with backoff up to
TASK_MAX_RETRIES, the sweeper, result expiry and the periodic jobs.

Effects are counted with the `versions.bump` task (one PATCH of a session
enqueues one): after the dust settles the counter must equal the number of
changes exactly, and every task must have run its effect once.
"""

import json
import os
import sys
import time
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from fixtures import api, grant, make_user, patch, sql_event, sql_insert
from helpers import eq, expect, get_metrics, metric, show, sql_lit, wait_for
from redis_fixture import RedisServer, Worker
from run import ROOT

try:
    import icalendar
except ImportError:  # Debian's python3-icalendar, when python3 is not Debian's
    sys.path.append("/usr/lib/python3/dist-packages")
    import icalendar

UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


# ---- helpers -------------------------------------------------------------------

def export(h, ev, fmt, token, key="identifier"):
    method = "POST" if fmt == "json" else "GET"
    path = "/v1/events/%s/export/%s" % (ev[key], fmt)
    return api(h, method, path, token=token)


def start_export(h, ev, fmt, token):
    st, hd, doc = export(h, ev, fmt, token)
    expect(st == 200, "export %s: expected 200, got %d: %s" % (fmt, st, show(doc)))
    eq((hd.get("content-type") or "").split(";")[0], "application/json", "export Content-Type")
    url = (doc or {}).get("task_url") or ""
    import re
    expect(url.startswith("/v1/tasks/") and re.match(UUID_RE, url[len("/v1/tasks/"):]),
           "task_url %r" % url)
    return url


def wait_task(h, url, token, timeout=30):
    got = {}

    def over():
        st, _, doc = api(h, "GET", url, token=token)
        expect(st == 200, "GET %s: expected 200, got %d: %s" % (url, st, show(doc)))
        got["doc"] = doc
        return doc.get("state") in ("SUCCESS", "FAILURE")

    try:
        wait_for(over, timeout, interval=0.2, what="task %s to finish" % url)
    except AssertionError:
        raise AssertionError("task %s did not finish; last %s" % (url, show(got.get("doc"))))
    return got["doc"]


def download(h, url):
    """The stored file behind a download URL: through /static/ when the
    server serves it, else (route not wired) from the local upload directory."""
    path = urlsplit(url).path
    st, hd, body = h.request("GET", path)
    if st == 200:
        return body, hd.get("content-type")
    expect(path.startswith("/static/"), "download URL %r is not local storage (%d)" % (url, st))
    base = (h.server.env.get("UPLOAD_DIR") if h.server else None) or os.path.join(ROOT, "var",
                                                                                   "uploads")
    f = os.path.join(base, path[len("/static/"):])
    expect(os.path.isfile(f), "GET %s: %d, and no file %s" % (path, st, f))
    with open(f, "rb") as fh:
        return fh.read(), None


def world(h):
    owner = make_user(h)
    ev = sql_event(h, owner, name="Tasks")
    sid = sql_insert(h, "sessions", event_id=ev["id"], title="Talk", state="accepted",
                     starts_at="2030-06-01T10:00:00Z", ends_at="2030-06-01T11:00:00Z")
    return owner, ev, sid


def counter(h, ev, col="sessions_ver"):
    v = h.sql("SELECT %s FROM event_versions WHERE event_id = %d" % (col, ev["id"]))
    return int(v) if v else 0


def bump_states(h):
    return h.sql("SELECT state || ':' || attempts || ':' || count(*) FROM tasks "
                 "WHERE name = 'versions.bump' GROUP BY state, attempts ORDER BY 1"
                 ).replace("\n", " ")


# ---- task status --------------------------------------------------------------------

def test_task_status_permissions(h):
    owner, ev, _ = world(h)
    url = start_export(h, ev, "json", owner)
    doc = wait_task(h, url, owner)
    eq(sorted(doc), ["result", "state"], "task document members")
    other = make_user(h)
    st, _, doc = api(h, "GET", url, token=other)
    eq(st, 403, "GET task as another user: %s" % show(doc))
    eq(doc["errors"][0]["status"], "403", "error status")
    admin = make_user(h, admin=True)
    st, _, doc = api(h, "GET", url, token=admin)
    eq(st, 200, "GET task as admin: %s" % show(doc))
    st, _, doc = api(h, "GET", url)
    eq(st, 401, "GET task anonymously: %s" % show(doc))
    st, _, doc = api(h, "GET", "/v1/tasks/00000000-0000-4000-8000-000000000000", token=admin)
    eq(st, 404, "unknown task: %s" % show(doc))
    st, _, doc = api(h, "GET", "/v1/tasks/not-a-uuid", token=admin)
    eq(st, 404, "malformed task id: %s" % show(doc))
    st, _, doc = api(h, "GET", url.upper().replace("/V1/TASKS/", "/v1/tasks/"), token=owner)
    eq(st, 200, "task id in upper case: %s" % show(doc))
    # a pending task has no result yet
    tid = h.sql("INSERT INTO tasks (name, creator_id, run_after) VALUES ('export.json', %d, "
                "now() + interval '1 hour') RETURNING id" % owner["id"])
    st, _, doc = api(h, "GET", "/v1/tasks/" + tid, token=owner)
    eq((st, doc), (200, {"state": "PENDING", "result": None}), "pending task")


# ---- exports --------------------------------------------------------------------------

def test_export_permissions(h):
    owner, ev, _ = world(h)
    draft = sql_event(h, owner, name="Draft", state="draft")
    organizer, coorg, trackorg, stranger = (make_user(h) for _ in range(4))
    grant(h, organizer, ev, "organizer")
    grant(h, coorg, ev, "coorganizer")
    grant(h, trackorg, ev, "track_organizer")
    admin = make_user(h, admin=True)
    for fmt in ("json", "ical", "xcal"):
        st, hd, doc = export(h, ev, fmt, None)
        eq(st, 401, "%s export anonymously: %s" % (fmt, show(doc)))
        for who, name in ((stranger, "stranger"), (trackorg, "track organizer")):
            st, _, doc = export(h, ev, fmt, who)
            eq(st, 403, "%s export of a published event by a %s: %s" % (fmt, name, show(doc)))
        st, _, doc = export(h, draft, fmt, stranger)
        eq(st, 404, "%s export of a draft event by a stranger: %s" % (fmt, show(doc)))
        for who, name in ((owner, "owner"), (organizer, "organizer"), (coorg, "coorganizer"),
                          (admin, "admin")):
            st, _, doc = export(h, ev, fmt, who)
            eq(st, 200, "%s export by the %s: %s" % (fmt, name, show(doc)))
        st, _, doc = export(h, ev, fmt, owner, key="id")
        eq(st, 200, "%s export by numeric id: %s" % (fmt, show(doc)))
        st, _, doc = export(h, {"identifier": "abcdef12"}, fmt, admin)
        eq(st, 404, "%s export of an unknown event: %s" % (fmt, show(doc)))
    # a GET on the JSON export route is not allowed
    st, hd, _ = h.request("GET", "/v1/events/%s/export/json" % ev["identifier"])
    eq(st, 405, "GET .../export/json")


def big_event(h, owner, n=200):
    ev = sql_event(h, owner, name='Big "Conf", 2030; back\\slash')
    eid = ev["id"]
    tracks = [sql_insert(h, "tracks", event_id=eid, name="Track %d" % i, color="#2233%02x" % i)
              for i in range(3)]
    rooms = [sql_insert(h, "microlocations", event_id=eid, name="Room, %d; á" % i)
             for i in range(2)]
    for i in range(2):
        sql_insert(h, "sponsors", event_id=eid, name="Sponsor %d" % i, level=i)
    h.sql("INSERT INTO speakers (event_id, name, email) SELECT %d, 'Speaker ' || g, "
          "'s' || g || '@example.com' FROM generate_series(1, 20) g" % eid)
    h.sql("INSERT INTO sessions (event_id, title, short_abstract, state, starts_at, ends_at, "
          "track_id, microlocation_id) SELECT %d, 'Talk ' || g || ', part; one', "
          "'Line one' || chr(10) || 'Line two with ünïcödé ' || repeat('long words ', 12), "
          "'accepted', timestamptz '2030-06-01 09:00+00' + g * interval '10 minutes', "
          "timestamptz '2030-06-01 09:30+00' + g * interval '10 minutes', "
          "(ARRAY[%d, %d, %d])[1 + g %% 3], (ARRAY[%d, %d])[1 + g %% 2] "
          "FROM generate_series(1, %d) g" % ((eid,) + tuple(tracks) + tuple(rooms) + (n,)))
    h.sql("INSERT INTO sessions_speakers (session_id, speaker_id) SELECT s.id, sp.id FROM "
          "sessions s JOIN speakers sp ON sp.event_id = s.event_id AND sp.id %% 20 = s.id %% 20 "
          "WHERE s.event_id = %d" % eid)
    # neither a draft session nor trashed rows are in the calendar
    sql_insert(h, "sessions", event_id=eid, title="Draft", state="draft",
               starts_at="2030-06-01T10:00:00Z", ends_at="2030-06-01T11:00:00Z")
    sql_insert(h, "sessions", event_id=eid, title="Trashed", state="accepted",
               starts_at="2030-06-01T10:00:00Z", ends_at="2030-06-01T11:00:00Z",
               deleted_at="2030-01-01T00:00:00Z")
    return ev


def test_export_json_of_200_sessions(h):
    owner = make_user(h)
    ev = big_event(h, owner)
    url = start_export(h, ev, "json", owner)
    doc = wait_task(h, url, owner)
    eq(doc["state"], "SUCCESS", "state: %s" % show(doc))
    res = doc["result"]
    expect(isinstance(res, dict) and str(res.get("download_url", "")).startswith("http"),
           "result.download_url: %s" % show(doc))
    body, ctype = download(h, res["download_url"])
    if ctype:
        eq(ctype.split(";")[0], "application/json", "stored Content-Type")
    data = json.loads(body)
    eq(sorted(data), ["event", "microlocations", "sessions", "speakers", "sponsors", "tracks"],
       "export members")
    eq(data["event"]["name"], 'Big "Conf", 2030; back\\slash', "event.name")
    eq(data["event"]["id"], str(ev["id"]), "event.id (a string)")
    eq(data["event"]["identifier"], ev["identifier"], "event.identifier")
    expect("paypal-email" not in data["event"], "payment details are not exported")
    eq(len(data["sessions"]), 201, "sessions (200 accepted + 1 draft; trashed left out)")
    eq(len(data["speakers"]), 20, "speakers")
    eq(len(data["tracks"]), 3, "tracks")
    eq(len(data["microlocations"]), 2, "microlocations")
    eq(len(data["sponsors"]), 2, "sponsors")
    s = [x for x in data["sessions"] if x["title"] == "Talk 7, part; one"][0]
    for k in ("starts-at", "ends-at", "track-id", "microlocation-id", "speaker-ids", "state"):
        expect(k in s, "session member %s: %s" % (k, show(s)))
    eq(len(s["speaker-ids"]), 1, "speaker-ids of a session")
    expect(isinstance(s["track-id"], str), "ids are strings: %r" % s["track-id"])
    expect("deleted-at" not in s, "deleted-at is not exported")
    eq(data["speakers"][0].get("email") is not None, True, "organisers' export keeps emails")


def test_export_ical_and_xcal_of_200_sessions(h):
    owner = make_user(h)
    ev = big_event(h, owner)
    url_i = start_export(h, ev, "ical", owner)
    url_x = start_export(h, ev, "xcal", owner)
    doc = wait_task(h, url_i, owner)
    eq(doc["state"], "SUCCESS", "ical state: %s" % show(doc))
    body, ctype = download(h, doc["result"]["download_url"])
    if ctype:
        eq(ctype.split(";")[0], "text/calendar", "stored Content-Type")
    for line in body.split(b"\r\n"):
        expect(len(line) <= 75, "iCalendar line longer than 75 octets: %r" % line[:100])
    cal = icalendar.Calendar.from_ical(body)
    events = [c for c in cal.walk() if c.name == "VEVENT"]
    eq(len(events), 200, "VEVENTs (accepted sessions with times)")
    eq(str(cal.get("X-WR-CALNAME")), 'Big "Conf", 2030; back\\slash', "X-WR-CALNAME")
    uids = {str(e.get("UID")) for e in events}
    eq(len(uids), 200, "distinct UIDs")
    e7 = [e for e in events if str(e.get("SUMMARY")) == "Talk 7, part; one"]
    eq(len(e7), 1, "the event of session 7 (summary unescaped)")
    e7 = e7[0]
    eq(e7.decoded("DTSTART").isoformat(), "2030-06-01T10:10:00+00:00", "DTSTART of session 7")
    eq(e7.decoded("DTEND").isoformat(), "2030-06-01T10:40:00+00:00", "DTEND of session 7")
    desc = str(e7.get("DESCRIPTION"))
    expect(desc.startswith("Line one\nLine two with ünïcödé long words"),
           "DESCRIPTION unescaped and unfolded: %r" % desc[:80])
    expect("Speakers: Speaker 7" in desc, "speakers in the description: %r" % desc[-60:])
    expect(str(e7.get("LOCATION")).startswith("Room, "), "LOCATION %r" % e7.get("LOCATION"))
    # xCal
    doc = wait_task(h, url_x, owner)
    eq(doc["state"], "SUCCESS", "xcal state: %s" % show(doc))
    body, _ = download(h, doc["result"]["download_url"])
    root = ET.fromstring(body)
    ns = {"x": "urn:ietf:params:xml:ns:icalendar-2.0"}
    eq(root.tag, "{urn:ietf:params:xml:ns:icalendar-2.0}icalendar", "xCal root")
    vevents = root.findall("x:vcalendar/x:components/x:vevent", ns)
    eq(len(vevents), 200, "xCal vevents")
    summaries = [v.findtext("x:properties/x:summary/x:text", None, ns) for v in vevents]
    expect("Talk 7, part; one" in summaries, "xCal summaries: %r" % summaries[:3])
    starts = [v.findtext("x:properties/x:dtstart/x:date-time", None, ns) for v in vevents]
    expect("2030-06-01T10:10:00Z" in starts, "xCal dtstart values: %r" % starts[:3])


def test_export_of_a_purged_event_fails_for_good(h):
    owner, ev, _ = world(h)
    h.sql("DELETE FROM events WHERE id = %d" % ev["id"])
    tid = h.sql("INSERT INTO tasks (name, payload, creator_id) VALUES ('export.json', "
                "'{\"event_id\": %d}', %d) RETURNING id" % (ev["id"], owner["id"]))
    h.restart_server()  # start-up re-dispatches due tasks
    doc = wait_task(h, "/v1/tasks/" + tid, owner)
    eq(doc["state"], "FAILURE", "export of a missing event: %s" % show(doc))
    expect("error" in (doc["result"] or {}), "result.error: %s" % show(doc))
    eq(h.sql("SELECT attempts FROM tasks WHERE id = '%s'" % tid), "1", "no retry")


# ---- the machinery ---------------------------------------------------------------------

def test_retry_with_backoff_then_success(h):
    h.restart_server({"PG_STATEMENT_TIMEOUT_MS": "300"})
    owner, ev, sid = world(h)
    lock = h.lock("event_versions")
    patch(h, "sessions", sid, "session", {"title": "Renamed"}, token=owner)
    wait_for(lambda: h.sql("SELECT state || ':' || attempts FROM tasks WHERE name = "
                           "'versions.bump'") == "RETRY:1", 10, what="a failed first attempt")
    res = h.sql("SELECT result->>'error' FROM tasks WHERE name = 'versions.bump'")
    expect(res.strip() != "", "the error is kept in result.error: %r" % res)
    lock.release()
    wait_for(lambda: h.sql("SELECT state FROM tasks WHERE name = 'versions.bump'") ==
             "SUCCESS", 15, what="the retry to succeed")
    eq(h.sql("SELECT attempts FROM tasks WHERE name = 'versions.bump'"), "2", "attempts")
    eq(counter(h, ev), 1, "sessions_ver (the failed attempt applied nothing)")


def test_retries_end_in_failure(h):
    h.restart_server({"PG_STATEMENT_TIMEOUT_MS": "200", "TASK_MAX_RETRIES": "1"})
    owner, ev, sid = world(h)
    lock = h.lock("event_versions")
    patch(h, "sessions", sid, "session", {"title": "Renamed"}, token=owner)
    wait_for(lambda: h.sql("SELECT state FROM tasks WHERE name = 'versions.bump'") ==
             "FAILURE", 15, what="FAILURE after the retries")
    lock.release()
    eq(h.sql("SELECT attempts FROM tasks WHERE name = 'versions.bump'"), "2",
       "attempts (1 + TASK_MAX_RETRIES)")
    expect(h.sql("SELECT finished_at IS NOT NULL FROM tasks WHERE name = 'versions.bump'") ==
           "t", "finished_at set")
    time.sleep(2.5)
    eq(h.sql("SELECT state FROM tasks WHERE name = 'versions.bump'"), "FAILURE",
       "a failed task stays failed")
    eq(counter(h, ev), 0, "sessions_ver")


def test_sweeper_redispatches_lost_tasks(h):
    h.restart_server({"TASK_VISIBILITY_TIMEOUT_S": "2", "TASK_MAX_RETRIES": "3"})
    owner, ev, _ = world(h)
    payload = lambda kind: sql_lit(json.dumps({"event_id": ev["id"], "kind": kind}))
    # a run that died (STARTED long ago), one nobody picked up, one out of retries
    h.sql("INSERT INTO tasks (name, payload, state, attempts, updated_at) VALUES "
          "('versions.bump', %s, 'STARTED', 1, now() - interval '1 hour')" % payload("speakers"))
    h.sql("INSERT INTO tasks (name, payload, run_after, updated_at) VALUES "
          "('versions.bump', %s, now() - interval '1 hour', now() - interval '1 hour')"
          % payload("microlocations"))
    h.sql("INSERT INTO tasks (name, payload, state, attempts, updated_at) VALUES "
          "('versions.bump', %s, 'STARTED', 4, now() - interval '1 hour')" % payload("event"))
    h.sql("INSERT INTO tasks (name, run_after, updated_at) VALUES "
          "('no.such.task', now() - interval '1 hour', now() - interval '1 hour')")
    wait_for(lambda: h.sql("SELECT count(*) FROM tasks WHERE state IN ('SUCCESS', 'FAILURE')")
             == "4", 20, what="the sweeper to settle all four tasks")
    eq(bump_states(h), "FAILURE:4:1 SUCCESS:1:1 SUCCESS:2:1", "versions.bump state:attempts:count")
    eq(counter(h, ev, "speakers_ver"), 1, "speakers_ver (the dead run's task, run again)")
    eq(counter(h, ev, "microlocations_ver"), 1, "microlocations_ver (picked up late)")
    eq(counter(h, ev, "event_ver"), 0, "event_ver (out of retries: not run)")
    eq(h.sql("SELECT state || ' ' || (result->>'error') FROM tasks WHERE name = 'no.such.task'"),
       "FAILURE unknown task", "a task nobody knows")


def test_backlog_beyond_the_local_queue(h):
    """Without Redis at most 1024 task ids wait in memory: a backlog of due
    tasks is read back from the table in batches as the local queue drains,
    and tasks enqueued meanwhile wait in the table behind it. Every task
    runs once and none waits for the sweeper (issue #9: the unbounded local
    queue grew the server's RSS under a write load)."""
    owner, ev, sid = world(h)
    n, patches = 3000, 10
    h.sql("INSERT INTO tasks (name, payload) SELECT 'versions.bump', %s FROM generate_series(1, %d)"
          % (sql_lit(json.dumps({"event_id": ev["id"], "kind": "speakers"})), n))
    h.restart_server()  # start-up reads due tasks back
    queued = []

    def local_queued():
        v = metric(get_metrics(h)[0], "oes_tasks_local_queued")
        expect(v is not None, "no oes_tasks_local_queued series")
        queued.append(v)
        return v

    wait_for(lambda: local_queued() > 0, 10, interval=0.02, what="the backlog to be read back")
    for i in range(patches):
        patch(h, "sessions", sid, "session", {"title": "Renamed %d" % i}, token=owner)
        local_queued()

    def settled():
        local_queued()
        return h.sql("SELECT count(*) FROM tasks WHERE state NOT IN ('SUCCESS', 'FAILURE')") == "0"

    wait_for(settled, 60, interval=0.2, what="every task to run")
    expect(max(queued) <= 1024, "oes_tasks_local_queued went up to %r (limit 1024)" % max(queued))
    eq(counter(h, ev, "speakers_ver"), n, "speakers_ver (the backlog, each task once)")
    eq(counter(h, ev), patches, "sessions_ver (tasks enqueued behind the backlog)")
    eq(bump_states(h), "SUCCESS:1:%d" % (n + patches), "versions.bump state:attempts:count")
    with open(h.server_log, errors="replace") as f:
        log = f.read()
    expect("later ones wait in the database" in log,
           "no log line of ids left in the table (the PATCHes' tasks were queued in memory)")
    expect("the local queue caught up with the database" in log,
           "no log line of the local queue catching up")


def test_results_expire(h):
    h.restart_server({"TASK_RESULT_TTL_S": "1"})
    owner, ev, _ = world(h)
    url = start_export(h, ev, "json", owner)
    eq(wait_task(h, url, owner)["state"], "SUCCESS", "state")
    wait_for(lambda: api(h, "GET", url, token=owner)[0] == 404, 15,
             what="the finished task to expire")
    pending = h.sql("INSERT INTO tasks (name, run_after) VALUES ('export.json', now() + "
                    "interval '1 hour') RETURNING id")
    time.sleep(2.5)
    eq(h.sql("SELECT count(*) FROM tasks WHERE id = '%s'" % pending), "1",
       "unfinished tasks are kept")


def test_periodic_jobs(h):
    h.restart_server({"TRASH_RETENTION_DAYS": "1"})
    user = make_user(h)
    h.sql("INSERT INTO token_revocations (jti, user_id, expires_at) VALUES "
          "('old', %d, now() - interval '1 minute'), ('new', %d, now() + interval '1 hour')"
          % (user["id"], user["id"]))
    old = sql_event(h, name="Old trash", deleted_at="2020-01-01T00:00:00Z")
    fresh = sql_event(h, name="Fresh trash")
    h.sql("UPDATE events SET deleted_at = now() - interval '1 hour' WHERE id = %d" % fresh["id"])
    wait_for(lambda: h.sql("SELECT string_agg(jti, ',') FROM token_revocations") == "new", 15,
             what="expired revocations to go")
    wait_for(lambda: h.sql("SELECT count(*) FROM events WHERE id = %d" % old["id"]) == "0", 15,
             what="old trash to be purged")
    eq(h.sql("SELECT count(*) FROM events WHERE id = %d" % fresh["id"]), "1", "fresh trash kept")
    names = h.sql("SELECT string_agg(name, ',' ORDER BY name) FROM periodic_jobs")
    eq(names, "tasks.expire,tasks.sweep,tokens.expire,trash.purge", "jobs that ran")


# ---- Redis ----------------------------------------------------------------------------

REDIS_ENV = {"TASK_CONSUMER": "off", "TASK_VISIBILITY_TIMEOUT_S": "2"}


def test_worker_killed_mid_task(h):
    r = RedisServer(h)
    env = dict(REDIS_ENV, REDIS_URL=r.url)
    h.restart_server(env)
    owner, ev, sid = world(h)
    w1 = Worker(h, env)
    lock = h.lock("event_versions")
    patch(h, "sessions", sid, "session", {"title": "Renamed"}, token=owner)
    try:
        wait_for(lambda: h.sql("SELECT state || ':' || attempts FROM tasks WHERE name = "
                               "'versions.bump'") == "STARTED:1", 15,
                 what="the worker to start the task")
        wait_for(lambda: h.lock_waiters() >= 1, 10, what="the task to wait for its lock")
    except AssertionError as e:
        raise AssertionError("%s\n  worker log:\n%s" % (e, w1.log()))
    expect(w1.running(), "the worker runs")
    w1.kill()
    lock.release()
    time.sleep(0.5)
    eq(counter(h, ev), 0, "sessions_ver after the kill (the dead run's effect rolled back)")
    w2 = Worker(h, env)
    wait_for(lambda: h.sql("SELECT state FROM tasks WHERE name = 'versions.bump'") ==
             "SUCCESS", 30, what="another worker to finish the task")
    eq(h.sql("SELECT attempts FROM tasks WHERE name = 'versions.bump'"), "2", "attempts")
    time.sleep(1)
    eq(counter(h, ev), 1, "sessions_ver: the effect applied once")
    eq(w2.stop(), 0, "worker exit status after SIGTERM")


def test_redis_outage_with_100_tasks(h):
    r = RedisServer(h)
    env = dict(REDIS_ENV, REDIS_URL=r.url, TASK_VISIBILITY_TIMEOUT_S="3")
    h.restart_server(env)
    owner, ev, sid = world(h)
    for i in range(100):
        patch(h, "sessions", sid, "session", {"title": "T%d" % i}, token=owner)
    wait_for(lambda: h.sql("SELECT count(*) FROM tasks WHERE name = 'versions.bump'") == "100",
             10, what="100 tasks in PostgreSQL")
    wait_for(lambda: r.cmd("LLEN", "oes:tasks:queue") >= 100, 10,
             what="100 ids queued in Redis")
    r.stop()  # the queue is lost
    for i in range(20):  # enqueued while Redis is down
        patch(h, "sessions", sid, "session", {"title": "D%d" % i}, token=owner)
    time.sleep(0.5)
    r.start()
    w = Worker(h, env)
    try:
        wait_for(lambda: bump_states(h) == "SUCCESS:1:120", 60, interval=0.5,
                 what="all 120 tasks to succeed once")
    except AssertionError:
        raise AssertionError("tasks: %s\n  worker log:\n%s" % (bump_states(h), w.log()))
    time.sleep(1)
    eq(counter(h, ev), 120, "sessions_ver: each effect applied once")
    wait_for(lambda: r.cmd("LLEN", "oes:tasks:processing") == 0, 15,
             what="the processing list to be empty")
    eq(w.stop(), 0, "worker exit status after SIGTERM")


def test_worker_needs_redis(h):
    res = h.run_bin(["worker"], env_overrides={"REDIS_URL": None}, timeout=10)
    eq(res.returncode, 2, "exit status of worker without REDIS_URL: %s" % res.stderr)
    expect("REDIS_URL" in res.stderr, "the message names REDIS_URL: %r" % res.stderr)


def test_worker_rides_out_a_redis_restart(h):
    r = RedisServer(h)
    env = dict(REDIS_ENV, REDIS_URL=r.url)
    h.restart_server(env)
    owner, ev, sid = world(h)
    w = Worker(h, env)
    patch(h, "sessions", sid, "session", {"title": "Before"}, token=owner)
    wait_for(lambda: counter(h, ev) == 1, 15, what="the first bump")
    r.stop()
    time.sleep(1.0)
    r.start()
    patch(h, "sessions", sid, "session", {"title": "After"}, token=owner)
    try:
        wait_for(lambda: counter(h, ev) == 2, 20, what="a bump after Redis came back")
    except AssertionError as e:
        raise AssertionError("%s\n  worker log:\n%s" % (e, w.log()))
    expect(w.running(), "the worker is still running")
    eq(w.stop(), 0, "worker exit status after SIGTERM")


def test_hung_redis_is_detected(h):
    """A Redis that stops answering (SIGSTOP) without closing its sockets:
    the command timeouts close the connections, the ids wait, and once Redis
    answers again every task runs once."""
    r = RedisServer(h)
    env = dict(REDIS_ENV, REDIS_URL=r.url, TASK_VISIBILITY_TIMEOUT_S="30")
    h.restart_server(env)
    owner, ev, sid = world(h)
    w = Worker(h, env)
    import signal as _signal
    r.proc.send_signal(_signal.SIGSTOP)
    try:
        for i in range(5):
            patch(h, "sessions", sid, "session", {"title": "H%d" % i}, token=owner)
        time.sleep(7)  # past the reply timeout: the connections are closed
        st, _, _ = api(h, "GET", "/v1/events/%d/versions" % ev["id"])
        eq(st, 200, "the server answers while Redis hangs")
    finally:
        r.proc.send_signal(_signal.SIGCONT)
    try:
        wait_for(lambda: bump_states(h) == "SUCCESS:1:5", 30, interval=0.5,
                 what="the five tasks to succeed once")
    except AssertionError:
        raise AssertionError("tasks: %s\n  worker log:\n%s" % (bump_states(h), w.log()))
    time.sleep(1)
    eq(counter(h, ev), 5, "sessions_ver")
    log = open(h.server.log_path, "rb").read().decode("utf-8", "replace")
    expect("no reply in time" in log or "timed out" in log,
           "the server noticed the hang (log has a timeout)")
    eq(w.stop(), 0, "worker exit status after SIGTERM")


# ---- derived images (spec §6) ----------------------------------------------------------

def png_bytes(w, h):
    import struct
    import zlib

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)

    rows = b"".join(b"\x00" + bytes(v for x in range(w) for v in (x * 7 % 256, y * 5 % 256, 90))
                    for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def png_size(data):
    import struct
    expect(data[:8] == b"\x89PNG\r\n\x1a\n", "a PNG file: %r" % data[:16])
    return struct.unpack(">II", data[16:24])


def put_upload(h, owner, data, name="orig.png", direct=False):
    """An uploaded image's URL: through POST /v1/upload/image when the route
    is there (and not direct), else written into the local storage directory
    (direct: bytes the upload route would refuse)."""
    import base64
    import secrets
    if not direct:
        body = {"data": "data:image/png;base64," + base64.b64encode(data).decode()}
        st, _, doc = h.json("POST", "/v1/upload/image", body=body,
                            headers={"Content-Type": "application/json",
                                     "Authorization": "JWT " + owner["token"]})
        if st == 200:
            return doc["url"]
        expect(st in (404, 405), "POST /v1/upload/image: %d %s" % (st, show(doc)))
    d = os.path.join(h.server.env["UPLOAD_DIR"], "images", secrets.token_hex(16))
    os.makedirs(d)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    return "http://127.0.0.1:%d/static/images/%s/%s" % (h.port, os.path.basename(d), name)


def wait_images(h, type_, rid, n=1):
    q = ("SELECT state || ' ' || coalesce(result::text, '') FROM tasks WHERE name = "
         "'images.derive' AND payload->>'type' = '%s' AND (payload->>'id')::bigint = %d "
         "ORDER BY created_at" % (type_, rid))
    wait_for(lambda: len([l for l in h.sql(q).splitlines()
                          if l.startswith(("SUCCESS", "FAILURE"))]) >= n, 20,
             what="images.derive of %s %d" % (type_, rid))
    return h.sql(q).splitlines()[n - 1]


def test_derived_images(h):
    owner, ev, _ = world(h)
    url = put_upload(h, owner, png_bytes(320, 240))
    patch(h, "events", ev["id"], "event", {"original-image-url": url}, token=owner)
    res = wait_images(h, "event", ev["id"])
    expect(res.startswith("SUCCESS") and '"urls"' in res, "event images task: %s" % res)
    st, _, doc = api(h, "GET", "/v1/events/%d" % ev["id"])
    a = doc["data"]["attributes"]
    for attr, size in (("large-image-url", (1300, 500)), ("thumbnail-image-url", (500, 200)),
                       ("icon-image-url", (75, 30))):
        expect(a.get(attr), "%s filled: %s" % (attr, show(a)))
        body, _ = download(h, a[attr])
        eq(png_size(body), size, "size of %s" % attr)
    # another write of the event enqueues nothing
    n_tasks = "SELECT count(*) FROM tasks WHERE name = 'images.derive'"
    patch(h, "events", ev["id"], "event", {"name": "Renamed"}, token=owner)
    time.sleep(1.0)
    eq(h.sql(n_tasks), "1", "images.derive tasks after a write that kept the image")
    # an image elsewhere is not touched, and is remembered
    patch(h, "events", ev["id"], "event", {"original-image-url": "https://example.org/x.png"},
          token=owner)
    res = wait_images(h, "event", ev["id"], 2)
    expect("not an image of this server" in res, "external image: %s" % res)
    patch(h, "events", ev["id"], "event", {"name": "Renamed again"}, token=owner)
    time.sleep(1.0)
    eq(h.sql(n_tasks), "2", "images.derive tasks after a write that kept the external image")
    eq(api(h, "GET", "/v1/events/%d" % ev["id"])[2]["data"]["attributes"]["icon-image-url"],
       a["icon-image-url"], "icon URL kept")
    # speakers and users: squares
    spk = sql_insert(h, "speakers", event_id=ev["id"], name="Ada")
    patch(h, "speakers", spk, "speaker", {"photo-url": put_upload(h, owner, png_bytes(90, 60))},
          token=owner)
    res = wait_images(h, "speaker", spk)
    expect(res.startswith("SUCCESS"), "speaker images: %s" % res)
    a = api(h, "GET", "/v1/speakers/%d" % spk)[2]["data"]["attributes"]
    for attr, side in (("thumbnail-image-url", 500), ("small-image-url", 50),
                       ("icon-image-url", 35)):
        eq(png_size(download(h, a[attr])[0]), (side, side), "speaker %s" % attr)
    patch(h, "users", owner["id"], "user", {"avatar-url": put_upload(h, owner, png_bytes(40, 80))},
          token=owner)
    res = wait_images(h, "user", owner["id"])
    expect(res.startswith("SUCCESS"), "user images: %s" % res)
    eq(png_size(download(h, h.sql("SELECT small_image_url FROM users WHERE id = %d"
                                  % owner["id"]))[0]), (50, 50), "user small image")


def test_derived_images_of_a_broken_file(h):
    owner, ev, _ = world(h)
    url = put_upload(h, owner, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, name="broken.png",
                     direct=True)
    h.sql("UPDATE events SET original_image_url = %s WHERE id = %d" % (sql_lit(url), ev["id"]))
    patch(h, "events", ev["id"], "event", {"name": "Touch"}, token=owner)
    res = wait_images(h, "event", ev["id"])
    expect(res.startswith("FAILURE"), "a file libvips cannot read fails for good: %s" % res)
    eq(h.sql("SELECT attempts FROM tasks WHERE name = 'images.derive'"), "1", "no retry")


# ---- operations ----------------------------------------------------------------------------

def test_health_and_metrics(h):
    from helpers import get_metrics, metric
    st, _, doc = h.json("GET", "/health-check")
    eq((st, doc.get("redis")), (200, "off"), "health without REDIS_URL: %s" % show(doc))
    r = RedisServer(h)
    h.restart_server({"REDIS_URL": r.url})
    st, _, doc = h.json("GET", "/health-check")
    eq((st, doc.get("redis"), doc.get("status")), (200, "ok", "ok"),
       "health with Redis up: %s" % show(doc))
    owner, ev, _ = world(h)
    url = start_export(h, ev, "json", owner)
    eq(wait_task(h, url, owner)["state"], "SUCCESS", "export state")
    samples, text, _ = get_metrics(h)
    expect((metric(samples, "oes_task_runs_total", outcome="success") or 0) >= 1,
           "oes_task_runs_total{outcome=success}:\n%s" % text[-800:])
    eq(metric(samples, "oes_tasks_running"), 0.0, "oes_tasks_running")
    wait_for(lambda: (metric(get_metrics(h)[0], "oes_tasks", state="SUCCESS") or 0) >= 1, 25,
             what="oes_tasks{state=SUCCESS} from the periodic count")
    r.stop()
    wait_for(lambda: h.json("GET", "/health-check")[0] == 503, 15,
             what="health 503 once Redis is gone")
    st, _, doc = h.json("GET", "/health-check")
    eq((doc.get("redis"), doc.get("database")), ("unavailable", "ok"), "health parts: %s" % show(doc))
    r.start()
    wait_for(lambda: h.json("GET", "/health-check")[0] == 200, 15,
             what="health 200 once Redis is back")


def test_derived_images_refuse_other_formats(h):
    """A file that is no PNG, JPEG, GIF, WebP or SVG (here a PDF stored
    under an image's name) never reaches libvips."""
    owner, ev, _ = world(h)
    url = put_upload(h, owner, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", name="x.png",
                     direct=True)
    patch(h, "events", ev["id"], "event", {"original-image-url": url}, token=owner)
    res = wait_images(h, "event", ev["id"])
    expect(res.startswith("FAILURE") and "not a PNG, JPEG, GIF, WebP or SVG" in res,
           "a PDF named .png: %s" % res)
    eq(h.sql("SELECT coalesce(thumbnail_image_url, '') FROM events WHERE id = %d" % ev["id"]), "",
       "no derived URL")
