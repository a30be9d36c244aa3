"""The timers of a page session: one helper for each kind of deadline.

A session has deadlines of two kinds. Some fire once at a set time unless
stopped (the resume grace, the wait for a close to be answered): a
``Deadline``. Others fire when something has *not* happened for a while (no
message from the page, no activity either way): an ``IdleTimer``, which
costs one clock read each time the thing happens and re-arms itself lazily,
instead of one timer per message. Both take the clock as a parameter, so
their rules are tested on a fake one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable


class Deadline:
    """Runs ``action`` once, ``delay`` seconds after ``arm``, unless stopped or re-armed."""

    def __init__(self, loop: asyncio.AbstractEventLoop, action: Callable[[], None]) -> None:
        self._loop = loop
        self._action = action
        self._handle: asyncio.TimerHandle | None = None

    @property
    def armed(self) -> bool:
        return self._handle is not None

    def arm(self, delay: float) -> None:
        self.stop()
        self._handle = self._loop.call_later(delay, self._fire)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        self._action()


class IdleTimer:
    """Runs ``on_idle`` once nothing has called ``kept_alive`` for ``timeout`` seconds.

    A ``timeout`` of 0 never fires. ``start`` begins watching, ``stop``
    ends it; after firing it stays stopped until started again.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        timeout: float,
        on_idle: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self._clock = clock
        self._on_idle = on_idle
        self._last_alive = clock()
        self._deadline = Deadline(loop, self._check)

    def kept_alive(self) -> None:
        self._last_alive = self._clock()

    def start(self) -> None:
        self.kept_alive()
        if self.timeout > 0:
            self._deadline.arm(self.timeout)

    def stop(self) -> None:
        self._deadline.stop()

    def _check(self) -> None:
        remaining = self.timeout - (self._clock() - self._last_alive)
        if remaining > 0:
            self._deadline.arm(remaining)
        else:
            self._on_idle()
