"""Several uvicorn worker processes of one app, as a deployment without sticky routing runs them.

Each worker is its own ``python -m uvicorn module:app.asgi`` on its own free
port, with the environment the test gives (``DASH_WS_BROKER`` naming a shared
Redis): what ``uvicorn --workers N`` behind a balancer amounts to, with each
worker reachable on purpose. ``start`` returns once every worker has printed
uvicorn's "Application startup complete" (its lifespan ran: the broker was
reached, the feeds follow their topics) and then "Uvicorn running on" (uvicorn
listens only after the start-up, so a page connecting between the two would be
refused); everything a worker printed is kept for failure messages.

    with WorkerProcesses("tests.helpers.broadcast_app", 2, {"DASH_WS_BROKER": url}) as workers:
        workers.socket_url(0)  # ws://127.0.0.1:<port>/_dash-ws/socket
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from tests.helpers.redis_server import free_port

REPO = Path(__file__).resolve().parents[2]

START_SECONDS = 60
"""Bound on a worker's start-up: imports, the app's layout, reaching Redis (generous for CI)."""

STOP_SECONDS = 10
"""How long a worker may take to stop on SIGTERM before it is killed."""

STARTED = "Application startup complete"
LISTENING = "Uvicorn running on"


class WorkerProcess:
    """One uvicorn worker of ``module:app.asgi`` on a free port, and every line it printed."""

    def __init__(self, module: str, environment: Mapping[str, str], name: str) -> None:
        self.module = module
        self.name = name
        self.port = free_port()
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._ended = False
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                f"{module}:app.asgi",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
            ],
            cwd=REPO,
            env={
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join(
                    [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
                ),
                **environment,
            },
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._collect, name=f"output of {name}", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(f"[{self.name}] {line}" for line in self.lines)

    def wait_for_output(self, text: str, timeout: float) -> str:
        """The first line printed containing ``text``; raises if the worker ends or time is up."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((line for line in self.lines if text in line), None)
                if found is not None:
                    return found
                if self._ended:
                    raise RuntimeError(
                        f"worker {self.name} ({self.module}) ended with {self.process.wait()} "
                        f"before printing {text!r}:\n{self.output}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError(
                        f"worker {self.name} ({self.module}) did not print {text!r} "
                        f"within {timeout} s:\n{self.output}"
                    )
                self._changed.wait(remaining)

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_or_kill(self, timeout: float = STOP_SECONDS) -> None:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_SECONDS)
        if self.process.stdout is not None:
            self.process.stdout.close()


class WorkerProcesses:
    """``count`` workers of ``module`` sharing ``environment``; a context manager."""

    def __init__(self, module: str, count: int, environment: Mapping[str, str]) -> None:
        self.module = module
        self.count = count
        self.environment = dict(environment)
        self.workers: list[WorkerProcess] = []

    def start(self, timeout: float = START_SECONDS) -> WorkerProcesses:
        """Start every worker and wait until each has completed its start-up."""
        try:
            self.workers = [
                WorkerProcess(self.module, self.environment, name=f"worker {n}")
                for n in range(self.count)
            ]
            deadline = time.monotonic() + timeout
            for worker in self.workers:
                for text in (STARTED, LISTENING):
                    worker.wait_for_output(text, max(0.0, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Ask every worker to stop at once (SIGTERM), then kill those that will not."""
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            worker.wait_or_kill()

    def __enter__(self) -> WorkerProcesses:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __getitem__(self, index: int) -> WorkerProcess:
        return self.workers[index]

    @property
    def ports(self) -> list[int]:
        return [worker.port for worker in self.workers]

    def socket_url(self, index: int, path: str = "/_dash-ws/socket") -> str:
        """The socket URL of worker ``index`` (the app's ``socket_path`` is ``path``)."""
        return f"ws://127.0.0.1:{self.workers[index].port}{path}"

    @property
    def output(self) -> str:
        """What every worker printed, each line marked with its worker."""
        return "\n".join(worker.output for worker in self.workers)
