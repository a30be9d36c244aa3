"""What a page is sent: queued in order, numbered, written one frame at a time, kept until acked.

``Delivery`` joins the outbox (ordering, coalescing, its ceiling), the
replay buffer (numbers, acknowledgements, what a resumed page missed) and
the writing of frames to the page's current socket. A frame is started by
the code that queued its first message, at once (in that code itself, up to
the first wait, for a socket that writes at once: ``eager``); only while the
socket makes a write wait does a task write the rest. Its flush policy:
whatever waits leaves as one frame as soon as the previous frame is written,
at most ``frame_bytes`` a frame. An idle page gets the first message of a
loop step at once and the rest of that step as one frame when it ends;
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
    """What a session needs from a socket: send a frame, close it.

    A transport whose ``send`` hands the frame to the socket and waits for
    nothing but the socket (an ASGI server's) says so with a true
    ``writes_at_once``: its sends start in the code that queued the frame
    (``eager``). Any other ``send`` (one that awaits a broker, say) runs as
    a task of its own.
    """

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
        self._transport: Transport | None = None
        """The socket frames are written to, while the page has one that works."""
        self._greeting: Transport | None = None
        """The socket whose hello is being written; it takes over only if still this one."""
        self._finishing: asyncio.Future | None = None
        """The task writing while the socket makes writes wait; None while writes finish at
        once (no task is kept per page)."""
        self._step_written = False
        """A frame was written in the current step of the loop (``_wake``)."""
        self._overflowed = False
        self._frame_since: float | None = None
        """When the frame being written started, while one is."""
        self._stall_check = Deadline(loop, self._check_stall)

    # ---------------------------------------------------------------- queueing

    def queue(self, message: bytes) -> None:
        """Queue a message that is never coalesced (results, requests, errors)."""
        if self._idle:
            self._write_alone(message)
        else:
            self._queued(self.outbox.put, message)

    def queue_set(self, component: bytes, props: dict[str, bytes], patched: frozenset) -> None:
        """Queue a ``set``; a newer value of a prop replaces one still waiting."""
        if self._idle:
            self._write_alone(protocol.set_message(component, props))
        else:
            self._queued(self.outbox.put_set, component, props, patched)

    def queue_set_message(self, message: SetMessage) -> None:
        """Queue a ``set`` made once for many pages (a feed's rendering)."""
        if self._idle:
            self._write_alone(message.encode())
        else:
            self._queued(self.outbox.put_set_message, message)

    @property
    def _writable(self) -> bool:
        """The page has a working socket and no write to it is under way."""
        return self._transport is not None and self._finishing is None

    @property
    def _idle(self) -> bool:
        """Nothing waits or is being written, and this step has written no frame yet: the
        next message is a frame of its own, written at once without going through the outbox."""
        return (
            self._writable and not self._step_written and not self.outbox and not self._overflowed
        )

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
        """Write the message just queued now, unless a write is under way or the step that
        queued it has already had a frame written: what it queues after its first message
        leaves together when it is over (``_step_over``), not a frame each."""
        if self._writable and not self._step_written:
            self._write_now()
            self._end_step_later()

    def _write_alone(self, message: bytes) -> None:
        self._write_now(message)
        self._end_step_later()

    def _end_step_later(self) -> None:
        self._step_written = True
        asyncio.get_running_loop().call_soon(self._step_over)

    def _step_over(self) -> None:
        self._step_written = False
        if self.outbox and self._writable:
            self._write_now()

    # ---------------------------------------------------------------- writing

    async def start(
        self,
        transport: Transport,
        hello: bytes,
        missed: list[bytes],
        again: list[bytes],
    ) -> None:
        """Write ``hello``, what a resumed page ``missed`` and ``again`` (numbered anew), then
        keep writing what is queued, to ``transport``.

        Unless, by the time the hello is written, ``stop`` has let the socket go
        (it dropped, or the page resumed on another): then it gets nothing more.
        """
        self._greeting = transport
        await transport.send(protocol.frame([hello, *missed, *self.replay.number(again)]))
        if self._greeting is not transport:
            return
        self._greeting = None
        self._transport = transport
        self._write_now()

    def stop(self) -> None:
        """Stop writing to the socket; a frame being written is left to the page's resume."""
        under_way = self.let_go()
        if under_way is not None:
            under_way.cancel()

    def let_go(self) -> asyncio.Task | None:
        """Stop writing to the socket, but for the frame being written: the task writing it,
        if one is, which ends once that frame is written (``flush`` waits for it)."""
        self._stall_check.stop()
        self._transport = self._greeting = None
        self._frame_since = None
        under_way, self._finishing = self._finishing, None
        return under_way

    def _write_now(self, alone: bytes | None = None) -> None:
        """Write ``alone`` (a message that skipped the outbox), then what waits, here in the
        caller, until a write has to wait for the socket; a task takes over from there
        (``_finish_writing``)."""
        try:
            unfinished = self._write_until_a_write_waits(alone)
        except Exception:
            self._gone()
            return
        if unfinished is not None:
            self._finishing = asyncio.ensure_future(self._finish_writing(unfinished))

    async def _finish_writing(self, unfinished: asyncio.Future) -> None:
        """Wait for the write under way, then write what waits until the outbox is empty.

        Once ``stop`` has let this task go (the page moved to another socket),
        it touches nothing the next socket's writing uses.
        """
        this_task = asyncio.current_task()
        try:
            while unfinished is not None:
                await unfinished
                if self._finishing is not this_task:
                    return
                self._frame_since = None
                unfinished = self._write_until_a_write_waits()
        except asyncio.CancelledError:
            if self._finishing is this_task:  # the write itself was cancelled, not this task
                self._gone()
            raise
        except Exception:
            if self._finishing is this_task:
                self._gone()
        finally:
            if self._finishing is this_task:
                self._finishing = None
                self._frame_since = None

    def _gone(self) -> None:
        """A write failed: the peer is gone (the endpoint reports it). Nothing more is
        written to this socket; what is queued waits for the page's next one."""
        logger.debug("dash-ws: send failed", exc_info=True)
        self._transport = None

    def _write_until_a_write_waits(self, alone: bytes | None = None) -> asyncio.Future | None:
        """Write ``alone``, then frames from the outbox, until it is empty (None) or a write
        has to wait for the socket (that write, under way)."""
        unfinished = None if alone is None else self._write_frame([alone])
        while unfinished is None and self.outbox:
            unfinished = self._write_frame(self.outbox.take(self._frame_bytes))
        return unfinished

    def _write_frame(self, unnumbered: list[bytes]) -> asyncio.Future | None:
        """Number these messages and start writing them as one frame: None once it is
        written, or the write under way."""
        messages = self.replay.number(unnumbered)
        self._on_sent()
        self._frame_since = self._loop.time()
        if not self._stall_check.armed:
            self._stall_check.arm(self._send_timeout)
        transport = self._transport
        sending = transport.send(protocol.frame(messages))
        try:
            if getattr(transport, "writes_at_once", False):
                unfinished = eager.start(sending)
            else:
                unfinished = asyncio.ensure_future(sending)
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

    async def flush(self, transport: Transport, under_way: asyncio.Task | None) -> None:
        """Before a close: wait for the frame ``let_go`` left ``under_way``, then write
        everything still queued."""
        if under_way is not None:
            await under_way
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
