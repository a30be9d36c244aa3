#!/usr/bin/env python3
"""dash-ws and the bare stack on each uvicorn stack a user can choose, side by side.

    python3 benchmarks/stacks.py --quick             # 6 stacks x 2 sides, about 8 minutes
    python3 benchmarks/stacks.py --quick --stacks asyncio:wsproto,uvloop:wsproto

Runs ``run.py --sides dashws,bare --scenarios streams,rps_ws`` once per stack
(``--stack`` x ``--ws``), each run in a process of its own, waiting for the
machine to be quiet before each side, and prints one table: for every stack
the streams' delivered rate, latency p99 and server CPU per update, and the
socket callbacks/s and CPU per callback, for dash-ws, the bare stack and
their ratio. uvloop stacks run dash-ws and the bare app from
``/tmp/bench-dashws-uvloop-venv`` (made by ``setup_venvs.sh``). Standard
library only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
STACKS = [
    "asyncio:websockets-sansio",
    "asyncio:websockets",
    "asyncio:wsproto",
    "uvloop:websockets-sansio",
    "uvloop:websockets",
    "uvloop:wsproto",
]
NAMES = {"asyncio": "asyncio + h11", "uvloop": "uvloop + httptools"}


def figures(result: dict, conns: int, seconds: float) -> tuple:
    stream = result.get("streams", {}).get(str(conns))
    if not stream:
        return None, None, None
    per_update = stream["server_cpu"] / max(1e-9, stream["updates"] / seconds) * 1e6
    return stream["rate_per_conn"], stream["p99_ms"], per_update


def rps(result: dict) -> tuple:
    run = result.get("rps_ws_async")
    if not run or not run.get("rps"):
        return None, None
    return run["rps"], run["server_cpu"] / run["rps"] * 1e6


def disturbance(run: dict) -> float:
    """The most CPU other processes used in any stream window of a run."""
    others = [
        stream.get("other_cpu") or 0.0
        for result in run["results"].values()
        for stream in result.get("streams", {}).values()
    ]
    return max(others, default=0.0)


def cell(values: tuple, specs: tuple) -> str:
    return " / ".join("-" if v is None else spec.format(v) for v, spec in zip(values, specs))


def ratio(a, b) -> str:
    if a is None or not b:
        return "-"
    return f"x{a / b:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="run.py's quick mode")
    parser.add_argument("--stacks", default=",".join(STACKS), help="comma list of loop:ws")
    parser.add_argument("--scenarios", default="streams,rps_ws")
    parser.add_argument("--streams", help="run.py --streams")
    parser.add_argument("--stream-seconds", help="run.py --stream-seconds")
    parser.add_argument("--wait-quiet", type=float, default=600, help="run.py --wait-quiet")
    parser.add_argument("--out", default="/tmp/dash-ws-stacks", help="JSON results go here")
    parser.add_argument(
        "--retries", type=int, default=2, help="runs again a stack whose windows were disturbed"
    )
    parser.add_argument(
        "--max-others",
        type=float,
        default=0.3,
        help="disturbed: other processes used more than this (cores) in a stream window",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="print the table from the JSON already in --out"
    )
    args = parser.parse_args()

    Path(args.out).mkdir(parents=True, exist_ok=True)
    runs = {}
    for index, stack in enumerate(args.stacks.split(",")):
        loop, ws = stack.split(":")
        out = Path(args.out) / f"{loop}-{ws}.json"
        if args.report_only:
            if out.exists():
                runs[stack] = json.loads(out.read_text())
            continue
        command = [
            sys.executable,
            str(BENCH_DIR / "run.py"),
            "--sides",
            "dashws,bare",
            "--scenarios",
            args.scenarios,
            "--stack",
            loop,
            "--ws",
            ws,
            "--wait-quiet",
            str(args.wait_quiet),
            "--json",
            str(out),
            "--logdir",
            args.out,
        ]
        if args.quick:
            command.append("--quick")
        if args.streams:
            command += ["--streams", args.streams]
        if args.stream_seconds:
            command += ["--stream-seconds", args.stream_seconds]
        if index:
            command.append("--no-setup")
        for attempt in range(1 + args.retries):
            print(f"[{time.strftime('%H:%M:%S')}] {' '.join(command)}", file=sys.stderr, flush=True)
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            command = [c for c in command if c != "--no-setup"] + ["--no-setup"]
            runs[stack] = json.loads(out.read_text())
            others = disturbance(runs[stack])
            if others <= args.max_others:
                break
            print(
                f"  other processes used up to {others * 100:.0f} % CPU in a window: "
                + ("again" if attempt < args.retries else "kept"),
                file=sys.stderr,
                flush=True,
            )

    first = next(iter(runs.values()))
    seconds = first["config"]["stream_seconds"]
    counts = first["config"]["stream_conns"]
    header = ["stack", "side"] + [f"{c} streams: Hz / p99 ms / us per update" for c in counts]
    header.append("socket callbacks/s / us per callback")
    header.append("others' CPU")
    lines = []
    for stack, run in runs.items():
        loop, ws = stack.split(":")
        name = f"{NAMES[loop]} + {ws}"
        results = run["results"]
        dashws, bare = results.get("dashws", {}), results.get("bare", {})
        for label, result in (("dash-ws", dashws), ("bare", bare)):
            row = [name if label == "dash-ws" else "", label]
            for conns in counts:
                row.append(cell(figures(result, conns, seconds), ("{:.2f}", "{:.1f}", "{:.0f}")))
            row.append(cell(rps(result), ("{:.0f}", "{:.0f}")))
            # The most CPU other processes used during a stream window: a disturbed run.
            others = [s.get("other_cpu") for s in result.get("streams", {}).values()]
            others = [x for x in others if x is not None]
            row.append(f"<= {max(others) * 100:.0f} %" if others else "-")
            lines.append(row)
        row = ["", "x bare"]
        for conns in counts:
            d, b = figures(dashws, conns, seconds), figures(bare, conns, seconds)
            row.append(" / ".join(ratio(x, y) for x, y in zip(d, b)))
        d, b = rps(dashws), rps(bare)
        row.append(" / ".join(ratio(x, y) for x, y in zip(d, b)))
        row.append("")
        lines.append(row)
    widths = [max(len(h), *(len(r[i]) for r in lines)) for i, h in enumerate(header)]
    print(
        f"{first['mode']} mode; others' CPU: the most other processes used in a stream "
        "window (of 200 %): high means a disturbed run"
    )
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in lines:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


if __name__ == "__main__":
    main()
