"""Delivery of one page session, driven through a fake socket."""

import asyncio
import json

from dash_ws.protocol import CloseCode
from dash_ws.session import PageSession, SessionLimits


class FakeSocket:
    """Records frames; ``reading`` cleared makes every send hang, like a paused client."""

    def __init__(self) -> None:
        self.frames: list[list[dict]] = []
        self.closed_with: tuple[int, str] | None = None
        self.sends_begun = 0
        self.reading = asyncio.Event()
        self.reading.set()
        self._changed = asyncio.Condition()

    async def send(self, frame: bytes) -> None:
        self.sends_begun += 1
        await self._notify()
        await self.reading.wait()
        self.frames.append(json.loads(frame))
        await self._notify()
        await asyncio.sleep(0)  # a write yields to the loop, as a real one does

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)
        await self._notify()

    async def wait_until(self, condition, timeout: float = 10.0) -> None:
        """Wait until ``condition()`` holds, re-checked whenever the session writes or closes."""

        async def satisfied() -> None:
            async with self._changed:
                await self._changed.wait_for(condition)

        await asyncio.wait_for(satisfied(), timeout)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    @property
    def messages(self) -> list[dict]:
        """Data messages as the page handles them: hello left out, numbers stripped."""
        return [
            {key: value for key, value in message.items() if key != "n"}
            for frame in self.frames
            for message in frame
            if message["type"] != "hello"
        ]

    @property
    def numbers(self) -> list[int]:
        return [message["n"] for frame in self.frames for message in frame if "n" in message]


async def attached(socket: FakeSocket, limits: SessionLimits | None = None) -> PageSession:
    session = PageSession(limits or SessionLimits(), on_end=lambda ended: None)
    await session.attach(socket, resume_after=None)
    return session


async def settle() -> None:
    """A few turns of the event loop: no timer, so no amount of CPU load changes what happens."""
    for _ in range(20):
        await asyncio.sleep(0)


def last_values(socket: FakeSocket) -> dict:
    """The newest value of ``children`` the page received for each component."""
    return {
        message["component"]: message["props"]["children"]
        for message in socket.messages
        if message["type"] == "set"
    }


async def test_an_idle_page_gets_a_message_at_once():
    socket = FakeSocket()
    session = await attached(socket, SessionLimits())
    session.stream_props("a", {"children": 1})
    await settle()
    assert socket.messages == [{"type": "set", "component": "a", "props": {"children": 1}}]
    await session.shutdown()


async def test_a_continuous_producer_does_not_hold_frames_back():
    socket = FakeSocket()
    session = await attached(socket, SessionLimits())
    frames_while_producing = []

    async def producer() -> None:
        for value in range(2000):
            session.stream_props(f"c{value % 7}", {"children": value})
            await asyncio.sleep(0)
        frames_while_producing.append(len(socket.frames))

    await producer()
    newest = {f"c{v % 7}": v for v in range(1993, 2000)}
    await socket.wait_until(lambda: last_values(socket) == newest)
    assert frames_while_producing[0] > 100, "frames waited for the producer to pause"
    assert last_values(socket) == newest
    await session.shutdown()


async def test_a_paused_page_receives_only_the_newest_values_in_order_when_it_reads_again():
    socket = FakeSocket()
    session = await attached(socket, SessionLimits())
    socket.reading.clear()
    session.stream_props("first", {"children": "sent before the pause"})
    await socket.wait_until(lambda: socket.sends_begun == 2)  # hello, then this frame, held
    for value in range(1000):
        session.stream_props("counter", {"children": value})
        session.stream_props("other", {"children": -value})
    session.send_message(b'{"type":"result","id":1}')
    session.stream_props("counter", {"children": "after the result"})
    socket.reading.set()
    await socket.wait_until(lambda: last_values(socket).get("counter") == "after the result")
    assert socket.messages == [
        {"type": "set", "component": "first", "props": {"children": "sent before the pause"}},
        {"type": "set", "component": "other", "props": {"children": -999}},
        {"type": "result", "id": 1},
        {"type": "set", "component": "counter", "props": {"children": "after the result"}},
    ]
    await session.shutdown()


async def test_a_page_that_falls_behind_past_its_ceiling_is_disconnected():
    socket = FakeSocket()
    session = await attached(socket, SessionLimits(outbox_bytes=50_000))
    socket.reading.clear()
    session.stream_props("warm", {"children": 0})
    await socket.wait_until(lambda: socket.sends_begun == 2)  # hello, then this frame, held
    for index in range(200):
        session.stream_props(f"row{index}", {"children": "x" * 1000})
    await socket.wait_until(lambda: socket.closed_with is not None)
    assert socket.closed_with == (CloseCode.TOO_SLOW, "client too slow")
    assert session.outbox.pending_bytes <= 50_000
    session.stream_props("late", {"children": "dropped"})
    assert len(session.outbox) == 0
    await session.shutdown()


async def test_a_page_that_stops_reading_is_disconnected_after_the_send_timeout():
    socket = FakeSocket()
    session = await attached(socket, SessionLimits(send_timeout=0.05))
    socket.reading.clear()
    session.stream_props("a", {"children": 1})
    await socket.wait_until(lambda: socket.closed_with is not None)
    assert socket.closed_with == (CloseCode.TOO_SLOW, "client too slow")
    await session.shutdown()


async def test_updates_from_threads_keep_their_order():
    socket = FakeSocket()
    session = await attached(socket, SessionLimits())

    def produce() -> None:
        for value in range(500):
            session.stream_props(f"c{value}", {"children": value})

    await asyncio.to_thread(produce)
    await socket.wait_until(lambda: len(socket.messages) >= 500)
    assert [m["props"]["children"] for m in socket.messages] == list(range(500))
    await session.shutdown()


class DeafSocket(FakeSocket):
    """A page that stopped reading: writes and the closing handshake never complete."""

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)
        await asyncio.Event().wait()


async def test_a_close_the_page_never_answers_still_ends_the_session():
    socket = DeafSocket()
    ended = asyncio.Event()
    session = PageSession(SessionLimits(close_timeout=0.05), on_end=lambda _: ended.set())
    await session.attach(socket, resume_after=None)
    socket.reading.clear()
    session.stream_props("a", {"children": 1})
    await session.close(CloseCode.TOO_SLOW, "client too slow")
    assert session.state.value == "closing" and socket.closed_with[0] == CloseCode.TOO_SLOW
    await asyncio.wait_for(ended.wait(), 30)
    assert session.is_shutdown


async def test_a_close_writes_the_frame_under_way_then_what_waits_then_closes():
    socket = FakeSocket()
    session = await attached(socket)
    socket.reading.clear()
    session.stream_props("a", {"children": 1})
    await socket.wait_until(lambda: socket.sends_begun == 2)  # the hello, then this frame
    session.stream_props("b", {"children": 2})
    closing = asyncio.ensure_future(session.close(CloseCode.NORMAL, "bye"))
    await settle()
    socket.reading.set()
    await closing
    assert [m["component"] for m in socket.messages] == ["a", "b"]
    assert socket.numbers == [1, 2] and socket.closed_with == (CloseCode.NORMAL, "bye")
