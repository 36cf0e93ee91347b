"""Publish a port of a lab on 127.0.0.1, so a browser on this machine opens the microblog.

A small asyncio TCP forwarder on one thread of the agent: it listens on loopback in the root
namespace and makes each outbound connection from inside the lab's internet namespace, to the
web server's public address. So the browser is "on the internet", like a real visitor, and
the root namespace gets no route to any lab address.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass

from vpclab.localcloud.netns_socket import socket_in


@dataclass(frozen=True)
class Target:
    netns: str
    address: str
    port: int


class Publisher:
    """Loopback listeners, each forwarding to a target inside a namespace."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="publisher", daemon=True
        )
        self._thread.start()
        self._servers: dict[str, tuple[asyncio.base_events.Server, Target, int]] = {}

    def publish(self, key: str, target: Target, port: int = 0) -> int:
        """Listen for `key` (once; a changed target replaces the listener). Returns the port."""
        current = self._servers.get(key)
        if current and current[1] == target:
            return current[2]
        if current:
            port = port or current[2]
            self.unpublish(key)
        future = asyncio.run_coroutine_threadsafe(self._listen(target, port), self._loop)
        try:
            server = future.result(5)
        except OSError:
            if not port:
                raise
            server = asyncio.run_coroutine_threadsafe(self._listen(target, 0), self._loop).result(5)
        bound = server.sockets[0].getsockname()[1]
        self._servers[key] = (server, target, bound)
        return bound

    def port(self, key: str) -> int | None:
        current = self._servers.get(key)
        return current[2] if current else None

    def unpublish(self, key: str) -> None:
        current = self._servers.pop(key, None)
        if current:
            asyncio.run_coroutine_threadsafe(self._close(current[0]), self._loop).result(5)

    def close(self) -> None:
        for key in list(self._servers):
            self.unpublish(key)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _listen(self, target: Target, port: int) -> asyncio.base_events.Server:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._forward(target, reader, writer)

        return await asyncio.start_server(handle, "127.0.0.1", port, reuse_address=True)

    @staticmethod
    async def _close(server: asyncio.base_events.Server) -> None:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1)

    async def _forward(
        self, target: Target, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            sock = socket_in(target.netns)
        except Exception:
            writer.close()
            return
        sock.setblocking(False)
        try:
            await asyncio.wait_for(self._loop.sock_connect(sock, (target.address, target.port)), 5)
            up_reader, up_writer = await asyncio.open_connection(sock=sock)
        except (OSError, TimeoutError):
            sock.close()
            writer.close()
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                w.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.close()
