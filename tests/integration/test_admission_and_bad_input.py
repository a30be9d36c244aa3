"""Who may open a socket, what it sees of the page, and how bad input is answered."""

import asyncio
import threading

import flask
import pytest
from dash import Input, Output, html

from dash_ws import Dash, ctx, set_props
from dash_ws.testing import TestClient

from .compat import needs_async_callbacks


def make_app(**options) -> Dash:
    app = Dash(__name__, websocket_callbacks=True, **options)
    app.layout = html.Div([html.Button(id="go"), html.Div(id="out")])

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def echo(n_clicks):
        return n_clicks

    return app


async def closed_code(client: TestClient, **page_options) -> tuple[int, str]:
    async with client.page(**page_options) as page:
        await page.wait_for(lambda p: p.closed is not None, timeout=5)
    return page.closed.code, page.closed.reason


async def test_a_foreign_origin_is_refused_with_a_reason():
    client = TestClient(make_app())
    code, reason = await closed_code(client, origin="http://evil.example")
    assert code == 4003
    assert "http://evil.example is not allowed" in reason


async def test_allowed_origins_admit_an_embedding_site():
    client = TestClient(make_app(websocket_allowed_origins=["https://embed.example"]))
    async with client.page(origin="https://embed.example") as page:
        assert (await page.call("out.children", inputs=[1])).outputs == {"out": {"children": 1}}


async def test_before_request_protection_guards_the_socket_and_its_callbacks():
    app = make_app()

    @app.server.before_request
    def require_login():
        if flask.request.cookies.get("session") != "valid":
            return flask.Response("login required", status=401)

    client = TestClient(app)
    code, reason = await closed_code(client)
    assert code == 4001 and "401" in reason
    async with client.page(headers={"cookie": "session=valid"}) as page:
        assert (await page.call("out.children", inputs=[1])).outputs == {"out": {"children": 1}}


@pytest.mark.parametrize("kind", ["sync", pytest.param("async", marks=needs_async_callbacks)])
async def test_callbacks_see_the_pages_cookies_headers_and_address(kind):
    app = make_app()
    seen = {}

    def who(title):
        seen.update(
            cookies=ctx.cookies,
            user=ctx.headers.get("X-User") or ctx.headers.get("x-user"),
            csrf=flask.request.headers.get("X-CSRFToken"),
            remote=ctx.remote,
            flask_cookie=flask.request.cookies.get("session"),
        )
        return "ok"

    async def who_async(title):
        return who(title)

    register = app.callback(Output("out", "title"), Input("go", "title"))
    register(who_async if kind == "async" else who)

    async with TestClient(app).page(headers={"cookie": "session=abc", "x-user": "ada"}) as page:
        body = page.request_body("out.title", ["t"], [], None)
        await page.call_raw(body, headers={"X-CSRFToken": "token-1"})
    assert seen == {
        "cookies": {"session": "abc"},
        "user": "ada",
        "csrf": "token-1",
        "remote": "127.0.0.1",
        "flask_cookie": "abc",
    }


async def test_persistent_callbacks_see_the_pages_cookies():
    app = make_app()
    seen = []

    @app.callback(persistent=True)
    async def remember():
        seen.append((ctx.cookies.get("session"), flask.request.cookies.get("session")))
        set_props("out", {"children": "hello"})

    async with TestClient(app).page(headers={"cookie": "session=abc"}) as page:
        await page.ready()
        await page.wait_for(lambda p: p.updates)
    assert seen == [("abc", "abc")]


@pytest.mark.parametrize(
    "frame, complaint",
    [
        ("{oops", "malformed JSON"),
        ('{"type":"explode"}', "unknown message type 'explode'"),
        ('{"type":"prop","id":99,"found":true,"value":1}', "no get_prop is waiting for reply 99"),
        # a frame may hold twice the body limit, for escaping, and an envelope of 64 KiB
        ('{"type":"ping","pad":"' + "x" * 80_000 + '"}', "exceeds the limit of 73728 bytes"),
    ],
)
async def test_bad_messages_get_an_error_and_the_socket_keeps_working(frame, complaint):
    client = TestClient(make_app(websocket_max_message_bytes=4096))
    async with client.page() as page:
        await page.send_text(frame)
        await page.wait_for(lambda p: p.errors)
        assert complaint in page.errors[0]
        assert (await page.call("out.children", inputs=[1])).outputs == {"out": {"children": 1}}
        assert page.closed is None


