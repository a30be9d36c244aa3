"""Broadcast through real worker processes and a real Redis: every page, every message, once.

Two uvicorn workers of ``tests/helpers/broadcast_app.py`` share a
``redis-server``; pages connect over the network, as browsers would, and a
publisher in this process publishes 1, 2, 3... to the feed's topic at 20 Hz.
The feed appends each message to ``#ticks`` as a ``Patch``, so the values a
page was sent show any message lost, repeated or out of order.

Durations are counted in messages published (at 20 Hz, 40 messages are 2 s),
never asserted on the clock: every wait is for a condition, bounded
generously for loaded CI machines. The Redis-restart tests print how long the
outage lasted for the publisher and how soon after Redis came back every page
had the first new message (``pytest -s`` shows them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from urllib.parse import urlsplit

import dash_ws
from dash_ws.brokers import broker_for
from dash_ws.testing import PageClient, connect, network_connector
from tests.helpers.workers import WorkerProcesses

from .compat import needs_clientside_patch

pytestmark = needs_clientside_patch  # the feed streams Patch appends

APP = "tests.helpers.broadcast_app"
TOPIC = "ticks"
RATE = 20
"""Messages the publisher publishes per second."""
WAIT = 60.0
"""Bound on every wait: generous, for loaded CI machines; a passing run waits far less."""
OPENING_BATCH = 25
"""Pages opened at once."""
OUTAGE_REFUSALS = 20
"""Attempts to publish Redis refuses before a test starts it again: about 1 s at 20 Hz."""


# ------------------------------------------------------------------ what pages were sent


def values(page: PageClient) -> list:
    """The messages the feed appended to ``#ticks`` on this page, in the order received."""
    return [
        update.props["children"]["operations"][0]["params"]["value"]
        for update in page.updates
        if update.component == "ticks"
    ]


def last_value(page: PageClient):
    for update in reversed(page.updates):
        if update.component == "ticks":
            return update.props["children"]["operations"][0]["params"]["value"]
    return None


def received_up_to(message: int) -> Callable[[PageClient], bool]:
    """Messages arrive in order: a page whose last one is ``message`` or later has had it."""

    def predicate(page: PageClient) -> bool:
        last = last_value(page)
        return last is not None and last >= message

    return predicate


def summary(page: PageClient) -> str:
    got = values(page)
    shown = got if len(got) <= 30 else [*got[:10], "...", *got[-15:]]
    return (
        f"{len(got)} values {shown}, holes {holes(got)}, gaps {page.gaps}, "
        f"closed {page.closed}, resumed {page.resumed}, errors {page.errors}"
    )


def holes(got: list[int]) -> list[tuple[int, int]]:
    """``(last before, first after)`` wherever consecutive values are not consecutive numbers."""
    return [(a, b) for a, b in zip(got, got[1:]) if b != a + 1]


# ------------------------------------------------------------------ workers and pages


@asynccontextmanager
async def running_workers(redis_url: str, history: int = 1000) -> AsyncIterator[WorkerProcesses]:
    """Two workers of the broadcast app on ``redis_url``, started and stopped off the loop."""
    workers = WorkerProcesses(
        APP,
        2,
        {
            "DASH_WS_BROKER": redis_url,
            "DASH_WS_TEST_TOPIC": TOPIC,
            "DASH_WS_TEST_HISTORY": str(history),
        },
    )
    await asyncio.to_thread(workers.start)
    try:
        yield workers
    finally:
        await asyncio.to_thread(workers.stop)
        await broker_for(redis_url).close()  # this test's publishing connection


def origin_of(socket_url: str) -> str:
    return f"http://{urlsplit(socket_url).netloc}"


def connector_to(socket_url: str):
    """What opens a page's socket on the worker at ``socket_url``: given to a page
    (``page.connector = ...``), its next ``reconnect`` goes there, as a balancer
    without sticky routing may send it."""
    return network_connector(socket_url, origin=origin_of(socket_url), open_timeout=WAIT)


