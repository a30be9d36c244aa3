"""Protocol fuzzing: random and mutated browser frames against live pages of one app.

Every frame a page can send goes through ``protocol.parse_inbound`` and then
``SocketEndpoint._handle``. Here Hypothesis sends them frames of every kind:
valid message shapes with fields of the wrong type, missing or extra,
numbers past 2**53 and 2**64, deep nesting on both sides of orjson's limit
of 1024, odd Unicode (lone surrogates, bidi marks, NUL, emoji, invalid
escapes), text that is not JSON, frames around the size limit, arrays instead
of objects, and mutations of the app's real ``call`` frames (fields dropped,
retyped, duplicated or renamed; an ``output`` field naming another callback
than the body does; the body, query and headers mangled; ids fresh, re-sent,
past 2**53), plus ``prop`` replies nobody asked
for, ``ack`` numbers from the future, a second ``join`` and ``ready`` again
and again. Binary frames go through a real server (``TestClient`` sends text
only).

What must hold after every example (a batch of frames on one page):

* each frame is answered as docs/protocol.md says: an ``error`` for a frame
  the page may not send, a ``result`` for every new valid call, a ``pong``
  for a ping, nothing for an ``ack``, a repeated ``ready``, a re-sent call
  or a second reply to a ``get``; the oracle below is written from the
  document, not from ``protocol.py``, and uses orjson only to tell what is
  JSON, as the server does;
* a real callback call on the same page still answers 200, and the socket
  is still open;
* the other page, opened before the fuzzing, is still open (its call answers
  200 at the end);
* nothing was logged at ERROR by ``dash_ws``, ``asyncio`` or uvicorn, and no
  sync callback ran on the event loop;
* the server's messages are numbered one after the other.

One app and one pair of pages serve every example: a page is opened again
only after an example broke it, so that each failing example stands on its
own while Hypothesis shrinks it. ``DASH_WS_FUZZ_EXAMPLES`` sets the number of
examples (40 by default, about 300 frames over both tests);
``benchmarks/fuzz_protocol.py`` runs the same strategies for as long as you
like.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AsyncExitStack,
    asynccontextmanager,
    contextmanager,
)
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson
import websockets
from dash import Input, Output, State, html
from dash.exceptions import PreventUpdate
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dash_ws import Dash, ctx, protocol, set_props
from dash_ws.testing import Closed, PageClient, TestClient

from ..integration.compat import needs_async_callbacks
from .live_server import live_server

pytestmark = needs_async_callbacks  # the fuzzed app has async callbacks (Dash 3.1+)

FUZZ_EXAMPLES = int(os.environ.get("DASH_WS_FUZZ_EXAMPLES", "40"))
"""Examples of the text-frame fuzz test, each 1 to 20 frames (6 on average); the
binary one over a real server runs a quarter as many. About 300 frames in all."""

MAX_MESSAGE_BYTES = 64 * 1024
"""The fuzzed app's body limit: small, so that frames past it are cheap to make."""
FRAME_LIMIT = 2 * MAX_MESSAGE_BYTES + 64 * 1024
"""The frame limit that follows: twice the body, for escaping, and an envelope of 64 KiB."""

MAX_ID = 2**53
"""Ids and message numbers stay below this (docs/protocol.md)."""

ANSWER_TIMEOUT = 30.0
"""Seconds to wait for an answer before calling it missing: a hang, not a speed check."""

RECURSION_LIMIT = sys.getrecursionlimit()
"""The interpreter's limit, as a server runs with it. Hypothesis raises the
limit while a test runs, for itself; that would hide a RecursionError the
server meets in production (it did: see ``DEEP_TYPE``), so the server runs
the examples under this one."""

DEEP_TYPE_CRASH_DEPTH = 981
"""Nesting of a frame (the object counted) from which ``DEEP_TYPE`` crashes
the socket's handler under uvicorn, at Python's default recursion limit."""

UVICORN_FRAMES = 18
"""Frames uvicorn's thread, protocol and middleware take below a socket's
handler, more than the in-process test client: measured with ``DEEP_TYPE``,
which crashes from 981 levels under uvicorn and from 999 in process."""

WATCHED_LOGGERS = ("dash_ws", "asyncio", "uvicorn.error")
"""An ERROR record from one of these is a server fault (a traceback a page caused)."""

# ---------------------------------------------------------------- the app under fuzz

LIVE_OUTPUT = "out.children"
OUTPUTS = {
    # output key -> (inputs, states) of the callback behind it
    "out.children": (1, 1),  # sync, streams a prop
    "aout.children": (1, 0),  # async
    "rout.children": (1, 0),  # async, reads a prop of the page with get_prop
    "pout.children": (1, 0),  # sync, PreventUpdate for a falsy input (204)
    "..m1.children...m2.children..": (1, 0),  # sync, two outputs
}
OUTPUT_KEYS = tuple(OUTPUTS)


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class FuzzApp:
    """The app under fuzz, and what its callbacks saw that they never should."""

    def __init__(self) -> None:
        self.sync_on_loop: list[str] = []
        app = Dash(
            __name__,
            websocket_callbacks=True,
            websocket_max_message_bytes=MAX_MESSAGE_BYTES,
            websocket_inactivity_timeout=0,  # a long benchmark leaves the other page idle
            websocket_liveness_timeout=3_600_000,
        )
        app.layout = html.Div(
            [
                html.Button(id="go"),
                html.Div(id="text"),
                *(html.Div(id=name) for name in ("out", "aout", "rout", "pout", "m1", "m2")),
                html.Div(id="live"),
            ]
        )

        def watch(name: str) -> None:
            if _on_event_loop():  # a slow sync callback there would hold up every page
                self.sync_on_loop.append(name)

        @app.callback(Output("out", "children"), Input("go", "n_clicks"), State("text", "children"))
        def sync_echo(n_clicks, text):
            watch("sync_echo")
            set_props("live", {"children": n_clicks})
            return [n_clicks, text]

        @app.callback(Output("aout", "children"), Input("go", "title"))
        async def async_echo(title):
            await asyncio.sleep(0)
            return title

        @app.callback(Output("rout", "children"), Input("go", "className"))
        async def read_back(class_name):
            return await ctx.websocket.get_prop("go", "title", timeout=ANSWER_TIMEOUT / 3)

        @app.callback(Output("pout", "children"), Input("go", "disabled"))
        def maybe(disabled):
            watch("maybe")
            if not disabled:
                raise PreventUpdate
            return disabled

        @app.callback(Output("m1", "children"), Output("m2", "children"), Input("go", "name"))
        def both(name):
            watch("both")
            return name, name

        @app.callback(persistent=True)
        async def persistent():
            set_props("live", {"title": "persistent callback started"})
            await asyncio.Event().wait()

        app._setup_server()
        assert set(app.callback_map) == set(OUTPUTS), sorted(app.callback_map)
        self.app = app


