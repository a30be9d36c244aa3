"""A page session: one browser page and everything running for it, across socket drops.

The session owns what the page is sent (``delivery``), the ``get_prop``
requests waiting for the page (``prop_reads``), its timers (``deadlines``)
and the callbacks running for it. A session outlives its socket: when the
connection drops, the session is detached and keeps running for a grace
period, its updates waiting in the outbox (coalesced, bounded); a page that
reconnects in time resumes it and receives everything it missed, in order.
When the page leaves for good, or the grace period ends, the session shuts
down: ``is_shutdown`` turns on, pending reads fail, running async callbacks
are cancelled and, after a short grace, persistent ones; nothing of the page
outlives it.

A session belongs to whoever opened it: resuming it takes the secret its
last ``hello`` gave the page (a new one on every socket) and the same
identity, so a session id seen in a log or guessed is worth nothing.

Its lifecycle is one ``SessionState``; every change of state goes through
``_enter``, which holds the allowed transitions, and the session decides
what the end of a socket means for it (``socket_ended``).

Everything here runs on the session's event loop, except the few methods
documented as thread-safe, which sync callbacks call from worker threads.
"""

from __future__ import annotations

import asyncio
import enum
import hmac
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable

from . import protocol
from .brokers import Cursor
from .cookies import CookieJar
from .deadlines import Deadline, IdleTimer
from .delivery import Delivery, Transport
from .errors import InvalidState, SocketClosed, UnsupportedDash
from .outbox import Outbox
from .prop_reads import PropReads
from .protocol import CloseCode, ComponentId
from .sync_lanes import SyncLane
from .topics import PageSubscription, TopicHub, TopicMessage, check_topic

logger = logging.getLogger("dash_ws")


class SessionState(enum.Enum):
    """Where a page session is in its life."""

    DETACHED = "detached"
    """No socket: just made, or its connection dropped and it waits for the page."""
    ATTACHED = "attached"
    """Serving the page through one socket."""
    CLOSING = "closing"
    """The server is closing the page's socket; the session ends once it has."""
    ENDED = "ended"
    """The page is gone for good; nothing runs for it any more."""


_TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    SessionState.DETACHED: frozenset(
        {SessionState.ATTACHED, SessionState.CLOSING, SessionState.ENDED}
    ),
    SessionState.ATTACHED: frozenset(
        {SessionState.DETACHED, SessionState.CLOSING, SessionState.ENDED}
    ),
    SessionState.CLOSING: frozenset({SessionState.ENDED}),
    SessionState.ENDED: frozenset(),
}

_LIVE = frozenset({SessionState.DETACHED, SessionState.ATTACHED})


@dataclass(frozen=True)
class SessionLimits:
    """Per-page limits; see ``dash_ws.Dash`` for what each one means."""

    outbox_bytes: int = 8 * 1024 * 1024
    frame_bytes: int = 256 * 1024
    send_timeout: float = 30.0
    close_timeout: float = 5.0
    inbound_message_bytes: int = 64 * 1024 * 1024
    call_bytes: int = 128 * 1024 * 1024
    sync_workers: int = 4
    inactivity_timeout: float = 300.0
    liveness_timeout: float = 45.0
    resume_grace: float = 30.0
    shutdown_grace: float = 2.0
    max_running_calls: int = 512
    streams_patches: bool = True

    @property
    def buffer_bytes(self) -> int:
        """What waits to be sent and what waits to be acknowledged share ``outbox_bytes``."""
        return self.outbox_bytes // 2

    @property
    def inbound_frame_bytes(self) -> int:
        """Largest frame a page may send: a call whose body is at the limit, with its envelope.

        The body travels as a JSON string, where escaping can double it.
        """
        return 2 * self.inbound_message_bytes + protocol.MESSAGE_ENVELOPE_BYTES


