"""The rendered Nginx site, served by a real nginx on loopback: no version in `Server`, and
security headers on Nginx's own pages (404, 403, the 502 page) without doubling the app's."""

from __future__ import annotations

import http.client
import http.server
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

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


@pytest.fixture
def proxy() -> Iterator[int]:
    """nginx with the rendered site on a loopback port, proxying to a stand-in app."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (scripts/bootstrap.sh installs it)")
    if os.geteuid() != 0:
        pytest.skip("needs root (nginx's workers read the 502 page as another user)")
    app = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _App)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    folder = Path(tempfile.mkdtemp(prefix="vpclab-nginx-", dir="/tmp"))
    folder.chmod(0o755)
    port = _free_port()
    (folder / "502.html").write_text(render("502.html.j2", lab="t"))
    (folder / "502.html").chmod(0o644)
    (folder / "site.conf").write_text(
        render(
            "nginx-site.conf.j2",
            lab="t",
            app_ip="127.0.0.1",
            app_port=app.server_address[1],
            http_port=f"127.0.0.1:{port}",
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
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "nginx did not listen"
                time.sleep(0.05)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)
        app.shutdown()
        shutil.rmtree(folder)


def _get(port: int, path: str) -> tuple[int, http.client.HTTPMessage, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read().decode(errors="replace")
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("path", "status"), [("/metrics", 404), (nginx.STATUS_PATH, 200), ("/down", 502)]
)
def test_nginx_own_pages_hide_its_version_and_carry_security_headers(proxy, path, status):
    got, headers, body = _get(proxy, path)
    assert got == status
    assert headers["Server"] == "nginx"  # no version
    for name, value in HEADERS.items():
        assert headers.get_all(name) == [value], (name, headers.get_all(name))
    if status == 502:
        assert "not answering right now" in body


def test_proxied_pages_carry_each_security_header_once(proxy):
    got, headers, body = _get(proxy, "/")
    assert (got, body) == (200, "ok")
    assert headers["Server"] == "nginx"
    for name, value in HEADERS.items():
        assert headers.get_all(name) == [value], (name, headers.get_all(name))
