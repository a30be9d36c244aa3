"""Load client for ``broadcast.py``: many pages, each counting and timing the 10 Hz value.

    python broadcast_client.py --side dashws --ports 8001,8002 --pages 2500

Opens ``--pages`` sockets spread round-robin over ``--ports`` (one port per
server worker), each behaving as the side's browser client does for this app:

- ``dashws`` (protocol v2): ``/_dash-ws/socket?v=2&page=/``, ``join`` first,
  ``ready`` to start the page's feeds / persistent callbacks, an ``ack`` 500 ms
  after the first unacknowledged numbered message (as dash_ws.js), a ``ping``
  every ``heartbeat_ms`` of the page config (15 s by default);
- ``upstream`` (Dash 4.4.1): ``/_dash-ws-callback`` with an ``Origin``, the
  persistent callback started by a ``callback_request`` per no-input,
  no-output callback of ``/_dash-dependencies`` (``loadclient.UpstreamAdapter``),
  a ``heartbeat`` every 30 s.

With thousands of sockets per process the client, not the server, is what
runs out of CPU first, so this is not built on ``websockets``: each page is a
bare ``asyncio.Protocol`` (uvloop when importable) that parses server frames
itself and sends its few frames with a zero masking key (the RFC asks for a
random key, to protect proxies from cache poisoning, and a server cannot
refuse one; there is no proxy here). Reused from ``loadclient``: the latency
histogram buckets and the upstream adapter.

Talks to ``broadcast.py`` in JSON lines on stdout:
``{"event": "connected", ...}`` once the ramp is over (or its deadline
passed), then on stdin ``START <t0> <t1>`` (send ``ready`` now, count updates
received in [t0, t1)), then ``{"event": "result", ...}`` after t1, then
``CLOSE`` (close every socket with code 1000 and exit).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import resource
import sys
import time
from collections import Counter

import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loadclient import UpstreamAdapter, bucket, emit, read_stdin_line  # noqa: E402

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None

DASHWS_PATH = "/_dash-ws/socket?v=2&page=%2F"
UPSTREAM_PATH = "/_dash-ws-callback"
ACK_DELAY = 0.5


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def ws_frame(payload: bytes, opcode: int = 1) -> bytes:
    """A client frame: FIN, masked with a zero key (so the payload goes as it is)."""
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, 0x80 | size))
    elif size < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


class Page(asyncio.Protocol):
    """One page's socket."""

    def __init__(self, client: LoadClient, index: int, port: int) -> None:
        self.client = client
        self.index = index
        self.port = port
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.open = False
        self.opened: asyncio.Future = asyncio.get_running_loop().create_future()
        self.fragment: bytes | None = None
        # dash-ws numbering / acks
        self.seen = 0
        self.acked = 0
        self.ack_timer: asyncio.TimerHandle | None = None
        # counting
        self.count = 0
        self.last_seq = 0
        self.skipped = 0
        self.first_tick: float | None = None
        self.closed_at: float | None = None
        self.close_code: int | None = None
        self.close_sent = False
        self.adapter: UpstreamAdapter | None = None

    # ------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        host = f"{self.client.host}:{self.port}"
        request = (
            f"GET {self.client.path} HTTP/1.1\r\n"
            f"Host: {host}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            f"Origin: http://{host}\r\n"
            "\r\n"
        )
        transport.write(request.encode())  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed_at is None:
            self.closed_at = time.time()
        if self.ack_timer is not None:
            self.ack_timer.cancel()
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed before the upgrade: {exc}"))

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end])
            del buf[: end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                status = head.split(b"\r\n", 1)[0].decode(errors="replace")
                if not self.opened.done():
                    self.opened.set_exception(ConnectionError(f"upgrade refused: {status}"))
                self.transport.close()
                return
            self.open = True
            self.opened.set_result(True)
            self.client.on_open(self)
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, header = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, header = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, header = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if b1 & 0x80:  # servers do not mask; skip a key if one came
                header += 4
            end = pos + header + length
            if end > size:
                break
            payload = bytes(buf[pos + header : end])
            pos = end
            opcode = b0 & 0x0F
            if opcode in (1, 2):
                if b0 & 0x80:
                    self.client.on_message(self, payload)
                else:
                    self.fragment = payload
            elif opcode == 0 and self.fragment is not None:
                self.fragment += payload
                if b0 & 0x80:
                    whole, self.fragment = self.fragment, None
                    self.client.on_message(self, whole)
            elif opcode == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.client.on_server_close(self)
                self.send_close(1000)
                self.transport.close()
                break
            elif opcode == 9:
                self.transport.write(ws_frame(payload, 10))
        if pos:
            del buf[:pos]

    # ------------------------------------------------------------ sending

    def send(self, text: str | bytes) -> None:
        if self.transport is not None and not self.transport.is_closing() and not self.close_sent:
            self.transport.write(ws_frame(text.encode() if isinstance(text, str) else text))

    def send_close(self, code: int) -> None:
        if not self.close_sent and self.transport is not None and not self.transport.is_closing():
            self.close_sent = True
            self.transport.write(ws_frame(code.to_bytes(2, "big"), 8))

    def send_ack(self) -> None:
        self.ack_timer = None
        if self.seen > self.acked:
            self.acked = self.seen
            self.send(b'{"type":"ack","n":%d}' % self.seen)


class LoadClient:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.side = args.side
        self.host = args.host
        self.ports = [int(p) for p in args.ports.split(",")]
        self.path = DASHWS_PATH if self.side == "dashws" else UPSTREAM_PATH
        self.heartbeat = args.heartbeat or (15.0 if self.side == "dashws" else 30.0)
        self.pages: list[Page] = []
        self.window = (float("inf"), float("inf"))
        self.hist: Counter = Counter()
        self.hist_halves: tuple[Counter, Counter] = (Counter(), Counter())
        self.middle = float("inf")
        self.errors: Counter = Counter()
        self.close_codes: Counter = Counter()
        self.gaps = 0
        self.results_not_ok = 0
        self.updates_before = 0
        self.updates_after = 0
        self.on_message = self._on_dashws if self.side == "dashws" else self._on_upstream

    # ------------------------------------------------------------ receiving

    def on_open(self, page: Page) -> None:
        if self.side == "dashws":
            page.send(b'{"type":"join"}')

    def on_server_close(self, page: Page) -> None:
        self.close_codes[page.close_code] += 1

    def _tick(self, page: Page, children: list, now: float) -> None:
        seq = children[1]
        if page.first_tick is None:
            page.first_tick = now
        if now < self.window[0]:
            self.updates_before += 1
        elif now < self.window[1]:
            page.count += 1
            key = bucket((now - children[0]) * 1000.0)
            self.hist[key] += 1
            self.hist_halves[now >= self.middle][key] += 1
            if page.last_seq and seq > page.last_seq + 1:
                page.skipped += seq - page.last_seq - 1
        else:
            self.updates_after += 1
        page.last_seq = seq

    def _on_dashws(self, page: Page, payload: bytes) -> None:
        now = time.time()
        for message in orjson.loads(payload):
            number = message.get("n")
            if number is not None:
                if number <= page.seen:
                    continue
                page.seen = number
                if page.ack_timer is None:
                    page.ack_timer = asyncio.get_running_loop().call_later(ACK_DELAY, page.send_ack)
            kind = message.get("type")
            if kind == "set":
                if message["component"] == "tick":
                    self._tick(page, message["props"]["children"], now)
            elif kind == "error":
                self.errors[str(message.get("message"))[:200]] += 1
            elif kind == "gap":
                self.gaps += 1

    def _on_upstream(self, page: Page, payload: bytes) -> None:
        now = time.time()
        data = orjson.loads(payload)
        for message in data if isinstance(data, list) else (data,):
            kind = message.get("type")
            if kind == "set_props":
                body = message["payload"]
                if body["componentId"] == "tick":
                    self._tick(page, body["props"]["children"], now)
            elif kind == "callback_response":
                status = (message.get("payload") or {}).get("status")
                if status not in ("ok", "prevent_update"):
                    self.results_not_ok += 1
                    self.errors[f"callback_response {status}"] += 1
            elif kind == "error":
                self.errors[str(message.get("message"))[:200]] += 1

    # ------------------------------------------------------------ connecting

    async def open_all(self) -> dict:
        loop = asyncio.get_running_loop()
        args = self.args
        deadline = time.time() + args.ramp_deadline
        gate = asyncio.Semaphore(args.concurrency)
        failures: Counter = Counter()

        async def open_one(index: int) -> Page | None:
            port = self.ports[(args.first_index + index) % len(self.ports)]
            for attempt in range(4):
                remaining = deadline - time.time()
                if remaining <= 0:
                    failures["ramp deadline"] += 1
                    return None
                async with gate:
                    page = Page(self, args.first_index + index, port)
                    try:
                        await asyncio.wait_for(
                            loop.create_connection(lambda p=page: p, self.host, port),
                            min(30.0, remaining),
                        )
                        await asyncio.wait_for(
                            asyncio.shield(page.opened), max(0.1, deadline - time.time())
                        )
                        return page
                    except (Exception, asyncio.TimeoutError) as error:
                        failures[f"{type(error).__name__}: {str(error)[:80]}"] += 1
                        if page.transport is not None:
                            page.transport.abort()
                await asyncio.sleep(0.2 * (attempt + 1))
            return None

        started = time.time()
        opened = await asyncio.gather(*(open_one(i) for i in range(args.pages)))
        self.pages = [p for p in opened if p is not None]
        return {
            "pages": len(self.pages),
            "failed": args.pages - len(self.pages),
            "failure_kinds": dict(failures.most_common(5)),
            "connect_seconds": time.time() - started,
        }

    async def heartbeats(self) -> None:
        """Every page pings every ``heartbeat`` s, spread over the interval (one sweep a second)."""
        slots = max(1, int(self.heartbeat))
        ping = b'{"type":"ping"}' if self.side == "dashws" else b'{"type":"heartbeat"}'
        tick = 0
        while True:
            await asyncio.sleep(1.0)
            tick += 1
            for page in self.pages[tick % slots :: slots]:
                page.send(ping)

    def start_pages(self) -> None:
        for page in self.pages:
            if self.side == "dashws":
                page.send(b'{"type":"ready"}')
            else:
                page.adapter = UpstreamAdapter(f"http://{self.host}:{page.port}")
                for message in page.adapter.start_persistent():
                    page.send(message)

    async def close_all(self, timeout: float = 5.0) -> int:
        """Close every socket cleanly (1000), as pages that leave; abort what has not closed."""
        for page in self.pages:
            page.send_close(1000)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if all(p.transport is None or p.transport.is_closing() for p in self.pages):
                if all(p.closed_at is not None for p in self.pages):
                    break
            await asyncio.sleep(0.1)
        aborted = 0
        for page in self.pages:
            if page.closed_at is None and page.transport is not None:
                page.transport.abort()
                aborted += 1
        return aborted


async def run(args: argparse.Namespace) -> None:
    client = LoadClient(args)
    ramp = await client.open_all()
    beats = asyncio.ensure_future(client.heartbeats())
    emit({"event": "connected", **ramp})
    command = await read_stdin_line()  # START t0 t1
    _, t0, t1 = command.split()
    client.window = (float(t0), float(t1))
    client.middle = (client.window[0] + client.window[1]) / 2
    ready_at = time.time()
    client.start_pages()
    await asyncio.sleep(max(0.0, client.window[0] - time.time()))
    cpu0, wall0 = time.process_time(), time.time()
    await asyncio.sleep(max(0.0, client.window[1] - time.time()))
    cpu, wall = time.process_time() - cpu0, time.time() - wall0
    pages = client.pages
    counts = Counter(p.count for p in pages)
    first = sorted(p.first_tick - ready_at for p in pages if p.first_tick is not None)
    result = {
        "event": "result",
        **ramp,
        "window": client.window[1] - client.window[0],
        "updates": sum(p.count for p in pages),
        "skipped": sum(p.skipped for p in pages),
        "counts": {str(k): v for k, v in counts.items()},
        "hist": {str(k): v for k, v in client.hist.items()},
        "hist_halves": [{str(k): v for k, v in h.items()} for h in client.hist_halves],
        "updates_before_window": client.updates_before,
        "pages_never_updated": sum(1 for p in pages if p.first_tick is None),
        "never_updated_by_port": dict(Counter(p.port for p in pages if p.first_tick is None)),
        "first_update_p50_s": first[len(first) // 2] if first else None,
        "first_update_max_s": first[-1] if first else None,
        "closed_before_end": sum(1 for p in pages if p.closed_at is not None),
        "close_codes": {str(k): v for k, v in client.close_codes.items()},
        "errors": dict(client.errors.most_common(5)),
        "gaps": client.gaps,
        "cpu_in_window": cpu / wall if wall else None,
        "client_pid": os.getpid(),
        "client_loop": "uvloop" if uvloop is not None else "asyncio",
    }
    emit(result)
    await read_stdin_line()  # CLOSE (or EOF)
    beats.cancel()
    aborted = await client.close_all()
    emit({"event": "closed", "aborted": aborted})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--side", choices=("dashws", "upstream"), required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ports", required=True, help="comma list, one per server worker")
    parser.add_argument("--pages", type=int, required=True)
    parser.add_argument(
        "--first-index", type=int, default=0, help="this process's first page number (spread)"
    )
    parser.add_argument("--concurrency", type=int, default=64, help="upgrades in flight")
    parser.add_argument("--ramp-deadline", type=float, default=120.0, help="seconds")
    parser.add_argument("--heartbeat", type=float, default=0.0, help="seconds (0: the side's)")
    args = parser.parse_args()
    raise_nofile()
    (uvloop.run if uvloop is not None else asyncio.run)(run(args))


if __name__ == "__main__":
    main()