class PageSession:
    """State and lifetime of one page, attached to at most one socket at a time."""

    def __init__(
        self,
        limits: SessionLimits,
        on_end: Callable[[PageSession], None],
        identity: Any = None,
        hub: TopicHub | None = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.id = secrets.token_urlsafe(18)
        self.secret = ""
        self.identity = identity
        self.handshake: Any = None
        """The upgrade request of the page's latest socket, as the endpoint admitted it."""
        self.opened_at = time.time()
        self.limits = limits
        self.handle = WebSocket(self)
        self.state = SessionState.DETACHED
        self.call_bytes = 0
        self.sync_lane = SyncLane(limits.sync_workers)
        self.delivery = Delivery(
            self.loop,
            limits.buffer_bytes,
            limits.frame_bytes,
            limits.send_timeout,
            on_too_slow=self._too_slow,
            on_sent=self.touch,
        )
        self.reads = PropReads(self.loop, self.send_message)
        self.cookie_jar = CookieJar(self.id, self.after)
        self.binding = ""
        """The browser's binding cookie as its latest socket carried it (``cookies.py``)."""
        self.running_calls: set[asyncio.Future] = set()
        self.persistent_tasks: set[asyncio.Future] = set()
        self.persistent_started = False
        self.highest_call_id = 0
        self.hub = hub
        """The topics of this worker, which ``ctx.websocket.subscribe`` follows."""
        self.subscriptions: set[PageSubscription] = set()
        self.feed_cursors: dict[str, Cursor] = {}
        """Each feed's last message sent to the page (``feeds.py``)."""
        self._on_end = on_end
        self._transport: Transport | None = None
        self._inactivity = IdleTimer(self.loop, limits.inactivity_timeout, self._inactive)
        self._liveness = IdleTimer(self.loop, limits.liveness_timeout, self._silent)
        self._ending = Deadline(self.loop, self._end_soon)
        self._chores: set[Deadline] = set()
        self._inactivity.start()

    @property
    def outbox(self) -> Outbox:
        return self.delivery.outbox

    @property
    def is_shutdown(self) -> bool:
        return self.state is SessionState.ENDED

    @property
    def is_live(self) -> bool:
        """Attached or waiting for its page: neither closing nor ended."""
        return self.state in _LIVE

    @property
    def is_detached(self) -> bool:
        return self.state is SessionState.DETACHED

    @property
    def is_attached(self) -> bool:
        return self.state is SessionState.ATTACHED

    def serves(self, transport: Transport) -> bool:
        """True while ``transport`` is this session's socket (not one it has moved on from)."""
        return self._transport is transport

    def _enter(self, state: SessionState) -> None:
        """Move to ``state``; every change of state goes through here."""
        if state not in _TRANSITIONS[self.state]:
            raise InvalidState(f"a {self.state.value} session cannot become {state.value}")
        self.state = state

    # ---------------------------------------------------------------- sockets

    def may_resume(self, secret: str, identity: Any) -> bool:
        """True when a socket naming this session may take it over. Changes nothing.

        It must hold the secret of the session's last ``hello`` and be the
        identity of the page that opened it; ``attach`` then checks, still
        changing nothing if it fails, that every message the page missed is
        kept. A failed attempt leaves a live page alone.
        """
        return (
            self.is_live
            and bool(self.secret)
            and hmac.compare_digest(self.secret.encode(), secret.encode())
            and identity == self.identity
        )

    async def attach(self, transport: Transport, resume_after: int | None) -> bool:
        """Serve the page through ``transport``.

        With ``resume_after`` (the last message number the page saw), first
        re-send what it missed and the reads still waiting for it; False,
        and nothing changed, when some of that is no longer kept. A socket
        that resumes a session still attached to a half-open socket takes
        it over, and the old socket is closed.
        """
        missed: list[bytes] = []
        if resume_after is not None:
            kept = self.delivery.missed_after(resume_after)
            if kept is None or not self.is_live:
                return False
            missed = kept
        if self.state is SessionState.ATTACHED:
            self._let_go(CloseCode.GOING_AWAY, "the page resumed on another socket")
        self._enter(SessionState.ATTACHED)
        self._ending.stop()
        self._transport = transport
        self.secret = secrets.token_urlsafe(24)
        self._liveness.start()
        hello = protocol.hello_message(self.id, self.secret, resumed=resume_after is not None)
        await self.delivery.start(transport, hello, missed, self.reads.unanswered())
        self.touch()
        return True

    def socket_ended(self, transport: Transport, page_left: bool) -> Awaitable[None] | None:
        """The endpoint reports that ``transport`` is over; the session decides what that means.

        A socket the session has moved on from means nothing. The end of the
        socket of a closing session, or a page that left on purpose, ends the
        session (the returned awaitable finishes it); a dropped connection
        detaches it, waiting for the page to come back.
        """
        if not self.serves(transport):
            return None
        if page_left or not self.is_live:
            return self.shutdown()
        self.detach()
        return None

    def detach(self) -> None:
        """The socket dropped: keep running for the grace period, waiting for the page."""
        if self.state is not SessionState.ATTACHED:
            return
        self._enter(SessionState.DETACHED)
        self._transport = None
        self.delivery.stop()
        self._liveness.stop()
        self._ending.arm(self.limits.resume_grace)

    def _let_go(self, code: int, reason: str) -> None:
        """Close the socket this session is leaving, without waiting for it."""
        old = self._transport
        self.detach()
        if old is not None:
            asyncio.ensure_future(quietly(old.close(code, reason), self.limits.close_timeout))

    def _end_soon(self) -> None:
        """The page did not come back in time, or never answered the close."""
        logger.info("dash-ws: page %s is gone; ending its session", self.id[:8])
        asyncio.ensure_future(self.shutdown())

    # ---------------------------------------------------------------- outbound

    def stream_props(self, component_id: ComponentId, props: dict[str, Any]) -> None:
        """Send a ``set_props`` to the page, in call order. Thread-safe.

        Values are encoded in the calling thread, so a sync callback pays for
        its own serialization instead of the event loop.
        """
        if not self.is_live:
            return
        component = protocol.encode_component_id(component_id)
        encoded = {name: protocol.encode_value(value) for name, value in props.items()}
        patched = protocol.patched_props(encoded)
        if patched and not self.limits.streams_patches:
            raise UnsupportedDash(
                "streaming a Patch needs dash>=3.3: this Dash's renderer would replace the "
                "prop with the patch; send the whole value or pip install 'dash>=3.3'"
            )
        self.call_on_loop(self._queue_set, component, encoded, patched)

    def send_message(self, message: bytes) -> None:
        """Queue one pre-encoded message; loop only."""
        if self.is_live:
            self.delivery.queue(message)

    def send_control(self, message: bytes) -> None:
        """Send an unnumbered message (``pong``) now if attached; never kept."""
        transport = self._transport
        if transport is not None:
            asyncio.ensure_future(quietly(transport.send(protocol.frame([message]))))

    def call_on_loop(self, function: Callable[..., None], *args: Any) -> None:
        """Run ``function`` on the session's loop, now if already there. Thread-safe."""
        if _running_loop() is self.loop:
            function(*args)
        else:
            try:
                self.loop.call_soon_threadsafe(function, *args)
            except RuntimeError:  # the loop has closed: the page is gone
                pass

    def _queue_set(self, component: bytes, props: dict[str, bytes], patched: frozenset) -> None:
        if self.is_live:
            self.delivery.queue_set(component, props, patched)

    def _too_slow(self, why: str) -> None:
        logger.warning("dash-ws: disconnecting a slow page: %s", why)
        asyncio.ensure_future(self.close(CloseCode.TOO_SLOW, "client too slow"))

    # ---------------------------------------------------------------- inbound

    def acknowledge(self, number: int) -> None:
        self.delivery.acknowledge(number)

    def is_new_call(self, call_id: int) -> bool:
        """False for a call the page re-sent after resuming, which already runs here."""
        if call_id <= self.highest_call_id:
            return False
        self.highest_call_id = call_id
        return True

    # ---------------------------------------------------------------- reads

    async def get_prop(
        self,
        component_id: ComponentId,
        prop_name: str,
        timeout: float,
        path: tuple[str | int, ...] = (),
    ) -> Any:
        if not self.is_live:
            raise SocketClosed("the page's socket is closed")
        return await self.reads.read(component_id, prop_name, timeout, path)

    def answer_read(self, reply: protocol.PropReply) -> bool:
        """Resolve a pending ``get_prop``; False for an id this session never asked."""
        return self.reads.answer(reply)

    # ---------------------------------------------------------------- work

    def run_call(self, work: Awaitable[None]) -> None:
        """Track an event callback so the end of the session cancels it."""
        self._track(work, self.running_calls)

    def run_persistent(self, work: Awaitable[None], name: str) -> None:
        """Track a persistent callback, stopped when the session ends."""
        self._track(work, self.persistent_tasks).set_name(name)

    def _track(self, work: Awaitable[None], tasks: set[asyncio.Future]) -> asyncio.Task:
        task = asyncio.ensure_future(work)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    @property
    def persistent_names(self) -> list[str]:
        """The persistent callbacks running for this page."""
        return sorted(task.get_name() for task in self.persistent_tasks if not task.done())

    def after(self, delay: float, function: Callable[[], None]) -> None:
        """Run ``function`` on the loop in ``delay`` seconds, unless the session has ended."""

        def run() -> None:
            self._chores.discard(chore)
            if self.is_live:
                function()

        chore = Deadline(self.loop, run)
        chore.arm(delay)
        self._chores.add(chore)

    # ---------------------------------------------------------------- lifetime

    def heard(self) -> None:
        """The page sent something: its connection is alive."""
        self._liveness.kept_alive()

    def touch(self) -> None:
        """Note activity, postponing the inactivity timeout."""
        self._inactivity.kept_alive()

    def _silent(self) -> None:
        logger.info(
            "dash-ws: nothing heard from page %s for %s s; taking its connection for dead",
            self.id[:8],
            self.limits.liveness_timeout,
        )
        # Not ``close``: the session stays, detached, for the page to resume.
        self._let_go(CloseCode.NO_HEARTBEAT, "no heartbeat")

    def _inactive(self) -> None:
        asyncio.ensure_future(self.close(CloseCode.INACTIVE, "inactivity timeout"))

    async def close(self, code: int = CloseCode.NORMAL, reason: str = "Connection closed") -> None:
        """Close the page's socket from the server and end the session.

        What is already queued leaves first, except for a page that is too
        slow to take it. The session ends when the page has seen the close,
        or ``close_timeout`` seconds later if it does not answer: a page that
        stopped reading holds nothing here for longer than that.
        """
        if not self.is_live:
            return
        self._enter(SessionState.CLOSING)
        transport = self._transport
        under_way = self.delivery.let_go()
        if transport is None:
            await self.shutdown()
            return
        timeout = self.limits.close_timeout
        if code == CloseCode.TOO_SLOW:
            if under_way is not None:
                under_way.cancel()
        else:
            await quietly(self.delivery.flush(transport, under_way), timeout)
        await quietly(transport.close(code, reason), timeout)
        if not self.is_shutdown:  # it may have ended meanwhile
            self._ending.arm(timeout)

    async def shutdown(self) -> None:
        """The page is gone for good: stop everything that runs for it."""
        if self.is_shutdown:
            return
        self._enter(SessionState.ENDED)
        self._transport = None
        for timer in (self._inactivity, self._liveness, self._ending):
            timer.stop()
        for chore in self._chores:
            chore.stop()
        self._chores.clear()
        self.delivery.stop()
        self._on_end(self)
        for subscription in list(self.subscriptions):
            subscription.close()
        self.reads.fail_all(SocketClosed("the page's socket closed"))
        for task in list(self.running_calls):
            task.cancel()
        await _settle(self.running_calls, timeout=None)
        await _settle(self.persistent_tasks, timeout=self.limits.shutdown_grace)
        for task in list(self.persistent_tasks):
            task.cancel()
        await _settle(self.persistent_tasks, timeout=None)
        self.delivery.clear()

    def abandon(self) -> None:
        """The loop that served the page is gone: the session is ended where it stands.

        Callbacks still running in threads see ``is_shutdown`` and can stop;
        nothing else can run for the page any more.
        """
        if not self.is_shutdown:
            self._enter(SessionState.ENDED)


async def quietly(operation: Awaitable[Any], timeout: float | None = None) -> None:
    """Await a socket operation whose failure, or lack of progress, means the peer has gone."""
    try:
        await asyncio.wait_for(operation, timeout)
    except (Exception, asyncio.TimeoutError):
        logger.debug("dash-ws: socket operation after the peer left", exc_info=True)


async def _settle(tasks: set[asyncio.Future], timeout: float | None) -> None:
    if tasks:
        await asyncio.wait(list(tasks), timeout=timeout)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class WebSocket:
    """``ctx.websocket``: what a callback running over the socket can do with its page."""

    def __init__(self, session: PageSession) -> None:
        self._session = session

    @property
    def is_shutdown(self) -> bool:
        """True once the page has gone for good; loops should then end.

        It stays False while the connection is only dropped and the page may
        still come back (see ``is_detached``).
        """
        return not self._session.is_live

    @property
    def is_detached(self) -> bool:
        """True while the page's connection is down and the session waits for it.

        Updates made meanwhile wait for the page; ``get_prop`` waits for it
        too, until its timeout.
        """
        return self._session.is_detached

    async def get_prop(
        self,
        component_id: ComponentId,
        prop_name: str,
        timeout: float = 30.0,
        *,
        path: list[str | int] | None = None,
    ) -> Any:
        """Read the current value of ``component_id.prop_name`` in the page.

        ``path`` reads only part of it, located as ``Patch`` locates: dict
        keys and list indices (negative from the end), ``["layout", "title",
        "text"]`` of a figure say; None where the page has nothing there.
        Raises ``TimeoutError`` after ``timeout`` seconds, ``ComponentNotFound``
        if the page has no such component, ``SocketClosed`` if the page leaves,
        ``TypeError`` for a path that is not a list of keys and indices.
        Works from any event loop or thread (a sync callback may
        ``asyncio.run`` it, or call ``get_prop_sync``).
        """
        session = self._session
        read = session.get_prop(component_id, prop_name, timeout, protocol.prop_path(path))
        if _running_loop() is session.loop:
            return await read
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(read, session.loop))

    def get_prop_sync(
        self,
        component_id: ComponentId,
        prop_name: str,
        timeout: float = 30.0,
        *,
        path: list[str | int] | None = None,
    ) -> Any:
        """``get_prop`` for sync callbacks, which run in worker threads."""
        session = self._session
        if _running_loop() is session.loop:
            raise RuntimeError("get_prop_sync would block the event loop; use await get_prop")
        read = session.get_prop(component_id, prop_name, timeout, protocol.prop_path(path))
        return asyncio.run_coroutine_threadsafe(read, session.loop).result()

    def set_props(self, component_id: ComponentId, props: dict[str, Any]) -> None:
        """Stream several props of one component now, from any thread."""
        self._session.stream_props(component_id, props)

    def set_prop_sync(self, component_id: ComponentId, prop_name: str, value: Any) -> None:
        """Stream one prop now; Dash 4.2+'s ``dash.set_props`` calls this."""
        self._session.stream_props(component_id, {prop_name: value})

    async def set_prop(self, component_id: ComponentId, prop_name: str, value: Any) -> None:
        self.set_prop_sync(component_id, prop_name, value)

    def subscribe(self, topic: str) -> AsyncIterator[TopicMessage]:
        """Follow ``topic`` from now on: ``async for message in ctx.websocket.subscribe(t)``.

        Yields ``TopicMessage``s in order, each once; one with ``gap=True``
        says messages were lost before it (the topic's history no longer held
        them) and the page should be brought up to date another way. The
        iteration ends when the page's session does. It follows from its
        first ``async for`` step, or from ``async with ... as messages``.
        """
        return _Subscribing(self._session, topic)

    async def close(self, code: int = 1000, reason: str = "Connection closed") -> None:
        """Close the page's socket; the callback may go on, but its updates go nowhere."""
        session = self._session
        if _running_loop() is session.loop:
            await session.close(code, reason)
        else:
            await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(session.close(code, reason), session.loop)
            )


