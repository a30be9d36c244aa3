"""Dash's callback route of a Flask app, served the way dash-ws serves a socket call.

Every other route of a Flask app goes through a2wsgi: the whole WSGI app
runs in a worker thread, which hands each piece of the response back to the
event loop, and Dash's async view runs through asgiref, which starts an event
loop of its own for every request. ``POST _dash-update-component`` is the
route an app serves most, so dash-ws takes it the way it takes a socket
call (``FlaskCallbackBackend``): Flask's request context, ``request_started``,
its hooks, Dash's view, its error handlers, its teardown; an async callback
awaited on the server's own loop, a sync one run in the callback pool in one
step. The response is the one Flask's WSGI app would send
(the response called as a WSGI app): status, every header, body.

Where that could differ from the same request through a2wsgi, the request
goes to a2wsgi: when middleware wraps ``wsgi_app`` (it must see the whole
exchange, response included), when the app has async hooks (Flask runs
those through asgiref, which cannot run on the server's loop), and when the
body is long or of unknown length (``BODY_BYTES``). The app's sync hooks run
where its callback runs: for an async callback, on the server's loop, as
for a socket call.
"""

from __future__ import annotations

import io
import logging
from typing import Any, Callable

import flask
import orjson
from a2wsgi.wsgi import build_environ

from .execution import CallbackExecutor
from .flask_bridge import FlaskCallbackBackend, WsgiResponse, run_to_completion
from .request_body import read_body

logger = logging.getLogger("dash_ws")

Response = tuple[int, list[tuple[bytes, bytes]], bytes]
"""Status, ASGI headers and body."""

BODY_BYTES = 1024 * 1024
"""The longest callback body read here before the app's hooks have seen the request.

A body is read whole before Flask runs, so this bounds what a client the
app would refuse can make the server hold. Callback bodies are a few
kilobytes; an upload larger than this goes to a2wsgi, which reads only what
the app asks for.
"""


class FlaskUpdateRoute:
    """The ASGI route for ``POST _dash-update-component``; ``fallback`` serves what it cannot."""

    def __init__(
        self,
        backend: FlaskCallbackBackend,
        executor: CallbackExecutor,
        fallback: Callable[..., Any],
        body_bytes: int = BODY_BYTES,
    ) -> None:
        self.backend = backend
        self.executor = executor
        self.fallback = fallback
        self.body_bytes = body_bytes
        """The longest body read here; a longer one, or one of unknown length, goes to
        ``fallback``, where the app reads it only if its hooks let the request through."""

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if not self._takes(scope):
            await self.fallback(scope, receive, send)
            return
        body = await read_body(receive, self.body_bytes)
        if body is None:
            return  # the client left before its end, or sent past what it declared
        output = _output_of(body)
        if output is None:  # not JSON to orjson: Flask's own parser decides
            await self.fallback(scope, _replaying(body, receive), send)
            return
        environ = build_environ(scope, io.BytesIO(body))
        environ["wsgi.input_terminated"] = True  # the whole body is there: no LimitedStream
        try:
            if self.backend.is_async(output):
                status, headers, content = await self.backend.serve_request(
                    environ, reply=_wsgi_response
                )
            else:
                status, headers, content = await self.executor.requests_lane.run(
                    self.executor.pool, self._serve_sync, environ
                )
        except Exception:
            logger.exception("dash-ws: the app raised serving %s", scope["path"])
            status, headers, content = _SERVER_ERROR
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    def _takes(self, scope: dict) -> bool:
        """Whether the request is served here: Flask's own WSGI app would take the same
        steps, and its body has a declared length within ``body_bytes`` and the app's
        ``MAX_CONTENT_LENGTH`` (past that, Flask answers 413 without reading it)."""
        if not self.backend.serves_like_its_wsgi_app():
            return False
        length = _content_length(scope)
        largest = self.backend.flask.config.get("MAX_CONTENT_LENGTH")
        return length is not None and length <= min(self.body_bytes, largest or length)

    def _serve_sync(self, environ: dict) -> Response:
        """In a callback thread: Dash's view completes in one step for a sync callback."""
        return run_to_completion(self.backend.serve_request(environ, reply=_wsgi_response))


_SERVER_ERROR: Response = (
    500,
    [(b"content-type", b"text/plain; charset=utf-8")],
    b"Internal Server Error",
)


def _content_length(scope: dict) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _replaying(body: bytes, receive: Callable) -> Callable:
    """``receive`` for an app that reads the request again: the body read here, then the rest."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> dict:
        return pending.pop() if pending else await receive()

    return replayed


def _output_of(body: bytes) -> str | None:
    """The callback a request body names (``""`` when it names none, for Dash to answer);
    None when orjson cannot read the body."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    output = parsed.get("output") if isinstance(parsed, dict) else None
    return output if isinstance(output, str) else ""


def _wsgi_response(response: flask.Response, environ: dict) -> Response:
    """What Flask's WSGI app would send for ``response`` (the response called as a WSGI
    app), as ASGI wants it."""
    collected = WsgiResponse()
    collected.read(response(environ, collected.start_response))
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in collected.headers
    ]
    return collected.status_code, headers, collected.body
