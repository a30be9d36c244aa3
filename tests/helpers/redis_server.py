"""A real ``redis-server`` (Debian's) for tests: a free port, a temporary directory, restarts.

``persistent=True`` keeps an append-only file fsynced on every write, so a
killed and restarted server comes back with every message it had taken: what
a deployment with persistence sees. Without it, a restart loses everything,
as a cache-only Redis does.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from pathlib import Path

START_SECONDS = 20
STOP_SECONDS = 10


class RedisServer:
    def __init__(self, directory: Path, persistent: bool = True) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("the tests need Debian's redis-server: apt-get install redis-server")
        self.directory = directory
        self.persistent = persistent
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.lines: list[str] = []

    def start(self) -> RedisServer:
        """Start (or start again, on the same port and files) and wait until it accepts."""
        arguments = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "yes" if self.persistent else "no",
            "--appendfsync",
            "always",
            "--protected-mode",
            "no",
        ]
        self.process = subprocess.Popen(
            arguments, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        ready = threading.Event()
        threading.Thread(target=self._collect, args=(self.process, ready), daemon=True).start()
        if not ready.wait(START_SECONDS):
            self.kill()
            raise RuntimeError("redis-server did not start:\n" + "\n".join(self.lines))
        return self

    def _collect(self, process: subprocess.Popen, ready: threading.Event) -> None:
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))
            if "Ready to accept connections" in line:
                ready.set()
        ready.set()  # it exited; start() sees that below

    def kill(self) -> None:
        """Kill it at once, as a crash or an OOM kill does."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(STOP_SECONDS)
        self.process = None

    def restart(self) -> None:
        self.kill()
        self.start()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
