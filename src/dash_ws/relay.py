"""Any worker serves any page: a page's frames relayed to the worker that holds its session.

A session's callbacks are coroutines and threads in one process; they cannot
move. So when a page's socket comes back to another worker (no sticky
routing), the session stays where it runs and the new worker relays: it
admits the page as it admits any page (origin, the app's own protection,
identity), then passes its frames to the session's worker and the session's
frames back, through Redis pub/sub. The session sees one more transport; its
numbering, replay, outbox and persistent callbacks go on untouched, so the
page resumes with nothing lost and nothing restarted. The price is one Redis
hop each way while the page stays on the other worker; its next reconnect
may land on its session's worker, which serves it directly again.

Where each session lives is a Redis key per session, naming its worker,
refreshed while the session lives and expiring ``resume_grace`` after the
last refresh: a worker that dies leaves nothing behind for longer than that.
A page whose session's worker died finds no session (or no answer) and starts
a new one, which it is told, and its persistent callbacks start again.

Pub/sub delivers at most once, so anything lost on the way is covered by what
the session already does for dropped sockets: the relayed socket closes when
the relay breaks, the page resumes, and the session re-sends what the page
has not acknowledged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import secrets
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.websockets import WebSocket as StarletteWebSocket

from . import protocol
from .handshake import Handshake
from .parts import PartJoiner
from .protocol import CloseCode
from .redis_broker import PREFIX, RETRY_DELAYS, RedisBroker
from .session import quietly

if TYPE_CHECKING:
    from .endpoint import SocketEndpoint
    from .session import PageSession

logger = logging.getLogger("dash_ws")

ANSWER_TIMEOUT = 5.0
"""Seconds a page waits for its session's worker to take it back before starting anew."""

_QUEUED_FRAMES = 1024
"""Frames from the session's worker that may wait for a slow page before it is dropped."""


def session_key(session_id: str) -> str:
    return f"{PREFIX}:session:{session_id}"


