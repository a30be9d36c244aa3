"""The dash-ws wire protocol, free of I/O.

Every frame is JSON text. The browser sends one message per frame; the server
sends a JSON array of one or more messages per frame, so that a burst of
updates leaves in one write. The server numbers its messages (``n``) so a
page that reconnects can say what it has seen and get the rest.
docs/protocol.md describes each message; this module is the single place
that parses what the browser sends and writes what the server sends, so both
halves can be tested without a socket.

Prop values are encoded once, by the caller, with Dash's own JSON encoder
(see ``encode_value``); the envelopes here splice those encoded fragments in
without parsing them again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Union

import orjson
from plotly.io.json import to_json_plotly

from .errors import ProtocolError

VERSION = 1
"""Bumped whenever a message changes shape; the browser sends it on connect."""

ComponentId = Union[str, dict]


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server uses, with the reason the page shows."""

    NORMAL = 1000
    GOING_AWAY = 1001
    UNAUTHORIZED = 4001
    INACTIVE = 4002
    FORBIDDEN_ORIGIN = 4003
    TOO_SLOW = 4008
    UNSUPPORTED_VERSION = 4400


# ---------------------------------------------------------------- browser -> server


@dataclass(frozen=True)
class Ready:
    """The page has rendered its layout: persistent callbacks may start."""


@dataclass(frozen=True)
class Call:
    """Run a callback: the body, query string and headers of the renderer's POST."""

    call_id: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)
    query: str = ""


@dataclass(frozen=True)
class PropReply:
    """The browser's answer to a ``get`` request."""

    request_id: int
    found: bool
    value: Any = None


@dataclass(frozen=True)
class Ping:
    """Liveness probe; answered with ``pong``."""


@dataclass(frozen=True)
class Ack:
    """The page has received every numbered message up to ``number``."""

    number: int


InboundMessage = Union[Ready, Call, PropReply, Ping, Ack]


def parse_inbound(frame: str | bytes, max_size: int) -> InboundMessage:
    """Validate one browser frame and return the message it holds.

    Raises ``ProtocolError`` with a message meant for the page's console; the
    connection stays open after any of them.
    """
    if len(frame) > max_size:
        raise ProtocolError(f"message of {len(frame)} bytes exceeds the limit of {max_size} bytes")
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"malformed JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a JSON object")
    kind = message.get("type")
    if kind == "call":
        body = message.get("body")
        if not isinstance(body, dict) or not isinstance(body.get("output"), str):
            raise ProtocolError("call needs a body object with an 'output' string")
        headers = message.get("headers") or {}
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ProtocolError("call headers must map strings to strings")
        query = message.get("query") or ""
        if not isinstance(query, str):
            raise ProtocolError("call query must be a string")
        return Call(_request_id(message), body, headers, query)
    if kind == "prop":
        return PropReply(_request_id(message), bool(message.get("found")), message.get("value"))
    if kind == "ack":
        number = message.get("n")
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise ProtocolError("ack needs a non-negative integer 'n'")
        return Ack(number)
    if kind == "ready":
        return Ready()
    if kind == "ping":
        return Ping()
    raise ProtocolError(f"unknown message type {kind!r}")


def _request_id(message: dict) -> int:
    request_id = message.get("id")
    if not isinstance(request_id, int) or isinstance(request_id, bool):
        raise ProtocolError(f"{message['type']} needs an integer 'id'")
    return request_id


# ---------------------------------------------------------------- server -> browser


def encode_value(value: Any) -> bytes:
    """Encode a prop value exactly as Dash encodes callback outputs."""
    return to_json_plotly(value).encode()


def encode_component_id(component_id: ComponentId) -> bytes:
    return orjson.dumps(component_id, option=orjson.OPT_SORT_KEYS)


def set_message(component: bytes, props: dict[str, bytes]) -> bytes:
    """``set``: apply props to a component; values are pre-encoded fragments."""
    encoded_props = b",".join(orjson.dumps(name) + b":" + value for name, value in props.items())
    return b'{"type":"set","component":' + component + b',"props":{' + encoded_props + b"}}"


def result_message(call_id: int, status: int, content_type: str, body: bytes) -> bytes:
    """``result``: the HTTP response Dash produced for a ``call``."""
    return orjson.dumps(
        {
            "type": "result",
            "id": call_id,
            "status": status,
            "content_type": content_type,
            "body": body.decode("utf-8", errors="replace"),
        }
    )


def get_message(request_id: int, component: bytes, prop: str) -> bytes:
    """``get``: ask the page for the current value of one prop."""
    return (
        b'{"type":"get","id":'
        + str(request_id).encode()
        + b',"component":'
        + component
        + b',"prop":'
        + orjson.dumps(prop)
        + b"}"
    )


def hello_message(session_id: str, resumed: bool) -> bytes:
    """``hello``: first message on every socket; names the session, says if it resumed."""
    return orjson.dumps({"type": "hello", "session": session_id, "resumed": resumed})


def error_message(message: str) -> bytes:
    """``error``: a browser message was refused; the page logs it."""
    return orjson.dumps({"type": "error", "message": message})


PONG = b'{"type":"pong"}'


def frame(messages: list[bytes]) -> bytes:
    """Join pre-encoded messages into one server frame."""
    return b"[" + b",".join(messages) + b"]"
