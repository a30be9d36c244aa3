"""Where topics live: numbered messages with a bounded history, in memory or in Redis.

A broker stores each topic's messages in order, numbered from 1 within an
*epoch*: a token the topic gets when its history starts, which changes when
the history is lost (the topic sat idle past its age limit, or Redis
restarted without its data). A position in a topic is a ``Cursor`` (epoch,
number), and ``read_after`` answers what came after it: every message still
held, and whether some were lost in between (a gap). That is what lets a page
or a worker that was away get exactly what it missed, or be told it cannot.

``MemoryBroker`` serves one process and needs nothing installed; a
``RedisBroker`` (``redis_broker.py``) is shared by every worker and process
that names the same Redis URL. A published message is encoded once, by the
publisher, as Dash encodes callback outputs; brokers move its bytes.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import DashWsError

BROKER_ENVIRONMENT = "DASH_WS_BROKER"
"""Environment variable naming the broker (``redis://...``) when the app or caller does not."""


class BrokerUnavailable(DashWsError, ConnectionError):
    """The broker could not be reached; the message was not published."""


@dataclass(frozen=True)
class TopicHistory:
    """How much of each topic is kept for those who were away: at most ``count``
    messages, none older than ``seconds``."""

    count: int = 1000
    seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.count < 1 or self.seconds <= 0:
            raise ValueError("a topic history keeps at least one message for some time")


@dataclass(frozen=True)
class Cursor:
    """A position in a topic: everything up to ``number`` of ``epoch`` has been seen."""

    epoch: str = ""
    number: int = 0


@dataclass(frozen=True)
class TopicEntry:
    """One published message, as every subscriber receives it."""

    topic: str
    epoch: str
    number: int
    data: bytes
    """The message as JSON, encoded once by the publisher."""
    published_at: float

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.epoch, self.number)

    def follows(self, cursor: Cursor) -> bool:
        """True when this entry comes right after ``cursor``: nothing lost in between.

        A cursor that has seen nothing (number 0) is followed by anything.
        """
        if cursor.number == 0:
            return True
        return self.epoch == cursor.epoch and self.number == cursor.number + 1

    def reached_by(self, cursor: Cursor) -> bool:
        """True when a reader at ``cursor`` has had this entry: same epoch, not past it."""
        return self.epoch == cursor.epoch and self.number <= cursor.number


@dataclass(frozen=True)
class Catchup:
    """What came after a cursor: the entries still held, and whether some were lost first."""

    entries: list[TopicEntry]
    gap: bool


def catchup_from(held: list[TopicEntry], cursor: Cursor, epoch: str, last: int) -> Catchup:
    """The answer to ``read_after(cursor)`` given what a topic holds.

    ``held`` is the topic's history in order, ``epoch`` and ``last`` its
    current epoch and last number. A cursor of another epoch, or one the
    history has moved past, has lost messages.
    """
    if cursor.number == 0:
        return Catchup([], gap=False)
    if cursor.epoch != epoch or cursor.number > last:
        return Catchup(held, gap=True)
    after = [entry for entry in held if entry.number > cursor.number]
    first_expected = cursor.number + 1
    gap = bool(after) and after[0].number != first_expected or (not after and last > cursor.number)
    return Catchup(after, gap=gap)


Listener = Callable[[TopicEntry], None]


class Broker:
    """The interface every broker offers; see the module's docstring."""

    url = "memory://"
    history: TopicHistory
    shares_sessions = False
    """True when pages may resume on another worker through this broker (Redis)."""

    async def start(self) -> None:
        """Connect; raises ``BrokerUnavailable`` naming the broker when it cannot."""

    async def close(self) -> None:
        """Let go of connections and tasks."""

    async def publish(self, topic: str, data: bytes) -> Cursor:
        raise NotImplementedError

    def publish_blocking(self, topic: str, data: bytes) -> Cursor:
        """``publish`` for code without an event loop: threads, scripts, other processes."""
        raise NotImplementedError

    async def head(self, topic: str) -> Cursor:
        """The topic's newest position: where a new subscriber starts."""
        raise NotImplementedError

    async def read_after(self, topic: str, cursor: Cursor) -> Catchup:
        raise NotImplementedError

    def listen(self, topic: str, listener: Listener, after: Cursor) -> None:
        """Call ``listener`` on the caller's loop with every entry of ``topic`` past ``after``,
        in order.

        ``after`` is the position the caller read with ``head``: entries
        published between that read and this call are passed on too, so a
        follower misses nothing however long the read took. A broker that
        lost its connection calls the listener, once back, with entries that
        do not follow its last one: the hub then asks ``read_after`` for what
        is missing.
        """
        raise NotImplementedError

    def unlisten(self, topic: str, listener: Listener) -> None:
        raise NotImplementedError


