"""Topics and page sessions shared through Redis, with ``redis.asyncio`` (redis-py).

Each topic is a Redis Stream plus a hash holding its epoch and last number.
An entry's stream id is ``<epoch>-<number>``, the epoch being the Redis
clock (ms) when the topic's history started: ids only ever grow, across
epochs too, so a reader that resumes from its last id never skips a new
epoch's first messages. One Lua script numbers and appends a message, so
concurrent publishers in any process keep the order; the stream is trimmed
to the history's count on every append, and both keys expire when the topic
has been idle longer than the history's age (its next message starts a new
epoch). Entries older than the age are not served even while the topic
lives.

Every worker reads all the topics its pages follow with one blocking
``XREAD`` on one connection; a private "wake" stream interrupts it when a new
topic is added. When Redis goes away the reader retries with backoff and,
once back, resumes from the last entry it saw: the hub is given whatever
follows, and finds out from the numbers whether anything was lost.

The session directory (which worker holds which page session) and the
channels through which workers hand each other a page's frames live here
too, used by ``relay.py``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from .brokers import (
    Broker,
    BrokerUnavailable,
    Catchup,
    Cursor,
    Listener,
    TopicEntry,
    TopicHistory,
    catchup_from,
)
from .errors import DashWsError

logger = logging.getLogger("dash_ws")

PREFIX = "dash-ws"

_PUBLISH = """
local now = redis.call('TIME')
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then
    epoch = tostring(now[1] * 1000 + math.floor(now[2] / 1000))
    redis.call('HSET', KEYS[2], 'epoch', epoch)
