"""An HTTP pass-through in front of the local control plane, with a screen that sees each
request first and may answer it instead: the grader's request log (`course.relay`) and a
host's door to the control plane (`imds`) are both one."""

from __future__ import annotations

import http.client
import socket
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Answer:
    """What the screen answers in the upstream's place."""

    status: int
    body: bytes
    content_type: str = "text/xml"


Screen = Callable[[Request], Answer | None]


class Passthrough:
    """Start with `start()`, stop with `stop()`; `endpoint` is what the clients are given."""

    def __init__(
        self,
        upstream: str,
        screen: Screen,
        listen: socket.socket | None = None,
        stamp: Callable[[str], dict[str, str]] | None = None,
    ) -> None:
        """`listen`: a bound, listening socket to serve on (default: a free loopback port);
        `stamp`: the headers to set on a request passed on, from the client's address; they
        replace any of the same name the client sent."""
        parts = urllib.parse.urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.screen = screen
        self.stamp = stamp or (lambda _client: {})
        if listen is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        else:  # HTTPServer's own bind would look the address up in DNS: not needed here
            self._server = ThreadingHTTPServer(
                listen.getsockname(), self._handler(), bind_and_activate=False
            )
            self._server.socket.close()
            self._server.socket = listen
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Passthrough:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            # An answer leaves in two writes (headers, then body): with Nagle's algorithm the
            # body waits for the client's delayed ACK, 40 ms a call (benchmarks/bench_relay.py).
            disable_nagle_algorithm = True

            def _send(self, status: int, reason: str, headers: list, data: bytes) -> None:
                self.send_response(status, reason)
                for key, value in headers:
                    if key.lower() not in _HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _relay(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size) if size else b""
                client = self.client_address[0] if self.client_address else ""
                stamp = outer.stamp(str(client))
                stamped = {k.lower() for k in stamp}
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in _HOP and k.lower() not in stamped
                }
                answer = outer.screen(Request(self.command, self.path, headers, body))
                if answer is not None:
                    kind = [("Content-Type", answer.content_type)]
                    return self._send(answer.status, "", kind, answer.body)
                upstream = http.client.HTTPConnection(outer.host, outer.port, timeout=600)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers | stamp)
                    reply = upstream.getresponse()
                    self._send(reply.status, reply.reason, reply.getheaders(), reply.read())
                finally:
                    upstream.close()
                return None

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _relay

            def log_message(self, *_: object) -> None:  # the caller's console stays quiet
                pass

        return Handler
