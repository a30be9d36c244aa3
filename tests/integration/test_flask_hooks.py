"""A Flask app's ``async def`` hooks run for socket calls as they do for HTTP requests."""

import asyncio

import flask
import pytest
from dash import Input, Output, html

from dash_ws import Dash
from dash_ws.testing import TestClient

from .compat import needs_async_callbacks


def app_with_async_hooks(seen: list[str]) -> Dash:
    app = Dash(__name__, websocket_callbacks=True)
    app.layout = html.Div([html.Button(id="go"), html.Div(id="sync"), html.Div(id="async")])
    server = app.server

    @server.before_request
    async def who_is_asking():
        flask.g.user = flask.request.headers.get("X-User", "nobody")
        if flask.request.headers.get("Authorization") == "Bearer expired":
            return flask.Response("token expired", status=401)

    @server.after_request
    async def stamp(response):
        seen.append(f"after {response.status_code}")
        return response

    @server.teardown_request
    async def tidy(error):
        seen.append("teardown")

    @server.errorhandler(LookupError)
    async def not_found(error):
        return flask.Response(f"no such thing: {error}", status=404)

    @app.callback(Output("sync", "children"), Input("go", "n_clicks"))
    def sync_greeting(n_clicks):
        if n_clicks == 404:
            raise LookupError("page 404")
        return f"sync for {flask.g.user}"

    return app


async def test_async_hooks_run_around_a_sync_callback():
    seen: list[str] = []
    app = app_with_async_hooks(seen)
    async with TestClient(app).page(headers={"X-User": "ada"}) as page:
        result = await page.call("sync.children", inputs=[1])
        assert result.outputs == {"sync": {"children": "sync for ada"}}
        failed = await page.call("sync.children", inputs=[404])
    assert (failed.status, failed.body) == (404, "no such thing: page 404")
    assert seen[-4:] == ["after 200", "teardown", "after 404", "teardown"]


@needs_async_callbacks
async def test_async_hooks_run_around_an_async_callback_that_reads_the_page():
    seen: list[str] = []
    app = app_with_async_hooks(seen)

    @app.callback(Output("async", "children"), Input("go", "n_clicks"))
    async def async_greeting(n_clicks):
        from dash_ws import ctx

        name = await ctx.websocket.get_prop("go", "title")
        return f"async for {flask.g.user}, button {name}"

    async with TestClient(app).page(headers={"X-User": "ada"}) as page:
        page.props["go", "title"] = "Go!"
        result = await page.call("async.children", inputs=[1])
    assert result.outputs == {"async": {"children": "async for ada, button Go!"}}
    assert seen[-2:] == ["after 200", "teardown"]


@pytest.mark.parametrize(
    "output", ["sync.children", pytest.param("async.children", marks=needs_async_callbacks)]
)
async def test_an_async_before_request_refusal_is_the_calls_answer(output):
    app = app_with_async_hooks([])
    if output == "async.children":

        @app.callback(Output("async", "children"), Input("go", "n_clicks"))
        async def async_greeting(n_clicks):
            return "ran"

    async with TestClient(app).page(headers={"X-User": "ada"}) as page:
        body = page.request_body(output, [1], [], None)
        refused = await page.call_raw(body, headers={"Authorization": "Bearer expired"})
        answered = await page.call_raw(body)
    assert (refused.status, refused.body) == (401, "token expired")
    assert answered.status == 200


@needs_async_callbacks
async def test_async_callbacks_behind_async_hooks_hold_no_thread_while_they_wait():
    app = app_with_async_hooks([])
    waiting = 40  # far more than the threads a worker pool has on any machine here
    started: list[int] = []
    all_started = asyncio.Event()

    @app.callback(Output("async", "children"), Input("go", "n_clicks"))
    async def wait_for_the_others(n_clicks):
        started.append(n_clicks)
        if len(started) == waiting:
            all_started.set()
        await all_started.wait()
        return n_clicks

    async with TestClient(app).page(headers={"X-User": "ada"}) as page:
        calls = [
            page.send_call(page.request_body("async.children", [n], [], None))
            for n in range(1, waiting + 1)
        ]
        results = await asyncio.wait_for(asyncio.gather(*calls), 60)
    assert sorted(r.outputs["async"]["children"] for r in results) == list(range(1, waiting + 1))


@needs_async_callbacks
async def test_an_async_teardown_appcontext_alone_runs_for_async_socket_calls_too():
    seen: list[str] = []
    app = Dash(__name__, websocket_callbacks=True)
    app.layout = html.Div([html.Button(id="go"), html.Div(id="async")])

    @app.server.teardown_appcontext
    async def close_connection(error):
        seen.append("app context gone")

    @app.callback(Output("async", "children"), Input("go", "n_clicks"))
    async def async_greeting(n_clicks):
        return "hi"

    async with TestClient(app).page() as page:
        result = await page.call("async.children", inputs=[1])
    assert result.status == 200 and "app context gone" in seen
