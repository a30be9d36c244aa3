"""A Flask app's HTTP callbacks, served by dash-ws's own route, answer as Flask's WSGI app would."""

import asyncio
import json
import threading

import flask
import httpx
import pytest
from dash import Input, Output, html

from dash_ws import Dash
from dash_ws.flask_updates import BODY_BYTES

from .compat import needs_async_callbacks
from .test_serving import fetch


def update_body(output: str, n_clicks: int = 1) -> dict:
    return {
        "output": output,
        "outputs": {"id": output.split(".")[0], "property": "children"},
        "inputs": [{"id": "go", "property": "n_clicks", "value": n_clicks}],
        "changedPropIds": ["go.n_clicks"],
        "state": [],
    }


async def post_body(app: Dash, body) -> httpx.Response:
    """POST a callback body as given: bytes, or an async iterator (sent chunked)."""
    return await fetch(
        app,
        "/_dash-update-component",
        method="POST",
        content=body,
        headers={"Content-Type": "application/json"},
    )


def hooked_app(ran: dict) -> Dash:
    """Sync and async HTTP callbacks behind a refusing ``before_request`` and cookie-setting
    ``after_request``; each callback notes the thread and event loop it ran on."""
    app = Dash(__name__)
    app.layout = html.Div([html.Button(id="go"), html.Div(id="sync"), html.Div(id="async")])
    server = app.server

    @server.before_request
    def refuse_strangers():
        if flask.request.headers.get("X-Stranger"):
            return flask.Response("who are you?", status=403)
        flask.g.address = flask.request.remote_addr

    @server.after_request
    def stamp(response):
        response.headers["X-Served-By"] = "flask hooks"
        response.set_cookie("first", "1")
        response.set_cookie("second", "2")
        return response

    @app.callback(Output("sync", "children"), Input("go", "n_clicks"))
    def sync_answer(n_clicks):
        ran["sync thread"] = threading.current_thread().name
        if n_clicks == 500:
            raise RuntimeError("the callback failed")
        return f"sync {n_clicks} for {flask.g.address}"

    if needs_async_callbacks.args[0]:  # an async callback would not be accepted there
        return app

    @app.callback(Output("async", "children"), Input("go", "n_clicks"))
    async def async_answer(n_clicks):
        ran["async loop"] = asyncio.get_running_loop()
        await asyncio.sleep(0)
        return f"async {n_clicks} for {flask.g.address}"

    return app


@pytest.mark.parametrize(
    "output", ["sync.children", pytest.param("async.children", marks=needs_async_callbacks)]
)
async def test_an_http_callback_passes_the_apps_hooks_and_keeps_every_header(output):
    ran: dict = {}
    app = hooked_app(ran)
    answer = await fetch(app, "/_dash-update-component", method="POST", json=update_body(output))
    assert answer.status_code == 200
    kind = output.split(".")[0]
    assert answer.json()["response"] == {kind: {"children": f"{kind} 1 for 127.0.0.1"}}
    assert answer.headers["x-served-by"] == "flask hooks"
    assert answer.headers.get_list("set-cookie") == [
        "first=1; Path=/",
        "second=2; Path=/",
    ], "both cookies arrive, each in its own header"

    refused = await fetch(
        app,
        "/_dash-update-component",
        method="POST",
        json=update_body(output),
        headers={"X-Stranger": "yes"},
    )
    assert (refused.status_code, refused.text) == (403, "who are you?")


@needs_async_callbacks
async def test_an_async_http_callback_runs_on_the_servers_loop_and_a_sync_one_in_its_pool():
    ran: dict = {}
    app = hooked_app(ran)
    for output in ("async.children", "sync.children"):
        answer = await fetch(
            app, "/_dash-update-component", method="POST", json=update_body(output)
        )
        assert answer.status_code == 200
    assert ran["async loop"] is asyncio.get_running_loop(), "no event loop of its own"
    assert ran["sync thread"].startswith("dash-ws"), "the callback pool, not a2wsgi's threads"


