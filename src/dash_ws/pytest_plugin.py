"""pytest fixtures for dash-ws apps, registered when dash-ws is installed.

- ``dash_ws_client``: opens simulated pages on an app in-process
  (``dash_ws.testing.TestClient``), no server and no browser.
- ``dash_ws_server``: serves an app with uvicorn in a thread, as ``app.run``
  would, and stops it when the test ends.
- ``dash_ws_page``: a Chromium page (Playwright) showing an app served as
  above. Chromium is ``DASH_WS_CHROMIUM``, else ``/usr/bin/chromium`` where it
  exists, else Playwright's own.

With ``dash[testing]``, Dash's own ``dash_duo`` serves dash-ws apps too; its
threaded runner is given a stop that asks uvicorn to exit, so each test's
server, threads and port are gone before the next test starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any, Callable

import pytest

from . import dash_adapter
from .app import Dash
from .serve import served_in_thread
from .testing import TestClient

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def dash_ws_client() -> Iterator[Callable[[Dash], TestClient]]:
    """``dash_ws_client(app)`` gives a ``TestClient``; its pages end with the test."""
    apps: list[Dash] = []

    def client(app: Dash) -> TestClient:
        apps.append(app)
        return TestClient(app)

    yield client
    for app in apps:
        app.release_asgi()


@pytest.fixture
def dash_ws_server() -> Iterator[Callable[..., str]]:
    """``dash_ws_server(app, **uvicorn_options)`` serves ``app`` and returns its URL."""
    with ExitStack() as servers:

        def serve(app: Dash, **options: Any) -> str:
            return servers.enter_context(served_in_thread(app, **options))

        yield serve


@pytest.fixture(scope="session")
def dash_ws_browser() -> Iterator[Any]:
    """One headless Chromium for the test session (needs ``playwright``)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = os.environ.get("DASH_WS_CHROMIUM") or (
        "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def dash_ws_page(dash_ws_browser: Any, dash_ws_server: Callable[..., str]) -> Iterator[Callable]:
    """``dash_ws_page(app)`` serves ``app`` and returns a fresh browser page showing it.

    The page has loaded Dash's layout when it is returned; each page has a
    profile (cookies, storage) of its own.
    """
    contexts = []

    def open_page(app: Dash, path: str = "", **server_options: Any) -> Any:
        url = dash_ws_server(app, **server_options)
        context = dash_ws_browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.goto(url + app.config.requests_pathname_prefix + path.lstrip("/"))
        page.wait_for_selector("#react-entry-point > *", state="attached")
        return page

    yield open_page
    for context in contexts:
        context.close()


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.has_plugin("dash") and dash_adapter.dash_testing_installed():
        # Registered after Dash's plugin, so this fixture is the one dash_duo gets.
        config.pluginmanager.register(_GracefulDashThreadServer(), "dash_ws.dash_duo")


class _GracefulDashThreadServer:
    """Dash's ``dash_thread_server`` fixture, with a runner that stops dash-ws apps gracefully."""

    @pytest.fixture
    def dash_thread_server(self) -> Iterator[Any]:
        with dash_adapter.graceful_threaded_runner()() as starter:
            yield starter
