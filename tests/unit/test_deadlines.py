"""The session's timers, on a fake clock: nothing here waits for real time to pass."""

from __future__ import annotations

from dash_ws.deadlines import RESOLUTION, Deadline, IdleTimer


class FakeLoop:
    """``call_later`` on a clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[FakeTimer] = []
        self.errors: list[dict] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback, *args) -> FakeTimer:
        timer = FakeTimer(self.now + delay, callback, args)
        self._timers.append(timer)
        return timer

    def call_exception_handler(self, context: dict) -> None:
        self.errors.append(context)

    def pending(self) -> list[FakeTimer]:
        return [t for t in self._timers if not t.cancelled]

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


def test_the_deadlines_of_a_loop_share_one_loop_timer():
    loop, fired = FakeLoop(), []
    deadlines = [Deadline(loop, lambda n=n: fired.append(n)) for n in range(1000)]
    for n, deadline in enumerate(deadlines):
        deadline.arm(1 + n % 50)
    assert len(loop.pending()) == 1
    deadlines[7].stop()
    loop.advance(60)
    assert sorted(fired) == [n for n in range(1000) if n != 7]
    assert loop.pending() == []


def test_a_deadline_fires_never_early_and_at_most_one_tick_late():
    loop, fired = FakeLoop(), []
    for delay in (0.01, 0.25, 3.333, 7.05):
        loop.now = 100.0 + delay / 7  # anywhere within a tick
        armed_at = loop.now
        deadline = Deadline(loop, lambda: fired.append(loop.now))
        deadline.arm(delay)
        loop.advance(delay - 0.002)
        assert fired == [], delay
        loop.advance(0.002 + RESOLUTION)
        assert len(fired) == 1, delay
        assert armed_at + delay <= fired[0] + 0.001 <= armed_at + delay + RESOLUTION + 0.001
        fired.clear()


def test_a_failing_action_is_reported_and_the_others_still_fire():
    loop, fired = FakeLoop(), []

    def fail() -> None:
        raise ValueError("boom")

    Deadline(loop, fail).arm(1)
    Deadline(loop, lambda: fired.append("same tick")).arm(1)
    Deadline(loop, lambda: fired.append("later")).arm(2)
    loop.advance(3)
    assert fired == ["same tick", "later"]
    assert [type(error["exception"]) for error in loop.errors] == [ValueError]


def test_a_deadline_armed_as_its_tick_fires_waits_for_the_next_tick():
    loop, fired = FakeLoop(), []

    def re_arm() -> None:
        fired.append(loop.now)
        if len(fired) < 3:
            again.arm(0)  # due at once: still never in the tick being fired

    again = Deadline(loop, re_arm)
    again.arm(1)
    loop.advance(1)
    assert len(fired) == 1
    loop.advance(2 * RESOLUTION + 0.01)
    assert len(fired) == 3


def test_a_deadline_stopped_by_another_due_in_the_same_tick_does_not_fire():
    loop, fired, deadlines = FakeLoop(), [], []

    def first_of_the_tick(name: str) -> None:  # whichever runs first stops the others
        fired.append(name)
        for deadline in deadlines:
            deadline.stop()

    deadlines.extend(Deadline(loop, lambda n=n: first_of_the_tick(n)) for n in "abc")
    for deadline in deadlines:
        deadline.arm(1)
    loop.advance(10)
    assert len(fired) == 1
