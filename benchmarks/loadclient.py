"""Load client for the dash-ws / upstream Dash WebSocket benchmark.

One asyncio program, one protocol adapter per side:

- ``dashws``:   ``/_dash-ws/socket?v=2``; join / call / ready / prop / ping in,
                JSON arrays of set / result / get / error / pong out.
- ``upstream``: Dash 4.4.1's ``/_dash-ws-callback``; callback_request /
                get_props_response in, set_props / callback_response /
                get_props_request out (a single message or a JSON array).

Run by ``run.py`` (one subcommand per scenario); prints one JSON object with
its results on stdout. Multi-process scenarios (``stream``, ``idle``) print
``{"event": "connected"}`` once their sockets are open and then wait for
``run.py`` on stdin (``START <t0> <t1>`` / ``CLOSE``).

Needs websockets>=13, aiohttp, orjson; uses uvloop when importable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import socket
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import websockets
from websockets.asyncio.client import connect

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None

# ----------------------------------------------------------------------- helpers

# Latency histogram: logarithmic buckets 1 % wide from 1 us (a few hundred keys
# at most, so a result stays small whatever the latencies).
BUCKET_BASE_MS = 0.001
BUCKET_RATIO = 1.01


def bucket(ms: float) -> int:
    return max(0, int(math.log(max(ms, BUCKET_BASE_MS) / BUCKET_BASE_MS) / math.log(BUCKET_RATIO)))


def bucket_value(key: int) -> float:
    return BUCKET_BASE_MS * BUCKET_RATIO ** (key + 0.5)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def body_for(output: str, inputs: list[tuple[str, str, Any]], state=(), outputs=None) -> dict:
    """A ``_dash-update-component`` body as the renderer builds it."""
    body: dict[str, Any] = {"output": output}
    if outputs is not None:
        body["outputs"] = outputs
    body["inputs"] = [{"id": i, "property": p, "value": v} for i, p, v in inputs]
    body["changedPropIds"] = [f"{i}.{p}" for i, p, _ in inputs]
    body["parsedChangedPropsIds"] = [f"{i}.{p}" for i, p, _ in inputs]
    body["state"] = [{"id": i, "property": p, "value": v} for i, p, v in state]
    return body


def single_output_body(out_id, out_prop, inputs, state=()):
    return body_for(f"{out_id}.{out_prop}", inputs, state, {"id": out_id, "property": out_prop})


ONCE_BODY = lambda n: single_output_body("once-done", "children", [("once-btn", "n_clicks", n)])  # noqa: E731
GET_BODY = lambda n, count: single_output_body(  # noqa: E731
    "get-out", "children", [("get-btn", "n_clicks", n)], [("get-count", "value", count)]
)
BURST_BODY = lambda n, secs: single_output_body(  # noqa: E731
    "burst-done", "children", [("burst-btn", "n_clicks", n)], [("burst-secs", "value", secs)]
)
FLOOD_BODY = lambda n, secs, kb: single_output_body(  # noqa: E731
    "flood-done",
    "children",
    [("flood-btn", "n_clicks", n)],
    [("flood-secs", "value", secs), ("flood-kb", "value", kb)],
)
ECHO_BODY = {
    "sync": lambda v: single_output_body("echo-out", "children", [("echo-in", "value", v)]),
    "async": lambda v: single_output_body("echo-out-a", "children", [("echo-in-a", "value", v)]),
}


def fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


# ----------------------------------------------------------------------- adapters
# Each adapter turns a server frame into events:
#   ("set", component_id, props)   ("result", request_id, ok, response_dict_or_None)
#   ("get", request_id, component_id, prop)   ("error", message)   ("pong",)


class DashWsAdapter:
    """dash-ws, acting as its browser client does (dash_ws.js).

    Messages the server numbers (``n``) are acknowledged ``ack_delay`` after
    the first unacknowledged one arrives, or at once when the frames since the
    last ack reach ``ack_chars``, as the browser does (ACK_DELAY_MS, ACK_CHARS);
    a ``ping`` goes out every ``heartbeat_ms`` from the page config.
    """

    name = "dashws"
    path = "/_dash-ws/socket?v=2&page=%2F"  # protocol v2: the page's URL, then join first
    join = '{"type":"join"}'
    ack_delay = 1.0
    ack_chars = 256 * 1024
    heartbeat = 15.0

    def __init__(self, base: str) -> None:
        self.base = base
        self._ids = iter(range(1, 1 << 62))
        self.seen = 0
        self.acked = 0

    def new_connection(self) -> DashWsAdapter:
        return DashWsAdapter(self.base)

    @classmethod
    def configure(cls, base: str, ack_delay_ms: float | None) -> None:
        """Read the heartbeat interval from the page's config, as the browser does."""
        if ack_delay_ms is not None:
            cls.ack_delay = ack_delay_ms / 1000
        try:
            with urllib.request.urlopen(base + "/", timeout=30) as response:
                page = response.read().decode()
            start = page.index('<script id="_dash-config" type="application/json">')
            config = json.loads(page[page.index(">", start) + 1 : page.index("</script>", start)])
            cls.heartbeat = config.get("dash_ws", {}).get("heartbeat_ms", 15000) / 1000
        except (OSError, ValueError):
            pass

    def ack(self) -> str | None:
        """The ack to send now, if anything new was seen."""
        if self.seen > self.acked:
            self.acked = self.seen
            return f'{{"type":"ack","n":{self.seen}}}'
        return None

    def next_id(self) -> int:
        return next(self._ids)

    def call(self, request_id: int, body: dict) -> str:
        return orjson.dumps(
            # v2: the body is the renderer's JSON text, a string
            {
                "type": "call",
                "id": request_id,
                "body": orjson.dumps(body).decode(),
                "headers": {},
                "query": "",
            }
        ).decode()

    def start_persistent(self) -> list[str]:
        return ['{"type":"ready"}']

    def prop_reply(self, request_id: Any, prop: str, value: Any) -> str:
        return orjson.dumps(
            {"type": "prop", "id": request_id, "found": True, "value": value}
        ).decode()

    def ping(self) -> str:
        return '{"type":"ping"}'

    def events(self, frame: str | bytes) -> Iterator[tuple]:
        for message in orjson.loads(frame):
            number = message.get("n")
            if number is not None:
                if number <= self.seen:  # a re-sent message already seen
                    continue
                self.seen = number
            kind = message.get("type")
            if kind == "set":
                yield ("set", message["component"], message["props"])
            elif kind == "result":
                status = message["status"]
                response = None
                if status == 200:
                    response = orjson.loads(message["body"]).get("response")
                yield ("result", message["id"], status in (200, 204), response)
            elif kind == "get":
                yield ("get", message["id"], message["component"], message["prop"])
            elif kind == "error":
                yield ("error", message.get("message"))
            elif kind == "pong":
                yield ("pong",)


