"""Shared helpers of the integration tests: seeding, assertions, metrics."""

import http
import json
import re
import secrets
import time
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

from run import TM

JSONAPI = "application/vnd.api+json"


def show(body, n=400):
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    elif not isinstance(body, str):
        body = json.dumps(body)
    return body if len(body) <= n else body[:n] + "..."


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s: expected %r, got %r" % (what, want, got))


def wait_for(fn, timeout, interval=0.1, what="condition"):
    """Polls fn() until truthy within timeout*TM seconds; returns its value."""
    deadline = time.monotonic() + timeout * TM
    last = None
    while True:
        try:
            last = fn()
        except (OSError, ValueError) as e:
            last = None
            err = e
        else:
            err = None
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(
                "%s not reached within %.1f s%s" % (what, timeout * TM, " (last error: %r)" % err if err else "")
            )
        time.sleep(interval)


def new_identifier():
    while True:
        s = secrets.token_hex(4)
        if not s.isdigit():
            return s


def sql_lit(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def seed_event(h, name="E1", identifier=None, state="published", privacy="public",
               starts_at="2026-01-01T10:00:00Z", ends_at="2026-01-02T10:00:00Z",
               timezone_="UTC", **cols):
    """Inserts an event; returns {"id": int, "identifier": str, "name": str}."""
    identifier = identifier or new_identifier()
    row = dict(name=name, starts_at=starts_at, ends_at=ends_at, timezone=timezone_,
               identifier=identifier, state=state, privacy=privacy)
    row.update(cols)
    names = ", ".join(row)
    vals = ", ".join(sql_lit(v) for v in row.values())
    eid = int(h.sql("INSERT INTO events (%s) VALUES (%s) RETURNING id" % (names, vals)))
    return {"id": eid, "identifier": identifier, "name": name}


def media_type(headers):
    return (headers.get("content-type") or "").strip()


def check_common(method, path, status, headers):
    rid = headers.get("x-request-id", "")
    expect(rid.strip() != "", "%s %s (status %d): no X-Request-Id header; headers %r" % (method, path, status, headers))


def check_error(method, path, got, code, parameter=None, pointer=None):
    """Asserts (status, headers, doc) is a JSON:API error document for code."""
    status, headers, doc = got
    where = "%s %s" % (method, path)
    expect(status == code, "%s: expected status %d, got %d; body %s" % (where, code, status, show(doc)))
    check_common(method, path, status, headers)
    eq(media_type(headers), JSONAPI, where + ": Content-Type")
    expect(isinstance(doc, dict), "%s: body is not a JSON object: %s" % (where, show(doc)))
    errs = doc.get("errors")
    expect(isinstance(errs, list) and errs, "%s: no errors[] in %s" % (where, show(doc)))
    e = errs[0]
    expect(isinstance(e, dict), "%s: errors[0] not an object: %s" % (where, show(doc)))
    eq(e.get("status"), str(code), where + ": errors[0].status (a string)")
    eq(e.get("title"), http.HTTPStatus(code).phrase, where + ": errors[0].title")
    if "detail" in e:
        expect(isinstance(e["detail"], str) and e["detail"], "%s: errors[0].detail %r" % (where, e["detail"]))
    eq(doc.get("jsonapi"), {"version": "1.0"}, where + ": jsonapi member")
    expect("data" not in doc, "%s: error document also has data: %s" % (where, show(doc)))
    if parameter is not None:
        eq((e.get("source") or {}).get("parameter"), parameter, where + ": errors[0].source.parameter")
    if pointer is not None:
        eq((e.get("source") or {}).get("pointer"), pointer, where + ": errors[0].source.pointer")
    return e


def check_ok_doc(method, path, got, status=200):
    st, headers, doc = got
    where = "%s %s" % (method, path)
    expect(st == status, "%s: expected status %d, got %d; body %s" % (where, status, st, show(doc)))
    check_common(method, path, st, headers)
    eq(media_type(headers), JSONAPI, where + ": Content-Type")
    expect(isinstance(doc, dict), "%s: body is not a JSON object: %s" % (where, show(doc)))
    eq(doc.get("jsonapi"), {"version": "1.0"}, where + ": jsonapi member")
    expect("errors" not in doc, "%s: 200 document has errors: %s" % (where, show(doc)))
    return doc


TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}:\d{2}$")


def check_ts(value, want_utc, what):
    """value must be ISO 8601 with a numeric offset denoting instant want_utc
    ("2026-01-01T10:00:00Z")."""
    expect(isinstance(value, str) and TS_RE.match(value),
           "%s: %r is not ISO 8601 with an offset like 2026-01-01T10:00:00+00:00" % (what, value))
    got = datetime.fromisoformat(value)
    want = datetime.fromisoformat(want_utc.replace("Z", "+00:00"))
    expect(got == want, "%s: %r is not the instant %s" % (what, value, want_utc))


def check_event(res, ev, what):
    """Checks a resource object against a seeded event dict."""
    expect(isinstance(res, dict), "%s: resource is not an object: %s" % (what, show(res)))
    eq(res.get("type"), "event", what + ": type")
    eq(res.get("id"), str(ev["id"]), what + ": id (a string)")
    a = res.get("attributes")
    expect(isinstance(a, dict), "%s: no attributes: %s" % (what, show(res)))
    eq(a.get("name"), ev["name"], what + ": attributes.name")
    eq(a.get("identifier"), ev["identifier"], what + ": attributes.identifier")
    for k in a:
        expect(re.match(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$", k), "%s: attribute name %r is not dasherized" % (what, k))
    expect("id" not in a and "type" not in a, "%s: id/type among attributes" % what)
    eq(res.get("links"), {"self": "/v1/events/%d" % ev["id"]}, what + ": links")
    rel = res.get("relationships")
    expect(isinstance(rel, dict) and "sessions" in rel, "%s: no relationships.sessions: %s" % (what, show(res)))
    for name, r in rel.items():
        links = (r or {}).get("links") or {}
        eq(links.get("self"), "/v1/events/%d/relationships/%s" % (ev["id"], name),
           "%s: relationships.%s.links.self" % (what, name))
        eq(links.get("related"), "/v1/events/%d/%s" % (ev["id"], name),
           "%s: relationships.%s.links.related" % (what, name))


def link_query(link, what):
    """Splits a pagination link into (path, {key: value})."""
    expect(isinstance(link, str) and link, "%s: link %r" % (what, link))
    u = urlsplit(link)
    q = {k: v[-1] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
    return u.path, q


# ---- Prometheus text ---------------------------------------------------------

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, {labels}, float)], raising on a line that is not valid text format."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        expect(m, "metrics: not a Prometheus sample line: %r" % line)
        labels = dict(LABEL_RE.findall(m.group(3) or ""))
        v = m.group(4)
        try:
            val = float(v)
        except ValueError:
            raise AssertionError("metrics: bad value in %r" % line)
        out.append((m.group(1), labels, val))
    return out


def get_metrics(h, port=None):
    st, hd, body = h.request("GET", "/metrics", port=port)
    expect(st == 200, "GET /metrics: expected 200, got %d: %s" % (st, show(body)))
    return parse_metrics(body.decode()), body.decode(), hd


def metric(samples, name, **labels):
    """The single value of name with exactly matching labels (subset), or None."""
    vals = [v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items())]
    return vals[0] if len(vals) == 1 else (sum(vals) if vals else None)
