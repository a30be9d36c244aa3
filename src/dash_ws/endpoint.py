"""The socket endpoint: admit a page, join it to its session, then move its messages.

Admission checks, in order: protocol version, origin, the app's own HTTP
protection for the page's URL (see ``admission``). A refused page is accepted
only to be closed with a code and a reason it can show in its console (a
refusal before ``accept`` reaches the browser as a bare HTTP 403). An
admitted page's first message is ``join``: it resumes the session it names
when it holds that session's secret and is the same identity, and otherwise
starts a new one; a failed resume leaves the named session alone. Every
frame is then parsed by ``protocol``; a bad frame is answered with an
``error`` message and the socket stays open.

The endpoint reports what happened to a socket (the page left, the
connection dropped) and the session decides what that means for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field, replace

from starlette.websockets import WebSocket as StarletteWebSocket

from . import protocol
from .admission import AdmissionPolicy, default_identity
from .brokers import Broker, MemoryBroker
from .cookies import CookieExchange, new_binding
from .errors import ProtocolError, RefusedMessage
from .execution import CallbackExecutor
from .feeds import Feed, FeedRunner
from .handshake import Handshake, binding_of, origin_allowed
from .parts import PartJoiner
from .protocol import CloseCode
from .session import PageSession, SessionLimits
from .topics import TopicHub
from .workers import warn_if_unshared

logger = logging.getLogger("dash_ws")


class _StarletteTransport:
    """A page's socket. Frames go straight to the server's ASGI ``send``, one per update,
    without Starlette's checks of each message; closes go through Starlette, which tracks
    the socket's state."""

    writes_at_once = True
    """uvicorn's ``send`` writes to the socket and waits only while it is full (flow control)."""

    def __init__(
        self, websocket: StarletteWebSocket, send: Callable[[dict], Awaitable[None]]
    ) -> None:
        self._websocket = websocket
        self._send = send

    async def send(self, frame: bytes) -> None:
        await self._send({"type": "websocket.send", "text": frame.decode()})

    async def close(self, code: int, reason: str) -> None:
        """Close with ``reason`` cut to what a close frame holds, wherever the reason came from."""
        await self._websocket.close(code, protocol.close_reason(reason))


PROCESS_CALL_BYTES = 256 * 1024 * 1024
"""Default bound on the bytes held by every page's calls in flight together."""


@dataclass(frozen=True)
class SessionInfo:
    """One page session, as ``app.websocket_sessions()`` lists it."""

    id: str
    identity: Hashable
    address: str
    age: float
    state: str
    persistent_callbacks: tuple[str, ...]


