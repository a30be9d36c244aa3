"""The private event loop a worker thread keeps for the sync callbacks of FastAPI and Quart apps."""

import asyncio
import threading

import pytest

from dash_ws.asgi_bridge import _on_this_threads_loop


def in_a_thread(function):
    """``function()``'s result or error, from a thread of its own."""
    outcome = {}

    def run():
        try:
            outcome["value"] = function()
        except BaseException as error:  # noqa: BLE001 - handed back to the test
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


async def running_loop():
    return asyncio.get_running_loop()


def test_a_thread_keeps_its_loop_and_another_thread_has_its_own():
    first, second = in_a_thread(
        lambda: (_on_this_threads_loop(running_loop()), _on_this_threads_loop(running_loop()))
    )
    assert first is second
    assert in_a_thread(lambda: _on_this_threads_loop(running_loop())) is not first
    assert first.is_closed()  # its thread has ended


def test_what_a_call_leaves_running_is_cancelled_before_it_returns():
    cancelled = []

    async def forever():
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def leaves_a_task():
        asyncio.ensure_future(forever())
        await asyncio.sleep(0)
        return "answered"

    assert in_a_thread(lambda: _on_this_threads_loop(leaves_a_task())) == "answered"
    assert cancelled == [True]


def test_an_error_reaches_the_caller_and_the_loop_stays_usable():
    async def fails():
        raise ValueError("from the callback")

    def twice():
        with pytest.raises(ValueError, match="from the callback"):
            _on_this_threads_loop(fails())
        return _on_this_threads_loop(running_loop())

    in_a_thread(twice)
