"""``dash_ws.Dash``: a ``dash.Dash`` whose pages get a socket for callbacks.

The app keeps every argument and behaviour of ``dash.Dash``. It adds the
socket settings, the browser client in every page, ``app.asgi`` (the ASGI
app serving HTTP and sockets) and an ``app.run`` that serves it with uvicorn.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import replace
from functools import cached_property
from typing import Any, Callable

import dash

from . import dash_adapter
from .admission import AdmissionPolicy
from .asgi import CLIENT_SOURCE, DashWsASGI, require_websocket_implementation
from .brokers import TopicHistory, broker_for, url_of, use_by_default
from .endpoint import PROCESS_CALL_BYTES, SessionInfo, SocketEndpoint
from .execution import CallbackBackend, CallbackExecutor, PersistentCallback
from .feeds import Feed
from .protocol import CloseCode
from .registration import SocketCallbacks, process_callbacks
from .routes import Routes
from .session import SessionLimits
from .status import status_ids

_CLIENT_HASH = hashlib.sha256(CLIENT_SOURCE).hexdigest()[:12]

# The defaults live with the settings they fill; the arguments below say them in ms.
_LIMITS = SessionLimits()
_POLICY = AdmissionPolicy()
_HISTORY = TopicHistory()


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class Dash(dash.Dash):
    """``dash.Dash`` with WebSocket callbacks.

    :param websocket_callbacks: run every server callback over the page's socket.
    :param websocket_allowed_origins: origins besides the app's own whose pages
        may open a socket (for embedding).
    :param websocket_inactivity_timeout: milliseconds without a message either
        way after which the server closes a page's socket; 0 never does.
    :param websocket_max_workers: threads for sync callbacks run over sockets,
        shared by all pages.
    :param websocket_outbox_bytes: most bytes one page's messages may hold:
        half for those waiting to be sent (past that, the page is too slow and
        is disconnected), half for those sent but not yet acknowledged.
    :param websocket_max_message_bytes: largest request body a page may send
        over its socket, in bytes, as for an HTTP request (a callback's inputs,
        a ``dcc.Upload`` included). A call past it is answered 413. Default:
        the server's ``MAX_CONTENT_LENGTH`` (Flask, Quart) when set, else 64 MiB.
    :param websocket_page_call_bytes: most bytes the callbacks one page has in
        flight may hold; a call past it is answered 413.
    :param websocket_call_bytes: the same for every page of the process
        together; a call past it is answered 503.
    :param websocket_page_sync_workers: threads of the sync pool one page may
        hold at once; its other sync calls wait for them. Default: a quarter
        of ``websocket_max_workers``.
    :param websocket_send_timeout: seconds a page may take to read one frame
        before it is disconnected as too slow.
    :param websocket_resume_grace: milliseconds a page's session waits for the
        page to reconnect after its connection drops; its callbacks keep
        running and its updates wait for it.
    :param websocket_max_running_calls: callbacks one page may have running at
        once over its socket; more are answered with HTTP 429.
    :param websocket_liveness_timeout: milliseconds without a message from a
        page (it pings every third of that) after which its connection is
        taken for dead.
    :param websocket_canonical_origin: the app's public origin
        (``"https://dash.example.com"``), compared with each page's Origin
        instead of the scheme and Host header the server sees; set it behind a
        proxy that changes them.
    :param websocket_call_headers: headers a call frame may add to its
        request (the renderer's CSRF token and JWT by default); never one the
        socket's upgrade request carried.
    :param websocket_identity: function called with no arguments in the page's
        request context (``flask.request``, ``ctx.cookies``) returning who the
        page belongs to; a session resumes only for the same identity, and
        ``close_websocket_sessions`` closes by it. Default: the Basic-auth user,
        else a digest of the cookies and Authorization header.
    :param websocket_reauthorize_interval: milliseconds between asking the
        app's protection again about each open page; a page it refuses is
        closed with 4001 and its persistent callbacks stop. 0 never asks again.
    :param websocket_broker: where topics live and page sessions are found:
        ``"memory://"`` (default: this process) or ``"redis://host:port/db"``
        (every worker and process naming it; ``pip install 'dash-ws[redis]'``),
        or a Dash 4.5 ``RedisSharedStorage`` to share its Redis. Default: the
        ``DASH_WS_BROKER`` environment variable, else memory. With Redis, a page
        whose connection drops may resume on any worker.
    :param websocket_topic_history: messages each topic keeps for pages and
        workers that were away (default 1000).
    :param websocket_topic_seconds: the oldest message age a topic keeps, in
        seconds (default 300).
    :param backend: ``"flask"`` (default), or ``"fastapi"``/``"quart"`` with dash>=4.2.
    """

    def __init__(
        self,
        *args: Any,
        websocket_callbacks: bool = False,
        websocket_allowed_origins: Sequence[str] | None = None,
        websocket_inactivity_timeout: int = _ms(_LIMITS.inactivity_timeout),
        websocket_max_workers: int = 16,
        websocket_outbox_bytes: int = _LIMITS.outbox_bytes,
        websocket_max_message_bytes: int | None = None,
        websocket_page_call_bytes: int = _LIMITS.call_bytes,
        websocket_call_bytes: int = PROCESS_CALL_BYTES,
        websocket_page_sync_workers: int | None = None,
        websocket_send_timeout: float = _LIMITS.send_timeout,
        websocket_resume_grace: int = _ms(_LIMITS.resume_grace),
        websocket_liveness_timeout: int = _ms(_LIMITS.liveness_timeout),
        websocket_max_running_calls: int = _LIMITS.max_running_calls,
        websocket_canonical_origin: str | None = None,
        websocket_call_headers: Iterable[str] = _POLICY.call_headers,
        websocket_identity: Callable[[], Hashable] | None = None,
        websocket_reauthorize_interval: int = _ms(_POLICY.reauthorize_interval),
        websocket_broker: Any = None,
        websocket_topic_history: int = _HISTORY.count,
        websocket_topic_seconds: float = _HISTORY.seconds,
        backend: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **dash_adapter.dash_keyword_arguments(backend, kwargs))
        self.websocket_callbacks = bool(websocket_callbacks)
        self.websocket_allowed_origins = tuple(websocket_allowed_origins or ())
        self.websocket_max_workers = websocket_max_workers
        self.websocket_call_bytes = websocket_call_bytes
        self.websocket_policy = AdmissionPolicy(
            allowed_origins=self.websocket_allowed_origins,
            canonical_origin=websocket_canonical_origin,
            call_headers=frozenset(name.lower() for name in websocket_call_headers),
            identity=websocket_identity,
            reauthorize_interval=websocket_reauthorize_interval / 1000,
        )
        self._max_message_bytes = websocket_max_message_bytes
        self._limits = SessionLimits(
            outbox_bytes=websocket_outbox_bytes,
            call_bytes=websocket_page_call_bytes,
            sync_workers=websocket_page_sync_workers or max(1, websocket_max_workers // 4),
            inactivity_timeout=websocket_inactivity_timeout / 1000,
            send_timeout=websocket_send_timeout,
            resume_grace=websocket_resume_grace / 1000,
            liveness_timeout=websocket_liveness_timeout / 1000,
            max_running_calls=websocket_max_running_calls,
            streams_patches=dash_adapter.HAS_CLIENTSIDE_PATCH,
        )
        self.websocket_broker = url_of(websocket_broker)
        self.websocket_topic_history = TopicHistory(
            websocket_topic_history, websocket_topic_seconds
        )
        use_by_default(self.websocket_broker)
        self.socket_callbacks = SocketCallbacks()
        self._socket_callbacks_adopted = False
        dash_adapter.install_streaming_hook()

    @property
    def websocket_limits(self) -> SessionLimits:
        """The per-page limits, the message limit following the server's own when not set.

        Read when serving starts and when a page is rendered, so a
        ``MAX_CONTENT_LENGTH`` configured after ``Dash()`` counts.
        """
        asked = self._max_message_bytes
        if asked is None:
            config = getattr(self.server, "config", None) or {}
            asked = config.get("MAX_CONTENT_LENGTH") or _LIMITS.inbound_message_bytes
        return replace(self._limits, inbound_message_bytes=int(asked))

    @websocket_limits.setter
    def websocket_limits(self, limits: SessionLimits) -> None:
        self._limits = limits
        self._max_message_bytes = limits.inbound_message_bytes

    # ---------------------------------------------------------------- registration

    def callback(
        self, *args: Any, websocket: bool = False, persistent: bool = False, **kwargs: Any
    ) -> Callable[[Callable], Callable]:
        """``dash.Dash.callback`` with ``websocket`` and ``persistent``, as ``dash_ws.callback``."""
        return self.socket_callbacks.register(
            super().callback,
            dash_adapter.app_callback_list(self),
            args,
            kwargs,
            websocket,
            persistent,
        )

    def _setup_server(self) -> None:
        """Adopt ``dash_ws.callback`` registrations, as Dash adopts ``dash.callback``'s;
        generator callbacks (Dash 4.5) stream over the socket."""
        super()._setup_server()
        if self._socket_callbacks_adopted:  # Dash calls this before every request
            return
        self._socket_callbacks_adopted = True
        self.socket_callbacks.adopt(process_callbacks)
        dash_adapter.stream_over_sockets(self)

    @property
    def persistent_callbacks(self) -> list[PersistentCallback]:
        return self.socket_callbacks.persistent + process_callbacks.persistent

    @property
    def feeds(self) -> list[Feed]:
        return self.socket_callbacks.feeds + process_callbacks.feeds

    def feed(
        self, topic: str, *outputs: Any, on_gap: Callable[[], Any] | None = None
    ) -> Callable[[Callable], Callable]:
        """``dash_ws.feed`` for this app only."""
        return self.socket_callbacks.register_feed(topic, outputs, on_gap)

    def websocket_outputs(self) -> set[str]:
        """Output keys of the callbacks that go over the socket in per-callback mode."""
        return (
            process_callbacks.websocket_outputs
            | self.socket_callbacks.websocket_outputs
            | dash_adapter.natively_flagged_outputs(self)
        )

    # ---------------------------------------------------------------- the page

    @property
    def websocket_routes(self) -> Routes:
        """The URLs dash-ws serves under this app's prefixes."""
        return Routes(
            self.config.routes_pathname_prefix, self.config.requests_pathname_prefix, _CLIENT_HASH
        )

    @property
    def socket_path(self) -> str:
        return self.websocket_routes.socket_path

    @property
    def client_path(self) -> str:
        return self.websocket_routes.client_path

    def _config(self) -> dict:
        routes = self.websocket_routes
        outputs = self.websocket_outputs()
        return dash_adapter.page_config(
            super()._config(),
            {
                "enabled": bool(
                    self.websocket_callbacks or outputs or self.persistent_callbacks or self.feeds
                ),
                "url": routes.socket_url,
                "all_callbacks": self.websocket_callbacks,
                "outputs": sorted(outputs),
                "persistent": bool(self.persistent_callbacks or self.feeds),
                "update_path": routes.update_url,
                "cookies_url": routes.cookies_url,
                "heartbeat_ms": int(self.websocket_limits.liveness_timeout * 1000 / 3),
                "max_message_bytes": self.websocket_limits.inbound_message_bytes,
                "status_ids": sorted(status_ids),
            },
        )

    def interpolate_index(self, **kwargs: Any) -> str:
        client = f'<script src="{self.websocket_routes.client_url}"></script>'
        kwargs["scripts"] = client + kwargs.get("scripts", "")
        return super().interpolate_index(**kwargs)

    # ---------------------------------------------------------------- serving

    @cached_property
    def asgi(self) -> DashWsASGI:
        """The ASGI app: ``uvicorn module:app.asgi``."""
        require_websocket_implementation()
        backend = self._callback_backend()
        executor = CallbackExecutor(
            backend,
            self.websocket_max_workers,
            reveals_errors=lambda: dash_adapter.reveals_errors(self),
        )
        inner, inner_is_asgi = self._inner_asgi()
        return DashWsASGI(
            inner,
            socket_path=self.socket_path,
            client_path=self.client_path,
            cookies_path=self.websocket_routes.cookies_path,
            update_path=self.websocket_routes.update_path,
            update_route=self._update_route(backend, executor, inner),
            endpoint=SocketEndpoint(
                executor,
                self.websocket_limits,
                self.websocket_policy,
                call_bytes=self.websocket_call_bytes,
                cookie_path=self.config.requests_pathname_prefix,
                broker=broker_for(self.websocket_broker, self.websocket_topic_history),
                feeds=lambda: self.feeds,
            ),
            inner_has_lifespan=inner_is_asgi,
        )

    # ---------------------------------------------------------------- operators

    def websocket_sessions(self) -> list[SessionInfo]:
        """The page sessions this process serves: identity, address, age, persistent callbacks.

        Thread-safe: call it from a route, a callback or a shell.
        """
        return self.asgi.endpoint.session_infos()

    def close_websocket_sessions(
        self,
        identity: Hashable,
        code: int = CloseCode.UNAUTHORIZED,
        reason: str = "closed by the server",
    ) -> int:
        """Close every page session of ``identity`` and stop its persistent callbacks.

        Thread-safe. Returns how many sessions were closed. A page closed with
        4001 (the default) uses HTTP for its callbacks from then on, where the
        app's protection answers it.
        """
        return self.asgi.endpoint.close_sessions(identity, code, reason)

    def _callback_backend(self) -> CallbackBackend:
        name = dash_adapter.backend_name(self)
        if name == "flask":
            from .flask_bridge import FlaskCallbackBackend

            return FlaskCallbackBackend(self)
        from .asgi_bridge import AsgiCallbackBackend

        return AsgiCallbackBackend(self)

    def _update_route(
        self, backend: CallbackBackend, executor: CallbackExecutor, inner: Any
    ) -> Any:
        """Dash's callback route served by dash-ws itself (Flask), or ``None`` (ASGI backends)."""
        if dash_adapter.backend_name(self) != "flask":
            return None
        from .flask_updates import FlaskUpdateRoute

        return FlaskUpdateRoute(backend, executor, fallback=inner)

    def _inner_asgi(self) -> tuple[Any, bool]:
        if dash_adapter.backend_name(self) == "flask":
            from a2wsgi import WSGIMiddleware

            return WSGIMiddleware(self.server, workers=self.websocket_max_workers), False
        return self.server, True

    def release_asgi(self) -> None:
        """Let go of ``app.asgi`` once its server has stopped, however it stopped.

        Its sessions end and its threads stop, and the next ``app.run`` builds
        a fresh one: a server stopped by killing its thread (as Dash's test
        runner does) leaves thread pools no later server can use.
        """
        served = self.__dict__.pop("asgi", None)
        if served is not None:
            served.release()

    def run(
        self,
        host: str | None = None,
        port: int | str | None = None,
        proxy: str | None = None,
        debug: bool | None = None,
        **kwargs: Any,
    ) -> None:
        """Serve HTTP and sockets with uvicorn; Dash's arguments and environment apply.

        ``HOST``/``PORT`` set the address as for ``dash.Dash.run``; ``debug``
        and the ``dev_tools_*`` arguments turn on Dash's dev tools, and with
        ``debug`` the server restarts when a loaded source file changes.
        Werkzeug's options that ask for something uvicorn does not do are
        ignored with a warning; uvicorn's own options are passed to it.
        """
        from .serve import serve

        serve(self, host=host, port=port, debug=debug, proxy=proxy, **kwargs)
