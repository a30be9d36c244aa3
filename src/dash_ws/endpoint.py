"""The socket endpoint: admit a page, then move its messages between socket and session.

Admission checks, in order: protocol version, origin, the app's own HTTP
protection. A refused page is accepted only to be closed with a code and a
reason it can show in its console (a refusal before ``accept`` reaches the
browser as a bare HTTP 403). After admission, every frame is parsed by
``protocol``; a bad frame is answered with an ``error`` message and the
socket stays open.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

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
    """ASGI handler for ``<prefix>_dash-ws/socket``."""

    executor: CallbackExecutor
    limits: SessionLimits
    allowed_origins: tuple[str, ...]

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
        session = PageSession(_StarletteTransport(websocket), self.limits)
        try:
            await self._serve(websocket, handshake, session)
        finally:
            await session.shutdown()

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
    ) -> None:
        persistent_started = False
        while True:
            event = await websocket.receive()
            if event["type"] == "websocket.disconnect":
                return
            raw = event.get("text")
            if raw is None:
                raw = event.get("bytes") or b""
            try:
                message = protocol.parse_inbound(raw, self.limits.inbound_message_bytes)
            except ProtocolError as error:
                logger.info("dash-ws: refused a message from %s: %s", _peer(handshake), error)
                session.send_message(protocol.error_message(str(error)))
                continue
            if isinstance(message, protocol.Ping):
                session.send_message(protocol.PONG)
                continue
            session.touch()
            if isinstance(message, protocol.Call):
                self.executor.start_call(session, handshake, message)
            elif isinstance(message, protocol.PropReply):
                if not session.answer_read(message):
                    session.send_message(
                        protocol.error_message(f"no get_prop is waiting for reply {message.request_id}")
                    )
            elif isinstance(message, protocol.Ready) and not persistent_started:
                persistent_started = True
                self.executor.start_persistent(session, handshake)


def _peer(handshake: Handshake) -> str:
    return f"{handshake.client[0]}:{handshake.client[1]}" if handshake.client else "unknown peer"
