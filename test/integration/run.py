#!/usr/bin/env python3
"""Integration tests: the real binary over loopback against a real PostgreSQL.

Usage: BIN=./open-event-server python3 test/integration/run.py [FILTER...]

Starts a private PostgreSQL cluster on tmpfs (scripts/pgctl.sh --fast), runs
`$BIN migrate` (twice), starts `$BIN serve`, then runs every function
`test_*(h)` of every module `test/integration/test_*.py` in order, with a
fresh database (every table but roles and schema_migrations truncated) and a
server with the default settings before each. FILTER words keep only the
tests whose `module::name` contains one of them.

Environment: BIN (server binary, default ./open-event-server), SANITIZED=1
(ASan build: exit codes after SIGTERM are checked), VALGRIND=1 (the server
runs under valgrind; timeouts x10), PGCTL (default scripts/pgctl.sh),
VERBOSE=1 (server log tails on every failure).

Prints `ok   module::test` or `FAIL module::test: reason` per test and, as the
last line, `integration: N passed, M failed`. Exit status 0 when all passed,
1 otherwise.
"""

import atexit
import http.client
import importlib.util
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

VALGRIND = os.environ.get("VALGRIND", "") not in ("", "0")
SANITIZED = os.environ.get("SANITIZED", "") not in ("", "0")
# Time multiplier for every bound: valgrind is ~10x slower, ASan ~2x.
TM = 10.0 if VALGRIND else (2.0 if SANITIZED else 1.0)
VERBOSE = os.environ.get("VERBOSE", "") not in ("", "0")

BIN = os.path.abspath(os.environ.get("BIN") or os.path.join(ROOT, "open-event-server"))
PGCTL = os.environ.get("PGCTL") or os.path.join(ROOT, "scripts", "pgctl.sh")
TEST_TIMEOUT_S = min(60 * TM, 420)

# Settings of the server (spec §9) that must not leak in from the caller's
# environment: the harness decides them.
SERVER_SETTINGS = (
    "HOST PORT PUBLIC_URL DATABASE_URL WORKERS PG_POOL_SIZE PG_PIPELINE PG_QUEUE_MAX "
    "PG_STATEMENT_TIMEOUT_MS REQUEST_TIMEOUT_MS BODY_MAX_BYTES UPLOAD_MAX_BYTES "
    "MAX_PAGE_SIZE SECRET_KEY JWT_TTL_S TRUSTED_PROXIES REDIS_URL SIGNALS SOFT_DELETE "
    "SOFT_DELETE_OFF TRASH_RETENTION_DAYS TASK_VISIBILITY_TIMEOUT_S TASK_MAX_RETRIES "
    "TASK_RESULT_TTL_S TASK_CONSUMER UPLOAD_DIR SMTP_URL MAIL_FROM LOG_LEVEL LOG_FORMAT "
    "SHUTDOWN_GRACE_MS LISTEN_BACKLOG DOCS_DIR S3_ENDPOINT S3_BUCKET S3_REGION S3_ACCESS_KEY "
    "S3_SECRET_KEY S3_PATH_STYLE S3_ACL S3_PUBLIC_URL S3_TIMEOUT_MS LOGIN_MAX_FAILURES "
    "LOGIN_WINDOW_S AUTH_CACHE_TTL_MS"
).split()


class TestTimeout(Exception):
    pass


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def log_tail(path, n=30):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return "    (no log: %s)" % e
    lines = data.decode("utf-8", "replace").splitlines()[-n:]
    return "\n".join("    | " + l for l in lines) if lines else "    (log is empty)"


REPORT_RE = re.compile(
    r"^==\d+== |ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error: |^SUMMARY: "
    r"|WARNING: ThreadSanitizer|^Direct leak of|^Indirect leak of"
)


def sanitizer_lines(text, limit=80):
    """The lines of a valgrind / ASan / UBSan report in text (at most limit)."""
    out = [l for l in text.splitlines() if REPORT_RE.search(l)]
    return out[:limit]


def alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def children(pid):
    """Pids of the live children of pid, from /proc."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2 :].split()
        if int(rest[1]) == pid and rest[0] != "Z":
            out.append(int(d))
    return sorted(out)


def _complete_response(buf):
    """True if buf holds a whole HTTP response framed by Content-Length."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    for line in buf[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return len(buf) - end - 4 >= int(value.strip())
            except ValueError:
                return False
    return False


