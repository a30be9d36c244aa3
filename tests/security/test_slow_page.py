"""A page that stops reading is let go: its session and its TCP connection, in bounded time."""

import asyncio
import json
import time

import websockets
from dash import html

from dash_ws import Dash, ctx, set_props

from .live_server import live_server


def flooding_app() -> Dash:
    app = Dash(__name__, websocket_outbox_bytes=256 * 1024)
    app.layout = html.Div(id="feed")

    @app.callback(persistent=True)
    async def flood():
        ws = ctx.websocket
        n = 0
        while not ws.is_shutdown:
            n += 1
            set_props(f"c{n % 50}", {"children": "x" * 60_000})
            await asyncio.sleep(0)

    return app


async def until(condition, bound: float = 60.0) -> None:
    """Wait for ``condition()``, checked as the server works; fail after ``bound`` s."""
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.05)


async def test_a_page_closed_for_being_slow_releases_its_session_and_connection():
    app = flooding_app()
    with live_server(app, ws_ping_interval=None) as port:  # no uvicorn pings to end it
        url = f"ws://127.0.0.1:{port}/_dash-ws/socket?v=2&page=/"
        async with websockets.connect(url, max_size=None) as page:
            await page.send(json.dumps({"type": "join"}))
            await page.recv()
            await page.send(json.dumps({"type": "ready"}))
            page.transport.pause_reading()  # a page that stops reading, and stays connected
            await until(lambda: [s.state for s in app.websocket_sessions()] == ["closing"])
            await until(lambda: app.websocket_sessions() == [])
            page.transport.resume_reading()
            # What was buffered drains, then the connection ends: the server let go of it.
            try:
                while True:
                    await asyncio.wait_for(page.recv(), 60)
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd is None or closed.rcvd.code == 4008
