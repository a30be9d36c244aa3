"""get_prop, persistent callbacks, and what happens when a page goes away."""

import asyncio
import gc
import threading
import time

import pytest
from dash import Input, Output, html

from dash_ws import ComponentNotFound, Dash, ctx, dash_adapter, set_props
from dash_ws.testing import TestClient

from .compat import backends, needs_async_callbacks


def make_app(**options) -> Dash:
    app = Dash(__name__, websocket_callbacks=True, **options)
    app.layout = html.Div([html.Button(id="go"), html.Div(id="out"), html.Div(id="live")])
    return app


@needs_async_callbacks
async def test_get_prop_reads_the_page_value_at_the_time_of_the_call():
    app = make_app()

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    async def greet(n_clicks):
        first = await ctx.websocket.get_prop("name", "value")
        set_props("live", {"children": f"Processing for {first}..."})
        await asyncio.sleep(0.05)
        second = await ctx.websocket.get_prop({"type": "field", "index": 0}, "value")
        return f"{first} then {second}"

    async with TestClient(app).page() as page:
        page.props["name", "value"] = "Ada"
        page.props['{"index":0,"type":"field"}', "value"] = "Grace"
        result = await page.call("out.children", inputs=[1])
    assert result.outputs == {"out": {"children": "Ada then Grace"}}
    assert page.updates[0].props == {"children": "Processing for Ada..."}


async def test_get_prop_from_a_sync_callback():
    app = make_app()

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def read(n_clicks):
        via_asyncio_run = asyncio.run(ctx.websocket.get_prop("name", "value"))
        via_sync = ctx.websocket.get_prop_sync("name", "value")
        return f"{via_asyncio_run}/{via_sync}"

    async with TestClient(app).page() as page:
        page.props["name", "value"] = "Ada"
        result = await page.call("out.children", inputs=[1])
    assert result.outputs == {"out": {"children": "Ada/Ada"}}


@needs_async_callbacks
async def test_get_prop_of_a_missing_component_raises_component_not_found():
    app = make_app()
    raised = []

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    async def read(n_clicks):
        try:
            await ctx.websocket.get_prop("ghost", "value")
        except ComponentNotFound as error:
            raised.append(str(error))
            raise

    async with TestClient(app).page() as page:
        result = await page.call("out.children", inputs=[1])
    assert result.status == 500
    assert raised == ["no component 'ghost' in the page's layout"]


@needs_async_callbacks
async def test_get_prop_times_out_when_the_page_does_not_answer():
    app = make_app()

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    async def read(n_clicks):
        try:
            await ctx.websocket.get_prop("name", "value", timeout=0.05)
        except TimeoutError:
            return "timed out"

    async with TestClient(app).page() as page:
        page.answers_gets = False
        result = await page.call("out.children", inputs=[1])
    assert result.outputs == {"out": {"children": "timed out"}}
    assert page.gets == [("name", "value")], "the page was asked, and never answered"


async def test_persistent_callbacks_start_on_ready_and_stop_when_the_page_leaves():
    app = make_app()
    events = []
    loop = asyncio.get_running_loop()
    both_ended = asyncio.Event()

    def ended(what: str) -> None:
        events.append(what)
        if len(events) == 2:
            loop.call_soon_threadsafe(both_ended.set)

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def echo(n_clicks):
        return n_clicks

    @app.callback(persistent=True)
    async def ticker():
        ws = ctx.websocket
        ticks = 0
        while not ws.is_shutdown:
            ticks += 1
            set_props("live", {"children": ticks})
            await asyncio.sleep(0.01)
        ended("async loop ended")

    @app.callback(persistent=True)
    def sync_ticker():
        ws = ctx.websocket
        while not ws.is_shutdown:
            time.sleep(0.01)
        ended("sync loop ended")

    async with TestClient(app).page() as page:
        # A ticker started with the page would have streamed before this answer.
        assert (await page.call("out.children", inputs=[1])).status == 200
        assert page.updates == [], "persistent callbacks waited for the page to be ready"
        await page.ready()
        await page.wait_for(lambda p: len(p.updates) >= 5)
    await asyncio.wait_for(both_ended.wait(), 30)
    assert sorted(events) == ["async loop ended", "sync loop ended"]
    assert [u.props["children"] for u in page.updates[:5]] == [1, 2, 3, 4, 5]


async def test_a_persistent_callback_that_ignores_is_shutdown_is_cancelled():
    app = make_app()
    app.websocket_limits = app.websocket_limits.__class__(shutdown_grace=0.05)
    outcome = []
    started = asyncio.Event()

    @app.callback(persistent=True)
    async def stubborn():
        started.set()
        try:
            await asyncio.Event().wait()  # never ends on its own
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    async with TestClient(app).page() as page:
        await page.ready()
        await asyncio.wait_for(started.wait(), 10)
    # Leaving the page returns once its session has shut down.
    assert outcome == ["cancelled"]


