"""The grader's request log: a relay in the grading process between a submission's lab
(its kernel, the CLI from a `!` cell, the agent) and that lab's moto server.

Every request passes through; the relay keeps, in the grader's memory (out of the kernel's
reach), each request that carries the library's mark (`vpclab.aws.session.marking`), with
the notebook cell that was running when it came. A step with a marked change in the log was
built by the library, whatever the route."""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from vpclab.aws.session import GRADER_MARK, STEP_MARK, is_mutating, read_mark
from vpclab.localcloud.moto_main import action_of

# The read a host-only step sends at its end (see `vpclab.steps._marked`).
HOST_WORK = "GetCallerIdentity"
_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


@dataclass(frozen=True)
class Marked:
    """One marked request: who sent it (the library for the student, or the grader)."""

    who: str
    step: str
    action: str
    where: str  # the cell that was running, e.g. "02_nat.ipynb cell 5"

    @property
    def builds(self) -> bool:
        return is_mutating(self.action) or self.action == HOST_WORK


class Relay:
    """Start with `start()`, stop with `stop()`; `endpoint` is what the lab is given."""

    def __init__(self, upstream: str) -> None:
        parts = urllib.parse.urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.where = "before the notebooks"
        self.log: list[Marked] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Relay:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def built_by_library(self, step: str) -> list[Marked]:
        """The student's library calls that changed `step` (the grader's own are left out)."""
        with self._lock:
            return [m for m in self.log if m.step == step and m.who == STEP_MARK and m.builds]

    def mended(self, step: str) -> bool:
        with self._lock:
            return any(m.step == step and m.who == GRADER_MARK and m.builds for m in self.log)

    def _note(self, headers: dict, method: str, body: bytes, path: str) -> None:
        mark = read_mark(headers.get("User-Agent", ""))
        if mark:
            action = action_of(headers, method, body, path)
            with self._lock:
                self.log.append(Marked(mark[0], mark[1], action, self.where))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _relay(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size) if size else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                relay._note(headers, self.command, body, self.path)
                upstream = http.client.HTTPConnection(relay.host, relay.port, timeout=600)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    self.send_response(answer.status, answer.reason)
                    for key, value in answer.getheaders():
                        if key.lower() not in _HOP and key.lower() != "content-length":
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _relay

            def log_message(self, *_: object) -> None:  # the grader's console stays quiet
                pass

        return Handler