@dataclass
class SocketEndpoint:
    """ASGI handler for ``<prefix>_dash-ws/socket``; keeps the sessions of this process.

    ``call_bytes`` bounds the bytes held by the calls in flight of every page
    together, as ``SessionLimits.call_bytes`` does for one page.
    """

    executor: CallbackExecutor
    limits: SessionLimits
    policy: AdmissionPolicy
    call_bytes: int = PROCESS_CALL_BYTES
    cookie_path: str = "/"
    """Where the binding cookie applies: the app's requests prefix (``cookies.py``)."""
    broker: Broker = field(default_factory=MemoryBroker)
    """Where topics live and, with Redis, where sessions are found from any worker."""
    feeds: Callable[[], list[Feed]] = list
    """The app's feeds, read when the first page is ready (registration may come late)."""
    sessions: dict[str, PageSession] = field(default_factory=dict, init=False)
    held_call_bytes: int = field(default=0, init=False)
    """Bytes of the bodies of every page's calls in flight."""
    cookie_route: CookieExchange = field(init=False)
    """The HTTP route where pages take the cookies their socket callbacks set."""
    _handlers: dict[PageSession, asyncio.Task] = field(default_factory=dict, init=False)
    """The task serving each session's current socket, cancelled if the session ends on
    its own while that task still waits on the socket."""

    def __post_init__(self) -> None:
        self.cookie_route = CookieExchange(self.sessions, self.policy, self._identity)
        self.hub = TopicHub(self.broker)
        self._feed_runners: list[FeedRunner] | None = None
        self.relay = None
        if self.broker.shares_sessions:
            from .relay import Relay

            self.relay = Relay(self.broker, self)
            self.cookie_route.elsewhere = self.relay.cookies_elsewhere
        self._started: asyncio.Future | None = None

    async def start(self) -> None:
        """Reach the broker and, with Redis, join the other workers; once, at start-up.

        Raises ``BrokerUnavailable`` naming the broker when it cannot be reached.
        """
        if self._started is None:
            self._started = asyncio.ensure_future(self._start())
        await asyncio.shield(self._started)

    async def _start(self) -> None:
        await self.broker.start()
        if self.relay is not None:
            await self.relay.start()
        for runner in self.feed_runners:
            await runner.start()
        warn_if_unshared(self.broker)

    async def __call__(self, scope: dict, receive, send) -> None:
        await self.start()
        websocket = StarletteWebSocket(scope, receive, send)
        handshake = Handshake.from_scope(scope)
        refusal = await self._refusal(websocket, handshake)
        identity = None
        if refusal is None:
            try:
                identity = await self._identity(handshake)
            except Exception:
                logger.exception("dash-ws: websocket_identity raised")
                refusal = CloseCode.UNAUTHORIZED, "the app could not tell whose page this is"
        # A refused page is only told why: it gets no binding cookie.
        binding = binding_of(handshake.header("cookie"))
        accept_headers = None
        if binding is None and refusal is None:
            binding, set_cookie = new_binding(self.cookie_path, handshake.scheme == "https")
            accept_headers = [(b"set-cookie", set_cookie)]
        await websocket.accept(headers=accept_headers)
        transport = _StarletteTransport(websocket, send)
        if refusal is not None:
            code, reason = refusal
            logger.warning("dash-ws: refused a page from %s: %s", _peer(handshake), reason)
            await transport.close(code, reason)
            return
        join = await self._join_message(websocket, transport)
        if join is None:
            return
        if join.resumes and join.session not in self.sessions and self.relay is not None:
            if await self.relay.serve(websocket, transport, handshake, identity, join):
                return
        session = await self._join(transport, handshake, identity, join)
        if session is None:
            return
        session.binding = binding or ""
        self._handlers[session] = asyncio.current_task()
        try:
            page_left = await self._serve(websocket, handshake, session, transport)
        except asyncio.CancelledError:
            if not session.is_shutdown:
                raise
            return  # the session ended on its own (a close the page never answered)
        finally:
            if self._handlers.get(session) is asyncio.current_task():
                del self._handlers[session]
        ending = session.socket_ended(transport, page_left)
        if ending is not None:
            await ending

    # ---------------------------------------------------------------- admission

    async def _refusal(
        self, websocket: StarletteWebSocket, handshake: Handshake
    ) -> tuple[int, str] | None:
        version = websocket.query_params.get("v")
        if version != str(protocol.VERSION):
            return CloseCode.UNSUPPORTED_VERSION, (
                f"protocol version {version!r} is not supported; the server speaks "
                f"{protocol.VERSION} (reload the page)"
            )
        if not origin_allowed(handshake, self.policy.allowed_origins, self.policy.canonical_origin):
            return CloseCode.FORBIDDEN_ORIGIN, (
                f"origin {handshake.header('origin')} is not allowed; add it to "
                "websocket_allowed_origins (behind a proxy: websocket_canonical_origin)"
            )
        return await self._app_refusal(handshake)

    async def _app_refusal(self, handshake: Handshake) -> tuple[int, str] | None:
        """Ask the app's own protection whether it would serve this page."""
        authorize = self.executor.backend.authorize
        rejection = await self.executor.in_admission_thread(authorize, handshake)
        if rejection is not None:
            return CloseCode.UNAUTHORIZED, rejection.reason
        return None

    async def _identity(self, handshake: Handshake) -> Hashable:
        """Who opens this page: the app's ``identity`` function, or the default."""
        function = self.policy.identity
        if function is None:
            return default_identity(handshake)
        scope = self.executor.backend.persistent_scope

        def identify() -> Hashable:
            with scope(handshake, None):
                return function()

        return await self.executor.in_admission_thread(identify)

    async def _join(
        self,
        transport: _StarletteTransport,
        handshake: Handshake,
        identity: Hashable,
        join: protocol.Join,
    ) -> PageSession | None:
        """Attach the session the page's ``join`` resumes, or a new one.

        None when, while its hello was being written, a newer socket of the
        page took the session over: this one is on its way out.
        """
        if join.resumes:
            session = self.sessions.get(join.session)
            if (
                session is not None
                and session.may_resume(join.secret, identity)
                and await session.attach(transport, resume_after=join.seen)
            ):
                if not session.serves(transport):
                    return None
                session.handshake = handshake
                self.resumed(session)
                logger.info("dash-ws: page %s resumed its session", session.id[:8])
                return session
            logger.info("dash-ws: a page from %s could not resume; new session", _peer(handshake))
        session = PageSession(self.limits, on_end=self._forget, identity=identity, hub=self.hub)
        session.handshake = handshake
        self.sessions[session.id] = session
        self._keep_authorized(session)
        if self.relay is not None:
            await self.relay.register(session)
        await session.attach(transport, resume_after=None)
        return session if session.serves(transport) else None

    @property
    def feed_runners(self) -> list[FeedRunner]:
        if self._feed_runners is None:
            history = self.broker.history.count
            patches = self.limits.streams_patches
            self._feed_runners = [
                FeedRunner(feed, self.hub, self.executor, history, patches) for feed in self.feeds()
            ]
        return self._feed_runners

    def resumed(self, session: PageSession) -> None:
        """The page is back on a socket: its feeds send what it missed."""
        for runner in self.feed_runners:
            runner.resumed(session)

    async def _join_message(
        self, websocket: StarletteWebSocket, transport: _StarletteTransport
    ) -> protocol.Join | None:
        """The page's first message, which must be ``join``; None if the socket ends first."""
        deadline = time.monotonic() + self.limits.liveness_timeout
        while True:
            try:
                event = await asyncio.wait_for(websocket.receive(), deadline - time.monotonic())
            except asyncio.TimeoutError:
                await transport.close(CloseCode.UNSUPPORTED_VERSION, "no join message")
                return None
            if event["type"] == "websocket.disconnect":
                return None
            try:
                limit = self.limits.inbound_frame_bytes
                message = protocol.parse_inbound(_frame_text(event), limit)
                if not isinstance(message, protocol.Join):
                    raise ProtocolError("the first message on a socket must be join")
            except ProtocolError as error:
                await transport.send(protocol.frame([protocol.error_message(str(error))]))
                continue
            return message

    def _keep_authorized(self, session: PageSession) -> None:
        """Ask the app's protection about the page again every ``reauthorize_interval``."""
        interval = self.policy.reauthorize_interval
        if interval > 0:
            session.after(interval, lambda: asyncio.ensure_future(self._reauthorize(session)))

    async def _reauthorize(self, session: PageSession) -> None:
        refusal = await self._app_refusal(session.handshake)
        if refusal is None:
            self._keep_authorized(session)
            return
        code, reason = refusal
        logger.warning("dash-ws: page %s is no longer authorized: %s", session.id[:8], reason)
        await session.close(code, reason)

    def _forget(self, session: PageSession) -> None:
        self.sessions.pop(session.id, None)
        for runner in self.feed_runners:
            runner.remove(session)
        if self.relay is not None:
            self.relay.forget(session)
        handler = self._handlers.pop(session, None)
        if handler is not None and handler is not asyncio.current_task():
            handler.cancel()  # it waits on a socket whose page never answered the close

    # ---------------------------------------------------------------- messages

    async def _serve(
        self,
        websocket: StarletteWebSocket,
        handshake: Handshake,
        session: PageSession,
        transport: _StarletteTransport,
    ) -> bool:
        """Handle the page's messages until its socket ends; True if the page left on purpose."""
        joiner = PartJoiner(self.limits.inbound_frame_bytes)
        try:
            while True:
                event = await websocket.receive()
                if event["type"] == "websocket.disconnect":
                    return event.get("code", 1000) in protocol.PAGE_LEFT_CODES
                if not session.serves(transport):
                    continue  # the session moved to another socket; this one is on its way out
                raw = _frame_text(event)
                del event
                large = len(raw) > _LARGE_FRAME
                self.take_frame(session, joiner, raw, handshake)
                del raw
                if large:
                    # Frames already received are handed over without a pause; after a large
                    # one, let other pages' work run before taking the next.
                    await asyncio.sleep(0)
        finally:
            self.release_parts(session, joiner)

    def take_frame(
        self, session: PageSession, joiner: PartJoiner, raw: str | bytes, handshake: Handshake
    ) -> None:
        """Handle one frame from the page, whichever worker its socket is on."""
        session.heard()
        try:
            message = self._read(raw, joiner, session)
        except ProtocolError as error:
            logger.info("dash-ws: refused a message from %s: %s", _peer(handshake), error)
            self._refuse(session, error)
            return
        if message is not None:
            self._handle(session, session.handshake, message)

    def release_parts(self, session: PageSession, joiner: PartJoiner) -> None:
        """The socket ended: parts of a message it never finished no longer count."""
        self._hold(session, -joiner.held_bytes)
        joiner.release()

    def _read(
        self, raw: str | bytes, joiner: PartJoiner, session: PageSession
    ) -> protocol.InboundMessage | None:
        """The message in a frame, or in the parts joined so far; None while parts are missing.

        The parts being joined count in the page's and the process's call
        budgets, as a call in flight does.
        """
        message = protocol.parse_inbound(raw, self.limits.inbound_frame_bytes)
        if not isinstance(message, protocol.Part):
            return message
        held_before = joiner.held_bytes
        try:
            whole = joiner.add(
                message,
                page_room=self.limits.call_bytes - session.call_bytes,
                process_room=self.call_bytes - self.held_call_bytes,
            )
        finally:
            self._hold(session, joiner.held_bytes - held_before)
        if whole is None:
            return None
        message = protocol.parse_inbound(whole, self.limits.inbound_frame_bytes)
        if isinstance(message, protocol.Part):
            raise ProtocolError("a message sent in parts cannot be a part itself")
        return message

    def _hold(self, session: PageSession, size: int) -> None:
        """Count ``size`` more bytes (fewer, when negative) in the page's and process's budgets."""
        session.call_bytes += size
        self.held_call_bytes += size

    def _handle(
        self, session: PageSession, handshake: Handshake, message: protocol.InboundMessage
    ) -> None:
        if isinstance(message, protocol.Ping):
            session.send_control(protocol.PONG)
        elif isinstance(message, protocol.Ack):
            session.acknowledge(message.number)
        elif isinstance(message, protocol.Call):
            session.touch()
            if session.is_new_call(message.call_id):
                self._start_call(session, handshake, message)
        elif isinstance(message, protocol.PropReply):
            session.touch()
            if not session.answer_read(message):
                session.send_message(
                    protocol.error_message(f"no get_prop is waiting for reply {message.request_id}")
                )
        elif isinstance(message, protocol.Ready) and not session.persistent_started:
            session.persistent_started = True
            self.executor.start_persistent(session, handshake)
            for runner in self.feed_runners:
                runner.add(session)
        elif isinstance(message, protocol.Join):
            session.send_message(protocol.error_message("this socket has joined already"))

    def _refuse(self, session: PageSession, error: ProtocolError) -> None:
        """Tell the page what was wrong; a call refused whole is answered as itself (413, 503)."""
        if not isinstance(error, RefusedMessage) or error.call_id is None:
            session.send_message(protocol.error_message(str(error)))
        elif session.is_new_call(error.call_id):
            _answer_at_once(session, error.call_id, error.status, f"dash-ws: {error}")

    def _start_call(self, session: PageSession, handshake: Handshake, call: protocol.Call) -> None:
        """Run a call within the page's and the process's budgets; answer at once past them."""
        size = len(call.body)
        refusal = self._call_refusal(session, size)
        if refusal is not None:
            _answer_at_once(session, call.call_id, *refusal)
            return
        self._hold(session, size)

        def release() -> None:
            self._hold(session, -size)

        call = replace(call, headers=self.policy.call_headers_of(call.headers))
        self.executor.start_call(session, handshake, call, on_done=release)

    def _call_refusal(self, session: PageSession, size: int) -> tuple[int, str] | None:
        limits = self.limits
        if size > limits.inbound_message_bytes:
            return 413, (
                f"dash-ws: the inputs of this callback take {size} bytes; the server takes "
                f"at most {limits.inbound_message_bytes} (websocket_max_message_bytes)"
            )
        if len(session.running_calls) >= limits.max_running_calls:
            return 429, (
                f"dash-ws: too many callbacks in flight for this page "
                f"(limit {limits.max_running_calls})"
            )
        if session.call_bytes + size > limits.call_bytes:
            return 413, (
                f"dash-ws: this page's callbacks in flight would hold {session.call_bytes + size} "
                f"bytes; the limit is {limits.call_bytes} (websocket_page_call_bytes)"
            )
        if self.held_call_bytes + size > self.call_bytes:
            return 503, "dash-ws: the server is busy with other pages' callbacks; try again"
        return None

    # ---------------------------------------------------------------- operators

    def session_infos(self) -> list[SessionInfo]:
        """The sessions of this process, for ``app.websocket_sessions()``."""
        now = time.time()
        return [
            SessionInfo(
                id=session.id,
                identity=session.identity,
                address=_peer(session.handshake),
                age=now - session.opened_at,
                state=session.state.value,
                persistent_callbacks=tuple(session.persistent_names),
            )
            for session in list(self.sessions.values())
        ]

    def close_sessions(self, identity: Hashable, code: int, reason: str) -> int:
        """Close every session of ``identity``; thread-safe. Returns how many there were."""
        chosen = [s for s in list(self.sessions.values()) if s.identity == identity]
        for session in chosen:
            session.call_on_loop(lambda s=session: asyncio.ensure_future(s.close(code, reason)))
        return len(chosen)

    # ---------------------------------------------------------------- server stop

    async def end_sessions(self) -> None:
        """The server is stopping: end every session, persistent callbacks included.

        A persistent callback that will not stop is left behind after
        ``shutdown_grace`` plus ``close_timeout`` seconds: the server's stop
        waits for nothing longer.
        """
        ending = asyncio.gather(
            *(session.shutdown() for session in list(self.sessions.values())),
            return_exceptions=True,
        )
        try:
            await asyncio.wait_for(ending, self.limits.shutdown_grace + self.limits.close_timeout)
        except asyncio.TimeoutError:
            logger.warning("dash-ws: a session's callbacks did not stop with the server")
        finally:
            self.executor.shutdown()
            for runner in self.feed_runners:
                runner.stop()
            if self.relay is not None:
                await self.relay.stop()

    def abandon_sessions(self) -> None:
        """The server's loop is gone: mark every session ended and stop the threads."""
        for session in list(self.sessions.values()):
            session.abandon()
        self.sessions.clear()
        self._handlers.clear()
        self.executor.shutdown()


_LARGE_FRAME = 64 * 1024
"""Bytes past which a frame costs the loop enough to give other pages a turn after it."""


def _answer_at_once(session: PageSession, call_id: int, status: int, text: str) -> None:
    """Answer a call that will not run (past a limit or a budget) with ``status`` and ``text``."""
    session.send_message(protocol.result_message(call_id, status, "text/plain", text.encode()))


def _frame_text(event: dict) -> str | bytes:
    text = event.get("text")
    return text if text is not None else (event.get("bytes") or b"")


def _peer(handshake: Handshake) -> str:
    return f"{handshake.client[0]}:{handshake.client[1]}" if handshake.client else "unknown peer"
