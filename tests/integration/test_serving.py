"""The page, the ASGI app, backends, and a real server on a real socket."""

import json
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from dash import Input, Output, html

import dash_ws
from dash_ws import Dash, callback, ctx, dash_adapter, set_props
from dash_ws.errors import DashWsError, UnsupportedDash
from dash_ws.testing import TestClient, connect

from .compat import backends, needs_async_callbacks

REPO = Path(__file__).resolve().parents[2]


async def fetch(app: Dash, path: str, **request) -> httpx.Response:
    transport = httpx.ASGITransport(app=app.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.request(request.pop("method", "GET"), path, **request)


async def config_of(app: Dash) -> dict:
    index = (await fetch(app, "/")).text
    raw = re.search(
        r'<script id="_dash-config" type="application/json">(.*?)</script>', index, re.S
    )
    return json.loads(raw.group(1))


async def test_the_page_loads_the_client_and_carries_the_socket_config():
    app = Dash(__name__, websocket_callbacks=True)
    app.layout = html.Div(id="x")
    index = (await fetch(app, "/")).text
    client_url = re.search(
        r'<script src="(/_dash-ws/client-[0-9a-f]+\.js)"></script>', index
    ).group(1)
    assert index.index(client_url) < index.index("dash_renderer"), (
        "the client loads before the renderer"
    )
    script = await fetch(app, client_url)
    assert script.status_code == 200 and "dash-ws browser client" in script.text
    config = (await config_of(app))["dash_ws"]
    assert config["enabled"] and config["all_callbacks"]
    assert config["url"] == "/_dash-ws/socket"
    assert "websocket" not in await config_of(app), "upstream's socket worker stays off"


async def test_a_page_with_no_socket_work_opens_no_socket():
    app = Dash(__name__)
    app.layout = html.Div([html.Button(id="go"), html.Div(id="out")])

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def plain(n_clicks):
        return n_clicks

    assert (await config_of(app))["dash_ws"]["enabled"] is False


async def test_per_callback_mode_lists_only_the_socket_callbacks():
    app = Dash(__name__)
    app.layout = html.Div([html.Button(id="go"), html.Div(id="a"), html.Div(id="b")])

    @app.callback(Output("a", "children"), Input("go", "n_clicks"), websocket=True)
    def streamed(n_clicks):
        return n_clicks

    @app.callback(Output("b", "children"), Input("go", "n_clicks"))
    def over_http(n_clicks):
        return n_clicks

    config = (await config_of(app))["dash_ws"]
    assert config["enabled"] and not config["all_callbacks"]
    assert config["outputs"] == ["a.children"]


async def test_http_callbacks_keep_working_through_the_asgi_app():
    app = Dash(__name__, websocket_callbacks=True)
    app.layout = html.Div([html.Button(id="go"), html.Div(id="out")])

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def echo(n_clicks):
        set_props("out", {"title": "batched"})
        return f"http {n_clicks}"

    body = {
        "output": "out.children",
        "outputs": {"id": "out", "property": "children"},
        "inputs": [{"id": "go", "property": "n_clicks", "value": 3}],
        "changedPropIds": ["go.n_clicks"],
        "state": [],
    }
    answer = (await fetch(app, "/_dash-update-component", method="POST", json=body)).json()
    assert answer["response"] == {"out": {"children": "http 3"}}
    assert answer["sideUpdate"] == {"out": {"title": "batched"}}


async def test_module_level_callback_and_persistent_are_adopted_by_the_app():
    app = Dash(__name__)
    app.layout = html.Div([html.Button(id="g-go"), html.Div(id="g-out")])

    @callback(Output("g-out", "children"), Input("g-go", "n_clicks"), websocket=True)
    def global_streamed(n_clicks):
        set_props("g-out", {"title": "streamed"})
        return "global"

    @callback(persistent=True)
    async def global_persistent():
        set_props("g-out", {"className": "live"})

    async with TestClient(app).page() as page:
        await page.ready()
        result = await page.call("g-out.children", inputs=[1])
        await page.wait_for(lambda p: len(p.updates) == 2)
    assert result.outputs == {"g-out": {"children": "global"}}
    assert {"title": "streamed"} in [u.props for u in page.updates]
    assert {"className": "live"} in [u.props for u in page.updates]
    assert dash_ws.registration.process_callbacks.persistent == []
    assert "g-out.children" in app.websocket_outputs()


def test_persistent_callbacks_take_no_dependencies_where_dash_has_no_such_flag(monkeypatch):
    monkeypatch.setattr(dash_adapter, "HAS_QUIET_CALLBACKS", False)
    app = Dash(__name__)
    with pytest.raises(TypeError, match="takes no Input, Output or State"):
        app.callback(Input("a", "b"), persistent=True)


@pytest.mark.skipif(not dash_adapter.HAS_QUIET_CALLBACKS, reason="Dash added the flag in 4.3")
def test_persistent_on_an_event_callback_is_dashs_own_flag():
    app = Dash(__name__)
    app.layout = html.Div([html.Button(id="go"), html.Div(id="out")])

    @app.callback(Output("out", "children"), Input("go", "n_clicks"), persistent=True)
    def quiet(n_clicks):
        return n_clicks

    [spec] = [s for s in app._callback_list if s["output"] == "out.children"]
    assert spec.get("persistent") is True
    assert app.persistent_callbacks == [], "an event callback, not one for the page's life"


def test_async_callbacks_need_dash_3_1(monkeypatch):
    monkeypatch.setattr(dash_adapter, "HAS_ASYNC_CALLBACKS", False)
    app = Dash(__name__)

    async def too_new(n_clicks):
        return n_clicks

    with pytest.raises(UnsupportedDash, match="async callback .*too_new needs dash>=3.1"):
        app.callback(Output("a", "children"), Input("b", "n_clicks"))(too_new)
    app.callback(persistent=True)(too_new)  # dash-ws runs persistent ones itself


def test_backends_need_dash_4_2(monkeypatch):
    monkeypatch.setattr(dash_adapter, "HAS_BACKENDS", False)
    with pytest.raises(UnsupportedDash, match="backend='fastapi' needs dash>=4.2"):
        Dash(__name__, backend="fastapi")
    assert "backend" not in dash_adapter.dash_keyword_arguments("flask", {})


def test_start_up_fails_without_a_websocket_implementation(monkeypatch):
    import importlib.util

    from dash_ws import asgi

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DashWsError, match="pip install websockets"):
        asgi.require_websocket_implementation()


