"""The bare stack: a plain ASGI app sending dash-ws's frames, with nothing of dash-ws or Dash.

``uvicorn app_bare:app``, from the same venv and with the same uvicorn flags
as dash-ws (``run.py --sides ...,bare``). It speaks just enough of dash-ws's
protocol 2 for ``loadclient.py``'s dash-ws adapter, and sends, at the same
rates, frames shaped byte for byte like the ones dash-ws sends for the
benchmark's callbacks (``bench_callbacks.py``). What it costs is what the
event loop, the HTTP and WebSocket implementation and the kernel cost for
those frames: the physical limit of dash-ws on this stack.

- ``join`` -> ``[{"type":"hello","session":"s","secret":"x","resumed":false}]``
- ``ready`` -> a task of its own per socket sends the persistent ``tick``
  stream, 10 Hz, phases spread, catching up as ``bench_callbacks.stream``:
  ``[{"n":<k>,"type":"set","component":"tick","props":{"children":<time.time()>}}]``
- ``call`` of the echo callbacks -> the ``result`` dash-ws sends, its body
  Dash's response ``{"multi":true,"response":{"echo-out-a":{"children":<value>}}}``,
  answered at once on the reading loop (no task);
  ``once`` -> ``set`` of ``once-out`` with ``time.time()``, then the result;
  ``get_loop`` -> ``count`` sequential ``get``s of ``get-src.value`` (a task), then
  the result with each round trip's duration in ms; any other output: 204.
- ``ping`` -> ``[{"type":"pong"}]``; ``prop`` resolves a ``get``; ``ack`` is ignored.
- HTTP: ``GET /`` (a page whose ``_dash-config`` carries dash-ws's heartbeat),
  ``/_dash-layout``, ``/_dash-dependencies``, ``/_bench/stats[?trim=1]`` and
  ``POST /_dash-update-component`` (the echo callbacks' Dash response).

Numbered messages (``set``, ``result``, ``get``) carry ``n`` as dash-ws's do;
nothing is kept for a page to resume. orjson parses, as in dash-ws.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time

import orjson
from proc_memory import rss_kb

STREAM_PERIOD = 0.1  # 10 Hz, as bench_callbacks.STREAM_PERIOD
HEARTBEAT_MS = 15000  # what dash-ws's page config says (liveness timeout 45 s / 3)

PAGE = (
    b"<!DOCTYPE html><html><head><title>bare</title>"
    b'<script id="_dash-config" type="application/json">'
    b'{"dash_ws":{"heartbeat_ms":' + str(HEARTBEAT_MS).encode() + b"}}</script>"
    b"</head><body></body></html>"
)
HELLO = '[{"type":"hello","session":"s","secret":"x","resumed":false}]'
PONG = '[{"type":"pong"}]'


# ----------------------------------------------------------------------- HTTP


async def _read_body(receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _respond(send, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def dash_response(request: dict) -> bytes | None:
    """Dash's response to a one-output callback returning its first input (the echo)."""
    output = request.get("outputs") or {}
    inputs = request.get("inputs") or []
    if not isinstance(output, dict) or not inputs:
        return None
    value = inputs[0].get("value")
    return orjson.dumps({"multi": True, "response": {output["id"]: {output["property"]: value}}})


def stats(trim: bool) -> dict:
    """As ``bench_callbacks.stats``: live objects after a collection, RSS (after malloc_trim)."""
    gc.collect()
    return {
        "objects": len(gc.get_objects()),
        "tasks": len(asyncio.all_tasks()),
        "rss_kb": rss_kb(trim),
    }


async def http(scope, receive, send) -> None:
    path, method = scope["path"], scope["method"]
    if method == "POST" and path == "/_dash-update-component":
        response = dash_response(orjson.loads(await _read_body(receive)))
        if response is None:
            await _respond(send, 204, b"", b"application/json")
        else:
            await _respond(send, 200, response, b"application/json")
        return
    await _read_body(receive)
    if path == "/":
        await _respond(send, 200, PAGE, b"text/html; charset=utf-8")
    elif path == "/_dash-layout":
        await _respond(send, 200, b"{}", b"application/json")
    elif path == "/_dash-dependencies":
        await _respond(send, 200, b"[]", b"application/json")
    elif path == "/_bench/stats":
        trim = b"trim=1" in scope.get("query_string", b"")
        await _respond(send, 200, orjson.dumps(stats(trim)), b"application/json")
    else:
        await _respond(send, 404, b"not found", b"text/plain")