async def open_pages(
    stack: AsyncExitStack, workers: WorkerProcesses, count: int
) -> list[PageClient]:
    """``count`` pages, alternating between the workers, each ready and in its feeds.

    Page ``i`` is on worker ``i % 2``. Each has said ``ready`` and had its
    ``ping`` answered, so the worker streams the feed to it before anything
    is published.
    """

    async def one(index: int) -> PageClient:
        url = workers.socket_url(index % 2)
        return await stack.enter_async_context(
            connect(url, origin=origin_of(url), open_timeout=WAIT)
        )

    pages: list[PageClient] = []
    for start in range(0, count, OPENING_BATCH):
        batch = range(start, min(start + OPENING_BATCH, count))
        pages.extend(await asyncio.gather(*(one(i) for i in batch)))

    async def joined(page: PageClient) -> None:
        await page.ready()
        await page.synced(timeout=WAIT)

    await asyncio.gather(*(joined(page) for page in pages))
    return pages


async def until_every(
    pages: list[PageClient],
    predicate: Callable[[PageClient], bool],
    what: str,
    workers: WorkerProcesses,
    timeout: float = WAIT,
) -> None:
    """Wait until ``predicate`` holds for every page; fail naming those it never held for."""
    results = await asyncio.gather(
        *(page.wait_for(predicate, timeout) for page in pages), return_exceptions=True
    )
    failed = [i for i, result in enumerate(results) if isinstance(result, BaseException)]
    if failed:
        details = "\n".join(f"page {i}: {summary(pages[i])}" for i in failed[:5])
        raise AssertionError(
            f"{len(failed)} of {len(pages)} pages never {what} within {timeout} s:\n{details}\n"
            f"the workers printed:\n{workers.output[-8000:]}"
        )


# ------------------------------------------------------------------ the publisher