# ---------------------------------------------------------------- what a frame is made of


class Raw(str):
    """JSON text spliced into a frame as it is (a number token JSON may not allow)."""

    def __repr__(self) -> str:
        return f"Raw({str.__repr__(self)})"


@dataclass(frozen=True)
class Nested:
    """``depth`` levels of nesting, written out only when the frame is."""

    depth: int
    shape: str  # "array", "object", "mixed" or "unclosed"

    def text(self) -> str:
        depth = self.depth
        if self.shape == "array":
            return "[" * depth + "]" * depth
        if self.shape == "object":
            return '{"a":' * depth + "0" + "}" * depth
        if self.shape == "mixed":
            half = depth // 2
            return '{"a":[' * half + "1" + "]}" * half + ("[]" if depth % 2 else "")
        return "[" * depth


@dataclass(frozen=True)
class Fresh:
    """A call id the session has not seen yet: the page's next call."""


@dataclass(frozen=True)
class Old:
    """A call id the session has seen already: a call sent again."""

    back: int


@dataclass(frozen=True)
class Pairs:
    """A JSON object written with its keys in this order, a key possibly twice."""

    items: tuple[tuple[Any, Any], ...]


@dataclass(frozen=True)
class Body:
    """The renderer's JSON body for a real callback of the app, then edited.

    Edits: ``("drop", key)``, ``("set", key, value)``, ``("replace", text)``.
    """

    output: str
    inputs: tuple
    state: tuple
    edits: tuple = ()


@dataclass(frozen=True)
class Padded:
    """A ``ping`` padded to ``FRAME_LIMIT + delta`` UTF-8 bytes with ``char``."""

    delta: int
    char: str


@dataclass(frozen=True)
class Frame:
    """One frame a page sends: a message written as JSON, then edited as text.

    Text edits: ``("truncate", at)``, ``("insert", at, text)``,
    ``("delete", at, count)``, ``("escape", at, text)`` (after a quote),
    ``("wrap", before, after)``; ``at`` is a fraction of the length.
    ``encoding`` None sends a text frame; otherwise the text is encoded so
    and sent as a binary frame (only over a real socket).
    """

    message: Any
    ascii: bool = True
    edits: tuple = ()
    encoding: str | None = None

    def render(self, renderer: Renderer) -> str | bytes:
        if isinstance(self.message, bytes):
            return self.message
        text = dump(self.message, self.ascii, renderer)
        for edit in self.edits:
            text = _edit(text, edit)
        if self.encoding is None:
            return text
        errors = "replace" if self.encoding == "latin-1" else "surrogatepass"
        return text.encode(self.encoding, errors=errors)


class Renderer:
    """What writing a frame needs from the page it goes to."""

    def fresh_id(self) -> int:
        raise NotImplementedError

    def old_id(self, back: int) -> int:
        raise NotImplementedError

    def body(self, output: str, inputs: list, state: list) -> dict:
        raise NotImplementedError


