#!/usr/bin/env python3
"""Run the same WebSocket-callback scenarios against dash-ws, upstream Dash and baselines.

    python benchmarks/run.py --quick      # about 4 minutes, every side
    python benchmarks/run.py              # full, about 15 minutes
    python benchmarks/run.py --sides dashws,bare --scenarios streams --stack uvloop --ws wsproto

Sides (``--sides``, all by default), each one server process on 127.0.0.1:

- ``dashws``: ``app_dashws.py``, dash-ws on Flask, one uvicorn worker;
- ``dashwsfastapi``: ``app_dashws_fastapi.py``, the same on Dash's FastAPI
  backend, as upstream's app is: socket and HTTP callbacks only;
- ``upstream``: ``app_upstream.py``, Dash 4.4.1's own WebSocket callbacks on
  FastAPI, one uvicorn worker, from its own virtual environment;
- ``upstream45``: the same app on Dash 4.5.0rc2 (its own venv);
- ``flask``: ``app_flask.py``, the same app as plain Dash on Flask served
  by gunicorn (gthread, 1 worker, 16 threads): HTTP callbacks only;
- ``flasksync``: the same, Dash without ``dash[async]`` (a sync view): the
  sync HTTP callback only;
- ``bare``: ``app_bare.py``, a plain ASGI app sending the same frames at the
  same rates, on the same uvicorn stack and venv as dash-ws: the limit of the
  stack. dash-ws's figures are also shown as a ratio to it ("x bare").

The load client (``loadclient.py``) runs in a venv of its own, in one or
more processes. Server CPU and RSS are read from /proc of the server pid,
client CPU from /proc of the client pids. Only the standard library is used
here, so any python3 can run this file; see README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")

MODES = {
    "quick": dict(
        stream_conns=[100, 1000, 2000, 4000],
        memory_conns=2000,
        cycles=5,
        stream_warmup=1.5,
        stream_seconds=3.0,
        once_count=300,
        getprop_count=300,
        burst_seconds=3.0,
        rps_seconds=1.5,
        slow_seconds=8.0,
        slow_kb=200,  # 2 MB/s, so the 8 MB outbox ceiling is reached within 8 s
        rps_kinds=["async", "sync"],  # sync: how plain Flask runs a callback
        repeats=1,
    ),
    "full": dict(
        stream_conns=[100, 500, 1000, 2000, 4000],
        memory_conns=2000,
        cycles=5,
        stream_warmup=4.0,
        stream_seconds=15.0,
        once_count=1000,
        getprop_count=1000,
        burst_seconds=3.0,
        rps_seconds=5.0,
        slow_seconds=20.0,
        slow_kb=100,  # 1 MB/s
        rps_kinds=["async", "sync"],
        repeats=3,  # single-connection scenarios: the median run of 3 is reported
    ),
}

SCENARIOS = (
    "streams",
    "cycles",
    "once",
    "getprop",
    "burst",
    "rps_ws",
    "rps_http",
    "close",
    "slow",
)

# server: how it is served; venv: whose python; adapter: which loadclient protocol;
# scenarios: what it can run. Table columns follow this order.
SIDES = {
    "dashws": dict(
        label="dash-ws",
        target="app_dashws:app.asgi",
        server="uvicorn",
        venv="dashws",
        adapter="dashws",
        scenarios=set(SCENARIOS),
    ),
    "dashwsfastapi": dict(
        label="dash-ws, FastAPI",
        target="app_dashws_fastapi:app.asgi",
        server="uvicorn",
        venv="dashws",
        adapter="dashws",
        scenarios={"rps_ws", "rps_http"},
    ),
    "upstream": dict(
        label="upstream 4.4.1",
        target="app_upstream:server",
        server="uvicorn",
        venv="upstream",
        adapter="upstream",
        scenarios=set(SCENARIOS),
    ),
    "upstream45": dict(
        label="upstream 4.5.0rc2",
        target="app_upstream:server",
        server="uvicorn",
        venv="upstream45",
        adapter="upstream",
        scenarios=set(SCENARIOS),
    ),
    "flask": dict(
        label="Flask gunicorn",
        target="app_flask:server",
        server="gunicorn",
        venv="flask",
        adapter="dashws",  # only HTTP POSTs: the adapter is not used
        scenarios={"rps_http"},
    ),
    "flasksync": dict(
        label="Flask, no dash[async]",
        target="app_flask:server",
        server="gunicorn",
        venv="flask",
        adapter="dashws",
        scenarios={"rps_http"},
        kinds={"sync"},  # without asgiref Dash cannot run the async callback
        env={"BENCH_FLASK_USE_ASYNC": "0"},
    ),
    "bare": dict(
        label="bare stack",
        target="app_bare:app",
        server="uvicorn",
        venv="dashws",  # the same python (so the same uvicorn, loop, ws library) as dash-ws
        adapter="dashws",
        scenarios={"streams", "cycles", "once", "getprop", "rps_ws", "rps_http", "close"},
    ),
}
DEFAULT_SIDES = "dashws,dashwsfastapi,upstream,upstream45,flask,flasksync,bare"
STREAM_TARGET_HZ = {2000: 9.5, 4000: 9}
"""Delivered updates per second per page that dash-ws must reach, by page count."""
WS_IMPLEMENTATIONS = ("websockets-sansio", "websockets", "wsproto")
GUNICORN_THREADS = 16


def uvicorn_stack_flags(stack: str, ws: str | None) -> list[str]:
    """uvicorn's --loop/--http/--ws for ``--stack`` and ``--ws``."""
    flags = []
    if stack == "asyncio":
        flags += ["--loop", "asyncio", "--http", "h11"]
    elif stack == "uvloop":
        flags += ["--loop", "uvloop", "--http", "httptools"]
    if ws:
        flags += ["--ws", ws]
    elif stack != "native":
        flags += ["--ws", "websockets-sansio"]
    return flags


