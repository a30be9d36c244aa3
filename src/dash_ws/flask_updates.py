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
(``Response.get_wsgi_response``): status, every header, body.

Where that could differ from the same request through a2wsgi, the request
goes to a2wsgi: when middleware wraps ``wsgi_app`` (it must see the whole
exchange, response included) and when the app has async hooks (Flask runs
those through asgiref, which cannot run on the server's loop).
"""

from __future__ import annotations

import io
import logging
from typing import Any, Callable

import flask
import orjson
from a2wsgi.wsgi import build_environ

from .execution import CallbackExecutor
from .flask_bridge import FlaskCallbackBackend, run_to_completion

logger = logging.getLogger("dash_ws")

Response = tuple[int, list[tuple[bytes, bytes]], bytes]
"""Status, ASGI headers and body."""


class FlaskUpdateRoute:
    """The ASGI route for ``POST _dash-update-component``; ``fallback`` serves what it cannot."""

    def __init__(
        self,
        backend: FlaskCallbackBackend,
        executor: CallbackExecutor,
        fallback: Callable[..., Any],
    ) -> None:
        self.backend = backend
        self.executor = executor
        self.fallback = fallback

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if not self.backend.serves_like_its_wsgi_app():
            await self.fallback(scope, receive, send)
            return
        body = await _read_body(receive)
        environ = build_environ(scope, io.BytesIO(body))
        environ["wsgi.input_terminated"] = True  # the whole body is there: no LimitedStream
        try:
            if self.backend.is_async(_output_of(body)):
                status, headers, content = await self.backend.serve_request(
                    environ, reply=_wsgi_response
                )
            else:
                status, headers, content = await self.executor.in_thread(self._serve_sync, environ)
        except Exception:
            logger.exception("dash-ws: the app raised serving %s", scope["path"])
            status, headers, content = _SERVER_ERROR
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    def _serve_sync(self, environ: dict) -> Response:
        """In a callback thread: Dash's view completes in one step for a sync callback."""
        return run_to_completion(self.backend.serve_request(environ, reply=_wsgi_response))


_SERVER_ERROR: Response = (
    500,
    [(b"content-type", b"text/plain; charset=utf-8")],
    b"Internal Server Error",
)


async def _read_body(receive: Callable) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _output_of(body: bytes) -> str:
    """The callback a request body names; ``""`` when it names none (Dash will answer that)."""
    try:
        output = orjson.loads(body).get("output")
    except (orjson.JSONDecodeError, AttributeError):
        return ""
    return output if isinstance(output, str) else ""


def _wsgi_response(response: flask.Response, environ: dict) -> Response:
    """What Flask's WSGI app would send for ``response``, as ASGI wants it."""
    body, status_line, headers = response.get_wsgi_response(environ)
    try:
        content = b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return (
        int(status_line.split(None, 1)[0]),
        [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        content,
    )