class UpstreamAdapter:
    """Dash 4.4.1's SharedWorker client: no acks; heartbeat every 30 s (its default)."""

    name = "upstream"
    path = "/_dash-ws-callback"
    _persistent_outputs: list[str] | None = None
    ack_delay = 0.0
    heartbeat = 30.0

    @classmethod
    def configure(cls, base: str, ack_delay_ms: float | None) -> None:
        pass

    def ack(self) -> str | None:
        return None

    def __init__(self, base: str) -> None:
        self.base = base
        self.renderer = str(uuid.uuid4())
        self._counter = iter(range(1, 1 << 62))

    def new_connection(self) -> UpstreamAdapter:
        return UpstreamAdapter(self.base)

    def next_id(self) -> str:
        return f"{self.renderer}-{next(self._counter)}"

    def call(self, request_id: str, body: dict) -> str:
        # Text frames, as a browser sends (Starlette's receive_json rejects binary).
        return orjson.dumps(
            {
                "type": "callback_request",
                "rendererId": self.renderer,
                "requestId": request_id,
                "payload": body,
            }
        ).decode()

    def start_persistent(self) -> list[str]:
        # Persistent callbacks are ordinary no-input, no-output callbacks that the
        # renderer calls once; their key comes from /_dash-dependencies.
        cls = type(self)
        if cls._persistent_outputs is None:
            deps = fetch_json(self.base + "/_dash-dependencies")
            cls._persistent_outputs = [
                d["output"] for d in deps if d.get("no_output") and not d.get("inputs")
            ]
        return [
            self.call(self.next_id(), body_for(output, [])) for output in cls._persistent_outputs
        ]

    def prop_reply(self, request_id: Any, prop: str, value: Any) -> str:
        return orjson.dumps(
            {
                "type": "get_props_response",
                "rendererId": self.renderer,
                "requestId": request_id,
                "payload": {prop: value},
            }
        ).decode()

    def ping(self) -> str:
        return '{"type":"heartbeat"}'

    def events(self, frame: str | bytes) -> Iterator[tuple]:
        data = orjson.loads(frame)
        for message in data if isinstance(data, list) else (data,):
            kind = message.get("type")
            payload = message.get("payload") or {}
            if kind == "set_props":
                yield ("set", payload["componentId"], payload["props"])
            elif kind == "callback_response":
                status = payload.get("status")
                response = (payload.get("data") or {}).get("response") if status == "ok" else None
                yield ("result", message["requestId"], status in ("ok", "prevent_update"), response)
            elif kind == "get_props_request":
                yield (
                    "get",
                    message["requestId"],
                    payload["componentId"],
                    payload["properties"][0],
                )
            elif kind == "heartbeat_ack":
                yield ("pong",)
            elif kind == "error":
                yield ("error", message.get("message"))