def identity_digest(identity: Hashable) -> str:
    """An identity as workers compare it: the same for equal identities in any process."""
    encoded = orjson.dumps(identity, default=repr, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(encoded).hexdigest()


class Relay:
    """This worker's part in serving pages across workers; see the module's docstring."""

    def __init__(self, broker: RedisBroker, endpoint: SocketEndpoint) -> None:
        self.broker = broker
        self.endpoint = endpoint
        self.worker = secrets.token_hex(8)
        self.channel = f"{PREFIX}:relay:{self.worker}"
        self._pages: dict[str, _RelayedPage] = {}
        """Pages on this worker whose session lives on another, by relay id."""
        self._sessions: dict[str, _RemotePage] = {}
        """Sessions on this worker whose page is on another, by relay id."""
        self._tasks: list[asyncio.Task] = []
        self._forgetting: set[asyncio.Future] = set()
        self._questions: dict[str, asyncio.Future] = {}
        """Cookie exchanges asked of other workers, by id, waiting for their answer."""
        self._directory_away = False
        self.listening = asyncio.Event()

    async def start(self) -> None:
        self._tasks = [
            asyncio.ensure_future(self._listen_forever()),
            asyncio.ensure_future(self._refresh_forever()),
        ]
        await asyncio.wait_for(self.listening.wait(), ANSWER_TIMEOUT)

    async def stop(self) -> None:
        """Leave the other workers; the records of sessions that just ended go first."""
        if self._forgetting:
            await asyncio.wait(list(self._forgetting), timeout=ANSWER_TIMEOUT)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    # ---------------------------------------------------------------- the directory

    @property
    def _record_ms(self) -> int:
        return max(1000, int(self.endpoint.limits.resume_grace * 1000))

    async def register(self, session: PageSession) -> None:
        """Say where ``session`` lives, so a page that comes back elsewhere finds it."""
        try:
            await self.broker.call(
                lambda c: c.set(session_key(session.id), self.worker, px=self._record_ms)
            )
            self._directory_away = False
        except ConnectionError:
            if not self._directory_away:
                self._directory_away = True
                logger.warning("dash-ws: the broker is away; new pages can resume here only")

    def forget(self, session: PageSession) -> None:
        forgetting = asyncio.ensure_future(self._forget(session.id))
        self._forgetting.add(forgetting)
        forgetting.add_done_callback(self._forgetting.discard)
        for relay_id, remote in list(self._sessions.items()):
            if remote.session is session:
                del self._sessions[relay_id]

    async def _forget(self, session_id: str) -> None:
        try:
            await self.broker.call(lambda c: c.delete(session_key(session_id)))
        except ConnectionError:
            pass  # the record expires on its own

    async def _refresh_forever(self) -> None:
        """Keep the records of live sessions from expiring; a dead worker's expire."""
        while True:
            await asyncio.sleep(self._record_ms / 3000)
            sessions = [s.id for s in list(self.endpoint.sessions.values()) if s.is_live]
            if not sessions:
                continue

            async def refresh(client: Any, sessions: list[str] = sessions) -> None:
                async with client.pipeline(transaction=False) as pipe:
                    for session_id in sessions:
                        pipe.set(session_key(session_id), self.worker, px=self._record_ms)
                    await pipe.execute()

            try:
                await self.broker.call(refresh)
            except ConnectionError:
                logger.debug("dash-ws: could not refresh session records", exc_info=True)

    # ---------------------------------------------------------------- messages between workers

    async def _send(self, worker: str, message: dict) -> int:
        """Publish ``message`` to ``worker``; the number of workers that heard it (0: gone)."""
        channel = f"{PREFIX}:relay:{worker}"
        return await self.broker.call(lambda c: c.publish(channel, orjson.dumps(message)))

    async def _listen_forever(self) -> None:
        failures = 0
        while True:
            pubsub = self.broker.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                self.listening.set()
                failures = 0
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await self._take(orjson.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning("dash-ws: the relay lost the broker (%s); retrying", error)
            finally:
                self.listening.clear()
                await quietly(pubsub.aclose(), ANSWER_TIMEOUT)
            self._broken()
            await asyncio.sleep(RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)])
            failures += 1

    def page_lost(self, relay_id: str) -> None:
        """The worker a page was on is gone: its session waits for the page, detached."""
        remote = self._sessions.pop(relay_id, None)
        if remote is not None:
            remote.ended(page_left=False)

    def _broken(self) -> None:
        """Messages may have been lost: relayed pages reconnect, remote sessions detach."""
        for page in list(self._pages.values()):
            page.close(CloseCode.SERVICE_RESTART, "the relay to this page's session broke")
        for relay_id, remote in list(self._sessions.items()):
            del self._sessions[relay_id]
            remote.ended(page_left=False)

    async def _take(self, message: dict) -> None:
        kind = message.get("k")
        relay_id = message.get("r", "")
        if kind == "join":
            await self._join(message)
        elif kind == "in":
            remote = self._sessions.get(relay_id)
            if remote is not None:
                remote.take(message["d"])
        elif kind == "end":
            remote = self._sessions.pop(relay_id, None)
            if remote is not None:
                remote.ended(page_left=bool(message.get("left")))
        elif kind in ("out", "close", "refused"):
            page = self._pages.get(relay_id)
            if page is not None:
                page.take(message)
        elif kind == "cookies":
            asyncio.ensure_future(self._answer_cookies(message))
        elif kind == "cookies-answer":
            answer = self._questions.get(relay_id)
            if answer is not None and not answer.done():
                answer.set_result((int(message["status"]), tuple(message["cookies"])))

    # ---------------------------------------------------------------- the session's worker

    async def _join(self, message: dict) -> None:
        """A page on another worker asks to resume a session of this worker."""
        relay_id, worker = message["r"], message["w"]
        session = self.endpoint.sessions.get(message["s"])
        handshake = _handshake_from(message["h"])
        if (
            session is not None
            and identity_digest(session.identity) == message["i"]
            and session.may_resume(message["secret"], session.identity)
        ):
            transport = RemoteTransport(self, worker, relay_id)
            remote = _RemotePage(self.endpoint, session, transport, handshake)
            self._sessions[relay_id] = remote
            if await session.attach(transport, resume_after=message["seen"]):
                session.handshake = handshake
                self.endpoint.resumed(session)
                logger.info("dash-ws: page %s resumed through another worker", session.id[:8])
                return
            del self._sessions[relay_id]
        await quietly(self._send(worker, {"k": "refused", "r": relay_id}), ANSWER_TIMEOUT)

    async def _answer_cookies(self, message: dict) -> None:
        asked = tuple(message["asked"])
        status, cookies = await self.endpoint.cookie_route.exchange(asked, message["cookie"])
        answer = {"k": "cookies-answer", "r": message["r"], "status": status, "cookies": cookies}
        await quietly(self._send(message["w"], answer), ANSWER_TIMEOUT)

    async def cookies_elsewhere(
        self, asked: tuple[str, str, str], cookie_header: str
    ) -> tuple[int, tuple[str, ...]]:
        """A page's cookie exchange (``cookies.py``) for a session of another worker: that
        worker answers it, as for a page whose frames it relays."""
        try:
            owner = await self.broker.call(lambda c: c.get(session_key(asked[0])))
        except ConnectionError:
            return 503, ()
        if owner is None:
            return 404, ()
        question = secrets.token_hex(8)
        answer = asyncio.get_running_loop().create_future()
        self._questions[question] = answer
        message = {"k": "cookies", "r": question, "w": self.worker, "asked": asked}
        message["cookie"] = cookie_header
        try:
            if not await self._send(owner.decode(), message):
                return 404, ()
            return await asyncio.wait_for(answer, ANSWER_TIMEOUT)
        except (ConnectionError, asyncio.TimeoutError):
            return 503, ()
        finally:
            del self._questions[question]

    # ---------------------------------------------------------------- the page's worker

    async def serve(
        self,
        websocket: StarletteWebSocket,
        transport: Any,
        handshake: Handshake,
        identity: Hashable,
        join: protocol.Join,
    ) -> bool:
        """Relay a page whose session lives on another worker; False if there is none to take it.

        True once the page's socket has ended, served all along by the
        session's worker.
        """
        try:
            owner = await self.broker.call(lambda c: c.get(session_key(join.session)))
        except ConnectionError:
            return False
        if owner is None or owner.decode() == self.worker or not self.listening.is_set():
            return False
        owner = owner.decode()
        relay_id = secrets.token_hex(8)
        page = _RelayedPage(transport, self.endpoint.limits.send_timeout)
        self._pages[relay_id] = page
        try:
            heard = await self._send(
                owner,
                {
                    "k": "join",
                    "r": relay_id,
                    "w": self.worker,
                    "s": join.session,
                    "secret": join.secret,
                    "seen": join.seen,
                    "i": identity_digest(identity),
                    "h": dataclasses.asdict(handshake),
                },
            )
            if not heard or not await page.taken_back():
                return False  # the session's worker is gone, or did not take the page
            left = await page.pump(websocket, lambda d: self._send(owner, d), relay_id)
            ended = {"k": "end", "r": relay_id, "left": left}
            await quietly(self._send(owner, ended), ANSWER_TIMEOUT)
            return True
        except ConnectionError:
            page.close(CloseCode.SERVICE_RESTART, "the relay to this page's session broke")
            return True
        finally:
            self._pages.pop(relay_id, None)