end
local number = redis.call('HINCRBY', KEYS[2], 'last', 1)
local at = now[1] .. string.format('%06d', now[2])
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], epoch .. '-' .. number, 'd', ARGV[1], 't', at)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {epoch, number}
"""

_READ_BLOCK_MS = 5000
"""How long one ``XREAD`` waits when nothing comes; a new topic wakes it sooner."""

COMMAND_TIMEOUT = 5.0
"""Seconds a Redis command may take before the broker counts Redis as unreachable."""

RETRY_DELAYS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
"""Seconds between attempts to reach Redis again, the last one repeated, with jitter."""


def _require_redis() -> Any:
    try:
        import redis.asyncio as aredis
    except ImportError as error:
        raise DashWsError(
            "websocket_broker='redis://...' needs redis-py: pip install 'dash-ws[redis]'"
        ) from error
    return aredis


def stream_key(topic: str) -> str:
    return f"{PREFIX}:topic:{topic}"


def meta_key(topic: str) -> str:
    return f"{PREFIX}:topic-meta:{topic}"


def _entry(topic: str, stream_id: bytes, fields: dict) -> TopicEntry:
    epoch, _, number = stream_id.decode().partition("-")
    return TopicEntry(
        topic=topic,
        epoch=epoch,
        number=int(number),
        data=fields[b"d"],
        published_at=int(fields[b"t"]) / 1e6,
    )


class RedisBroker(Broker):
    """A broker every process naming the same Redis shares; see the module's docstring."""

    shares_sessions = True

    def __init__(self, url: str, history: TopicHistory) -> None:
        self._aredis = _require_redis()
        self.url = url
        self.history = history
        self._clients: dict[asyncio.AbstractEventLoop, Any] = {}
        self._sync_client: Any = None
        self._lock = threading.Lock()
        self._listeners: dict[str, list[Listener]] = {}
        self._cursors: dict[str, Cursor] = {}
        self._reader: asyncio.Task | None = None
        self._reader_loop: asyncio.AbstractEventLoop | None = None
        self._wake_key = f"{PREFIX}:wake:{secrets.token_hex(8)}"
        self.connected = asyncio.Event()
        """Set while the reader is connected; tests and status wait on it."""

    # ---------------------------------------------------------------- connections

    @property
    def client(self) -> Any:
        """The ``redis.asyncio`` client of the running loop (connections belong to a loop)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._clients.get(loop)
            if client is None:
                for closed in [old for old in self._clients if old.is_closed()]:
                    del self._clients[closed]  # a server served and stopped before
                client = self._clients[loop] = self._connect()
            return client

    def _connect(self, read_timeout: float = COMMAND_TIMEOUT) -> Any:
        """A client whose commands fail after ``read_timeout`` instead of hanging on a Redis
        that stopped answering."""
        return self._aredis.Redis.from_url(
            self.url, socket_timeout=read_timeout, socket_connect_timeout=COMMAND_TIMEOUT
        )

    async def start(self) -> None:
        try:
            await self.client.ping()
        except Exception as error:
            raise BrokerUnavailable(
                f"dash-ws: cannot reach the broker at {_shown(self.url)}: {error}"
            ) from error

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()

    async def call(self, operation: Callable[[Any], Awaitable[Any]]) -> Any:
        """Run ``operation(client)``; an unreachable Redis raises ``BrokerUnavailable``."""
        try:
            return await operation(self.client)
        except (OSError, self._aredis.ConnectionError, self._aredis.TimeoutError) as error:
            raise BrokerUnavailable(
                f"dash-ws: the broker at {_shown(self.url)} is unreachable: {error}"
            ) from error

    # ---------------------------------------------------------------- topics

    def _publish_arguments(self, topic: str, data: bytes) -> tuple[list, list]:
        age_ms = max(1, int(self.history.seconds * 1000))
        keys = [stream_key(topic), meta_key(topic)]
        return keys, [data, self.history.count, age_ms]

    async def publish(self, topic: str, data: bytes) -> Cursor:
        keys, arguments = self._publish_arguments(topic, data)
        epoch, number = await self.call(lambda c: c.eval(_PUBLISH, 2, *keys, *arguments))
        return Cursor(epoch.decode(), int(number))

    def publish_blocking(self, topic: str, data: bytes) -> Cursor:
        import redis

        with self._lock:
            if self._sync_client is None:
                self._sync_client = redis.Redis.from_url(
                    self.url, socket_timeout=COMMAND_TIMEOUT, socket_connect_timeout=COMMAND_TIMEOUT
                )
            client = self._sync_client
        keys, arguments = self._publish_arguments(topic, data)
        try:
            epoch, number = client.eval(_PUBLISH, 2, *keys, *arguments)
        except (OSError, redis.ConnectionError, redis.TimeoutError) as error:
            raise BrokerUnavailable(
                f"dash-ws: the broker at {_shown(self.url)} is unreachable: {error}"
            ) from error
        return Cursor(epoch.decode(), int(number))

    async def head(self, topic: str) -> Cursor:
        meta = await self.call(lambda c: c.hmget(meta_key(topic), "epoch", "last"))
        epoch, last = meta
        return Cursor(epoch.decode() if epoch else "", int(last or 0))

    async def read_after(self, topic: str, cursor: Cursor) -> Catchup:
        async def read(client: Any) -> tuple[list, list]:
            async with client.pipeline(transaction=True) as pipe:
                pipe.hmget(meta_key(topic), "epoch", "last")
                pipe.xrange(stream_key(topic), "-", "+")
                return await pipe.execute()

        (epoch, last), rows = await self.call(read)
        held = [_entry(topic, stream_id, fields) for stream_id, fields in rows]
        held = self._within_age(held)
        return catchup_from(held, cursor, epoch.decode() if epoch else "", int(last or 0))

    def _within_age(self, held: list[TopicEntry]) -> list[TopicEntry]:
        if not held:
            return held
        oldest_kept = held[-1].published_at - self.history.seconds
        return [entry for entry in held if entry.published_at >= oldest_kept]

    # ---------------------------------------------------------------- following topics

    def listen(self, topic: str, listener: Listener, after: Cursor) -> None:
        self._follow_on(asyncio.get_running_loop())
        new_topic = topic not in self._listeners
        self._listeners.setdefault(topic, []).append(listener)
        if new_topic:
            self._cursors.setdefault(topic, after)
            self._include_new_topic()

    def unlisten(self, topic: str, listener: Listener) -> None:
        listeners = self._listeners.get(topic)
        if listeners and listener in listeners:
            listeners.remove(listener)
            if not listeners:
                del self._listeners[topic]
                self._cursors.pop(topic, None)

    def _follow_on(self, loop: asyncio.AbstractEventLoop) -> None:
        """Follow topics from ``loop``: the server's. A server served again in the same
        process (on a new loop) starts afresh; two loops at once cannot share the reader."""
        if self._reader_loop is loop:
            return
        if self._reader_loop is not None and not self._reader_loop.is_closed() and self._listeners:
            raise DashWsError("a Redis broker's topics are followed from one event loop at a time")
        self._reader_loop = loop
        self._reader = None
        self._listeners = {}
        self._cursors = {}
        self.connected = asyncio.Event()

    def _include_new_topic(self) -> None:
        """Start the reader, or wake the one blocked in ``XREAD`` so it reads the new topic."""
        if self._reader is None:
            self._reader = asyncio.ensure_future(self._read_forever())
        else:
            asyncio.ensure_future(self._wake())

    async def _wake(self) -> None:
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.xadd(self._wake_key, {"w": 1}, maxlen=1)
                pipe.pexpire(self._wake_key, _READ_BLOCK_MS * 2)
                await pipe.execute()
        except Exception:  # the reader is reconnecting and will see the topic then
            logger.debug("dash-ws: could not wake the topic reader", exc_info=True)

    async def _read_forever(self) -> None:
        """The worker's one reader: every followed topic, from where it stopped."""
        reader = self._connect(read_timeout=COMMAND_TIMEOUT + _READ_BLOCK_MS / 1000)
        failures = 0
        try:
            while self._listeners:
                try:
                    await self._read_once(reader)
                    failures = 0
                except (OSError, self._aredis.ConnectionError, self._aredis.TimeoutError) as error:
                    self.connected.clear()
                    delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
                    failures += 1
                    if failures == 1:
                        logger.warning(
                            "dash-ws: lost the broker at %s (%s); retrying",
                            _shown(self.url),
                            error,
                        )
                    await asyncio.sleep(delay * random.uniform(0.8, 1.2))
        finally:
            self._reader = None
            self.connected.clear()
            await reader.aclose()

    async def _read_once(self, reader: Any) -> None:
        streams = {stream_key(t): _stream_id(c) for t, c in self._cursors.items()}
        streams[self._wake_key] = "$"
        if not self.connected.is_set():
            await reader.ping()
            self.connected.set()
            logger.info("dash-ws: following %d topics on %s", len(self._cursors), self.url)
        rows = await reader.xread(streams, block=_READ_BLOCK_MS)
        for key, entries in rows or ():
            topic = key.decode().removeprefix(f"{PREFIX}:topic:")
            if topic not in self._listeners:
                continue
            for stream_id, fields in entries:
                entry = _entry(topic, stream_id, fields)
                self._deliver(entry)

    def _deliver(self, entry: TopicEntry) -> None:
        self._cursors[entry.topic] = entry.cursor
        for listener in list(self._listeners.get(entry.topic, ())):
            try:
                listener(entry)
            except Exception:
                logger.exception("dash-ws: a topic listener failed")

    # ---------------------------------------------------------------- sessions across workers

    def pubsub(self) -> Any:
        """A pub/sub connection of its own, for a worker's relay channel.

        It waits for messages as long as none come, so it has no read timeout;
        a Redis that goes away closes it, and the relay reconnects.
        """
        client = self._aredis.Redis.from_url(self.url, socket_connect_timeout=COMMAND_TIMEOUT)
        return client.pubsub(ignore_subscribe_messages=True)


def _stream_id(cursor: Cursor) -> str:
    """The stream id a reader resumes after: everything past ``cursor``."""
    return f"{cursor.epoch}-{cursor.number}" if cursor.epoch else "0-0"


def _shown(url: str) -> str:
    """The URL without its password, for messages and logs."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user + ':***@' if user else '***@'}{host}"
