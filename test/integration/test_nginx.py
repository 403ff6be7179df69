"""The server behind nginx (deploy/nginx.conf) on loopback: a request of
each kind goes through the proxy with the same answer as directly, and the
client address comes from X-Forwarded-For only with TRUSTED_PROXIES."""

import http.client
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from fixtures import JSONAPI, auth, create_admin, make_event
from helpers import eq, expect, wait_for
from run import ROOT, free_port


def nginx_conf(listen_port, upstream_port, prefix):
    """deploy/nginx.conf with the test's ports, wrapped in a main context."""
    text = open(os.path.join(ROOT, "deploy", "nginx.conf")).read()
    text = text.replace("server 127.0.0.1:8080;", "server 127.0.0.1:%d;" % upstream_port)
    text = re.sub(r"listen \[::\]:80;\n", "", text)
    text = text.replace("listen 80;", "listen 127.0.0.1:%d;" % listen_port)
    return """daemon off;
worker_processes 1;
pid %(p)s/nginx.pid;
error_log %(p)s/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %(p)s/body;
    proxy_temp_path %(p)s/proxy;
    fastcgi_temp_path %(p)s/fastcgi;
    uwsgi_temp_path %(p)s/uwsgi;
    scgi_temp_path %(p)s/scgi;
%(conf)s
}
""" % {"p": prefix, "conf": text}


class Nginx:
    def __init__(self, h, upstream_port):
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        expect(os.path.exists(binary), "nginx is not installed (scripts/deps.sh installs nginx-light)")
        self.dir = tempfile.mkdtemp(prefix="oes-nginx-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_conf(self.port, upstream_port, self.dir))
        self.proc = subprocess.Popen([binary, "-p", self.dir, "-c", conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        h.defer(self.stop)

        def up():
            try:
                return h.request("GET", "/health-check", port=self.port, timeout=2)[0] == 200
            except OSError:
                return False
        try:
            wait_for(up, 10, 0.1, "nginx answering")
        except AssertionError:
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
            raise AssertionError("nginx did not start: %s" % err[-500:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def test_every_kind_of_request_through_nginx(h):
    h.restart_server({"TRUSTED_PROXIES": "127.0.0.1/32"})
    ng = Nginx(h, h.port)
    admin = create_admin(h, "nginx-admin@example.com", "nginx-password-1")
    ev = make_event(h, admin["token"], name="Proxied")
    direct, proxied = h.port, ng.port
    cases = [
        ("GET", "/health-check", None, None, 200),
        ("GET", "/v1/events", None, None, 200),
        ("GET", "/v1/events/%d" % ev["id"], None, None, 200),
        ("GET", "/v1/events/%d/sessions?include=speakers" % ev["id"], None, None, 200),
        ("HEAD", "/v1/events/%d" % ev["id"], None, None, 200),
        ("GET", "/v1/nothing-here", None, None, 404),
        ("PUT", "/v1/events/%d" % ev["id"], None, None, 405),
        ("OPTIONS", "/v1/events", None, None, 204),
        ("GET", "/v1/users", auth(admin["token"]), None, 200),
        ("GET", "/v1/users", None, None, 401),
    ]
    for method, path, headers, body, status in cases:
        a = h.request(method, path, headers=headers, body=body, port=direct)
        b = h.request(method, path, headers=headers, body=body, port=proxied)
        eq(b[0], status, "%s %s through nginx" % (method, path))
        eq(a[0], b[0], "%s %s: same status direct and through nginx" % (method, path))
        if method == "GET" and status == 200 and path != "/health-check":
            eq(b[2], a[2], "%s %s: same body" % (method, path))
            eq(b[1].get("etag"), a[1].get("etag"), "%s %s: same ETag" % (method, path))
        expect(b[1].get("x-request-id"), "%s %s: X-Request-Id through nginx" % (method, path))
    # /metrics is for the scraper on the instance's own port, not published
    eq(h.request("GET", "/metrics", port=direct)[0], 200, "GET /metrics direct")
    eq(h.request("GET", "/metrics", port=proxied)[0], 404, "GET /metrics through nginx")
    # writes through the proxy
    hdr = dict(auth(admin["token"]), **{"Content-Type": JSONAPI})
    st, hd, data = h.json("POST", "/v1/tracks", headers=hdr, port=proxied, body={
        "data": {"type": "track", "attributes": {"name": "Main", "color": "#336699"},
                 "relationships": {"event": {"data": {"type": "event", "id": str(ev["id"])}}}}})
    eq(st, 201, "POST /v1/tracks through nginx")
    expect(hd.get("location") == "/v1/tracks/%s" % data["data"]["id"], "Location through nginx: %r" % hd.get("location"))
    tid = data["data"]["id"]
    st, _, data = h.json("PATCH", "/v1/tracks/%s" % tid, headers=hdr, port=proxied, body={
        "data": {"type": "track", "id": tid, "attributes": {"name": "Main hall"}}})
    eq(st, 200, "PATCH through nginx")
    eq(data["data"]["attributes"]["name"], "Main hall", "PATCH through nginx: name")
    st, _, _ = h.json("DELETE", "/v1/tracks/%s" % tid, headers=hdr, port=proxied)
    eq(st, 200, "DELETE through nginx")
    # a body over BODY_MAX_BYTES is the server's 413, readable through nginx
    st, _, data = h.json("POST", "/v1/events", headers=hdr, port=proxied, body=b"x" * (1024 * 1024 + 10))
    eq(st, 413, "oversized body through nginx")
    eq(data["errors"][0]["status"], "413", "oversized body through nginx: JSON:API error")


def get_from(port, path, source, headers):
    """A GET from a chosen loopback source address."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def test_client_address_through_nginx(h):
    """nginx appends its client's address to X-Forwarded-For. With
    TRUSTED_PROXIES the server logs that last hop (the real client,
    127.0.0.2 here); without it, nginx's own address. A client's forged
    X-Forwarded-For never becomes the address."""
    for trusted, want in (("127.0.0.1/32", "127.0.0.2"), (None, "127.0.0.1")):
        h.restart_server({"TRUSTED_PROXIES": trusted, "LOG_LEVEL": "info"})
        ng = Nginx(h, h.port)
        path = "/v1/events?probe=%s" % ("trusted" if trusted else "untrusted")
        eq(get_from(ng.port, path, "127.0.0.2", {"X-Forwarded-For": "192.0.2.7"}), 200,
           "GET through nginx from 127.0.0.2")

        def logged():
            return [l for l in open(h.server_log).read().splitlines()
                    if "access" in l and '"GET /v1/events"' in l]
        wait_for(lambda: logged(), 5, 0.1, "the access-log line")
        last = logged()[-1]
        expect(" %s " % want in last, "access log client (want %s): %s" % (want, last))
        expect("192.0.2.7" not in last, "a forged X-Forwarded-For became the address: %s" % last)
        ng.stop()