@pytest.mark.parametrize("frame_past_the_limit", [False, True])
async def test_a_call_past_the_message_limit_is_answered_413_and_the_page_goes_on(
    frame_past_the_limit,
):
    app = make_app(websocket_max_message_bytes=4096)
    async with TestClient(app).page() as page:
        big = "x" * (80_000 if frame_past_the_limit else 5000)
        refused = await page.call("out.children", inputs=[big])
        answered = await page.call("out.children", inputs=[1])
        assert page.closed is None and page.errors == []
    assert refused.status == 413
    assert "websocket_max_message_bytes" in refused.body
    assert answered.outputs == {"out": {"children": 1}}


async def test_a_crashing_callback_on_one_page_leaves_other_pages_alone():
    app = make_app()

    @app.callback(Output("out", "title"), Input("go", "title"))
    def crash(title):
        raise RuntimeError("boom")

    client = TestClient(app)
    async with client.page() as crashing, client.page() as bystander:
        assert (await crashing.call("out.title", inputs=["x"])).status == 500
        assert (await bystander.call("out.children", inputs=[2])).outputs == {
            "out": {"children": 2}
        }
        assert (await crashing.call("out.children", inputs=[3])).outputs == {"out": {"children": 3}}


async def test_an_unsupported_protocol_version_is_refused():
    async with TestClient(make_app()).page(protocol_version=999) as page:
        await page.wait_for(lambda p: p.closed is not None)
    assert page.closed.code == 4400
    assert "reload the page" in page.closed.reason


async def test_dash_auth_protects_the_socket_as_it_protects_http():
    import base64

    from dash_auth import BasicAuth

    app = make_app()
    BasicAuth(app, {"ada": "lovelace"})
    client = TestClient(app)
    code, reason = await closed_code(client)
    assert code == 4001 and "401" in reason
    credentials = base64.b64encode(b"ada:lovelace").decode()
    async with client.page(headers={"authorization": f"Basic {credentials}"}) as page:
        assert (await page.call("out.children", inputs=[1])).outputs == {"out": {"children": 1}}


async def test_a_page_flooding_calls_is_answered_429_past_its_limit():
    app = make_app(websocket_max_running_calls=3)
    release = threading.Event()

    @app.callback(Output("out", "title"), Input("go", "title"))
    def held(title):
        release.wait(60)  # the test sets it; the bound only frees the thread if the test fails
        return title

    client = TestClient(app)
    try:
        async with client.page() as flooding, client.page() as bystander:
            held_calls = [
                flooding.send_call(flooding.request_body("out.title", [str(i)], [], None))
                for i in range(5)
            ]
            await flooding.wait_for(lambda page: sum(call.done() for call in held_calls) == 2)
            refused = [call.result() for call in held_calls if call.done()]
            assert [r.status for r in refused] == [429, 429]
            assert "limit 3" in refused[0].body
            assert (await bystander.call("out.children", inputs=[1])).outputs == {
                "out": {"children": 1}
            }
            release.set()
            answered = await asyncio.gather(*held_calls)
    finally:
        release.set()
    assert sorted(r.status for r in answered) == [200, 200, 200, 429, 429]


async def test_the_message_limit_follows_the_apps_max_content_length():
    app = make_app()
    app.server.config["MAX_CONTENT_LENGTH"] = 4096  # set after Dash(), as apps do
    assert app.websocket_limits.inbound_message_bytes == 4096
    async with TestClient(app).page() as page:
        refused = await page.call("out.children", inputs=["x" * 5000])
        answered = await page.call("out.children", inputs=["x" * 3000])
    assert refused.status == 413
    assert answered.status == 200
    assert make_app().websocket_limits.inbound_message_bytes == 64 * 1024 * 1024