def dump(value: Any, ascii: bool, renderer: Renderer) -> str:
    """Write ``value`` as JSON text; NaN, infinities and huge ints as Python writes them."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=ascii)
    if value is None or isinstance(value, (bool, float)):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Nested):
        return value.text()
    if isinstance(value, Fresh):
        return str(renderer.fresh_id())
    if isinstance(value, Old):
        return str(renderer.old_id(value.back))
    if isinstance(value, Body):
        return json.dumps(_body_text(value, renderer), ensure_ascii=ascii)
    if isinstance(value, Padded):
        return _padded(value)
    items = value.items if isinstance(value, Pairs) else None
    if isinstance(value, dict):
        items = tuple(value.items())
    if items is not None:
        return (
            "{" + ",".join(_key(k, ascii) + ":" + dump(v, ascii, renderer) for k, v in items) + "}"
        )
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dump(item, ascii, renderer) for item in value) + "]"
    raise TypeError(f"cannot write {value!r}")


def _key(key: Any, ascii: bool) -> str:
    return json.dumps(key if isinstance(key, str) else str(key), ensure_ascii=ascii)


def _body_text(body: Body, renderer: Renderer) -> str:
    content: Any = renderer.body(body.output, list(body.inputs), list(body.state))
    for edit in body.edits:
        if edit[0] == "drop":
            content.pop(edit[1], None)
        elif edit[0] == "set":
            content[edit[1]] = edit[2]
        elif edit[0] == "replace":
            return edit[1] if isinstance(edit[1], str) else dump(edit[1], True, renderer)
    return dump(content, True, renderer)


def _padded(padded: Padded) -> str:
    head, tail = '{"type":"ping","pad":"', '"}'
    room = FRAME_LIMIT + padded.delta - len(head) - len(tail)
    width = len(padded.char.encode())
    return head + padded.char * (room // width) + "x" * (room % width) + tail


def _edit(text: str, edit: tuple) -> str:
    kind, at = edit[0], edit[1]
    position = int(at * len(text)) if isinstance(at, float) else 0
    if kind == "truncate":
        return text[:position]
    if kind == "insert":
        return text[:position] + edit[2] + text[position:]
    if kind == "delete":
        return text[:position] + text[position + edit[2] :]
    if kind == "escape":
        quotes = [i for i, char in enumerate(text) if char == '"']
        if not quotes:
            return text
        quote = quotes[min(int(at * len(quotes)), len(quotes) - 1)]
        return text[: quote + 1] + edit[2] + text[quote + 1 :]
    if kind == "wrap":
        return edit[1] + text + edit[2]
    raise ValueError(edit)


# ---------------------------------------------------------------- strategies

TYPES = ("join", "call", "prop", "ready", "ack", "ping")
WORDS = (
    *TYPES,
    *("pong", "hello", "set", "result", "get", "error"),
    *("Call", "CALL", " call", "call ", "call\u0000", "c\u0430ll", "ping\u200f", ""),
)
FIELD_NAMES = (
    *("type", "id", "n", "output", "body", "headers", "query", "found", "value"),
    *("session", "secret", "seen", "Type", "ID", "__proto__", "constructor", ""),
)


def _short_repr(build: Callable[[], Any]) -> Any:
    """``build()``, behind a repr of a few words: Hypothesis takes the repr of a
    recursive strategy as it shrinks, and these leaves would make it 70 kB."""
    return st.deferred(build)


ODD_CHARS = (
    *("\u200f", "\u200e", "\u202e", "\u2066", "\u061c", "\u0000", "\u0001", "\u001f", "\x7f"),
    *("\ufeff", "\ufffd", "\uffff", "\u0301", "\u2028", "\u2029", "\\", '"', "\n", "\t"),
    *("\U0001f600", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0010ffff"),
    *("\ud800", "\udbff", "\udc00", "\udfff"),  # lone surrogates
    *("\u00e9", "\u2603", "\u0430", "a", "/", "%", "&", "="),
)
INT_EDGES = (
    *(0, 1, -1, 2, 255, 2**31 - 1, 2**31, 2**32),
    *(MAX_ID - 1, MAX_ID, MAX_ID + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**64 + 1),
    *(-MAX_ID, -(2**63), -(2**63) - 1, -(2**64), 10**30, -(10**30), 10**400),
)
FLOAT_EDGES = (0.0, -0.0, 0.5, 1.0, 1e-320, 2.0**53, 2.0**64, 1e308)
FLOAT_EDGES += (float("inf"), float("-inf"), float("nan"))
NUMBER_TOKENS = (
    *("-0", "1e400", "-1e400", "1E2", "1e-400", "01", "1.", ".5", "+1", "0x10"),
    *("NaN", "Infinity", "-Infinity", "9007199254740993", "18446744073709551616"),
    *("1" + "0" * 400, "1e", "-", "1.0e+", "\u0661"),
)
NUMERIC_STRINGS = ("1", "0", "-1", "NaN", "Infinity", "9007199254740993", "1e400", " 1", "")
DEPTHS = (2, 100, 500, 900, 1000, 1010, 1020, 1022, 1023, 1024, 1025, 1100, 5000)
RAW_FRAMES = (
    *("", " ", "\n", "\u0000", "\ud800", "null", "true", "0", "-1", "[]", "{}", '""'),
    *('"call"', "{", "}", "[", '{"type"}', '{"type":}', '{"type":"ping"', '{"type":"ping"}}'),
    *('{"type":"ping"}{"type":"ping"}', '{"type":"ping"} x', '\ufeff{"type":"ping"}'),
    *('{"type":"ping",}', "{'type':'ping'}", '{type:"ping"}', '{"type":"ping"/* c */}'),
    *('{"type":"pi\\u006eg"}', '{"type":"\\ud83d\\ude00"}', '{"type":"\\ud800"}'),
    *('{"type":"\\udc00\\ud800"}', '{"type":"\\x70ing"}', '{"type":"\\u12"}', '{"type":"\\q"}'),
    *('{"type":"\\U0001f600"}', '{"type":"ping\\u0000"}', '{"type":"ping\u0000"}'),
    *('{"type":"ping","n":NaN}', '{"type":"ack","n":1e400}', '[{"type":"ping"}]'),
    *('{"type":"ping"}\n', '\t{"type":"ping"} ', '{"type":"ping","type":"call"}'),
    *('{"type":"call","type":"ping"}', '{"type":"prop","id":1,"found":true}'),
)
INSERTS = ("\\", "\\x", "\\u", "\\ud800", "\\udfff", "\\u0000", '"', ",", "{", "]", ":", " ")
INSERTS += ("\u0000", "\ud800", "\u202e", "\ufeff", "NaN", "1e400", "\U0001f600")
PREFIXES = ("", " ", "\ufeff", "[", "{", "\u0000", "x")
SUFFIXES = ("", " ", "]", "}", ",", "{}", "\u0000", "x")
HEADER_NAMES = (
    *("X-CSRFToken", "x-csrftoken", "Authorization", "AUTHORIZATION", "Cookie", "Host"),
    *("X-Forwarded-User", "Content-Type", "Content-Length", "Connection", "Upgrade"),
    *("Sec-WebSocket-Key", "Origin", "Transfer-Encoding", "", "X-CSRFToken\r\nX-Evil"),
    *("X CSRF", "X-CSRFToken:", "\u00e9", "x-csrftoken\u0000"),
)
QUERIES = ("", "a=1", "a=%ff", "a=%", "&&==", "page=/x", "a=\u00e9", "a=\u2603", "a=\U0001f600")
QUERIES += ("a=\u0000", "a=b\r\nc", "v=1&v=2", "%00", "a b", "a=%E2%98%83", "\x7f")
BODY_KEYS = ("output", "outputs", "inputs", "changedPropIds", "state")

odd_text = _short_repr(
    lambda: st.one_of(
        st.text(max_size=12),
        st.lists(st.sampled_from(ODD_CHARS), max_size=8).map("".join),
        st.sampled_from(WORDS),
    )
)
numbers = _short_repr(
    lambda: st.one_of(
        st.sampled_from(INT_EDGES),
        st.integers(),
        st.floats(),
        st.sampled_from(FLOAT_EDGES),
        st.sampled_from(NUMBER_TOKENS).map(Raw),
        st.sampled_from(NUMERIC_STRINGS),
    )
)
nested = st.builds(
    Nested,
    depth=st.one_of(st.sampled_from(DEPTHS), st.integers(1, 1100)),
    shape=st.sampled_from(("array", "object", "mixed", "unclosed")),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, odd_text),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4),
    max_leaves=8,
)
plain_values = st.recursive(  # values a renderer sends: JSON, no lone surrogates
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**53), 2**53),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
anything = st.one_of(json_values, json_values, json_values, nested)  # nesting is also a branch
headers = st.one_of(
    st.dictionaries(st.sampled_from(HEADER_NAMES) | odd_text, odd_text, max_size=4),
    anything,
)
queries = st.one_of(st.sampled_from(QUERIES), odd_text, anything)
plain_headers = st.dictionaries(  # what the renderer sends, and a header no call may add
    st.sampled_from(("X-CSRFToken", "Authorization", "X-Forwarded-User", "Cookie")),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")),
    max_size=3,
)
plain_queries = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30)
call_ids = st.one_of(
    st.just(Fresh()),
    st.just(Fresh()),
    st.just(Fresh()),
    st.builds(Old, st.integers(0, 5)),
    numbers,
    anything,
)
body_edits = st.one_of(
    st.tuples(st.just("drop"), st.sampled_from(BODY_KEYS)),
    st.tuples(st.just("set"), st.sampled_from(BODY_KEYS) | odd_text, anything),
    st.tuples(st.just("replace"), st.sampled_from(("", "{", "[]", "null", "{}", "1")) | odd_text),
    st.tuples(st.just("replace"), nested),
)


@st.composite
def bodies(draw, output: str | None = None) -> Body:
    output = output or draw(st.sampled_from(OUTPUT_KEYS))
    n_inputs, n_state = OUTPUTS[output]
    values = plain_values if draw(st.integers(0, 3)) else json_values
    right_length = draw(st.integers(0, 4)) > 0
    if right_length:
        inputs = draw(st.lists(values, min_size=n_inputs, max_size=n_inputs))
    else:
        inputs = draw(st.lists(values, max_size=3))
    state = draw(st.lists(values, min_size=n_state, max_size=n_state))
    edits = draw(st.lists(body_edits, max_size=2)) if draw(st.integers(0, 3)) == 0 else []
    return Body(output, tuple(inputs), tuple(state), tuple(edits))


field_edits = st.one_of(
    st.tuples(st.just("drop"), st.integers(0, 7)),
    st.tuples(st.just("retype"), st.integers(0, 7), anything),
    st.tuples(st.just("duplicate"), st.integers(0, 7), st.none() | anything),
    st.tuples(st.just("extra"), st.sampled_from(FIELD_NAMES) | odd_text, anything),
    st.tuples(st.just("rename"), st.integers(0, 7), st.sampled_from(FIELD_NAMES) | odd_text),
)


def _edit_fields(items: list, edit: tuple) -> list:
    items = list(items)
    if edit[0] == "extra":
        return [*items, (edit[1], edit[2])]
    if not items:
        return items
    index = edit[1] % len(items)
    key, value = items[index]
    if edit[0] == "drop":
        del items[index]
    elif edit[0] == "retype":
        items[index] = (key, edit[2])
    elif edit[0] == "duplicate":  # the same key again, the same value or another
        items.insert(index + 1, (key, value if edit[2] is None else edit[2]))
    elif edit[0] == "rename":
        items[index] = (edit[2], value)
    return items


@st.composite
def real_calls(draw) -> Pairs:
    """A call the renderer would send for one of the app's callbacks, maybe mangled."""
    body = draw(bodies())
    items = [("type", "call"), ("id", draw(call_ids)), ("body", body)]
    choice = draw(st.integers(0, 9))
    if choice < 3:  # a field the server no longer reads: the body's output decides
        items.append(("output", body.output))
    elif choice < 6:  # another callback's output, a sync one for an async body, say
        items.append(("output", draw(st.sampled_from(OUTPUT_KEYS) | odd_text)))
    choice = draw(st.integers(0, 7))
    if choice in (1, 2):
        items.append(("headers", {}))
    elif choice in (3, 4, 5):
        items.append(("headers", draw(plain_headers)))
    elif choice == 6:
        items.append(("headers", draw(headers)))
    choice = draw(st.integers(0, 7))
    if choice in (1, 2, 3):
        items.append(("query", draw(plain_queries)))
    elif choice in (4, 5):
        items.append(("query", draw(queries)))
    for edit in draw(st.lists(field_edits, max_size=2)) if draw(st.integers(0, 2)) == 0 else []:
        items = _edit_fields(items, edit)
    return Pairs(tuple(items))