@pytest.mark.parametrize("backend", backends("fastapi", "quart"))
async def test_asgi_backends_stream_read_and_answer(backend):
    app = Dash(__name__, backend=backend, websocket_callbacks=True)
    app.layout = html.Div([html.Button(id="go"), html.Div(id="out"), html.Div(id="live")])

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    async def greet(n_clicks):
        name = await ctx.websocket.get_prop("name", "value")
        set_props("live", {"children": f"Processing for {name}..."})
        return f"Hello, {name}!"

    @app.callback(Output("live", "title"), Input("go", "title"))
    def sync_one(title):
        set_props("live", {"className": "sync"})
        return title.upper()

    async with TestClient(app).page(headers={"cookie": "session=abc"}) as page:
        page.props["name", "value"] = "Ada"
        assert (await page.call("out.children", inputs=[1])).outputs == {
            "out": {"children": "Hello, Ada!"}
        }
        assert (await page.call("live.title", inputs=["x"])).outputs == {"live": {"title": "X"}}
    assert [u.props for u in page.updates] == [
        {"children": "Processing for Ada..."},
        {"className": "sync"},
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def served_app():
    """examples/greeting.py under a real uvicorn on a free port."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "examples.greeting:app.asgi",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # uvicorn says it is running once it listens. A server that never gets there is
    # killed, which ends its output, so the wait below always ends.
    hung = threading.Timer(120, server.kill)
    hung.start()
    output = []
    for line in server.stdout:
        output.append(line)
        if "Uvicorn running on" in line:
            break
    hung.cancel()
    if not output or "Uvicorn running on" not in output[-1]:
        server.kill()
        server.wait()
        raise RuntimeError("".join(output))
    # Keep reading, so that the server never blocks on a full pipe.
    threading.Thread(target=output.extend, args=(server.stdout,), daemon=True).start()
    yield port
    server.terminate()
    server.wait(timeout=10)


@needs_async_callbacks  # examples/greeting.py is the spec's async example
async def test_a_real_server_on_a_real_socket(served_app):
    url = f"ws://127.0.0.1:{served_app}/_dash-ws/socket"
    origin = f"http://127.0.0.1:{served_app}"
    body = {
        "output": "greeting-output.children",
        "outputs": {"id": "greeting-output", "property": "children"},
        "inputs": [{"id": "greet-btn", "property": "n_clicks", "value": 1}],
        "changedPropIds": ["greet-btn.n_clicks"],
        "state": [],
    }
    async with connect(url, origin=origin) as page:
        page.props["name-input", "value"] = "Ada"
        result = await page.call_raw(body)
    assert result.outputs == {"greeting-output": {"children": "Hello, Ada!"}}
    assert page.updates[0].props == {"children": "Processing for Ada..."}
    async with connect(url, origin="http://evil.example") as refused:
        await refused.wait_for(lambda p: p.closed is not None)
    assert refused.closed.code == 4003


async def test_serving_freezes_what_start_up_made_and_collects_young_objects_less_often():
    import asyncio
    import gc

    from dash_ws.asgi import GC_YOUNG_THRESHOLD

    app = Dash(__name__, websocket_callbacks=True)
    app.layout = html.Div()
    before = gc.get_threshold()
    gc.set_threshold(700, *before[1:])
    received: asyncio.Queue = asyncio.Queue()
    await received.put({"type": "lifespan.startup"})
    sent = []

    async def send(message):
        sent.append(message["type"])
        if message["type"] == "lifespan.startup.complete":
            await received.put({"type": "lifespan.shutdown"})

    try:
        await asyncio.wait_for(app.asgi({"type": "lifespan"}, received.get, send), 30)
        assert sent[0] == "lifespan.startup.complete"
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
