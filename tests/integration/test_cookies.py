"""Cookies a socket callback sets reach the browser over HTTP, and the page's next calls."""

import flask
import httpx
import pytest
import websockets
from dash import Input, Output, callback_context, html

from dash_ws import Dash
from dash_ws.handshake import BINDING_COOKIE
from dash_ws.serve import served_in_thread
from dash_ws.testing import TestClient

from .compat import backends


def cookie_app(backend: str) -> Dash:
    app = Dash(__name__, websocket_callbacks=True, backend=backend)
    app.layout = html.Div([html.Button(id="login"), html.Div(id="out"), html.Div(id="who")])

    @app.callback(Output("out", "children"), Input("login", "n_clicks"))
    def log_in(n_clicks):
        callback_context.response.set_cookie("session", f"user-{n_clicks}", httponly=True)
        return "logged in"

    @app.callback(Output("who", "children"), Input("login", "title"))
    def who(title):
        return callback_context.cookies.get("session", "nobody")

    return app


def binding_cookie(app: Dash) -> str:
    """The binding cookie the page's browser holds, as the socket's upgrade answer set it."""
    [session] = app.asgi.endpoint.sessions.values()
    return f"{BINDING_COOKIE}={session.binding}"


async def exchange(
    app: Dash, token: str, step: str, cookie: str = "", origin: str | None = "http://testserver"
) -> httpx.Response:
    """The page's POST to the cookie route, with its binding cookie (``cookie`` besides)."""
    headers = {"cookie": "; ".join(filter(None, [binding_cookie(app), cookie]))}
    if origin is not None:
        headers["origin"] = origin
    transport = httpx.ASGITransport(app=app.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.post(
            "/_dash-ws/cookies", json={"token": token, "step": step}, headers=headers
        )


@pytest.mark.parametrize("backend", backends("flask", "fastapi", "quart"))
async def test_a_cookie_set_over_the_socket_is_applied_over_http_then_seen_by_the_next_call(
    backend,
):
    app = cookie_app(backend)
    async with TestClient(app).page() as page:
        assert (await page.call("who.children", inputs=["t"])).outputs["who"]["children"] == (
            "nobody"
        )
        result = await page.call("out.children", inputs=[7])
        assert result.status == 200 and result.cookies

        applied = await exchange(app, result.cookies, "apply")
        assert applied.status_code == 204
        [set_cookie] = applied.headers.get_list("set-cookie")
        assert set_cookie.startswith("session=user-7") and "HttpOnly" in set_cookie

        synced = await exchange(app, result.cookies, "sync", cookie="session=user-7")
        assert synced.status_code == 204
        seen = await page.call("who.children", inputs=["t"])
        assert seen.outputs["who"]["children"] == "user-7"

        again = await exchange(app, result.cookies, "apply")
        assert again.status_code == 404, "a token is good for one exchange"


async def test_after_this_request_cookies_travel_too():
    app = Dash(__name__, websocket_callbacks=True)
    app.layout = html.Div([html.Button(id="go"), html.Div(id="out")])

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def remember(n_clicks):
        @flask.after_this_request
        def set_theme(response):
            response.set_cookie("theme", "dark")
            return response

        return "ok"

    async with TestClient(app).page() as page:
        result = await page.call("out.children", inputs=[1])
        applied = await exchange(app, result.cookies, "apply")
    assert applied.headers.get_list("set-cookie")[0].startswith("theme=dark")


async def test_the_exchange_needs_the_pages_origin_and_the_browsers_binding_cookie():
    app = cookie_app("flask")
    async with TestClient(app).page() as page:
        result = await page.call("out.children", inputs=[1])
        foreign = await exchange(app, result.cookies, "apply", origin="https://evil.example")
        no_origin = await exchange(app, result.cookies, "apply", origin=None)
        guessed = await exchange(app, result.cookies.split(".")[0] + ".guess", "apply")
        transport = httpx.ASGITransport(app=app.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            elsewhere = await client.post(  # the token alone, replayed outside the browser
                "/_dash-ws/cookies",
                json={"token": result.cookies, "step": "apply"},
                headers={"origin": "http://testserver"},
            )
        applied = await exchange(app, result.cookies, "apply")
    assert (foreign.status_code, no_origin.status_code) == (403, 403)
    assert guessed.status_code == 404
    assert elsewhere.status_code == 404 and not elsewhere.headers.get_list("set-cookie")
    assert applied.status_code == 204, "the refused attempts did not use the token up"


async def test_the_binding_cookie_is_not_part_of_who_the_page_is():
    app = cookie_app("flask")
    client = TestClient(app)
    async with client.page(headers={"cookie": "session=a"}) as first:
        await first.call("who.children", inputs=["t"])
        without = app.websocket_sessions()[0].identity
    async with client.page(headers={"cookie": f"session=a; {BINDING_COOKIE}=xyz"}) as second:
        await second.call("who.children", inputs=["t"])
        with_binding = app.websocket_sessions()[0].identity
    assert without == with_binding


async def test_a_call_that_sets_no_cookie_names_no_token():
    app = cookie_app("flask")
    async with TestClient(app).page() as page:
        result = await page.call("who.children", inputs=["t"])
    assert result.cookies is None


async def upgrade_answer(url: str, cookie: str = "", refused: bool = False):
    """The ``Set-Cookie`` headers of the socket's upgrade answer; with ``refused``, and the
    close code the server then sends."""
    origin = url.replace("ws://", "http://").split("/_")[0]
    headers = {"cookie": cookie} if cookie else {}
    async with websockets.connect(url, origin=origin, additional_headers=headers) as socket:
        set_cookies = socket.response.headers.get_all("set-cookie")
        if refused:
            await socket.wait_closed()
            return set_cookies, socket.close_code
    return set_cookies, None


async def test_the_binding_cookie_goes_to_admitted_pages_only():
    app = cookie_app("flask")

    @app.server.before_request
    def members_only():
        if flask.request.cookies.get("member") != "yes":
            return flask.Response("members only", status=401)

    with served_in_thread(app) as url:
        socket_url = url.replace("http://", "ws://") + "/_dash-ws/socket?v=2&page=/"
        stranger, stranger_code = await upgrade_answer(socket_url, refused=True)
        member, _ = await upgrade_answer(socket_url, cookie="member=yes")
    assert stranger_code == 4001 and stranger == []
    [binding] = member
    assert binding.startswith(f"{BINDING_COOKIE}=") and "HttpOnly" in binding
    assert "SameSite=Strict" in binding
