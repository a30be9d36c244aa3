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
import functools
import re
from dataclasses import dataclass, field
from typing import Any, Union

import orjson
from plotly.io.json import config as json_config
from plotly.io.json import to_json_plotly

from .errors import ProtocolError, RefusedMessage

VERSION = 2
"""Bumped whenever a message changes shape; the browser sends it on connect."""

MAX_CLOSE_REASON_BYTES = 123
"""RFC 6455: a close frame's payload is at most 125 bytes, two of them the code."""

_MAX_ID = 2**53
"""Ids and message numbers stay below this, the largest integer JavaScript counts exactly."""

MESSAGE_ENVELOPE_BYTES = 64 * 1024
"""What a call frame carries besides its body: type, id, headers, query."""

_MAX_TOKEN_CHARS = 256
"""Session ids and secrets are far shorter; anything longer is not one."""

ComponentId = Union[str, dict]


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server uses, with the reason the page shows."""

    NORMAL = 1000
    GOING_AWAY = 1001
    NO_HEARTBEAT = 1011
    SERVICE_RESTART = 1012
    UNAUTHORIZED = 4001
    INACTIVE = 4002
    FORBIDDEN_ORIGIN = 4003
    TOO_SLOW = 4008
    UNSUPPORTED_VERSION = 4400


PAGE_LEFT_CODES = frozenset({CloseCode.NORMAL, CloseCode.GOING_AWAY})
"""Close codes a page sends when it goes away on purpose (closed, reloaded, navigated)."""


def close_reason(reason: str) -> str:
    """``reason`` cut to fit a close frame, on a character boundary."""
    encoded = reason.encode()
    if len(encoded) <= MAX_CLOSE_REASON_BYTES:
        return reason
    return encoded[: MAX_CLOSE_REASON_BYTES - 3].decode(errors="ignore") + "..."


# ---------------------------------------------------------------- browser -> server


@dataclass(frozen=True)
class Join:
    """First message on every socket: start a session, or resume the one named.

    The session id and its secret travel here, never in the socket's URL,
    which proxies and access logs record.
    """

    session: str | None = None
    secret: str | None = None
    seen: int = 0

    @property
    def resumes(self) -> bool:
        return self.session is not None


@dataclass(frozen=True)
class Ready:
    """The page has rendered its layout: persistent callbacks may start."""


@dataclass(frozen=True)
class Call:
    """Run a callback: the body, query string and headers of the renderer's POST.

    ``body`` is the renderer's JSON text, kept as bytes and never parsed
    here: the app parses it once, as it would over HTTP, and a large upload
    costs the server one copy while its callback runs.
    """

    call_id: int
    output: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    query: str = ""


@dataclass(frozen=True)
class PropReply:
    """The browser's answer to a ``get`` request."""

    request_id: int
    found: bool
    value: Any = None


@dataclass(frozen=True)
class Part:
    """A piece of a long message's text; the message is whole at the part with ``more`` false."""

    data: str
    more: bool


@dataclass(frozen=True)
class Ping:
    """Liveness probe; answered with ``pong``."""


@dataclass(frozen=True)
class Ack:
    """The page has received every numbered message up to ``number``."""

    number: int


InboundMessage = Union[Join, Ready, Call, PropReply, Ping, Ack, Part]


def utf8_size(text: str | bytes) -> int:
    """Bytes of ``text`` on the wire: a limit in bytes must not count characters."""
    if isinstance(text, bytes) or text.isascii():
        return len(text)
    return len(text.encode("utf-8", errors="surrogatepass"))


def parse_inbound(frame: str | bytes, max_size: int) -> InboundMessage:
    """Validate one browser frame and return the message it holds.

    Raises ``ProtocolError`` with a message meant for the page's console; the
    connection stays open after any of them.
    """
    size = utf8_size(frame)
    if size > max_size:
        raise RefusedMessage(
            f"message of {size} bytes exceeds the limit of {max_size} bytes "
            "(websocket_max_message_bytes)",
            call_id_of_head(frame),
        )
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"malformed JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a JSON object")
    kind = message.get("type")
    parse = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parse is None:
        raise ProtocolError(f"unknown message type {_shown(kind)}")
    return parse(message)


_CALL_HEAD = re.compile(rb'\{\s*"type"\s*:\s*"call"\s*,\s*"id"\s*:\s*(\d{1,16})\s*[,}]')


def call_id_of_head(frame: str | bytes) -> int | None:
    """The id of a call refused unread, from its head as the clients write it.

    The call can then be answered (413, 503) like any other, without parsing the rest.
    """
    head = frame[:128]
    found = _CALL_HEAD.match(head.encode() if isinstance(head, str) else head)
    if found is None:
        return None
    call_id = int(found.group(1))
    return call_id if 0 < call_id < _MAX_ID else None


