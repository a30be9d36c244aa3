"""The benchmark's layout and callbacks, shared verbatim by both apps.

``register`` takes the side's own ``callback``, ``ctx`` and ``set_props``
(``dash_ws`` for dash-ws, ``dash`` for upstream Dash 4.4.1), so both servers
run exactly the same Python code. Every callback is ``async def``, so on both
sides it runs on the event loop (upstream sends sync callbacks to a 4-thread
pool, dash-ws to a 16-thread pool); ``echo_sync`` is the one sync callback,
kept to measure that path too.

Timestamps: values that the client turns into latencies carry the server's
``time.time()``; client and server share a clock (one machine).
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import sys
import time

from dash import Input, Output, Patch, State, dcc, html
from proc_memory import rss_kb

STREAM_PERIOD = 0.1  # 10 Hz


def layout():
    return html.Div(
        [
            html.Div(id="tick"),  # persistent 10 Hz stream
            html.Button(id="once-btn"),
            html.Div(id="once-out"),
            html.Div(id="once-done"),
            dcc.Input(id="get-src", value="hello"),
            dcc.Input(id="get-count", type="number", value=200),
            html.Button(id="get-btn"),
            html.Div(id="get-out"),
            dcc.Input(id="burst-secs", type="number", value=3),
            html.Button(id="burst-btn"),
            html.Div(id="burst-out"),
            html.Div(id="burst-done"),
            dcc.Input(id="flood-secs", type="number", value=10),
            dcc.Input(id="flood-kb", type="number", value=100),
            html.Button(id="flood-btn"),
            html.Div(id="flood-log", children=[]),
            html.Div(id="flood-done"),
            dcc.Input(id="echo-in", value=""),
            html.Div(id="echo-out"),
            dcc.Input(id="echo-in-a", value=""),
            html.Div(id="echo-out-a"),
        ]
    )


# ----------------------------------------------------------------------- BENCH_DIAG=1
# Logs to stderr (the server log) every garbage collection and every event-loop
# stall longer than 20 ms, to explain latency outliers.

DIAG = os.environ.get("BENCH_DIAG") == "1"
_diag_started = False


def _diag_log(text: str) -> None:
    print(f"[diag {time.time():.3f}] {text}", file=sys.stderr, flush=True)


def _start_diag() -> None:
    global _diag_started
    if not DIAG or _diag_started:
        return
    _diag_started = True
    gc_started = {}

    def on_gc(phase, info):
        if phase == "start":
            gc_started["t"] = time.perf_counter()
        elif "t" in gc_started:
            took = (time.perf_counter() - gc_started["t"]) * 1000
            if took > 5 or info["generation"] == 2:
                _diag_log(
                    f"gc gen{info['generation']} {took:.1f} ms, collected {info['collected']}"
                )

    gc.callbacks.append(on_gc)

    async def lag_monitor():
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            lag = (time.perf_counter() - before - 0.01) * 1000
            if lag > 20:
                _diag_log(f"event loop stalled {lag:.0f} ms")

    asyncio.get_running_loop().create_task(lag_monitor())


def register(callback, ctx, set_props):
    @callback(persistent=True)
    async def stream():
        """Persistent: one ``tick`` update every 100 ms for as long as the page is open."""
        _start_diag()
        ws = ctx.websocket
        next_at = time.monotonic() + random.random() * STREAM_PERIOD  # spread the phases
        while not ws.is_shutdown:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            set_props("tick", {"children": time.time()})
            next_at += STREAM_PERIOD
            now = time.monotonic()
            if next_at < now - STREAM_PERIOD:  # fell behind by a whole period: don't burst
                next_at = now

    @callback(
        Output("once-done", "children"),
        Input("once-btn", "n_clicks"),
        prevent_initial_call=True,
    )
    async def once(n_clicks):
        """Event callback: one set_props, then return."""
        set_props("once-out", {"children": time.time()})
        return n_clicks

    @callback(
        Output("get-out", "children"),
        Input("get-btn", "n_clicks"),
        State("get-count", "value"),
        prevent_initial_call=True,
    )
    async def get_loop(n_clicks, count):
        """``count`` sequential get_prop round trips; returns each one's duration in ms."""
        ws = ctx.websocket
        durations = []
        for _ in range(int(count or 200)):
            started = time.perf_counter()
            await ws.get_prop("get-src", "value")
            durations.append((time.perf_counter() - started) * 1000.0)
        return durations

    @callback(
        Output("burst-done", "children"),
        Input("burst-btn", "n_clicks"),
        State("burst-secs", "value"),
        prevent_initial_call=True,
    )
    async def burst(n_clicks, seconds):
        """Continuous producer: set_props in a tight loop, yielding with sleep(0)."""
        _start_diag()
        end = time.monotonic() + float(seconds or 3)
        produced = 0
        while time.monotonic() < end:
            produced += 1
            set_props("burst-out", {"children": [produced, time.time()]})
            await asyncio.sleep(0)
        return produced

    @callback(
        Output("flood-done", "children"),
        Input("flood-btn", "n_clicks"),
        State("flood-secs", "value"),
        State("flood-kb", "value"),
        prevent_initial_call=True,
    )
    async def flood(n_clicks, seconds, kb):
        """10 Patch appends of ``kb`` KB per second (100 KB: ~1 MB/s), never coalesced."""
        ws = ctx.websocket
        chunk = "x" * int(1000 * (kb or 100))
        end = time.monotonic() + float(seconds or 10)
        sent = 0
        while time.monotonic() < end and not ws.is_shutdown:
            patch = Patch()
            patch.append(chunk)
            set_props("flood-log", {"children": patch})
            sent += 1
            await asyncio.sleep(0.1)
        return sent

    @callback(Output("echo-out", "children"), Input("echo-in", "value"))
    def echo_sync(value):
        """Request/response, sync (worker thread on the socket path)."""
        return value

    @callback(Output("echo-out-a", "children"), Input("echo-in-a", "value"))
    async def echo_async(value):
        """Request/response, async (event loop)."""
        return value


