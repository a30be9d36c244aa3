"""Callbacks of a Flask-served Dash app, run as if the page had posted them over HTTP.

Each socket ``call`` becomes a Flask request built from the page's handshake
(cookies, headers, remote address) plus the headers the renderer put on its
fetch (``X-CSRFToken`` and the like). Flask then does what it does for HTTP:
``before_request`` hooks (dash-auth, login checks), Dash's dispatch, error
handlers (Dash's debug error page), ``after_request`` hooks. Async callbacks
are awaited on the event loop; sync callbacks take the same steps in a worker
thread.
"""

from __future__ import annotations

import inspect
import io
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import flask
import orjson
from flask.signals import request_started

from . import dash_adapter, protocol
from .callbacks import HttpReply, PersistentCallback, Rejection
from .handshake import Handshake
from .session import WebSocket

if TYPE_CHECKING:
    import dash_ws


class FlaskCallbackBackend:
    """``CallbackBackend`` for ``dash.Dash`` on Flask."""

    def __init__(self, app: dash_ws.Dash) -> None:
        self.app = app
        self.flask: flask.Flask = app.server
        self._update_path = app.config.routes_pathname_prefix + "_dash-update-component"

    def is_async(self, output: str) -> bool:
        return dash_adapter.is_async_callback(self.app, output)

    def persistent_callbacks(self) -> Sequence[PersistentCallback]:
        return self.app.persistent_callbacks

    def dispatch_sync(self, handshake: Handshake, call: protocol.Call) -> HttpReply:
        """Run a sync callback in this worker thread, with no event loop running in it.

        Dash's async view (registered when asgiref is installed) awaits
        nothing for a sync callback, so its coroutine completes in one step;
        driving it directly keeps Flask from starting a loop around user code,
        where ``asyncio.run(ws.get_prop(...))`` would fail.
        """
        return _run_to_completion(self.dispatch_async(handshake, call))

    async def dispatch_async(self, handshake: Handshake, call: protocol.Call) -> HttpReply:
        """Flask's ``full_dispatch_request``, with the view awaited on this loop."""
        with self.flask.request_context(self._call_environ(handshake, call)):
            try:
                try:
                    request_started.send(self.flask, _async_wrapper=self.flask.ensure_sync)
                    returned = self.flask.preprocess_request()
                    if returned is None:
                        returned = await self._run_view()
                except Exception as error:
                    returned = self.flask.handle_user_exception(error)
                response = self.flask.finalize_request(returned)
            except Exception as error:
                response = self.flask.handle_exception(error)
            return _reply(response)

    async def _run_view(self) -> Any:
        request = flask.request
        if request.routing_exception is not None:
            raise request.routing_exception
        view = self.flask.view_functions[request.url_rule.endpoint]
        returned = view(**request.view_args)
        if inspect.isawaitable(returned):
            returned = await returned
        return returned

    def authorize(self, handshake: Handshake) -> Rejection | None:
        """Ask the app's ``before_request`` hooks about the handshake, as for any route."""
        with self.flask.request_context(self._environ(handshake, "GET", handshake.path)):
            try:
                returned = self.flask.preprocess_request()
            except Exception as error:
                returned = self.flask.handle_user_exception(error)
            if returned is None:
                return None
            response = self.flask.make_response(returned)
            return Rejection(response.status_code, f"refused by the app (HTTP {response.status})")

    @contextmanager
    def persistent_scope(self, handshake: Handshake, websocket: WebSocket) -> Iterator[None]:
        with self.flask.request_context(self._environ(handshake, "GET", handshake.path)):
            with dash_adapter.callback_scope(websocket, handshake):
                yield

    def _call_environ(self, handshake: Handshake, call: protocol.Call) -> dict:
        headers = {
            "content-type": "application/json",
            **{k.lower(): v for k, v in call.headers.items()},
        }
        body = orjson.dumps(call.body)
        return self._environ(handshake, "POST", self._update_path, call.query, body, headers)

    def _environ(
        self,
        handshake: Handshake,
        method: str,
        path: str,
        query: str = "",
        body: bytes = b"",
        extra_headers: dict[str, str] | None = None,
    ) -> dict:
        """The WSGI environ (PEP 3333) of the page's request, built directly: it runs per call."""
        server_name, server_port = handshake.server or ("localhost", None)
        environ = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": handshake.root_path,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": server_name,
            "SERVER_PORT": str(server_port or (443 if handshake.scheme == "https" else 80)),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": handshake.scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        if handshake.client:
            environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = (
                handshake.client[0],
                str(handshake.client[1]),
            )
        for name, value in handshake.page_headers(extra_headers):
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ[key] = value
            elif key != "CONTENT_LENGTH":
                key = "HTTP_" + key
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ


def _run_to_completion(coroutine: Any) -> Any:
    try:
        coroutine.send(None)
    except StopIteration as finished:
        return finished.value
    coroutine.close()
    raise RuntimeError("a sync callback's dispatch awaited something; it needs an event loop")


def _reply(response: flask.Response) -> HttpReply:
    return HttpReply(
        status=response.status_code,
        content_type=response.headers.get("Content-Type", ""),
        body=response.get_data(),
    )
