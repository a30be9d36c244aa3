"""Sessions that outlive their socket: a dropped page resumes and loses nothing."""

import asyncio
import threading

import pytest
from dash import Input, Output, Patch, html

from dash_ws import Dash, ctx, set_props
from dash_ws.testing import ConnectionRefused, TestClient
from tests.helpers.progress import Progress

from .compat import needs_async_callbacks, needs_clientside_patch

sync_and_async = pytest.mark.parametrize(
    "kind", ["sync", pytest.param("async", marks=needs_async_callbacks)]
)


def make_app(**options) -> Dash:
    app = Dash(__name__, websocket_callbacks=True, **options)
    app.layout = html.Div(
        [html.Button(id="go"), html.Div(id="out"), html.Div(id="live"), html.Div(id="log")]
    )
    return app


class CounterState(Progress):
    """What the counter of ``counter_app`` has done; ``until`` waits for it."""

    def __init__(self) -> None:
        super().__init__()
        self.starts = 0
        self.value = 0
        self.ended = False


def counter_app(**options) -> tuple[Dash, CounterState]:
    app = make_app(**options)
    state = CounterState()

    @app.callback(persistent=True)
    async def counter():
        state.starts += 1
        ws = ctx.websocket
        value = 0
        while not ws.is_shutdown:
            value += 1
            appended = Patch()
            appended.append(value)
            set_props("live", {"children": value})
            set_props("log", {"children": appended})
            state.value = value
            await state.changed()
            await asyncio.sleep(0.005)
        state.ended = True
        await state.changed()

    return app, state


def appended_values(page) -> list[int]:
    return [
        operation["params"]["value"]
        for update in page.updates
        if update.component == "log"
        for operation in update.props["children"]["operations"]
    ]


@needs_clientside_patch  # counter_app streams Patch appends
async def test_a_dropped_page_resumes_its_session_and_misses_nothing():
    app, state = counter_app()
    async with TestClient(app).page() as page:
        await page.ready()
        await page.wait_for(lambda p: len(appended_values(p)) >= 5)
        first_session = page.session_id
        await page.drop()
        away_at = state.value
        await state.until(lambda: state.value >= away_at + 40, timeout=10.0)  # counting while away
        await page.reconnect()
        seen_at_resume = len(appended_values(page))
        await page.wait_for(lambda p: len(appended_values(p)) >= seen_at_resume + 40)
    assert page.resumed and page.session_id == first_session
    values = appended_values(page)
    assert values == list(range(1, len(values) + 1)), "every value, once, in order"
    shown = [u.props["children"] for u in page.updates if u.component == "live"]
    assert shown == sorted(shown), "the counter never went back"
    assert state.starts == 1, "the persistent callback was not restarted"


async def test_is_detached_while_the_page_is_away_and_is_shutdown_stays_false():
    app = make_app()
    observed = []
    watching = asyncio.Event()
    away = asyncio.Event()

    @app.callback(persistent=True)
    async def watcher():
        ws = ctx.websocket
        watching.set()
        while not ws.is_shutdown:
            if ws.is_detached:
                observed.append(("detached", ws.is_shutdown))
                away.set()
            await asyncio.sleep(0.01)

    async with TestClient(app).page() as page:
        await page.ready()
        await asyncio.wait_for(watching.wait(), 10)
        await page.drop()
        await asyncio.wait_for(away.wait(), 10)
        await page.reconnect()
    assert observed[0] == ("detached", False)


@sync_and_async
async def test_a_running_callback_delivers_its_result_after_the_resume(kind):
    app = make_app()
    started = asyncio.Event()
    loop = asyncio.get_running_loop()
    release = threading.Event()  # set by the test once the page is away
    release_async = asyncio.Event()

    def slow(n_clicks):
        set_props("live", {"children": "working"})
        loop.call_soon_threadsafe(started.set)  # once "working" is queued, like slow_async
        release.wait(60)
        set_props("live", {"children": "almost"})
        return f"finished {n_clicks}"

    async def slow_async(n_clicks):
        started.set()
        set_props("live", {"children": "working"})
        await release_async.wait()
        set_props("live", {"children": "almost"})
        return f"finished {n_clicks}"

    register = app.callback(Output("out", "children"), Input("go", "n_clicks"))
    register(slow_async if kind == "async" else slow)

    try:
        async with TestClient(app).page() as page:
            answer = page.send_call(page.request_body("out.children", [7], [], None))
            await asyncio.wait_for(started.wait(), 10)
            await page.drop()
            release.set()
            release_async.set()
            await page.callbacks_done()  # it finishes while the page is away
            assert not answer.done()
            await page.reconnect()
            result = await asyncio.wait_for(answer, 10)
    finally:
        release.set()
    assert result.outputs == {"out": {"children": "finished 7"}}
    assert [u.props["children"] for u in page.updates] == ["working", "almost"]