ADAPTERS = {"dashws": DashWsAdapter, "upstream": UpstreamAdapter}


# ----------------------------------------------------------------------- a connection


class Conn:
    """One page's socket: routes results to futures, answers get requests."""

    def __init__(self, adapter, ws) -> None:
        self.adapter = adapter
        self.ws = ws
        self.waiting: dict[Any, asyncio.Future] = {}
        self.on_set = None  # callback(component, props, recv_time)
        self.on_frame = None  # callback(recv_time)
        self.errors: list[str] = []
        self.closed_code: int | None = None
        self.reader: asyncio.Task | None = None
        self._ack_timer: asyncio.TimerHandle | None = None
        self._unacked_chars = 0
        self._heartbeat: asyncio.Task | None = None

    @classmethod
    async def open(cls, adapter, host: str, port: int, **kwargs) -> Conn:
        ws = await connect(
            f"ws://{host}:{port}{adapter.path}",
            origin=f"http://{host}:{port}",
            compression=None,
            max_size=None,
            ping_interval=None,
            open_timeout=60,
            close_timeout=30,  # wait for the server's close reply, even when it is busy
            **kwargs,
        )
        join = getattr(adapter, "join", None)
        if join is not None:  # dash-ws v2: the first message on every socket
            await ws.send(join)
        return cls(adapter, ws)

    def start_reading(self) -> None:
        self.reader = asyncio.create_task(self._read())
        self._heartbeat = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.adapter.heartbeat)
                await self.ws.send(self.adapter.ping())
        except (websockets.ConnectionClosed, asyncio.CancelledError):
            pass

    def _send_ack(self) -> None:
        if self._ack_timer is not None:
            self._ack_timer.cancel()
        self._ack_timer = None
        self._unacked_chars = 0
        message = self.adapter.ack()
        if message is not None and self.ws.state.name == "OPEN":
            asyncio.ensure_future(self._send_quietly(message))

    async def _send_quietly(self, message: str) -> None:
        try:
            await self.ws.send(message)
        except websockets.ConnectionClosed:
            pass

    async def _read(self) -> None:
        adapter, on_set, on_frame = self.adapter, self.on_set, self.on_frame
        ack_delay = adapter.ack_delay
        loop = asyncio.get_running_loop()
        try:
            async for frame in self.ws:
                now = time.time()
                if on_frame is not None:
                    on_frame(now)
                if ack_delay and self._ack_timer is None:
                    self._ack_timer = loop.call_later(ack_delay, self._send_ack)
                for event in adapter.events(frame):
                    kind = event[0]
                    if kind == "set":
                        if on_set is not None:
                            on_set(event[1], event[2], now)
                    elif kind == "result":
                        future = self.waiting.pop(event[1], None)
                        if future is not None and not future.done():
                            future.set_result((event[2], event[3], now))
                    elif kind == "get":
                        await self.ws.send(adapter.prop_reply(event[1], event[3], "hello"))
                    elif kind == "error":
                        self.errors.append(str(event[1]))
                if ack_delay:
                    self._unacked_chars += len(frame)
                    if self._unacked_chars >= adapter.ack_chars:
                        self._send_ack()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed_code = self.ws.close_code
            for future in self.waiting.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"closed {self.closed_code}"))

    async def call(self, body: dict) -> tuple[bool, Any, float, float]:
        """Send a callback; returns (ok, response, sent_at, result_received_at)."""
        request_id = self.adapter.next_id()
        future = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = future
        sent_at = time.time()
        await self.ws.send(self.adapter.call(request_id, body))
        ok, response, received_at = await future
        return ok, response, sent_at, received_at

    async def close(self, timeout: float = 35.0) -> bool:
        """Close cleanly (code 1000), as a page that leaves; False if it had to abort."""
        if self._ack_timer is not None:
            self._ack_timer.cancel()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        clean = True
        try:
            await asyncio.wait_for(self.ws.close(), timeout)
        except Exception:
            clean = False
            self.ws.transport.abort()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)
        return clean