@st.composite
def protocol_messages(draw) -> Pairs:
    """join, ready, ping, ack and prop, right or wrong."""
    kind = draw(st.sampled_from(("join", "ready", "ping", "ack", "prop")))
    items: list = [("type", kind)]
    if kind == "join":
        tokens = st.one_of(st.text(min_size=1, max_size=300), anything)
        for name in draw(st.lists(st.sampled_from(("session", "secret", "seen")), unique=True)):
            items.append((name, draw(numbers if name == "seen" else tokens)))
    elif kind == "ack":  # numbers the server has not sent yet, among others
        items.append(("n", draw(st.one_of(st.integers(0, 10**6), st.just(MAX_ID - 1), numbers))))
    elif kind == "prop":  # replies to gets never sent, and to gets answered already
        reply_id = st.one_of(st.integers(1, 50), st.just(MAX_ID - 1), numbers, anything)
        items += [("id", draw(reply_id)), ("found", draw(st.booleans() | anything))]
        items.append(("value", draw(anything)))
    for edit in draw(st.lists(field_edits, max_size=2)) if draw(st.integers(0, 2)) == 0 else []:
        items = _edit_fields(items, edit)
    return Pairs(tuple(items))


shapeless_messages = st.builds(
    lambda kind, fields: Pairs((("type", kind), *fields)),
    st.sampled_from(WORDS) | anything,
    st.lists(st.tuples(st.sampled_from(FIELD_NAMES) | odd_text, anything), max_size=5),
)
messages = st.one_of(
    real_calls(), real_calls(), real_calls(), protocol_messages(), shapeless_messages
)
text_edits = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.sampled_from(INSERTS) | odd_text),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 3)),
    st.tuples(st.just("escape"), st.floats(0, 1), st.sampled_from(INSERTS)),
    st.tuples(st.just("wrap"), st.sampled_from(PREFIXES), st.sampled_from(SUFFIXES)),
)


NESTED_FIELDS = {  # a field, and the message it goes into
    "type": {},
    "id": {"type": "prop", "found": True},
    "found": {"type": "prop", "id": 1},
    "value": {"type": "prop", "id": 1, "found": True},
    "n": {"type": "ack"},
    "session": {"type": "join", "secret": "s"},
    "headers": {"type": "call", "id": Fresh(), "body": Body(LIVE_OUTPUT, (1,), ("x",))},
    "query": {"type": "call", "id": Fresh(), "body": Body(LIVE_OUTPUT, (1,), ("x",))},
    "body": {"type": "call", "id": Fresh()},
    "extra": {"type": "ping"},
}
deep = st.builds(  # mostly where it hurts: past Python's recursion limit, within orjson's
    Nested,
    # 1023 down to 900 (shrinking to 1023, away from the edge where the stack decides)
    depth=st.one_of(
        st.integers(0, 123).map(lambda k: 1023 - k),
        st.sampled_from(DEPTHS),
        st.integers(1, 950),
    ),
    shape=st.sampled_from(("array", "array", "object", "mixed", "unclosed")),
)


@st.composite
def text_frames(draw) -> Frame:
    """Every kind of frame a page can send as text."""
    choice = draw(st.integers(0, 19))
    if choice < 11:  # a message, as JSON
        return Frame(draw(messages), draw(st.booleans()))
    if choice < 12:  # a message with its text mangled
        edits = tuple(draw(st.lists(text_edits, min_size=1, max_size=2)))
        return Frame(draw(messages), draw(st.booleans()), edits)
    if choice < 13:  # arrays instead of objects, other JSON values
        value = draw(st.one_of(st.lists(messages, max_size=3), json_values))
        return Frame(value, draw(st.booleans()))
    if choice < 15:  # deep nesting, as a whole frame or in one field
        where = draw(st.sampled_from(("frame", *NESTED_FIELDS)))
        if where == "frame":
            return Frame(draw(deep))
        return Frame(Pairs((*NESTED_FIELDS[where].items(), (where, draw(deep)))))
    if choice < 16:  # around the size limit, in bytes, not characters
        delta = draw(st.sampled_from((-1, 0, 1, 2, -3, 4096)))
        return Frame(Padded(delta, draw(st.sampled_from(("x", "\u00e9", "\u2603", "\U0001f600")))))
    if choice < 19:  # known troublemakers
        return Frame(Raw(draw(st.sampled_from(RAW_FRAMES))))
    latin_1 = st.binary(max_size=40).map(lambda data: data.decode("latin-1"))
    return Frame(Raw(draw(st.one_of(st.text(max_size=40), latin_1))))


