"""Topics in one process: publish, follow from a page, feeds to every page, resume and gaps."""

import asyncio
from dataclasses import replace

import pytest
from dash import Output, Patch, html

import dash_ws
from dash_ws import Dash, ctx, set_props
from dash_ws.testing import TestClient

from .compat import needs_clientside_patch


def make_app(**options) -> Dash:
    app = Dash(__name__, **options)
    app.layout = html.Div([html.Div(id="price"), html.Div(id="log"), html.Div(id="ticks")])
    return app


def texts(page, component="price", prop="children"):
    return [u.props[prop] for u in page.updates if u.component == component and prop in u.props]


async def published(topic, *messages, broker="memory://"):
    return [await dash_ws.publish_async(topic, m, broker=broker) for m in messages]


def unique_topic(request) -> str:
    return f"{request.node.name}-{id(request)}"


def appended(page, component="ticks"):
    """The values a page was sent as ``Patch`` appends to ``component``'s children."""
    return [v["operations"][0]["params"]["value"] for v in texts(page, component)]


@needs_clientside_patch
async def test_a_persistent_callback_follows_a_topic_in_order(request):
    topic = unique_topic(request)
    app = make_app()
    followed = asyncio.Event()

    @app.callback(persistent=True)
    async def follow():
        async with ctx.websocket.subscribe(topic) as messages:
            followed.set()
            async for message in messages:
                tick = Patch()
                tick.append(f"{message.number}:{message.data['p']}")
                set_props("ticks", {"children": tick})

    async with TestClient(app).page() as page:
        await page.ready()
        await asyncio.wait_for(followed.wait(), 10)
        numbers = await published(topic, {"p": 1}, {"p": 2}, {"p": 3})
        await page.wait_for(lambda p: len(texts(p, "ticks")) == 3)
    assert appended(page) == [f"{n}:{i}" for i, n in enumerate(numbers, start=1)]
    assert numbers == sorted(numbers) and numbers[1] == numbers[0] + 1


async def test_publish_from_a_plain_thread_reaches_the_page(request):
    topic = unique_topic(request)
    app = make_app()

    @app.feed(topic, Output("price", "children"))
    def show(message):
        return f"price {message}"

    async with TestClient(app).page() as page:
        await joined(page)
        number = await asyncio.to_thread(dash_ws.publish, topic, 42)
        await page.wait_for(lambda p: texts(p) == ["price 42"])
    assert number >= 1


async def test_a_feed_renders_once_for_every_page(request):
    topic = unique_topic(request)
    app = make_app()
    renders = []

    @app.feed(topic, Output("price", "children"), Output("log", "children"))
    def show(message):
        renders.append(message)
        return f"{message['p']:.2f}", dash_ws_no_update()

    client = TestClient(app)
    async with client.page() as a, client.page() as b, client.page() as c:
        await joined(a, b, c)
        for price, shown in ((1.5, "1.50"), (2.25, "2.25")):
            await published(topic, {"p": price})
            for page in (a, b, c):
                await page.wait_for(lambda p, s=shown: texts(p)[-1:] == [s])
        for page in (a, b, c):
            assert texts(page) == ["1.50", "2.25"]
            assert texts(page, "log") == []
    assert renders == [{"p": 1.5}, {"p": 2.25}]


def dash_ws_no_update():
    import dash

    return dash.no_update


async def joined(*pages):
    """Say each page is ready and wait until the server has taken it into its feeds."""
    for page in pages:
        await page.ready()
        await page.synced()


@needs_clientside_patch
async def test_a_page_that_resumes_gets_exactly_what_it_missed(request):
    topic = unique_topic(request)
    app = make_app(websocket_topic_history=50)

    @app.feed(topic, Output("ticks", "children"))
    def append(tick):
        extended = Patch()
        extended.append(tick)
        return extended

    client = TestClient(app)
    async with client.page() as away, client.page() as witness:
        await joined(away, witness)
        await published(topic, 1, 2, 3)
        await away.wait_for(lambda p: len(texts(p, "ticks")) == 3)
        await away.drop()
        await published(topic, 4, 5, 6, 7)
        await witness.wait_for(lambda p: len(texts(p, "ticks")) == 7)
        await away.reconnect()
        assert away.resumed
        await away.wait_for(lambda p: len(texts(p, "ticks")) == 7)
        await published(topic, 8)
        await away.wait_for(lambda p: len(texts(p, "ticks")) == 8)
    assert appended(away) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert away.gaps == []


