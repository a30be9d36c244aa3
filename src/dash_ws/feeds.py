"""``@feed(topic, Output(...))``: one topic streamed to every page, rendered once per worker.

The spec's live-data pattern runs one loop per page: a thousand viewers of
one price cost a thousand loops and a thousand encodes of the same value. A
feed is declared once for the app instead. Its function turns a topic message
into the outputs' values, as a callback would; it runs once per message on
each worker, its values are encoded once, and the same bytes go to every
page, which receives them as ``set_props``.

Each page keeps its place in each feed (a ``Cursor``). While the page is
away its place stays put; when it resumes, on this worker or through another
(``relay.py``), it gets what it missed from the feed's recent renderings, in
order, once. When those no longer reach back to its place, the page is told
(a ``gap`` message in its console and a ``dash-ws-gap`` DOM event) and, if
the feed has an ``on_gap`` function, gets its values: the whole state to
start again from, as Centrifugo's "recovered: false" asks of a client.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dash

from . import protocol
from .brokers import Cursor, TopicEntry
from .errors import UnsupportedDash
from .outbox import SetMessage
from .topics import TopicHub, decoded

if TYPE_CHECKING:
    from .execution import CallbackExecutor
    from .session import PageSession

logger = logging.getLogger("dash_ws")


@dataclass(frozen=True)
class Feed:
    """A topic, the outputs it feeds, and how a message becomes their values."""

    topic: str
    outputs: tuple[Any, ...]
    render: Callable[[Any], Any]
    on_gap: Callable[[], Any] | None = None

    @property
    def name(self) -> str:
        return f"{self.topic} -> {getattr(self.render, '__qualname__', 'render')}"


@dataclass(frozen=True)
class Rendered:
    """One message's outputs, encoded once, as the ``set`` messages every page gets."""

    cursor: Cursor
    sets: tuple[SetMessage, ...]

    @property
    def has_patches(self) -> bool:
        return any(message.patched for message in self.sets)


def collapsed(renderings: list[Rendered]) -> list[Rendered]:
    """What a page that is at the first of ``renderings`` needs to see the last.

    Without a ``Patch`` among them, a prop's newest value is all it needs (its
    outbox would replace the older ones anyway): one rendering, made once for
    every page. Patches change what came before, so then each is needed.
    """
    if len(renderings) < 2 or any(r.has_patches for r in renderings):
        return renderings
    newest: dict[bytes, dict[str, bytes]] = {}
    for rendering in renderings:
        for message in rendering.sets:
            newest.setdefault(message.component, {}).update(message.props)
    sets = tuple(SetMessage(component, props) for component, props in newest.items())
    return [Rendered(renderings[-1].cursor, sets)]


def encode_outputs(outputs: Sequence[Any], values: Any) -> tuple[SetMessage, ...]:
    """The ``set`` messages of ``values`` for ``outputs``, one per component; ``no_update``
    values are left out, as Dash leaves them out of a callback's answer."""
    if len(outputs) == 1:
        values = [values]
    elif not isinstance(values, (list, tuple)) or len(values) != len(outputs):
        raise ValueError(f"a feed with {len(outputs)} outputs returns that many values")
    grouped: dict[bytes, dict[str, bytes]] = {}
    for output, value in zip(outputs, values):
        if value is dash.no_update:
            continue
        component = protocol.encode_component_id(output.component_id)
        grouped.setdefault(component, {})[output.component_property] = protocol.encode_value(value)
    return tuple(
        SetMessage(component, props, protocol.patched_props(props))
        for component, props in grouped.items()
    )