async def open_many(
    adapter, host, port, count: int, concurrency: int = 64
) -> tuple[list[Conn], int]:
    gate = asyncio.Semaphore(concurrency)
    failures = 0

    async def one() -> Conn | None:
        nonlocal failures
        async with gate:
            for attempt in range(3):
                try:
                    return await Conn.open(adapter.new_connection(), host, port)
                except Exception:
                    await asyncio.sleep(0.2 * (attempt + 1))
            failures += 1
            return None

    conns = await asyncio.gather(*(one() for _ in range(count)))
    return [c for c in conns if c is not None], failures


async def read_stdin_line() -> str:
    return (await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)).strip()


def emit(obj: dict) -> None:
    os.set_blocking(sys.stdout.fileno(), True)  # an event loop may have made it non-blocking
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# ----------------------------------------------------------------------- scenarios


async def scenario_stream(args, adapter) -> dict:
    """N sockets with the persistent 10 Hz stream; count and time updates in [t0, t1]."""
    conns, failures = await open_many(adapter, args.host, args.port, args.conns)
    hist: Counter = Counter()
    per_conn = [0] * len(conns)
    window = [0.0, 0.0]
    total_outside = 0

    def make_on_set(index: int):
        def on_set(component, props, now):
            nonlocal total_outside
            if component != "tick":
                return
            if window[0] <= now < window[1]:
                per_conn[index] += 1
                hist[bucket((now - props["children"]) * 1000.0)] += 1
            else:
                total_outside += 1

        return on_set

    for index, conn in enumerate(conns):
        conn.on_set = make_on_set(index)
        conn.start_reading()
    emit({"event": "connected", "conns": len(conns), "failures": failures})
    command = await read_stdin_line()  # START t0 t1
    _, t0, t1 = command.split()
    window[0], window[1] = float(t0), float(t1)
    starts = [conn.ws.send(m) for conn in conns for m in conn.adapter.start_persistent()]
    await asyncio.gather(*starts, return_exceptions=True)
    cpu0 = time.process_time()
    await asyncio.sleep(max(0.0, window[1] - time.time()))
    cpu1 = time.process_time()
    closed_early = sum(1 for c in conns if c.reader.done())
    close_started = time.time()
    clean = await asyncio.gather(*(c.close() for c in conns))
    return {
        "conns": len(conns),
        "failures": failures,
        "closed_early": closed_early,
        "aborted_closes": clean.count(False),
        "close_seconds": time.time() - close_started,
        "updates": sum(per_conn),
        "per_conn_min": min(per_conn) if per_conn else 0,
        "hist": {str(k): v for k, v in hist.items()},
        "window": window[1] - window[0],
        "cpu_in_window": cpu1 - cpu0,
        "errors": sorted({e for c in conns for e in c.errors})[:5],
    }


async def scenario_idle(args, adapter) -> dict:
    """N idle sockets, held open until CLOSE."""
    conns, failures = await open_many(adapter, args.host, args.port, args.conns)
    for conn in conns:
        conn.start_reading()
    emit({"event": "connected", "conns": len(conns), "failures": failures})
    await read_stdin_line()
    closed_early = sum(1 for c in conns if c.reader.done())
    await asyncio.gather(*(c.close() for c in conns))
    return {"conns": len(conns), "failures": failures, "closed_early": closed_early}


