"""A page that stops reading is let go: its session and its TCP connection, in bounded time."""

import asyncio
import json
import time
from pathlib import Path

import websockets
from dash import html

from dash_ws import Dash, ctx, set_props

from .live_server import live_server


def flooding_app() -> Dash:
    app = Dash(
        __name__,
        websocket_outbox_bytes=256 * 1024,
        websocket_send_timeout=2,
        websocket_liveness_timeout=3_600_000,  # silent, but not taken for dead: only slow
    )
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


async def until(condition, bound: float = 300.0) -> None:
    """Wait for ``condition()``, checked as the server works; fail after ``bound`` s."""
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.05)


async def test_a_page_closed_for_being_slow_releases_its_session_and_connection():
    app = flooding_app()
    with live_server(app, ws_ping_interval=None) as port:  # no uvicorn pings to end it
        url = f"ws://127.0.0.1:{port}/_dash-ws/socket?v=2&page=/"
        async with websockets.connect(url, max_size=None, ping_interval=None) as page:
            await page.send(json.dumps({"type": "join"}))
            await page.recv()
            await page.send(json.dumps({"type": "ready"}))
            page.transport.pause_reading()  # a page that stops reading, and stays connected
            page_port = page.transport.get_extra_info("sockname")[1]
            await until(lambda: [s.state for s in app.websocket_sessions()] == ["closing"])
            await until(lambda: app.websocket_sessions() == [])
            # The page still reads nothing, yet the server has let go of its connection.
            await until(lambda: not server_side_connection(port, page_port))


def server_side_connection(server_port: int, client_port: int) -> bool:
    """True while the server's end of the connection from ``client_port`` exists."""
    wanted = f":{server_port:04X}", f":{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote = line.split()[1:3]
        if local.endswith(wanted[0]) and remote.endswith(wanted[1]):
            return True
    return False