BAD_UTF8 = (
    b"\xff",
    b"\xc0\xaf",  # an overlong '/'
    b"\xed\xa0\x80",  # a surrogate encoded as UTF-8
    b'{"type":"ping\xff"}',
    b'{"type":"\xed\xa0\x80"}',
    b'{"type":"pi\xc3"}',
    b"\xef\xbb\xbf" + b'{"type":"ping"}',
    b'\x00{"type":"ping"}',
    "\ufeff".encode("utf-16") + '{"type":"ping"}'.encode("utf-16-le"),
)


@st.composite
def binary_frames(draw) -> Frame:
    """Frames sent as binary: the same messages, encoded every which way, and raw bytes."""
    choice = draw(st.integers(0, 9))
    if choice < 6:
        frame = draw(text_frames())
        encodings = ("utf-8", "utf-8", "utf-8", "utf-16", "latin-1")
        if isinstance(frame.message, Padded):
            # UTF-16 doubles a frame padded past the body limit beyond the WebSocket
            # layer's frame limit, which closes it (1009; see test_frames.py).
            encodings = ("utf-8", "latin-1")
        encoding = draw(st.sampled_from(encodings))
        return Frame(frame.message, frame.ascii, frame.edits, encoding)
    if choice < 8:
        return Frame(draw(st.sampled_from(BAD_UTF8)))
    return Frame(draw(st.binary(max_size=64)))


# ---------------------------------------------------------------- watching the server


class LogTrap(logging.Handler):
    """Keeps the ERROR records of the watched loggers, and counts the app's own."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.app_errors = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.name in WATCHED_LOGGERS or record.name.startswith("dash_ws."):
            self.records.append(record)
        else:
            self.app_errors += 1  # Flask's "Exception on /_dash-update-component": as over HTTP

    @staticmethod
    def describe(record: logging.LogRecord) -> str:
        error = record.exc_info[1] if record.exc_info else None
        caught = f" ({type(error).__name__}: {error})" if error else ""
        return f"{record.name} {record.levelname}: {record.getMessage()}{caught}"


@contextmanager
def trapped_logs(app: Dash) -> Iterator[LogTrap]:
    """Catch ERROR records of ``dash_ws``, asyncio, uvicorn, and count the app's."""
    trap = LogTrap()
    loggers = [logging.getLogger(name) for name in WATCHED_LOGGERS]
    app_logger = app.server.logger  # Flask's handler would print every traceback of a 500
    app_handlers = list(app_logger.handlers)
    for logger in [*loggers, app_logger]:
        logger.addHandler(trap)
    for handler in app_handlers:
        app_logger.removeHandler(handler)
    try:
        yield trap
    finally:
        for logger in [*loggers, app_logger]:
            logger.removeHandler(trap)
        for handler in app_handlers:
            app_logger.addHandler(handler)


