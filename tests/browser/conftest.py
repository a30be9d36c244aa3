"""Browser tests: example apps served by uvicorn, driven by Debian's Chromium.

Every test gets a fresh browser context (a fresh profile: its own cookies,
its own pages) in one Chromium shared by the session, and the apps it asks
``serve`` for, each in its own uvicorn process on a free local port with the
backend under test. Servers are stopped when the test ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Callable

import pytest
from app_server import CHROMIUM, CHROMIUM_ARGS, AppServer
from page_watch import TITLE_RECORDER
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

BACKENDS = ["flask", "fastapi", "quart"]

PAGE_TIMEOUT_MS = 5000
BROWSER_START_MS = 30_000


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
