"""Persistent callbacks, and the dcc.Interval app they replace, in a real browser."""

from __future__ import annotations

import re

from page_watch import (
    APP_TITLE,
    UPDATING_TITLE,
    record_http_callbacks,
    record_sockets,
    titles_shown,
    wait_for_texts,
    wait_until,
    watch_text,
)
from playwright.sync_api import Page, expect

AAPL_PRICE = re.compile(r"^AAPL: \$\d+(\.\d+)?$")


def test_live_price_is_pushed_every_second_without_updating_title(serve, page: Page):
    app = serve("examples.live_price")
    sockets = record_sockets(page)
    http_callbacks = record_http_callbacks(page)
    page.goto(app.url)
    expect(page.locator("#price-display")).to_have_text(AAPL_PRICE, timeout=2000)
    watch_text(page, "#price-display")

    shown = wait_for_texts(page, "#price-display", 4, timeout_ms=4500)
    assert all(AAPL_PRICE.match(s.text) for s in shown), shown
    titles = [title.text for title in titles_shown(page)]
    assert UPDATING_TITLE not in titles, titles
    assert page.title() == APP_TITLE
    assert len(sockets) == 1
    assert http_callbacks == []


def test_interval_app_polls_over_http_under_updating_title(serve, page: Page):
    app = serve("examples.live_price_interval")
    sockets = record_sockets(page)
    http_callbacks = record_http_callbacks(page)
    page.goto(app.url)
    expect(page.locator("#price-display")).to_have_text(AAPL_PRICE, timeout=2000)
    watch_text(page, "#price-display")

    shown = wait_for_texts(page, "#price-display", 3, timeout_ms=3500)
    assert all(AAPL_PRICE.match(s.text) for s in shown), shown
    assert len(http_callbacks) >= 3
    assert set(http_callbacks) == {"price-display.children"}
    assert sockets == []
    titles = [title.text for title in titles_shown(page)]
    assert titles.count(UPDATING_TITLE) >= 2, titles  # each poll shows it, unlike live_price


def test_game_of_life_advances_while_running_and_stops_after_stop(serve, page: Page):
    app = serve("examples.game_of_life")
    page.goto(app.url)
    generation = page.locator("#gen")
    board = page.locator("#board .heatmaplayer image")
    expect(generation).to_have_text("Generation: 0")
    first_board = board.get_attribute("href")
    page.wait_for_timeout(600)
    expect(generation).to_have_text("Generation: 0")

    page.click("#start")
    expect(generation).to_have_text(re.compile(r"^Generation: ([5-9]|\d\d+)$"), timeout=3000)
    assert board.get_attribute("href") != first_board

    page.click("#stop")
    page.wait_for_timeout(500)
    stopped_at = generation.inner_text()
    page.wait_for_timeout(1000)
    assert generation.inner_text() == stopped_at


def test_ag_grid_rows_change_in_place_while_streaming(serve, page: Page):
    app = serve("examples.ag_grid")
    page.goto(app.url)
    prices = page.locator('#grid .ag-cell[col-id="price"]')
    symbols = page.locator('#grid .ag-cell[col-id="symbol"]')
    expect(prices).to_have_count(5)
    initial_prices = prices.all_inner_texts()
    page.wait_for_timeout(600)
    assert prices.all_inner_texts() == initial_prices

    page.click("#start")
    price_columns_seen = {tuple(initial_prices)}
    wait_until(
        page,
        lambda: (
            price_columns_seen.add(tuple(prices.all_inner_texts())) or len(price_columns_seen) >= 4
        ),
        timeout=3,
        waiting_for="three updates of the price column",
    )
    assert symbols.all_inner_texts() == ["AAPL", "GOOGL", "MSFT", "AMZN", "TSLA"]

    page.click("#start")  # the second click stops the stream
    page.wait_for_timeout(700)
    stopped_prices = prices.all_inner_texts()
    page.wait_for_timeout(1000)
    assert prices.all_inner_texts() == stopped_prices
