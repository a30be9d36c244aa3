"""The timers of a page session: one helper for each kind of deadline.

A session has deadlines of two kinds. Some fire once at a set time unless
stopped (the resume grace, the wait for a close to be answered): a
``Deadline``. Others fire when something has *not* happened for a while (no
message from the page, no activity either way): an ``IdleTimer``, which
costs one clock read each time the thing happens and re-arms itself lazily,
instead of one timer per message. Both take the loop (and the idle timer its
clock) as parameters, so their rules are tested on a fake one.

A page holds several deadlines for as long as it is open, and an event loop
timer costs half a kilobyte; with thousands of pages that is megabytes. So
the deadlines of one loop share its ``Clockwork``: they are kept in ticks of
``RESOLUTION`` seconds, and one loop timer waits for the earliest tick. A
deadline fires at most one tick late and never early; the session's
timeouts are seconds long.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import time
import weakref
from typing import Callable

RESOLUTION = 0.1
"""Seconds per tick: how late a deadline may fire."""

_EARLY_BY = 0.001
"""How early a loop timer may wake (loops round their clocks to the millisecond)."""


class Clockwork:
    """The deadlines of one event loop, grouped by tick, behind one loop timer."""

    _of_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Clockwork] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)  # the loop's table of clockworks must not keep it alive
        self._due: dict[int, set[Deadline]] = {}
        """Armed deadlines by the tick they fire at."""
        self._ticks: list[int] = []
        """A heap of the ticks in ``_due`` (and of some since emptied)."""
        self._timer: asyncio.TimerHandle | None = None
        self._timer_tick: int | None = None
        self._struck = 0
        """The last tick fired: a deadline armed from then on waits for a later one."""

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> Clockwork:
        clockwork = cls._of_loop.get(loop)
        if clockwork is None:
            clockwork = cls._of_loop[loop] = cls(loop)
        return clockwork

    def add(self, deadline: Deadline, delay: float) -> int:
        """Have ``deadline`` fire in ``delay`` seconds or up to a tick later; its tick."""
        tick = max(math.ceil((self._now() + delay) / RESOLUTION), self._struck + 1)
        waiting = self._due.get(tick)
        if waiting is None:
            waiting = self._due[tick] = set()
            heapq.heappush(self._ticks, tick)
        waiting.add(deadline)
        if self._timer_tick is None or tick < self._timer_tick:
            self._wait_for(tick)
        return tick

    def remove(self, deadline: Deadline, tick: int) -> None:
        waiting = self._due.get(tick)
        if waiting is not None:
            waiting.discard(deadline)
            if not waiting:
                del self._due[tick]  # its heap entry is dropped when it comes up

    @property
    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop()
        assert loop is not None  # alive: it runs this code, or arms a deadline on it
        return loop

    def _now(self) -> float:
        return self._running_loop.time()

    def _wait_for(self, tick: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        loop = self._running_loop
        self._timer = loop.call_later(max(0.0, tick * RESOLUTION - loop.time()), self._strike)
        self._timer_tick = tick

    def _report(self, error: Exception, deadline: Deadline) -> None:
        self._running_loop.call_exception_handler(
            {"message": "a deadline's action failed", "exception": error, "deadline": deadline}
        )

    def _strike(self) -> None:
        """Fire every deadline whose tick has come, then wait for the next tick in use."""
        self._timer = self._timer_tick = None
        self._struck = max(self._struck, math.floor((self._now() + _EARLY_BY) / RESOLUTION))
        while self._ticks and self._ticks[0] <= self._struck:
            tick = heapq.heappop(self._ticks)
            for deadline in self._due.pop(tick, ()):
                try:
                    deadline.fire(tick)
                except Exception as error:  # as the loop treats a failing timer: log it, go on
                    self._report(error, deadline)
        while self._ticks and self._ticks[0] not in self._due:
            heapq.heappop(self._ticks)
        if self._ticks:
            self._wait_for(self._ticks[0])


class Deadline:
    """Runs ``action`` once, ``delay`` seconds after ``arm``, unless stopped or re-armed."""

    __slots__ = ("_clockwork", "_action", "_tick")

    def __init__(self, loop: asyncio.AbstractEventLoop, action: Callable[[], None]) -> None:
        self._clockwork = Clockwork.of(loop)
        self._action = action
        self._tick: int | None = None

    @property
    def armed(self) -> bool:
        return self._tick is not None

    def arm(self, delay: float) -> None:
        self.stop()
        self._tick = self._clockwork.add(self, delay)

    def stop(self) -> None:
        if self._tick is not None:
            self._clockwork.remove(self, self._tick)
            self._tick = None

    def fire(self, tick: int) -> None:
        """``tick`` has come (the clockwork calls this): run the action if still armed for it,
        not stopped or re-armed by an action that ran before it in the same tick."""
        if self._tick != tick:
            return
        self._tick = None
        self._action()


class IdleTimer:
    """Runs ``on_idle`` once nothing has called ``kept_alive`` for ``timeout`` seconds.

    A ``timeout`` of 0 never fires. ``start`` begins watching, ``stop``
    ends it; after firing it stays stopped until started again.
    """

    __slots__ = ("timeout", "_clock", "_on_idle", "_last_alive", "_deadline")

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
