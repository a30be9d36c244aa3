"""Dash 4.5's generator callbacks stream over the socket, and stop when the page goes."""

from __future__ import annotations

import pytest
from page_watch import record_http_callbacks, texts_shown, watch_text
from playwright.sync_api import BrowserContext, Page, expect

from dash_ws import dash_adapter

pytestmark = pytest.mark.skipif(
    not dash_adapter.HAS_STREAMING_CALLBACKS, reason="Dash added generator callbacks in 4.5"
)


def test_each_yield_shows_in_order_over_the_socket(serve, page: Page):
    app = serve("generator_app")
    over_http = record_http_callbacks(page)
    page.goto(app.url)
    expect(page.locator("#words")).to_be_attached()
    watch_text(page, "#words")
    page.click("#write")
    expect(page.locator("#words")).to_have_text("done")
    shown = [change.text for change in texts_shown(page, "#words")]
    assert shown[-1] == "done" and shown == sorted(shown, key=_order), shown
    assert over_http == [], "the generator's post went over the socket"


def test_closing_the_page_closes_its_generator(serve, context: BrowserContext):
    app = serve("generator_app")
    page = context.new_page()
    page.goto(app.url)
    page.fill("#pace", "hold")
    page.click("#write")
    expect(page.locator("#words")).to_have_text("1 words")
    page.close()
    app.wait_for_output("generator closed", timeout=10)


def _order(text: str) -> int:
    return 99 if text == "done" else int(text.split()[0]) if text else -1
