"""Run a coroutine at once, up to its first wait; only what is left becomes a task.

Writing a frame to a socket seldom waits: the server's ``send`` hands the
bytes to the transport and returns. Handed to a task, every frame would
cost a trip through the event loop's queue and a task step of its own.
``start`` does what Python 3.12's eager tasks do, on every version dash-ws
runs on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def start(coroutine: Coroutine[Any, Any, Any]) -> asyncio.Future | None:
    """Run ``coroutine`` in the caller until it first waits.

    Returns None when it finished there, or a task that finishes it. What it
    raises before its first wait is raised here. Its first step runs in the
    caller's task (or in none, from a loop callback) and context, so it must
    not need a task of its own there: no ``asyncio.timeout``, no context
    variables set then reset.
    """
    try:
        waiting_on = coroutine.send(None)
    except StopIteration:
        return None
    return asyncio.ensure_future(_finish(coroutine, waiting_on))


async def _finish(coroutine: Coroutine[Any, Any, Any], waiting_on: Any) -> Any:
    """Drive ``coroutine`` on from where it waits for ``waiting_on``, as a task would: what
    it waited for, result, error or cancellation, reaches it where it waits."""
    try:
        while True:
            try:
                if waiting_on is None:  # a bare yield (``asyncio.sleep(0)``)
                    await asyncio.sleep(0)
                else:
                    # The coroutine yielded it marked as waited on; a task takes that mark
                    # off before waiting for it, as here.
                    waiting_on._asyncio_future_blocking = False
                    await waiting_on
            except asyncio.CancelledError as cancelled:
                waiting_on = coroutine.throw(cancelled)
                continue
            except Exception:
                pass  # the coroutine takes the outcome from the future when it is resumed
            waiting_on = coroutine.send(None)
    except StopIteration as finished:
        return finished.value
    finally:
        coroutine.close()  # a no-op once it has finished
