"""An app served by uvicorn in a child process, and the browser that visits it.

Shared by the browser tests (``conftest.py``) and ``scripts/screenshots.py``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from dash_ws.pytest_plugin import CHROMIUM_ARGS as CHROMIUM_ARGS  # the flags the fixtures use

REPO = Path(__file__).resolve().parents[2]
TEST_APPS = Path(__file__).resolve().parent / "apps"

CHROMIUM = "/usr/bin/chromium"

SERVER_START_SECONDS = 20
SERVER_STOP_SECONDS = 5


class AppServer:
    """One app served by uvicorn in a child process, and every line it printed."""

    def __init__(self, module: str, backend: str) -> None:
        self.module = module
        self.backend = backend
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.lines: list[str] = []
        self._new_line = threading.Condition()
        environment = {
            **os.environ,
            "DASH_WS_BACKEND": backend,
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join([str(REPO), str(TEST_APPS)]),
        }
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
                "--log-level",
                "warning",
            ],
            cwd=REPO,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._collect_output, daemon=True).start()

    def _collect_output(self) -> None:
        for line in self.process.stdout:
            with self._new_line:
                self.lines.append(line.rstrip("\n"))
                self._new_line.notify_all()

    @property
    def output(self) -> str:
        with self._new_line:
            return "\n".join(self.lines)

    def wait_until_answering(self) -> None:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.module} exited on {self.backend}:\n{self.output}")
            try:
                with urllib.request.urlopen(self.url, timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.module} did not answer within {SERVER_START_SECONDS}s:\n{self.output}"
        )

    def wait_for_output(self, text: str, timeout: float) -> str:
        """The first printed line containing ``text``; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._new_line:
            while True:
                found = next((line for line in self.lines if text in line), None)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"the server never printed {text!r} within {timeout}s; it printed:\n"
                        + "\n".join(self.lines)
                    )
                self._new_line.wait(remaining)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=SERVER_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=SERVER_STOP_SECONDS)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
