"""The pass-through (the grader's relay, a host's door) answers in two writes, headers then
body; with Nagle's algorithm on its connections every call waited 40 ms for the client's
delayed ACK (benchmarks/bench_relay.py: about 50 ms a call against 5 ms straight to moto)."""

from __future__ import annotations

import socket
import urllib.request

from vpclab.localcloud.passthrough import Answer, Passthrough


def test_the_pass_through_answers_with_nagle_off():
    seen: list[int] = []
    proxy = Passthrough("http://127.0.0.1:9", lambda _request: Answer(200, b"<ok/>"))
    handler = proxy._server.RequestHandlerClass
    setup = handler.setup

    def setup_and_look(self) -> None:
        setup(self)
        seen.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    handler.setup = setup_and_look
    proxy.start()
    try:
        with urllib.request.urlopen(proxy.endpoint + "/", timeout=10) as reply:
            assert reply.read() == b"<ok/>"
    finally:
        proxy.stop()
    assert seen and all(seen), "the served connection keeps Nagle's algorithm"
