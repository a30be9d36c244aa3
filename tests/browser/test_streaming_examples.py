"""Event callbacks over the socket, as a person sees them: examples/ in a real browser."""

from __future__ import annotations

import json
import re

from page_watch import (
    APP_TITLE,
    UPDATING_TITLE,
    choose,
    record_http_callbacks,
    texts_shown,
    title_at,
    titles_shown,
    wait_for_texts,
    wait_until,
    watch_text,
)
from playwright.sync_api import Page, WebSocketRoute, expect


def price_of(symbol: str) -> re.Pattern:
    """What price_streaming shows for ``symbol``: ``AAPL: $123.45``."""
    return re.compile(rf"^{symbol}: \$\d+(\.\d+)?$")


def test_countdown_streams_one_value_a_second_under_updating_title(serve, page: Page):
    app = serve("examples.countdown")
    page.goto(app.url)
    display = page.locator("#countdown-display")
    expect(display).to_have_text("Ready")
    expect(page).to_have_title(APP_TITLE)
    watch_text(page, "#countdown-display")

    page.click("#start-btn")
    expect(display).to_have_text("Done!", timeout=14_000)
    expect(page).to_have_title(APP_TITLE, timeout=2000)

    shown = texts_shown(page, "#countdown-display")
    assert [s.text for s in shown] == [
        "Ready",
        *[f"Countdown: {i}" for i in range(10, 0, -1)],
        "Done!",
    ]
    titles = titles_shown(page)
    assert all(title_at(titles, s.at) == UPDATING_TITLE for s in shown[1:-1]), titles


def test_greeting_greets_the_name_in_the_input(serve, page: Page):
    app = serve("examples.greeting")
    page.goto(app.url)
    page.fill("#name-input", "Ada")
    page.click("#greet-btn")

    output = page.locator("#greeting-output")
    expect(output).to_have_text("Processing for Ada...")
    expect(output).to_have_text("Hello, Ada!", timeout=4000)


def test_greeting_reads_the_input_when_the_server_asks_not_when_clicked(serve, page: Page):
    """The server's get_prop is held until the input changed after the click.

    The click's call had already left the page with whatever it carried, so
    greeting the new name shows the value was read from the page on request.
    """
    app = serve("examples.greeting")
    held_reads: list[str] = []
    routed_sockets: list[WebSocketRoute] = []

    def hold_prop_reads(route: WebSocketRoute) -> None:
        routed_sockets.append(route)
        server = route.connect_to_server()
        route.on_message(server.send)

        def from_server(frame: str | bytes) -> None:
            if any(message["type"] == "get" for message in json.loads(frame)):
                held_reads.append(frame)
            else:
                route.send(frame)

        server.on_message(from_server)

    page.route_web_socket(re.compile(r".*/_dash-ws/socket.*"), hold_prop_reads)
    page.goto(app.url)
    page.fill("#name-input", "Ada")
    page.click("#greet-btn")
    wait_until(
        page, lambda: held_reads, timeout=5, waiting_for="the server to ask for the input's value"
    )

    page.fill("#name-input", "Grace")
    for frame in held_reads:
        routed_sockets[-1].send(frame)

    output = page.locator("#greeting-output")
    expect(output).to_have_text("Processing for Grace...")
    expect(output).to_have_text("Hello, Grace!", timeout=4000)


def test_per_callback_socket_streams_while_http_dropdown_answers(serve, page: Page):
    app = serve("examples.per_callback")
    http_callback_outputs = record_http_callbacks(page)
    page.goto(app.url)
    expect(page.locator("#dropdown-output")).to_have_text("Selected: Option A")
    stream = page.locator("#stream-output")
    watch_text(page, "#stream-output")

    page.click("#stream-btn")
    expect(stream).to_have_text("Update 1 of 5...", timeout=2000)
    choose(page, "my-dropdown", "Option B")
    expect(page.locator("#dropdown-output")).to_have_text("Selected: Option B", timeout=1000)
    expect(stream).to_have_text(re.compile(r"Update [1-4] of 5\.\.\."))
    expect(stream).to_have_text("All updates complete!", timeout=6000)

    assert [s.text for s in texts_shown(page, "#stream-output")] == [
        "Waiting...",
        *[f"Update {i} of 5..." for i in range(1, 6)],
        "All updates complete!",
    ]
    assert http_callback_outputs == ["dropdown-output.children"] * 2


def test_price_streaming_follows_the_selected_symbol(serve, page: Page):
    app = serve("examples.price_streaming")
    page.goto(app.url)
    expect(page.locator("#status")).to_have_text("Disconnected")
    page.click("#connect-btn")
    expect(page.locator("#status")).to_have_text("Connected")

    price = page.locator("#live-price")
    expect(price).to_have_text(price_of("AAPL"), timeout=2000)
    watch_text(page, "#live-price")
    shown = wait_for_texts(page, "#live-price", 3, timeout_ms=3500)
    assert all(price_of("AAPL").match(s.text) for s in shown), shown

    choose(page, "symbol-select", "MSFT")
    expect(price).to_have_text(price_of("MSFT"), timeout=2500)
    expect(page.locator("#status")).to_have_text("Connected")


def test_external_feed_forwards_upstream_messages_for_the_selected_symbol(serve, page: Page):
    app = serve("examples.external_feed")
    page.goto(app.url)
    page.click("#connect-btn")
    expect(page.locator("#status")).to_have_text("Connected")

    feed = page.locator("#live-output")
    expect(feed).to_have_text(re.compile(r"^AAPL \$[\d.]+ \(tick 1, "), timeout=2000)
    expect(feed).to_have_text(re.compile(r"^AAPL \$[\d.]+ \(tick 3, "), timeout=3500)

    choose(page, "symbol-select", "GOOGL")
    expect(feed).to_have_text(re.compile(r"^GOOGL \$[\d.]+ \(tick \d+, "), timeout=2500)
