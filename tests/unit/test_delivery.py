"""What a page is sent and when: the flush policy, numbering, and the slow-page rules.

The writer runs on the real event loop; its send watchdog runs on a fake
clock (``FakeLoop``), so "a page that reads nothing for 30 s" takes no time.
"""

from __future__ import annotations

import asyncio
import json

from dash_ws import protocol
from dash_ws.delivery import Delivery

from .test_deadlines import FakeLoop


class HeldSocket:
    """Records frames; while ``open_`` is cleared, a write waits, like a page not reading."""

    writes_at_once = True  # as a server's socket: sends start where the frame is queued

    def __init__(self) -> None:
        self.frames: list[list[dict]] = []
        self.open_ = asyncio.Event()
        self.open_.set()
        self.writing = asyncio.Event()

    async def send(self, frame: bytes) -> None:
        self.writing.set()
        await self.open_.wait()
        self.frames.append(json.loads(frame))

    async def close(self, code: int, reason: str) -> None:
        pass


def delivery(clock: FakeLoop, too_slow: list[str], frame_bytes: int = 1000) -> Delivery:
    return Delivery(
        clock,
        buffer_bytes=10_000,
        frame_bytes=frame_bytes,
        send_timeout=30,
        on_too_slow=too_slow.append,
        on_sent=lambda: None,
    )


def message(text: str) -> bytes:
    return protocol.error_message(text)


async def until(condition) -> None:
    """Let the writer run until ``condition`` holds; it needs a few turns, never thousands."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the writer never got there")


async def test_an_idle_page_gets_each_message_in_a_frame_of_its_own_at_once():
    socket, too_slow = HeldSocket(), []
    outgoing = delivery(FakeLoop(), too_slow)
    await outgoing.start(socket, protocol.hello_message("s", "k", False), [], [])
    for frames_then, text in ((2, "a"), (3, "b")):
        outgoing.queue(message(text))
        await until(lambda frames_then=frames_then: len(socket.frames) == frames_then)
    assert [[m["message"] for m in frame] for frame in socket.frames[1:]] == [["a"], ["b"]]
    assert [m["n"] for frame in socket.frames[1:] for m in frame] == [1, 2]
    outgoing.stop()


async def test_an_idle_pages_frame_is_written_by_the_code_that_queued_it():
    socket, too_slow = HeldSocket(), []
    outgoing = delivery(FakeLoop(), too_slow)
    await outgoing.start(socket, protocol.hello_message("s", "k", False), [], [])
    outgoing.queue(message("now"))
    assert [m["message"] for m in socket.frames[-1]] == ["now"], "written before queue returned"
    for index in range(3):
        outgoing.queue(message(f"same step {index}"))
    assert len(socket.frames) == 2, "the rest of the step waits for the step to end"
    await until(lambda: len(socket.frames) == 3)
    assert [m["message"] for m in socket.frames[2]] == [f"same step {i}" for i in range(3)]

    socket.open_.clear()
    await asyncio.sleep(0)  # a new step
    outgoing.queue(message("held"))  # this write waits: a task takes it over
    outgoing.queue(message("after"))
    await asyncio.sleep(0)
    assert len(socket.frames) == 3
    socket.open_.set()
    await until(lambda: len(socket.frames) == 5)
    assert [[m["message"] for m in frame] for frame in socket.frames[3:]] == [["held"], ["after"]]
    assert [m["n"] for frame in socket.frames[1:] for m in frame] == [1, 2, 3, 4, 5, 6]
    outgoing.stop()


async def test_a_socket_that_needs_a_task_of_its_own_gets_one():
    """A relayed page's send awaits Redis, with timeouts that belong to the task running it."""
    tasks_sending: list = []

    class BrokerSocket(HeldSocket):
        writes_at_once = False

        async def send(self, frame: bytes) -> None:
            tasks_sending.append(asyncio.current_task())
            await super().send(frame)

    socket, too_slow = BrokerSocket(), []
    outgoing = delivery(FakeLoop(), too_slow)
    await outgoing.start(socket, protocol.hello_message("s", "k", False), [], [])
    queued_from = asyncio.current_task()
    outgoing.queue(message("from a task"))
    asyncio.get_running_loop().call_soon(outgoing.queue, message("from a loop callback"))
    await until(lambda: len(socket.frames) == 3)
    assert [m["message"] for frame in socket.frames[1:] for m in frame] == [
        "from a task",
        "from a loop callback",
    ]
    assert all(task is not None and task is not queued_from for task in tasks_sending[1:])
    outgoing.stop()


async def test_what_waits_while_a_frame_is_written_leaves_in_the_next_frame():
    socket, too_slow = HeldSocket(), []
    outgoing = delivery(FakeLoop(), too_slow, frame_bytes=100_000)
    await outgoing.start(socket, protocol.hello_message("s", "k", False), [], [])
    socket.open_.clear()
    socket.writing.clear()
    outgoing.queue(message("first"))
    await socket.writing.wait()  # the first frame is being written
    for index in range(50):
        outgoing.queue(message(str(index)))
    socket.open_.set()
    await until(lambda: len(socket.frames) == 3)
    assert [m["message"] for m in socket.frames[1]] == ["first"]
    assert [m["message"] for m in socket.frames[2]] == [str(i) for i in range(50)]
    outgoing.stop()


