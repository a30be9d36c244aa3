"""A Dash Pages app over the socket: navigation, each page's callbacks, one persistent loop."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

TICK = re.compile(r"^visit (\d+) tick (\d+)$")


def shown_tick(page: Page) -> tuple[int, int]:
    ticks = page.locator("#ticks")
    expect(ticks).to_have_text(TICK, timeout=3000)
    visit, tick = TICK.match(ticks.inner_text()).groups()
    return int(visit), int(tick)


def test_pages_navigate_over_the_socket_and_keep_their_persistent_loop(serve, page: Page):
    app = serve("pages_app")
    page.goto(app.url)
    expect(page.locator("h2")).to_have_text("Home")
    visit, first_tick = shown_tick(page)
    page.click("#greet")
    expect(page.locator("#greeting")).to_have_text("hello 1 over the socket")

    page.click("#to-report")
    expect(page.locator("h2")).to_have_text("Report")
    expect(page.locator("#summary")).to_have_text("3 rows over the socket")
    page.fill("#rows", "12")
    expect(page.locator("#summary")).to_have_text("12 rows over the socket")

    page.click("#to-home")
    expect(page.locator("h2")).to_have_text("Home")
    page.click("#greet")
    expect(page.locator("#greeting")).to_have_text("hello 1 over the socket")
    now_visit, now_tick = shown_tick(page)
    assert now_visit == visit and now_tick > first_tick, "one loop ran across the navigation"
    assert page.evaluate("() => performance.getEntriesByType('navigation').length") == 1
