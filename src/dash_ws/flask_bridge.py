"""Callbacks of a Flask-served Dash app, run as if the page had posted them over HTTP.

Each socket ``call`` becomes a Flask request built from the page's handshake
(cookies, headers, remote address) plus the headers the renderer put on its
fetch (``X-CSRFToken`` and the like). Flask then does what it does for HTTP:
``before_request`` hooks (dash-auth, login checks), Dash's dispatch, error
handlers (Dash's debug error page), ``after_request`` hooks. Async callbacks
are awaited on the event loop; sync callbacks take the same steps in a worker
thread.

Admission serves the socket's page through the app's whole WSGI stack
(``app.server.wsgi_app`` with whatever middleware wraps it, Flask's hooks,
the page's view and its decorators) and admits only what that serves.

When middleware wraps ``wsgi_app``, every call first goes through it too (the
"gate"): the call's environ enters the middleware chain marked with a private
key; if the middleware answers itself, that is the call's answer; if it hands
the request on to Flask, a URL value preprocessor installed at the front of
Flask's hooks stops it there with ``_ReachedFlask``, carrying the environ as
the middleware left it (ProxyFix's address and scheme included), and the call
is dispatched with that environ. ``_ReachedFlask`` is a ``BaseException``, so
Flask's and the middleware's ``except Exception`` let it through. An app
without middleware skips the gate: the path of every call stays as short as
it was.

A sync decorator around Dash's async view (Flask-Login's ``login_required``)
calls it through ``app.ensure_sync``, whose ``async_to_sync`` cannot run on
the event loop: while such a view is called, ``ensure_sync`` hands that one
function back as it is, and its coroutine is awaited here.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import io
import logging
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import flask
from flask.signals import request_started

from . import dash_adapter, protocol
from .admission import Rejection, page_target, page_verdict
from .execution import HttpReply, PersistentCallback
from .handshake import Handshake
from .session import WebSocket

if TYPE_CHECKING:
    import dash_ws

logger = logging.getLogger("dash_ws")

T = TypeVar("T")

# The environ key that marks a request sent through the middleware gate. No HTTP
# client can set it: a server turns request headers into HTTP_* keys.
_GATE_KEY = "dash_ws.gate"


_is_async = functools.lru_cache(maxsize=1024)(inspect.iscoroutinefunction)
"""``inspect.iscoroutinefunction``, remembered: it is asked of the same hooks and views per call."""


def _http_reply(status: int, headers: Iterable[tuple[str, str]], body: bytes) -> HttpReply:
    """What a socket call's answer keeps of a response: status, content type, cookies, body."""
    content_type, cookies = "", []
    for name, value in headers:
        lowered = name.lower()
        if lowered == "content-type":
            content_type = content_type or value
        elif lowered == "set-cookie":
            cookies.append(value)
    return HttpReply(status, content_type, body, tuple(cookies))


def _reply(response: flask.Response) -> HttpReply:
    return _http_reply(response.status_code, response.headers, response.get_data())


class _Gate:
    """The mark of one gated request; the environ that reached Flask comes back in it."""

    __slots__ = ()


class _ReachedFlask(BaseException):
    """A gated request got through the app's middleware to Flask; stop it there.

    A ``BaseException`` passes through ``except Exception`` handlers, Flask's
    and the middleware's, back to the gate.
    """

    def __init__(self, gate: _Gate, environ: dict) -> None:
        super().__init__("a dash-ws call reached Flask through the app's middleware")
        self.gate = gate
        self.environ = environ


# The view function a socket call is calling, to be awaited by dash-ws (see ``_run_view``).
_view_awaited_here: ContextVar[Any] = ContextVar("dash_ws_view_awaited_here", default=None)


def _stop_gated_request(endpoint: str | None, values: dict | None) -> None:
    """First URL value preprocessor of the app: stop a gated request as it reaches Flask."""
    environ = flask.request.environ
    gate = environ.get(_GATE_KEY)
    if isinstance(gate, _Gate):
        del environ[_GATE_KEY]
        raise _ReachedFlask(gate, environ)


