"""Topics: publish from anywhere, follow from a page's socket work.

``publish(topic, message)`` encodes the message once, as Dash encodes
callback outputs, and hands it to the broker, which numbers it and keeps it
in the topic's history. Each worker follows a topic once, however many of its
pages do (``TopicHub``): the hub checks that every entry follows the one
before and, when one does not (the broker was away, the worker fell behind),
asks the broker for what is missing; what the history no longer holds is a
gap its followers are told about.

A page follows a topic two ways. In its socket work, ``async for message in
ctx.websocket.subscribe(topic)`` yields ``TopicMessage``s, one of them with
``gap=True`` where messages were lost. Declared once for the app, a ``feed``
(``feeds.py``) renders each message once per worker and streams the result to
every page.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from . import protocol
from .brokers import Broker, BrokerUnavailable, Cursor, TopicEntry, broker_for

logger = logging.getLogger("dash_ws")


def publish(topic: str, message: Any, *, broker: str | None = None) -> int:
    """Publish ``message`` to every page following ``topic``; returns its number.

    Call it from anywhere: a callback, a thread, a script. ``broker`` is a
    URL (``redis://...``); by default, the broker of this process's app, else
    ``DASH_WS_BROKER``, else this process's memory. Blocks for one round trip
    to Redis; on an event loop, ``await publish_async`` instead. Raises
    ``BrokerUnavailable`` when the broker cannot be reached.
    """
    check_topic(topic)
    return broker_for(broker).publish_blocking(topic, protocol.encode_value(message)).number


async def publish_async(topic: str, message: Any, *, broker: str | None = None) -> int:
    """``publish`` for async code: the event loop keeps running while Redis answers."""
    check_topic(topic)
    cursor = await broker_for(broker).publish(topic, protocol.encode_value(message))
    return cursor.number


def check_topic(topic: str) -> None:
    """One rule for a topic's name, wherever one is given: publish, subscribe, feed."""
    if not isinstance(topic, str) or not topic:
        raise TypeError(f"a topic is a non-empty str, not {topic!r}")


@dataclass(frozen=True)
class TopicMessage:
    """One message of a topic, as ``ctx.websocket.subscribe`` yields it.

    With ``gap`` True it carries no data: messages before ``number`` were lost
    (the history no longer held them), and the page should reload what they
    would have changed.
    """

    topic: str
    number: int
    data: Any = None
    gap: bool = False


class Follower(Protocol):
    """Something on this worker that follows a topic: a page's subscription, a feed."""

    def receive(self, entries: list[TopicEntry], gap: bool) -> None: ...


class TopicHub:
    """The topics this worker follows, each read once from the broker and fanned out."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self._followed: dict[str, _Followed] = {}

    async def follow(self, topic: str, follower: Follower) -> None:
        """Give ``follower`` every entry of ``topic`` from now on, in order.

        The first follower of a topic starts the worker listening to it; that
        start is shared, so a follower cancelled while it waits leaves the
        others listening.
        """
        followed = self._followed.get(topic)
        if followed is None:
            followed = self._followed[topic] = _Followed(topic, self.broker)
            followed.listening = asyncio.ensure_future(self._listen(followed))
        followed.followers.add(follower)
        try:
            await asyncio.shield(followed.listening)
        except asyncio.CancelledError:
            self.unfollow(topic, follower)
            raise

    async def _listen(self, followed: _Followed) -> None:
        """Read where the topic stands, then have the broker pass on every entry after it."""
        topic = followed.topic
        try:
            followed.cursor = await self.broker.head(topic)
        except BrokerUnavailable:
            logger.warning("dash-ws: following %s while the broker is away", topic)
        except Exception:
            logger.exception("dash-ws: could not read where topic %s stands", topic)
        if self._followed.get(topic) is followed:  # its followers did not all leave meanwhile
            self.broker.listen(topic, followed.on_entry, after=followed.cursor)

    def position(self, topic: str) -> Cursor:
        """The last entry of ``topic`` this worker has passed on."""
        followed = self._followed.get(topic)
        return followed.cursor if followed is not None else Cursor()

    def unfollow(self, topic: str, follower: Follower) -> None:
        followed = self._followed.get(topic)
        if followed is None:
            return
        followed.followers.discard(follower)
        if not followed.followers:
            self.broker.unlisten(topic, followed.on_entry)
            del self._followed[topic]


class _Followed:
    """One topic on this worker: where it stands, and who follows it."""

    def __init__(self, topic: str, broker: Broker) -> None:
        self.topic = topic
        self.broker = broker
        self.cursor = Cursor()
        self.followers: set[Follower] = set()
        self.listening: asyncio.Future | None = None
        """Reading the head, then listening from it: what a new follower waits for."""
        self._waiting: list[TopicEntry] | None = None
        """Entries that arrived while a repair asks the broker what is missing."""

    def on_entry(self, entry: TopicEntry) -> None:
        if self._waiting is not None:
            self._waiting.append(entry)
        elif entry.follows(self.cursor):
            self._pass_on([entry], gap=False)
        elif entry.reached_by(self.cursor):
            return  # read twice (the reader resumed from an older position)
        else:
            self._waiting = [entry]
            asyncio.ensure_future(self._repair())

    async def _repair(self) -> None:
        """Fill what is missing between the cursor and the entries that arrived."""
        try:
            catchup = await self.broker.read_after(self.topic, self.cursor)
            entries, gap = catchup.entries, catchup.gap
        except BrokerUnavailable:
            entries, gap = [], True
        waiting, self._waiting = self._waiting or [], None
        seen = {(e.epoch, e.number) for e in entries}
        entries = entries + [
            e for e in waiting if (e.epoch, e.number) not in seen and not e.reached_by(self.cursor)
        ]
        if entries and not gap and not entries[0].follows(self.cursor):
            gap = True
        if entries or gap:
            self._pass_on(entries, gap)

    def _pass_on(self, entries: list[TopicEntry], gap: bool) -> None:
        if entries:
            self.cursor = entries[-1].cursor
        if gap:
            logger.warning("dash-ws: messages of topic %s were lost", self.topic)
        for follower in list(self.followers):
            try:
                follower.receive(entries, gap)
            except Exception:
                logger.exception("dash-ws: a follower of topic %s failed", self.topic)


class PageSubscription:
    """``ctx.websocket.subscribe(topic)``: a page's own, ordered view of a topic.

    Messages wait here for the code that iterates, at most the history's
    count of them; past that, the oldest give way to a gap. The subscription
    ends (the iteration stops) when the page's session ends or ``close`` is
    called.
    """

    def __init__(self, hub: TopicHub, topic: str, limit: int) -> None:
        self.topic = topic
        self._hub = hub
        self._limit = limit
        self._queue: deque[TopicMessage] = deque()
        self._arrived = asyncio.Event()
        self._closed = False

    async def start(self) -> None:
        await self._hub.follow(self.topic, self)

    def receive(self, entries: list[TopicEntry], gap: bool) -> None:
        if gap:
            number = entries[0].number if entries else 0
            self._queue.append(TopicMessage(self.topic, number, gap=True))
        for entry in entries:
            self._queue.append(TopicMessage(self.topic, entry.number, decoded(entry)))
        if len(self._queue) > self._limit:
            kept = list(self._queue)[-self._limit :]
            self._queue.clear()
            self._queue.append(TopicMessage(self.topic, kept[0].number, gap=True))
            self._queue.extend(kept)
        self._arrived.set()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._hub.unfollow(self.topic, self)
            self._arrived.set()

    def __aiter__(self) -> AsyncIterator[TopicMessage]:
        return self

    async def __anext__(self) -> TopicMessage:
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._arrived.clear()
            await self._arrived.wait()
        return self._queue.popleft()


_last_decoded: list[tuple[TopicEntry, Any]] = []


def decoded(entry: TopicEntry) -> Any:
    """The entry's message as Python, decoded once however many pages on the worker get it.

    Every follower of one entry is handed it in turn, so remembering the
    last one decoded is enough. Followers share the object: do not change it.
    """
    if _last_decoded and _last_decoded[0][0] is entry:
        return _last_decoded[0][1]
    value = orjson.loads(entry.data)
    _last_decoded[:] = [(entry, value)]
    return value
