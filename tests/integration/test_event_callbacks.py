"""Event callbacks over the socket answer exactly as over HTTP, and stream while they run."""

import asyncio
import json
import threading

import dash
import pytest
from dash import ALL, Input, Output, Patch, State, html, no_update
from dash.exceptions import PreventUpdate

from dash_ws import Dash, UnsupportedDash, ctx, dash_adapter, set_props
from dash_ws.testing import TestClient

from .compat import needs_async_callbacks, needs_clientside_patch


async def post_over_http(app: Dash, body: dict):
    """POST to the HTTP route, from a thread: Flask's async views cannot run inside a loop."""
    return await asyncio.to_thread(
        lambda: app.server.test_client().post("/_dash-update-component", json=body)
    )


def make_app(**options) -> Dash:
    app = Dash(__name__, websocket_callbacks=True, **options)
    app.layout = html.Div([html.Button(id="go"), html.Div(id="out"), html.Div(id="side")])
    return app


@needs_async_callbacks
async def test_async_callback_streams_in_order_then_answers():
    app = make_app()

    @app.callback(Output("out", "children"), Input("go", "n_clicks"), prevent_initial_call=True)
    async def count(n_clicks):
        for step in range(3):
            set_props("side", {"children": f"step {step}"})
            await asyncio.sleep(0.01)
        return f"done {n_clicks}"

    async with TestClient(app).page() as page:
        result = await page.call("out.children", inputs=[4])
    assert result.outputs == {"out": {"children": "done 4"}}
    assert [u.props["children"] for u in page.updates] == ["step 0", "step 1", "step 2"]
    assert "sideUpdate" not in result.json  # streamed props are not sent twice


async def test_sync_callback_streams_through_dash_set_props_and_ctx_set_props():
    app = make_app()

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def work(n_clicks):
        dash.set_props("side", {"children": "from dash.set_props"})
        dash.callback_context.set_props("side", {"title": "from ctx.set_props"})
        set_props({"type": "card", "index": 1}, {"children": "dict id"})
        dash.set_props({"type": "card", "index": 2}, {"children": "dict id via dash"})
        assert ctx.websocket is not None
        return "sync"

    async with TestClient(app).page() as page:
        result = await page.call("out.children", inputs=[1])
    assert result.outputs == {"out": {"children": "sync"}}
    assert [(u.component, u.props) for u in page.updates] == [
        ("side", {"children": "from dash.set_props"}),
        ("side", {"title": "from ctx.set_props"}),
        ({"index": 1, "type": "card"}, {"children": "dict id"}),
        ({"index": 2, "type": "card"}, {"children": "dict id via dash"}),
    ]


@needs_async_callbacks
async def test_async_callback_streams_every_set_props_flavour_in_call_order_before_answering():
    app = make_app()

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    async def mixed(n_clicks):
        dash.set_props("s0", {"children": 0})
        set_props("s1", {"children": 1})
        dash.callback_context.set_props("s2", {"children": 2})
        dash.set_props({"type": "card", "index": 3}, {"children": 3})
        return "done"

    @app.callback(Output("out", "title"), Input("go", "title"))
    async def later(title):
        return title

    async with TestClient(app).page() as page:
        await page.call("out.children", inputs=[1])
        streamed_before_the_answer = [(u.component, u.props) for u in page.updates]
        # The server sends in order: whatever ``mixed`` streamed late would come before this.
        assert (await page.call("out.title", inputs=["later"])).status == 200
    assert streamed_before_the_answer == [
        ("s0", {"children": 0}),
        ("s1", {"children": 1}),
        ("s2", {"children": 2}),
        ({"index": 3, "type": "card"}, {"children": 3}),
    ]
    assert len(page.updates) == 4, "nothing arrives after the answer"


@needs_clientside_patch
async def test_patch_streams_as_a_patch():
    app = make_app()

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def patch(n_clicks):
        update = Patch()
        update["AAPL"] = 101.5
        set_props("side", {"data": update})
        return "patched"

    async with TestClient(app).page() as page:
        await page.call("out.children", inputs=[1])
    operations = page.updates[0].props["data"]["operations"]
    assert operations == [{"operation": "Assign", "location": ["AAPL"], "params": {"value": 101.5}}]


@pytest.mark.skipif(dash_adapter.HAS_CLIENTSIDE_PATCH, reason="this renderer applies patches")
async def test_a_patch_is_refused_where_the_renderer_would_clobber_the_prop():
    app = make_app()
    refused = []

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def patch(n_clicks):
        try:
            set_props("side", {"data": Patch()})
        except UnsupportedDash as error:
            refused.append(str(error))
        return "refused"

    async with TestClient(app).page() as page:
        await page.call("out.children", inputs=[1])
    assert page.updates == [] and "needs dash>=3.3" in refused[0]


