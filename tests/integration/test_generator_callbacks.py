"""Dash 4.5's generator callbacks stream each yield over the socket and stop when the page goes."""

import asyncio

import pytest
from dash import Input, Output, Patch, html

from dash_ws import Dash, ctx, set_props
from dash_ws.testing import TestClient

from .compat import backends, needs_streaming_callbacks

pytestmark = needs_streaming_callbacks


def streaming_app(backend: str, finished: list, gate: asyncio.Event | None = None) -> Dash:
    app = Dash(__name__, websocket_callbacks=True, backend=backend)
    app.layout = html.Div([html.Button(id="go"), html.Div(id="out"), html.Div(id="side")])

    @app.callback(Output("out", "children"), Input("go", "n_clicks"), prevent_initial_call=True)
    async def count(n_clicks):
        try:
            yield "started"
            set_props("side", {"children": f"over the {'socket' if ctx.websocket else 'http'}"})
            for step in range(1, 4):
                if gate is not None:
                    await gate.wait()
                yield f"step {step}"
            patch = Patch()
            patch.append("!")
            yield patch
        finally:
            finished.append("closed")

    return app


@pytest.mark.parametrize("backend", backends("flask", "fastapi", "quart"))
async def test_each_yield_streams_in_order_and_the_call_then_answers(backend):
    finished: list = []
    app = streaming_app(backend, finished)
    async with TestClient(app).page() as page:
        result = await page.call("out.children", inputs=[1])
        shown = [(u.component, u.props) for u in page.updates]
    assert result.status == 200 and '"done":true' in result.body.replace(" ", "")
    *values, patch = [props["children"] for component, props in shown if component == "out"]
    # a newer value of a prop replaces one still waiting to be sent: the page sees the
    # yields in order, the last one surely, and the Patch, which is never dropped
    steps = ["started", "step 1", "step 2", "step 3"]
    assert values == [step for step in steps if step in values] and values[-1] == "step 3"
    assert patch["__dash_patch_update"] == "__dash_patch_update"
    assert ("side", {"children": "over the socket"}) in shown
    assert finished == ["closed"]


async def test_the_generator_closes_when_the_page_leaves():
    finished: list = []
    gate = asyncio.Event()
    app = streaming_app("flask", finished, gate)
    async with TestClient(app).page() as page:
        page.send_call(page.request_body("out.children", [1], [], None))
        await page.wait_for(lambda p: any(u.props.get("children") == "started" for u in p.updates))
    await asyncio.wait_for(_until(lambda: finished == ["closed"]), 10)


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)