class _Subscribing:
    """A subscription that starts following its topic on the first ``async for`` step."""

    def __init__(self, session: PageSession, topic: str) -> None:
        check_topic(topic)
        if session.hub is None:
            raise RuntimeError("this page's socket has no topics")
        self._session = session
        self._topic = topic
        self._subscription: PageSubscription | None = None

    def __aiter__(self) -> _Subscribing:
        return self

    async def __anext__(self) -> TopicMessage:
        if self._subscription is None:
            await self._start()
        if self._subscription is None:
            raise StopAsyncIteration  # the page had gone already
        return await self._subscription.__anext__()

    async def _start(self) -> None:
        session = self._session
        if self._subscription is not None or not session.is_live:
            return
        if _running_loop() is not session.loop:
            raise RuntimeError("subscribe from the page's event loop: an async callback")
        limit = session.hub.broker.history.count
        subscription = PageSubscription(session.hub, self._topic, limit)
        session.subscriptions.add(subscription)
        try:
            await subscription.start()
        except BaseException:  # cancelled while it started: the next step starts afresh
            self._stop(subscription)
            raise
        self._subscription = subscription

    async def aclose(self) -> None:
        """Stop following the topic before the session ends."""
        if self._subscription is not None:
            self._stop(self._subscription)

    def _stop(self, subscription: PageSubscription) -> None:
        subscription.close()
        self._session.subscriptions.discard(subscription)

    async def __aenter__(self) -> _Subscribing:
        """``async with ctx.websocket.subscribe(topic) as messages``: following from here."""
        await self._start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


current_websocket: ContextVar[WebSocket | None] = ContextVar(
    "dash_ws_current_websocket", default=None
)
"""The page socket of the callback now running; copied into worker threads with the context."""
