"""A coroutine started in its caller: run at once to its first wait, then finished as a task."""

from __future__ import annotations

import asyncio

import pytest

from dash_ws import eager


async def test_a_coroutine_that_never_waits_runs_entirely_in_the_caller():
    ran = []

    async def write():
        ran.append("written")

    assert eager.start(write()) is None
    assert ran == ["written"], "done before start returned"


async def test_a_coroutine_that_waits_is_finished_by_a_task_with_its_result():
    ran = []
    readable = asyncio.Event()

    async def write():
        ran.append("began")
        await readable.wait()
        ran.append("finished")
        return "sent"

    unfinished = eager.start(write())
    assert ran == ["began"]
    await asyncio.sleep(0)
    assert not unfinished.done()
    readable.set()
    assert await unfinished == "sent"
    assert ran == ["began", "finished"]


async def test_it_waits_again_and_again_and_for_bare_yields():
    steps = asyncio.Queue()

    async def write():
        total = 0
        for _ in range(3):
            total += await steps.get()
            await asyncio.sleep(0)
        return total

    unfinished = eager.start(write())
    for value in (1, 2, 3):
        await steps.put(value)
    assert await unfinished == 6


async def test_what_it_raises_before_waiting_is_raised_by_start():
    async def write():
        raise ConnectionResetError("the peer is gone")

    with pytest.raises(ConnectionResetError):
        eager.start(write())


async def test_what_it_raises_after_waiting_is_raised_by_its_task():
    readable = asyncio.get_running_loop().create_future()

    async def write():
        await readable

    unfinished = eager.start(write())
    readable.set_exception(ConnectionResetError("the peer is gone"))
    with pytest.raises(ConnectionResetError):
        await unfinished


async def test_the_coroutine_can_handle_what_the_awaited_future_raised():
    readable = asyncio.get_running_loop().create_future()

    async def write():
        try:
            await readable
        except ConnectionResetError:
            return "handled"

    unfinished = eager.start(write())
    readable.set_exception(ConnectionResetError())
    assert await unfinished == "handled"


async def test_cancelling_its_task_cancels_the_coroutine_where_it_waits():
    seen = []

    async def write():
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append("cancelled where it waits")
            raise

    unfinished = eager.start(write())
    await asyncio.sleep(0)
    unfinished.cancel()
    with pytest.raises(asyncio.CancelledError):
        await unfinished
    assert seen == ["cancelled where it waits"]


async def test_a_future_cancelled_by_its_owner_is_a_cancellation_the_coroutine_may_handle():
    readable = asyncio.get_running_loop().create_future()

    async def write():
        try:
            await readable
        except asyncio.CancelledError:
            return "gave up on it"

    unfinished = eager.start(write())
    readable.cancel()
    assert await unfinished == "gave up on it"