@needs_async_callbacks
@pytest.mark.parametrize("backend", backends("flask", "fastapi", "quart"))
async def test_disconnect_cancels_running_async_callbacks(backend):
    app = make_app(backend=backend)
    outcome = []
    started = asyncio.Event()

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    async def long_task(n_clicks):
        started.set()
        try:
            while True:
                set_props("live", {"children": "Working..."})
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    async with TestClient(app).page() as page:
        page.send_call(page.request_body("out.children", [1], [], None))
        await asyncio.wait_for(started.wait(), 5)
    assert outcome == ["cancelled"]


async def test_sync_callback_sees_is_shutdown_after_disconnect():
    app = make_app()
    outcome = []
    started = threading.Event()
    finished = threading.Event()
    test_over = threading.Event()  # frees the thread if the test fails

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def loop_until_gone(n_clicks):
        ws = ctx.websocket
        started.set()
        while not ws.is_shutdown and not test_over.is_set():
            time.sleep(0.01)
        outcome.append(ws.is_shutdown)
        set_props("live", {"children": "after the page left"})  # dropped, never raises
        finished.set()

    try:
        async with TestClient(app).page() as page:
            page.send_call(page.request_body("out.children", [1], [], None))
            assert await asyncio.to_thread(started.wait, 30)
        assert await asyncio.to_thread(finished.wait, 30), "the callback never saw the page go"
    finally:
        test_over.set()
    assert outcome == [True]


@needs_async_callbacks
async def test_server_close_reaches_the_page_with_its_code_and_reason():
    app = make_app()

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    async def revoke(n_clicks):
        set_props("live", {"children": "bye"})
        await ctx.websocket.close(code=4001, reason="Policy violation")
        return "unreachable"

    async with TestClient(app).page() as page:
        page.send_call(page.request_body("out.children", [1], [], None))
        await page.wait_for(lambda p: p.closed is not None)
    assert (page.closed.code, page.closed.reason) == (4001, "Policy violation")
    assert page.updates[0].props == {"children": "bye"}, "queued updates left before the close"


async def test_inactivity_timeout_closes_an_idle_page_and_zero_disables_it():
    patient_app = make_app(websocket_inactivity_timeout=0)

    @patient_app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def echo(n_clicks):
        return n_clicks

    idle_app = make_app(websocket_inactivity_timeout=300)
    async with TestClient(patient_app).page() as patient:
        async with TestClient(idle_app).page() as idle:
            await idle.wait_for(lambda p: p.closed is not None)
        assert idle.closed.code == 4002
        # The patient page, idle for longer than the idle one, is still served.
        assert (await patient.call("out.children", inputs=[1])).status == 200
        assert patient.closed is None


async def test_activity_postpones_the_inactivity_timeout():
    app = make_app(websocket_inactivity_timeout=1000)

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def echo(n_clicks):
        return n_clicks

    client = TestClient(app)
    async with client.page() as busy, client.page() as idle:
        # Calls back to back keep ``busy`` active until ``idle``, opened after it, times out.
        click = 0
        while idle.closed is None:
            click += 1
            assert (await busy.call("out.children", inputs=[click])).status == 200
        assert idle.closed.code == 4002
        assert (await busy.call("out.children", inputs=[0])).status == 200
        assert busy.closed is None, "activity kept the busy page open past its timeout"
        await busy.wait_for(lambda p: p.closed is not None)
        assert busy.closed.code == 4002


async def test_a_thousand_page_lifetimes_leave_nothing_behind():
    earlier_apps_threads = set(threading.enumerate())
    app = make_app(websocket_max_workers=4)

    def quick(n_clicks):
        set_props("live", {"children": n_clicks})
        return n_clicks

    async def quick_async(n_clicks):
        return quick(n_clicks)

    # the async path where Dash has async callbacks (3.1+), the sync one twice on 3.0
    chosen = quick_async if dash_adapter.HAS_ASYNC_CALLBACKS else quick
    app.callback(Output("out", "children"), Input("go", "n_clicks"))(chosen)

    @app.callback(Output("live", "title"), Input("go", "title"))
    def sync_quick(title):
        return title

    @app.callback(persistent=True)
    async def ticker():
        while not ctx.websocket.is_shutdown:
            await asyncio.sleep(0.001)

    client = TestClient(app)

    async def one_page(index: int) -> None:
        async with client.page() as page:
            await page.ready()
            assert (await page.call("out.children", inputs=[index])).status == 200
            assert (await page.call("live.title", inputs=[str(index)])).status == 200

    for index in range(50):  # warm up pools and caches
        await one_page(index)
    gc.collect()
    tasks_before = len(asyncio.all_tasks())
    threads_before = _threads_besides_the_pool()
    objects_before = len(gc.get_objects())
    for index in range(1000):
        await one_page(index)
    gc.collect()
    assert len(asyncio.all_tasks()) == tasks_before
    # The pool may still grow to its bound: a worker hands back its result before it
    # counts itself idle, so the next call can start another worker.
    pool = [
        t.name
        for t in threading.enumerate()
        if t.name.startswith("dash-ws_") and t not in earlier_apps_threads
    ]
    assert len(pool) <= app.websocket_max_workers, pool
    others = _threads_besides_the_pool()
    assert len(others) <= len(threads_before), others
    assert len(gc.get_objects()) - objects_before < 2000


def _threads_besides_the_pool() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if not t.name.startswith("dash-ws"))