class Tap:
    """A page's transport, watched: each server message is noted before the page handles it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.errors: list[str] = []
        self.results: dict[int, tuple[int, str]] = {}
        self.pongs = 0
        self.highest_get = 0
        self.last_number: int | None = None
        self.anomalies: list[str] = []

    async def send(self, text: str) -> None:
        await self.inner.send(text)

    async def send_bytes(self, data: bytes) -> None:
        await self.inner.send_bytes(data)

    async def close(self, code: int = 1001) -> None:
        await self.inner.close(code)

    async def receive(self) -> str | Closed:
        frame = await self.inner.receive()
        if not isinstance(frame, Closed):
            self._note(frame)
        return frame

    def _note(self, frame: str) -> None:
        try:
            messages = json.loads(frame)
        except ValueError:
            self.anomalies.append(f"the server sent a frame that is not JSON: {frame[:200]!r}")
            raise
        for message in messages:
            kind, number = message.get("type"), message.get("n")
            if kind in ("hello", "pong"):
                if number is not None:
                    self.anomalies.append(f"{kind} carries a number: {message}")
            elif self.last_number is not None and number != self.last_number + 1:
                self.anomalies.append(f"message {number} follows {self.last_number}: {message}")
            if kind not in ("hello", "pong"):
                self.last_number = number
            if kind == "error":
                self.errors.append(message["message"])
            elif kind == "result":
                self.results[message["id"]] = (message["status"], message["body"])
            elif kind == "pong":
                self.pongs += 1
            elif kind == "get":
                self.highest_get = max(self.highest_get, message["id"])
            elif kind == "hello":
                self.anomalies.append(f"a second hello on a joined socket: {message}")


# ---------------------------------------------------------------- the oracle

ERROR, EITHER, QUIET, PONG, RESULT, PROP = "error", "either", "quiet", "pong", "result", "prop"


@dataclass(frozen=True)
class Expected:
    """What the protocol says the server does with one frame."""

    answer: str  # ERROR, EITHER (the document leaves it open), QUIET, PONG, RESULT, PROP
    number: int = 0  # the call id (RESULT) or the get id replied to (PROP)
    why: str = ""


def expected(frame: str | bytes, highest_call: int, highest_get: int) -> Expected:
    """What a joined page's ``frame`` must get, from docs/protocol.md.

    ``highest_call`` is the last call id the session took, ``highest_get``
    the last ``get`` id the page has seen. JSON is what orjson reads, as on
    the server.
    """
    size = len(frame) if isinstance(frame, bytes) else len(frame.encode("utf-8", "surrogatepass"))
    if size > FRAME_LIMIT:
        head = frame[:128] if isinstance(frame, bytes) else frame[:128].encode("utf-8", "replace")
        call_head = re.match(rb'\{\s*"type"\s*:\s*"call"\s*,\s*"id"\s*:\s*(\d{1,16})\s*[,}]', head)
        if call_head is None or not _is_id(int(call_head.group(1))):
            return Expected(ERROR, why="too long")
        call_id = int(call_head.group(1))
        return Expected(RESULT if call_id > highest_call else QUIET, call_id, "call too long")
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return Expected(ERROR, why="not JSON")
    if not isinstance(message, dict):
        return Expected(ERROR, why="not an object")
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in TYPES:
        return Expected(ERROR, why="unknown type")
    if kind == "join":
        return Expected(ERROR, why="joined already")
    if kind == "ready":
        return Expected(QUIET, why="ready")
    if kind == "ping":
        return Expected(PONG)
    if kind == "ack":
        return Expected(QUIET if _is_count(message.get("n")) else ERROR, why="ack")
    if kind == "prop":
        reply_id = message.get("id")
        if not (_is_id(reply_id) and isinstance(message.get("found"), bool)):
            return Expected(ERROR, why="bad prop")
        if reply_id <= highest_get:
            return Expected(QUIET, why="a second reply")
        return Expected(PROP, reply_id)
    return _expected_call(message, highest_call)


def _expected_call(message: dict, highest_call: int) -> Expected:
    call_id, body = message.get("id"), message.get("body")
    if not (_is_id(call_id) and isinstance(body, str)):
        return Expected(ERROR, why="call without id or body")
    try:
        content = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Expected(ERROR, why="call body not JSON")
    if not (isinstance(content, dict) and isinstance(content.get("output"), str)):
        return Expected(ERROR, why="call body names no output")
    vague = False
    for name, kind, verdict in (
        ("headers", dict, _headers_verdict),
        ("query", str, _query_verdict),
    ):
        if name not in message:
            continue
        value = message[name]
        if not isinstance(value, kind):
            return Expected(ERROR, why=f"call {name} of another type")
        answer = verdict(value)
        if answer == ERROR:
            return Expected(ERROR, why=f"call {name}")
        vague = vague or answer == EITHER
    if call_id <= highest_call:
        return Expected(EITHER if vague else QUIET, call_id, "sent again")
    return Expected(EITHER if vague else RESULT, call_id)


_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_CONTROLS = frozenset(chr(code) for code in (*range(0x20), 0x7F))


def _headers_verdict(headers: Any) -> str:
    """A map of header names (HTTP tokens) to Latin-1 strings."""
    if not isinstance(headers, dict):
        return ERROR
    answer = QUIET
    for name, value in headers.items():
        if not (name and set(name) <= _TOKEN and isinstance(value, str)):
            return ERROR
        if any(ord(char) > 0xFF for char in value):
            return ERROR
        if set(value) & (_CONTROLS - {"\t"}):
            answer = EITHER  # Latin-1, but no HTTP server would pass it on
    return answer


def _query_verdict(query: Any) -> str:
    """A string of printable ASCII (percent-encoded)."""
    if not isinstance(query, str) or any(ord(char) > 0x7E for char in query):
        return ERROR
    if set(query) & _CONTROLS:
        return ERROR
    return EITHER if " " in query else QUIET


def _output(body: str) -> Any:
    try:
        return json.loads(body)["response"]["out"]["children"]
    except (ValueError, KeyError, TypeError):
        return None


def _is_id(value: Any) -> bool:
    return type(value) is int and 0 < value < MAX_ID


def _is_count(value: Any) -> bool:
    return type(value) is int and 0 <= value < MAX_ID


def _is_string(value: Any) -> bool:
    return isinstance(value, str)


def _is_string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


# ---------------------------------------------------------------- driving pages


@dataclass
class Tally:
    """What the fuzzing did and found, over every example."""

    examples: int = 0
    frames: int = 0
    errors: int = 0
    results: int = 0
    pongs: int = 0
    liveness_calls: int = 0
    liveness_ok: int = 0
    crashes: int = 0
    broken_examples: int = 0
    log_records: int = 0
    sync_on_loop: int = 0
    pages_opened: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    problems: list[str]
    sent: list[tuple[str | bytes, Expected]]

    @property
    def ok(self) -> bool:
        return not self.problems

    def report(self) -> str:
        lines = [*self.problems, "frames sent:"]
        for frame, answer in self.sent:
            shown = repr(frame)
            shown = shown if len(shown) <= 300 else f"{shown[:200]}...{shown[-60:]} ({len(frame)})"
            lines.append(f"  {shown} -> {answer.answer} {answer.why}")
        return "\n".join(lines)


PageOpener = Callable[[], AbstractAsyncContextManager[PageClient]]


class Harness(Renderer):
    """One app, a fuzzed page and a bystander page, kept across examples."""

    def __init__(
        self, fuzz_app: FuzzApp, trap: LogTrap, open_page: PageOpener, in_process: bool = True
    ) -> None:
        self.fuzz_app = fuzz_app
        self.in_process = in_process
        self.trap = trap
        self.open_page = open_page
        self.tally = Tally()
        self.page: PageClient | None = None
        self.tap: Tap | None = None
        self.bystander: PageClient | None = None
        self.highest_call = 0
        self.maybe_calls: set[int] = set()
        """Ids of calls the document leaves open (a query with a space, say)."""
        self._stack = AsyncExitStack()
        self._page_stack: AsyncExitStack | None = None
        self._replace_page = True

    # ---------------------------------------------------------------- Renderer

    def fresh_id(self) -> int:
        return self.highest_call + 1

    def old_id(self, back: int) -> int:
        return max(1, self.highest_call - back)

    def body(self, output: str, inputs: list, state: list) -> dict:
        return self.bystander.request_body(output, inputs, state, None)

    # ---------------------------------------------------------------- pages

    async def start(self) -> None:
        self.bystander = await self._stack.enter_async_context(self.open_page())
        await self.bystander.join()
        await self.bystander.opened()
        self.tally.pages_opened += 1
        answer = await self.bystander.call(LIVE_OUTPUT, inputs=[1], state=["bystander"])
        assert answer.status == 200, answer
        await self._open_fuzzed_page()

    async def _open_fuzzed_page(self) -> None:
        if self._page_stack is not None:
            await self._page_stack.aclose()
        self._page_stack = AsyncExitStack()
        page = await self._page_stack.enter_async_context(self.open_page())
        # Watch the socket from the first message after hello on, before joining.
        self.tap = Tap(page.transport)
        page.transport = self.tap
        page.props["go", "title"] = "the page's title"  # what read_back's get_prop reads
        await page.join()
        await page.opened()
        self.page = page
        self.highest_call = 0
        self.maybe_calls = set()
        self._replace_page = False
        self.tally.pages_opened += 1

    async def stop(self) -> None:
        if self._page_stack is not None:
            await self._page_stack.aclose()
        await self._stack.aclose()

    async def _send(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            await self.tap.send_bytes(frame)
        else:
            await self.page.send_text(frame)

    async def _wait(self, predicate: Callable[[], bool]) -> bool:
        try:
            await self.page.wait_for(
                lambda page: predicate() or page.closed is not None, timeout=ANSWER_TIMEOUT
            )
        except asyncio.TimeoutError:
            return False
        return predicate()

    # ---------------------------------------------------------------- one example

    async def example(self, frames: list[Frame]) -> Outcome:
        """Send ``frames`` on the fuzzed page, then check it and the server."""
        with production_recursion_limit(self.in_process):
            return await self._example(frames)

    async def _example(self, frames: list[Frame]) -> Outcome:
        if self._replace_page or self.page.closed is not None:
            await self._open_fuzzed_page()
        tap = self.tap
        errors_before, pongs_before = len(tap.errors), tap.pongs
        results_before = set(tap.results)
        anomalies_before = len(tap.anomalies)
        self.trap.records.clear()
        self.fuzz_app.sync_on_loop.clear()
        sent: list[tuple[str | bytes, Expected]] = []
        for frame in frames:
            raw = frame.render(self)
            answer = expected(raw, self.highest_call, tap.highest_get)
            if answer.answer == RESULT or (answer.answer == EITHER and answer.number):
                self.highest_call = max(self.highest_call, answer.number)
            if answer.answer == EITHER and answer.number:
                self.maybe_calls.add(answer.number)
            sent.append((raw, answer))
            await self._send(raw)
        outcome = Outcome([], sent)
        await self._check(outcome, errors_before, pongs_before, results_before)
        self._tally(outcome, errors_before, pongs_before, results_before)
        problems = outcome.problems
        problems += tap.anomalies[anomalies_before:]
        problems += [f"logged: {LogTrap.describe(record)}" for record in self.trap.records]
        problems += [f"sync callback {name} ran on the event loop" for name in self._sync_on_loop()]
        if self.bystander.closed is not None:
            problems.append(f"the other page's socket closed: {self.bystander.closed}")
        if self.highest_call > MAX_ID - 100:
            self._replace_page = (
                True  # its call ids (nearly) used up: the next example needs a page
            )
        if problems:
            self._replace_page = True  # the next example starts on a new page
            self.tally.broken_examples += 1
            if len(self.tally.problems) < 20:
                self.tally.problems.append(outcome.report())
        return outcome

    def _sync_on_loop(self) -> list[str]:
        names = list(self.fuzz_app.sync_on_loop)
        self.tally.sync_on_loop += len(names)
        return names

    async def _check(
        self, outcome: Outcome, errors_before: int, pongs_before: int, results_before: set
    ) -> None:
        tap, problems, sent = self.tap, outcome.problems, outcome.sent
        pings = sum(answer.answer == PONG for _, answer in sent)
        if self.highest_call >= MAX_ID - 1:  # the page used up its call ids, as it may
            await self._send('{"type":"ping"}')  # still alive?
            pings += 1
            live_id = None
        else:
            live_id = self.highest_call = self.highest_call + 1
            live_body = self.body(LIVE_OUTPUT, [live_id], ["live"])
            call = {"type": "call", "id": live_id, "body": json.dumps(live_body), "headers": {}}
            await self._send(json.dumps(call))
            self.tally.liveness_calls += 1
        calls = {answer.number for _, answer in sent if answer.answer == RESULT}

        def answered() -> bool:
            return (live_id is None or live_id in tap.results) and calls <= set(tap.results)

        if not await self._wait(lambda: answered() and tap.pongs - pongs_before >= pings):
            closed = self.page.closed
            self.tally.crashes += 1
            if closed is not None:
                problems.append(f"the socket closed: {closed}")
            else:
                missing = sorted(calls - set(tap.results))
                pongs = tap.pongs - pongs_before
                problems.append(
                    f"no answer: call {live_id}, calls {missing}, {pongs}/{pings} pongs"
                )
            return
        if live_id is not None:
            status, body = tap.results[live_id]
            if status != 200 or _output(body) != [live_id, "live"]:
                problems.append(f"the callback answered {status}: {body[:300]}")
            else:
                self.tally.liveness_ok += 1
        if self.page.closed is not None:
            problems.append(f"the socket closed: {self.page.closed}")
        unasked = set(tap.results) - results_before - calls - {live_id} - self.maybe_calls
        if unasked:
            problems.append(f"results for calls that should not have run: {sorted(unasked)}")
        errors = len(tap.errors) - errors_before
        least = sum(answer.answer == ERROR for _, answer in sent)
        most = least + sum(answer.answer == EITHER for _, answer in sent)
        for _, answer in sent:
            if answer.answer == PROP:  # a reply to a get the page may not have seen yet
                if answer.number > tap.highest_get:
                    least += 1
                most += 1
        if not least <= errors <= most:
            shown = "; ".join(tap.errors[errors_before:][:5])
            problems.append(f"{errors} error messages, expected {least} to {most}: {shown}")

    def _tally(
        self, outcome: Outcome, errors_before: int, pongs_before: int, results_before: set
    ) -> None:
        tally, tap = self.tally, self.tap
        tally.examples += 1
        tally.frames += len(outcome.sent)
        tally.errors += len(tap.errors) - errors_before
        tally.pongs += tap.pongs - pongs_before
        tally.results += len(set(tap.results) - results_before)
        tally.log_records += len(self.trap.records)

    async def finish(self) -> list[str]:
        """The end of the fuzzing: the other page still works, nothing is left behind."""
        problems = []
        if self._page_stack is not None:
            await self._page_stack.aclose()
            self._page_stack = None
        answer = await self.bystander.call(LIVE_OUTPUT, inputs=[2], state=["bystander"])
        if answer.status != 200 or self.bystander.closed is not None:
            problems.append(f"the other page answered {answer.status}, {self.bystander.closed}")
        sessions = self.fuzz_app.app.websocket_sessions
        for _ in range(int(ANSWER_TIMEOUT / 0.05)):  # a real server ends a session after close
            if len(sessions()) <= 1:
                break
            await asyncio.sleep(0.05)
        sessions = len(sessions())
        if sessions != 1:
            problems.append(f"{sessions} sessions left, only the other page's should be")
        problems += [f"logged: {LogTrap.describe(record)}" for record in self.trap.records]
        self.tally.log_records += len(self.trap.records)
        return problems


def _stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


@contextmanager
def production_recursion_limit(in_process: bool) -> Iterator[None]:
    """The server's recursion limit as in production, for the time of one example.

    In process the server runs on this thread, under the test's frames: it
    gets as many frames above them as a uvicorn server thread has left.
    """
    raised = sys.getrecursionlimit()
    room = _stack_depth() - UVICORN_FRAMES if in_process else 0
    sys.setrecursionlimit(RECURSION_LIMIT + room)
    try:
        yield
    finally:
        sys.setrecursionlimit(raised)


@contextmanager
def event_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def in_process_pages(fuzz_app: FuzzApp) -> PageOpener:
    client = TestClient(fuzz_app.app)
    return lambda: client.page(join=False)


class WebsocketsTransport:
    """A page's socket to a real server that can send binary frames too."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    async def send(self, text: str) -> None:
        try:
            await self._connection.send(text)
        except websockets.ConnectionClosed:
            pass  # the reader reports how the socket ended

    async def send_bytes(self, data: bytes) -> None:
        try:
            await self._connection.send(data)
        except websockets.ConnectionClosed:
            pass

    async def receive(self) -> str | Closed:
        try:
            return await self._connection.recv()
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else 1006
            return Closed(code, closed.rcvd.reason if closed.rcvd else "")

    async def close(self, code: int = 1001) -> None:
        await self._connection.close(code)


