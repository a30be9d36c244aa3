"""Cutting the network between the browser and the server, through a TCP proxy."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect
from tcp_proxy import TcpProxy

pytestmark = pytest.mark.parametrize("backend", ["flask"])

DROP_SECONDS = 2


@pytest.fixture
def proxied(serve):
    """network_app behind a proxy that can cut the connection; yields (server, proxy)."""
    server = serve("network_app")
    proxy = TcpProxy(server.port).start()
    yield server, proxy
    proxy.stop()


def counter(page: Page) -> int:
    return int(page.locator("#counter").inner_text() or 0)


def logged_values(page: Page) -> list[int]:
    return page.evaluate("window.dash_component_api.getLayout('log').props.data")


def states_seen(page: Page) -> list[str]:
    return page.evaluate("window.__statesSeen")


def open_page(page: Page, url: str) -> None:
    page.add_init_script(
        "window.__statesSeen = [];"
        "document.addEventListener('dash-ws:state', e => window.__statesSeen.push(e.detail.state));"
    )
    page.goto(url)
    expect(page.locator("#state")).to_have_text("open")


def test_a_2s_drop_loses_no_update_and_restarts_nothing(proxied, page: Page):
    server, proxy = proxied
    open_page(page, proxy.url)
    page.wait_for_function("Number(document.querySelector('#counter').textContent) >= 10")
    before = counter(page)
    proxy.cut(DROP_SECONDS)
    expect(page.locator("#state")).to_have_text("reconnecting")
    expect(page.locator("#state")).to_have_text("open", timeout=10_000)
    counted_through_the_drop = before + 2 * 20 * DROP_SECONDS
    page.wait_for_function(
        f"Number(document.querySelector('#counter').textContent) >= {counted_through_the_drop}"
    )
    values = logged_values(page)
    assert values == list(range(1, len(values) + 1)), "every value, once, in order"
    assert server.output.count("counter started") == 1, "the persistent callback kept running"
    assert "reconnecting" in states_seen(page)
    assert "Traceback" not in server.output, "an ordinary drop is not an error"


def test_a_callback_running_during_a_drop_delivers_its_result(proxied, page: Page):
    server, proxy = proxied
    open_page(page, proxy.url)
    page.click("#task")
    expect(page.locator("#task-progress")).to_have_text("step 1")
    proxy.cut(DROP_SECONDS)
    expect(page.locator("#task-result")).to_have_text("task 1 done", timeout=10_000)
    expect(page.locator("#task-progress")).to_have_text("step 3")


def test_a_get_prop_pending_during_a_drop_returns_what_was_typed(proxied, page: Page):
    server, proxy = proxied
    open_page(page, proxy.url)
    page.click("#ask")
    proxy.cut(DROP_SECONDS)
    page.fill("#name", "typed while offline")
    expect(page.locator("#answer")).to_have_text("Hello, typed while offline!", timeout=10_000)


def test_a_drop_longer_than_the_grace_period_starts_a_new_session(serve, page: Page, monkeypatch):
    monkeypatch.setenv("RESUME_GRACE_MS", "500")
    server = serve("network_app")
    proxy = TcpProxy(server.port).start()
    try:
        open_page(page, proxy.url)
        page.click("#task")
        expect(page.locator("#task-progress")).to_have_text("step 1")
        proxy.cut(DROP_SECONDS)
        expect(page.locator("#state")).to_have_text("open", timeout=10_000)
        server.wait_for_output("counter started", timeout=5)
        deadline = time.monotonic() + 5
        while server.output.count("counter started") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.output.count("counter started") == 2, "a new session restarted the counter"
        assert "closed" in states_seen(page), "the page showed that its session was lost"
        expect(page.locator("#task-result")).to_have_text("", timeout=1000)
    finally:
        proxy.stop()


def test_a_blocked_websocket_path_falls_back_to_http(serve, page: Page):
    server = serve("examples.countdown")
    proxy = TcpProxy(server.port, block_websockets=True).start()
    try:
        page.goto(proxy.url)
        page.click("#start-btn")
        expect(page.locator("#countdown-display")).to_have_text("Done!", timeout=20_000)
        assert page.evaluate("window.dash_ws.state") == "degraded"
    finally:
        proxy.stop()
