"""What a page is sent: queued in order, numbered, written one frame at a time, kept until acked.

``Delivery`` joins the outbox (ordering, coalescing, its ceiling), the
replay buffer (numbers, acknowledgements, what a resumed page missed) and
the task that writes frames to the page's current socket (or, when that task
is idle, the code that queued the message: ``eager``). Its flush policy:
whatever waits leaves as one frame as soon as the previous frame is written,
at most ``frame_bytes`` a frame. An idle page gets each message at once;
under a steady producer the outbox fills while a frame is being written and
the next frame takes all of it, so frames are never held back waiting for a
quiet moment. A frame the page takes longer than ``send_timeout`` to read,
or an outbox past its ceiling, means the page is too slow: the session is
told (``on_too_slow``) and decides.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Protocol

from . import eager, protocol
from .deadlines import Deadline
from .outbox import Outbox, OutboxOverflow, SetMessage
from .replay import ReplayBuffer

logger = logging.getLogger("dash_ws")


class Transport(Protocol):
    """What a session needs from a socket: send a frame, close it."""

    async def send(self, frame: bytes) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class Delivery:
    """The outbound half of one page session. Loop only."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        buffer_bytes: int,
        frame_bytes: int,
        send_timeout: float,
        on_too_slow: Callable[[str], None],
        on_sent: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._buffer_bytes = buffer_bytes
        self._frame_bytes = frame_bytes
        self._send_timeout = send_timeout
        self._on_too_slow = on_too_slow
        self._on_sent = on_sent
        self.outbox = Outbox(buffer_bytes)
        self.replay = ReplayBuffer(buffer_bytes)
        self._wakeup: asyncio.Future | None = None
        """What the writer awaits while the outbox is empty (no Event kept per page)."""
        self._writer: asyncio.Future | None = None
        self._transport: Transport | None = None
        """The socket the writer writes to, while it runs."""
        self._overflowed = False
        self._frame_since: float | None = None
        """When the frame being written started, while one is."""
        self._stall_check = Deadline(loop, self._check_stall)

    # ---------------------------------------------------------------- queueing

    def queue(self, message: bytes) -> None:
        """Queue a message that is never coalesced (results, requests, errors)."""
        self._queued(self.outbox.put, message)

    def queue_set(self, component: bytes, props: dict[str, bytes], patched: frozenset) -> None:
        """Queue a ``set``; a newer value of a prop replaces one still waiting."""
        self._queued(self.outbox.put_set, component, props, patched)

    def queue_set_message(self, message: SetMessage) -> None:
        """Queue a ``set`` made once for many pages (a feed's rendering)."""
        self._queued(self.outbox.put_set_message, message)

    def _queued(self, put: Callable[..., None], *args: Any) -> None:
        if self._overflowed:
            return  # the page is being disconnected; nothing more is kept for it
        try:
            put(*args)
        except OutboxOverflow as overflow:
            self._overflowed = True
            self.outbox = Outbox(self._buffer_bytes)
            self._on_too_slow(str(overflow))
            return
        self._wake()

    def _wake(self) -> None:
        """An idle writer's next frame is written now, in the caller; the writer wakes to
        finish it only if the socket made it wait."""
        wakeup = self._wakeup
        if wakeup is None or wakeup.done():
            return
        try:
            unfinished = self._write_next()
        except Exception as error:  # the peer is gone: the writer ends as if it had written
            wakeup.set_exception(error)
            return
        if unfinished is not None:
            wakeup.set_result(unfinished)

    # ---------------------------------------------------------------- writing

    async def start(
        self,
        transport: Transport,
        hello: bytes,
        missed: list[bytes],
        again: list[bytes],
    ) -> None:
        """Write ``hello``, what a resumed page ``missed`` and ``again`` (numbered anew), then
        keep writing what is queued, to ``transport``."""
        await transport.send(protocol.frame([hello, *missed, *self.replay.number(again)]))
        self._transport = transport
        self._writer = asyncio.ensure_future(self._write())

    def stop(self) -> None:
        self._stall_check.stop()
        self._wakeup = None
        self._transport = None
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None

    async def _write(self) -> None:
        """Write frames while there is something to send; wait, idle, for ``_wake``."""
        try:
            while True:
                if self.outbox:
                    unfinished = self._write_next()
                else:
                    self._wakeup = asyncio.get_running_loop().create_future()
                    unfinished = await self._wakeup
                    self._wakeup = None
                if unfinished is not None:
                    try:
                        await unfinished
                    finally:
                        self._frame_since = None
        except Exception:  # the peer is gone; the endpoint reports it
            logger.debug("dash-ws: send failed", exc_info=True)

    def _write_next(self) -> asyncio.Future | None:
        """Start writing the next frame: None once it is written, or the write under way."""
        messages = self.replay.number(self.outbox.take(self._frame_bytes))
        self._on_sent()
        self._frame_since = self._loop.time()
        if not self._stall_check.armed:
            self._stall_check.arm(self._send_timeout)
        try:
            unfinished = eager.start(self._transport.send(protocol.frame(messages)))
        except BaseException:
            self._frame_since = None
            raise
        if unfinished is None:
            self._frame_since = None
        return unfinished

    def _check_stall(self) -> None:
        """One check per ``send_timeout`` while frames go out, not a timer per frame."""
        since = self._frame_since
        if since is None:
            return  # nothing is being written; the next frame arms the check again
        waited = self._loop.time() - since
        if waited >= self._send_timeout:
            self._on_too_slow(f"it read nothing for {self._send_timeout} s")
        else:
            self._stall_check.arm(self._send_timeout - waited)

    async def flush(self, transport: Transport) -> None:
        """Write everything still queued now (before a close)."""
        while self.outbox:
            messages = self.replay.number(self.outbox.take(self._frame_bytes))
            await transport.send(protocol.frame(messages))

    # ---------------------------------------------------------------- acknowledging

    def acknowledge(self, number: int) -> None:
        self.replay.acknowledge(number)

    def missed_after(self, number: int) -> list[bytes] | None:
        """What a page that saw up to ``number`` missed; None if some of it is gone."""
        return self.replay.after(number)

    def clear(self) -> None:
        """Forget everything: the page is gone for good."""
        self.stop()
        self.outbox = Outbox(self._buffer_bytes)
        self.replay = ReplayBuffer(self._buffer_bytes)
