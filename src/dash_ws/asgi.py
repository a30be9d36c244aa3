"""The ASGI app that serves a Dash app and its page sockets side by side.

Requests for the socket and for the browser client are answered here, and a
Flask app's callback route (``flask_updates``); everything else goes to the
app's own server: Flask through a2wsgi, FastAPI and Quart directly.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
from collections.abc import Awaitable
from pathlib import Path
from typing import Callable

from .endpoint import SocketEndpoint
from .errors import DashWsError

logger = logging.getLogger("dash_ws")

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]

CLIENT_SOURCE = (Path(__file__).parent / "static" / "dash_ws.js").read_bytes()

GC_YOUNG_THRESHOLD = 20_000
"""Allocations between collections of the youngest generation, once serving (at least)."""


def require_websocket_implementation() -> None:
    """Refuse to start an HTTP-only server that would fail every socket silently."""
    if not any(importlib.util.find_spec(name) for name in ("websockets", "wsproto")):
        raise DashWsError(
            "dash-ws needs a WebSocket implementation for uvicorn: "
            "pip install websockets (or uvicorn[standard])"
        )


class DashWsASGI:
    """Serves the socket, the browser client and the cookie route; the rest goes to ``inner``."""

    def __init__(
        self,
        inner: ASGIApp,
        *,
        socket_path: str,
        client_path: str,
        cookies_path: str,
        endpoint: SocketEndpoint,
        inner_has_lifespan: bool,
        update_path: str = "",
        update_route: ASGIApp | None = None,
    ) -> None:
        self.inner = inner
        self.update_path = update_path
        self.update_route = update_route
        self.socket_path = socket_path
        self.client_path = client_path
        self.cookies_path = cookies_path
        self.endpoint = endpoint
        self._inner_has_lifespan = inner_has_lifespan

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        kind = scope["type"]
        if kind == "websocket" and scope["path"] == self.socket_path:
            await self.endpoint(scope, receive, send)
        elif (
            kind == "http"
            and self.update_route is not None
            and scope["path"] == self.update_path
            and scope["method"] == "POST"
        ):
            await self.update_route(scope, receive, send)
        elif kind == "http" and scope["path"] == self.client_path:
            await _send_client(send)
        elif kind == "http" and scope["path"] == self.cookies_path:
            await self.endpoint.cookie_route(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)
        elif kind == "websocket" and not self._inner_has_lifespan:
            await send({"type": "websocket.close", "code": 1000, "reason": "no such socket"})
        else:
            await self.inner(scope, receive, send)

    async def _lifespan(self, scope: dict, receive: Callable, send: Callable) -> None:
        """Start-up reaches the broker (a failure names it and stops the server); shutdown
        ends every session."""
        if self._inner_has_lifespan:

            async def send_between(message: dict) -> None:
                if message["type"] == "lifespan.startup.complete":
                    message = await self._started() or message
                if message["type"] == "lifespan.shutdown.complete":
                    await self.endpoint.end_sessions()
                await send(message)

            await self.inner(scope, receive, send_between)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send(await self._started() or {"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.endpoint.end_sessions()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _started(self) -> dict | None:
        """Start the endpoint; the failure message for the server if it cannot start.

        What the app made while starting (modules, layout, registries) lives
        as long as the process: the garbage collector stops scanning it
        (``gc.freeze``), so its full collections cost what pages hold, not
        what Dash and the app hold. Its youngest generation is collected
        every ``GC_YOUNG_THRESHOLD`` allocations at least, not 700: an update
        sent to a thousand pages at once would otherwise push its short-lived
        objects into the old generations, and full collections would stall
        every page for a tenth of a second.
        """
        try:
            await self.endpoint.start()
        except DashWsError as error:
            logger.error("%s", error)
            return {"type": "lifespan.startup.failed", "message": str(error)}
        gc.freeze()
        young, middle, old = gc.get_threshold()
        if 0 < young < GC_YOUNG_THRESHOLD:
            gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
        return None

    def release(self) -> None:
        """After the server stopped: sessions it left are ended, threads stopped."""
        self.endpoint.abandon_sessions()
        wsgi_threads = getattr(self.inner, "executor", None)  # a2wsgi's, serving Flask
        if wsgi_threads is not None:
            wsgi_threads.shutdown(wait=False, cancel_futures=True)


async def _send_client(send: Callable) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/javascript; charset=utf-8"),
                (b"content-length", str(len(CLIENT_SOURCE)).encode()),
                (b"cache-control", b"public, max-age=31536000, immutable"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": CLIENT_SOURCE})
