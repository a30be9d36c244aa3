"""Callbacks of a FastAPI- or Quart-served Dash app (dash>=4.2), run through the app itself.

Each socket ``call`` is replayed as an in-process HTTP request to the app's
own ASGI server, with the page's handshake headers and cookies, so the app's
middleware (authentication included) and Dash's dispatch see what they see
over HTTP. Async callbacks are awaited on the event loop. Dash's FastAPI and
Quart routes run sync callbacks inline, on whatever loop serves the request,
so sync callbacks are replayed on a private loop in a worker thread instead,
where they block nothing else.

Admission, on every backend, is the app's answer to a GET of the page the
socket belongs to (``page_target``): a 2xx answer for which Dash rendered a
page admits it (``page_verdict``); anything else refuses it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import unquote, unquote_to_bytes

import dash
import orjson

from . import dash_adapter, protocol
from .callbacks import HttpReply, PersistentCallback, Rejection
from .handshake import Handshake
from .session import WebSocket

if TYPE_CHECKING:
    import dash_ws

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
        return asyncio.run(self._call(handshake, call))

    def authorize(self, handshake: Handshake) -> Rejection | None:
        """Replay a GET of the socket's page through the whole app; admit only if it serves it."""
        target = page_target(self.app, handshake)
        if isinstance(target, Rejection):
            return target
        with watching_page_render() as rendered:
            reply = asyncio.run(
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
            handshake, "POST", self._update_path, call.query, call_body(call), extra
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
        return HttpReply(self.status, content_type, b"".join(self.chunks))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.upper()
    except ValueError:
        return ""


def call_body(call: protocol.Call) -> bytes:
    """The renderer's JSON body of a call, as it would have posted it."""
    body = call.body
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    return orjson.dumps(body)


# ------------------------------------------------------------------ admission, all backends


@dataclass(frozen=True)
class PageTarget:
    """The page a socket belongs to, as the app's own server routes it.

    ``page`` is the URL the browser showed (None when the socket did not
    name one); ``raw_path`` is the server-side path, still percent-encoded.
    """

    page: str | None
    raw_path: str
    query: str

    @property
    def wsgi_path(self) -> str:
        """``PATH_INFO``: the decoded path's bytes, as latin-1 (PEP 3333)."""
        return unquote_to_bytes(self.raw_path).decode("latin-1")

    @property
    def shown(self) -> str:
        return self.page if self.page is not None else self.raw_path


def page_target(app: dash.Dash, handshake: Handshake) -> PageTarget | Rejection:
    """The page named by the socket (``handshake.page``), translated to the server's routes.

    The browser's URL starts with ``requests_pathname_prefix``; the server
    routes it under ``routes_pathname_prefix`` (they differ behind a proxy
    that strips a prefix). A socket naming no page stands for the app's root
    page. A URL outside the prefix, or one no browser would show (relative,
    with ``.`` or ``..`` segments), is refused.
    """
    requests_prefix = app.config.requests_pathname_prefix
    routes_prefix = app.config.routes_pathname_prefix
    page = handshake.page
    if page is None:
        return PageTarget(None, routes_prefix, "")
    path, _, query = page.partition("?")
    if not path.startswith(requests_prefix) or not path.startswith("/"):
        return Rejection(
            400, f"page {page!r} is not in this app: its URLs start with {requests_prefix}"
        )
    raw_path = routes_prefix + path[len(requests_prefix) :]
    segments = unquote(raw_path).replace("\\", "/").split("/")
    if any(segment in (".", "..") for segment in segments) or "#" in page:
        return Rejection(400, f"page {page!r} is not a URL a browser shows for a page")
    return PageTarget(page, raw_path, query)


def page_verdict(
    status: int, status_line: str, rendered: bool, target: PageTarget
) -> Rejection | None:
    """Admit only a 2xx answer for which Dash rendered a page.

    A 2xx without a rendered page is a URL the app serves publicly that is
    not one of its pages (an asset, ``_dash-dependencies``, a file a
    middleware serves itself): it proves nothing about the page's protection.
    """
    if not 200 <= status < 300:
        return Rejection(status, f"refused by the app (HTTP {status_line})")
    if not rendered:
        return Rejection(
            404,
            f"page {target.shown!r} is not a page of this app "
            f"(HTTP {status_line} without a Dash page)",
        )
    return None


# Pages Dash rendered in this context, while admission watches (None when it does not).
_rendered_pages: ContextVar[list[bool] | None] = ContextVar("dash_ws_rendered_pages", default=None)
_render_hook_lock = threading.Lock()
_render_hook_installed = False


def _note_page_render(index: str) -> str:
    """``dash.hooks.index``: note that Dash rendered a page for the request being watched."""
    rendered = _rendered_pages.get()
    if rendered is not None:
        rendered.append(True)
    return index


@contextmanager
def watching_page_render() -> Iterator[list[bool]]:
    """A list that gets an item for every page Dash renders in this context, meanwhile.

    Requests replayed inside it (WSGI in this thread, or ASGI on a loop
    started here) inherit the context, so the list tells whether the app
    actually rendered the page rather than answering 2xx some other way.
    """
    global _render_hook_installed
    if not _render_hook_installed:
        with _render_hook_lock:
            if not _render_hook_installed:
                dash.hooks.index()(_note_page_render)  # hooks are process-wide
                _render_hook_installed = True
    rendered: list[bool] = []
    token = _rendered_pages.set(rendered)
    try:
        yield rendered
    finally:
        _rendered_pages.reset(token)
