"""A page's sync calls in the shared pool: its share of threads, its order, its hand-overs."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from dash_ws.sync_lanes import SyncLane

caller = contextvars.ContextVar("caller", default="nobody")


class CountingPool(ThreadPoolExecutor):
    """A thread pool that counts what is handed to it."""

    def __init__(self) -> None:
        super().__init__(8)
        self.handed = 0

    def submit(self, *args, **kwargs):
        self.handed += 1
        return super().submit(*args, **kwargs)


class Gate:
    """Calls that wait, in their threads, until the test lets them finish."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.lock = threading.Condition()
        self.started: list[int] = []
        self.running = 0
        self.most_at_once = 0

    def call(self, number: int) -> int:
        with self.lock:
            self.started.append(number)
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.lock.notify_all()
        self.opened.wait()
        with self.lock:
            self.running -= 1
        return number * 10

    def wait_started(self, count: int) -> bool:
        with self.lock:
            return self.lock.wait_for(lambda: len(self.started) >= count, timeout=60)


async def started(gate: Gate, count: int) -> None:
    """Wait until ``count`` calls have started in their threads."""
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, gate.wait_started, count), "they never started"


@pytest.fixture
def gate():
    gate = Gate()
    yield gate
    gate.opened.set()  # a failed test leaves no thread waiting


@pytest.fixture
def pool(gate):
    pool = CountingPool()
    yield pool
    gate.opened.set()
    pool.shutdown(wait=True)


async def test_a_page_runs_at_most_its_width_at_once_with_one_hand_over_per_thread(pool, gate):
    lane = SyncLane(width=2)
    calls = [asyncio.ensure_future(lane.run(pool, gate.call, n)) for n in range(10)]
    await started(gate, 2)
    assert sorted(gate.started) == [0, 1]
    gate.opened.set()
    assert await asyncio.gather(*calls) == [n * 10 for n in range(10)]
    assert gate.most_at_once == 2
    assert pool.handed == 2, "each of the page's threads took the next call itself"


async def test_one_at_a_time_a_pages_calls_run_in_the_order_they_came(pool, gate):
    lane = SyncLane(width=1)
    gate.opened.set()
    await asyncio.gather(*[lane.run(pool, gate.call, n) for n in range(20)])
    assert gate.started == list(range(20))


async def test_a_call_given_up_before_its_turn_never_runs(pool, gate):
    lane = SyncLane(width=1)
    first = asyncio.ensure_future(lane.run(pool, gate.call, 1))
    await started(gate, 1)
    given_up = asyncio.ensure_future(lane.run(pool, gate.call, 2))
    last = asyncio.ensure_future(lane.run(pool, gate.call, 3))
    await asyncio.sleep(0)
    given_up.cancel()
    gate.opened.set()
    assert await first == 10 and await last == 30
    assert given_up.cancelled()
    assert gate.started == [1, 3]


async def test_errors_reach_the_caller_and_the_lane_goes_on(pool):
    lane = SyncLane(width=1)

    def fail() -> None:
        raise ValueError("in the callback")

    with pytest.raises(ValueError, match="in the callback"):
        await lane.run(pool, fail)
    assert await lane.run(pool, lambda: "next") == "next"


async def test_a_call_sees_its_callers_context_variables(pool):
    lane = SyncLane(width=1)

    async def as_page(name: str) -> str:
        caller.set(name)
        return await lane.run(pool, caller.get)

    assert await asyncio.gather(as_page("a"), as_page("b")) == ["a", "b"]


async def test_a_shut_down_pool_refuses_and_leaves_the_lane_as_it_was():
    lane, pool = SyncLane(width=1), ThreadPoolExecutor(1)
    pool.shutdown()
    with pytest.raises(RuntimeError):
        await lane.run(pool, lambda: None)
    working = ThreadPoolExecutor(1)
    assert await lane.run(working, lambda: "served") == "served"
    working.shutdown()