class Publisher:
    """Publishes 1, 2, ... ``count`` to the topic at ``RATE`` a second, from this process.

    A message the broker refuses (``BrokerUnavailable``: Redis is away) is
    counted and published again every 1/``RATE`` s until it is taken, so the
    messages taken are 1..count with no hole. Each attempt holds ``lock``: a
    test that kills Redis holding it kills it between attempts, never during
    one (a message Redis took but whose answer the kill lost would be
    published twice, which is the publisher's retry, not the broadcast).
    """

    def __init__(self, redis_url: str, count: int) -> None:
        self.redis_url = redis_url
        self.count = count
        self.published: list[int] = []
        """Messages the broker took, in order."""
        self.numbers: list[int] = []
        """The number the topic gave each of them."""
        self.refusals = 0
        self.first_refused_at: float | None = None
        self.back_at: float | None = None
        """When the first message after the first refusal was taken."""
        self.first_after_outage: int | None = None
        self.lock = asyncio.Lock()
        self._changed = asyncio.Condition()
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> Publisher:
        self.task = asyncio.ensure_future(self._run())
        self.task.add_done_callback(lambda _: asyncio.ensure_future(self._notify()))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop publishing if the test ended first (it failed); a finished run is left as is."""
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        period = 1 / RATE
        next_at = loop.time()
        for message in range(1, self.count + 1):
            while True:
                async with self.lock:
                    try:
                        number = await dash_ws.publish_async(TOPIC, message, broker=self.redis_url)
                        break
                    except dash_ws.BrokerUnavailable:
                        self.refusals += 1
                        if self.first_refused_at is None:
                            self.first_refused_at = time.monotonic()
                        await self._notify()
                await asyncio.sleep(period)
            if self.refusals and self.back_at is None:
                self.back_at = time.monotonic()
                self.first_after_outage = message
            self.published.append(message)
            self.numbers.append(number)
            await self._notify()
            # Keep the rate; after an outage, go on at the rate rather than catch up at once.
            next_at = max(next_at + period, loop.time())
            await asyncio.sleep(next_at - loop.time())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def until(self, predicate: Callable[[Publisher], bool], timeout: float = WAIT) -> None:
        """Wait until ``predicate(self)`` holds; fails if the publisher fails or ends first."""

        async def satisfied() -> None:
            async with self._changed:
                await self._changed.wait_for(
                    lambda: predicate(self) or (self.task is not None and self.task.done())
                )

        try:
            await asyncio.wait_for(satisfied(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"the publisher did not get there within {timeout} s: published "
                f"{len(self.published)} messages, refused {self.refusals} times"
            ) from None
        if not predicate(self):
            self.task.result()  # its exception, if it failed
            raise AssertionError(f"the publisher ended first, having published {self.published}")

    async def finished(self, timeout: float = WAIT * 2) -> None:
        await asyncio.wait_for(asyncio.shield(self.task), timeout)


# ------------------------------------------------------------------ broadcast


async def test_every_page_gets_every_message_once_in_order_and_dropped_pages_recover(
    redis_server,
):
    """One publisher at 20 Hz, 200 pages over 2 workers: every page receives every
    message once, in order. A page that drops for 2 s (40 messages) and comes back
    through the other worker, and one that comes back to its own, recover what they
    missed, with no gap."""
    count, pages_count, drop_after, away_for = 100, 200, 30, 40
    async with running_workers(redis_server.url) as workers, AsyncExitStack() as stack:
        pages = await open_pages(stack, workers, pages_count)
        to_other_worker, to_same_worker = pages[0], pages[1]  # on workers 0 and 1
        publisher = await stack.enter_async_context(Publisher(redis_server.url, count))

        await publisher.until(lambda p: len(p.published) >= drop_after)
        await asyncio.gather(to_other_worker.drop(), to_same_worker.drop())
        dropped_at = len(publisher.published)
        await publisher.until(lambda p: len(p.published) >= dropped_at + away_for)
        to_other_worker.connector = connector_to(workers.socket_url(1))
        await asyncio.gather(to_other_worker.reconnect(), to_same_worker.reconnect())
        back_at = len(publisher.published)
        assert to_other_worker.resumed, summary(to_other_worker)
        assert to_same_worker.resumed, summary(to_same_worker)

        await publisher.finished()
        await until_every(pages, received_up_to(count), f"received message {count}", workers)

    expected = list(range(1, count + 1))
    assert publisher.published == expected and publisher.numbers == expected
    assert publisher.refusals == 0
    wrong = [(i, summary(page)) for i, page in enumerate(pages) if values(page) != expected]
    assert not wrong, f"{len(wrong)} pages were not sent 1..{count} once each: {wrong[:5]}"
    assert [page.gaps for page in pages if page.gaps] == []
    print(
        f"\nbroadcast: {count} messages to {pages_count} pages; pages away from message "
        f"{dropped_at} to {back_at}"
    )


async def test_a_page_away_longer_than_the_history_is_told_of_the_gap_and_goes_on(
    redis_server,
):
    """With a history of 10 messages, a page away while 25 are published learns of the
    gap on resume (through the other worker), is sent what the history still holds
    and every later message; the pages that stayed get everything."""
    count, pages_count, history, drop_after, away_for = 60, 20, 10, 15, 25
    workers_running = running_workers(redis_server.url, history=history)
    async with workers_running as workers, AsyncExitStack() as stack:
        pages = await open_pages(stack, workers, pages_count)
        away, witnesses = pages[0], pages[1:]
        publisher = await stack.enter_async_context(Publisher(redis_server.url, count))

        await publisher.until(lambda p: len(p.published) >= drop_after)
        await until_every([away], received_up_to(drop_after), f"received {drop_after}", workers)
        await away.drop()
        dropped_at = len(publisher.published)
        had = values(away)
        await publisher.until(lambda p: len(p.published) >= dropped_at + away_for)
        away.connector = connector_to(workers.socket_url(1))
        await away.reconnect()
        back_at = len(publisher.published)
        assert away.resumed, summary(away)
        await until_every([away], lambda p: p.gaps, "was told of a gap", workers)

        await publisher.finished()
        await until_every(pages, received_up_to(count), f"received message {count}", workers)

    expected = list(range(1, count + 1))
    assert publisher.published == expected
    for page in witnesses:
        assert values(page) == expected and page.gaps == [], summary(page)
    got = values(away)
    assert away.gaps == [TOPIC], summary(away)
    assert got == sorted(set(got)), f"repeated or out of order: {summary(away)}"
    assert got[0] == 1 and got[-1] == count, summary(away)
    # What the page had before it dropped (and what it was re-sent on resume), one hole
    # where the gap is, then what the history still held and everything after.
    assert got[: len(had)] == had, summary(away)
    (before, after), *others = holes(got) or [(None, None)]
    assert before is not None and not others, f"one hole expected: {summary(away)}"
    assert had[-1] <= before < dropped_at + away_for - history, summary(away)
    assert after <= back_at, summary(away)  # the history held it when the page came back


# ------------------------------------------------------------------ Redis restarts


async def broadcast_across_a_redis_restart(server, persistent: bool) -> None:
    """Publish 1..100 at 20 Hz to 100 pages on 2 workers; kill Redis after 30 messages and
    start it again once the publisher has been refused 20 times; check what every page got."""
    count, pages_count, kill_after = 100, 100, 30
    expected = list(range(1, count + 1))
    async with running_workers(server.url) as workers, AsyncExitStack() as stack:
        pages = await open_pages(stack, workers, pages_count)
        publisher = await stack.enter_async_context(Publisher(server.url, count))
        await publisher.until(lambda p: len(p.published) >= kill_after)
        async with publisher.lock:  # between two attempts to publish
            killed_after = len(publisher.published)
            if not persistent:
                # What Redis loses is what pages are told of: let every page have what was
                # published so far, so the gap is exactly the restart.
                await until_every(
                    pages, received_up_to(killed_after), f"received {killed_after}", workers
                )
            killed_at = time.monotonic()
            await asyncio.to_thread(server.kill)
        # Redis stays away while the publisher is refused 20 times, about 1 s at 20 Hz.
        await publisher.until(lambda p: p.refusals >= OUTAGE_REFUSALS)
        await asyncio.to_thread(server.start)
        redis_back_at = time.monotonic()
        await publisher.until(lambda p: p.first_after_outage is not None)
        first_new = publisher.first_after_outage
        await until_every(pages, received_up_to(first_new), f"received {first_new}", workers)
        reached_all_at = time.monotonic()

        await publisher.finished()
        await until_every(pages, received_up_to(count), f"received message {count}", workers)
        left = [i for i, page in enumerate(pages) if page.closed is not None or page.resumed]

    assert left == [], f"pages {left} lost their socket to their worker"
    assert publisher.refusals >= OUTAGE_REFUSALS
    assert publisher.published == expected  # retried until taken: no hole
    if persistent:
        assert publisher.numbers == expected  # the topic's numbering survived
    else:
        assert publisher.numbers == [
            *range(1, killed_after + 1),
            *range(1, count - killed_after + 1),
        ]
    wrong = [(i, summary(page)) for i, page in enumerate(pages) if values(page) != expected]
    assert not wrong, f"{len(wrong)} pages were not sent 1..{count} once each: {wrong[:5]}"
    told = [TOPIC] if not persistent else []
    assert all(page.gaps == told for page in pages), [
        summary(page) for page in pages if page.gaps != told
    ][:5]
    print(
        f"\nRedis restart ({'append-only file' if persistent else 'no persistence'}): "
        f"killed after message {killed_after}; Redis down {redis_back_at - killed_at:.3f} s; "
        f"the publisher was refused {publisher.refusals} times over "
        f"{publisher.back_at - publisher.first_refused_at:.3f} s (first refusal to first "
        f"message taken again, message {first_new}); message {first_new} reached all "
        f"{pages_count} pages {reached_all_at - redis_back_at:.3f} s after Redis was back"
    )


async def test_pages_get_every_message_across_a_redis_restart_that_kept_the_stream(
    redis_server,
):
    """Redis (append-only file, fsynced) restarts mid-broadcast: pages keep their sockets,
    the publisher is refused while it is down and retries, and every page gets every
    message taken, in order, once, with no gap: the stream survived."""
    await broadcast_across_a_redis_restart(redis_server, persistent=True)


async def test_pages_are_told_once_of_the_gap_when_a_restart_lost_the_stream(
    cache_only_redis,
):
    """A Redis without persistence restarts mid-broadcast: the topic starts a new epoch
    (numbered from 1 again); every page is told of the gap once, then gets every new
    message, in order, once."""
    await broadcast_across_a_redis_restart(cache_only_redis, persistent=False)
