#!/usr/bin/env python3
"""One topic at 10 Hz to N pages (10,000 by default) on 2 workers + Redis, three ways.

    python3 benchmarks/broadcast.py --quick        # 2,000 pages, 8 s windows (~1.5 min)
    python3 benchmarks/broadcast.py                # 10,000 pages, 20 s windows (~3.5 min)
    python3 benchmarks/broadcast.py --pages 1000 --profile 8

The same app (one live price, ``bench_broadcast.py``) is served three ways,
one after the other, each by 2 uvicorn workers with a Redis server beside
them (``DASH_WS_BROKER``), and the same N pages connect to each:

- ``topics``: dash-ws, ``@app.feed`` (``app_broadcast_dashws.py``, mode feed)
  fed by ``broadcast_producer.py``, a separate process publishing 10 messages
  a second, each stamped with its publish time;
- ``loops``: dash-ws, one persistent callback per page, the spec's way
  (mode loop), each stamping the time it sets the value;
- ``upstream``: Dash 4.4.1's own WebSocket callbacks (FastAPI backend, its
  own venv), the same per-page loop (``app_broadcast_upstream.py``).

The pages are opened by several load-client processes
(``broadcast_client.py``, uvloop) spread over both workers; once every page
is open (or the ramp's deadline passed) all send ``ready`` (upstream: the
persistent callback's request), and after a warm-up each client counts the
updates its pages receive during a fixed window and their latency (receive
time minus the stamp: one machine, one clock). Server, client, Redis and
producer CPU come from /proc. Every process is killed at the end, on Ctrl-C
and on errors too (and, through PR_SET_PDEATHSIG, if this runner dies).

Standard library only, like ``run.py`` (whose /proc helpers it imports); the
venvs are those of ``setup_venvs.sh``. See README.md, "Broadcast".
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import queue
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
from run import (  # noqa: E402  (standard library only, like this file)
    free_port,
    hist_percentile,
    log,
    merge_hist,
    proc_cpu_seconds,
    proc_rss_kb,
    proc_run_delay,
    system_busy_seconds,
)

CORES = os.cpu_count() or 1

MODES = {
    "quick": dict(pages=2000, warmup=5.0, window=8.0, ramp_deadline=90.0),
    "full": dict(pages=10000, warmup=8.0, window=20.0, ramp_deadline=240.0),
}

VARIANTS = {
    "topics": dict(label="dash-ws topics (feed)", side="dashws", mode="feed", producer=True),
    "loops": dict(label="dash-ws per-page loops", side="dashws", mode="loop", producer=False),
    "upstream": dict(label="upstream 4.4.1 per-page loops", side="upstream", producer=False),
}

TARGETS = {
    "dashws": "app_broadcast_dashws:app.asgi",
    "upstream": "app_broadcast_upstream:server",
}


# ----------------------------------------------------------------------- processes


def raise_nofile() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def _die_with_parent() -> None:
    """In a child, before exec: be killed if this runner dies (Linux PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


class Procs:
    """Every process this runner started, to be stopped whatever happens."""

    def __init__(self) -> None:
        self.items: list[tuple[str, subprocess.Popen, object]] = []

    def start(self, name: str, command: list[str], log_path: Path, **kwargs) -> subprocess.Popen:
        log_file = open(log_path, "w")
        kwargs.setdefault("stdout", log_file)
        proc = subprocess.Popen(command, stderr=log_file, preexec_fn=_die_with_parent, **kwargs)
        self.items.append((name, proc, log_file))
        return proc

    def stop(self, proc: subprocess.Popen, grace: float = 5.0) -> None:
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for i, (_, p, log_file) in enumerate(self.items):
            if p is proc:
                log_file.close()
                del self.items[i]
                break

    def stop_all(self) -> None:
        for _, proc, _ in reversed(list(self.items)):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.time() + 5
        for _, proc, _ in list(self.items):
            try:
                proc.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for _, _, log_file in self.items:
            log_file.close()
        self.items.clear()


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += proc_cpu_seconds(pid)
        except OSError:
            pass
    return total


def socket_queues(ports: list[int]) -> dict:
    """Bytes waiting in the kernel on the pages' sockets, from /proc/net/tcp{,6}: what the
    servers have written that the clients have not yet been sent (``tx_queue`` of the
    servers' sockets) and what has reached the clients that they have not read yet
    (``rx_queue`` of the clients' sockets). The second one growing means the client lags."""
    wanted = {f"{port:04X}" for port in ports}
    server_tx = client_rx = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as table:
                next(table)
                for line in table:
                    fields = line.split()
                    local_port = fields[1].rsplit(":", 1)[1]
                    remote_port = fields[2].rsplit(":", 1)[1]
                    tx, rx = fields[4].split(":")
                    if local_port in wanted and fields[3] == "01":
                        server_tx += int(tx, 16)
                    elif remote_port in wanted and fields[3] == "01":
                        client_rx += int(rx, 16)
        except OSError:
            continue
    return {"server_send_kb": server_tx / 1024, "client_receive_kb": client_rx / 1024}


def http_get(port: int, path: str, timeout: float = 10.0) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
        return response.read()


class Redis:
    def __init__(self, procs: Procs, binary: str, logdir: Path) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="bench-redis-")
        command = [
            binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self.dir,
            "--daemonize", "no",
            "--maxclients", "1000",
        ]  # fmt: skip
        self.proc = procs.start("redis", command, logdir / "broadcast-redis.log")
        self.pid = self.proc.pid
        self.url = f"redis://127.0.0.1:{self.port}/0"
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if self.command("PING") == b"+PONG":
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("redis-server did not start; see broadcast-redis.log")

    def command(self, *words: str) -> bytes:
        payload = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
            conn.sendall(payload.encode())
            return conn.recv(4096).strip()

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class Workers:
    """Two uvicorn workers: two processes on two ports (default), or ``--workers 2`` on one."""

    def __init__(self, procs, python, side, env, stack, shared_port, logdir, tag) -> None:
        self.procs = procs
        self.shared_port = shared_port
        self.parents: list[subprocess.Popen] = []
        self.commands: list[str] = []
        self.ports = [free_port()] if shared_port else [free_port(), free_port()]
        self.logs = [logdir / f"broadcast-{tag}-worker{i}.log" for i in range(len(self.ports))]
        for i, port in enumerate(self.ports):
            command = [
                python, "-m", "uvicorn", TARGETS[side],
                "--app-dir", str(BENCH_DIR),
                "--host", "127.0.0.1",
                "--port", str(port),
                "--log-level", "warning",
                "--backlog", "4096",
            ]  # fmt: skip
            if stack == "asyncio":
                command += ["--loop", "asyncio", "--http", "h11", "--ws", "websockets-sansio"]
            elif stack == "uvloop":
                command += ["--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio"]
            if shared_port:
                command += ["--workers", "2"]
            self.commands.append(" ".join(command))
            self.parents.append(
                procs.start(
                    f"worker-{tag}-{i}",
                    command,
                    self.logs[i],
                    cwd=BENCH_DIR,
                    env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
                )
            )
        self.pids: list[int] = [p.pid for p in self.parents]

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.time() + timeout
        for port in self.ports:
            while True:
                if any(p.poll() is not None for p in self.parents):
                    raise RuntimeError("a server worker exited; see its log")
                try:
                    http_get(port, "/")
                    break
                except OSError:
                    if time.time() > deadline:
                        raise RuntimeError(f"server on port {port} did not start") from None
                    time.sleep(0.2)
        if self.shared_port:  # the two workers are the uvicorn parent's children
            while True:
                children = _worker_children(self.parents[0].pid)
                if len(children) >= 2:
                    self.pids = children[:2]
                    break
                if time.time() > deadline:
                    raise RuntimeError("uvicorn --workers 2 did not start 2 workers")
                time.sleep(0.2)
        # As a page load does (upstream only learns its callbacks on the first request);
        # several times with a shared port, so that both workers see one.
        for port in self.ports:
            for _ in range(6 if self.shared_port else 1):
                for path in ("/", "/_dash-layout", "/_dash-dependencies"):
                    http_get(port, path)

    def cpu(self) -> float:
        extra = [p.pid for p in self.parents] if self.shared_port else []
        return cpu_of(self.pids + extra)

    def rss(self) -> list[int]:
        out = []
        for pid in self.pids:
            try:
                out.append(proc_rss_kb(pid))
            except OSError:
                out.append(0)
        return out

    def gc_stats(self) -> dict[int, dict]:
        """Each worker's garbage collections so far (``bench_broadcast.install_gc_stats``)."""
        totals: dict[int, dict] = {}
        for path in self.logs:
            try:
                lines = path.read_text(errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:
                if line.startswith("[gc] "):
                    try:
                        stats = json.loads(line[5:])
                    except ValueError:
                        continue
                    totals[stats["pid"]] = stats
        return totals

    def heap(self) -> list[int | None]:
        """Objects the collector tracks, per port's worker (``/_bench/heap``)."""
        out = []
        for port in self.ports:
            try:
                out.append(json.loads(http_get(port, "/_bench/heap", timeout=30))["objects"])
            except (OSError, ValueError, KeyError):
                out.append(None)
        return out

    def stop(self) -> None:
        for parent in self.parents:
            self.procs.stop(parent)


def _worker_children(pid: int) -> list[int]:
    children = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            candidates = [int(x) for x in f.read().split()]
    except OSError:
        return []
    for child in candidates:
        try:
            with open(f"/proc/{child}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if b"resource_tracker" not in cmdline:
            children.append(child)
    return sorted(children)


class ClientProc:
    """One ``broadcast_client.py`` process: JSON lines out, commands in."""

    def __init__(self, procs: Procs, python: str, log_path: Path, **options) -> None:
        command = [python, str(BENCH_DIR / "broadcast_client.py")]
        for key, value in options.items():
            command += [f"--{key.replace('_', '-')}", str(value)]
        self.proc = procs.start(
            "client", command, log_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.pid = self.proc.pid
        self.events: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                pass
        self.events.put({"event": "exited"})

    def wait_for(self, name: str, deadline: float) -> dict:
        while True:
            try:
                event = self.events.get(timeout=max(0.05, deadline - time.time()))
            except queue.Empty:
                raise TimeoutError(f"a load client sent no {name!r} in time") from None
            if event.get("event") == name:
                return event
            if event.get("event") == "exited":
                raise RuntimeError(f"a load client exited before {name!r}; see its log")

    def send(self, line: str) -> None:
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def cpu(self) -> float:
        return cpu_of([self.pid])


# ----------------------------------------------------------------------- py-spy


def profile(py_spy: str, pid: int, seconds: float, out_base: Path, native: bool = False) -> dict:
    """``py-spy record`` (non-blocking) on one worker; the top functions, self and inclusive."""
    raw = out_base.with_suffix(".txt")
    svg = out_base.with_suffix(".svg")
    base = [py_spy, "record", "-d", str(int(seconds)), "--pid", str(pid)]
    if native:  # C frames too (the collector, ...); needs py-spy to pause the process
        base.append("--native")
    else:
        base.append("--nonblocking")
    raw.unlink(missing_ok=True)
    done = subprocess.run(
        base + ["-f", "raw", "-o", str(raw)], capture_output=True, text=True, timeout=seconds + 60
    )
    if not raw.exists():
        return {"error": f"py-spy produced nothing: {done.stderr.strip()[-300:]}"}
    own: Counter = Counter()
    inclusive: Counter = Counter()
    packages: Counter = Counter()
    entries: Counter = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_frame_name(f) for f in stack.split(";")]
        own[frames[-1]] += n
        packages[_package(frames[-1])] += n
        for frame in set(frames):
            if "(dash_ws/" in frame:
                inclusive[frame] += n
        # What the event loop was running: the frame after Handle._run (a task step or a
        # callback), or the loop itself (select, scheduling).
        entry = "event loop itself (select, scheduling)"
        for i, frame in enumerate(frames[:-1]):
            if frame.startswith("Handle._run ("):
                entry = frames[i + 1]
                break
        entries[entry] += n
    if not total:
        return {"error": "py-spy recorded no samples"}

    def top(counter: Counter, count: int = 15) -> list:
        return [(name, round(100.0 * n / total, 1)) for name, n in counter.most_common(count)]

    return {
        "samples": total,
        "seconds": seconds,
        "native": native,
        "raw": str(raw),
        "self": top(own),
        "packages": top(packages, 8),
        "entries": top(entries, 10),
        "dash_ws_inclusive": top(inclusive),
        "svg_command": " ".join(base + ["-o", str(svg)]),
    }


def _package(frame: str) -> str:
    """The package of a shortened frame name: ``dash_ws``, ``asyncio``, ``websockets``, ..."""
    where = frame.rpartition(" (")[2].rstrip(")")
    return where.split("/")[0] if "/" in where else f"stdlib ({where})" if where else "?"


def _frame_name(frame: str) -> str:
    """``func (pkg/mod.py:123)`` -> ``func (pkg/mod.py)``: sample counts summed over lines.

    py-spy already shows paths relative to site-packages or the standard library."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({where})" if where else name


# ----------------------------------------------------------------------- one variant


def run_variant(key: str, args, cfg: dict, procs: Procs, redis: Redis, pythons: dict) -> dict:
    variant = VARIANTS[key]
    side = variant["side"]
    logdir = Path(args.logdir)
    env = {"DASH_WS_BROKER": redis.url}
    if args.gc_threshold:
        env["BENCH_GC_THRESHOLD"] = args.gc_threshold
    if side == "dashws":
        env["BENCH_BROADCAST_MODE"] = variant["mode"]
        if args.reauthorize_ms is not None:
            env["BENCH_REAUTHORIZE_MS"] = str(args.reauthorize_ms)
    redis.command("FLUSHALL")
    result: dict = {"variant": key, "label": variant["label"], "pages_asked": cfg["pages"]}
    result["other_load_before"] = wait_quiet(args.wait_quiet)
    log(f"=== {variant['label']}: starting 2 workers")
    workers = Workers(procs, pythons[side], side, env, args.stack, args.shared_port, logdir, key)
    producer = None
    clients: list[ClientProc] = []
    try:
        workers.wait_ready()
        result["server_commands"] = workers.commands
        result["worker_pids"] = workers.pids
        if variant["producer"]:
            producer = procs.start(
                "producer",
                [pythons["dashws"], str(BENCH_DIR / "broadcast_producer.py")],
                logdir / "broadcast-producer.log",
                cwd=BENCH_DIR,
                env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            )
        time.sleep(1.0)
        rss_start = workers.rss()

        # ---- connect every page, spread over the workers and the client processes
        nprocs = args.client_procs or min(6, max(2, math.ceil(cfg["pages"] / 2500)))
        shares = [cfg["pages"] // nprocs + (i < cfg["pages"] % nprocs) for i in range(nprocs)]
        log(f"{key}: connecting {cfg['pages']} pages from {nprocs} client processes")
        first = 0
        ramp_started = time.time()
        for i, share in enumerate(shares):
            clients.append(
                ClientProc(
                    procs,
                    pythons["client"],
                    logdir / f"broadcast-{key}-client{i}.log",
                    side=side,
                    ports=",".join(map(str, workers.ports)),
                    pages=share,
                    first_index=first,
                    concurrency=args.concurrency,
                    ramp_deadline=cfg["ramp_deadline"],
                )
            )
            first += share
        deadline = time.time() + cfg["ramp_deadline"] + 60
        connected = [c.wait_for("connected", deadline) for c in clients]
        result["connect_seconds"] = time.time() - ramp_started
        result["pages"] = sum(e["pages"] for e in connected)
        result["failed"] = sum(e["failed"] for e in connected)
        result["failure_kinds"] = dict(
            sum((Counter(e["failure_kinds"]) for e in connected), Counter()).most_common(5)
        )
        log(
            f"{key}: {result['pages']} pages open in {result['connect_seconds']:.1f} s"
            f" ({result['failed']} failed)"
        )
        time.sleep(1.0)
        rss_idle = workers.rss()
        result["rss_start_kb"], result["rss_idle_kb"] = rss_start, rss_idle
        result["idle_kb_per_page"] = (sum(rss_idle) - sum(rss_start)) / max(1, result["pages"])

        # ---- start the streams, warm up, measure a fixed window
        t0 = time.time() + cfg["warmup"]
        t1 = t0 + cfg["window"]
        for client in clients:
            client.send(f"START {t0} {t1}")
        time.sleep(max(0.0, t0 - time.time()))
        server0, client0 = workers.cpu(), sum(c.cpu() for c in clients)
        redis0 = cpu_of([redis.pid])
        producer0 = cpu_of([producer.pid]) if producer else 0.0
        system0 = system_busy_seconds()
        delay0 = [proc_run_delay(pid) for pid in workers.pids]
        gc0 = workers.gc_stats()
        client_delay0 = [proc_run_delay(c.pid) for c in clients]
        rss_max = [0] * len(workers.pids)
        queues = []
        while time.time() < t1 - 0.3:
            rss_max = [max(a, b) for a, b in zip(rss_max, workers.rss())]
            if len(queues) < 3 and time.time() > t0 + (len(queues) + 1) * cfg["window"] / 4:
                queues.append(socket_queues(workers.ports))
            time.sleep(min(1.0, max(0.05, t1 - 0.3 - time.time())))
        time.sleep(max(0.0, t1 - time.time()))
        window = time.time() - t0
        server_cpu = workers.cpu() - server0
        client_cpu = sum(c.cpu() for c in clients) - client0
        redis_cpu = cpu_of([redis.pid]) - redis0
        producer_cpu = (cpu_of([producer.pid]) - producer0) if producer else 0.0
        system = system_busy_seconds() - system0
        run_delay = [proc_run_delay(pid) - d for pid, d in zip(workers.pids, delay0)]
        client_delay = [proc_run_delay(c.pid) - d for c, d in zip(clients, client_delay0)]
        time.sleep(0.6)  # the workers' next GC line covers the window's end
        gc1 = workers.gc_stats()
        gc_by_generation = [
            sum(
                gc1[pid]["seconds"][g] - (gc0[pid]["seconds"][g] if pid in gc0 else 0.0)
                for pid in workers.pids
                if pid in gc1
            )
            for g in range(3)
        ]
        gc_full = sum(
            gc1[pid]["count"][2] - (gc0[pid]["count"][2] if pid in gc0 else 0)
            for pid in workers.pids
            if pid in gc1
        )
        gc_longest = max((gc1[pid]["longest"][2] for pid in gc1), default=None)
        gc_longest_cpu = max(
            (gc1[pid].get("longest_cpu", [0, 0, 0])[2] for pid in gc1), default=None
        )
        gc_window = sum(gc_by_generation)
        heap_objects = workers.heap()
        results = [c.wait_for("result", time.time() + 60) for c in clients]

        # ---- optional profile of one worker, the streams still running
        if args.profile and key in args.profile_variants.split(","):
            log(f"{key}: py-spy on worker {workers.pids[0]} for {args.profile:.0f} s")
            result["profile"] = profile(
                args.py_spy,
                workers.pids[0],
                args.profile,
                Path(args.logdir) / f"broadcast-pyspy-{key}",
                native=args.profile_native,
            )

        # ---- aggregate
        updates = sum(r["updates"] for r in results)
        counts: Counter = Counter()
        for r in results:
            counts.update({int(k): v for k, v in r["counts"].items()})
        rates = sorted(k / cfg["window"] for k, n in counts.items() for _ in range(n))
        hist = merge_hist([r["hist"] for r in results])
        halves = [merge_hist([r["hist_halves"][i] for r in results]) for i in (0, 1)]
        result.update(
            window=window,
            updates=updates,
            updates_per_s=updates / window,
            expected_per_s=result["pages"] * 10.0,
            hz_median=_pct(rates, 0.5),
            hz_p5=_pct(rates, 0.05),
            hz_min=rates[0] if rates else None,
            p50_ms=hist_percentile(hist, 0.50),
            p99_ms=hist_percentile(hist, 0.99),
            max_ms=hist_percentile(hist, 1.0),
            p50_ms_halves=[hist_percentile(h, 0.5) for h in halves],
            socket_queues=queues,
            client_run_delay_share=sum(client_delay) / window / max(1, len(clients)),
            skipped=sum(r["skipped"] for r in results),
            server_cpu_s=server_cpu,
            server_cpu_share=server_cpu / window / CORES,
            us_per_update=server_cpu / updates * 1e6 if updates else None,
            client_cpu_share=client_cpu / window / CORES,
            client_procs=nprocs,
            redis_cpu_share=redis_cpu / window / CORES,
            producer_cpu_share=producer_cpu / window / CORES,
            other_cpu_share=(system - server_cpu - client_cpu - redis_cpu - producer_cpu)
            / window
            / CORES,
            server_run_delay_share=[d / window for d in run_delay],
            gc_seconds=gc_window,
            gc_seconds_by_generation=gc_by_generation,
            gc_full_collections=gc_full,
            gc_longest_full_s=gc_longest,
            gc_longest_full_cpu_s=gc_longest_cpu,
            gc_threshold=next(iter(gc1.values()), {}).get("threshold"),
            heap_objects_per_worker=heap_objects,
            gc_share_of_server_cpu=gc_window / server_cpu if server_cpu else None,
            rss_window_max_kb=rss_max,
            pages_never_updated=sum(r["pages_never_updated"] for r in results),
            first_update_max_s=max(
                (r["first_update_max_s"] for r in results if r["first_update_max_s"] is not None),
                default=None,
            ),
            closed_before_end=sum(r["closed_before_end"] for r in results),
            close_codes=dict(
                sum((Counter(r["close_codes"]) for r in results), Counter()).most_common()
            ),
            errors=dict(sum((Counter(r["errors"]) for r in results), Counter()).most_common(5)),
            gaps=sum(r["gaps"] for r in results),
            client_cpu_reported=[r["cpu_in_window"] for r in results],
            client_loop=results[0]["client_loop"] if results else None,
        )
        result["rss_window_max_per_worker_mb"] = [kb / 1024 for kb in rss_max]
        log(
            f"{key}: {result['hz_median']:.2f} Hz median, p99 {fmt(result['p99_ms'], '{:.0f}')} ms,"
            f" {fmt(result['us_per_update'], '{:.0f}')} us server CPU per update"
        )

        # ---- close every page, then stop everything
        for client in clients:
            client.send("CLOSE")
        for client in clients:
            try:
                client.wait_for("closed", time.time() + 20)
            except (TimeoutError, RuntimeError):
                pass
    finally:
        for client in clients:
            procs.stop(client.proc, grace=2)
        if producer is not None:
            procs.stop(producer)
            result["producer_log_tail"] = _tail(logdir / "broadcast-producer.log", 2)
        workers.stop()
    return result


def wait_quiet(limit: float, threshold: float = 0.3) -> float:
    """Wait up to ``limit`` s for the machine's load (of one core) to fall under ``threshold``
    (a shared machine); returns the load seen last, in cores."""
    deadline = time.time() + limit
    while True:
        busy0 = system_busy_seconds()
        time.sleep(1.0)
        load = system_busy_seconds() - busy0
        if load < threshold or time.time() >= deadline:
            if load >= threshold and limit > 0:
                log(f"the machine is still {load * 100:.0f} % busy (of {CORES * 100} %); going on")
            return load


def _pct(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _objects(counts: list | None) -> str:
    return "/".join("-" if c is None else f"{c / 1e6:.2f} M" for c in counts or [])


def _pct100(share: float | None) -> float | None:
    return None if share is None else share * 100


def _tail(path: Path, lines: int) -> list[str]:
    try:
        return path.read_text().splitlines()[-lines:]
    except OSError:
        return []


# ----------------------------------------------------------------------- report


def fmt(value, spec="{:.1f}", unit="") -> str:
    if value is None:
        return "-"
    return spec.format(value) + unit


def table(rows: list[dict]) -> str:
    header = [
        "",
        "pages",
        "delivered Hz/page med / p5",
        "latency p50 / p99",
        "server CPU/update",
        "server CPU (of 2 cores)",
        "RSS/worker",
        "client CPU (of 2 cores)",
        "Redis CPU",
    ]
    lines = []
    for r in rows:
        if "error" in r:
            lines.append([r["label"], "failed: " + r["error"][:90]] + [""] * (len(header) - 2))
            continue
        rss = "/".join(f"{mb:.0f}" for mb in r["rss_window_max_per_worker_mb"]) + " MB"
        lines.append(
            [
                r["label"],
                f"{r['pages']}" + (f" ({r['failed']} failed)" if r["failed"] else ""),
                f"{fmt(r['hz_median'], '{:.2f}')} / {fmt(r['hz_p5'], '{:.2f}')}",
                f"{fmt(r['p50_ms'], '{:.1f}')} / {fmt(r['p99_ms'], '{:.1f}')} ms",
                fmt(r["us_per_update"], "{:.1f}", " us"),
                fmt(r["server_cpu_share"] * 100, "{:.0f}", " %"),
                rss,
                f"{r['client_cpu_share'] * 100:.0f} % ({r['client_procs']} procs)",
                fmt(r["redis_cpu_share"] * 100, "{:.1f}", " %"),
            ]
        )
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
    return "\n".join(out)


def details(rows: list[dict]) -> str:
    out = []
    for r in rows:
        if "error" in r:
            continue
        share = r["updates_per_s"] / r["expected_per_s"] * 100 if r["expected_per_s"] else 0
        waits = "/".join(f"{d * 100:.0f} %" for d in r["server_run_delay_share"])
        parts = [
            f"{r['updates_per_s']:.0f} updates/s delivered of {r['expected_per_s']:.0f} "
            f"made at 10 Hz ({share:.0f} %)",
            f"{r['skipped']} skipped in the window (coalesced or not produced)",
            f"slowest page {fmt(r['hz_min'], '{:.2f}')} Hz",
            f"latency max {fmt(r['max_ms'], '{:.0f}')} ms, p50 in the window's first / second half "
            + " / ".join(fmt(v, "{:.0f}") for v in r["p50_ms_halves"])
            + " ms",
            "kernel socket buffers at 1/4, 2/4, 3/4 of the window: servers' unsent "
            + "/".join(f"{q['server_send_kb']:.0f}" for q in r["socket_queues"])
            + " KB, clients' unread "
            + "/".join(f"{q['client_receive_kb']:.0f}" for q in r["socket_queues"])
            + " KB",
            f"pages open in {r['connect_seconds']:.1f} s",
            f"idle RSS {r['idle_kb_per_page']:.1f} KB/page",
            f"producer {r['producer_cpu_share'] * 100:.1f} %, "
            f"other processes {r['other_cpu_share'] * 100:.0f} % (of 2 cores; "
            f"{r['other_load_before'] * 100:.0f} % of a core just before the variant started)",
            f"worker event loops waiting for a CPU {waits} of the time, client processes "
            f"{r['client_run_delay_share'] * 100:.0f} %",
            f"garbage collection {fmt(_pct100(r.get('gc_share_of_server_cpu')), '{:.0f}', ' %')} "
            f"of the server CPU ({r.get('gc_full_collections')} full collections in the window, "
            f"the longest so far {fmt(_ms(r.get('gc_longest_full_s')), '{:.0f}', ' ms')} "
            f"({fmt(_ms(r.get('gc_longest_full_cpu_s')), '{:.0f}', ' ms')} of CPU); "
            f"{_objects(r.get('heap_objects_per_worker'))} objects tracked per worker)",
        ]
        problems = []
        if r["pages_never_updated"]:
            problems.append(f"{r['pages_never_updated']} pages never updated")
        if r["closed_before_end"]:
            problems.append(f"{r['closed_before_end']} closed early {r['close_codes']}")
        if r["errors"]:
            problems.append(f"errors {r['errors']}")
        if r["gaps"]:
            problems.append(f"{r['gaps']} gap messages")
        if r["failed"]:
            problems.append(f"connect failures {r['failure_kinds']}")
        out.append(f"{r['label']}:\n  " + "; ".join(parts))
        if problems:
            out.append("  PROBLEMS: " + "; ".join(problems))
    return "\n".join(out)


def profile_report(rows: list[dict]) -> str:
    out = []
    for r in rows:
        prof = r.get("profile")
        if not prof:
            continue
        if "error" in prof:
            out.append(f"py-spy ({r['label']}): {prof['error']}")
            continue
        busy = prof["samples"] / (prof["seconds"] * 100) * 100
        out.append(
            f"\npy-spy ({'native, blocking' if prof.get('native') else 'non-blocking'}, 100 Hz), "
            f"one worker of {r['label']}: {prof['samples']} "
            f"busy samples in {prof['seconds']:.0f} s (~{busy:.0f} % of a core); {prof['raw']}"
        )
        sections = [
            ("self time by package", prof["packages"]),
            ("what the loop was running (task / callback)", prof["entries"]),
            ("self time by function", prof["self"]),
            ("inclusive time, dash_ws functions", prof["dash_ws_inclusive"]),
        ]
        for title, items in sections:
            out.append(f"  {title}:")
            out += [f"    {pct:5.1f} %  {name}" for name, pct in items]
    return "\n".join(out)


# ----------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2,000 pages, 8 s windows")
    parser.add_argument("--pages", type=int, help="pages (sockets) per variant")
    parser.add_argument("--window", type=float, help="measurement window, seconds")
    parser.add_argument("--warmup", type=float, help="seconds between ready and the window")
    parser.add_argument("--ramp-deadline", type=float, help="seconds to open every page")
    parser.add_argument(
        "--variants", default="topics,loops,upstream", help="comma list of topics,loops,upstream"
    )
    parser.add_argument(
        "--client-procs", type=int, default=0, help="load-client processes (0: pages/2500, 2..6)"
    )
    parser.add_argument("--concurrency", type=int, default=64, help="upgrades in flight per client")
    parser.add_argument(
        "--shared-port",
        action="store_true",
        help="one `uvicorn --workers 2` on one port (the kernel spreads the sockets) "
        "instead of two processes on two ports with the pages split evenly",
    )
    parser.add_argument(
        "--stack",
        choices=("asyncio", "uvloop", "native"),
        default="asyncio",
        help="as run.py: asyncio (default) = --loop asyncio --http h11 --ws websockets-sansio "
        "for every server; uvloop needs --dashws-uvloop-venv",
    )
    parser.add_argument(
        "--profile",
        type=float,
        default=0.0,
        help="seconds of py-spy on one worker after the window (0: none)",
    )
    parser.add_argument(
        "--reauthorize-ms",
        type=int,
        help="dash-ws: websocket_reauthorize_interval (default: the app's, 60000; 0: never)",
    )
    parser.add_argument(
        "--gc-threshold",
        help="every server: gc.set_threshold(a, b, c), e.g. 50000,20,100 (default: Python's)",
    )
    parser.add_argument(
        "--profile-native", action="store_true", help="py-spy --native (C frames, e.g. the GC)"
    )
    parser.add_argument("--profile-variants", default="topics", help="comma list")
    parser.add_argument("--py-spy", default=str(REPO / ".venv" / "bin" / "py-spy"))
    parser.add_argument(
        "--dashws-python",
        default=os.environ.get("BENCH_DASHWS_PYTHON", str(REPO / ".venv" / "bin" / "python")),
    )
    parser.add_argument(
        "--dashws-uvloop-venv",
        default=os.environ.get("BENCH_DASHWS_UVLOOP_VENV", "/tmp/bench-dashws-uvloop-venv"),
    )
    parser.add_argument(
        "--upstream-venv", default=os.environ.get("BENCH_UPSTREAM_VENV", "/tmp/bench-upstream-venv")
    )
    parser.add_argument(
        "--client-venv", default=os.environ.get("BENCH_CLIENT_VENV", "/tmp/bench-client-venv")
    )
    parser.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=30.0,
        help="before each variant, wait up to this many seconds for other load to fall "
        "under 30 %% of a core (a shared machine)",
    )
    parser.add_argument("--no-setup", action="store_true", help="do not run setup_venvs.sh")
    parser.add_argument("--json", default="/tmp/dash-ws-broadcast-results.json")
    parser.add_argument("--logdir", default="/tmp", help="server, client, redis logs")
    args = parser.parse_args()

    mode = "quick" if args.quick else "full"
    cfg = dict(MODES[mode])
    for key in ("pages", "window", "warmup", "ramp_deadline"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    soft, hard = raise_nofile()
    needed = cfg["pages"] + 1000
    if soft < needed // 2:
        log(f"warning: RLIMIT_NOFILE is {soft} (hard {hard}); {cfg['pages']} pages may not fit")

    if not args.no_setup:
        env = {
            **os.environ,
            "BENCH_UPSTREAM_VENV": args.upstream_venv,
            "BENCH_CLIENT_VENV": args.client_venv,
        }
        if args.stack == "uvloop":
            env["BENCH_DASHWS_UVLOOP_VENV"] = args.dashws_uvloop_venv
        subprocess.run(["bash", str(BENCH_DIR / "setup_venvs.sh")], check=True, env=env)
    pythons = {
        "dashws": (
            f"{args.dashws_uvloop_venv}/bin/python"
            if args.stack == "uvloop"
            else args.dashws_python
        ),
        "upstream": f"{args.upstream_venv}/bin/python",
        "client": f"{args.client_venv}/bin/python",
    }

    busy0 = system_busy_seconds()
    time.sleep(2.0)
    background = (system_busy_seconds() - busy0) / 2.0
    if background > 0.2:
        log(
            f"warning: the machine is already {background * 100:.0f} % busy (of {CORES * 100} %) "
            "before the benchmark starts; results will be noisy"
        )

    def on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    procs = Procs()
    rows: list[dict] = []
    started = time.time()
    redis = None
    try:
        redis = Redis(procs, args.redis_server, Path(args.logdir))
        log(f"redis-server on port {redis.port}; RLIMIT_NOFILE {soft}/{hard}")
        for key in args.variants.split(","):
            try:
                rows.append(run_variant(key, args, cfg, procs, redis, pythons))
            except (RuntimeError, TimeoutError, OSError) as error:
                log(f"{key} failed: {error}")
                rows.append({"variant": key, "label": VARIANTS[key]["label"], "error": str(error)})
            time.sleep(2.0)
    except KeyboardInterrupt:
        log("interrupted: stopping every process")
        raise SystemExit(130) from None
    finally:
        procs.stop_all()
        if redis is not None:
            redis.cleanup()
    elapsed = time.time() - started

    with open(args.json, "w") as out:
        json.dump(
            {
                "mode": mode,
                "config": cfg,
                "stack": args.stack,
                "shared_port": args.shared_port,
                "cores": CORES,
                "background_cpu": background,
                "elapsed_s": elapsed,
                "rows": rows,
            },
            out,
            indent=1,
            default=str,
        )
    print()
    print(
        f"One topic at 10 Hz to {cfg['pages']} pages, 2 workers + Redis: {mode} mode, "
        f"stack={args.stack}, {'one port (--workers 2)' if args.shared_port else 'two ports'}, "
        f"{cfg['window']:.0f} s window after {cfg['warmup']:.0f} s warm-up, {CORES} cores, "
        f"{elapsed:.0f} s; other load before start: {background * 100:.0f} % CPU"
    )
    print(table(rows))
    print()
    print(details(rows))
    report = profile_report(rows)
    if report:
        print(report)
    print(f"\nraw results: {args.json}")


if __name__ == "__main__":
    main()