class MemoryBroker(Broker):
    """Topics of one process; listeners on any event loop, publishers on any thread."""

    def __init__(self, history: TopicHistory | None = None) -> None:
        self.history = history or TopicHistory()
        self._lock = threading.Lock()
        self._topics: dict[str, _MemoryTopic] = {}

    def _topic(self, topic: str) -> _MemoryTopic:
        held = self._topics.get(topic)
        if held is None:
            held = self._topics[topic] = _MemoryTopic()
        return held

    async def publish(self, topic: str, data: bytes) -> Cursor:
        return self.publish_blocking(topic, data)

    def publish_blocking(self, topic: str, data: bytes) -> Cursor:
        with self._lock:
            held = self._topic(topic)
            self._expire(held)
            entry = TopicEntry(topic, held.epoch, held.last + 1, data, time.time())
            held.entries.append(entry)
            held.last = entry.number
            while len(held.entries) > self.history.count:
                held.entries.popleft()
            listeners = list(held.listeners)
        for loop, listener in listeners:
            _call_on(loop, listener, entry)
        return entry.cursor

    async def head(self, topic: str) -> Cursor:
        with self._lock:
            held = self._topic(topic)
            self._expire(held)
            return Cursor(held.epoch, held.last)

    async def read_after(self, topic: str, cursor: Cursor) -> Catchup:
        with self._lock:
            held = self._topic(topic)
            self._expire(held)
            return catchup_from(list(held.entries), cursor, held.epoch, held.last)

    def listen(self, topic: str, listener: Listener, after: Cursor) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            held = self._topic(topic)
            held.listeners.append((loop, listener))
            missed = [entry for entry in held.entries if not entry.reached_by(after)]
        for entry in missed:  # now, before any entry published from here on
            listener(entry)

    def unlisten(self, topic: str, listener: Listener) -> None:
        with self._lock:
            held = self._topics.get(topic)
            if held is not None:
                # ``==``: a bound method (``_Followed.on_entry``) is a new object each time.
                held.listeners = [(lp, ls) for lp, ls in held.listeners if ls != listener]

    def _expire(self, held: _MemoryTopic) -> None:
        """Forget entries older than the age limit; a topic idle that long starts over."""
        oldest_kept = time.time() - self.history.seconds
        while held.entries and held.entries[0].published_at < oldest_kept:
            held.entries.popleft()
        if not held.entries and held.last:
            held.epoch = _new_epoch()
            held.last = 0


class _MemoryTopic:
    def __init__(self) -> None:
        self.epoch = _new_epoch()
        self.last = 0
        self.entries: deque[TopicEntry] = deque()
        self.listeners: list[tuple[asyncio.AbstractEventLoop, Listener]] = []


def _new_epoch() -> str:
    return secrets.token_hex(6)


def _call_on(loop: asyncio.AbstractEventLoop, listener: Listener, entry: TopicEntry) -> None:
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        listener(entry)
        return
    try:
        loop.call_soon_threadsafe(listener, entry)
    except RuntimeError:  # that loop has closed; its listeners are gone
        pass


# ------------------------------------------------------------------ choosing a broker

_brokers: dict[str, Broker] = {}
_brokers_lock = threading.Lock()
_process_default: list[str] = []
"""The broker URL of the app made last in this process, if any."""


def broker_for(url: str | None = None, history: TopicHistory | None = None) -> Broker:
    """The broker of this process for ``url``, made on first use.

    ``url`` is ``"memory://"`` or ``"redis://..."``/``"rediss://..."``; None
    means the one the app was configured with, else ``DASH_WS_BROKER``, else
    memory. One broker per URL per process, so every app and publisher of the
    process shares its connections and, in memory, its topics. ``history``
    is the app's setting; a publisher's call leaves it as it is.
    """
    if url is None:
        url = (_process_default or [os.environ.get(BROKER_ENVIRONMENT) or "memory://"])[-1]
    with _brokers_lock:
        broker = _brokers.get(url)
        if broker is None:
            broker = _brokers[url] = _make_broker(url, history or TopicHistory())
        elif history is not None:
            broker.history = history  # the app's setting: the last app made wins
        return broker


def use_by_default(url: str) -> None:
    """Make ``url`` the broker ``publish`` uses when not told (the app's own)."""
    _process_default[:] = [url]


def _make_broker(url: str, history: TopicHistory) -> Broker:
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        return MemoryBroker(history)
    if scheme in ("redis", "rediss", "unix"):
        from .redis_broker import RedisBroker

        return RedisBroker(url, history)
    raise ValueError(f"websocket_broker must be memory:// or redis://..., not {url!r}")


def url_of(broker: Any) -> str:
    """A broker setting as a URL: a URL, or a Dash 4.5 ``RedisSharedStorage`` to share."""
    if broker is None or isinstance(broker, str):
        return broker or os.environ.get(BROKER_ENVIRONMENT) or "memory://"
    for attribute in ("url", "_url", "redis_url"):
        value = getattr(broker, attribute, None)
        if isinstance(value, str):
            return value
    raise TypeError(
        f"websocket_broker takes a URL (redis://...) or Dash's RedisSharedStorage, "
        f"not {type(broker).__name__}"
    )
