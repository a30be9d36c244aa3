"""Running callbacks for a page: event callbacks on request, persistent ones for its life.

Async callbacks run as tasks on the event loop; sync callbacks run in one
bounded thread pool, so a slow sync callback never holds up the loop, another
page or an async callback. One page may hold only a share of that pool
(``SessionLimits.sync_workers``): its further sync calls wait their turn
behind its own, in its ``SyncLane``. Admission has threads of its own, so no number of busy
callbacks keeps a new page from being let in. How a callback is actually
invoked belongs to the app's backend (``CallbackBackend``); this module only
decides where it runs, ties it to its page and sends what it produces.

What goes wrong on the server stays there unless the app is in debug mode:
the page gets a generic message, the server log gets the details.
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
from .admission import Rejection
from .handshake import Handshake
from .session import PageSession, WebSocket, current_websocket
from .sync_lanes import SyncLane

logger = logging.getLogger("dash_ws")


@dataclass(frozen=True)
class HttpReply:
    """What the app's ``_dash-update-component`` route answered."""

    status: int
    content_type: str
    body: bytes
    cookies: tuple[str, ...] = ()
    """Its ``Set-Cookie`` headers, for the browser to receive over HTTP (``cookies.py``)."""


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


_ADMISSION_WORKERS = 4
"""Threads that run the app's protection for new and re-checked pages."""


class CallbackExecutor:
    """Runs a backend's callbacks on behalf of pages.

    ``reveals_errors`` tells, when an error happens, whether the app is in
    debug mode and the page may see the error's text.
    """

    def __init__(
        self,
        backend: CallbackBackend,
        max_workers: int,
        reveals_errors: Callable[[], bool] = lambda: False,
    ) -> None:
        self.backend = backend
        self.reveals_errors = reveals_errors
        self.pool = ThreadPoolExecutor(max_workers, thread_name_prefix="dash-ws")
        self.requests_lane = SyncLane(max_workers)
        """The sync callbacks of HTTP requests: no page to share with, the whole pool."""
        self.admission_pool = ThreadPoolExecutor(
            _ADMISSION_WORKERS, thread_name_prefix="dash-ws-admission"
        )

    async def in_thread(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run sync work in the callback pool, with the caller's context variables."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, copy_context().run, function, *args)

    async def in_admission_thread(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run the app's protection in threads no callback can hold."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.admission_pool, function, *args)

    def start_call(
        self,
        session: PageSession,
        handshake: Handshake,
        call: protocol.Call,
        on_done: Callable[[], None],
    ) -> None:
        """Run ``call`` for ``session``; ``on_done`` runs when it has answered or was cancelled."""
        session.run_call(self._answer(session, handshake, call, on_done))

    async def _answer(
        self,
        session: PageSession,
        handshake: Handshake,
        call: protocol.Call,
        on_done: Callable[[], None],
    ) -> None:
        current_websocket.set(session.handle)
        try:
            if self.backend.is_async(call.output):
                reply = await self.backend.dispatch_async(handshake, call)
            else:
                reply = await session.sync_lane.run(
                    self.pool, self.backend.dispatch_sync, handshake, call
                )
        except Exception as error:  # the backend itself failed, not the callback
            logger.exception("dash-ws: callback %s could not run", call.output)
            reply = HttpReply(500, "text/plain", self._page_text(error).encode())
        finally:
            on_done()
        cookies = session.cookie_jar.hold(reply.cookies) if reply.cookies else None
        session.send_message(
            protocol.result_message(
                call.call_id, reply.status, reply.content_type, reply.body, cookies
            )
        )

    def _page_text(self, error: BaseException, what: str = "the callback") -> str:
        if self.reveals_errors():
            return f"dash-ws: {what} failed: {error!r}"
        return f"dash-ws: {what} failed; the server log has the details"

    def start_persistent(self, session: PageSession, handshake: Handshake) -> None:
        for persistent in self.backend.persistent_callbacks():
            session.run_persistent(
                self._run_persistent(session, handshake, persistent), persistent.name
            )

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
            what = f"persistent callback {persistent.name}"
            session.send_message(protocol.error_message(self._page_text(error, what)))

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.admission_pool.shutdown(wait=False, cancel_futures=True)
