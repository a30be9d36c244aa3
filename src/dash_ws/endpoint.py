"""The socket endpoint: admit a page, then move its messages between socket and session.

Admission checks, in order: protocol version, origin, the app's own HTTP
protection. A refused page is accepted only to be closed with a code and a
reason it can show in its console (a refusal before ``accept`` reaches the
browser as a bare HTTP 403). An admitted page either resumes the session it
names (after a drop) or starts a new one. Every frame is then parsed by
``protocol``; a bad frame is answered with an ``error`` message and the
socket stays open. When the socket ends, the session ends with it if the
page left on purpose or the server closed it, and is detached, waiting for
the page to come back, if the connection merely dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from starlette.websockets import WebSocket as StarletteWebSocket

from . import protocol
from .callbacks import CallbackExecutor
from .errors import ProtocolError
from .handshake import Handshake, origin_allowed
from .protocol import CloseCode
from .session import PageSession, SessionLimits

logger = logging.getLogger("dash_ws")


class _StarletteTransport:
    def __init__(self, websocket: StarletteWebSocket) -> None:
        self._websocket = websocket

    async def send(self, frame: bytes) -> None:
        await self._websocket.send({"type": "websocket.send", "text": frame.decode()})

    async def close(self, code: int, reason: str) -> None:
        await self._websocket.close(code, reason)


@dataclass
class SocketEndpoint:
    """ASGI handler for ``<prefix>_dash-ws/socket``; keeps the sessions of this process."""

    executor: CallbackExecutor
    limits: SessionLimits
    allowed_origins: tuple[str, ...]
    sessions: dict[str, PageSession] = field(default_factory=dict)

    async def __call__(self, scope: dict, receive, send) -> None:
        websocket = StarletteWebSocket(scope, receive, send)
        handshake = Handshake.from_scope(scope)
        refusal = await self._refusal(websocket, handshake)
        await websocket.accept()
        if refusal is not None:
            code, reason = refusal
            logger.warning("dash-ws: refused a page from %s: %s", _peer(handshake), reason)
            await websocket.close(code, reason)
            return
        transport = _StarletteTransport(websocket)
        session = await self._resume(websocket, transport)
        if session is None:
            session = PageSession(self.limits, on_end=self._forget)
            self.sessions[session.id] = session
            await session.attach(transport, resume_after=None)
        page_left = await self._serve(websocket, handshake, session)
        if session.close_code is not None:
            await session.shutdown()
        elif not session.serves(transport):
            return  # a half-open socket ending after the page resumed on a new one
        elif page_left:
            await session.shutdown()
        else:
            session.detach()

    async def _resume(
        self, websocket: StarletteWebSocket, transport: _StarletteTransport
    ) -> PageSession | None:
        """The session the page asks to resume, attached to this socket, if it can be."""
        session = self.sessions.get(websocket.query_params.get("session", ""))
        seen = websocket.query_params.get("seen", "")
        if session is None or session.close_code is not None or not seen.isdigit():
            return None
        if not session.is_detached:  # the old socket is half-open and not noticed yet
            session.detach()
        if await session.attach(transport, resume_after=int(seen)):
            logger.info("dash-ws: page %s resumed its session", session.id[:8])
            return session
        return None

    def _forget(self, session: PageSession) -> None:
        self.sessions.pop(session.id, None)

    async def _refusal(
        self, websocket: StarletteWebSocket, handshake: Handshake
    ) -> tuple[int, str] | None:
        version = websocket.query_params.get("v")
        if version != str(protocol.VERSION):
            return CloseCode.UNSUPPORTED_VERSION, (
                f"protocol version {version!r} is not supported; the server speaks "
                f"{protocol.VERSION} (reload the page)"
            )
        if not origin_allowed(handshake, self.allowed_origins):
            return CloseCode.FORBIDDEN_ORIGIN, (
                f"origin {handshake.header('origin')} is not allowed; add it to "
                "websocket_allowed_origins"
            )
        rejection = await self.executor.in_thread(self.executor.backend.authorize, handshake)
        if rejection is not None:
            return CloseCode.UNAUTHORIZED, rejection.reason
        return None

    async def _serve(
        self, websocket: StarletteWebSocket, handshake: Handshake, session: PageSession
    ) -> bool:
        """Handle the page's messages until its socket ends; True if the page left on purpose."""
        while True:
            event = await websocket.receive()
            if event["type"] == "websocket.disconnect":
                return event.get("code", 1000) in _PAGE_LEFT
            session.heard()
            raw = event.get("text")
            if raw is None:
                raw = event.get("bytes") or b""
            try:
                message = protocol.parse_inbound(raw, self.limits.inbound_message_bytes)
            except ProtocolError as error:
                logger.info("dash-ws: refused a message from %s: %s", _peer(handshake), error)
                session.send_message(protocol.error_message(str(error)))
                continue
            self._handle(session, handshake, message)

    def _handle(
        self, session: PageSession, handshake: Handshake, message: protocol.InboundMessage
    ) -> None:
        if isinstance(message, protocol.Ping):
            session.send_control(protocol.PONG)
        elif isinstance(message, protocol.Ack):
            session.acknowledge(message.number)
        elif isinstance(message, protocol.Call):
            session.touch()
            if not session.is_new_call(message.call_id):
                return
            limit = self.limits.max_running_calls
            if len(session.running_calls) >= limit:
                refusal = f"too many callbacks in flight for this page (limit {limit})".encode()
                session.send_message(
                    protocol.result_message(message.call_id, 429, "text/plain", refusal)
                )
                return
            self.executor.start_call(session, handshake, message)
        elif isinstance(message, protocol.PropReply):
            session.touch()
            if not session.answer_read(message):
                session.send_message(
                    protocol.error_message(f"no get_prop is waiting for reply {message.request_id}")
                )
        elif isinstance(message, protocol.Ready) and not session.persistent_started:
            session.persistent_started = True
            self.executor.start_persistent(session, handshake)


# Close codes a page sends when it goes away on purpose (closed, reloaded, navigated).
_PAGE_LEFT = frozenset({1000, 1001})


def _peer(handshake: Handshake) -> str:
    return f"{handshake.client[0]}:{handshake.client[1]}" if handshake.client else "unknown peer"
