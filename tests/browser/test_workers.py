"""Two uvicorn workers sharing page sessions through Redis, behind a proxy without stickiness."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page
from tcp_proxy import TcpProxy

from dash_ws import dash_adapter

pytestmark = pytest.mark.skipif(
    not dash_adapter.HAS_CLIENTSIDE_PATCH, reason="Dash's renderer applies streamed Patch from 3.3"
)

DROP_SECONDS = 2
TICKS_PER_SECOND = 10
"""How fast workers_app's persistent callback appends to its sequence."""

RECONNECT_MS = 15_000


@pytest.fixture
def two_workers(redis_server, serve, monkeypatch):
    """workers_app in two processes sharing one Redis, behind a round-robin proxy.

    Yields (workers, proxy). Redis is asked for first so it stops last.
    """
    monkeypatch.setenv("DASH_WS_BROKER", redis_server.url)
    workers = [serve("workers_app"), serve("workers_app")]
    proxy = TcpProxy(targets=[worker.port for worker in workers]).start()
    yield workers, proxy
    proxy.stop()


def open_page(page: Page, url: str) -> None:
    page.add_init_script(
        "window.__statesSeen = [];"
        "document.addEventListener('dash-ws:state', e => window.__statesSeen.push(e.detail.state));"
    )
    page.goto(url)


def sequence(page: Page) -> list[int]:
    """The numbers ``#sequence`` shows, in the order it shows them."""
    return [int(number) for number in re.findall(r"\d+", page.locator("#sequence").inner_text())]


def wait_for_length(page: Page, length: int, timeout: float | None = None) -> None:
    page.wait_for_function(
        "n => ((document.querySelector('#sequence') || {}).textContent || '')"
        ".split(/\\s+/).filter(Boolean).length >= n",
        arg=length,
        timeout=timeout,
    )


def test_a_2s_drop_resumes_through_the_other_worker_without_a_restart(two_workers, page: Page):
    workers, proxy = two_workers
    open_page(page, proxy.url)
    wait_for_length(page, 10)

    # The session, and its persistent callback, live on the worker that took the socket.
    runner = int(page.locator("#runner").inner_text())
    holder = next(worker for worker in workers if worker.process.pid == runner)
    other = next(worker for worker in workers if worker is not holder)
    sockets = [route.target_port for route in proxy.routes if route.is_websocket]
    assert sockets == [holder.port], proxy.routes

    forwarded_before = len(proxy.routes)
    states_before = page.evaluate("window.__statesSeen.length")
    before = len(sequence(page))
    proxy.cut(DROP_SECONDS)
    page.wait_for_function(
        "n => window.__statesSeen.slice(n).includes('reconnecting')"
        " && window.dash_ws.state === 'open'",
        arg=states_before,
        timeout=RECONNECT_MS,
    )

    # The page's next socket went to the other worker, which relayed it to the session.
    sockets_after = [
        route.target_port for route in proxy.routes[forwarded_before:] if route.is_websocket
    ]
    assert sockets_after == [other.port], proxy.routes[forwarded_before:]
    holder.wait_for_output("resumed through another worker", timeout=10)
    assert "resumed its session" not in holder.output + other.output, "no direct resume"

    # Everything counted through the drop arrives once, in order, and counting goes on.
    wait_for_length(page, before + TICKS_PER_SECOND * DROP_SECONDS, timeout=RECONNECT_MS)
    values = sequence(page)
    assert values == list(range(1, len(values) + 1)), "every value, once, in order"
    wait_for_length(page, len(values) + TICKS_PER_SECOND)
    values = sequence(page)
    assert values == list(range(1, len(values) + 1)), "every value, once, in order"

    # Nothing restarted: one start, on the holder, and the page kept its session.
    assert page.locator("#starts").inner_text().split() == [f"{runner}-1"]
    assert page.locator("#runner").inner_text() == str(runner)
    outputs = holder.output + other.output
    assert outputs.count("sequence started") == 1, "the persistent callback kept running"
    states_after = page.evaluate("n => window.__statesSeen.slice(n)", states_before)
    assert "closed" not in states_after, f"the page lost its session: {states_after}"
    assert "Traceback" not in outputs, "an ordinary drop is not an error"


@pytest.fixture
def producer(redis_server):
    """examples/live_dashboard_producer.py in a process of its own, publishing to Redis."""
    import os
    import subprocess
    import sys

    from app_server import REPO

    process = subprocess.Popen(
        [sys.executable, "-m", "examples", "live_dashboard_producer"],
        cwd=REPO,
        env={**os.environ, "DASH_WS_BROKER": redis_server.url},
        stdout=subprocess.DEVNULL,
    )
    yield process
    process.kill()
    process.wait(10)


CHART_TIMES = "(document.querySelector('#chart .js-plotly-plot') || {data: [{x: []}]}).data[0].x"
"""The chart's x values; none while plotly has not drawn it yet (it loads after the page)."""


def chart_times(page: Page) -> list[str]:
    page.wait_for_function(f"() => {CHART_TIMES}.length > 0")
    return page.evaluate(CHART_TIMES)


def test_live_dashboard_one_producer_feeds_every_viewer_on_two_workers(
    redis_server, serve, monkeypatch, producer, context
):
    monkeypatch.setenv("DASH_WS_BROKER", redis_server.url)
    workers = [serve("examples.live_dashboard"), serve("examples.live_dashboard")]
    pages = [context.new_page() for _ in workers]
    for page, worker in zip(pages, workers):
        page.goto(worker.url)
        page.wait_for_function(
            "() => ((document.querySelector('#price') || {}).textContent || '')"
            ".startsWith('ACME $')"
        )
    assert {int(p.locator("#worker").inner_text().split()[-1]) for p in pages} == {
        w.process.pid for w in workers
    }
    # Both charts grow by the same points, pushed by the feed on each worker.
    first, second = pages
    grown = len(chart_times(first)) + 20
    first.wait_for_function(f"n => {CHART_TIMES}.length >= n", arg=grown, timeout=RECONNECT_MS)
    latest = chart_times(first)[-1]
    second.wait_for_function(f"t => {CHART_TIMES}.includes(t)", arg=latest, timeout=RECONNECT_MS)
    on_second = chart_times(second)
    upto = on_second.index(latest) + 1
    assert on_second[upto - 15 : upto] == chart_times(first)[-15:]
    assert on_second == sorted(on_second) and len(set(on_second)) == len(on_second)