async def test_middleware_around_the_wsgi_app_sees_the_http_callback_exchange():
    ran: dict = {}
    app = hooked_app(ran)
    flask_wsgi_app = app.server.wsgi_app

    def middleware(environ, start_response):
        def start_marked(status, headers, exc_info=None):
            return start_response(status, [*headers, ("X-Middleware", "saw it")], exc_info)

        if environ.get("HTTP_X_BLOCKED"):
            start_response("429 Too Many Requests", [("Content-Type", "text/plain")])
            return [b"slow down"]
        return flask_wsgi_app(environ, start_marked)

    app.server.wsgi_app = middleware
    answer = await fetch(
        app, "/_dash-update-component", method="POST", json=update_body("sync.children")
    )
    assert answer.status_code == 200
    assert answer.headers["x-middleware"] == "saw it"
    assert answer.headers["x-served-by"] == "flask hooks"
    blocked = await fetch(
        app,
        "/_dash-update-component",
        method="POST",
        json=update_body("sync.children"),
        headers={"X-Blocked": "1"},
    )
    assert (blocked.status_code, blocked.text) == (429, "slow down")


async def test_a_raising_app_gets_a_500_and_the_next_request_is_served(caplog):
    ran: dict = {}
    app = hooked_app(ran)
    app.server.config["PROPAGATE_EXCEPTIONS"] = True  # Flask re-raises to the server
    failed = await fetch(
        app, "/_dash-update-component", method="POST", json=update_body("sync.children", 500)
    )
    assert failed.status_code == 500
    assert "the app raised serving /_dash-update-component" in caplog.text
    answer = await fetch(
        app, "/_dash-update-component", method="POST", json=update_body("sync.children", 2)
    )
    assert answer.json()["response"] == {"sync": {"children": "sync 2 for 127.0.0.1"}}


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"output": 7}'])
async def test_a_body_naming_no_callback_gets_flasks_own_error(body):
    app = hooked_app({})
    answer = await post_body(app, body)
    assert answer.status_code in (400, 500)
    assert answer.headers["x-served-by"] == "flask hooks", "answered by Flask, its hooks run"


@needs_async_callbacks
async def test_a_body_of_unknown_length_or_past_the_bound_is_left_to_a2wsgi():
    ran: dict = {}
    app = hooked_app(ran)
    server_loop = asyncio.get_running_loop()

    async def chunked():
        yield json.dumps(update_body("async.children")).encode()

    answer = await post_body(app, chunked())
    assert ran.get("async loop") is not server_loop, "not read on the server's loop"
    assert answer.headers["x-served-by"] == "flask hooks"

    long_body = update_body("async.children", 7)
    long_body["padding"] = "x" * BODY_BYTES  # a key Dash does not read
    answer = await fetch(app, "/_dash-update-component", method="POST", json=long_body)
    assert answer.json()["response"] == {"async": {"children": "async 7 for 127.0.0.1"}}
    assert ran["async loop"] is not server_loop, "a2wsgi read it, in its own thread"


async def test_a_body_past_max_content_length_gets_flasks_413():
    app = hooked_app({})
    app.server.config["MAX_CONTENT_LENGTH"] = 100
    answer = await fetch(
        app, "/_dash-update-component", method="POST", json=update_body("sync.children")
    )
    assert answer.status_code == 413


@needs_async_callbacks
async def test_a_body_orjson_cannot_read_is_read_again_by_flask():
    ran: dict = {}
    app = hooked_app(ran)
    body = json.dumps(update_body("async.children", float("nan"))).encode()
    assert b"NaN" in body  # Python's json reads it, orjson does not
    answer = await post_body(app, body)
    assert answer.json()["response"] == {"async": {"children": "async nan for 127.0.0.1"}}


async def test_a_request_whose_context_cannot_be_pushed_gets_the_apps_500_and_its_teardown():
    torn_down = []
    app = hooked_app({})

    class BrokenSessions(flask.sessions.SecureCookieSessionInterface):
        def open_session(self, flask_app, request):
            raise ConnectionError("the session store is down")

    app.server.session_interface = BrokenSessions()
    app.server.teardown_appcontext(torn_down.append)

    @app.server.errorhandler(500)
    def store_down(error):
        return flask.Response("try again later", status=503)

    answer = await fetch(
        app, "/_dash-update-component", method="POST", json=update_body("sync.children")
    )
    assert (answer.status_code, answer.text) == (503, "try again later")
    assert len(torn_down) == 1 and isinstance(torn_down[0], ConnectionError)