class RemoteTransport:
    """A session's socket that is on another worker: frames go there through Redis."""

    def __init__(self, relay: Relay, worker: str, relay_id: str) -> None:
        self._relay = relay
        self._worker = worker
        self._relay_id = relay_id

    async def send(self, frame: bytes) -> None:
        message = {"k": "out", "r": self._relay_id, "d": frame.decode()}
        if not await self._relay._send(self._worker, message):
            self._relay.page_lost(self._relay_id)
            raise ConnectionError("the worker that held this page's socket is gone")

    async def close(self, code: int, reason: str) -> None:
        message = {"k": "close", "r": self._relay_id, "code": code, "reason": reason}
        await self._relay._send(self._worker, message)


class _RemotePage:
    """On the session's worker: the frames of a page that is on another worker."""

    def __init__(
        self,
        endpoint: SocketEndpoint,
        session: PageSession,
        transport: RemoteTransport,
        handshake: Handshake,
    ) -> None:
        self.endpoint = endpoint
        self.session = session
        self.transport = transport
        self.handshake = handshake
        self.joiner = PartJoiner(endpoint.limits.inbound_frame_bytes)

    def take(self, text: str) -> None:
        if self.session.serves(self.transport):
            self.endpoint.take_frame(self.session, self.joiner, text, self.handshake)

    def ended(self, page_left: bool) -> None:
        self.endpoint.release_parts(self.session, self.joiner)
        ending = self.session.socket_ended(self.transport, page_left)
        if ending is not None:
            asyncio.ensure_future(ending)


