"""The rendered Nginx site, served by a real nginx on loopback with a certificate from the
lab CA: plain HTTP only redirects to HTTPS; no version in `Server`; HSTS and the security
headers on Nginx's own pages (404, 403, the 502 page, the redirect) without doubling the
app's."""

from __future__ import annotations

import http.client
import http.server
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from vpclab import labca
from vpclab.facts import nginx_site
from vpclab.render import render
from vpclab.steps import nginx

HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _App(http.server.BaseHTTPRequestHandler):
    """Stands in for the microblog: its own security headers, and /down hangs up."""

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/down":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(200)
        for name, value in HEADERS.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args) -> None:
        pass


@dataclass(frozen=True)
class Proxy:
    http: int
    https: int
    tls: ssl.SSLContext  # trusts the lab CA only


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    """nginx with the rendered site on a loopback port, proxying to a stand-in app."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (scripts/bootstrap.sh installs it)")
    if os.geteuid() != 0:
        pytest.skip("needs root (nginx's workers read the 502 page as another user)")
    app = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _App)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    folder = Path(tempfile.mkdtemp(prefix="vpclab-nginx-", dir="/tmp"))
    folder.chmod(0o755)
    port, tls_port = _free_port(), _free_port()
    spec = tmp_path / "lab.toml"
    issued = labca.ensure_server_cert("t", ["127.0.0.1"], spec)
    (folder / "tls.crt").write_text(issued.cert_pem)
    (folder / "tls.key").write_text(issued.key_pem)
    (folder / "tls.key").chmod(0o600)
    (folder / "502.html").write_text(render("502.html.j2", lab="t"))
    (folder / "502.html").chmod(0o644)
    (folder / "site.conf").write_text(
        render(
            "nginx-site.conf.j2",
            lab="t",
            app_ip="127.0.0.1",
            app_port=app.server_address[1],
            http_port=f"127.0.0.1:{port}",
            https_port=f"127.0.0.1:{tls_port}",
            https_suffix=f":{tls_port}",
            tls_cert=str(folder / "tls.crt"),
            tls_key=str(folder / "tls.key"),
            hsts_max_age=nginx.HSTS_MAX_AGE,
            connect_timeout=nginx_site.CONNECT_TIMEOUT,
            monitoring_ip="127.0.0.1",
            body_limit=nginx.BODY_LIMIT,
            error_root=str(folder),
        )
    )
    temp = " ".join(
        f"{kind}_temp_path {folder}/{kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    (folder / "nginx.conf").write_text(
        f"worker_processes 1; pid {folder}/nginx.pid; error_log {folder}/error.log;\n"
        "events { worker_connections 64; }\n"
        f"http {{ access_log off; {temp} uwsgi_temp_path {folder}/uwsgi; "
        f"scgi_temp_path {folder}/scgi; include {folder}/site.conf; }}\n"
    )
    server = subprocess.Popen(
        ["nginx", "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"],
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        for wait_for in (port, tls_port):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", wait_for), timeout=1).close()
                    break
                except OSError:
                    assert server.poll() is None, server.stderr.read().decode()
                    assert time.monotonic() < deadline, "nginx did not listen"
                    time.sleep(0.05)
        yield Proxy(port, tls_port, labca.client_context("t", spec))
    finally:
        server.terminate()
        server.wait(timeout=10)
        app.shutdown()
        shutil.rmtree(folder)


def _get(
    port: int, path: str, tls: ssl.SSLContext | None = None
) -> tuple[int, http.client.HTTPMessage, str]:
    conn = (
        http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=tls)
        if tls
        else http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    )
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read().decode(errors="replace")
    finally:
        conn.close()


@pytest.mark.parametrize(("path", "status"), [("/metrics", 404), ("/down", 502)])
def test_nginx_own_pages_hide_its_version_and_carry_security_headers(proxy, path, status):
    got, headers, body = _get(proxy.https, path, proxy.tls)
    assert got == status
    assert headers["Server"] == "nginx"  # no version
    assert headers.get_all("Strict-Transport-Security") == [f"max-age={nginx.HSTS_MAX_AGE}"]
    for name, value in HEADERS.items():
        assert headers.get_all(name) == [value], (name, headers.get_all(name))
    if status == 502:
        assert "not answering right now" in body


def test_proxied_pages_carry_each_security_header_once(proxy):
    got, headers, body = _get(proxy.https, "/", proxy.tls)
    assert (got, body) == (200, "ok")
    assert headers["Server"] == "nginx"
    assert headers.get_all("Strict-Transport-Security") == [f"max-age={nginx.HSTS_MAX_AGE}"]
    for name, value in HEADERS.items():
        assert headers.get_all(name) == [value], (name, headers.get_all(name))


@pytest.mark.parametrize("path", ["/", "/auth/login?next=%2Fexplore", "/metrics"])
def test_plain_http_only_redirects_to_the_same_page_over_https(proxy, path):
    got, headers, body = _get(proxy.http, path)
    assert got == 301
    assert headers["Location"] == f"https://127.0.0.1:{proxy.https}{path}"
    assert headers["Server"] == "nginx"
    for name, value in HEADERS.items():  # the redirect is Nginx's own page too
        assert headers.get_all(name) == [value], (name, headers.get_all(name))
    assert "ok" not in body  # nothing of the app over plain HTTP


def test_stub_status_stays_on_port_80_for_the_exporter(proxy):
    got, headers, body = _get(proxy.http, nginx_site.STATUS_PATH)
    assert got == 200 and "Active connections" in body
    assert headers["Server"] == "nginx"


def test_only_a_client_trusting_the_lab_ca_completes_the_handshake(proxy):
    # The proxy fixture started nginx with the rendered config (nginx refuses a bad one).
    got, _headers, _body = _get(proxy.https, "/", proxy.tls)
    assert got == 200
    bare = ssl.create_default_context(capath="/nonexistent")
    with pytest.raises(ssl.SSLCertVerificationError):
        _get(proxy.https, "/", bare)
