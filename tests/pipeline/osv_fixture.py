"""A vulnerability source for tests: the two OSV API calls pip-audit and the audit script
make (POST /v1/query, GET /v1/vulns/ID), served on loopback from records made up here."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# One made-up advisory: Werkzeug before 2.2.3, severity HIGH.
RECORD = {
    "schema_version": "1.6.0",
    "id": "VPCLAB-TEST-0001",
    "summary": "a made-up advisory for the pipeline's tests",
    "aliases": [],
    "affected": [
        {
            "package": {"name": "werkzeug", "ecosystem": "PyPI"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.2.3"}]}],
        }
    ],
    "database_specific": {"severity": "HIGH"},
}
AFFECTED = {("werkzeug", "2.2.2")}


class _Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = (query["package"]["name"].lower(), query.get("version"))
        self._send(200, {"vulns": [RECORD]} if key in AFFECTED else {})

    def do_GET(self) -> None:  # noqa: N802
        if self.path == f"/v1/vulns/{RECORD['id']}":
            self._send(200, RECORD)
        else:
            self._send(404, {"message": "not found"})

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def osv_server() -> Iterator[str]:
    """The query URL of a fixture OSV service on 127.0.0.1 (stopped on exit)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1/query"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
