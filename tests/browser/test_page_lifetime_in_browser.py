"""Tabs are independent: each has its own stream, and closing one stops only its work."""

from __future__ import annotations

import re

from page_watch import choose, wait_for_texts, watch_text
from playwright.sync_api import BrowserContext, Page, expect

PAGE_TICK = re.compile(r"^page (\d+) tick (\d+)$")


def shown_tick(tab: Page) -> tuple[int, int]:
    """(page number, tick) the page_ticker tab shows, once it shows one."""
    ticks = tab.locator("#ticks")
    expect(ticks).to_have_text(PAGE_TICK, timeout=3000)
    page_number, tick = PAGE_TICK.match(ticks.inner_text()).groups()
    return int(page_number), int(tick)


def test_two_tabs_stream_independently_and_survive_each_other(serve, context: BrowserContext):
    app = serve("examples.price_streaming")
    first, second = context.new_page(), context.new_page()
    first.goto(app.url)
    second.goto(app.url)

    first.click("#connect-btn")
    expect(first.locator("#live-price")).to_have_text(re.compile(r"^AAPL: "), timeout=2000)
    expect(second.locator("#status")).to_have_text("Disconnected")
    expect(second.locator("#live-price")).to_have_text("")

    choose(second, "symbol-select", "MSFT")
    second.click("#connect-btn")
    expect(second.locator("#live-price")).to_have_text(re.compile(r"^MSFT: "), timeout=2000)
    watch_text(first, "#live-price")
    first_shown = wait_for_texts(first, "#live-price", 3, timeout_ms=3500)
    assert all(s.text.startswith("AAPL: ") for s in first_shown), first_shown

    first.close()
    watch_text(second, "#live-price")
    second_shown = wait_for_texts(second, "#live-price", 3, timeout_ms=3500)
    assert all(s.text.startswith("MSFT: ") for s in second_shown), second_shown
    expect(second.locator("#status")).to_have_text("Connected")


def test_closing_a_tab_ends_its_persistent_loop_and_no_other(serve, context: BrowserContext):
    app = serve("page_ticker")
    first, second = context.new_page(), context.new_page()
    first.goto(app.url)
    second.goto(app.url)
    first_number, _ = shown_tick(first)
    second_number, _ = shown_tick(second)
    assert first_number != second_number

    first.close()
    app.wait_for_output(f"page {first_number}: loop ended", timeout=5)
    _, tick_after_close = shown_tick(second)
    expect(second.locator("#ticks")).to_have_text(
        f"page {second_number} tick {tick_after_close + 3}", timeout=2000
    )
    assert f"page {second_number}: loop ended" not in app.output


def test_closing_a_tab_cancels_its_running_event_callback(serve, page: Page):
    app = serve("page_ticker")
    page.goto(app.url)
    page.click("#task-btn")
    expect(page.locator("#task-status")).to_have_text("Working...")

    page.close()
    app.wait_for_output("long task: cancelled", timeout=5)
