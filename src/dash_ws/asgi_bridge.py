"""Callbacks of a FastAPI- or Quart-served Dash app (dash>=4.2), run through the app itself.

Each socket ``call`` is replayed as an in-process HTTP request to the app's
own ASGI server, with the page's handshake headers and cookies, so the app's
middleware (authentication included) and Dash's dispatch see what they see
over HTTP. Async callbacks are awaited on the event loop. Dash's FastAPI and
Quart routes run sync callbacks inline, on whatever loop serves the request,
so sync callbacks are replayed on a private loop in a worker thread instead,
where they block nothing else. Each worker thread keeps its private loop:
making and closing one per call would cost more than the callback.

Admission is the app's answer to a GET of the page the socket belongs to,
replayed the same way; ``admission`` judges it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote

from . import dash_adapter, protocol
from .admission import Rejection, page_target, page_verdict
from .execution import HttpReply, PersistentCallback
from .handshake import Handshake
from .session import WebSocket

if TYPE_CHECKING:
    import dash_ws

T = TypeVar("T")

# Seconds an app gets to react to its client's disconnect before its request is cancelled.
_DISCONNECT_GRACE = 0.1


class AsgiCallbackBackend:
    """``CallbackBackend`` for ``dash.Dash(backend="fastapi" | "quart")``."""

    def __init__(self, app: dash_ws.Dash) -> None:
        self.app = app
        self.server = app.server
        self._update_path = app.websocket_routes.update_path

    def is_async(self, output: str) -> bool:
        return dash_adapter.is_async_callback(self.app, output)

    def persistent_callbacks(self) -> Sequence[PersistentCallback]:
        return self.app.persistent_callbacks

    async def dispatch_async(self, handshake: Handshake, call: protocol.Call) -> HttpReply:
        return await self._call(handshake, call)

    def dispatch_sync(self, handshake: Handshake, call: protocol.Call) -> HttpReply:
        return _on_this_threads_loop(self._call(handshake, call))

    def authorize(self, handshake: Handshake) -> Rejection | None:
        """Replay a GET of the socket's page through the whole app; admit only if it serves it."""
        target = page_target(self.app, handshake)
        if isinstance(target, Rejection):
            return target
        with dash_adapter.watching_page_render() as rendered:
            reply = _on_this_threads_loop(
                self._request(handshake, "GET", target.raw_path, target.query, b"", {})
            )
        status_line = f"{reply.status} {_phrase(reply.status)}".strip()
        return page_verdict(reply.status, status_line, bool(rendered), target)

    @contextmanager
    def persistent_scope(self, handshake: Handshake, websocket: WebSocket) -> Iterator[None]:
        with dash_adapter.callback_scope(websocket, handshake):
            yield

    async def _call(self, handshake: Handshake, call: protocol.Call) -> HttpReply:
        extra = {
            "content-type": "application/json",
            **{k.lower(): v for k, v in call.headers.items()},
        }
        return await self._request(
            handshake, "POST", self._update_path, call.query, call.body, extra
        )

    async def _request(
        self,
        handshake: Handshake,
        method: str,
        raw_path: str,
        query: str,
        body: bytes,
        extra_headers: dict[str, str],
    ) -> HttpReply:
        """Serve one request of the page through the app, as its server would."""
        headers = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in handshake.page_headers(extra_headers)
        ]
        headers.append((b"content-length", str(len(body)).encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": handshake.scheme,
            "path": unquote(raw_path),
            "raw_path": raw_path.encode("utf-8"),
            "query_string": query.encode("utf-8"),
            "root_path": handshake.root_path,
            "headers": headers,
            "client": handshake.client,
            "server": handshake.server,
            "state": {},
        }
        response = _CollectedResponse()
        request_sent = False

        async def receive() -> dict:
            nonlocal request_sent
            if not request_sent:
                request_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await response.over.wait()
            return {"type": "http.disconnect"}

        serving = asyncio.ensure_future(self.server(scope, receive, response.send))
        try:
            await asyncio.shield(serving)
        except asyncio.CancelledError:
            # The page left: tell the app its client disconnected, as a server would,
            # so that frameworks running the view in a task of their own cancel it.
            response.over.set()
            await asyncio.wait([serving], timeout=_DISCONNECT_GRACE)
            serving.cancel()
            raise
        return response.reply()


class _PrivateLoop:
    """A worker thread's own event loop, closed when the thread ends and lets go of it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __del__(self) -> None:
        self.loop.close()


_this_thread = threading.local()


def _on_this_threads_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion on this thread's private loop, as ``asyncio.run``
    does: what it leaves running is cancelled before this returns."""
    private = getattr(_this_thread, "private_loop", None)
    if private is None:
        private = _this_thread.private_loop = _PrivateLoop()
    loop = private.loop
    try:
        return loop.run_until_complete(coroutine)
    finally:
        left = asyncio.all_tasks(loop)
        for task in left:
            task.cancel()
        if left:
            loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))


class _CollectedResponse:
    """An ASGI ``send`` that keeps the response in memory."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.over = asyncio.Event()

    async def send(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", ()))
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                self.over.set()

    def reply(self) -> HttpReply:
        content_type = next(
            (v.decode("latin-1") for k, v in self.headers if k.lower() == b"content-type"), ""
        )
        cookies = tuple(v.decode("latin-1") for k, v in self.headers if k.lower() == b"set-cookie")
        return HttpReply(self.status, content_type, b"".join(self.chunks), cookies)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.upper()
    except ValueError:
        return ""
