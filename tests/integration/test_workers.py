"""Any worker serves any page: two apps sharing one Redis, as two workers of one deployment.

Both apps run in this process, each with its own sessions, endpoint and
relay, as two uvicorn workers would; a page opened on one reconnects to the
other, as a balancer without sticky routing sends it.
"""

import asyncio
import json

from dash import Input, Output, Patch, html

import dash_ws
from dash_ws import Dash, ctx, set_props
from dash_ws.relay import session_key
from dash_ws.testing import TestClient
from tests.helpers.progress import Progress

from .compat import needs_clientside_patch, needs_shared_storage


class Ticker(Progress):
    """A persistent callback's progress, shared with the test."""

    def __init__(self) -> None:
        super().__init__()
        self.starts = 0
        self.release = asyncio.Event()
        self.sent = 0


def worker(url: str, ticker: Ticker, **options) -> Dash:
    app = Dash(__name__, websocket_broker=url, **options)
    app.layout = html.Div([html.Div(id="ticks"), html.Div(id="price")])

    @app.callback(persistent=True)
    async def tick():
        ticker.starts += 1
        await ticker.changed()
        while not ctx.websocket.is_shutdown:
            await ticker.release.wait()
            ticker.release.clear()
            ticker.sent += 1
            appended = Patch()
            appended.append(ticker.sent)
            set_props("ticks", {"children": appended})
            await ticker.changed()

    return app


def appended(page):
    return [
        u.props["children"]["operations"][0]["params"]["value"]
        for u in page.updates
        if u.component == "ticks"
    ]


async def step(ticker: Ticker, page) -> None:
    """Let the persistent callback stream one more tick, and wait until it has."""
    sent = ticker.sent
    ticker.release.set()
    await ticker.until(lambda: ticker.sent == sent + 1)


@needs_clientside_patch
async def test_a_page_resumes_through_another_worker_with_nothing_lost_or_restarted(
    redis_server,
):
    ticker = Ticker()
    first, second = worker(redis_server.url, ticker), worker(redis_server.url, ticker)
    async with TestClient(first).page() as page:
        await page.ready()
        await ticker.until(lambda: ticker.starts == 1)
        await step(ticker, page)
        await page.wait_for(lambda p: appended(p) == [1])
        await page.drop()
        await step(ticker, page)  # streamed while the page is away
        page.connector = TestClient(second).connector()
        await page.reconnect()
        assert page.resumed
        await page.wait_for(lambda p: appended(p) == [1, 2])
        await step(ticker, page)
        await page.wait_for(lambda p: appended(p) == [1, 2, 3])
    assert ticker.starts == 1
    assert first.asgi.endpoint.sessions == {} or all(
        not s.is_live for s in first.asgi.endpoint.sessions.values()
    )
    assert second.asgi.endpoint.sessions == {}


@needs_clientside_patch
async def test_callbacks_called_through_the_relay_answer_the_page(redis_server):
    ticker = Ticker()
    first, second = worker(redis_server.url, ticker), worker(redis_server.url, ticker)
    for app in (first, second):
        app.layout.children.append(html.Button(id="go"))

        @app.callback(Output("price", "children"), Input("go", "n_clicks"), websocket=True)
        def price(clicks):
            return f"clicked {clicks}"

    async with TestClient(first).page() as page:
        await page.drop()
        page.connector = TestClient(second).connector()
        await page.reconnect()
        assert page.resumed
        result = await page.call("price.children", [3])
        assert result.outputs == {"price": {"children": "clicked 3"}}


async def test_a_session_whose_worker_is_gone_starts_anew(redis_server):
    ticker = Ticker()
    first, second = worker(redis_server.url, ticker), worker(redis_server.url, ticker)
    async with TestClient(first).page() as page:
        await page.ready()
        await ticker.until(lambda: ticker.starts == 1)
        await page.drop()
        await first.asgi.endpoint.end_sessions()  # the first worker stops
        page.connector = TestClient(second).connector()
        await page.reconnect()
        assert not page.resumed
        await page.ready()
        await ticker.until(lambda: ticker.starts == 2)


async def test_session_records_leave_nothing_behind(redis_server):
    import redis.asyncio as aredis

    ticker = Ticker()
    app = worker(redis_server.url, ticker, websocket_resume_grace=60_000)
    client = aredis.Redis.from_url(redis_server.url)
    async with TestClient(app).page() as page:
        key = session_key(page.session_id)
        assert await client.get(key) is not None
        lifetime = await client.pttl(key)
        assert 0 < lifetime <= 60_000
    await app.asgi.endpoint.end_sessions()
    assert await client.get(key) is None
    await client.aclose()


async def test_a_feed_reaches_pages_on_both_workers_once_each(redis_server):
    ticker = Ticker()
    first, second = worker(redis_server.url, ticker), worker(redis_server.url, ticker)
    for app in (first, second):

        @app.feed("prices", Output("price", "children"))
        def show(message):
            return f"{message:.1f}"

    async with TestClient(first).page() as a, TestClient(second).page() as b:
        for page in (a, b):
            await page.ready()
            await page.synced()
        for value in (1, 2, 3):
            await dash_ws.publish_async("prices", value, broker=redis_server.url)
            for page in (a, b):
                await page.wait_for(lambda p, v=value: _prices(p)[-1:] == [f"{v:.1f}"])
    for page in (a, b):
        assert _prices(page) == ["1.0", "2.0", "3.0"]


def _prices(page):
    return [u.props["children"] for u in page.updates if u.component == "price"]