class Server:
    """One `$BIN serve` process, its port and its log."""

    seq = 0

    def __init__(self, h, env_overrides=None, args=None, port=None, valgrind=None):
        Server.seq += 1
        self.n = Server.seq
        self.h = h
        self.port = port or free_port()
        self.env_overrides = dict(env_overrides or {})
        self.log_path = os.path.join(h.dir, "server-%d.log" % self.n)
        env = h.server_env(self.port)
        for k, v in self.env_overrides.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        self.env = env
        cmd = [BIN, "serve"] + list(args or [])
        use_vg = VALGRIND if valgrind is None else valgrind
        if use_vg:
            cmd = [
                "valgrind",
                "--error-exitcode=99",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite",
                "--show-leak-kinds=definite",
                "-q",
            ] + cmd
        self.cmd = cmd
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self.logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        self.log_pos = 0  # how far new_reports() has read
        self.tests = []  # the tests this server served
        h.all_servers.append(self)

    def new_reports(self):
        """Sanitizer/valgrind report lines written since the last call."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_pos)
                data = f.read()
        except OSError:
            return []
        self.log_pos += len(data)
        return sanitizer_lines(data.decode("utf-8", "replace"))

    def describe(self):
        extra = " ".join("%s=%s" % kv for kv in sorted(self.env_overrides.items()))
        args = " ".join(self.cmd[self.cmd.index("serve") + 1 :])
        return "server-%d%s%s" % (self.n, (" " + extra) if extra else "", (" " + args) if args else "")

    def running(self):
        return self.proc.poll() is None

    def wait_ready(self, timeout=None):
        """Polls GET /health-check until 200; raises with the log tail if not."""
        timeout = timeout or (120.0 if VALGRIND else 15.0 * min(TM, 2))
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.running():
                raise AssertionError(
                    "%s exited with %s before answering /health-check\n%s"
                    % (self.describe(), self.proc.returncode, log_tail(self.log_path))
                )
            try:
                st, _, body = self.h.request("GET", "/health-check", port=self.port, timeout=2 * TM)
                if st == 200:
                    return
                last = "status %d: %r" % (st, body[:200])
            except (OSError, http.client.HTTPException) as e:
                last = repr(e)
            time.sleep(0.1)
        raise AssertionError(
            "%s: /health-check not 200 within %.0f s (last: %s)\n%s"
            % (self.describe(), timeout, last, log_tail(self.log_path))
        )

    def stop(self, sig=signal.SIGTERM, timeout=None):
        """Signals the server and waits; returns its exit code (None if it had
        to be killed)."""
        timeout = timeout or (60.0 if VALGRIND else 10.0 * TM)
        if self.running():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        return self.proc.returncode

    def kill(self):
        if self.running():
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.close_log()

    def close_log(self):
        if not self.logf.closed:
            self.logf.close()


class TableLock:
    """A psql session holding `LOCK TABLE <t> IN ACCESS EXCLUSIVE MODE` until
    release() (or the test's cleanup)."""

    def __init__(self, h, table="events", timeout=10.0):
        self.h = h
        self.proc = subprocess.Popen(
            ["psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-d", h.db_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=h.psql_env(),
        )
        h.defer(self.release)
        self.proc.stdin.write(
            ("BEGIN; LOCK TABLE %s IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n" % table).encode()
        )
        self.proc.stdin.flush()
        buf = b""
        deadline = time.monotonic() + timeout * TM
        while b"locked" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                err = self.proc.stderr.read1(4096) if self.proc.poll() is not None else b""
                self.release()
                raise AssertionError("could not lock table %s: %r %r" % (table, buf, err))
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    continue
                buf += chunk
        self.released = False

    def release(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"COMMIT;\n")
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(5 * TM)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass
        self.released = True


class Harness:
    def __init__(self):
        self.dir = "/dev/shm/oes-test-%d" % os.getpid()
        if not os.path.isdir("/dev/shm"):
            self.dir = "/tmp/oes-test-%d" % os.getpid()
        self.datadir = os.path.join(self.dir, "data")
        self.pg_port = free_port()
        self.db_url = None
        self.pg_up = False
        self.secret = secrets.token_hex(32)
        self.server = None
        self.all_servers = []
        self.cleanups = []
        self.results = []  # (name, ok, reason)
        self.tables = None
        self._closed = False

    # ---- reporting -------------------------------------------------------

    def record(self, name, ok, reason=""):
        self.results.append((name, ok, reason))
        if ok:
            print("ok   %s" % name, flush=True)
        else:
            print("FAIL %s: %s" % (name, reason), flush=True)

    # ---- environment -----------------------------------------------------

    def psql_env(self):
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("PG"):
                del env[k]
        env["PGCONNECT_TIMEOUT"] = "5"
        return env

    def server_env(self, port):
        env = dict(os.environ)
        for k in SERVER_SETTINGS:
            env.pop(k, None)
        env.update(
            DATABASE_URL=self.db_url,
            HOST="127.0.0.1",
            PORT=str(port),
            SECRET_KEY=self.secret,
            LOG_LEVEL="info",
            UPLOAD_DIR=os.path.join(self.dir, "uploads"),
            # tests sign in and fail often from one address: limits have
            # their own tests (test_account.py sets them back)
            LOGIN_MAX_FAILURES="1000000",
        )
        return env

    def run_bin(self, args, env_overrides=None, timeout=30.0, port=None):
        """Runs `$BIN args...` to completion with the server environment;
        returns CompletedProcess (text). Raises AssertionError on timeout."""
        env = self.server_env(port or self.port or free_port())
        for k, v in (env_overrides or {}).items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        try:
            return subprocess.run(
                [BIN] + list(args),
                env=env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout * TM,
            )
        except subprocess.TimeoutExpired as e:
            raise AssertionError("`%s %s` did not exit within %.0f s" % (BIN, " ".join(args), timeout * TM)) from e

    # ---- PostgreSQL ------------------------------------------------------

    def start_pg(self):
        r = subprocess.run(
            ["bash", PGCTL, "start", self.datadir, str(self.pg_port), "--fast"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if r.returncode != 0:
            raise AssertionError("pgctl start failed (%d): %s" % (r.returncode, r.stderr.strip()[-2000:]))
        urls = [l for l in r.stdout.splitlines() if l.startswith("postgresql://")]
        if not urls:
            raise AssertionError("pgctl start printed no URL: %r" % r.stdout)
        self.db_url = urls[-1].strip()
        self.pg_up = True
        return self.db_url

    def stop_pg(self):
        self.pg_up = False
        r = subprocess.run(["bash", PGCTL, "stop", self.datadir], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise AssertionError("pgctl stop failed (%d): %s" % (r.returncode, r.stderr.strip()[-2000:]))

    def sql(self, query, timeout=30.0):
        """Runs SQL with psql -At against the test database; returns stdout
        without the final newline. Raises AssertionError on an SQL error."""
        try:
            r = subprocess.run(
                ["psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-d", self.db_url, "-c", query],
                capture_output=True,
                text=True,
                timeout=timeout * TM,
                env=self.psql_env(),
            )
        except subprocess.TimeoutExpired as e:
            raise AssertionError("psql timed out: %s" % query[:200]) from e
        if r.returncode != 0:
            raise AssertionError("psql failed: %s\n  query: %s" % (r.stderr.strip(), query[:500]))
        return r.stdout.rstrip("\n")

    def lock(self, table="events"):
        """Holds an ACCESS EXCLUSIVE lock on table until .release() or the end
        of the test."""
        return TableLock(self, table)

    def lock_waiters(self):
        """Number of backends of the test database waiting for a lock."""
        return int(
            self.sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
        )

    def reset_db(self):
        if self.tables is None:
            out = self.sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename NOT IN ('roles', 'schema_migrations') ORDER BY tablename"
            )
            self.tables = [t for t in out.splitlines() if t]
        if self.tables:
            names = ", ".join('"%s"' % t.replace('"', '""') for t in self.tables)
            self.sql("SET lock_timeout = '20s'; TRUNCATE %s RESTART IDENTITY CASCADE" % names)

    # ---- the server ------------------------------------------------------

    @property
    def port(self):
        return self.server.port if self.server else None

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def server_pid(self):
        return self.server.pid if self.server else None

    @property
    def server_log(self):
        return self.server.log_path if self.server else None

    def spawn_server(self, env_overrides=None, args=None, port=None, wait=True, valgrind=None):
        """Starts another `$BIN serve` (not the harness's main one); it is
        killed at the end of the test if still running."""
        s = Server(self, env_overrides, args, port, valgrind)
        self.defer(s.kill)
        if wait:
            s.wait_ready()
        return s

    def restart_server(self, env_overrides=None, check_exit=True):
        """Stops the main server (checking its exit) and starts a new one with
        the default environment plus env_overrides (value None: unset)."""
        self.stop_server(check_exit)
        self.server = Server(self, env_overrides)
        self.server.wait_ready()
        return self.server

    def take_server(self):
        """Hands the main server to the test (which stops it itself); the
        harness starts a fresh one before the next test."""
        s = self.server
        self.server = None
        self.defer(s.kill)
        return s

    def stop_server(self, check_exit=True):
        s, self.server = self.server, None
        if s is None:
            return
        was_running = s.running()
        code = s.stop()
        s.close_log()
        if not check_exit:
            return
        name = "harness::clean_exit[%s]" % s.describe()
        if not was_running:
            self.record(name, False, "server had already exited with %s\n%s" % (code, log_tail(s.log_path)))
        elif code == 0:
            self.record(name, True)
        else:
            why = {
                None: "did not exit within the shutdown bound after SIGTERM (killed)",
                86: "exit 86: AddressSanitizer/LeakSanitizer report",
                99: "exit 99: valgrind errors",
            }.get(code, "exit code %s after SIGTERM" % code)
            self.record(name, False, "%s\n%s" % (why, self.report_excerpt(s)))

    def report_excerpt(self, s):
        """The sanitizer report of server s (else its log tail), and the tests
        it served."""
        try:
            with open(s.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            text = ""
        rep = sanitizer_lines(text)
        body = "\n".join("    | " + l for l in rep) if rep else log_tail(s.log_path, 40)
        served = ", ".join(s.tests[-8:]) or "none"
        return "%s\n    (log %s; served tests: %s)" % (body, os.path.basename(s.log_path), served)

    # ---- HTTP --------------------------------------------------------------

    def request(self, method, path, headers=None, body=None, timeout=None, port=None):
        """One request on a fresh connection. Returns (status, headers with
        lower-cased names (repeated ones joined by ', '), body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=timeout or 10 * TM)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            hdrs = {}
            for k, v in r.getheaders():
                k = k.lower()
                hdrs[k] = hdrs[k] + ", " + v if k in hdrs else v
            return r.status, hdrs, data
        finally:
            conn.close()

    def json(self, method, path, headers=None, body=None, timeout=None, port=None):
        """Like request, with the body parsed as JSON (None when empty)."""
        st, hd, data = self.request(method, path, headers, body, timeout, port)
        if not data:
            return st, hd, None
        try:
            return st, hd, json.loads(data)
        except ValueError:
            raise AssertionError("%s %s: status %d, body is not JSON: %r" % (method, path, st, data[:300]))

    def raw(self, data, timeout=5.0, port=None, shut_write=False, one_response=False):
        """Sends raw bytes and reads until the server closes or the timeout
        passes (one_response: or until one complete response with a
        Content-Length has arrived). Returns the bytes read (b"" if none)."""
        s = socket.create_connection(("127.0.0.1", port or self.port), timeout=timeout * TM)
        out = b""
        try:
            try:
                s.sendall(data)
                if shut_write:
                    s.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the server may close while we still send; read what it said
            deadline = time.monotonic() + timeout * TM
            while time.monotonic() < deadline:
                try:
                    s.settimeout(max(0.05, deadline - time.monotonic()))
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
                if one_response and _complete_response(out):
                    break
        finally:
            s.close()
        return out

    # ---- misc --------------------------------------------------------------

    def defer(self, fn):
        """Runs fn at the end of the current test (last registered first)."""
        self.cleanups.append(fn)

    def run_cleanups(self):
        while self.cleanups:
            fn = self.cleanups.pop()
            try:
                fn()
            except Exception as e:  # noqa: BLE001
                print("    (cleanup error: %r)" % e, flush=True)

    def close(self):
        """Stops everything the harness started and removes its directory."""
        if self._closed:
            return
        self._closed = True
        signal.alarm(0)
        self.run_cleanups()
        for s in self.all_servers:
            try:
                s.kill()
            except Exception:  # noqa: BLE001
                pass
        try:
            subprocess.run(["bash", PGCTL, "stop", self.datadir], capture_output=True, timeout=120)
        except Exception as e:  # noqa: BLE001
            print("    (could not stop PostgreSQL: %r)" % e, flush=True)
        if any(not ok for _, ok, _ in self.results):
            keep = os.path.join(os.environ.get("TMPDIR") or "/tmp", "oes-test-logs-%d" % os.getpid())
            try:
                os.makedirs(keep, exist_ok=True)
                for s in self.all_servers:
                    shutil.copy(s.log_path, keep)
                print("    (server logs kept in %s)" % keep, flush=True)
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


def discover(filters):
    """[(name, function)] in file order; a module that does not import gives
    one test that fails with the error."""
    tests = []
    for fn in sorted(os.listdir(HERE)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        modname = fn[:-3]
        spec = importlib.util.spec_from_file_location(modname, os.path.join(HERE, fn))
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
        except Exception as e:  # noqa: BLE001
            err = "%s: %s" % (type(e).__name__, e)

            def broken(h, err=err):
                raise AssertionError("module does not import: " + err)

            full = "%s::import" % modname
            if not filters or any(f in full for f in filters):
                tests.append((full, broken))
            continue
        sys.modules.setdefault(modname, mod)
        for name, obj in list(vars(mod).items()):
            if name.startswith("test_") and callable(obj) and getattr(obj, "__module__", None) == modname:
                full = "%s::%s" % (modname, name)
                if not filters or any(f in full for f in filters):
                    tests.append((full, obj))
    return tests


def failure_reason(e):
    tb = traceback.extract_tb(e.__traceback__)
    where = ""
    for fr in reversed(tb):
        if os.path.basename(fr.filename).startswith(("test_", "helpers")):
            where = " (%s:%d)" % (os.path.basename(fr.filename), fr.lineno)
            break
    if isinstance(e, AssertionError):
        msg = str(e) or "assertion failed"
    elif isinstance(e, TestTimeout):
        msg = "test did not finish within %.0f s" % TEST_TIMEOUT_S
    else:
        msg = "%s: %s" % (type(e).__name__, e)
    return msg + where


def main():
    filters = sys.argv[1:]
    h = Harness()
    atexit.register(h.close)

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    def on_alarm(signum, frame):
        raise TestTimeout()

    signal.signal(signal.SIGALRM, on_alarm)

    aborted = None
    try:
        if not (os.path.isfile(BIN) and os.access(BIN, os.X_OK)):
            raise AssertionError("server binary %s not found or not executable" % BIN)
        os.makedirs(h.dir, exist_ok=True)
        os.chmod(h.dir, 0o755)  # the postgres user must reach data/
        h.start_pg()

        r = h.run_bin(["migrate"], timeout=60)
        ok = r.returncode == 0
        h.record(
            "harness::migrate",
            ok,
            "" if ok else "exit %d\n%s" % (r.returncode, (r.stdout + r.stderr).strip()[-3000:]),
        )
        if not ok:
            raise AssertionError("migrations failed; no test can run")
        before = h.sql("SELECT row_to_json(s)::text FROM schema_migrations s ORDER BY 1")
        r = h.run_bin(["migrate"], timeout=60)
        after = h.sql("SELECT row_to_json(s)::text FROM schema_migrations s ORDER BY 1")
        if r.returncode != 0:
            h.record("harness::migrate_again_is_noop", False, "second `migrate` exit %d: %s" % (r.returncode, r.stderr.strip()[-2000:]))
        elif before != after:
            h.record("harness::migrate_again_is_noop", False, "schema_migrations changed:\n%s\n--- vs ---\n%s" % (before, after))
        elif not before:
            h.record("harness::migrate_again_is_noop", False, "schema_migrations is empty after migrate")
        else:
            h.record("harness::migrate_again_is_noop", True)

        tests = discover(filters)
        for full, fn in tests:
            reason = None
            try:
                if not h.pg_up:
                    h.start_pg()
                if h.server is None or not h.server.running() or h.server.env_overrides:
                    h.restart_server()
                h.reset_db()
            except Exception as e:  # noqa: BLE001
                h.record(full, False, "setup: " + failure_reason(e))
                continue
            server = h.server
            server.tests.append(full)
            server.new_reports()  # skip what came before this test
            first_new = len(h.all_servers)
            signal.alarm(int(TEST_TIMEOUT_S))
            try:
                fn(h)
            except (Exception, TestTimeout) as e:  # noqa: BLE001
                reason = failure_reason(e)
            finally:
                signal.alarm(0)
                h.run_cleanups()
            # A sanitizer or valgrind report during the test fails it.
            for srv in [server] + h.all_servers[first_new:]:
                rep = srv.new_reports()
                if rep:
                    msg = "%s wrote a sanitizer/valgrind report during the test:\n%s" % (
                        srv.describe(), "\n".join("    | " + l for l in rep[:60]))
                    reason = msg if reason is None else reason + "\n" + msg
            # The main server must not die during a test unless the test took it.
            if reason is None and h.server is server and not server.running():
                reason = "server died during the test (exit %s)\n%s" % (
                    server.proc.returncode,
                    log_tail(server.log_path),
                )
                h.server = None
            if reason is not None and VERBOSE:
                for s in [server] + h.all_servers[first_new:]:
                    reason += "\n  %s log:\n%s" % (s.describe(), log_tail(s.log_path, 20))
            h.record(full, reason is None, reason or "")
        h.stop_server()
    except (Exception, TestTimeout) as e:  # noqa: BLE001
        aborted = failure_reason(e)
        h.record("harness::setup", False, aborted)
    finally:
        signal.alarm(0)
        h.close()

    passed = sum(1 for _, ok, _ in h.results if ok)
    failed = len(h.results) - passed
    print("integration: %d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