async def scenario_once(args, adapter) -> dict:
    """Sequential event callbacks that set_props once; latency of that update."""
    conn = await Conn.open(adapter, args.host, args.port)
    latest: list = []

    def on_set(component, props, now):
        if component == "once-out":
            latest.append((props["children"], now))

    conn.on_set = on_set
    conn.start_reading()
    one_way, to_set, to_result = [], [], []
    for n in range(1, args.count + 1):
        latest.clear()
        ok, _, sent, received = await conn.call(ONCE_BODY(n))
        if not ok or not latest:
            continue
        stamp, set_received = latest[0]
        if n <= 20:  # warm-up
            continue
        one_way.append((set_received - stamp) * 1000)
        to_set.append((set_received - sent) * 1000)
        to_result.append((received - sent) * 1000)
    await conn.close()
    return {
        "samples": len(one_way),
        "one_way_p50": percentile(one_way, 0.5),
        "one_way_p99": percentile(one_way, 0.99),
        "call_to_set_p50": percentile(to_set, 0.5),
        "call_to_result_p50": percentile(to_result, 0.5),
        "call_to_result_p99": percentile(to_result, 0.99),
    }


async def scenario_getprop(args, adapter) -> dict:
    """One callback doing ``count`` sequential get_prop round trips."""
    conn = await Conn.open(adapter, args.host, args.port)
    conn.start_reading()
    await conn.call(GET_BODY(1, 20))  # warm-up
    ok, response, sent, received = await conn.call(GET_BODY(2, args.count))
    await conn.close()
    durations = (response or {}).get("get-out", {}).get("children") or []
    return {
        "ok": ok,
        "samples": len(durations),
        "p50": percentile(durations, 0.5),
        "p99": percentile(durations, 0.99),
        "mean": sum(durations) / len(durations) if durations else None,
    }


async def scenario_burst(args, adapter) -> dict:
    """A callback calling set_props in a tight loop; the largest gap between frames."""
    conn = await Conn.open(adapter, args.host, args.port)
    frames: list[float] = []
    sets = 0
    staleness: list[float] = []
    last_value = [0]

    def on_frame(now):
        frames.append(now)

    def on_set(component, props, now):
        nonlocal sets
        if component == "burst-out":
            sets += 1
            value = props["children"]
            last_value[0] = value[0]
            staleness.append((now - value[1]) * 1000)

    conn.on_frame, conn.on_set = on_frame, on_set
    conn.start_reading()
    ok, response, sent, received = await conn.call(BURST_BODY(1, args.seconds))
    produced = (response or {}).get("burst-done", {}).get("children")
    await conn.close()
    inner = [f for f in frames if sent <= f <= received]
    # Gaps while the producer runs, the wait for the first frame included.
    gaps = [b - a for a, b in zip([sent] + inner, inner)]
    first_gap = (inner[0] - sent) if inner else None
    return {
        "ok": ok,
        "produced": produced,
        "delivered_sets": sets,
        "last_value": last_value[0],
        "frames": len(inner),
        "max_gap_ms": max(gaps) * 1000 if gaps else None,
        "first_frame_ms": first_gap * 1000 if first_gap is not None else None,
        "gap_p99_ms": percentile(gaps, 0.99) * 1000 if gaps else None,
        "staleness_p50_ms": percentile(staleness, 0.5),
        "staleness_max_ms": max(staleness) if staleness else None,
        "duration_s": received - sent,
    }


async def scenario_rps_ws(args, adapter) -> dict:
    """Request/response callbacks pipelined on one socket, ``inflight`` at a time."""
    conn = await Conn.open(adapter, args.host, args.port)
    conn.start_reading()
    make = ECHO_BODY[args.kind]
    done = 0
    failed = 0
    latencies: list[float] = []
    measuring = False
    stop_at = time.time() + args.warmup + args.seconds

    async def worker(worker_id: int):
        nonlocal done, failed
        n = 0
        while time.time() < stop_at:
            n += 1
            try:
                ok, _, sent, received = await conn.call(make(f"{worker_id}-{n}"))
            except ConnectionError:
                failed += 1
                return
            if measuring:
                if ok:
                    done += 1
                    latencies.append((received - sent) * 1000)
                else:
                    failed += 1

    workers = [asyncio.create_task(worker(i)) for i in range(args.inflight)]
    await asyncio.sleep(args.warmup)
    measuring = True
    cpu0, t0 = time.process_time(), time.time()
    await asyncio.sleep(args.seconds)
    measuring = False
    elapsed, cpu = time.time() - t0, time.process_time() - cpu0
    await asyncio.gather(*workers, return_exceptions=True)
    await conn.close()
    return {
        "rps": done / elapsed,
        "failed": failed,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "client_cpu": cpu / elapsed,
    }


