"""The S3 service of the upload tests: s3rver (npm) behind the verifying
front test/s3/front.js (SigV4 recomputed with the npm aws4 package), one
Node.js process on a loopback port, plus Debian's awscli to read objects back.

    svc = S3Service(workdir)          # credentials and bucket of the tests
    svc.start()                       # waits until it listens
    env = svc.server_env()            # S3_* settings for the server
    svc.head_object(key)              # awscli s3api head-object -> dict
    svc.get_object(key)               # -> (bytes, head dict)
    svc.set_mode("hold")              # hold verified requests unanswered
    svc.kill()                        # SIGKILL (S3 dies mid-transfer)
    svc.stop()                        # SIGTERM, then SIGKILL

Needs `node` with the project's node_modules (npm ci) and awscli
(/usr/bin/aws from Debian's awscli, else `aws` on PATH).
"""

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FRONT = os.path.join(ROOT, "test", "s3", "front.js")

ACCESS_KEY = "OESTESTACCESSKEY0001"
SECRET_KEY = "oes/test+secret/key/0123456789abcdefABCDEF"
REGION = "us-east-1"
BUCKET = "oes-uploads"


def awscli():
    """Path of the awscli binary (Debian's first)."""
    if os.path.isfile("/usr/bin/aws") and os.access("/usr/bin/aws", os.X_OK):
        return "/usr/bin/aws"
    return shutil.which("aws")


class S3Service:
    def __init__(self, workdir, bucket=BUCKET, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                 region=REGION, port=0, nice=0):
        self.workdir = workdir
        self.bucket = bucket
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.want_port = port
        self.port = None
        self.proc = None
        self.datadir = os.path.join(workdir, "s3-data")
        self.log_path = os.path.join(workdir, "s3-front.log")
        self.logf = None
        self.nice = nice  # niceness of the Node.js process (a load test's S3 yields the CPU)

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout=30.0):
        os.makedirs(self.datadir, exist_ok=True)
        if not shutil.which("node"):
            raise AssertionError("node is not installed (scripts/deps.sh installs it)")
        if not os.path.isdir(os.path.join(ROOT, "node_modules", "s3rver")):
            raise AssertionError("node_modules/s3rver is missing: run npm ci (scripts/deps.sh)")
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            (["nice", "-n", str(self.nice)] if self.nice else []) + ["node", FRONT, "--port", str(self.want_port), "--dir", self.datadir,
             "--bucket", self.bucket, "--access-key", self.access_key,
             "--secret-key", self.secret_key, "--region", self.region],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.logf,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.kill()
                raise AssertionError("the S3 service did not start (exit %s); log:\n%s"
                                     % (self.proc.returncode, self.log_tail()))
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk and self.proc.poll() is not None:
                    continue
                line += chunk
        info = json.loads(line.decode())
        self.port = info["port"]
        self.want_port = self.port  # a restart reuses the port
        return self

    def log_tail(self, n=20):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join("    | " + l for l in lines[-n:])

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _close(self):
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        if self.logf and not self.logf.closed:
            self.logf.close()

    def stop(self, timeout=10.0):
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close()

    def kill(self):
        if self.running():
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self._close()

    def wait_port_free(self, timeout=5.0):
        """After kill(): until the port can be bound again."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = socket.socket()
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", self.port))
                return
            except OSError:
                time.sleep(0.05)
            finally:
                s.close()

    # ---- control ---------------------------------------------------------------

    def _control(self, method, path, body=None):
        req = urllib.request.Request(self.endpoint + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            data = r.read()
        return json.loads(data) if data else None

    def stats(self):
        return self._control("GET", "/__front/stats")

    def set_mode(self, mode):
        self._control("POST", "/__front/mode", {"mode": mode})

    # ---- the server's settings -----------------------------------------------------

    def server_env(self, **over):
        env = {
            "S3_ENDPOINT": self.endpoint,
            "S3_BUCKET": self.bucket,
            "S3_REGION": self.region,
            "S3_ACCESS_KEY": self.access_key,
            "S3_SECRET_KEY": self.secret_key,
            "S3_PATH_STYLE": "on",
            "no_proxy": "127.0.0.1,localhost",
        }
        env.update(over)
        return env

    # ---- awscli ------------------------------------------------------------------

    def aws(self, *args, timeout=60.0):
        """Runs `aws --endpoint-url ... ARGS`; returns the CompletedProcess."""
        cli = awscli()
        if not cli:
            raise AssertionError("awscli is not installed (Debian package awscli; scripts/deps.sh)")
        cfg = os.path.join(self.workdir, "aws-config")
        if not os.path.exists(cfg):
            with open(cfg, "w") as f:
                f.write("[default]\nregion = %s\ns3 =\n    addressing_style = path\n" % self.region)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID=self.access_key, AWS_SECRET_ACCESS_KEY=self.secret_key,
                   AWS_CONFIG_FILE=cfg, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                   AWS_EC2_METADATA_DISABLED="true", AWS_PAGER="", no_proxy="127.0.0.1,localhost")
        return subprocess.run([cli, "--endpoint-url", self.endpoint, "--output", "json"] + list(args),
                              env=env, capture_output=True, text=True, timeout=timeout)

    def head_object(self, key):
        r = self.aws("s3api", "head-object", "--bucket", self.bucket, "--key", key)
        if r.returncode != 0:
            raise AssertionError("aws s3api head-object %s: exit %d: %s" % (key, r.returncode, r.stderr.strip()[-500:]))
        return json.loads(r.stdout)

    def get_object(self, key):
        fd, out = tempfile.mkstemp(dir=self.workdir)
        os.close(fd)
        try:
            r = self.aws("s3api", "get-object", "--bucket", self.bucket, "--key", key, out)
            if r.returncode != 0:
                raise AssertionError("aws s3api get-object %s: exit %d: %s" % (key, r.returncode, r.stderr.strip()[-500:]))
            with open(out, "rb") as f:
                return f.read(), json.loads(r.stdout)
        finally:
            os.unlink(out)

    def object_exists(self, key):
        r = self.aws("s3api", "head-object", "--bucket", self.bucket, "--key", key)
        return r.returncode == 0
