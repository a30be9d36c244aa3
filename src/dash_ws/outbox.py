"""A page's outbound queue: ordered, bounded and coalescing. No I/O.

Messages leave in the order they were made. While the socket is slow, a newer
``set`` of a component prop replaces an older one still waiting, so a client
that falls behind receives the newest state rather than the whole history;
a ``Patch`` is a change on top of the previous value, so it never replaces
anything and is never replaced by another patch. If what waits still exceeds
``max_bytes``, the outbox overflows and the page is disconnected.

The ceiling bounds the backlog, never the size of one message: a message
that does not fit under it (a big figure, a large ``set_props``) waits
outside the count, and is sent whole like any other. Only one message may
wait outside at a time, so memory per page stays under the ceiling plus one
message; a second that does not fit overflows.
"""

from __future__ import annotations

from collections import OrderedDict
from itertools import count

from . import protocol


class OutboxOverflow(Exception):
    """More bytes are waiting than the page's ceiling allows."""


class SetMessage:
    """A ``set`` of some props of one component, values pre-encoded.

    Never changed once made, so one message may wait in many pages'
    outboxes at once (a feed's rendering) and is encoded once for all.
    """

    __slots__ = ("component", "props", "patched", "size", "_encoded")

    def __init__(
        self, component: bytes, props: dict[str, bytes], patched: frozenset[str] = frozenset()
    ) -> None:
        self.component = component
        self.props = props
        self.patched = patched
        """The props whose value is a ``Patch``: never replaced, never replacing."""
        self.size = len(component) + sum(len(name) + len(value) for name, value in props.items())
        self._encoded: bytes | None = None

    def encode(self) -> bytes:
        if self._encoded is None:
            self._encoded = protocol.set_message(self.component, self.props)
        return self._encoded


class Outbox:
    """Pending messages of one page, in order, with per-prop coalescing."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.pending_bytes = 0
        """Bytes waiting, the one message outside the count excepted."""
        self._oversized: int | None = None
        """The key of the message waiting outside the count, if one does."""
        self._entries: OrderedDict[int, SetMessage | bytes] = OrderedDict()
        self._sets_by_component: dict[bytes, list[int]] = {}
        self._sequence = count()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, message: bytes) -> None:
        """Queue a message that is never coalesced (results, requests)."""
        self._append(message, len(message))

    def put_set(
        self,
        component: bytes,
        props: dict[str, bytes],
        patched: frozenset[str] = frozenset(),
    ) -> None:
        """Queue a ``set``; ``patched`` names the props whose value is a Patch."""
        self.put_set_message(SetMessage(component, props, patched))

    def put_set_message(self, message: SetMessage) -> None:
        """Queue a ``set`` made once for many pages; a newer value of a prop replaces one
        still waiting."""
        component = message.component
        if component in self._sets_by_component:
            replaced = message.props.keys() - message.patched
            if replaced:
                self._drop_older_values(component, replaced)
        key = self._append(message, message.size)
        self._sets_by_component.setdefault(component, []).append(key)

    def take(self, max_frame_bytes: int) -> list[bytes]:
        """Remove and return the oldest messages, about ``max_frame_bytes`` worth."""
        taken: list[bytes] = []
        taken_bytes = 0
        while self._entries and (not taken or taken_bytes < max_frame_bytes):
            key, entry = self._entries.popitem(last=False)
            if isinstance(entry, SetMessage):
                self._forget_set(entry.component, key)
                self._release(key, entry.size)
                message = entry.encode()
            else:
                self._release(key, len(entry))
                message = entry
            taken.append(message)
            taken_bytes += len(message)
        return taken

    def _append(self, entry: SetMessage | bytes, size: int) -> int:
        key = next(self._sequence)
        self._entries[key] = entry
        self._count(key, size)
        if self.pending_bytes > self.max_bytes:
            raise OutboxOverflow(
                f"{self.pending_bytes} bytes waiting for a client that is not "
                f"reading (limit {self.max_bytes})"
            )
        return key

    def _count(self, key: int, size: int) -> None:
        """Count the entry under ``key``: in ``pending_bytes``, or as the one that does not fit."""
        if self._oversized is None and self.pending_bytes + size > self.max_bytes:
            self._oversized = key
        else:
            self.pending_bytes += size

    def _release(self, key: int, size: int) -> None:
        """Stop counting the entry under ``key``, which is ``size`` bytes."""
        if key == self._oversized:
            self._oversized = None
        else:
            self.pending_bytes -= size

    def _drop_older_values(self, component: bytes, names: set[str]) -> None:
        for key in list(self._sets_by_component.get(component, ())):
            older = self._entries[key]
            assert isinstance(older, SetMessage)
            kept = {n: v for n, v in older.props.items() if n not in names}
            if len(kept) == len(older.props):
                continue
            self._release(key, older.size)
            if kept:
                shrunk = SetMessage(component, kept, older.patched - names)
                self._entries[key] = shrunk
                self._count(key, shrunk.size)
            else:
                del self._entries[key]
                self._forget_set(component, key)

    def _forget_set(self, component: bytes, key: int) -> None:
        keys = self._sets_by_component[component]
        keys.remove(key)
        if not keys:
            del self._sets_by_component[component]
