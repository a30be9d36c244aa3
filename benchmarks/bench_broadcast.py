"""One live value at 10 Hz to every page: what ``broadcast.py`` serves, shared by all its apps.

The message is ``{"t": <publish time>, "seq": <number>, "price": <value>}``;
a page shows it as ``tick.children = [t, seq, price]``, and the load client
takes ``t`` to compute the latency (client and servers share a clock: one
machine).

Two ways to write the app:

- **topics** (dash-ws only): a producer process publishes each message once
  (``dash_ws.publish``); ``@app.feed`` renders it once per worker
  (``render``) and every page of the worker gets the encoded bytes.
- **per-page loop** (the spec's way, dash-ws and upstream Dash 4.4.1): a
  persistent callback per page, ``while not ctx.websocket.is_shutdown:
  set_props(...); await asyncio.sleep(...)``, stamping ``t`` itself when it
  sets the value. The loop keeps a 100 ms schedule (``await
  asyncio.sleep(0.1)`` alone would drift below 10 Hz by its own run time)
  and starts at a random phase, as pages that open at random moments do.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import random
import sys
import threading
import time

from dash import html

TOPIC = "bench-price"
PERIOD = 0.1  # 10 Hz


def layout():
    return html.Div([html.H4("price"), html.Div(id="tick")])


def price_at(now: float) -> float:
    """A value that moves: the same function for the producer and the per-page loops."""
    return round(100.0 + 5.0 * math.sin(now / 7.0) + 0.5 * math.sin(now * 3.1), 4)


def message(seq: int) -> dict:
    now = time.time()
    return {"t": now, "seq": seq, "price": price_at(now)}


def render(msg: dict) -> list:
    """A feed's function: one published message -> the value of ``tick.children``."""
    return [msg["t"], msg["seq"], msg["price"]]


def register_loop(callback, ctx, set_props) -> None:
    """The spec's way: one persistent loop per page (``callback``/``ctx``/``set_props`` of
    dash_ws or of dash)."""

    @callback(persistent=True)
    async def price_loop():
        ws = ctx.websocket
        seq = 0
        next_at = time.monotonic() + random.random() * PERIOD
        while not ws.is_shutdown:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            seq += 1
            set_props("tick", {"children": render(message(seq))})
            next_at += PERIOD
            now = time.monotonic()
            if next_at < now - PERIOD:  # fell a whole period behind: do not burst to catch up
                next_at = now


def install_gc_stats(period: float = 0.5) -> None:
    """Write this process's cumulative garbage-collection time to stderr every ``period`` s.

    ``seconds``: CPU time of the collections (the collecting thread's, so time the machine
    gave to other processes meanwhile is not counted); ``longest``: the longest pause per
    generation, wall clock (that one is what a page waits).

    One line ``[gc] {"pid": ..., "t": ..., "seconds": [gen0, gen1, gen2], ...}``;
    ``broadcast.py`` reads the server logs at both ends of its window and reports GC's share
    of the server CPU (collections run on the thread that allocates: here, the event loop).
    """
    seconds = [0.0, 0.0, 0.0]
    longest = [0.0, 0.0, 0.0]
    longest_cpu = [0.0, 0.0, 0.0]
    count = [0, 0, 0]
    started: list[float] = []

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            started[:] = [time.thread_time(), time.perf_counter()]
        elif started:
            generation = info["generation"]
            cpu = time.thread_time() - started[0]  # CPU: without the time other processes took
            seconds[generation] += cpu
            longest_cpu[generation] = max(longest_cpu[generation], cpu)
            longest[generation] = max(longest[generation], time.perf_counter() - started[1])
            count[generation] += 1

    def report() -> None:
        while True:
            time.sleep(period)
            line = {
                "pid": pid,
                "t": time.time(),
                "seconds": list(seconds),
                "count": list(count),
                "longest": list(longest),
                "longest_cpu": list(longest_cpu),
                "threshold": gc.get_threshold(),
            }
            print("[gc] " + json.dumps(line), file=sys.stderr, flush=True)

    pid = os.getpid()
    threshold = os.environ.get("BENCH_GC_THRESHOLD")  # broadcast.py --gc-threshold a,b,c
    if threshold:
        gc.set_threshold(*(int(x) for x in threshold.split(",")))
    gc.callbacks.append(on_gc)
    threading.Thread(target=report, name="bench-gc-stats", daemon=True).start()


def heap() -> dict:
    """Objects the collector tracks in this process: what a full collection walks."""
    return {"pid": os.getpid(), "objects": len(gc.get_objects())}