def network_pages(fuzz_app: FuzzApp, port: int) -> PageOpener:
    url = f"ws://127.0.0.1:{port}{fuzz_app.app.socket_path}"

    @asynccontextmanager
    async def open_page() -> AsyncIterator[PageClient]:
        query = urlencode({"v": protocol.VERSION, "page": "/"})
        transport = WebsocketsTransport(await websockets.connect(f"{url}?{query}"))

        async def cannot_reconnect() -> Any:
            raise RuntimeError("the fuzzed pages do not reconnect")

        page = PageClient(fuzz_app.app, transport, cannot_reconnect)
        try:
            yield page
        finally:
            await page.close()

    return open_page


def fuzz(
    harness: Harness,
    loop: asyncio.AbstractEventLoop,
    strategy: Any,
    examples: int,
    explicit: tuple = (),
) -> None:
    """Run ``examples`` batches of ``strategy`` through ``harness``, ``explicit`` ones first."""
    loop.run_until_complete(harness.start())

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,  # the working tree is shared; a failure prints its example
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(strategy, min_size=1, max_size=20))
    def each(frames: list[Frame]) -> None:
        outcome = loop.run_until_complete(harness.example(frames))
        assert outcome.ok, outcome.report()

    for frames in explicit:
        each = example(frames)(each)
    each()
    problems = loop.run_until_complete(harness.finish())
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- frames the fuzzing broke
#
# Every example runs these first; each is also a regression test below.

