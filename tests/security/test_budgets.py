"""No page can exhaust the server: memory of calls in flight and sync threads are budgeted."""

import asyncio
import threading

from dash import Input, Output, html

from dash_ws import Dash, dash_adapter
from dash_ws.testing import TestClient

from ..integration.compat import needs_async_callbacks

MiB = 1024 * 1024


def make_app(**options) -> Dash:
    app = Dash(__name__, websocket_callbacks=True, **options)
    app.layout = html.Div(
        [html.Button(id="go"), html.Div(id="held"), html.Div(id="sync"), html.Div(id="quick")]
    )
    app.release = asyncio.Event()
    app.release_threads = threading.Event()
    app.threads_held = threading.Semaphore(0)

    if dash_adapter.HAS_ASYNC_CALLBACKS:

        @app.callback(Output("held", "children"), Input("go", "title"))
        async def held(payload):
            await app.release.wait()
            return len(payload)

    @app.callback(Output("sync", "children"), Input("go", "n_clicks"))
    def sync_held(n_clicks):
        app.threads_held.release()
        app.release_threads.wait(300)  # a safety net: each test releases them itself
        return n_clicks

    @app.callback(Output("quick", "children"), Input("go", "id"))
    def quick(component_id):
        return "quick"

    return app


def held_call(page, size: int) -> asyncio.Future:
    return page.send_call(page.request_body("held.children", ["x" * size], [], None))


def sync_call(page, n: int) -> asyncio.Future:
    return page.send_call(page.request_body("sync.children", [n], [], None))


async def threads_held(app: Dash, count: int) -> None:
    """Wait until ``count`` sync callbacks hold a thread each."""
    for _ in range(count):
        assert await asyncio.to_thread(app.threads_held.acquire, timeout=30)


async def answer_of(call: asyncio.Future):
    """The answer of a call that must not wait for anything held."""
    return await asyncio.wait_for(call, 30)


@needs_async_callbacks
async def test_a_page_past_its_budget_is_answered_413_at_once_and_others_go_on():
    app = make_app(websocket_page_call_bytes=8 * MiB)
    client = TestClient(app)
    async with client.page() as attacker, client.page() as other:
        calls = [held_call(attacker, MiB) for _ in range(16)]
        refused = [await answer_of(call) for call in calls[7:]]  # while the first seven wait
        assert {result.status for result in refused} == {413}
        assert "websocket_page_call_bytes" in refused[0].body
        assert not any(call.done() for call in calls[:7])
        assert (await other.call("quick.children", inputs=["go"])).status == 200
        assert 7 * MiB < app.asgi.endpoint.held_call_bytes <= 8 * MiB
        app.release.set()
        answered = await asyncio.gather(*calls[:7])
    assert [result.outputs["held"]["children"] for result in answered] == [MiB] * 7
    assert app.asgi.endpoint.held_call_bytes == 0


@needs_async_callbacks
async def test_all_pages_together_are_answered_503_past_the_process_budget():
    app = make_app(websocket_page_call_bytes=8 * MiB, websocket_call_bytes=12 * MiB)
    client = TestClient(app)
    async with client.page() as first, client.page() as second:
        first_calls = [held_call(first, MiB) for _ in range(7)]
        await first.call("quick.children", inputs=["go"])  # the seven before it are in flight
        second_calls = [held_call(second, MiB) for _ in range(7)]
        refused = [await answer_of(call) for call in second_calls[4:]]
        assert {result.status for result in refused} == {503}
        app.release.set()
        answered = await asyncio.gather(*first_calls, *second_calls[:4])
    assert {result.status for result in answered} == {200}


async def test_a_page_holds_only_its_share_of_the_sync_pool():
    app = make_app(websocket_max_workers=8, websocket_page_sync_workers=2)
    client = TestClient(app)
    async with client.page() as hog, client.page() as other:
        hogging = [sync_call(hog, n) for n in range(16)]
        await threads_held(app, 2)
        # Six threads are still free: another page's sync callback runs now, not after.
        assert (await other.call("quick.children", inputs=["go"], timeout=30)).status == 200
        assert not any(call.done() for call in hogging)
        app.release_threads.set()
        assert {(await call).status for call in hogging} == {200}


async def test_new_pages_are_admitted_while_every_callback_thread_is_held():
    app = make_app(
        websocket_max_workers=4,
        websocket_page_sync_workers=2,
        websocket_liveness_timeout=3_600_000,  # the holding pages stay, however long this takes
    )

    @app.server.before_request
    def protected():  # admission runs the app's protection in threads of its own
        return None

    client = TestClient(app)

    async def a_new_page_opens() -> bool:
        async with client.page() as newcomer:
            return newcomer.session_id is not None and newcomer.closed is None

    async with client.page() as first, client.page() as second:
        held = [sync_call(page, n) for page in (first, second) for n in range(2)]
        try:
            await threads_held(app, 4)
            # Admitted while every thread stays held: an admission waiting for one would
            # wait for the release below, minutes later.
            assert await asyncio.wait_for(a_new_page_opens(), 120)
        finally:
            app.release_threads.set()
        assert {(await answer_of(call)).status for call in held} == {200}


async def test_a_huge_body_is_refused_without_touching_the_socket():
    app = make_app(websocket_max_message_bytes=MiB)
    async with TestClient(app).page() as page:
        past_the_frame_limit = "x" * (3 * MiB)
        refused = await page.call("quick.children", inputs=[past_the_frame_limit])
        assert refused.status == 413 and "exceeds the limit" in refused.body
        assert (await page.call("quick.children", inputs=["go"])).status == 200
