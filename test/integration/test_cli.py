"""The command line: config errors, --help, migrations, healthcheck."""

import os
import re
import time

from run import ROOT, free_port
from helpers import TM, eq, expect, show


def stderr_lines(r):
    return [l for l in r.stderr.splitlines() if l.strip()]


def check_config_error(h, overrides, setting):
    port = free_port()
    t = time.monotonic()
    r = h.run_bin(["serve"], env_overrides=overrides, timeout=10, port=port)
    took = time.monotonic() - t
    what = "serve with %s" % " ".join("%s=%s" % (k, "(unset)" if v is None else v) for k, v in overrides.items())
    expect(r.returncode != 0, "%s: exit code 0, expected non-zero" % what)
    expect(took < 5 * TM, "%s: took %.1f s to refuse" % (what, took))
    lines = stderr_lines(r)
    expect(any(setting in l for l in lines), "%s: stderr does not name %s: %r" % (what, setting, r.stderr[-500:]))
    eq(len(lines), 1, "%s: number of stderr lines (%r)" % (what, r.stderr[-500:]))


def test_config_errors(h):
    check_config_error(h, {"SECRET_KEY": None}, "SECRET_KEY")
    check_config_error(h, {"SECRET_KEY": ""}, "SECRET_KEY")
    check_config_error(h, {"SECRET_KEY": "0123456789"}, "SECRET_KEY")
    check_config_error(h, {"SECRET_KEY": "x" * 31}, "SECRET_KEY")
    check_config_error(h, {"PORT": "abc"}, "PORT")
    check_config_error(h, {"PORT": "70000"}, "PORT")
    check_config_error(h, {"PG_PIPELINE": "maybe"}, "PG_PIPELINE")
    check_config_error(h, {"PG_POOL_SIZE": "0"}, "PG_POOL_SIZE")
    check_config_error(h, {"REQUEST_TIMEOUT_MS": "-5"}, "REQUEST_TIMEOUT_MS")
    check_config_error(h, {"LOG_LEVEL": "loud"}, "LOG_LEVEL")


def test_help(h):
    r = h.run_bin(["--help"], timeout=10)
    eq(r.returncode, 0, "--help: exit code")
    out = r.stdout + r.stderr
    for name in ("DATABASE_URL", "PG_POOL_SIZE", "PG_PIPELINE", "REQUEST_TIMEOUT_MS", "SECRET_KEY", "HOST", "PORT",
                 "MAX_PAGE_SIZE", "--workers"):
        expect(name in out, "--help does not mention %s: %s" % (name, show(out, 300)))


def test_unknown_command_fails(h):
    r = h.run_bin(["frobnicate"], timeout=10)
    expect(r.returncode != 0, "`frobnicate`: exit code 0")
    expect(r.stderr.strip(), "`frobnicate`: nothing on stderr")


def test_serve_refuses_pending_migration(h):
    files = sorted(f for f in os.listdir(os.path.join(ROOT, "sql")) if re.match(r"^\d{3}_.*\.sql$", f))
    expect(files, "no sql/NNN_*.sql migrations")
    last = files[-1][:-4]
    row = h.sql("SELECT row_to_json(s)::text FROM schema_migrations s "
                "WHERE version = (SELECT max(version) FROM schema_migrations)")
    expect(row, "schema_migrations is empty")
    h.sql("DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)")
    esc = row.replace("'", "''")
    h.defer(lambda: h.sql("INSERT INTO schema_migrations SELECT * FROM json_populate_record(NULL::schema_migrations, '%s') "
                          "ON CONFLICT DO NOTHING" % esc))
    t = time.monotonic()
    r = h.run_bin(["serve"], timeout=15, port=free_port())
    expect(r.returncode != 0, "serve with a pending migration: exit code 0")
    expect(time.monotonic() - t < 10 * TM, "serve with a pending migration took %.1f s" % (time.monotonic() - t))
    expect(last in r.stderr or files[-1] in r.stderr,
           "serve with migration %s pending: stderr does not name it: %r" % (last, r.stderr[-600:]))
    # the running server is unaffected
    eq(h.request("GET", "/health-check")[0], 200, "main server /health-check during the check")


def test_migrate_is_idempotent(h):
    before = h.sql("SELECT row_to_json(s)::text FROM schema_migrations s ORDER BY 1")
    r = h.run_bin(["migrate"], timeout=60)
    eq(r.returncode, 0, "migrate on an up-to-date database: exit code (%s)" % r.stderr[-400:])
    eq(h.sql("SELECT row_to_json(s)::text FROM schema_migrations s ORDER BY 1"), before, "schema_migrations after migrate")
    files = [f for f in os.listdir(os.path.join(ROOT, "sql")) if re.match(r"^\d{3}_.*\.sql$", f)]
    eq(int(h.sql("SELECT count(*) FROM schema_migrations")), len(files), "rows in schema_migrations vs sql/NNN_*.sql files")


def test_migrate_without_database_fails(h):
    r = h.run_bin(["migrate"], env_overrides={"DATABASE_URL": "postgresql://postgres@127.0.0.1:%d/oes" % free_port()},
                  timeout=30)
    expect(r.returncode != 0, "migrate against a port nothing listens on: exit code 0")


def test_healthcheck_command(h):
    r = h.run_bin(["healthcheck"], timeout=10, port=h.port)
    eq(r.returncode, 0, "healthcheck against the running server: exit code (stderr %r)" % r.stderr[-300:])
    r = h.run_bin(["healthcheck"], timeout=10, port=free_port())
    expect(r.returncode != 0, "healthcheck against a port nothing listens on: exit code 0")
    r = h.run_bin(["healthcheck"], env_overrides={"SECRET_KEY": None}, timeout=10, port=h.port)
    eq(r.returncode, 0, "healthcheck needs no SECRET_KEY: exit code (stderr %r)" % r.stderr[-300:])
