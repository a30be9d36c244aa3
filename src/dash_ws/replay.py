"""Numbering of sent messages, kept until the page acknowledges them. No I/O.

A socket can drop with frames in flight, and the server cannot tell which
ones arrived. Every message that leaves is numbered and kept here until the
page acknowledges it; a page that reconnects says the last number it saw and
gets everything after it again. What is kept is bounded: past ``max_bytes``
the oldest messages are forgotten, and a page that needs one of them cannot
resume (it starts a new session instead). The newest message is always kept,
however large: a page that drops while reading it can still resume.
"""

from __future__ import annotations

from . import protocol


class ReplayBuffer:
    """Sent messages not yet acknowledged, in order."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.held_bytes = 0
        self.next_number = 1
        self._held: list[bytes] = []
        """Messages numbered ``_first_held`` onwards, one after the other, from index
        ``_dropped`` on: their numbers follow from their places, so none is stored beside
        them. A list, not a deque: an empty deque costs 600 bytes, an empty list 56, and
        every open page has one. Dropped messages are cut off the front in batches."""
        self._dropped = 0
        self._oldest_resumable = 1

    @property
    def _first_held(self) -> int:
        return self.next_number - (len(self._held) - self._dropped)

    @property
    def _held_count(self) -> int:
        return len(self._held) - self._dropped

    def _drop_oldest(self) -> None:
        self.held_bytes -= len(self._held[self._dropped])
        self._held[self._dropped] = b""
        self._dropped += 1
        if self._dropped == len(self._held):
            self._held.clear()
            self._dropped = 0
        elif self._dropped * 2 > len(self._held):
            del self._held[: self._dropped]
            self._dropped = 0

    def number(self, messages: list[bytes]) -> list[bytes]:
        """Number these messages, keep them, and return them as sent."""
        numbered = []
        for message in messages:
            stamped = protocol.numbered(self.next_number, message)
            self._held.append(stamped)
            self.held_bytes += len(stamped)
            self.next_number += 1
            numbered.append(stamped)
        while self.held_bytes > self.max_bytes and self._held_count > 1:
            self._oldest_resumable = self._first_held + 1
            self._drop_oldest()
        return numbered

    def acknowledge(self, number: int) -> None:
        """The page has everything up to ``number``."""
        while self._held_count and self._first_held <= number:
            self._drop_oldest()
        self._oldest_resumable = max(self._oldest_resumable, min(number + 1, self.next_number))

    def after(self, number: int) -> list[bytes] | None:
        """What a page that saw up to ``number`` missed; None if some of it is gone."""
        if number + 1 < self._oldest_resumable or number >= self.next_number:
            return None
        skipped = max(0, number + 1 - self._first_held)
        return self._held[self._dropped + skipped :]
