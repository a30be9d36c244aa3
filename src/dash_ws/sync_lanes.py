"""One page's sync callbacks, run in the shared thread pool a few at a time.

A page may use only ``width`` of the pool's threads at once, so no page
holds up the others. Handing each call to a thread of its own would cost a
thread wake-up and a move to another core per call, which on a small
machine is more than a short callback itself takes. So a page's calls wait
in its lane, and each thread the page holds (a *runner*) takes the page's
next call as soon as it finishes one: a page with calls queued costs one
hand-over per runner, not one per call.

Calls still leave in order and each result is handed back to the event
loop as soon as it is ready; a call whose caller has given up (the page
left) before its turn is never run.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Executor
from contextvars import Context, copy_context
from typing import Any, Callable


class SyncLane:
    """The sync calls of one page, at most ``width`` running at once."""

    def __init__(self, width: int) -> None:
        self.width = width
        self._lock = threading.Lock()
        self._waiting: list[tuple[asyncio.Future, Context, Callable[..., Any], tuple]] = []
        self._runners = 0

    async def run(self, pool: Executor, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` in one of ``pool``'s threads, with the caller's context variables."""
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        call = (answer, copy_context(), function, args)
        with self._lock:
            self._waiting.append(call)
            start_runner = self._runners < self.width
            if start_runner:
                self._runners += 1
        if start_runner:
            try:
                pool.submit(self._run_calls, loop)
            except RuntimeError:  # the pool is shut down: the server is stopping
                with self._lock:
                    self._runners -= 1
                    self._waiting.remove(call)
                raise
        return await answer

    def _run_calls(self, loop: asyncio.AbstractEventLoop) -> None:
        """In a pool thread: run the page's calls one after the other until none waits."""
        while True:
            with self._lock:
                if not self._waiting:
                    self._runners -= 1
                    return
                answer, context, function, args = self._waiting.pop(0)
            if answer.cancelled():
                continue
            try:
                result = context.run(function, *args)
            except BaseException as error:  # as a pool's own worker hands back any error
                _answer_on(loop, _set_exception, answer, error)
            else:
                _answer_on(loop, _set_result, answer, result)


def _answer_on(
    loop: asyncio.AbstractEventLoop, setter: Callable, answer: asyncio.Future, value: Any
) -> None:
    try:
        loop.call_soon_threadsafe(setter, answer, value)
    except RuntimeError:  # the loop has closed: nobody waits for the answer
        pass


def _set_result(answer: asyncio.Future, result: Any) -> None:
    if not answer.cancelled():
        answer.set_result(result)


def _set_exception(answer: asyncio.Future, error: BaseException) -> None:
    if not answer.cancelled():
        answer.set_exception(error)
