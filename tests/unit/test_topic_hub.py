"""A worker's topic hub on the in-memory broker: starting to follow, leaving, repairing."""

import asyncio

import pytest

from dash_ws.brokers import MemoryBroker
from dash_ws.session import PageSession, SessionLimits
from dash_ws.topics import TopicHub


class Collector:
    def __init__(self) -> None:
        self.numbers: list[int] = []
        self.arrived = asyncio.Event()

    def receive(self, entries, gap) -> None:
        self.numbers += [entry.number for entry in entries]
        self.arrived.set()


class SlowHeadBroker(MemoryBroker):
    """A broker whose ``head`` answers only once ``answer`` is set, as a slow Redis does."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = asyncio.Event()
        self.asked = asyncio.Event()

    async def head(self, topic):
        self.asked.set()
        await self.answer.wait()
        return await super().head(topic)


async def test_a_follower_cancelled_while_the_hub_starts_leaves_the_others_following():
    broker = SlowHeadBroker()
    hub = TopicHub(broker)
    cancelled, waiting = Collector(), Collector()
    first = asyncio.ensure_future(hub.follow("t", cancelled))
    await broker.asked.wait()
    second = asyncio.ensure_future(hub.follow("t", waiting))
    await asyncio.sleep(0)
    first.cancel()
    broker.answer.set()
    await second
    assert first.cancelled()
    await broker.publish("t", b"1")
    await asyncio.wait_for(waiting.arrived.wait(), 10)
    later = Collector()
    await hub.follow("t", later)
    await broker.publish("t", b"2")
    await asyncio.wait_for(later.arrived.wait(), 10)
    assert waiting.numbers == [1, 2] and later.numbers == [2] and cancelled.numbers == []


async def test_the_last_follower_leaving_stops_the_broker_calling_the_hub():
    broker = MemoryBroker()
    hub = TopicHub(broker)
    for _ in range(3):
        follower = Collector()
        await hub.follow("t", follower)
        hub.unfollow("t", follower)
    assert broker._topics["t"].listeners == []


async def test_an_entry_already_passed_on_that_arrives_during_a_repair_is_not_passed_on_again():
    broker = MemoryBroker()
    hub = TopicHub(broker)
    follower = Collector()
    await hub.follow("t", follower)
    followed = hub._followed["t"]
    broker.unlisten("t", followed.on_entry)  # entries reach the hub as this test hands them

    async def published() -> object:
        await broker.publish("t", b"0")
        return broker._topics["t"].entries[-1]

    first = await published()
    followed.on_entry(first)
    await published()  # 2, which the hub is not handed
    third = await published()
    follower.arrived.clear()
    followed.on_entry(third)  # 2 is late: a repair starts
    followed.on_entry(first)  # an old one arrives while it reads
    await asyncio.wait_for(follower.arrived.wait(), 10)
    followed.on_entry(await published())
    assert follower.numbers == [1, 2, 3, 4]


async def test_a_page_subscription_cancelled_while_it_starts_starts_afresh_on_its_next_step():
    broker = SlowHeadBroker()
    hub = TopicHub(broker)
    session = PageSession(SessionLimits(), on_end=lambda ended: None, hub=hub)
    messages = session.handle.subscribe("t")
    step = asyncio.ensure_future(messages.__anext__())
    await broker.asked.wait()
    step.cancel()
    broker.answer.set()
    with pytest.raises(asyncio.CancelledError):
        await step
    assert "t" not in hub._followed and not session.subscriptions
    next_step = asyncio.ensure_future(messages.__anext__())
    for _ in range(100):  # loop turns, not time: until the new start is under way
        if "t" in hub._followed:
            break
        await asyncio.sleep(0)
    await hub._followed["t"].listening
    await broker.publish("t", b"1")
    assert (await asyncio.wait_for(next_step, 10)).number == 1
    assert len(session.subscriptions) == 1
