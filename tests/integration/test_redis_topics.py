"""Topics on a real Redis: numbering across processes, history, gaps, and Redis restarting."""

import asyncio
import subprocess
import sys

import pytest

import dash_ws
from dash_ws.brokers import BrokerUnavailable, Cursor, TopicHistory
from dash_ws.redis_broker import RedisBroker
from dash_ws.topics import TopicHub
from tests.helpers.progress import Progress
from tests.helpers.redis_server import free_port


class Collector(Progress):
    """A follower of a topic that remembers what it got, with a way to wait for it."""

    def __init__(self) -> None:
        super().__init__()
        self.numbers: list[int] = []
        self.data: list[bytes] = []
        self.gaps: list[int] = []

    def receive(self, entries, gap) -> None:
        if gap:
            self.gaps.append(len(self.numbers))
        for entry in entries:
            self.numbers.append(entry.number)
            self.data.append(entry.data)
        asyncio.ensure_future(self.changed())


def new_broker(url: str, count: int = 100) -> RedisBroker:
    return RedisBroker(url, TopicHistory(count=count, seconds=600))


async def test_an_unreachable_redis_is_named_at_start_up():
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(BrokerUnavailable, match=f"cannot reach the broker at {url}"):
        await new_broker(url).start()


async def test_the_url_password_is_never_shown():
    url = f"redis://user:hunter2@127.0.0.1:{free_port()}/0"
    with pytest.raises(BrokerUnavailable) as refused:
        await new_broker(url).start()
    assert "hunter2" not in str(refused.value) and "user:***@" in str(refused.value)


async def test_publishers_in_other_processes_are_numbered_in_one_order(redis_server):
    script = (
        "import sys, dash_ws\n"
        "for i in range(20):\n"
        "    dash_ws.publish('prices', {'from': sys.argv[1], 'i': i}, broker=sys.argv[2])\n"
    )
    publishers = [
        subprocess.Popen([sys.executable, "-c", script, str(n), redis_server.url]) for n in range(3)
    ]
    for publisher in publishers:
        assert publisher.wait(60) == 0
    broker = new_broker(redis_server.url)
    catchup = await broker.read_after("prices", Cursor((await broker.head("prices")).epoch, 1))
    assert [entry.number for entry in catchup.entries] == list(range(2, 61))
    assert not catchup.gap
    await broker.close()


async def test_a_worker_follows_a_topic_once_and_in_order(redis_server):
    broker = new_broker(redis_server.url)
    hub = TopicHub(broker)
    first, second = Collector(), Collector()
    await hub.follow("t", first)
    await hub.follow("t", second)
    numbers = [await dash_ws.publish_async("t", n, broker=redis_server.url) for n in range(5)]
    await first.until(lambda: len(first.numbers) == 5)
    await second.until(lambda: len(second.numbers) == 5)
    assert first.numbers == second.numbers == numbers == [1, 2, 3, 4, 5]
    assert first.data == [b"0", b"1", b"2", b"3", b"4"]
    assert first.gaps == []
    await broker.close()


async def test_a_listener_gets_what_came_after_its_cursor_then_what_comes_next(redis_server):
    broker = new_broker(redis_server.url)
    first = await broker.publish("t", b"1")
    for n in (2, 3):
        await broker.publish("t", str(n).encode())
    follower = Collector()
    broker.listen("t", lambda entry: follower.receive([entry], gap=False), after=first)
    await follower.until(lambda: len(follower.numbers) == 2)
    await broker.publish("t", b"4")
    await follower.until(lambda: len(follower.numbers) == 3)
    assert follower.numbers == [2, 3, 4]
    await broker.close()


async def test_the_history_keeps_its_count_and_says_what_it_lost(redis_server):
    broker = new_broker(redis_server.url, count=3)
    for n in range(6):
        await broker.publish("t", str(n).encode())
    head = await broker.head("t")
    kept = await broker.read_after("t", Cursor(head.epoch, 3))
    assert [e.number for e in kept.entries] == [4, 5, 6] and not kept.gap
    lost = await broker.read_after("t", Cursor(head.epoch, 1))
    assert [e.number for e in lost.entries] == [4, 5, 6] and lost.gap
    other_epoch = await broker.read_after("t", Cursor("1", 5))
    assert other_epoch.gap
    await broker.close()


async def test_publishing_while_redis_is_down_fails_to_the_caller(redis_server):
    broker = new_broker(redis_server.url)
    await broker.start()
    redis_server.kill()
    with pytest.raises(BrokerUnavailable, match="unreachable"):
        await dash_ws.publish_async("t", 1, broker=redis_server.url)
    with pytest.raises(BrokerUnavailable, match="unreachable"):
        await asyncio.to_thread(dash_ws.publish, "t", 1, broker=redis_server.url)
    await broker.close()


async def followed_then_restarted(server) -> tuple[RedisBroker, Collector]:
    """A follower that got messages 1 to 3 of a topic, and the Redis under it restarted."""
    broker = new_broker(server.url)
    follower = Collector()
    await TopicHub(broker).follow("t", follower)
    for n in range(3):
        await broker.publish("t", str(n).encode())
    await follower.until(lambda: len(follower.numbers) == 3)
    server.restart()
    return broker, follower


async def test_followers_recover_what_redis_kept_across_a_restart(redis_server):
    broker, follower = await followed_then_restarted(redis_server)
    published = []
    for n in range(3, 8):
        published.append((await _publish_when_back(broker, n)).number)
    await follower.until(lambda: len(follower.numbers) == 8)
    assert follower.numbers == [1, 2, 3, 4, 5, 6, 7, 8] and published == [4, 5, 6, 7, 8]
    assert follower.gaps == []
    await broker.close()


async def test_followers_are_told_when_a_restart_lost_the_history(cache_only_redis):
    broker, follower = await followed_then_restarted(cache_only_redis)
    for n in range(3, 6):
        await _publish_when_back(broker, n)
    await follower.until(lambda: len(follower.numbers) == 6)
    assert follower.numbers == [1, 2, 3, 1, 2, 3]
    assert follower.gaps == [3]
    await broker.close()


async def _publish_when_back(broker, n, attempts: int = 200):
    """Publish once Redis accepts again; the first attempts may meet a closed connection."""
    for _ in range(attempts):
        try:
            return await broker.publish("t", str(n).encode())
        except BrokerUnavailable:
            await asyncio.sleep(0.05)
    raise AssertionError("Redis did not come back")
