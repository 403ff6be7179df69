"""A real redis-server on a free loopback port for the task and signal tests
(Debian's redis-server; no persistence, so a restart loses the queue), a
minimal RESP client, and `worker` processes of the binary under test.

  r = RedisServer(h)            started; stopped at the end of the test
  r.url                         redis://127.0.0.1:<port>/0
  r.cmd("LLEN", "k") -> value   one command on a fresh connection
  r.stop() / r.start()          SIGKILL / start again on the same port
  w = Worker(h, env)            `$BIN worker` with the server environment
  w.kill(); w.stop()            SIGKILL; SIGTERM and wait (exit code)
"""

import os
import signal
import socket
import subprocess
import time

from run import BIN, ROOT, TM, free_port, log_tail


class RedisError(Exception):
    pass


def _read_reply(f):
    line = f.readline()
    if not line:
        raise OSError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode()
    if kind == b"*":
        n = int(rest)
        if n < 0:
            return None
        return [_read_reply(f) for _ in range(n)]
    raise OSError("bad RESP reply %r" % line)


class RedisServer:
    def __init__(self, h, port=None):
        self.h = h
        self.port = port or free_port()
        self.dir = os.path.join(h.dir, "redis-%d" % self.port)
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(self.dir, "redis.log")
        self.proc = None
        h.defer(self.stop)
        self.start()

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    def start(self, timeout=10.0):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--logfile", self.log_path],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + timeout * TM
        while True:
            try:
                if self.cmd("PING") == "PONG":
                    return
            except (OSError, RedisError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("redis-server on port %d did not start\n%s"
                                     % (self.port, log_tail(self.log_path)))
            time.sleep(0.05)

    def stop(self):
        """SIGKILL: whatever the queue held is lost."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def cmd(self, *args, timeout=5.0):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout * TM)
        try:
            out = b"*%d\r\n" % len(args)
            for a in args:
                a = str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
            s.sendall(out)
            f = s.makefile("rb")
            try:
                return _read_reply(f)
            finally:
                f.close()
        finally:
            s.close()


class Worker:
    """`$BIN worker` with the harness's server environment plus env."""

    seq = 0

    def __init__(self, h, env=None):
        Worker.seq += 1
        self.h = h
        self.log_path = os.path.join(h.dir, "worker-%d.log" % Worker.seq)
        e = h.server_env(free_port())
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen([BIN, "worker"], env=e, cwd=ROOT, stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        h.defer(self.kill)

    def running(self):
        return self.proc.poll() is None

    def kill(self):
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        if not self.logf.closed:
            self.logf.close()

    def stop(self, timeout=15.0):
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout * TM)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        if not self.logf.closed:
            self.logf.close()
        return self.proc.returncode

    def log(self, n=30):
        return log_tail(self.log_path, n)