DEEP_TYPE = Frame(Pairs((("type", Nested(1020, "array")),)))
"""Open: ``parse_inbound`` answers an unknown type with ``_shown(kind)``, which
takes ``repr`` of the whole value first: a list nested 981 deep or more
(orjson allows 1023 inside the object) raises RecursionError under the
default recursion limit, which ``SocketEndpoint._serve`` does not catch; the
socket's handler dies (1006, no close frame; uvicorn logs "Exception in ASGI
application") and its session stays behind, attached to a dead socket."""

WIDE_QUERY = Frame(
    Pairs(
        (
            ("type", "call"),
            ("id", Fresh()),
            ("output", LIVE_OUTPUT),
            ("body", Body(LIVE_OUTPUT, (1,), ("x",))),
            ("query", "a=\u2603"),
        )
    )
)
"""Fixed in 617846e: a call's ``query`` went into the WSGI environ as it was;
a character past U+00FF made werkzeug raise UnicodeEncodeError building the
request, outside Flask's error handling: ``dash_ws`` logged a traceback for
each such frame. Now refused with an ``error``."""

ASYNC_BODY_SYNC_OUTPUT = Frame(
    Pairs(
        (
            ("type", "call"),
            ("id", Fresh()),
            ("output", LIVE_OUTPUT),
            ("body", Body("aout.children", ("x",), ())),
        )
    )
)
"""Fixed in 617846e: the frame's ``output`` picked how a call ran, its body
which callback Dash ran: an async callback's body under a sync callback's
output was driven without an event loop (RuntimeError, a ``dash_ws``
traceback, its ``get_prop`` failing in a worker thread)."""

SYNC_BODY_ASYNC_OUTPUT = Frame(
    Pairs(
        (
            ("type", "call"),
            ("id", Fresh()),
            ("output", "aout.children"),
            ("body", Body(LIVE_OUTPUT, (1,), ("x",))),
        )
    )
)
"""Fixed in 617846e: the other way round, a sync callback ran on the event
loop thread: a slow one held up every page of the process, past the page's
thread budget."""

BROKE_BEFORE = ([DEEP_TYPE], [WIDE_QUERY], [ASYNC_BODY_SYNC_OUTPUT], [SYNC_BODY_ASYNC_OUTPUT])


# ---------------------------------------------------------------- tests


def test_random_and_mutated_frames_never_break_a_page_or_its_neighbour():
    fuzz_app = FuzzApp()
    with trapped_logs(fuzz_app.app) as trap, event_loop() as loop:
        harness = Harness(fuzz_app, trap, in_process_pages(fuzz_app))
        try:
            fuzz(harness, loop, text_frames(), FUZZ_EXAMPLES, BROKE_BEFORE)
        finally:
            loop.run_until_complete(harness.stop())


def test_binary_frames_over_a_real_socket_never_break_a_page():
    fuzz_app = FuzzApp()
    with live_server(fuzz_app.app) as port, trapped_logs(fuzz_app.app) as trap:
        with event_loop() as loop:
            harness = Harness(fuzz_app, trap, network_pages(fuzz_app, port), in_process=False)
            try:
                fuzz(harness, loop, binary_frames(), max(1, FUZZ_EXAMPLES // 4), ([DEEP_TYPE],))
            finally:
                loop.run_until_complete(harness.stop())


async def one_frame(frame: Frame) -> tuple[Outcome, Harness]:
    fuzz_app = FuzzApp()
    with trapped_logs(fuzz_app.app) as trap:
        harness = Harness(fuzz_app, trap, in_process_pages(fuzz_app))
        await harness.start()
        try:
            return await harness.example([frame]), harness
        finally:
            await harness.stop()


async def test_a_type_nested_near_the_json_limit_gets_an_error_and_the_socket_stays():
    outcome, _ = await one_frame(DEEP_TYPE)
    assert outcome.ok, outcome.report()


async def test_a_query_outside_latin_1_is_answered_without_a_server_traceback():
    outcome, _ = await one_frame(WIDE_QUERY)
    assert outcome.ok, outcome.report()


async def test_an_async_callbacks_body_under_a_sync_output_leaves_no_traceback():
    outcome, _ = await one_frame(ASYNC_BODY_SYNC_OUTPUT)
    assert outcome.ok, outcome.report()


async def test_a_sync_callback_never_runs_on_the_event_loop_whatever_the_frame_says():
    outcome, _ = await one_frame(SYNC_BODY_ASYNC_OUTPUT)
    assert outcome.ok, outcome.report()


async def test_the_largest_call_id_runs_and_the_next_one_is_refused():
    top = Frame(
        Pairs(
            (
                ("type", "call"),
                ("id", MAX_ID - 1),
                ("output", LIVE_OUTPUT),
                ("body", Body(LIVE_OUTPUT, (1,), ("x",))),
            )
        )
    )
    past = Frame(Pairs((*top.message.items[:1], ("id", MAX_ID), *top.message.items[2:])))
    outcome, harness = await one_frame(past)
    assert outcome.ok, outcome.report()
    assert [answer.answer for _, answer in outcome.sent] == [ERROR]
    outcome, harness = await one_frame(top)
    assert outcome.ok, outcome.report()  # the page's ids are used up; it still answers a ping
    assert [answer.answer for _, answer in outcome.sent] == [RESULT]
    assert harness.tap.results[MAX_ID - 1][0] == 200