def _parse_call(message: dict) -> Call:
    body = message.get("body")
    if not isinstance(body, str):
        raise ProtocolError("call needs a 'body' string: the renderer's JSON text")
    output = _output_of(body)
    headers = message.get("headers", {})
    if not isinstance(headers, dict) or not all(
        _is_header_name(k) and _is_header_value(v) for k, v in headers.items()
    ):
        raise ProtocolError("call headers must map header names to Latin-1 strings")
    query = message.get("query", "")
    if not isinstance(query, str) or not _QUERY.fullmatch(query):
        raise ProtocolError("call query must be a string of printable ASCII (percent-encoded)")
    # orjson refuses lone surrogates, so every string it gives encodes to UTF-8.
    return Call(_positive_int(message, "id"), output, body.encode(), headers, query)


def _output_of(body: str) -> str:
    """The output a call body names: what the app will run, so what decides where it runs.

    Read from the body itself, never from a field beside it that could name
    another callback (a sync one to be run on the event loop, say).
    """
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"call body is malformed JSON: {exc}") from None
    output = parsed.get("output") if isinstance(parsed, dict) else None
    if not isinstance(output, str):
        raise ProtocolError("call body must be a JSON object with an 'output' string")
    return output


def _parse_prop(message: dict) -> PropReply:
    found = message.get("found")
    if not isinstance(found, bool):
        raise ProtocolError("prop needs a boolean 'found'")
    return PropReply(_positive_int(message, "id"), found, message.get("value"))


def _parse_ack(message: dict) -> Ack:
    return Ack(_count(message, "n"))


def _parse_join(message: dict) -> Join:
    session = message.get("session")
    if session is None:
        return Join()
    secret = message.get("secret")
    if not (_is_token(session) and _is_token(secret)):
        raise ProtocolError("join needs 'session' and 'secret' strings to resume a session")
    return Join(session, secret, _count(message, "seen"))


def _positive_int(message: dict, name: str) -> int:
    value = message.get(name)
    if not _is_int(value) or not 0 < value < _MAX_ID:
        raise ProtocolError(f"{message['type']} needs a positive integer {name!r}")
    return value


def _count(message: dict, name: str) -> int:
    value = message.get(name)
    if not _is_int(value) or not 0 <= value < _MAX_ID:
        raise ProtocolError(f"{message['type']} needs a non-negative integer {name!r}")
    return value


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_QUERY = re.compile(r"[\x21-\x7e]*")


def _is_header_name(value: Any) -> bool:
    """An HTTP token (RFC 9110), what a server accepts as a header name."""
    return isinstance(value, str) and _HEADER_NAME.fullmatch(value) is not None


def _is_header_value(value: Any) -> bool:
    """Latin-1 text without control characters, what WSGI and ASGI can carry."""
    return isinstance(value, str) and _HEADER_VALUE.fullmatch(value) is not None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_token(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _MAX_TOKEN_CHARS


def _shown(value: Any) -> str:
    """A short rendering of a value the page sent, for an error message.

    Only a string is shown; anything else by its JSON type, since rendering a
    structure the page chose (nested a thousand deep, say) costs what it wants.
    """
    if not isinstance(value, str):
        return f"of JSON type {_JSON_TYPES.get(type(value), 'value')}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_JSON_TYPES = {
    dict: "object",
    list: "array",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def _parse_part(message: dict) -> Part:
    data, more = message.get("data"), message.get("more")
    if not (isinstance(data, str) and isinstance(more, bool)):
        raise ProtocolError("part needs a 'data' string and a 'more' boolean")
    return Part(data, more)


_PARSERS = {
    "call": _parse_call,
    "part": _parse_part,
    "prop": _parse_prop,
    "ack": _parse_ack,
    "join": _parse_join,
    "ready": lambda message: Ready(),
    "ping": lambda message: Ping(),
}


# ---------------------------------------------------------------- server -> browser


def encode_value(value: Any) -> bytes:
    """Encode a prop value exactly as Dash encodes callback outputs.

    Dash's encoder (plotly's ``to_json_plotly``) first tries orjson with
    these options and escapes what is unsafe inside HTML; a value orjson
    takes (text, numbers, lists, dicts, numpy arrays) is encoded here the
    same way without the encoder's per-call set-up. Anything else
    (components, figures, ``Patch``) goes to Dash's encoder.
    """
    if json_config.default_engine in ("auto", "orjson"):
        try:
            encoded = dumps(value, option=_PLOTLY_ORJSON_OPTIONS)
        except TypeError:
            pass
        else:
            for unsafe, escaped in _HTML_UNSAFE:
                if unsafe in encoded:
                    encoded = encoded.replace(unsafe, escaped)
            return encoded
    return to_json_plotly(value).encode()


_PLOTLY_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_HTML_UNSAFE = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"/", b"\\u002f"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)
"""What plotly's encoder escapes in JSON made by orjson, in its order."""


