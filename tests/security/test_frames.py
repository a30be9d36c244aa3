"""Nothing in a frame claims an identity, hostile input gets a clear answer, nothing leaks."""

import asyncio
import base64
import json

import flask
import pytest
import websockets
from dash import Input, Output, html

from dash_ws import Dash, ctx
from dash_ws.testing import TestClient, connect

from ..integration.compat import backends
from .lifespans import app_on
from .live_server import live_server


def make_app(**options) -> Dash:
    app = Dash(__name__, websocket_callbacks=True, **options)
    app.layout = html.Div([html.Button(id="go"), html.Div(id="out")])

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def who(n_clicks):
        headers = flask.request.headers
        return {"user": headers.get("X-Forwarded-User"), "csrf": headers.get("X-CSRFToken")}

    return app


async def test_a_call_cannot_replace_a_header_the_proxy_set():
    app = make_app()

    @app.server.before_request
    def behind_an_authenticating_proxy():
        if "X-Forwarded-User" not in flask.request.headers:
            return flask.Response("no user", status=401)

    async with TestClient(app).page(headers={"X-Forwarded-User": "alice"}) as page:
        body = page.request_body("out.children", [1], [], None)
        forged = {"X-Forwarded-User": "admin", "X-CSRFToken": "token-1", "Cookie": "admin=1"}
        result = await page.call_raw(body, headers=forged)
    assert result.outputs["out"]["children"] == {"user": "alice", "csrf": "token-1"}


async def test_an_allowed_header_cannot_replace_the_handshakes_either():
    app = make_app()

    @app.callback(Output("out", "title"), Input("go", "title"))
    def authorization(title):
        return flask.request.headers.get("Authorization")

    alice = "Basic " + base64.b64encode(b"alice:pw").decode()
    admin = "Basic " + base64.b64encode(b"admin:pw").decode()
    async with TestClient(app).page(headers={"Authorization": alice}) as page:
        body = page.request_body("out.title", ["t"], [], None)
        result = await page.call_raw(body, headers={"Authorization": admin})
    assert result.outputs["out"]["title"] == alice


async def test_a_call_cannot_add_a_header_outside_the_allow_list():
    app = make_app()
    async with TestClient(app).page() as page:
        body = page.request_body("out.children", [1], [], None)
        result = await page.call_raw(body, headers={"X-Forwarded-User": "admin"})
    assert result.outputs["out"]["children"]["user"] is None


def persistent_failure_app(**options) -> Dash:
    app = make_app(**options)

    @app.callback(persistent=True)
    async def leaky():
        raise RuntimeError("db password=hunter2 host=10.0.0.5")

    return app


async def test_a_persistent_callbacks_error_stays_on_the_server_without_debug(caplog):
    async with TestClient(persistent_failure_app()).page() as page:
        await page.ready()
        await page.wait_for(lambda p: p.errors)
    assert "hunter2" not in page.errors[0]
    assert "leaky failed; the server log has the details" in page.errors[0]
    assert "hunter2" in caplog.text


async def test_debug_mode_shows_the_persistent_callbacks_error():
    app = persistent_failure_app()
    app.enable_dev_tools(debug=True, dev_tools_hot_reload=False)
    async with TestClient(app).page() as page:
        await page.ready()
        await page.wait_for(lambda p: p.errors)
    assert "hunter2" in page.errors[0]


async def test_another_scheme_is_another_origin():
    client = TestClient(make_app())  # served over http
    async with client.page(origin="https://testserver") as page:
        await page.wait_for(lambda p: p.closed is not None)
    assert page.closed.code == 4003


async def test_a_message_limit_counts_bytes_and_the_socket_survives_it():
    app = make_app(websocket_max_message_bytes=1024 * 1024)
    limit = app.websocket_limits.inbound_frame_bytes
    async with TestClient(app).page() as page:
        emoji = "\U0001f600" * 600_000  # under the limit in characters, past it in bytes
        frame = json.dumps({"type": "ping", "pad": emoji}, ensure_ascii=False)
        assert len(frame) < limit
        await page.send_text(frame)
        await page.wait_for(lambda p: p.errors)
        assert f"{len(frame.encode())} bytes exceeds the limit of {limit}" in page.errors[0]
        assert (await page.call("out.children", inputs=[1])).status == 200


async def test_long_close_reasons_reach_the_page_cut_to_fit():
    app = make_app()
    with live_server(app) as port:
        url = f"ws://127.0.0.1:{port}/_dash-ws/socket"
        long_origin = "http://" + "o" * 200 + ".example"
        async with connect(url, origin=long_origin) as refused:
            await refused.wait_for(lambda p: p.closed is not None)
        assert refused.closed.code == 4003
        assert refused.closed.reason.startswith("origin http://ooo")
        assert len(refused.closed.reason.encode()) <= 123

        async with websockets.connect(url + "?v=" + "9" * 300) as old_page:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await old_page.recv()
        assert closed.value.rcvd.code == 4400
        assert len(closed.value.rcvd.reason.encode()) <= 123

        async with connect(url, origin=f"http://127.0.0.1:{port}") as page:
            result = await asyncio.wait_for(
                page.call_raw(
                    {
                        "output": "out.children",
                        "outputs": {"id": "out", "property": "children"},
                        "inputs": [{"id": "go", "property": "n_clicks", "value": 1}],
                        "changedPropIds": ["go.n_clicks"],
                        "state": [],
                    }
                ),
                30,
            )
        assert result.status == 200


@pytest.mark.parametrize("backend", backends("flask", "fastapi", "quart"))
async def test_no_backend_lets_a_call_replace_a_header_the_handshake_carried(backend):
    app = app_on(backend)

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def who(n_clicks):
        headers = {name.lower(): value for name, value in ctx.headers.items()}
        return {"user": headers.get("x-forwarded-user"), "csrf": headers.get("x-csrftoken")}

    async with TestClient(app).page(headers={"X-Forwarded-User": "alice"}) as page:
        body = page.request_body("out.children", [1], [], None)
        forged = {"X-Forwarded-User": "admin", "X-CSRFToken": "token-1"}
        result = await page.call_raw(body, headers=forged)
    assert result.outputs["out"]["children"] == {"user": "alice", "csrf": "token-1"}


def test_frame_limit_a_frame_past_the_servers_frame_limit_closes_only_its_page():
    """Past its body limit a page gets an error; past the WebSocket layer's frame limit
    (which the browser client never reaches: it sends long messages in parts), the
    server closes that socket with 1009. Another page goes on."""
    app = make_app(websocket_max_message_bytes=64 * 1024)
    over_the_layer = app.websocket_limits.inbound_frame_bytes + 64 * 1024 + 1

    async def scenario(url: str) -> None:
        async with connect(url, app, origin=origin) as bystander:
            async with connect(url, app, origin=origin) as hostile:
                await hostile.send_text(json.dumps({"type": "ping", "pad": "x" * over_the_layer}))
                await hostile.wait_for(lambda p: p.closed is not None)
                assert hostile.closed.code == 1009
            assert (await bystander.call("out.children", inputs=[1])).status == 200

    with live_server(app) as port:
        origin = f"http://127.0.0.1:{port}"
        asyncio.run(scenario(f"ws://127.0.0.1:{port}/_dash-ws/socket"))