@sync_and_async
async def test_a_call_sent_again_after_resuming_runs_once(kind):
    app = make_app()
    runs = []
    loop = asyncio.get_running_loop()
    started = asyncio.Event()
    release = threading.Event()  # set by the test once the call was sent again
    release_async = asyncio.Event()

    def counted(n_clicks):
        runs.append(n_clicks)
        loop.call_soon_threadsafe(started.set)
        release.wait(60)
        return "once"

    async def counted_async(n_clicks):
        runs.append(n_clicks)
        started.set()
        await release_async.wait()
        return "once"

    register = app.callback(Output("out", "children"), Input("go", "n_clicks"))
    register(counted_async if kind == "async" else counted)

    @app.callback(Output("log", "children"), Input("go", "title"))
    def echo(title):
        return title

    try:
        async with TestClient(app).page() as page:
            answer = page.send_call(page.request_body("out.children", [1], [], None))
            await asyncio.wait_for(started.wait(), 10)  # running on the server
            await page.drop()
            await page.reconnect()  # re-sends the unanswered call
            # Answered after the server has read the re-sent call, which came first.
            assert (await page.call("log.children", inputs=["t"])).status == 200
            release.set()
            release_async.set()
            assert (await asyncio.wait_for(answer, 10)).outputs == {"out": {"children": "once"}}
            await page.callbacks_done()  # a second run, had one started, has ended too
    finally:
        release.set()
    assert runs == [1]


@needs_async_callbacks
async def test_a_get_prop_pending_during_the_drop_is_answered_after_the_resume():
    app = make_app()

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    async def read(n_clicks):
        return f"Hello, {await ctx.websocket.get_prop('name', 'value', timeout=30)}!"

    async with TestClient(app).page() as page:
        page.answers_gets = False  # the page receives the get; its answer is lost with the drop
        answer = page.send_call(page.request_body("out.children", [1], [], None))
        await page.wait_for(lambda p: p.gets)
        await page.drop()
        page.props["name", "value"] = "typed during the drop"
        page.answers_gets = True
        await page.reconnect()
        result = await asyncio.wait_for(answer, 10)
    assert result.outputs == {"out": {"children": "Hello, typed during the drop!"}}
    assert page.gets == [("name", "value")] * 2, "asked again after the resume"


@needs_async_callbacks
@needs_clientside_patch  # counter_app streams Patch appends
async def test_after_the_grace_period_the_session_ends_and_the_page_starts_anew():
    app, state = counter_app(websocket_resume_grace=100)
    blocked = asyncio.Event()

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    async def forever(n_clicks):
        blocked.set()
        await asyncio.sleep(3600)

    async with TestClient(app).page() as page:
        await page.ready()
        waiting = page.send_call(page.request_body("out.children", [1], [], None))
        await asyncio.wait_for(blocked.wait(), 10)
        await page.drop()
        # The session ended after its grace period.
        await state.until(lambda: state.ended, timeout=10.0)
        old_session = page.session_id
        await page.reconnect()
        assert not page.resumed and page.session_id != old_session
        try:
            await asyncio.wait_for(waiting, 10)
            raise AssertionError("the waiting call should have failed")
        except ConnectionRefused as failure:
            assert "no longer knew this page's session" in failure.reason
        await page.ready()
        await page.wait_for(lambda p: state.starts == 2)


async def test_an_unknown_session_starts_a_new_one():
    app = make_app()
    async with TestClient(app).page() as page:
        first = page.session_id
        await page.drop()
        page.session_id = "forged"
        await page.reconnect()
    assert not page.resumed and page.session_id not in (first, "forged")


async def test_a_silent_connection_is_taken_for_dead_and_can_resume():
    app = make_app(websocket_liveness_timeout=500)
    starts = []

    @app.callback(persistent=True)
    async def quiet():
        starts.append(1)
        while not ctx.websocket.is_shutdown:
            await asyncio.sleep(0.01)

    async with TestClient(app).page() as page:
        await page.ready()
        await page.wait_for(lambda p: p.closed is not None)  # the page sent nothing
        assert page.closed.code == 1011
        await page.reconnect()
        assert page.resumed
    assert starts == [1]


async def test_a_half_open_socket_ending_late_leaves_the_resumed_session_alone():
    app = make_app()

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def echo(n_clicks):
        return n_clicks

    async with TestClient(app).page() as page:
        half_open = page.transport
        await page.reconnect()  # the server has not noticed the old socket die
        assert page.resumed
        await half_open.close(1006)  # ...until now
        assert (await page.call("out.children", inputs=[2])).outputs == {"out": {"children": 2}}
        assert page.closed is None


async def test_a_socket_overtaken_while_its_hello_is_written_leaves_the_page_to_the_newer_one():
    app = make_app()

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def echo(n_clicks):
        return n_clicks

    served = app.asgi
    hold_next_socket, holding, released = [False], asyncio.Event(), asyncio.Event()

    async def slow_to_finish_its_hello(scope, receive, send):
        """The hello reaches the page, but writing it returns only once released, as on a
        congested network; every other socket is served as usual."""
        held = hold_next_socket.pop()
        hold_next_socket.append(False)

        async def sending(event):
            nonlocal held
            await send(event)
            if held and event["type"] == "websocket.send":
                held = False
                holding.set()
                await released.wait()

        await served(scope, receive, sending)

    slow_to_finish_its_hello.endpoint = served.endpoint
    app.__dict__["asgi"] = slow_to_finish_its_hello
    async with TestClient(app).page() as page:
        hold_next_socket[0] = True
        await page.reconnect()  # this socket's hello arrived; the server is still writing it
        await holding.wait()
        await page.reconnect()  # and the page is already on a newer socket
        assert page.resumed
        released.set()
        assert (await page.call("out.children", inputs=[3])).outputs == {"out": {"children": 3}}