async def test_multiple_outputs_state_and_no_update():
    app = make_app()
    app.layout = html.Div(
        [html.Button(id="go"), html.Div(id="a"), html.Div(id="b"), html.Div(id="c")]
    )

    @app.callback(
        Output("a", "children"),
        Output("b", "children"),
        Input("go", "n_clicks"),
        State("c", "children"),
    )
    def several(n_clicks, c_value):
        return f"{n_clicks}-{c_value}", no_update

    async with TestClient(app).page() as page:
        result = await page.call("..a.children...b.children..", inputs=[2], state=["seen"])
    assert result.outputs == {"a": {"children": "2-seen"}}


async def test_pattern_matching_and_allow_duplicate():
    app = make_app()
    app.layout = html.Div(
        [html.Button(id={"type": "btn", "index": i}) for i in range(2)] + [html.Div(id="out")]
    )

    @app.callback(Output("out", "children"), Input({"type": "btn", "index": ALL}, "n_clicks"))
    def total(clicks):
        return sum(c or 0 for c in clicks)

    @app.callback(
        Output("out", "children", allow_duplicate=True),
        Input({"type": "btn", "index": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    def duplicate(clicks):
        return f"dup {ctx.triggered_id['index']}"

    async with TestClient(app).page() as page:
        app._setup_server()
        ids = [{"type": "btn", "index": i} for i in range(2)]
        values = [{"id": i, "property": "n_clicks", "value": v} for i, v in zip(ids, [3, 4])]
        body = {
            "output": "out.children",
            "outputs": {"id": "out", "property": "children"},
            "inputs": [values],
            "changedPropIds": ['{"index":1,"type":"btn"}.n_clicks'],
            "state": [],
        }
        assert (await page.call_raw(body)).outputs == {"out": {"children": 7}}
        duplicate_key = next(k for k in app.callback_map if k.startswith("out.children@"))
        body["output"] = duplicate_key
        body["outputs"] = {"id": "out", "property": "children@" + duplicate_key.split("@")[1]}
        assert (await page.call_raw(body)).outputs == {"out": {"children": "dup 1"}}


async def test_prevent_update_answers_204_like_http():
    app = make_app()

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def nothing(n_clicks):
        raise PreventUpdate

    async with TestClient(app).page() as page:
        result = await page.call("out.children", inputs=[1])
    assert result.status == 204


async def test_a_raising_callback_answers_500_and_the_socket_stays_usable():
    app = make_app()

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def broken(n_clicks):
        if n_clicks == 1:
            raise ValueError("the reason")
        return "fine"

    async with TestClient(app).page() as page:
        failed = await page.call("out.children", inputs=[1])
        assert failed.status == 500
        assert (await page.call("out.children", inputs=[2])).outputs == {
            "out": {"children": "fine"}
        }


async def test_debug_mode_shows_the_traceback_as_dash_does_over_http():
    app = make_app()

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def broken(n_clicks):
        raise ValueError("the reason")

    app.enable_dev_tools(debug=True, dev_tools_hot_reload=False)
    async with TestClient(app).page() as page:
        failed = await page.call("out.children", inputs=[1])
    http = await post_over_http(app, page.request_body("out.children", [1], [], None))
    assert failed.status == http.status_code == 500
    assert "ValueError: the reason" in failed.body
    assert "ValueError: the reason" in http.get_data(as_text=True)


async def test_unknown_callback_is_an_error_for_that_call_only():
    app = make_app()

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def known(n_clicks):
        return "known"

    async with TestClient(app).page() as page:
        unknown = await page.call_raw({"output": "nope.children", "inputs": [], "state": []})
        assert unknown.status == 500
        assert (await page.call("out.children", inputs=[1])).outputs == {
            "out": {"children": "known"}
        }


async def test_socket_answers_match_the_http_route():
    app = make_app()

    @app.callback(Output("out", "children"), Output("side", "children"), Input("go", "n_clicks"))
    def both(n_clicks):
        return f"out {n_clicks}", no_update

    async with TestClient(app).page() as page:
        body = page.request_body("..out.children...side.children..", [5], [], None)
        over_socket = await page.call_raw(body)
    over_http = await post_over_http(app, body)
    assert over_socket.status == over_http.status_code == 200
    assert over_socket.json == json.loads(over_http.get_data())


@needs_async_callbacks
async def test_sync_work_runs_in_threads_and_never_blocks_the_loop():
    app = make_app()
    side_by_side = threading.Barrier(3, timeout=10)  # passes only if all three run at once
    release = threading.Event()

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def slow(n_clicks):
        side_by_side.wait()
        release.wait(10)
        return "slow"

    @app.callback(Output("side", "children"), Input("go", "title"))
    async def quick(title):
        return "quick"

    client = TestClient(app)
    async with client.page() as slow_page, client.page() as other_page:
        slow_calls = [
            slow_page.send_call(slow_page.request_body("out.children", [i], [], None))
            for i in range(3)
        ]
        # Answered while three sync callbacks hold their threads.
        quick_result = await other_page.call("side.children", inputs=["t"])
        release.set()
        slow_results = await asyncio.gather(*slow_calls)
    assert quick_result.outputs == {"side": {"children": "quick"}}
    assert [r.outputs for r in slow_results] == [{"out": {"children": "slow"}}] * 3


async def test_ctx_websocket_is_none_over_http():
    app = make_app()
    seen = []

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def which(n_clicks):
        seen.append(ctx.websocket)
        set_props("side", {"children": "batched over http"})
        return "http"

    response = await post_over_http(
        app,
        {
            "output": "out.children",
            "outputs": {"id": "out", "property": "children"},
            "inputs": [{"id": "go", "property": "n_clicks", "value": 1}],
            "changedPropIds": [],
            "state": [],
        },
    )
    assert seen == [None]
    assert response.get_json()["sideUpdate"] == {"side": {"children": "batched over http"}}


def three_callbacks_with_no_inputs_and_no_outputs(app: dash.Dash) -> set[str]:
    """Register three such callbacks on ``app``; the names Dash gave them."""
    app.layout = html.Div([html.Div(id="first"), html.Div(id="second"), html.Div(id="third")])
    before = set(app.callback_map)

    @app.callback()
    def first():
        set_props("first", {"children": "first ran"})

    @app.callback()
    def second():
        set_props("second", {"children": "second ran"})

    @app.callback()
    def third():
        set_props("third", {"children": "third ran"})

    return set(app.callback_map) - before


@pytest.mark.parametrize("over_the_socket", [True, False])
async def test_callbacks_with_no_inputs_and_no_outputs_are_named_as_plain_dash_names_them(
    over_the_socket,
):
    plain = three_callbacks_with_no_inputs_and_no_outputs(dash.Dash(__name__))
    app = Dash(__name__, websocket_callbacks=over_the_socket)
    names = three_callbacks_with_no_inputs_and_no_outputs(app)
    # Dash names them after the line that registered them (one each) where it can tell
    # lines apart; Dash 3.0 gives them all one name, and keeps the last.
    assert len(names) == len(plain)
    if not over_the_socket or len(names) < 3:
        return
    async with TestClient(app).page() as page:
        for name in sorted(names):
            body = {"output": name, "outputs": [], "inputs": [], "changedPropIds": [], "state": []}
            # 204: what set_props produced has streamed; nothing is left to answer
            assert (await page.call_raw(body)).status == 204
        ran = {update.component: update.props["children"] for update in page.updates}
    assert ran == {"first": "first ran", "second": "second ran", "third": "third ran"}


@needs_async_callbacks
async def test_get_prop_reads_part_of_a_prop_by_path():
    app = make_app()
    figure = {"data": [{"y": [1, 2, 3]}, {"y": [4, 5]}], "layout": {"title": {"text": "Sales"}}}

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    async def read_parts(n_clicks):
        ws = ctx.websocket
        return [
            await ws.get_prop("graph", "figure", path=["layout", "title", "text"]),
            await ws.get_prop("graph", "figure", path=["data", -1, "y", 0]),
            await ws.get_prop("graph", "figure", path=["data", 5]),
            await ws.get_prop("graph", "figure", path=[]) == figure,
        ]

    async with TestClient(app).page() as page:
        page.props["graph", "figure"] = figure
        result = await page.call("out.children", inputs=[1])
    assert result.outputs == {"out": {"children": ["Sales", 4, None, True]}}


@pytest.mark.parametrize("path", ["layout", [1.5], [True], {"a": 1}])
async def test_a_malformed_get_prop_path_fails_before_anything_is_sent(path):
    app = make_app()

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def read_badly(n_clicks):
        with pytest.raises(TypeError):
            ctx.websocket.get_prop_sync("graph", "figure", path=path)
        return "refused"

    async with TestClient(app).page() as page:
        result = await page.call("out.children", inputs=[1])
        assert page.gets == []
    assert result.outputs == {"out": {"children": "refused"}}