class FlaskCallbackBackend:
    """``CallbackBackend`` for ``dash.Dash`` on Flask."""

    def __init__(self, app: dash_ws.Dash) -> None:
        self.app = app
        self.flask: flask.Flask = app.server
        self._update_path = app.websocket_routes.update_path
        self._install_lock = threading.Lock()
        self._gate_installed = False
        self._ensure_sync_installed = False

    def is_async(self, output: str) -> bool:
        return dash_adapter.is_async_callback(self.app, output)

    def persistent_callbacks(self) -> Sequence[PersistentCallback]:
        return self.app.persistent_callbacks

    def dispatch_sync(self, handshake: Handshake, call: protocol.Call) -> HttpReply:
        """Run a sync callback in this worker thread, with no event loop running in it.

        Dash's async view (registered when asgiref is installed) awaits
        nothing for a sync callback, so its coroutine completes in one step;
        driving it directly keeps Flask from starting a loop around user code,
        where ``asyncio.run(ws.get_prop(...))`` would fail. The app's async
        hooks run through asgiref, as Flask runs them for HTTP.
        """
        entered = self._through_middleware(self._call_environ(handshake, call))
        if isinstance(entered, HttpReply):
            return entered
        return run_to_completion(self._request(*entered, view=self._run_view))

    async def dispatch_async(self, handshake: Handshake, call: protocol.Call) -> HttpReply:
        """Flask's ``full_dispatch_request``, with the view awaited on this loop.

        Behind the app's middleware, if it has any: its answer is the call's
        answer, and the request it hands to Flask is the one dispatched.
        """
        entered = self._through_middleware(self._call_environ(handshake, call))
        if isinstance(entered, HttpReply):
            return entered
        if not self._has_async_hooks():
            return await self._request(*entered, view=self._run_view)
        return await self._request_beside_the_loop(*entered)

    async def serve_request(self, environ: dict, reply: Callable[[flask.Response, dict], T]) -> T:
        """An HTTP request to Flask, served as a socket call is; ``reply`` reads the response.

        Only for an app whose WSGI app is Flask's own and whose hooks are all
        sync (``serves_like_its_wsgi_app``).
        """
        return await self._request(
            environ, False, self._run_view, reply=lambda response: reply(response, environ)
        )

    def serves_like_its_wsgi_app(self) -> bool:
        """Whether ``serve_request`` takes the steps ``app.server.wsgi_app`` would."""
        return not self._has_middleware() and not self._has_async_hooks()

    async def _request(
        self,
        environ: dict,
        started: bool,
        view: Callable,
        step: Callable | None = None,
        reply: Callable[[flask.Response], Any] = _reply,
    ) -> Any:
        """The request as Flask serves it, ``view`` standing for the route's view function.

        Each of Flask's own steps (pushing the request context, the hooks,
        error handling, popping it) goes through ``step``; by default it runs
        where it is. ``reply`` reads the response before the context is popped.
        """
        step = step or _where_it_is
        request_context = self.flask.request_context(environ)
        error: BaseException | None = None
        try:
            try:
                await step(request_context.push)
                try:
                    if not started:
                        await step(self._send_request_started)
                    returned = await step(self.flask.preprocess_request)
                    if returned is None:
                        returned = await view()
                except Exception as raised:
                    returned = await step(self.flask.handle_user_exception, raised)
                response = await step(self.flask.finalize_request, returned)
            except Exception as raised:  # as Flask's ``wsgi_app``: pushing may fail too
                error = raised
                response = await step(self.flask.handle_exception, raised)
            except BaseException as raised:
                error = raised
                raise
            return reply(response)
        finally:
            if error is not None and self.flask.should_ignore_error(error):
                error = None
            await step(request_context.pop, error)

    async def _request_beside_the_loop(self, environ: dict, started: bool) -> HttpReply:
        """The request with its steps in worker threads, its async callback on this loop.

        Flask runs an ``async def`` hook (``before_request``, ``after_request``,
        teardown, error handler; Dash Pages' router among them) through
        asgiref's ``async_to_sync``, which refuses a thread running an event
        loop. Each of Flask's steps therefore runs in a worker thread, one at a
        time, in a context of the request's own (where its request context is
        pushed and popped); the callback, which may read the page's props, runs
        as a task on this loop, and no thread waits for it meanwhile.
        """
        request = contextvars.copy_context()
        loop = asyncio.get_running_loop()

        async def in_a_thread(function: Callable[..., Any], *args: Any) -> Any:
            running = loop.run_in_executor(None, request.run, function, *args)
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                await asyncio.wait([running])  # the step ends before the request is torn down
                raise

        def view_on_the_loop() -> asyncio.Future:
            return request.run(asyncio.ensure_future, self._run_view())

        return await self._request(environ, started, view=view_on_the_loop, step=in_a_thread)

    def _send_request_started(self) -> None:
        request_started.send(self.flask, _async_wrapper=self.flask.ensure_sync)

    def _has_async_hooks(self) -> bool:
        """Whether Flask would run any of the app's hooks through asgiref (checked per call)."""
        app = self.flask
        hook_lists = [
            *app.before_request_funcs.values(),
            *app.after_request_funcs.values(),
            *app.teardown_request_funcs.values(),
            app.teardown_appcontext_funcs,
            *(
                handlers.values()
                for by_code in app.error_handler_spec.values()
                for handlers in by_code.values()
            ),
        ]
        return any(_is_async(hook) for hooks in hook_lists for hook in hooks)

    async def _run_view(self) -> Any:
        request = flask.request
        if request.routing_exception is not None:
            raise request.routing_exception
        view = self.flask.view_functions[request.url_rule.endpoint]
        if _is_async(view):
            return await view(**request.view_args)
        inner = inspect.unwrap(view)
        if inner is view or not _is_async(inner):
            returned = view(**request.view_args)
        else:
            # A sync decorator around Dash's async view (Flask-Login's login_required)
            # runs it through ``app.ensure_sync``: have that hand back the coroutine.
            self._install_view_ensure_sync()
            token = _view_awaited_here.set(inner)
            try:
                returned = view(**request.view_args)
            finally:
                _view_awaited_here.reset(token)
        if inspect.isawaitable(returned):
            returned = await returned
        return returned

    def _install_view_ensure_sync(self) -> None:
        """Let ``app.ensure_sync`` hand back the async view being called, or an async wrapper.

        Flask's own would wrap it in asgiref's ``async_to_sync``, which fails
        on a thread running an event loop and would run a sync callback's
        view on a loop of its own. Any other function, and every call outside
        ``_run_view``, gets Flask's own.
        """
        if self._ensure_sync_installed:
            return
        with self._install_lock:
            if not self._ensure_sync_installed:
                flask_ensure_sync = self.flask.ensure_sync

                def ensure_sync(function: Any) -> Any:
                    awaited = _view_awaited_here.get()
                    if (
                        awaited is not None
                        and inspect.iscoroutinefunction(function)
                        and inspect.unwrap(function) is awaited
                    ):
                        return function
                    return flask_ensure_sync(function)

                self.flask.ensure_sync = ensure_sync
                self._ensure_sync_installed = True

    def authorize(self, handshake: Handshake) -> Rejection | None:
        """Serve the socket's page through the app's whole WSGI stack; admit only what it serves.

        A GET of the page's URL with the handshake's cookies and headers goes
        through ``app.server`` as an HTTP request would: middleware around
        ``wsgi_app``, ``before_request`` hooks, the page's view and its
        decorators. Runs in the calling thread, which has no event loop, so
        Flask's async hooks run through asgiref.
        """
        target = page_target(self.app, handshake)
        if isinstance(target, Rejection):
            return target
        environ = self._environ(handshake, "GET", target.wsgi_path, target.query)
        with dash_adapter.watching_page_render() as rendered:
            try:
                status_line = _wsgi_status(self.flask, environ)
            except Exception as error:
                logger.exception("dash-ws: the app raised while serving %s", target.shown)
                return Rejection(500, f"refused by the app (serving the page raised {error!r})")
        try:
            status = int(status_line.split(None, 1)[0])
        except (ValueError, IndexError):
            return Rejection(500, f"refused by the app (HTTP status {status_line!r})")
        return page_verdict(status, status_line, bool(rendered), target)

    @contextmanager
    def persistent_scope(self, handshake: Handshake, websocket: WebSocket) -> Iterator[None]:
        """The request context of the page as admitted: its URL, behind the app's middleware."""
        target = page_target(self.app, handshake)
        if isinstance(target, Rejection):
            raise PermissionError(target.reason)
        entered = self._through_middleware(
            self._environ(handshake, "GET", target.wsgi_path, target.query)
        )
        if isinstance(entered, HttpReply):
            raise PermissionError(f"the app's middleware refused the page (HTTP {entered.status})")
        with self.flask.request_context(entered[0]):
            with dash_adapter.callback_scope(websocket, handshake):
                yield

    # ---------------------------------------------------------------- the middleware gate

    def _has_middleware(self) -> bool:
        """Whether something wraps Flask's own WSGI app (checked per call: it may change)."""
        wsgi_app = self.flask.wsgi_app
        return (
            getattr(wsgi_app, "__func__", None) is not flask.Flask.wsgi_app
            or getattr(wsgi_app, "__self__", None) is not self.flask
            or type(self.flask).__call__ is not flask.Flask.__call__
        )

    def _install_gate(self) -> None:
        """Put ``_stop_gated_request`` first among the app's URL value preprocessors, once."""
        if self._gate_installed:
            return
        with self._install_lock:
            if not self._gate_installed:
                preprocessors = self.flask.url_value_preprocessors
                # A new list, not an insert: requests iterating the old one are undisturbed.
                preprocessors[None] = [_stop_gated_request, *preprocessors.get(None, ())]
                self._gate_installed = True

    def _through_middleware(self, environ: dict) -> tuple[dict, bool] | HttpReply:
        """Send ``environ`` through the app's middleware, if it has any, up to Flask.

        Returns the environ as it reached Flask and whether Flask has already
        sent ``request_started`` for it, or the middleware's own answer.
        """
        if not self._has_middleware():
            return environ, False
        self._install_gate()
        gate = _Gate()
        environ[_GATE_KEY] = gate
        collected = WsgiResponse()
        try:
            body = self.flask(environ, collected.start_response)
            collected.read(body)
        except _ReachedFlask as reached:
            if reached.gate is not gate:
                raise
            return reached.environ, True
        finally:
            environ.pop(_GATE_KEY, None)
        return collected.reply()

    def _call_environ(self, handshake: Handshake, call: protocol.Call) -> dict:
        headers = {
            "content-type": "application/json",
            **{k.lower(): v for k, v in call.headers.items()},
        }
        body = call.body
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
            # The input ends where the body does, so Werkzeug reads it as it is instead
            # of through a LimitedStream: the app's request data is the call's own bytes.
            "wsgi.input_terminated": True,
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
            key = _environ_key(name)
            if key == "CONTENT_TYPE":
                environ[key] = value
            elif key != "CONTENT_LENGTH":
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ


