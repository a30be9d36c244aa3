"""Fuzz the dash-ws wire protocol for as many frames as you like, and count what happened.

Runs the strategies and checks of ``tests/security/test_fuzz.py`` against one
in-process app with a fuzzed page and a bystander page, in batches of frames
(one Hypothesis example each, followed by a real callback call on the same
page), without stopping at the first failure: a broken page is replaced and
the fuzzing goes on. Prints the frames sent, the ``error`` messages and
results they got, the crashes (a socket that closed or stopped answering:
0 expected), the examples whose answers broke the protocol, the unexpected
log records (``dash_ws``/``asyncio`` at ERROR: 0 expected) and the wall time
(the checks at the end included), then the problems by kind and the first
few broken examples::

    .venv/bin/python benchmarks/fuzz_protocol.py            # 100000 frames
    .venv/bin/python benchmarks/fuzz_protocol.py 5000 --binary

``--binary`` sends binary frames through a real uvicorn server instead.
Exits 1 when something broke.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package

import orjson  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from tests.security.live_server import live_server  # noqa: E402
from tests.security.test_fuzz import (  # noqa: E402
    DEEP_TYPE_CRASH_DEPTH,
    FuzzApp,
    Harness,
    binary_frames,
    event_loop,
    in_process_pages,
    network_pages,
    text_frames,
    trapped_logs,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("frames", nargs="?", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10, help="frames per example (default 10)")
    parser.add_argument("--binary", action="store_true", help="binary frames, real server")
    options = parser.parse_args()

    fuzz_app = FuzzApp()
    with ExitStack() as stack:
        if options.binary:
            port = stack.enter_context(live_server(fuzz_app.app))
            pages, strategy = network_pages(fuzz_app, port), binary_frames()
        else:
            pages, strategy = in_process_pages(fuzz_app), text_frames()
        trap = stack.enter_context(trapped_logs(fuzz_app.app))
        loop = stack.enter_context(event_loop())
        harness = Harness(fuzz_app, trap, pages, in_process=not options.binary)
        loop.run_until_complete(harness.start())
        started = time.perf_counter()
        try:
            finish = run(harness, loop, strategy, options.frames, options.batch, started)
        finally:
            loop.run_until_complete(harness.stop())
        elapsed = time.perf_counter() - started
    return report(harness, trap.app_errors, finish, elapsed, options)


def nesting(value) -> int:
    """How many levels of arrays and objects a parsed JSON value has, without recursion."""
    depth, level = 0, [value]
    while True:
        containers = [item for item in level if isinstance(item, (list, dict))]
        if not containers:
            return depth
        depth += 1
        level = [
            child
            for item in containers
            for child in (item.values() if isinstance(item, dict) else item)
        ]


def deep_type(frame) -> bool:
    """True for a frame whose ``type`` is a value nested as deep as the open crash needs."""
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return False
    kind = message.get("type") if isinstance(message, dict) else None
    return isinstance(kind, (list, dict)) and nesting(kind) + 1 >= DEEP_TYPE_CRASH_DEPTH


KINDS: Counter = Counter()
"""Problems by kind (their first line, numbers blanked), over every broken example."""


def run(harness: Harness, loop, strategy, frames: int, batch: int, started: float) -> list[str]:
    tally = harness.tally
    last_progress = [started]

    @settings(
        max_examples=math.ceil(frames / batch),
        deadline=None,
        database=None,
        phases=[Phase.generate],  # count every failure; never stop to shrink one
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(strategy, min_size=batch, max_size=batch))
    def each(batch_frames):
        remaining = frames - tally.frames
        if remaining > 0:
            outcome = loop.run_until_complete(harness.example(batch_frames[:remaining]))
            for problem in outcome.problems:
                kind = re.sub(r"\d+", "N", problem.splitlines()[0])[:90]
                if problem.startswith("the socket closed"):
                    deep = any(deep_type(frame) for frame, _ in outcome.sent)
                    kind += f" ({'a' if deep else 'no'} type nested {DEEP_TYPE_CRASH_DEPTH}+ deep)"
                KINDS[kind] += 1
        now = time.perf_counter()
        if now - last_progress[0] > 15:
            last_progress[0] = now
            print(f"  ... {tally.frames} frames, {now - started:.0f} s", file=sys.stderr)

    while tally.frames < frames:  # Hypothesis may end a run early; start another
        each()
    return loop.run_until_complete(harness.finish())


def report(harness: Harness, app_errors: int, finish: list[str], elapsed: float, options) -> int:
    tally = harness.tally
    mode = "binary frames, real server" if options.binary else "text frames, in process"
    rows = [
        ("mode", mode),
        ("examples (batches)", tally.examples),
        ("frames sent", tally.frames),
        ("error messages answered", tally.errors),
        ("results (fuzzed calls)", tally.results - tally.liveness_calls),
        ("pongs", tally.pongs),
        ("liveness calls answered 200", f"{tally.liveness_ok} of {tally.liveness_calls}"),
        ("crashes (socket closed or no answer)", tally.crashes),
        ("examples that broke a check", tally.broken_examples),
        ("unexpected log records (dash_ws/asyncio/uvicorn ERROR)", tally.log_records),
        ("sync callbacks run on the event loop", tally.sync_on_loop),
        ("app error records (Flask 500s, as over HTTP)", app_errors),
        ("pages opened", tally.pages_opened),
        ("other page and sessions at the end", "ok" if not finish else "; ".join(finish)),
        ("wall time", f"{elapsed:.1f} s ({tally.frames / elapsed:.0f} frames/s)"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if KINDS:
        print("\nproblems by kind:")
        for kind, count in KINDS.most_common():
            print(f"  {count:>6}  {kind}")
    for problem in tally.problems[:5]:
        print("\n--- broken example\n" + problem[:3000])
    return 1 if tally.broken_examples or finish else 0


if __name__ == "__main__":
    sys.exit(main())