# ----------------------------------------------------------------------- WebSocket


class Page:
    """One socket: its message numbers, its stream task, its pending ``get``s."""

    __slots__ = ("send", "n", "stream", "gets", "next_get", "tasks")

    def __init__(self, send) -> None:
        self.send = send
        self.n = 0
        self.stream: asyncio.Task | None = None
        self.gets: dict[int, asyncio.Future] = {}
        self.next_get = 0
        self.tasks: set[asyncio.Task] = set()

    def number(self) -> int:
        self.n += 1
        return self.n

    async def text(self, frame: str) -> None:
        await self.send({"type": "websocket.send", "text": frame})

    async def result(self, call_id: int, status: int, body: bytes) -> None:
        message = {
            "type": "result",
            "id": call_id,
            "status": status,
            "content_type": "application/json",
            "body": body.decode(),
        }
        await self.text(f'[{{"n":{self.number()},' + orjson.dumps(message).decode()[1:] + "]")

    async def set_value(self, component: str, value: float) -> None:
        await self.text(
            f'[{{"n":{self.number()},"type":"set","component":"{component}",'
            f'"props":{{"children":{value!r}}}}}]'
        )

    async def run_stream(self) -> None:
        """bench_callbacks.stream: one ``tick`` every 100 ms, phases spread, no bursts."""
        next_at = time.monotonic() + random.random() * STREAM_PERIOD
        try:
            while True:
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                await self.set_value("tick", time.time())
                next_at += STREAM_PERIOD
                now = time.monotonic()
                if next_at < now - STREAM_PERIOD:
                    next_at = now
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket went away
            return

    async def get_loop(self, call_id: int, body: dict) -> None:
        """bench_callbacks.get_loop: ``count`` sequential ``get``s, each timed."""
        state = body.get("state") or []
        count = int((state[0].get("value") if state else None) or 200)
        loop = asyncio.get_running_loop()
        durations = []
        try:
            for _ in range(count):
                started = time.perf_counter()
                self.next_get += 1
                request_id = self.next_get
                future = loop.create_future()
                self.gets[request_id] = future
                await self.text(
                    f'[{{"n":{self.number()},"type":"get","id":{request_id},'
                    '"component":"get-src","prop":"value"}]'
                )
                await future
                durations.append((time.perf_counter() - started) * 1000.0)
            response = orjson.dumps(
                {"multi": True, "response": {"get-out": {"children": durations}}}
            )
            await self.result(call_id, 200, response)
        except Exception:
            return

    async def call(self, message: dict) -> None:
        call_id = message["id"]
        body = orjson.loads(message["body"])
        output = body.get("output")
        if output in ("echo-out-a.children", "echo-out.children"):
            await self.result(call_id, 200, dash_response(body))
        elif output == "once-done.children":
            await self.set_value("once-out", time.time())
            n_clicks = body["inputs"][0]["value"]
            response = orjson.dumps(
                {"multi": True, "response": {"once-done": {"children": n_clicks}}}
            )
            await self.result(call_id, 200, response)
        elif output == "get-out.children":
            task = asyncio.get_running_loop().create_task(self.get_loop(call_id, body))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        else:
            await self.result(call_id, 204, b"")

    def close(self) -> None:
        if self.stream is not None:
            self.stream.cancel()
        for task in self.tasks:
            task.cancel()
        for future in self.gets.values():
            future.cancel()


async def websocket(scope, receive, send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    page = Page(send)
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            frame = message.get("text")
            if frame is None:
                frame = message.get("bytes") or b""
            incoming = orjson.loads(frame)
            kind = incoming.get("type")
            if kind == "ack":
                continue
            if kind == "call":
                await page.call(incoming)
            elif kind == "prop":
                future = page.gets.pop(incoming.get("id"), None)
                if future is not None and not future.done():
                    future.set_result(incoming.get("value"))
            elif kind == "ping":
                await page.text(PONG)
            elif kind == "ready":
                if page.stream is None:
                    page.stream = asyncio.get_running_loop().create_task(page.run_stream())
            elif kind == "join":
                await page.text(HELLO)
    except Exception:  # the socket went away while we wrote to it
        return
    finally:
        page.close()


# ----------------------------------------------------------------------- ASGI


async def lifespan(scope, receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send) -> None:
    kind = scope["type"]
    if kind == "websocket":
        await websocket(scope, receive, send)
    elif kind == "http":
        await http(scope, receive, send)
    elif kind == "lifespan":
        await lifespan(scope, receive, send)
