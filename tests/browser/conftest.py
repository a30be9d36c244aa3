"""Browser tests: example apps served by uvicorn, driven by Debian's Chromium.

Every test gets a fresh browser context (a fresh profile: its own cookies,
its own pages) in one Chromium shared by the session, and the apps it asks
``serve`` for, each in its own uvicorn process on a free local port with the
backend under test. Servers are stopped when the test ends.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest
from page_watch import TITLE_RECORDER
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

REPO = Path(__file__).resolve().parents[2]
TEST_APPS = Path(__file__).resolve().parent / "apps"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

BACKENDS = ["flask", "fastapi", "quart"]

SERVER_START_SECONDS = 20
SERVER_STOP_SECONDS = 5
PAGE_TIMEOUT_MS = 5000
BROWSER_START_MS = 30_000


class AppServer:
    """One app served by uvicorn in a child process, and every line it printed."""

    def __init__(self, module: str, backend: str) -> None:
        self.module = module
        self.backend = backend
        self.port = _free_port()
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=BROWSER_START_MS
        )
        yield chromium
        chromium.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def serve(backend: str) -> Iterator[Callable[[str], AppServer]]:
    """Start an app module (``examples.countdown``, or one in ``apps/``) on ``backend``.

    What each server printed is shown with a failing test's captured output.
    """
    servers: list[AppServer] = []

    def start(module: str) -> AppServer:
        server = AppServer(module, backend)
        servers.append(server)
        server.wait_until_answering()
        return server

    yield start
    for server in servers:
        server.stop()
        print(f"--- {server.module} on {server.backend} printed:\n{server.output}")


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh profile; its pages record every document title they show."""
    fresh = browser.new_context()
    fresh.set_default_timeout(PAGE_TIMEOUT_MS)
    fresh.add_init_script(TITLE_RECORDER)
    yield fresh
    fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