async def test_a_page_away_longer_than_the_history_is_told_and_brought_up_to_date(request):
    topic = unique_topic(request)
    app = make_app(websocket_topic_history=3)
    state = {"last": None}

    @app.feed(topic, Output("price", "children"), on_gap=lambda: f"reloaded at {state['last']}")
    def show(message):
        state["last"] = message
        return f"live {message}"

    client = TestClient(app)
    async with client.page() as away, client.page() as witness:
        await joined(away, witness)
        await published(topic, 1)
        await away.wait_for(lambda p: texts(p) == ["live 1"])
        await away.drop()
        await published(topic, 2, 3, 4, 5, 6)
        await witness.wait_for(lambda p: texts(p)[-1:] == ["live 6"])
        await away.reconnect()
        await away.wait_for(lambda p: p.gaps)
        await away.wait_for(lambda p: "reloaded at 6" in texts(p))
        await published(topic, 7)
        await away.wait_for(lambda p: texts(p)[-1:] == ["live 7"])
    assert away.gaps == [topic]
    assert texts(away) == ["live 1", "reloaded at 6", "live 7"]


@needs_clientside_patch
async def test_a_slow_subscriber_is_told_of_the_gap(request):
    topic = unique_topic(request)
    app = make_app(websocket_topic_history=2)
    release = asyncio.Event()
    following = asyncio.Event()
    got_first = asyncio.Event()

    @app.callback(persistent=True)
    async def follow():
        async with ctx.websocket.subscribe(topic) as messages:
            following.set()
            async for message in messages:
                if message.data == "first":
                    got_first.set()
                    await release.wait()
                line = Patch()
                line.append("gap" if message.gap else message.data)
                set_props("ticks", {"children": line})

    async with TestClient(app).page() as page:
        await page.ready()
        await asyncio.wait_for(following.wait(), 10)
        await published(topic, "first")
        await asyncio.wait_for(got_first.wait(), 10)
        await published(topic, "a", "b", "c", "d")
        release.set()
        await page.wait_for(lambda p: appended(p)[-1:] == ["d"])
    assert appended(page) == ["first", "gap", "c", "d"]


async def test_a_subscription_ends_with_the_page(request):
    topic = unique_topic(request)
    app = make_app()
    following = asyncio.Event()
    ended = asyncio.Event()

    @app.callback(persistent=True)
    async def follow():
        try:
            async with ctx.websocket.subscribe(topic) as messages:
                following.set()
                async for _ in messages:
                    pass
        finally:
            ended.set()

    async with TestClient(app).page() as page:
        await page.ready()
        await asyncio.wait_for(following.wait(), 10)
    await asyncio.wait_for(ended.wait(), 10)
    assert topic not in app.asgi.endpoint.hub._followed


def test_publish_takes_a_topic_name():
    with pytest.raises(TypeError):
        dash_ws.publish("", 1)
    with pytest.raises(ValueError):
        dash_ws.publish("t", 1, broker="carrier-pigeon://")


@needs_clientside_patch
async def test_a_page_that_resumes_while_a_message_is_rendered_misses_nothing(request):
    topic = unique_topic(request)
    app = make_app()
    rendering, release = asyncio.Event(), asyncio.Event()

    @app.feed(topic, Output("ticks", "children"))
    async def append(message):
        if message == 6:
            rendering.set()
            await release.wait()
        extended = Patch()
        extended.append(message)
        return extended

    async with TestClient(app).page() as page:
        await joined(page)
        await published(topic, 1, 2, 3)
        await page.wait_for(lambda p: appended(p) == [1, 2, 3])
        await page.drop()
        await published(topic, 4, 5, 6)
        await asyncio.wait_for(rendering.wait(), 10)
        await page.reconnect()  # while message 6 is being rendered
        assert page.resumed
        release.set()
        await published(topic, 7)
        await page.wait_for(lambda p: appended(p)[-1:] == [7])
    assert appended(page) == [1, 2, 3, 4, 5, 6, 7]
    assert page.gaps == []


async def test_a_feed_of_patches_is_refused_where_the_renderer_cannot_apply_them(request, caplog):
    topic = unique_topic(request)
    app = make_app()
    app.websocket_limits = replace(app.websocket_limits, streams_patches=False)

    @app.feed(topic, Output("ticks", "children"), Output("price", "children"))
    def show(message):
        if message == "plain":
            return dash_ws_no_update(), "plain"
        extended = Patch()
        extended.append(message)
        return extended, f"price {message}"

    async with TestClient(app).page() as page:
        await joined(page)
        await published(topic, 1, "plain")
        await page.wait_for(lambda p: texts(p) == ["plain"])  # message 1 was handled before
    assert "streaming a Patch needs dash>=3.3" in caplog.text
    assert texts(page, "ticks") == []
