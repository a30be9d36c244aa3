"""``get_prop``: the reads a page session has asked its page for and waits on.

Each read is a numbered ``get`` request; the page answers with a ``prop``
reply carrying the same number. A read waits across a dropped connection
(its request is sent again when the page resumes) until its timeout, and
fails when the session ends.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from . import protocol
from .errors import ComponentNotFound
from .protocol import ComponentId


class PropReads:
    """Pending ``get_prop`` requests of one page, by request number. Loop only."""

    def __init__(self, loop: asyncio.AbstractEventLoop, send: Callable[[bytes], None]) -> None:
        self._loop = loop
        self._send = send
        self._pending: dict[int, tuple[asyncio.Future, bytes]] = {}
        self._next_id = 1

    async def read(
        self,
        component_id: ComponentId,
        prop_name: str,
        timeout: float,
        path: tuple[str | int, ...] = (),
    ) -> Any:
        """Ask the page for ``component_id.prop_name`` (the part at ``path``) and wait."""
        request_id = self._next_id
        self._next_id += 1
        reply = self._loop.create_future()
        component = protocol.encode_component_id(component_id)
        request = protocol.get_message(request_id, component, prop_name, path)
        self._pending[request_id] = (reply, request)
        self._send(request)
        expiry = self._loop.call_later(
            timeout,
            _expire,
            reply,
            f"the page did not answer get_prop({component_id!r}, {prop_name!r}) within {timeout} s",
        )
        try:
            found, value = await reply
        finally:
            expiry.cancel()
            self._pending.pop(request_id, None)
        if not found:
            raise ComponentNotFound(f"no component {component_id!r} in the page's layout")
        return value

    def answer(self, reply: protocol.PropReply) -> bool:
        """Resolve a pending read; False for a number this session never asked.

        A second answer to a request (sent again after a resume) is ignored.
        """
        waiting = self._pending.get(reply.request_id)
        if waiting is not None and not waiting[0].done():
            waiting[0].set_result((reply.found, reply.value))
        return 0 < reply.request_id < self._next_id

    def unanswered(self) -> list[bytes]:
        """The requests still waiting, to send again to a page that resumed."""
        return [request for _, request in self._pending.values()]

    def fail_all(self, error: BaseException) -> None:
        for waiting, _ in self._pending.values():
            if not waiting.done():
                waiting.set_exception(error)
        self._pending.clear()


def _expire(reply: asyncio.Future, message: str) -> None:
    if not reply.done():
        reply.set_exception(TimeoutError(message))
