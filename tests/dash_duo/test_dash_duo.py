"""``dash_duo`` serves a dash-ws app over its socket, stops it and serves the next, test after test.

Dash's threaded runner calls ``app.run`` in a thread and stops it by killing
that thread's Python code; each test below then finds every thread of the
previous server gone and its port free.
"""

from __future__ import annotations

import socket
import threading

import pytest
from dash import Input, Output, dcc, html
from dash.testing import wait

import dash_ws
from dash_ws import ctx

pytest.importorskip("selenium")


def _socket_app(greeting: str) -> dash_ws.Dash:
    app = dash_ws.Dash(__name__, websocket_callbacks=True)
    app.layout = html.Div([dcc.Input(id="name", value=""), html.Div(id="out")])

    @app.callback(Output("out", "children"), Input("name", "value"))
    def greet(name):
        carrier = "socket" if ctx.websocket is not None else "http"
        return f"{greeting}, {name} ({carrier})"

    return app


def _dash_ws_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(("dash-ws", "WSGI"))]


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize("greeting", ["Hello", "Welcome back"])
def test_two_dash_duo_tests_in_a_row_each_get_a_socket(dash_duo, greeting):
    assert not _dash_ws_threads(), "the previous test's server left threads running"
    app = _socket_app(greeting)
    dash_duo.start_server(app)
    dash_duo.find_element("#name").send_keys("Ada")
    dash_duo.wait_for_text_to_equal("#out", f"{greeting}, Ada (socket)")
    assert dash_duo.get_logs() == []
    port = dash_duo.server.port

    dash_duo.server.stop()
    wait.until(
        lambda: not _dash_ws_threads(), timeout=30, msg=f"threads left: {_dash_ws_threads()}"
    )
    assert _port_is_free(port)


def test_dash_duo_mp_serves_a_dash_ws_app_in_its_own_process(dash_duo_mp):
    app = _socket_app("Hi")
    dash_duo_mp.start_server(app)
    dash_duo_mp.find_element("#name").send_keys("Bo")
    dash_duo_mp.wait_for_text_to_equal("#out", "Hi, Bo (socket)")
    assert dash_duo_mp.get_logs() == []
