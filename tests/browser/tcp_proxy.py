"""A TCP proxy between the browser and the app that can cut the network.

``cut(seconds)`` aborts every open connection, as a dropped Wi-Fi link or a
sleeping laptop does, and refuses new ones for that long. With
``block_websockets`` it refuses WebSocket upgrades, as a proxy without
WebSocket support does, and forwards plain HTTP.

Given several ``targets`` (worker processes behind a load balancer without
sticky sessions) it sends each new connection to the next one in turn, and
``routes`` records where each forwarded connection went and what it asked
for first.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Sequence
from typing import NamedTuple

_FIRST_READ_BYTES = 65536


class Route(NamedTuple):
    """A connection the proxy forwarded: the port it went to, and its first line."""

    target_port: int
    request_line: str

    @property
    def is_websocket(self) -> bool:
        return "/_dash-ws" in self.request_line


class TcpProxy:
    def __init__(
        self,
        target_port: int | None = None,
        block_websockets: bool = False,
        *,
        targets: Sequence[int] = (),
    ) -> None:
        """Forward to ``target_port``, or to each of ``targets`` in turn."""
        self.targets = list(targets) or ([target_port] if target_port is not None else [])
        if not self.targets or (targets and target_port is not None):
            raise ValueError("give the proxy either target_port or targets")
        self.target_port = self.targets[0]
        self.block_websockets = block_websockets
        self.port = 0
        self.routes: list[Route] = []
        """Every forwarded connection, in the order the proxy took them."""
        self._turn = 0
        self._refuse_until = 0.0
        self._open: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> TcpProxy:
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("the proxy did not start")
        return self

    def cut(self, seconds: float) -> None:
        """Drop every connection now; refuse new ones for ``seconds``."""
        self._refuse_until = time.monotonic() + seconds
        self._loop.call_soon_threadsafe(self._abort_all)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, sock=listener))
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._abort_all()
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    def _abort_all(self) -> None:
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _serve(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        try:
            await self._forward(client_reader, client_writer)
        except asyncio.CancelledError:  # the proxy is stopping
            client_writer.transport.abort()

    async def _forward(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        if time.monotonic() < self._refuse_until:
            client_writer.transport.abort()
            return
        self._open.add(client_writer)  # a cut drops it even before it asks anything
        try:
            first = await client_reader.read(_FIRST_READ_BYTES)
        except (ConnectionError, OSError):
            first = b""
        if not first:  # cut, or closed by the browser: no turn taken
            self._open.discard(client_writer)
            client_writer.transport.abort()
            return
        if self.block_websockets and b"upgrade: websocket" in first.lower():
            client_writer.write(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await client_writer.drain()
            client_writer.close()
            self._open.discard(client_writer)
            return
        target_port = self.targets[self._turn % len(self.targets)]
        self._turn += 1
        self.routes.append(Route(target_port, first.split(b"\r\n", 1)[0].decode("latin-1")))
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", target_port
            )
        except OSError:
            self._open.discard(client_writer)
            client_writer.transport.abort()
            return
        if client_writer not in self._open:  # cut while connecting upstream
            upstream_writer.transport.abort()
            return
        self._open.add(upstream_writer)
        upstream_writer.write(first)
        await asyncio.gather(
            _pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer)
        )
        self._open.difference_update({client_writer, upstream_writer})


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(_FIRST_READ_BYTES):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.transport.abort() if writer.transport.is_closing() else writer.close()
