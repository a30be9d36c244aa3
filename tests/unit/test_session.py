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
        self.reading = asyncio.Event()
        self.reading.set()

    async def send(self, frame: bytes) -> None:
        await self.reading.wait()
        self.frames.append(json.loads(frame))
        await asyncio.sleep(0)  # a write yields to the loop, as a real one does

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)

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
    for _ in range(20):
        await asyncio.sleep(0)


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
    await settle()
    assert frames_while_producing[0] > 100, "frames waited for the producer to pause"
    last_values = {}
    for message in socket.messages:
        last_values[message["component"]] = message["props"]["children"]
    assert last_values == {f"c{v % 7}": v for v in range(1993, 2000)}
    await session.shutdown()


async def test_a_paused_page_receives_only_the_newest_values_in_order_when_it_reads_again():
    socket = FakeSocket()
    session = await attached(socket, SessionLimits())
    socket.reading.clear()
    session.stream_props("first", {"children": "sent before the pause"})
    await settle()
    for value in range(1000):
        session.stream_props("counter", {"children": value})
        session.stream_props("other", {"children": -value})
    session.send_message(b'{"type":"result","id":1}')
    session.stream_props("counter", {"children": "after the result"})
    socket.reading.set()
    await settle()
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
    await settle()
    for index in range(200):
        session.stream_props(f"row{index}", {"children": "x" * 1000})
    await settle()
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
    await asyncio.sleep(0.2)
    assert socket.closed_with == (CloseCode.TOO_SLOW, "client too slow")
    await session.shutdown()


async def test_updates_from_threads_keep_their_order():
    socket = FakeSocket()
    session = await attached(socket, SessionLimits())

    def produce() -> None:
        for value in range(500):
            session.stream_props(f"c{value}", {"children": value})

    await asyncio.to_thread(produce)
    await settle()
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
