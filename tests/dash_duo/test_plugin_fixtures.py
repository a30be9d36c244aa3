"""The fixtures dash-ws's pytest plugin gives an app's own test suite."""

from __future__ import annotations

import httpx
from dash import Input, Output, dcc, html

import dash_ws
from dash_ws import ctx
from dash_ws.testing import connect


def greeting_app() -> dash_ws.Dash:
    app = dash_ws.Dash(__name__, websocket_callbacks=True)
    app.layout = html.Div([dcc.Input(id="name", value="Ada"), html.Div(id="out")])

    @app.callback(Output("out", "children"), Input("name", "value"))
    def greet(name):
        return f"Hello, {name} ({'socket' if ctx.websocket else 'http'})"

    return app


async def test_dash_ws_client_opens_pages_in_process(dash_ws_client):
    app = greeting_app()
    async with dash_ws_client(app).page() as page:
        result = await page.call("out.children", inputs=["Bo"])
    assert result.outputs == {"out": {"children": "Hello, Bo (socket)"}}


async def test_dash_ws_server_serves_the_app_as_app_run_does(dash_ws_server):
    app = greeting_app()
    url = dash_ws_server(app)
    async with httpx.AsyncClient() as client:
        assert (await client.get(url + "/")).status_code == 200
    async with connect(url.replace("http", "ws") + app.socket_path, app, origin=url) as page:
        result = await page.call("out.children", inputs=["Cy"])
    assert result.outputs == {"out": {"children": "Hello, Cy (socket)"}}


def test_dash_ws_page_shows_the_app_in_chromium(dash_ws_page):
    page = dash_ws_page(greeting_app())
    page.wait_for_function("document.querySelector('#out').textContent.includes('socket')")
    assert page.inner_text("#out") == "Hello, Ada (socket)"
