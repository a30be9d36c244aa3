"""Something a test watches advance, and waits on: no clock, only what happened."""

from __future__ import annotations

import asyncio


class Progress:
    """Call ``changed`` when something happens; ``until(condition)`` waits for it to hold."""

    def __init__(self) -> None:
        self._changed = asyncio.Condition()

    async def changed(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def until(self, condition, timeout: float = 20.0) -> None:
        async def satisfied() -> None:
            async with self._changed:
                await self._changed.wait_for(condition)

        await asyncio.wait_for(satisfied(), timeout)