async def test_a_frame_holds_about_frame_bytes_at_most():
    socket, too_slow = HeldSocket(), []
    outgoing = delivery(FakeLoop(), too_slow, frame_bytes=200)
    socket.open_.clear()
    await asyncio.gather(
        outgoing.start(socket, protocol.hello_message("s", "k", False), [], []),
        _queue_then_open(outgoing, socket, [message("x" * 60) for _ in range(10)]),
    )
    await until(lambda: sum(len(f) for f in socket.frames[1:]) == 10)
    sizes = [len(json.dumps(frame)) for frame in socket.frames[1:]]
    assert len(sizes) > 1 and all(size < 200 + 150 for size in sizes)
    outgoing.stop()


async def _queue_then_open(outgoing: Delivery, socket: HeldSocket, messages: list[bytes]) -> None:
    await socket.writing.wait()
    for each in messages:
        outgoing.queue(each)
    socket.open_.set()


async def test_a_page_that_reads_nothing_for_the_send_timeout_is_too_slow():
    socket, too_slow, clock = HeldSocket(), [], FakeLoop()
    outgoing = delivery(clock, too_slow)
    await outgoing.start(socket, protocol.hello_message("s", "k", False), [], [])
    socket.open_.clear()
    socket.writing.clear()
    outgoing.queue(message("stuck"))
    await socket.writing.wait()
    clock.advance(29.9)
    assert too_slow == []
    clock.advance(0.1)
    assert too_slow == ["it read nothing for 30 s"]
    outgoing.stop()


async def test_a_resumed_page_that_reads_nothing_is_still_found_too_slow():
    clock, too_slow = FakeLoop(), []
    outgoing = delivery(clock, too_slow)
    first, second = HeldSocket(), HeldSocket()
    await outgoing.start(first, protocol.hello_message("s", "k", False), [], [])
    first.open_.clear()
    outgoing.queue(message("stuck on the first socket"))
    await first.writing.wait()
    await asyncio.sleep(0)  # the step that queued it ends
    outgoing.stop()  # the socket dropped with a write under way; the page resumes
    await outgoing.start(second, protocol.hello_message("s", "k", True), [], [])
    second.open_.clear()
    second.writing.clear()
    outgoing.queue(message("stuck on the second socket"))
    await second.writing.wait()
    for _ in range(3):
        await asyncio.sleep(0)  # the first socket's abandoned write winds down
    clock.advance(30)
    assert too_slow == ["it read nothing for 30 s"]
    outgoing.stop()


async def test_past_its_ceiling_the_outbox_is_emptied_and_the_page_is_too_slow():
    too_slow: list[str] = []
    outgoing = delivery(FakeLoop(), too_slow)
    for index in range(200):  # never started: nothing is written
        outgoing.queue(message(f"{index:0>60}"))
    assert len(too_slow) >= 1 and "waiting for a client that is not reading" in too_slow[0]
    assert outgoing.outbox.pending_bytes < 10_000


async def test_a_resumed_page_gets_what_it_missed_after_the_number_it_saw():
    socket, too_slow = HeldSocket(), []
    outgoing = delivery(FakeLoop(), too_slow)
    await outgoing.start(socket, protocol.hello_message("s", "k", False), [], [])
    for text in "abc":
        outgoing.queue(message(text))
    await until(lambda: sum(len(f) for f in socket.frames[1:]) == 3)
    outgoing.stop()
    missed = outgoing.missed_after(1)
    assert [json.loads(m)["message"] for m in missed] == ["b", "c"]
    outgoing.acknowledge(3)
    assert outgoing.missed_after(3) == [] and outgoing.missed_after(0) is None


async def test_a_socket_whose_hello_is_still_being_written_when_it_drops_is_not_written_to():
    outgoing = delivery(FakeLoop(), [])
    dropped, resumed = HeldSocket(), HeldSocket()
    dropped.open_.clear()
    greeting = asyncio.ensure_future(
        outgoing.start(dropped, protocol.hello_message("s", "k", False), [], [])
    )
    await dropped.writing.wait()
    outgoing.stop()  # the socket dropped during its hello; the page resumes on another
    await outgoing.start(resumed, protocol.hello_message("s", "k", True), [], [])
    dropped.open_.set()  # the dropped socket's hello send returns late
    await greeting
    outgoing.queue(message("after the resume"))
    await until(lambda: len(resumed.frames) == 2)
    assert [m["message"] for m in resumed.frames[1]] == ["after the resume"]
    assert len(dropped.frames) == 1, "only its hello: nothing after it was stopped"
    outgoing.stop()


async def test_a_socket_that_drops_during_its_hello_leaves_what_follows_queued():
    outgoing = delivery(FakeLoop(), [])
    dropped = HeldSocket()
    dropped.open_.clear()
    greeting = asyncio.ensure_future(
        outgoing.start(dropped, protocol.hello_message("s", "k", False), [], [])
    )
    await dropped.writing.wait()
    outgoing.stop()
    dropped.open_.set()
    await greeting
    outgoing.queue(message("for the next socket"))
    assert len(dropped.frames) == 1 and len(outgoing.outbox) == 1
