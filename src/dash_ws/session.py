"""A page session: one browser page's socket and everything running for it.

The session owns the page's outbox and the task that drains it, the
``get_prop`` requests waiting for the page, and the callbacks running for the
page. When the socket goes away the session shuts down: it turns
``is_shutdown`` on, fails pending reads, cancels running async callbacks and,
after a short grace, the persistent ones; nothing of the page outlives it.

Everything here runs on the session's event loop, except the few methods
documented as thread-safe, which sync callbacks call from worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import count
from typing import Any, Awaitable, Callable, Protocol

from . import protocol
from .errors import ComponentNotFound, SocketClosed
from .outbox import Outbox, OutboxOverflow
from .protocol import CloseCode, ComponentId

logger = logging.getLogger("dash_ws")

_PATCH_PREFIX = b'{"__dash_patch_update"'


class Transport(Protocol):
    """What a session needs from a socket: send a frame, close it."""

    async def send(self, frame: bytes) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


@dataclass(frozen=True)
class SessionLimits:
    """Per-page limits; see ``dash_ws.Dash`` for what each one means."""

    outbox_bytes: int = 8 * 1024 * 1024
    frame_bytes: int = 256 * 1024
    send_timeout: float = 30.0
    inbound_message_bytes: int = 4 * 1024 * 1024
    inactivity_timeout: float = 300.0
    shutdown_grace: float = 2.0


class PageSession:
    """State and lifetime of one page's socket."""

    def __init__(self, transport: Transport, limits: SessionLimits) -> None:
        self.loop = asyncio.get_running_loop()
        self.limits = limits
        self.handle = WebSocket(self)
        self.is_shutdown = False
        self.close_code: int | None = None
        self.outbox = Outbox(limits.outbox_bytes)
        self.pending_reads: dict[int, asyncio.Future] = {}
        self.running_calls: set[asyncio.Future] = set()
        self.persistent_tasks: set[asyncio.Future] = set()
        self._transport = transport
        self._read_ids = count(1)
        self._output_ready = asyncio.Event()
        self._sender = asyncio.ensure_future(self._drain_outbox())
        self._last_activity = time.monotonic()
        self._inactivity_timer: asyncio.TimerHandle | None = None
        self._arm_inactivity_timer(limits.inactivity_timeout)

    # ---------------------------------------------------------------- outbound

    def stream_props(self, component_id: ComponentId, props: dict[str, Any]) -> None:
        """Send a ``set_props`` to the page, in call order. Thread-safe.

        Values are encoded in the calling thread, so a sync callback pays for
        its own serialization instead of the event loop.
        """
        if self.is_shutdown or self.close_code is not None:
            return
        component = protocol.encode_component_id(component_id)
        encoded = {name: protocol.encode_value(value) for name, value in props.items()}
        patched = frozenset(n for n, v in encoded.items() if v.startswith(_PATCH_PREFIX))
        self.call_on_loop(self._queue_set, component, encoded, patched)

    def send_message(self, message: bytes) -> None:
        """Queue one pre-encoded message; loop only."""
        if self.close_code is not None:
            return
        try:
            self.outbox.put(message)
        except OutboxOverflow as overflow:
            self._overflowed(overflow)
            return
        self._output_ready.set()

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
        if self.close_code is not None:
            return
        try:
            self.outbox.put_set(component, props, patched)
        except OutboxOverflow as overflow:
            self._overflowed(overflow)
            return
        self._output_ready.set()

    def _overflowed(self, overflow: OutboxOverflow) -> None:
        logger.warning("dash-ws: disconnecting a slow page: %s", overflow)
        self.outbox = Outbox(self.limits.outbox_bytes)
        asyncio.ensure_future(self.close(CloseCode.TOO_SLOW, "client too slow"))

    async def _drain_outbox(self) -> None:
        """Send whatever waits as one frame, as soon as the previous frame is written.

        An idle page gets each message at once; under a steady producer the
        outbox fills while a frame is being written and the next frame takes
        all of it, so frames are never held back waiting for a quiet moment.
        """
        while True:
            await self._output_ready.wait()
            self._output_ready.clear()
            while self.outbox:
                messages = self.outbox.take(self.limits.frame_bytes)
                self.touch()
                watchdog = self.loop.call_later(self.limits.send_timeout, self._reading_stalled)
                try:
                    await self._transport.send(protocol.frame(messages))
                except Exception:  # the peer is gone; the endpoint will shut us down
                    logger.debug("dash-ws: send failed", exc_info=True)
                    return
                finally:
                    watchdog.cancel()

    def _reading_stalled(self) -> None:
        logger.warning(
            "dash-ws: disconnecting a page that read nothing for %s s", self.limits.send_timeout
        )
        asyncio.ensure_future(self.close(CloseCode.TOO_SLOW, "client too slow"))

    # ---------------------------------------------------------------- reads

    async def get_prop(self, component_id: ComponentId, prop_name: str, timeout: float) -> Any:
        if self.is_shutdown or self.close_code is not None:
            raise SocketClosed("the page's socket is closed")
        request_id = next(self._read_ids)
        reply = self.loop.create_future()
        self.pending_reads[request_id] = reply
        component = protocol.encode_component_id(component_id)
        self.send_message(protocol.get_message(request_id, component, prop_name))
        expiry = self.loop.call_later(
            timeout,
            _expire,
            reply,
            f"the page did not answer get_prop({component_id!r}, {prop_name!r}) within {timeout} s",
        )
        try:
            found, value = await reply
        finally:
            expiry.cancel()
            self.pending_reads.pop(request_id, None)
        if not found:
            raise ComponentNotFound(f"no component {component_id!r} in the page's layout")
        return value

    def answer_read(self, reply: protocol.PropReply) -> bool:
        """Resolve a pending ``get_prop``; False if nothing waits for that id."""
        waiting = self.pending_reads.get(reply.request_id)
        if waiting is None or waiting.done():
            return False
        waiting.set_result((reply.found, reply.value))
        return True

    # ---------------------------------------------------------------- work

    def run_call(self, work: Awaitable[None]) -> None:
        """Track an event callback so a disconnect cancels it."""
        self._track(work, self.running_calls)

    def run_persistent(self, work: Awaitable[None]) -> None:
        """Track a persistent callback, stopped when the page goes away."""
        self._track(work, self.persistent_tasks)

    def _track(self, work: Awaitable[None], tasks: set[asyncio.Future]) -> None:
        task = asyncio.ensure_future(work)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    # ---------------------------------------------------------------- lifetime

    def touch(self) -> None:
        """Note activity, postponing the inactivity timeout."""
        self._last_activity = time.monotonic()

    def _arm_inactivity_timer(self, delay: float) -> None:
        if self.limits.inactivity_timeout > 0:
            self._inactivity_timer = self.loop.call_later(delay, self._check_inactivity)

    def _check_inactivity(self) -> None:
        idle = time.monotonic() - self._last_activity
        remaining = self.limits.inactivity_timeout - idle
        if remaining > 0:
            self._arm_inactivity_timer(remaining)
        else:
            asyncio.ensure_future(self.close(CloseCode.INACTIVE, "inactivity timeout"))

    async def close(self, code: int = CloseCode.NORMAL, reason: str = "Connection closed") -> None:
        """Close the socket from the server; what is already queued goes first."""
        if self.close_code is not None:
            return
        self.close_code = code
        if code != CloseCode.TOO_SLOW:
            await self._flush_remaining()
        self._sender.cancel()
        try:
            await self._transport.close(code, reason)
        except Exception:  # the peer may already be gone
            logger.debug("dash-ws: close after the peer left", exc_info=True)

    async def _flush_remaining(self) -> None:
        self._sender.cancel()
        try:
            while self.outbox:
                await self._transport.send(protocol.frame(self.outbox.take(self.limits.frame_bytes)))
        except Exception:
            logger.debug("dash-ws: could not flush before close", exc_info=True)

    async def shutdown(self) -> None:
        """The socket is gone: stop everything that runs for this page."""
        if self.is_shutdown:
            return
        self.is_shutdown = True
        if self._inactivity_timer is not None:
            self._inactivity_timer.cancel()
        self._sender.cancel()
        for waiting in self.pending_reads.values():
            if not waiting.done():
                waiting.set_exception(SocketClosed("the page's socket closed"))
        self.pending_reads.clear()
        for task in list(self.running_calls):
            task.cancel()
        await _settle(self.running_calls, timeout=None)
        await _settle(self.persistent_tasks, timeout=self.limits.shutdown_grace)
        for task in list(self.persistent_tasks):
            task.cancel()
        await _settle(self.persistent_tasks, timeout=None)
        self.outbox = Outbox(self.limits.outbox_bytes)
        await asyncio.gather(self._sender, return_exceptions=True)