def dumps(value: Any, option: int = 0) -> bytes:
    """``orjson.dumps`` in a bytes object of its own size.

    orjson hands back its 4 KiB working buffer however short the JSON is; a
    message kept for replay, or a value or component id kept for the page,
    would hold 4 KiB of memory each.
    """
    return memoryview(orjson.dumps(value, option=option)).tobytes()


def encode_component_id(component_id: ComponentId) -> bytes:
    if isinstance(component_id, str):
        return encode_name(component_id)
    return dumps(component_id, option=orjson.OPT_SORT_KEYS)


@functools.lru_cache(maxsize=4096)
def encode_name(name: str) -> bytes:
    """A component id or prop name as JSON, encoded once: updates name the same few."""
    return dumps(name)


def set_message(component: bytes, props: dict[str, bytes]) -> bytes:
    """``set``: apply props to a component; values are pre-encoded fragments."""
    encoded_props = b",".join(encode_name(name) + b":" + value for name, value in props.items())
    return b'{"type":"set","component":' + component + b',"props":{' + encoded_props + b"}}"


def result_message(
    call_id: int, status: int, content_type: str, body: bytes, cookies: str | None = None
) -> bytes:
    """``result``: the HTTP response Dash produced for a ``call``.

    ``cookies`` names the ``Set-Cookie`` headers the response had, which the
    page fetches over HTTP before it takes the result.
    """
    message = {
        "type": "result",
        "id": call_id,
        "status": status,
        "content_type": content_type,
        "body": body.decode("utf-8", errors="replace"),
    }
    if cookies is not None:
        message["cookies"] = cookies
    return dumps(message)


def get_message(
    request_id: int, component: bytes, prop: str, path: tuple[str | int, ...] = ()
) -> bytes:
    """``get``: ask the page for the current value of one prop, or the part at ``path``."""
    located = b',"path":' + dumps(list(path)) if path else b""
    return (
        b'{"type":"get","id":'
        + str(request_id).encode()
        + b',"component":'
        + component
        + b',"prop":'
        + encode_name(prop)
        + located
        + b"}"
    )


def prop_path(path: Any) -> tuple[str | int, ...]:
    """A ``get_prop`` path checked: keys (str) and indices (int), as ``Patch`` locates them.

    ``None`` and ``[]`` mean the whole prop. Raises before anything is sent.
    """
    if path is None:
        return ()
    if isinstance(path, (str, bytes)) or not isinstance(path, (list, tuple)):
        raise TypeError(f"get_prop path must be a list of keys and indices, not {path!r}")
    for step in path:
        if isinstance(step, bool) or not isinstance(step, (str, int)):
            raise TypeError(f"get_prop path steps are str keys or int indices, not {step!r}")
    return tuple(path)


def hello_message(session_id: str, secret: str, resumed: bool) -> bytes:
    """``hello``: answers ``join``; names the session and the secret that resumes it."""
    return dumps({"type": "hello", "session": session_id, "secret": secret, "resumed": resumed})


def error_message(message: str) -> bytes:
    """``error``: a browser message was refused; the page logs it."""
    return dumps({"type": "error", "message": message})


PONG = b'{"type":"pong"}'


def frame(messages: list[bytes]) -> bytes:
    """Join pre-encoded messages into one server frame."""
    return b"[" + b",".join(messages) + b"]"


def numbered(number: int, message: bytes) -> bytes:
    """``message`` with its number ``n`` as its first field."""
    return b'{"n":' + str(number).encode() + b"," + message[1:]


PATCH_PREFIX = b'{"__dash_patch_update"'


def is_patch(encoded_value: bytes) -> bool:
    """True when an encoded prop value is a Dash ``Patch``, a change on top of the old value."""
    return encoded_value.startswith(PATCH_PREFIX)


_NO_PROPS: frozenset[str] = frozenset()


def patched_props(encoded: dict[str, bytes]) -> frozenset[str]:
    """The props of an encoded ``set`` whose values are Patches (usually none: no set is built)."""
    if not any(map(is_patch, encoded.values())):
        return _NO_PROPS
    return frozenset(name for name, value in encoded.items() if is_patch(value))