class _RelayedPage:
    """On the page's worker: its socket, fed with the frames of its session's worker."""

    def __init__(self, transport: Any, send_timeout: float) -> None:
        self.transport = transport
        self.send_timeout = send_timeout
        self._answer: asyncio.Future = asyncio.get_running_loop().create_future()
        self._frames: asyncio.Queue = asyncio.Queue(_QUEUED_FRAMES)
        self._closed = asyncio.Event()

    async def taken_back(self) -> bool:
        """True when the session's worker took the page back (its first frame came)."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._answer), ANSWER_TIMEOUT)
        except asyncio.TimeoutError:
            logger.info("dash-ws: a page's session worker did not answer; new session")
            return False

    def take(self, message: dict) -> None:
        kind = message["k"]
        if kind == "refused":
            if not self._answer.done():
                self._answer.set_result(False)
        elif kind == "out":
            if not self._answer.done():
                self._answer.set_result(True)
            try:
                self._frames.put_nowait(message["d"])
            except asyncio.QueueFull:
                self.close(CloseCode.TOO_SLOW, "client too slow")
        elif kind == "close":
            self.close(int(message["code"]), str(message["reason"]))

    def close(self, code: int, reason: str) -> None:
        if not self._answer.done():
            self._answer.set_result(False)
        if not self._closed.is_set():
            self._closed.set()
            asyncio.ensure_future(quietly(self.transport.close(code, reason), self.send_timeout))

    async def pump(self, websocket: StarletteWebSocket, send: Any, relay_id: str) -> bool:
        """Move frames both ways until the page's socket ends; True if the page left."""
        writer = asyncio.ensure_future(self._write())
        try:
            while True:
                event = await websocket.receive()
                if event["type"] == "websocket.disconnect":
                    return event.get("code", 1000) in protocol.PAGE_LEFT_CODES
                text = event.get("text")
                if text is None:
                    text = (event.get("bytes") or b"").decode("utf-8", "replace")
                await send({"k": "in", "r": relay_id, "d": text})
        finally:
            writer.cancel()

    async def _write(self) -> None:
        while True:
            frame = await self._frames.get()
            try:
                await asyncio.wait_for(self.transport.send(frame.encode()), self.send_timeout)
            except asyncio.TimeoutError:
                self.close(CloseCode.TOO_SLOW, "client too slow")
                return
            except Exception:
                return  # the page is gone; its socket's end is reported by pump


def _handshake_from(fields: dict) -> Handshake:
    return Handshake(
        headers=tuple(tuple(pair) for pair in fields["headers"]),
        scheme=fields["scheme"],
        server=tuple(fields["server"]) if fields["server"] else None,
        client=tuple(fields["client"]) if fields["client"] else None,
        root_path=fields["root_path"],
        path=fields["path"],
        query_string=fields["query_string"],
    )