def _expire(reply: asyncio.Future, message: str) -> None:
    if not reply.done():
        reply.set_exception(TimeoutError(message))


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
        """True once the page's socket has closed; loops should then end."""
        return self._session.is_shutdown or self._session.close_code is not None

    async def get_prop(
        self, component_id: ComponentId, prop_name: str, timeout: float = 30.0
    ) -> Any:
        """Read the current value of ``component_id.prop_name`` in the page.

        Raises ``TimeoutError`` after ``timeout`` seconds, ``ComponentNotFound``
        if the page has no such component, ``SocketClosed`` if the page leaves.
        Works from any event loop or thread (a sync callback may
        ``asyncio.run`` it, or call ``get_prop_sync``).
        """
        session = self._session
        if _running_loop() is session.loop:
            return await session.get_prop(component_id, prop_name, timeout)
        pending = asyncio.run_coroutine_threadsafe(
            session.get_prop(component_id, prop_name, timeout), session.loop
        )
        return await asyncio.wrap_future(pending)

    def get_prop_sync(
        self, component_id: ComponentId, prop_name: str, timeout: float = 30.0
    ) -> Any:
        """``get_prop`` for sync callbacks, which run in worker threads."""
        session = self._session
        if _running_loop() is session.loop:
            raise RuntimeError("get_prop_sync would block the event loop; use await get_prop")
        pending = asyncio.run_coroutine_threadsafe(
            session.get_prop(component_id, prop_name, timeout), session.loop
        )
        return pending.result()

    def set_props(self, component_id: ComponentId, props: dict[str, Any]) -> None:
        """Stream several props of one component now, from any thread."""
        self._session.stream_props(component_id, props)

    def set_prop_sync(self, component_id: ComponentId, prop_name: str, value: Any) -> None:
        """Stream one prop now; Dash 4.2+'s ``dash.set_props`` calls this."""
        self._session.stream_props(component_id, {prop_name: value})

    async def set_prop(self, component_id: ComponentId, prop_name: str, value: Any) -> None:
        self.set_prop_sync(component_id, prop_name, value)

    async def close(self, code: int = 1000, reason: str = "Connection closed") -> None:
        """Close the page's socket; the callback may go on, but its updates go nowhere."""
        session = self._session
        if _running_loop() is session.loop:
            await session.close(code, reason)
        else:
            await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(session.close(code, reason), session.loop)
            )


current_websocket: ContextVar[WebSocket | None] = ContextVar("dash_ws_current_websocket", default=None)
"""The page socket of the callback now running; copied into worker threads with the context."""