# ----------------------------------------------------------------------- diagnostics

_WATCHED_TYPES = (
    "PageSession",
    "Outbox",
    "WebSocket",
    "DashWebsocketCallback",
    "Queue",
    "Task",
    "Future",
    "Handshake",
    "_PendingSet",
    "TimerHandle",
)


def stats(trim: bool = False) -> dict:
    """``GET /_bench/stats[?trim=1]``: live objects after a full collection.

    With ``trim``, glibc's ``malloc_trim(0)`` runs too and the RSS after it is
    reported, to tell memory still held by live objects from freed memory the
    allocator keeps.
    """
    import collections
    import gc

    gc.collect()
    objects = gc.get_objects()
    by_type = collections.Counter(type(o).__name__ for o in objects)
    result = {
        "objects": len(objects),
        "watched": {name: by_type.get(name, 0) for name in _WATCHED_TYPES},
        "top": by_type.most_common(12),
        "tasks": len(asyncio.all_tasks()) if _has_running_loop() else None,
    }
    del objects
    result["rss_kb"] = rss_kb(trim)
    return result


def _has_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


_TRACE_BASE = []


def trace(action: str, by: str = "lineno", limit: int = 40) -> dict:
    """``GET /_bench/trace/<start|diff>[?by=filename&limit=N]``: where memory goes.

    ``start`` begins tracing and takes a baseline; ``diff`` returns the lines
    (or files) that allocated the most since (slows the server while tracing:
    diagnosis only).
    """
    import tracemalloc

    if action == "start":
        tracemalloc.start(1)
        _TRACE_BASE[:] = [tracemalloc.take_snapshot()]
        return {"tracing": True}
    if not _TRACE_BASE:
        return {"error": "call start first"}
    snapshot = tracemalloc.take_snapshot()
    stats = snapshot.compare_to(_TRACE_BASE[0], by)
    total = sum(stat.size_diff for stat in stats)
    return {
        "total_kb": total / 1024,
        "top": [
            {"where": str(stat.traceback), "kb": stat.size_diff / 1024, "count": stat.count_diff}
            for stat in stats[:limit]
        ],
    }
