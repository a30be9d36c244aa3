"""Publish one topic at 10 Hz for ``broadcast.py``, from a process of its own.

    DASH_WS_BROKER=redis://127.0.0.1:PORT/0 python broadcast_producer.py

Each message carries its publish time (``bench_broadcast.message``), taken
just before ``dash_ws.publish``; the load client measures latency from it.
Runs until SIGTERM/SIGINT, on a 100 ms schedule that does not drift. Prints
one JSON line per second: messages published, publish round trip p50/max.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import bench_broadcast

from dash_ws import publish

stopping = False


def stop(*_):
    global stopping
    stopping = True


def main() -> None:
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    broker = os.environ.get("DASH_WS_BROKER")
    if not broker:
        raise SystemExit("DASH_WS_BROKER is not set")
    period = bench_broadcast.PERIOD
    seq = 0
    took: list[float] = []
    late = 0
    next_at = time.monotonic()
    last_report = time.monotonic()
    while not stopping:
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -period:
            late += 1
            next_at = time.monotonic()
        seq += 1
        started = time.perf_counter()
        publish(bench_broadcast.TOPIC, bench_broadcast.message(seq), broker=broker)
        took.append((time.perf_counter() - started) * 1000)
        next_at += period
        if time.monotonic() - last_report >= 1.0:
            last_report = time.monotonic()
            took.sort()
            line = {
                "published": seq,
                "publish_ms_p50": took[len(took) // 2],
                "publish_ms_max": took[-1],
                "late": late,
            }
            print(json.dumps(line), flush=True)
            took.clear()
    print(json.dumps({"published": seq, "stopped": True}), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