@dataclass
class FeedRunner:
    """One feed on one worker: renders each message once, hands it to every page."""

    feed: Feed
    hub: TopicHub
    executor: CallbackExecutor
    keep: int
    """Renderings kept for pages that resume: the topic history's count."""
    streams_patches: bool = True
    """False on a Dash whose renderer cannot apply a streamed ``Patch`` (before 3.3)."""
    pages: set[PageSession] = field(default_factory=set)
    """The pages this feed streams to: every page of the worker that has rendered."""
    recent: deque[Rendered] = field(init=False)
    """The latest renderings, for pages that resume."""
    position: Cursor = field(default=Cursor(), init=False)
    """The last message of the topic this runner has handled."""
    _queue: asyncio.Queue = field(default_factory=asyncio.Queue, init=False)
    _task: asyncio.Task | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.recent = deque(maxlen=self.keep)

    def __hash__(self) -> int:
        return id(self)

    async def start(self) -> None:
        """Follow the topic on this worker, before any page joins."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())
            await self.hub.follow(self.feed.topic, self)
            self.position = self.hub.position(self.feed.topic)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
            self.hub.unfollow(self.feed.topic, self)

    def add(self, session: PageSession) -> None:
        """Stream this feed to ``session`` from now on."""
        session.feed_cursors[self.feed.topic] = self.position
        self.pages.add(session)

    def remove(self, session: PageSession) -> None:
        self.pages.discard(session)

    def receive(self, entries: list[TopicEntry], gap: bool) -> None:
        self._queue.put_nowait((entries, gap, None))

    def resumed(self, session: PageSession) -> None:
        """``session``'s page is back: it gets what it missed, in line with what comes next."""
        if session in self.pages:
            self._queue.put_nowait(([], False, session))

    async def _run(self) -> None:
        """Handle, in order, messages and pages that resumed.

        Messages that arrived while the last ones went out are rendered one by
        one (pages that resume need each) but go out together: a worker whose
        pages take longer to serve than messages take to come sends the
        newest state, later, instead of falling further behind.
        """
        while True:
            waiting = [await self._queue.get()]
            while not self._queue.empty():
                waiting.append(self._queue.get_nowait())
            fresh: list[Rendered] = []
            for entries, gap, resumed in waiting:
                try:
                    if resumed is None and not gap:
                        fresh += [await self._render(entry) for entry in entries]
                        continue
                    self._fan_out(fresh)
                    fresh = []
                    if resumed is not None:
                        await self._catch_up(resumed)
                    else:
                        await self._gap_for_all(entries)
                        fresh = [await self._render(entry) for entry in entries]
                except Exception:
                    logger.exception("dash-ws: feed %s failed", self.feed.name)
            self._fan_out(fresh)

    async def _gap_for_all(self, entries: list[TopicEntry]) -> None:
        """The topic lost messages: every page is told, and brought back (``on_gap``)."""
        # What pages are brought back to comes before the entries that follow.
        self.recent.clear()
        if entries:
            self.position = Cursor(entries[0].epoch, entries[0].number - 1)
        else:
            self.position = self.hub.position(self.feed.topic)
        for session in list(self.pages):
            if session.is_attached:
                await self._gap(session)

    def _fan_out(self, fresh: list[Rendered]) -> None:
        """Keep ``fresh`` for pages that resume, and send it to every page that is here."""
        if not fresh:
            return
        before, self.position = self.position, fresh[-1].cursor
        self.recent.extend(fresh)
        sent = collapsed(fresh)
        for session in list(self.pages):
            # A page that is behind has resumed and its catch-up waits in the queue:
            # these messages reach it from there, after what it missed.
            if session.is_attached and session.feed_cursors.get(self.feed.topic) == before:
                for rendered in sent:
                    self._send(session, rendered)

    async def _render(self, entry: TopicEntry) -> Rendered:
        try:
            values = await self._call(self.feed.render, decoded(entry))
            return Rendered(entry.cursor, self._encoded(values))
        except Exception:
            logger.exception(
                "dash-ws: feed %s could not render message %d", self.feed.name, entry.number
            )
            return Rendered(entry.cursor, ())  # keeps the place of pages that follow

    def _encoded(self, values: Any) -> tuple:
        sets = encode_outputs(self.feed.outputs, values)
        if not self.streams_patches and any(message.patched for message in sets):
            raise UnsupportedDash(
                "streaming a Patch needs dash>=3.3: this Dash's renderer would replace the "
                "prop with the patch; return the whole value or pip install 'dash>=3.3'"
            )
        return sets

    async def _call(self, function: Callable, *args: Any) -> Any:
        if asyncio.iscoroutinefunction(function):
            return await function(*args)
        return await self.executor.in_thread(function, *args)

    def _send(self, session: PageSession, rendered: Rendered) -> None:
        for message in rendered.sets:
            session.delivery.queue_set_message(message)
        session.feed_cursors[self.feed.topic] = rendered.cursor

    async def _catch_up(self, session: PageSession) -> None:
        """Send what the page missed while away, or tell it of the gap."""
        place = session.feed_cursors.get(self.feed.topic, Cursor())
        missed = [r for r in self.recent if _after(r.cursor, place)]
        reaches_back = place == self.position or (
            bool(missed)
            and missed[0].cursor.epoch == place.epoch
            and missed[0].cursor.number == place.number + 1
        )
        if reaches_back:
            for rendered in missed:
                self._send(session, rendered)
            return
        await self._gap(session)
        if self.feed.on_gap is None:
            for rendered in self.recent:
                self._send(session, rendered)

    async def _gap(self, session: PageSession) -> None:
        session.send_message(protocol.dumps({"type": "gap", "topic": self.feed.topic}))
        session.feed_cursors[self.feed.topic] = self.position
        if self.feed.on_gap is None:
            return
        try:
            values = await self._call(self.feed.on_gap)
            sets = self._encoded(values)
        except Exception:
            logger.exception("dash-ws: on_gap of feed %s failed", self.feed.name)
            return
        for message in sets:
            session.delivery.queue_set_message(message)


def _after(cursor: Cursor, place: Cursor) -> bool:
    return cursor.epoch != place.epoch or cursor.number > place.number