async def scenario_rps_http(args, adapter) -> dict:
    """The same callbacks over HTTP POST /_dash-update-component, same concurrency."""
    import aiohttp

    make = ECHO_BODY[args.kind]
    url = f"http://{args.host}:{args.port}/_dash-update-component"
    done = failed = 0
    latencies: list[float] = []
    measuring = False
    stop_at = time.time() + args.warmup + args.seconds
    connector = aiohttp.TCPConnector(limit=args.inflight)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(worker_id: int):
            nonlocal done, failed
            n = 0
            while time.time() < stop_at:
                n += 1
                sent = time.time()
                try:
                    async with session.post(
                        url,
                        data=orjson.dumps(make(f"{worker_id}-{n}")),
                        headers={"Content-Type": "application/json"},
                    ) as response:
                        await response.read()
                        ok = response.status == 200
                except aiohttp.ClientError:
                    ok = False
                if measuring:
                    if ok:
                        done += 1
                        latencies.append((time.time() - sent) * 1000)
                    else:
                        failed += 1

        workers = [asyncio.create_task(worker(i)) for i in range(args.inflight)]
        await asyncio.sleep(args.warmup)
        measuring = True
        cpu0, t0 = time.process_time(), time.time()
        await asyncio.sleep(args.seconds)
        measuring = False
        elapsed, cpu = time.time() - t0, time.process_time() - cpu0
        await asyncio.gather(*workers, return_exceptions=True)
    return {
        "rps": done / elapsed,
        "failed": failed,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "client_cpu": cpu / elapsed,
    }


async def scenario_slow(args, adapter) -> dict:
    """Start a flood of ``kb`` KB x 10/s, then stop reading; after ``seconds``, see what is left."""
    # A small receive buffer, so the server's writes back up soon (loopback
    # autotuning would otherwise let the kernel absorb tens of MB).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (args.host, args.port))
    conn = await Conn.open(adapter, args.host, args.port, max_queue=1, sock=sock)
    request_id = adapter.next_id()
    await conn.ws.send(adapter.call(request_id, FLOOD_BODY(1, args.seconds + 5, args.kb)))
    emit({"event": "connected", "conns": 1, "failures": 0})
    # Never call recv(): websockets stops reading from the socket once one frame
    # waits, so the server's writes back up through the kernel buffers.
    await read_stdin_line()
    state = conn.ws.state.name
    # Now drain what the server still sends, to learn whether it closed us.
    received = 0
    started = time.time()
    close_code = None
    try:
        while time.time() - started < 3:
            frame = await asyncio.wait_for(conn.ws.recv(), 3)
            received += len(frame)
    except websockets.ConnectionClosed as closed:
        close_code = closed.rcvd.code if closed.rcvd else None
    except asyncio.TimeoutError:
        pass
    if close_code is None:
        conn.ws.transport.abort()
    return {"state_before_drain": state, "close_code": close_code, "drained_bytes": received}


SCENARIOS = {
    "stream": scenario_stream,
    "idle": scenario_idle,
    "once": scenario_once,
    "getprop": scenario_getprop,
    "burst": scenario_burst,
    "rps-ws": scenario_rps_ws,
    "rps-http": scenario_rps_http,
    "slow": scenario_slow,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--side", choices=sorted(ADAPTERS), required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--conns", type=int, default=1)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--kb", type=int, default=100, help="slow: KB per flood update (10/s)")
    parser.add_argument(
        "--ack-delay-ms",
        type=float,
        default=None,
        help="dash-ws: delay before acknowledging (default 100, as the browser; 0: never)",
    )
    parser.add_argument("--kind", choices=("sync", "async"), default="async")
    args = parser.parse_args()
    base = f"http://{args.host}:{args.port}"
    ADAPTERS[args.side].configure(base, args.ack_delay_ms)
    adapter = ADAPTERS[args.side](base)
    runner = uvloop.run if uvloop is not None else asyncio.run
    result = runner(SCENARIOS[args.scenario](args, adapter))
    result["client_pid"] = os.getpid()
    result["client_loop"] = "uvloop" if uvloop is not None else "asyncio"
    emit({"event": "result", **result})


if __name__ == "__main__":
    main()