async def test_an_unreachable_redis_stops_the_server_at_start_up_naming_it():
    from tests.helpers.redis_server import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    app = worker(url, Ticker())
    received = asyncio.Queue()
    await received.put({"type": "lifespan.startup"})
    sent = []

    async def send(message):
        sent.append(message)
        if message["type"].startswith("lifespan.startup."):
            await received.put({"type": "lifespan.shutdown"})

    await asyncio.wait_for(app.asgi({"type": "lifespan"}, received.get, send), 30)
    assert sent[0]["type"] == "lifespan.startup.failed"
    assert f"cannot reach the broker at {url}" in sent[0]["message"]


async def test_websocket_broker_defaults_to_the_environment(redis_server, monkeypatch):
    monkeypatch.setenv("DASH_WS_BROKER", redis_server.url)
    app = Dash(__name__)
    assert app.websocket_broker == redis_server.url
    assert app.asgi.endpoint.relay is not None


@needs_shared_storage
async def test_dash_shared_storage_on_redis_gives_its_url(redis_server):
    from dash._shared_storage.redis import RedisSharedStorage

    storage = RedisSharedStorage(redis_server.url)
    app = Dash(__name__, websocket_broker=storage)
    assert app.websocket_broker == redis_server.url
    storage.close()


async def test_an_app_on_redis_served_again_follows_its_feed_again(redis_server):
    from dash_ws.serve import served_in_thread
    from dash_ws.testing import connect

    app = worker(redis_server.url, Ticker())

    @app.feed("prices", Output("price", "children"))
    def show(message):
        return f"price {message}"

    for served in range(2):
        with served_in_thread(app) as url:
            socket_url = url.replace("http://", "ws://") + "/_dash-ws/socket"
            async with connect(socket_url, app, origin=url) as page:
                await page.ready()
                await page.synced()
                await dash_ws.publish_async("prices", served, broker=redis_server.url)
                await page.wait_for(lambda p, s=served: _prices(p) == [f"price {s}"])


async def test_cookies_set_through_the_relay_are_exchanged_at_either_worker(redis_server):
    import httpx
    from dash import callback_context

    from dash_ws.handshake import BINDING_COOKIE

    apps = [worker(redis_server.url, Ticker()) for _ in range(2)]
    for app in apps:
        app.layout.children.extend([html.Button(id="login"), html.Div(id="who")])

        @app.callback(Output("price", "children"), Input("login", "n_clicks"), websocket=True)
        def log_in(n_clicks):
            callback_context.response.set_cookie("user", f"u{n_clicks}", httponly=True)
            return "in"

        @app.callback(Output("who", "children"), Input("login", "title"), websocket=True)
        def who(title):
            return callback_context.cookies.get("user", "nobody")

    first, second = apps

    async def exchange(app, token, step, cookie=""):
        [session] = first.asgi.endpoint.sessions.values()
        binding = f"{BINDING_COOKIE}={session.binding}"
        headers = {
            "origin": "http://testserver",
            "cookie": "; ".join(filter(None, [binding, cookie])),
        }
        transport = httpx.ASGITransport(app=app.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.post(
                "/_dash-ws/cookies", json={"token": token, "step": step}, headers=headers
            )

    async with TestClient(first).page() as page:
        await page.drop()
        page.connector = TestClient(second).connector()
        await page.reconnect()
        result = await page.call("price.children", inputs=[5])
        assert result.cookies
        applied = await exchange(second, result.cookies, "apply")  # not the session's worker
        assert applied.status_code == 204
        assert applied.headers["set-cookie"].startswith("user=u5")
        synced = await exchange(second, result.cookies, "sync", cookie="user=u5")
        assert synced.status_code == 204
        seen = await page.call("who.children", inputs=["t"])
        assert seen.outputs["who"]["children"] == "u5"
        assert (await exchange(first, result.cookies, "apply")).status_code == 404


@needs_clientside_patch
async def test_a_stranger_cannot_take_a_session_through_another_worker(redis_server):
    import httpx

    ticker = Ticker()
    first, second = worker(redis_server.url, ticker), worker(redis_server.url, ticker)
    owner_cookies = {"cookie": "session=alice"}
    async with TestClient(first).page(headers=owner_cookies) as page:
        await page.ready()
        await ticker.until(lambda: ticker.starts == 1)
        session = first.asgi.endpoint.sessions[page.session_id]

        # Another identity with the right secret, then the right identity with a wrong one.
        for headers, secret in (
            ({"cookie": "session=mallory"}, page.session_secret),
            (owner_cookies, "guessed"),
        ):
            async with TestClient(second).page(headers=headers, join=False) as stranger:
                await stranger.send_text(
                    json.dumps(
                        {"type": "join", "session": page.session_id, "secret": secret, "seen": 0}
                    )
                )
                await stranger.opened()
                assert not stranger.resumed and stranger.session_id != page.session_id
        assert session.is_attached
        assert page.session_id in first.asgi.endpoint.sessions

        # Nor can it take the page's cookies at the other worker without the browser's binding.
        transport = httpx.ASGITransport(app=second.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            answer = await client.post(
                "/_dash-ws/cookies",
                json={"token": f"{page.session_id}.any", "step": "apply"},
                headers={"origin": "http://testserver", "cookie": "session=mallory"},
            )
        assert answer.status_code == 404
        await step(ticker, page)
        await page.wait_for(lambda p: appended(p) == [1])  # the owner's page still streams