def stack_name(stack: str, ws: str | None) -> str:
    if stack == "native":
        return "native" + (f" + {ws}" if ws else "")
    http = {"asyncio": "h11", "uvloop": "httptools"}[stack]
    return f"{stack} + {http} + {ws or 'websockets-sansio'}"


# ----------------------------------------------------------------------- /proc


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def system_busy_seconds() -> float:
    """CPU time all cores spent busy since boot (/proc/stat), in seconds."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / CLK_TCK


def proc_run_delay(pid: int) -> float:
    """Seconds the main thread (the server's event loop) has waited for a CPU."""
    try:
        with open(f"/proc/{pid}/schedstat") as stat:
            return int(stat.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def proc_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def proc_children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(x) for x in children.read().split()]
    except OSError:
        return []


# ----------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """One server process: uvicorn (one worker) or gunicorn (a master and one worker).

    ``pid`` is the process that serves: uvicorn's, or gunicorn's worker once
    ready; CPU time counts the gunicorn master too.
    """

    def __init__(
        self,
        side: str,
        python: str,
        port: int,
        stack: str,
        log: Path,
        extra: tuple = (),
        ws: str | None = None,
    ) -> None:
        self.side, self.port = side, port
        spec = SIDES[side]
        if spec.get("server") == "gunicorn":
            command = [
                python,
                "-m",
                "gunicorn",
                spec["target"],
                "--chdir",
                str(BENCH_DIR),
                "--bind",
                f"127.0.0.1:{port}",
                "--worker-class",
                "gthread",
                "--threads",
                str(GUNICORN_THREADS),
                "--workers",
                "1",
                "--backlog",
                "4096",
                "--log-level",
                "warning",
            ]
        else:
            command = [
                python,
                "-m",
                "uvicorn",
                spec["target"],
                "--app-dir",
                str(BENCH_DIR),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--backlog",
                "4096",
            ] + uvicorn_stack_flags(stack, ws)
        command += list(extra)
        self.command = command
        self.log = open(log, "w")
        self.proc = subprocess.Popen(
            command,
            cwd=BENCH_DIR,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **spec.get("env", {})},
        )
        self.pid = self.proc.pid
        self.pids = [self.pid]

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.side} server exited; see {self.log.name}")
            try:
                self.get("/")
            except OSError:
                time.sleep(0.2)
                continue
            if SIDES[self.side].get("server") == "gunicorn":  # the worker serves; the master waits
                workers = proc_children(self.proc.pid)
                if workers:
                    self.pid = workers[0]
                    self.pids = [self.proc.pid, *workers]
            return
        raise RuntimeError(f"{self.side} server did not start in {timeout}s")

    def stats(self, trim: bool = False) -> dict:
        """The app's own /_bench/stats: live objects after gc (and RSS after malloc_trim)."""
        return json.loads(self.get("/_bench/stats" + ("?trim=1" if trim else "")))

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
            return r.read()

    def cpu(self) -> float:
        return sum(proc_cpu_seconds(pid) for pid in self.pids)

    def rss(self) -> int:
        return proc_rss_kb(self.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Client:
    """One load-client process; talks JSON lines on stdout, commands on stdin."""

    def __init__(self, python: str, side: str, port: int, scenario: str, **options) -> None:
        command = [
            python,
            str(BENCH_DIR / "loadclient.py"),
            scenario,
            "--side",
            side,
            "--port",
            str(port),
        ]
        for key, value in options.items():
            command += [f"--{key}", str(value)]
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.pid = self.proc.pid
        self._stderr: list[str] = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    def _drain_stderr(self) -> None:
        for line in self.proc.stderr:
            self._stderr.append(line)

    def read_event(self, timeout: float = 300.0) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(5)
            raise RuntimeError("load client failed:\n" + "".join(self._stderr[-30:]))
        return json.loads(line)

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def result(self) -> dict:
        event = self.read_event()
        while event.get("event") != "result":
            event = self.read_event()
        self.proc.wait(30)
        return event

    def cpu(self) -> float:
        try:
            return proc_cpu_seconds(self.pid)
        except OSError:
            return 0.0

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ----------------------------------------------------------------------- helpers


def merge_hist(hists: list[dict]) -> dict:
    merged: dict[int, int] = {}
    for hist in hists:
        for key, count in hist.items():
            merged[int(key)] = merged.get(int(key), 0) + count
    return merged


def hist_percentile(hist: dict, q: float) -> float | None:
    """Percentile of a loadclient latency histogram (1 %-wide log buckets from 1 us)."""
    total = sum(hist.values())
    if not total:
        return None
    rank = q * (total - 1)
    seen = 0
    for key in sorted(hist):
        seen += hist[key]
        if seen > rank:
            return 0.001 * 1.01 ** (key + 0.5)
    return None


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def wait_machine_quiet(limit: float, threshold: float = 0.25) -> dict:
    """Wait (at most ``limit`` s) until the machine's busy CPU over 2 s is under ``threshold``."""
    started = time.time()
    busy = None
    while time.time() - started < limit:
        busy0 = system_busy_seconds()
        time.sleep(2.0)
        busy = (system_busy_seconds() - busy0) / 2.0
        if busy < threshold:
            break
    waited = time.time() - started
    if waited > 2.5:
        log(f"waited {waited:.0f} s for other load to go (now {busy * 100:.0f} % CPU)")
    return {"waited": waited, "busy": busy}


# ----------------------------------------------------------------------- py-spy


class Profiler:
    """``py-spy record --nonblocking -f raw`` on a server for a while, in the background.

    ``result()`` waits for it and aggregates the samples: self time per
    function (summed over its lines) and per package.
    """

    def __init__(self, py_spy: str, pid: int, seconds: float, raw: Path) -> None:
        self.raw, self.seconds = raw, seconds
        raw.unlink(missing_ok=True)
        self.command = [
            py_spy,
            "record",
            "--nonblocking",
            "-d",
            str(max(1, int(seconds))),
            "-f",
            "raw",
            "-o",
            str(raw),
            "--pid",
            str(pid),
        ]
        log(f"py-spy on pid {pid} for {seconds:.0f} s -> {raw}")
        self.proc = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )

    def result(self, top: int = 20) -> dict:
        try:
            _, stderr = self.proc.communicate(timeout=self.seconds + 60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, stderr = self.proc.communicate()
        if not self.raw.exists():
            return {"error": f"py-spy produced nothing: {stderr.strip()[-300:]}"}
        return aggregate_py_spy(self.raw.read_text(), self.seconds, top) | {
            "raw": str(self.raw),
            "command": " ".join(self.command),
        }


def _frame_name(frame: str) -> str:
    """``func (pkg/mod.py:123)`` -> ``func (pkg/mod.py)``: samples summed over lines."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({where})" if where else name


def _package(frame: str) -> str:
    where = frame.rpartition(" (")[2].rstrip(")")
    return where.split("/")[0] if "/" in where else f"stdlib ({where})" if where else "?"


def aggregate_py_spy(text: str, seconds: float, top: int = 20) -> dict:
    """Self time per function and per package from py-spy's raw (collapsed) output."""
    own: dict[str, int] = {}
    packages: dict[str, int] = {}
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        leaf = _frame_name(stack.split(";")[-1])
        own[leaf] = own.get(leaf, 0) + n
        packages[_package(leaf)] = packages.get(_package(leaf), 0) + n
    if not total:
        return {"error": "py-spy recorded no samples"}

    def best(counts: dict, count: int) -> list:
        ranked = sorted(counts.items(), key=lambda item: -item[1])[:count]
        return [(name, n, round(100.0 * n / total, 1)) for name, n in ranked]

    return {
        "samples": total,
        "seconds": seconds,
        "busy_share": total / (seconds * 100),  # py-spy samples at 100 Hz; idle is not sampled
        "self": best(own, top),
        "packages": best(packages, 10),
    }


def profile_report(results: dict) -> str:
    out = []
    for side, r in results.items():
        for conns, s in r.get("streams", {}).items():
            prof = s.get("profile")
            if not prof:
                continue
            if "error" in prof:
                out.append(f"\npy-spy, {SIDES[side]['label']}, {conns} streams: {prof['error']}")
                continue
            out.append(
                f"\npy-spy (non-blocking, 100 Hz), {SIDES[side]['label']} server, {conns} "
                f"streams: {prof['samples']} busy samples in {prof['seconds']:.0f} s "
                f"(~{prof['busy_share'] * 100:.0f} % of a core); {prof['raw']}"
            )
            out.append("  self time by package:")
            out += [f"    {pct:5.1f} %  {name}" for name, _, pct in prof["packages"]]
            out.append(f"  self time by function (top {len(prof['self'])}):")
            out += [f"    {pct:5.1f} %  {n:6d}  {name}" for name, n, pct in prof["self"]]
    return "\n".join(out)


# ----------------------------------------------------------------------- one side


class SideRun:
    def __init__(self, side: str, server_python: str, client_python: str, cfg: dict, args) -> None:
        self.side, self.cfg, self.args = side, cfg, args
        self.client_python = client_python
        self.server_python = server_python
        self.scenarios = SIDES[side]["scenarios"] & set(args.scenarios.split(","))
        self.port = free_port()
        self.server = self.new_server(f"server-{side}.log")
        self.clients: list[Client] = []
        self.results: dict = {
            "side": side,
            "server_command": " ".join(
                [f"{k}={v}" for k, v in SIDES[side].get("env", {}).items()] + self.server.command
            ),
            "scenarios": sorted(self.scenarios),
        }

    def new_server(self, log_name: str) -> Server:
        return Server(
            self.side,
            self.server_python,
            self.port,
            self.args.stack,
            Path(self.args.logdir) / log_name,
            ws=self.args.ws,
        )

    def has(self, scenario: str) -> bool:
        return scenario in self.scenarios

    def client(self, scenario: str, **options) -> Client:
        adapter = SIDES[self.side]["adapter"]
        client = Client(self.client_python, adapter, self.port, scenario, **options)
        self.clients.append(client)
        return client

    def run_single(self, scenario: str, **options) -> dict:
        """A one-process scenario; adds the server's and everyone else's CPU use."""
        cpu0, system0, t0 = self.server.cpu(), system_busy_seconds(), time.time()
        delay0 = proc_run_delay(self.server.pid)
        client = self.client(scenario, **options)
        result = client.result()
        elapsed = time.time() - t0
        result["server_cpu"] = (self.server.cpu() - cpu0) / elapsed
        result["system_cpu"] = (system_busy_seconds() - system0) / elapsed
        result["server_run_delay"] = (proc_run_delay(self.server.pid) - delay0) / elapsed
        return result

    def run_median(self, key: str, scenario: str, **options) -> dict:
        """``run_single`` ``repeats`` times; the run with the median ``key`` (others listed)."""
        runs = [self.run_single(scenario, **options) for _ in range(self.cfg["repeats"])]
        runs.sort(key=lambda x: (x.get(key) is None, x.get(key) or 0))
        chosen = dict(runs[(len(runs) - 1) // 2])
        chosen["repeats"] = [x.get(key) for x in runs]
        return chosen

    def run(self) -> dict:
        cfg, r = self.cfg, self.results
        try:
            self.server.wait_ready()
            for path in ("/", "/_dash-layout", "/_dash-dependencies"):  # as a page load does
                self.server.get(path)
            if self.has("once"):
                self.run_single("once", count=30)  # warm-up: imports, first calls
            time.sleep(1.0)
            r["stats_start"] = self.server.stats()
            r["rss_start_kb"] = self.server.rss()
            r["threads_start"] = proc_threads(self.server.pid)

            if self.has("streams"):
                # Memory first, on a fresh process: idle then streaming, on the same sockets.
                first = cfg["memory_conns"]
                r["streams"] = {first: self.stream(first, measure_idle=True)}
                for conns in [c for c in cfg["stream_conns"] if c != first]:
                    time.sleep(1.0)
                    r["streams"][conns] = self.stream(conns)
                r["streams"] = dict(sorted(r["streams"].items()))
                time.sleep(1.0)
            if self.has("cycles"):
                r["cycles"] = self.cycles(cfg["cycles"], cfg["memory_conns"])

            if self.has("once") or self.has("getprop"):
                log(f"{self.side}: idle latency, get_prop")
            if self.has("once"):
                r["once"] = self.run_median("one_way_p50", "once", count=cfg["once_count"])
            if self.has("getprop"):
                r["getprop"] = self.run_median("p50", "getprop", count=cfg["getprop_count"])
            if self.has("burst"):
                log(f"{self.side}: continuous producer")
                r["burst"] = self.run_median("max_gap_ms", "burst", seconds=cfg["burst_seconds"])
            kinds = SIDES[self.side].get("kinds", {"async", "sync"})
            for kind in [k for k in cfg["rps_kinds"] if k in kinds]:
                transports = [t for t in ("ws", "http") if self.has(f"rps_{t}")]
                if transports:
                    log(f"{self.side}: request/response ({kind})")
                for transport in transports:
                    r[f"rps_{transport}_{kind}"] = self.run_median(
                        "rps",
                        f"rps-{transport}",
                        kind=kind,
                        seconds=cfg["rps_seconds"],
                        inflight=64,
                    )
            if self.has("close"):
                time.sleep(3.0)
                r["rss_after_close_kb"] = self.server.rss()
                r["threads_after_close"] = proc_threads(self.server.pid)
                r["stats_after_close"] = self.server.stats()
                r["rss_after_trim_kb"] = self.server.stats(trim=True)["rss_kb"]

            if self.has("slow"):
                # The slow client gets a fresh server: one that has served thousands of
                # sockets keeps that freed memory, and a backlog would grow into it unseen.
                self.server.stop()
                self.port = free_port()
                self.server = self.new_server(f"server-{self.side}-slow.log")
                self.server.wait_ready()
                self.server.get("/")
                self.run_single("once", count=10)
                self.warm_flood()
                time.sleep(1.0)
                r["slow"] = self.slow(cfg["slow_seconds"], cfg["slow_kb"])
        finally:
            for client in self.clients:
                client.kill()
            self.server.stop()
        return r

    def procs_for(self, conns: int) -> int:
        if self.args.client_procs:
            return self.args.client_procs
        return max(1, min(4, math.ceil(conns / 500)))

    def _open(self, scenario: str, conns: int, **options) -> tuple[list[Client], dict]:
        nprocs = self.procs_for(conns)
        shares = [conns // nprocs + (1 if i < conns % nprocs else 0) for i in range(nprocs)]
        started = time.time()
        clients = [self.client(scenario, conns=share, **options) for share in shares]
        events = [c.read_event() for c in clients]
        opened = {
            "opened": sum(e["conns"] for e in events),
            "failures": sum(e["failures"] for e in events),
            "connect_seconds": time.time() - started,
            "client_procs": nprocs,
        }
        return clients, opened

    def stream(self, conns: int, measure_idle: bool = False) -> dict:
        cfg = self.cfg
        log(f"{self.side}: {conns} streams at 10 Hz")
        rss0 = self.server.rss()
        clients, info = self._open("stream", conns)
        if measure_idle:  # the same sockets, open but idle, before streaming starts
            time.sleep(2.0)
            rss_idle = self.server.rss()
            info["idle"] = {
                "rss_before_kb": rss0,
                "rss_open_kb": rss_idle,
                "kb_per_conn": (rss_idle - rss0) / max(1, info["opened"]),
                "threads_open": proc_threads(self.server.pid),
            }
        t0 = time.time() + cfg["stream_warmup"]
        t1 = t0 + cfg["stream_seconds"]
        for client in clients:
            client.send(f"START {t0} {t1}")
        time.sleep(max(0.0, t0 - time.time()))
        profiler = None
        if (
            self.args.profile
            and conns == max(cfg["stream_conns"])
            and self.side in self.args.profile_sides.split(",")
        ):
            profiler = Profiler(
                self.args.py_spy,
                self.server.pid,
                min(self.args.profile, cfg["stream_seconds"]),
                Path(self.args.logdir) / f"pyspy-{self.side}-{conns}.txt",
            )
        server_cpu0 = self.server.cpu()
        client_cpu0 = sum(c.cpu() for c in clients)
        system0 = system_busy_seconds()
        delay0 = proc_run_delay(self.server.pid)
        rss_samples = []
        while time.time() < t1 - 0.3:
            rss_samples.append(self.server.rss())
            time.sleep(min(1.0, max(0.05, t1 - 0.3 - time.time())))
        time.sleep(max(0.0, t1 - time.time()))
        window = time.time() - t0
        server_cpu = (self.server.cpu() - server_cpu0) / window
        client_cpu = (sum(c.cpu() for c in clients) - client_cpu0) / window
        other_cpu = (system_busy_seconds() - system0) / window - server_cpu - client_cpu
        run_delay = (proc_run_delay(self.server.pid) - delay0) / window
        results = [client.result() for client in clients]
        if profiler is not None:
            info["profile"] = profiler.result()
        info["settle_seconds"], info["settled"] = self.wait_quiet()
        hist = merge_hist([x["hist"] for x in results])
        updates = sum(x["updates"] for x in results)
        opened = info["opened"]
        rss_stream = max(rss_samples) if rss_samples else self.server.rss()
        info.update(
            updates=updates,
            rate_per_conn=updates / cfg["stream_seconds"] / max(1, opened),
            min_conn_rate=min(x["per_conn_min"] for x in results) / cfg["stream_seconds"],
            p50_ms=hist_percentile(hist, 0.50),
            p99_ms=hist_percentile(hist, 0.99),
            max_ms=hist_percentile(hist, 1.0),
            server_cpu=server_cpu,
            client_cpu=client_cpu,
            other_cpu=other_cpu,
            server_run_delay=run_delay,
            rss_before_kb=rss0,
            rss_stream_kb=rss_stream,
            kb_per_conn=(rss_stream - rss0) / max(1, opened),
            closed_early=sum(x["closed_early"] for x in results),
            aborted_closes=sum(x["aborted_closes"] for x in results),
            close_seconds=max(x["close_seconds"] for x in results),
            errors=sorted({e for x in results for e in x["errors"]}),
        )
        return info

    def cycles(self, count: int, conns: int) -> dict:
        """``count`` times: open ``conns`` pages, stream for a second, close them all, let the
        server go quiet, read its RSS. Memory that every cycle keeps shows as growth."""
        log(f"{self.side}: {count} cycles of {conns} pages opened and closed")
        rss = []
        for _ in range(count):
            clients, info = self._open("stream", conns)
            t0 = time.time() + 0.2
            for client in clients:
                client.send(f"START {t0} {t0 + 1.0}")
            for client in clients:
                client.result()
            self.wait_quiet()
            time.sleep(1.0)
            rss.append(self.server.rss())
        return {
            "conns": conns,
            "rss_kb": rss,
            "worst_vs_first": max(abs(x / rss[0] - 1) for x in rss),
        }

    def wait_quiet(self, limit: float = 45.0, threshold: float = 0.05) -> tuple[float, bool]:
        """Wait until the server's CPU use falls under ``threshold`` (of a core).

        After its clients have gone a server may still work for them (dash-ws
        keeps a dropped page's session, its persistent callbacks running, for
        ``websocket_resume_grace``); the next scenario must not pay for that.
        Returns how long it took and whether the server did go quiet.
        """
        started = time.time()
        while time.time() - started < limit:
            cpu0 = self.server.cpu()
            time.sleep(1.0)
            if self.server.cpu() - cpu0 < threshold:
                return time.time() - started, True
        return time.time() - started, False

    def warm_flood(self) -> None:
        """Run the flood once, 1 KB a message, before the slow client's baseline.

        Its first ``Patch`` makes Dash's encoder import numpy (about 12 MB of
        RSS with its libraries), once per process: a cost of the first Patch,
        not of a client that stops reading.
        """
        client = self.client("slow", seconds=0.5, kb=1)
        client.read_event()
        client.send("DRAIN")
        client.result()

    def slow(self, seconds: float, kb: int) -> dict:
        log(f"{self.side}: slow client for {seconds:.0f}s under a {kb * 10 / 1000:.0f} MB/s stream")
        rss0 = self.server.rss()
        client = self.client("slow", seconds=seconds, kb=kb)
        client.read_event()
        samples = []
        started = time.time()
        while time.time() - started < seconds:
            samples.append((round(time.time() - started, 1), self.server.rss()))
            time.sleep(0.5)
        samples.append((round(time.time() - started, 1), self.server.rss()))
        client.send("DRAIN")
        result = client.result()
        time.sleep(1.0)
        half = [rss for t, rss in samples if t <= seconds / 2]
        return {
            "seconds": seconds,
            "mb_per_s": kb * 10 / 1000,
            "rss_before_kb": rss0,
            "rss_max_kb": max(s[1] for s in samples),
            "rss_end_kb": samples[-1][1],
            "rss_after_kb": self.server.rss(),
            "growth_kb": max(s[1] for s in samples) - rss0,
            "growth_first_half_kb": max(half) - rss0 if half else None,
            "samples": samples,
            "close_code": result.get("close_code"),
            "drained_bytes": result.get("drained_bytes"),
            "state_before_drain": result.get("state_before_drain"),
        }


# ----------------------------------------------------------------------- report


def fmt(value, spec="{:.2f}", unit="") -> str:
    if value is None:
        return "-"
    return spec.format(value) + unit


def ratio_text(value: float | None) -> str:
    if value is None:
        return ""
    return f"x{value:.1f}" if value >= 10 else f"x{value:.2f}"


def table(results: dict, cfg: dict) -> str:
    sides = [s for s in SIDES if s in results]
    with_ratio = "dashws" in results and "bare" in results
    rows: list[tuple[str, list[str], str, str, str]] = []  # label, values, ratio, target, verdict

    def row(label, getter, spec="{:.2f}", unit="", target="", check=None, ratio=False, vs=None):
        """``check``: the dash-ws value meets its target; ``ratio``: dash-ws / bare stack;
        ``vs``: a side whose value dash-ws must reach or beat (``check`` gets both)."""
        values = []
        raw = {}
        for side in sides:
            try:
                value = getter(results[side])
            except (KeyError, TypeError, ZeroDivisionError):
                value = None
            raw[side] = value
            values.append(value if isinstance(value, str) else fmt(value, spec, unit))
        verdict = ""
        if vs is not None:
            if raw.get("dashws") is not None and raw.get(vs) is not None:
                verdict = "ok" if check(raw["dashws"], raw[vs]) else "MISSED"
        elif check is not None and raw.get("dashws") is not None:
            verdict = "ok" if check(raw["dashws"]) else "MISSED"
        times_bare = ""
        if ratio and isinstance(raw.get("dashws"), (int, float)):
            bare = raw.get("bare")
            if isinstance(bare, (int, float)) and bare:
                times_bare = ratio_text(raw["dashws"] / bare)
        rows.append((label, values, times_bare, target, verdict))

    for conns in cfg["stream_conns"]:
        s = lambda r, c=conns: r["streams"][c]  # noqa: E731
        least_hz = STREAM_TARGET_HZ.get(conns)
        row(
            f"{conns} streams: delivered Hz/conn",
            lambda r, s=s: s(r)["rate_per_conn"],
            "{:.2f}",
            target=f">= {least_hz}" if least_hz else "",
            check=(lambda v, least=least_hz: v >= least) if least_hz else None,
            ratio=True,
        )
        row(f"{conns} streams: slowest conn Hz", lambda r, s=s: s(r)["min_conn_rate"], "{:.1f}")
        row(f"{conns} streams: latency p50", lambda r, s=s: s(r)["p50_ms"], "{:.1f}", " ms")
        row(
            f"{conns} streams: latency p99",
            lambda r, s=s: s(r)["p99_ms"],
            "{:.1f}",
            " ms",
            target="<= 50 ms" if conns == 2000 else "",
            check=(lambda v: v <= 50) if conns == 2000 else None,
            ratio=True,
        )
        row(f"{conns} streams: latency max", lambda r, s=s: s(r)["max_ms"], "{:.0f}", " ms")
        row(f"{conns} streams: server CPU", lambda r, s=s: s(r)["server_cpu"] * 100, "{:.0f}", " %")
        row(
            f"{conns} streams: server CPU per update",
            lambda r, s=s: s(r)["server_cpu"] / (s(r)["updates"] / cfg["stream_seconds"]) * 1e6,
            "{:.0f}",
            " us",
            target="<= 1.5x bare" if with_ratio else "",
            check=(lambda v, bare: v <= 1.5 * bare) if with_ratio else None,
            vs="bare" if with_ratio else None,
            ratio=True,
        )
        row(
            f"{conns} streams: client CPU (procs)",
            lambda r, s=s: f"{s(r)['client_cpu'] * 100:.0f} % ({s(r)['client_procs']})",
        )
        row(
            f"{conns} streams: other processes' CPU",
            lambda r, s=s: s(r)["other_cpu"] * 100,
            "{:.0f}",
            " %",
        )
        row(
            f"{conns} streams: server loop waiting for a CPU",
            lambda r, s=s: s(r)["server_run_delay"] * 100,
            "{:.0f}",
            " %",
        )
        row(
            f"{conns} streams: connect time", lambda r, s=s: s(r)["connect_seconds"], "{:.1f}", " s"
        )
        row(
            f"{conns} streams: server busy after all closed",
            lambda r, s=s: (
                f"{s(r)['settle_seconds']:.0f} s" + ("" if s(r)["settled"] else " (still busy)")
            ),
        )
    top = cfg["memory_conns"]
    row(
        f"RSS per idle conn ({top} open)",
        lambda r: r["streams"][top]["idle"]["kb_per_conn"],
        "{:.1f}",
        " KB",
        target="<= 20 KB",
        check=lambda v: v <= 20,
        ratio=True,
    )
    row(
        f"RSS per streaming conn ({top})",
        lambda r: r["streams"][top]["kb_per_conn"],
        "{:.1f}",
        " KB",
        target="<= 30 KB",
        check=lambda v: v <= 30,
        ratio=True,
    )
    row(
        f"RSS after each of {cfg['cycles']} cycles of {top} pages",
        lambda r: " ".join(f"{kb / 1024:.0f}" for kb in r["cycles"]["rss_kb"]) + " MB",
    )
    row(
        "  furthest from the first cycle's",
        lambda r: r["cycles"]["worst_vs_first"] * 100,
        "{:.1f}",
        " %",
        target="<= 5 %",
        check=lambda v: v <= 5,
    )
    row("RSS at start", lambda r: r["rss_start_kb"] / 1024, "{:.1f}", " MB")
    row("RSS after all conns closed", lambda r: r["rss_after_close_kb"] / 1024, "{:.1f}", " MB")
    row(
        "  change vs start",
        lambda r: (r["rss_after_close_kb"] / r["rss_start_kb"] - 1) * 100,
        "{:+.1f}",
        " %",
        target="<= +10 %",
        check=lambda v: v <= 10,
    )
    row(
        "  after gc + malloc_trim",
        lambda r: (r["rss_after_trim_kb"] / r["rss_start_kb"] - 1) * 100,
        "{:+.1f}",
        " %",
    )
    row(
        "  live Python objects vs start",
        lambda r: f"{r['stats_after_close']['objects'] - r['stats_start']['objects']:+d}",
    )
    row(
        "set_props latency p50 (one-way)",
        lambda r: r["once"]["one_way_p50"],
        "{:.3f}",
        " ms",
        target="<= 1 ms",
        check=lambda v: v <= 1,
        ratio=True,
    )
    row("set_props latency p99 (one-way)", lambda r: r["once"]["one_way_p99"], "{:.3f}", " ms")
    row("call -> result round trip p50", lambda r: r["once"]["call_to_result_p50"], "{:.3f}", " ms")
    row(
        "get_prop round trip p50",
        lambda r: r["getprop"]["p50"],
        "{:.3f}",
        " ms",
        target="<= 0.5 ms",
        check=lambda v: v <= 0.5,
        ratio=True,
    )
    row("get_prop round trip p99", lambda r: r["getprop"]["p99"], "{:.3f}", " ms")
    row(
        "producer: largest gap between frames",
        lambda r: r["burst"]["max_gap_ms"],
        "{:.1f}",
        " ms",
        target="<= 20 ms",
        check=lambda v: v <= 20,
    )
    row("producer: first frame after", lambda r: r["burst"]["first_frame_ms"], "{:.1f}", " ms")
    row(
        "producer: server loop waiting for a CPU",
        lambda r: r["burst"]["server_run_delay"] * 100,
        "{:.0f}",
        " %",
    )
    row(
        "producer: frames / set_props made",
        lambda r: f"{r['burst']['frames']} / {r['burst']['produced']}",
    )
    row("producer: updates delivered", lambda r: r["burst"]["delivered_sets"], "{:.0f}")
    with_upstream = "upstream" in results
    for kind in cfg["rps_kinds"]:
        row(
            f"callbacks/s, socket, 64 in flight ({kind})",
            lambda r, k=kind: r[f"rps_ws_{k}"]["rps"],
            "{:.0f}",
            target=">= 1.2x upstream 4.4.1" if kind == "async" and with_upstream else "",
            check=(lambda v, up: v >= 1.2 * up) if kind == "async" and with_upstream else None,
            vs="upstream" if kind == "async" and with_upstream else None,
            ratio=True,
        )
        row(
            "  p99 latency",
            lambda r, k=kind: r[f"rps_ws_{k}"]["p99_ms"],
            "{:.1f}",
            " ms",
            ratio=True,
        )
        row(
            "  server CPU per callback",
            lambda r, k=kind: r[f"rps_ws_{k}"]["server_cpu"] / r[f"rps_ws_{k}"]["rps"] * 1e6,
            "{:.0f}",
            " us",
            ratio=True,
        )
        with_flask = "flask" in results
        row(
            f"callbacks/s, HTTP, 64 in flight ({kind})",
            lambda r, k=kind: r[f"rps_http_{k}"]["rps"],
            "{:.0f}",
            target=">= Flask gunicorn" if with_flask else "",
            check=(lambda v, flask: v >= flask) if with_flask else None,
            vs="flask" if with_flask else None,
            ratio=True,
        )
        row(
            "  p99 latency",
            lambda r, k=kind: r[f"rps_http_{k}"]["p99_ms"],
            "{:.1f}",
            " ms",
            ratio=True,
        )
        row(
            "  server CPU per callback",
            lambda r, k=kind: r[f"rps_http_{k}"]["server_cpu"] / r[f"rps_http_{k}"]["rps"] * 1e6,
            "{:.0f}",
            " us",
            ratio=True,
        )
    secs, rate = cfg["slow_seconds"], cfg["slow_kb"] * 10 / 1000
    row(
        f"slow client, {rate:.0f} MB/s: RSS growth by {secs / 2:.0f} s",
        lambda r: r["slow"]["growth_first_half_kb"] / 1024,
        "{:+.1f}",
        " MB",
    )
    row(
        f"slow client, {rate:.0f} MB/s: RSS growth by {secs:.0f} s",
        lambda r: r["slow"]["growth_kb"] / 1024,
        "{:+.1f}",
        " MB",
        target="bounded (<= 12 MB)",
        check=lambda v: v <= 12,
    )
    row("slow client: close code seen", lambda r: str(r["slow"]["close_code"]))
    row(
        "server threads at start / after close",
        lambda r: f"{r['threads_start']} / {r['threads_after_close']}",
    )

    # Rows no side has a value for (a scenario not run) are left out.
    rows = [r for r in rows if any(v != "-" for v in r[1])]
    header = ["scenario"] + [SIDES[s]["label"] for s in sides] + ["dash-ws target", ""]
    columns = [[r[0] for r in rows]] + [[r[1][i] for r in rows] for i in range(len(sides))]
    columns += [[r[3] for r in rows], [r[4] for r in rows]]
    if with_ratio:  # "x bare" right after dash-ws
        header.insert(2, "x bare")
        columns.insert(2, [r[2] for r in rows])
    widths = [max(len(h), *(len(c) for c in col)) for h, col in zip(header, columns)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for i in range(len(rows)):
        cells = [col[i] for col in columns]
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
    return "\n".join(lines)


# ----------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short version (about 4 minutes)")
    parser.add_argument(
        "--sides",
        default=DEFAULT_SIDES,
        help=f"comma list of {','.join(SIDES)} (default: all; the order of the runs)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma list of {','.join(SCENARIOS)} (default: all that a side can run)",
    )
    parser.add_argument(
        "--dashws-python",
        default=os.environ.get("BENCH_DASHWS_PYTHON", str(REPO / ".venv" / "bin" / "python")),
        help="python of a venv with dash-ws installed (also serves the bare stack)",
    )
    parser.add_argument(
        "--upstream-venv", default=os.environ.get("BENCH_UPSTREAM_VENV", "/tmp/bench-upstream-venv")
    )
    parser.add_argument(
        "--upstream45-venv",
        default=os.environ.get("BENCH_UPSTREAM45_VENV", "/tmp/bench-upstream45-venv"),
        help="venv with dash[fastapi]==4.5.0rc2 + uvicorn[standard], for the side upstream45",
    )
    parser.add_argument(
        "--flask-venv",
        default=os.environ.get("BENCH_FLASK_VENV", "/tmp/bench-flask-venv"),
        help="venv with dash==4.4.1 + gunicorn, for the side flask",
    )
    parser.add_argument(
        "--client-venv", default=os.environ.get("BENCH_CLIENT_VENV", "/tmp/bench-client-venv")
    )
    parser.add_argument("--no-setup", action="store_true", help="do not run setup_venvs.sh")
    parser.add_argument(
        "--stack",
        choices=("asyncio", "uvloop", "native"),
        default="native",
        help="native (default): uvicorn's defaults in each venv, as users get them (uvloop + "
        "httptools: dash-ws depends on both, upstream has uvicorn[standard]); asyncio: the "
        "uvicorn servers on --loop asyncio --http h11; uvloop: on --loop uvloop --http "
        "httptools (dash-ws and the bare stack then run from --dashws-uvloop-venv)",
    )
    parser.add_argument(
        "--ws",
        choices=WS_IMPLEMENTATIONS,
        default=None,
        help="uvicorn's WebSocket implementation (default: websockets-sansio; with "
        "--stack native, uvicorn's own default)",
    )
    parser.add_argument(
        "--dashws-uvloop-venv",
        default=os.environ.get("BENCH_DASHWS_UVLOOP_VENV", "/tmp/bench-dashws-uvloop-venv"),
        help="venv with dash-ws (editable) + uvloop + httptools, for --stack uvloop",
    )
    parser.add_argument(
        "--streams", help="comma list of stream connection counts (overrides the mode)"
    )
    parser.add_argument(
        "--stream-seconds", type=float, help="stream measurement window (overrides the mode)"
    )
    parser.add_argument(
        "--client-procs", type=int, default=0, help="load-client processes for streams (0: auto)"
    )
    parser.add_argument(
        "--profile",
        type=float,
        default=0,
        help="seconds of py-spy (non-blocking) on the server during the largest stream "
        "window (at most the window; 0: none)",
    )
    parser.add_argument("--profile-sides", default="dashws", help="sides to profile")
    parser.add_argument("--py-spy", default=str(REPO / ".venv" / "bin" / "py-spy"))
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        help="before each side, wait up to this many seconds for other load to go",
    )
    parser.add_argument(
        "--json", default="/tmp/dash-ws-bench-results.json", help="write raw results here"
    )
    parser.add_argument("--logdir", default="/tmp", help="server logs go here")
    args = parser.parse_args()

    sides = args.sides.split(",")
    unknown = [s for s in sides if s not in SIDES] + [
        s for s in args.scenarios.split(",") if s not in SCENARIOS
    ]
    if unknown:
        parser.error(f"unknown side or scenario: {', '.join(unknown)}")
    cfg = dict(MODES["quick" if args.quick else "full"])
    if args.streams:
        cfg["stream_conns"] = [int(x) for x in args.streams.split(",")]
    if args.stream_seconds:
        cfg["stream_seconds"] = args.stream_seconds
    if not args.no_setup:
        env = {
            **os.environ,
            "BENCH_UPSTREAM_VENV": args.upstream_venv,
            "BENCH_CLIENT_VENV": args.client_venv,
        }
        if args.stack == "uvloop":
            env["BENCH_DASHWS_UVLOOP_VENV"] = args.dashws_uvloop_venv
        if "upstream45" in sides:
            env["BENCH_UPSTREAM45_VENV"] = args.upstream45_venv
        if "flask" in sides or "flasksync" in sides:
            env["BENCH_FLASK_VENV"] = args.flask_venv
        subprocess.run(["bash", str(BENCH_DIR / "setup_venvs.sh")], check=True, env=env)
    dashws_python = args.dashws_python
    if args.stack == "uvloop":
        dashws_python = f"{args.dashws_uvloop_venv}/bin/python"
    pythons = {
        "dashws": dashws_python,
        "upstream": f"{args.upstream_venv}/bin/python",
        "upstream45": f"{args.upstream45_venv}/bin/python",
        "flask": f"{args.flask_venv}/bin/python",
    }
    client_python = f"{args.client_venv}/bin/python"

    busy0 = system_busy_seconds()
    time.sleep(2.0)
    background = (system_busy_seconds() - busy0) / 2.0
    if background > 0.2:
        log(
            f"warning: the machine is already {background * 100:.0f} % busy "
            f"(of {os.cpu_count() * 100} %) "
            "before the benchmark starts; latencies will be noisy"
        )
    started = time.time()
    results = {}
    quiet_waits = {}
    for side in sides:
        if args.wait_quiet:
            quiet_waits[side] = wait_machine_quiet(args.wait_quiet)
        log(f"=== {SIDES[side]['label']}")
        python = pythons[SIDES[side]["venv"]]
        results[side] = SideRun(side, python, client_python, cfg, args).run()
    elapsed = time.time() - started

    mode = "quick" if args.quick else "full"
    with open(args.json, "w") as out:
        json.dump(
            {
                "mode": mode,
                "config": cfg,
                "stack": args.stack,
                "ws": args.ws,
                "stack_name": stack_name(args.stack, args.ws),
                "background_cpu": background,
                "quiet_waits": quiet_waits,
                "results": results,
            },
            out,
            indent=1,
            default=str,
        )
    print()
    print(
        f"{' vs '.join(SIDES[s]['label'] for s in results)}: "
        f"{mode} mode, uvicorn stack {stack_name(args.stack, args.ws)}, "
        f"{os.cpu_count()} cores, {elapsed:.0f} s; "
        f"other load before start: {background * 100:.0f} % CPU"
    )
    print(table(results, cfg))
    if "dashws" in results and "bare" in results:
        print(
            "x bare: dash-ws's figure over the bare stack's (app_bare.py: the same frames at "
            "the same rates, same uvicorn, loop and ws library, no dash-ws)"
        )
    report = profile_report(results)
    if report:
        print(report)
    for side, r in results.items():
        print(f"\n{SIDES[side]['label']} server: {r['server_command']}")
        for conns, s in r.get("streams", {}).items():
            if (
                s.get("failures")
                or s.get("closed_early")
                or s.get("errors")
                or s.get("aborted_closes")
            ):
                print(
                    f"  {conns} streams: {s['failures']} failed to connect, "
                    f"{s['closed_early']} closed early, {s.get('aborted_closes')} closes aborted "
                    f"after 30 s, errors {s['errors'][:3]}"
                )
    print(f"\nraw results: {args.json}")


if __name__ == "__main__":
    main()
