"""The session's timers, on a fake clock: nothing here waits for real time to pass."""

from __future__ import annotations

from dash_ws.deadlines import Deadline, IdleTimer


class FakeLoop:
    """``call_later`` on a clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[FakeTimer] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback, *args) -> FakeTimer:
        timer = FakeTimer(self.now + delay, callback, args)
        self._timers.append(timer)
        return timer

    def advance(self, seconds: float) -> None:
        """Move the clock, running every timer that falls due, in order."""
        end = self.now + seconds
        while True:
            due = [t for t in self._timers if not t.cancelled and t.when <= end]
            if not due:
                break
            timer = min(due, key=lambda t: t.when)
            self._timers.remove(timer)
            self.now = timer.when
            timer.callback(*timer.args)
        self.now = end


class FakeTimer:
    def __init__(self, when: float, callback, args: tuple) -> None:
        self.when, self.callback, self.args = when, callback, args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def test_a_deadline_fires_once_when_due_and_not_after_it_is_stopped():
    loop, fired = FakeLoop(), []
    deadline = Deadline(loop, lambda: fired.append(loop.now))
    deadline.arm(5)
    loop.advance(4.9)
    assert fired == [] and deadline.armed
    loop.advance(0.1)
    assert fired == [5.0] and not deadline.armed
    deadline.arm(1)
    deadline.stop()
    loop.advance(10)
    assert fired == [5.0]


def test_re_arming_a_deadline_replaces_the_earlier_one():
    loop, fired = FakeLoop(), []
    deadline = Deadline(loop, lambda: fired.append(loop.now))
    deadline.arm(5)
    loop.advance(3)
    deadline.arm(5)
    loop.advance(10)
    assert fired == [8.0]


def test_an_idle_timer_fires_only_after_a_whole_timeout_without_life():
    loop, fired = FakeLoop(), []
    idle = IdleTimer(loop, 10, lambda: fired.append(loop.now), clock=loop.time)
    idle.start()
    for _ in range(5):  # kept alive every 6 s: never idle for 10
        loop.advance(6)
        idle.kept_alive()
    assert fired == []
    loop.advance(9.9)
    assert fired == []
    loop.advance(0.1)
    assert fired == [40.0]
    loop.advance(100)
    assert fired == [40.0], "it fires once, then stays stopped until started again"


def test_keeping_an_idle_timer_alive_costs_no_timer():
    loop = FakeLoop()
    idle = IdleTimer(loop, 10, lambda: None, clock=loop.time)
    idle.start()
    for _ in range(1000):
        idle.kept_alive()
    assert len(loop._timers) == 1


def test_a_stopped_or_zero_idle_timer_never_fires():
    loop, fired = FakeLoop(), []
    stopped = IdleTimer(loop, 10, lambda: fired.append("stopped"), clock=loop.time)
    stopped.start()
    stopped.stop()
    never = IdleTimer(loop, 0, lambda: fired.append("zero"), clock=loop.time)
    never.start()
    loop.advance(1000)
    assert fired == []
