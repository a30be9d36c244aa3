"""Running callbacks for a page: event callbacks on request, persistent ones for its life.

Async callbacks run as tasks on the event loop; sync callbacks run in one
bounded thread pool, so a slow sync callback never holds up the loop, another
page or an async callback. How a callback is actually invoked belongs to the
app's backend (``CallbackBackend``); this module only decides where it runs,
ties it to its page and sends what it produces.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from contextvars import copy_context
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from . import protocol
from .handshake import Handshake
from .session import PageSession, WebSocket, current_websocket

logger = logging.getLogger("dash_ws")


@dataclass(frozen=True)
class HttpReply:
    """What the app's ``_dash-update-component`` route answered."""

    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Rejection:
    """The app's HTTP protection refused the page's handshake."""

    status: int
    reason: str


@dataclass(frozen=True)
class PersistentCallback:
    """A callback with no inputs or outputs that runs as long as its page."""

    function: Callable[[], Any]

    @property
    def name(self) -> str:
        return getattr(self.function, "__qualname__", repr(self.function))

    @property
    def is_async(self) -> bool:
        return asyncio.iscoroutinefunction(self.function)


class CallbackBackend(Protocol):
    """How callbacks of one Dash app are invoked, per web framework."""

    def is_async(self, output: str) -> bool: ...

    def dispatch_sync(self, handshake: Handshake, call: protocol.Call) -> HttpReply: ...

    async def dispatch_async(self, handshake: Handshake, call: protocol.Call) -> HttpReply: ...

    def authorize(self, handshake: Handshake) -> Rejection | None: ...

    def persistent_callbacks(self) -> Sequence[PersistentCallback]: ...

    def persistent_scope(
        self, handshake: Handshake, websocket: WebSocket
    ) -> AbstractContextManager[None]: ...


class CallbackExecutor:
    """Runs a backend's callbacks on behalf of pages."""

    def __init__(self, backend: CallbackBackend, max_workers: int) -> None:
        self.backend = backend
        self.pool = ThreadPoolExecutor(max_workers, thread_name_prefix="dash-ws")

    async def in_thread(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run sync work in the pool, with the caller's context variables."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, copy_context().run, function, *args)

    def start_call(self, session: PageSession, handshake: Handshake, call: protocol.Call) -> None:
        session.run_call(self._answer(session, handshake, call))

    async def _answer(
        self, session: PageSession, handshake: Handshake, call: protocol.Call
    ) -> None:
        current_websocket.set(session.handle)
        try:
            if self.backend.is_async(call.body["output"]):
                reply = await self.backend.dispatch_async(handshake, call)
            else:
                reply = await self.in_thread(self.backend.dispatch_sync, handshake, call)
        except Exception as error:  # the backend itself failed, not the callback
            logger.exception("dash-ws: callback %s could not run", call.body["output"])
            reply = HttpReply(
                500, "text/plain", f"dash-ws could not run the callback: {error}".encode()
            )
        session.send_message(
            protocol.result_message(call.call_id, reply.status, reply.content_type, reply.body)
        )

    def start_persistent(self, session: PageSession, handshake: Handshake) -> None:
        for persistent in self.backend.persistent_callbacks():
            session.run_persistent(self._run_persistent(session, handshake, persistent))

    async def _run_persistent(
        self, session: PageSession, handshake: Handshake, persistent: PersistentCallback
    ) -> None:
        current_websocket.set(session.handle)
        try:
            with self.backend.persistent_scope(handshake, session.handle):
                if persistent.is_async:
                    await persistent.function()
                else:
                    await self.in_thread(persistent.function)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            logger.exception("dash-ws: persistent callback %s raised", persistent.name)
            session.send_message(
                protocol.error_message(f"persistent callback {persistent.name} raised {error!r}")
            )

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