@functools.lru_cache(maxsize=512)
def _environ_key(header: str) -> str:
    """The environ key of a header (``HTTP_USER_AGENT``), one string shared by every page.

    Each persistent callback keeps its page's environ for the page's life.
    """
    key = header.upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key


async def _where_it_is(function: Callable[..., Any], *args: Any) -> Any:
    """A step of Flask's request run in the calling thread and context."""
    return function(*args)


def run_to_completion(coroutine: Any) -> Any:
    try:
        coroutine.send(None)
    except StopIteration as finished:
        return finished.value
    coroutine.close()
    raise RuntimeError("a sync callback's dispatch awaited something; it needs an event loop")


class WsgiResponse:
    """A WSGI ``start_response`` and reader that keep the response in memory."""

    def __init__(self) -> None:
        self.status = ""
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []

    def start_response(self, status: str, headers: list, exc_info: Any = None) -> Any:
        self.status, self.headers = status, list(headers)
        return self.chunks.append

    def read(self, body: Iterable[bytes]) -> None:
        try:
            for chunk in body:
                self.chunks.append(chunk)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    @property
    def status_code(self) -> int:
        return int(self.status.split(None, 1)[0]) if self.status else 500

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def reply(self) -> HttpReply:
        return _http_reply(self.status_code, self.headers, self.body)


def _wsgi_status(wsgi_app: Any, environ: dict) -> str:
    """The status line ``wsgi_app`` answers ``environ`` with; the body is not read past it.

    An app may call ``start_response`` as late as its first body chunk, so
    chunks are pulled until it has; the response is then closed.
    """
    collected = WsgiResponse()
    body = wsgi_app(environ, collected.start_response)
    try:
        chunks = iter(body)
        while not collected.status:
            try:
                next(chunks)
            except StopIteration:
                break
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return collected.status or "500 INTERNAL SERVER ERROR"
