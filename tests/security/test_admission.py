"""A socket is admitted exactly as the app's own page would be served, on every backend.

Each recipe below protects a Dash app over HTTP in a way people really do it.
A stranger's socket must be refused (close code 4001) before any protocol
message, while a signed-in page is admitted and its callbacks run. On Flask,
calls also go through any WSGI middleware around ``server.wsgi_app``.
"""

import asyncio
import base64

import flask
import pytest
from dash import Input, Output, html

from dash_ws import Dash, ctx, set_props
from dash_ws.testing import TestClient

from ..integration.compat import backends, needs_async_callbacks
from .lifespans import ended_after_test

UNAUTHORIZED = 4001
SIGNED_IN = {"cookie": "token=valid"}


def make_app(backend: str = "flask", echo_kind: str = "sync", **options) -> Dash:
    if backend != "flask":
        options["backend"] = backend
    app = Dash(__name__, websocket_callbacks=True, **options)
    ended_after_test(app)
    app.layout = html.Div([html.Button(id="go"), html.Div(id="out")])

    def echo(n_clicks):
        return n_clicks

    async def echo_async(n_clicks):
        return n_clicks

    register = app.callback(Output("out", "children"), Input("go", "n_clicks"))
    register(echo_async if echo_kind == "async" else echo)
    return app


async def closed_code(client: TestClient, **page_options) -> tuple[int, str]:
    """The close code and reason of a page the server refuses."""
    async with client.page(**page_options) as page:
        await page.wait_for(lambda p: p.closed is not None, timeout=5)
    return page.closed.code, page.closed.reason


async def assert_admitted(client: TestClient, **page_options) -> None:
    """The page is admitted: its socket stays open and runs its callbacks."""
    async with client.page(**page_options) as page:
        assert (await page.call("out.children", inputs=[1])).outputs == {"out": {"children": 1}}
        assert page.closed is None


def has_cookie(cookie_header) -> bool:
    return "token=valid" in (cookie_header or "").split("; ")


# ---------------------------------------------------------------- WSGI middleware used below


class RequireCookie:
    """A WSGI auth middleware: 401 for any request without the sign-in cookie."""

    def __init__(self, wsgi_app, exempt=lambda environ: False) -> None:
        self.wsgi_app = wsgi_app
        self.exempt = exempt
        self.seen_paths: list[str] = []

    def __call__(self, environ, start_response):
        self.seen_paths.append(environ["PATH_INFO"])
        if self.exempt(environ) or has_cookie(environ.get("HTTP_COOKIE")):
            return self.wsgi_app(environ, start_response)
        start_response("401 Unauthorized", [("Content-Type", "text/plain")])
        return [b"sign in first"]


class RequireCookieAsgi:
    """The same as ASGI middleware, around a Quart app's ``asgi_app``."""

    def __init__(self, asgi_app, exempt=lambda path: False) -> None:
        self.asgi_app = asgi_app
        self.exempt = exempt

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.exempt(scope["path"]):
            return await self.asgi_app(scope, receive, send)
        cookie = dict(scope["headers"]).get(b"cookie", b"").decode()
        if has_cookie(cookie):
            return await self.asgi_app(scope, receive, send)
        await send({"type": "http.response.start", "status": 401, "headers": []})
        await send({"type": "http.response.body", "body": b"sign in first"})


# ---------------------------------------------------------------- the recipes


async def test_dash_auth_basic_auth_refuses_a_stranger_and_admits_its_user():
    from dash_auth import BasicAuth

    app = make_app()
    BasicAuth(app, {"ada": "lovelace"})
    client = TestClient(app)
    code, reason = await closed_code(client)
    assert code == UNAUTHORIZED and "HTTP 401" in reason
    credentials = base64.b64encode(b"ada:lovelace").decode()
    await assert_admitted(client, headers={"authorization": f"Basic {credentials}"})


@pytest.mark.parametrize("kind", ["sync", pytest.param("async", marks=needs_async_callbacks)])
async def test_flask_login_required_on_every_view_refuses_a_stranger(kind):
    from flask_login import LoginManager, UserMixin, login_required

    app = make_app(echo_kind=kind)
    app.server.secret_key = "test"
    login_manager = LoginManager(app.server)

    class User(UserMixin):
        id = "ada"

    @login_manager.request_loader
    def load_user(request):
        return User() if has_cookie(request.headers.get("cookie")) else None

    # The Dash docs' recipe: every view of the app wrapped, before_request untouched.
    for endpoint, view in list(app.server.view_functions.items()):
        if endpoint.startswith(app.config.routes_pathname_prefix):
            app.server.view_functions[endpoint] = login_required(view)

    client = TestClient(app)
    code, reason = await closed_code(client)
    assert code == UNAUTHORIZED and "HTTP 401" in reason
    await assert_admitted(client, headers=SIGNED_IN)


async def test_a_wsgi_auth_middleware_around_the_app_refuses_a_stranger():
    app = make_app()
    middleware = RequireCookie(app.server.wsgi_app)
    app.server.wsgi_app = middleware
    client = TestClient(app)
    code, reason = await closed_code(client)
    assert code == UNAUTHORIZED and "HTTP 401" in reason
    assert middleware.seen_paths == ["/"]  # asked about the page, not the socket
    await assert_admitted(client, headers=SIGNED_IN)


@pytest.mark.parametrize("recipe", ["middleware", "dependency"])
@pytest.mark.parametrize("backend", backends("fastapi"))
async def test_a_fastapi_cookie_check_refuses_a_stranger(backend, recipe):
    from fastapi import Depends, FastAPI, HTTPException, Request
    from fastapi.responses import PlainTextResponse

    def require_cookie(request: Request) -> None:
        if not has_cookie(request.headers.get("cookie")):
            raise HTTPException(401, "sign in first")

    if recipe == "dependency":
        app = make_app(backend, server=FastAPI(dependencies=[Depends(require_cookie)]))
    else:
        app = make_app(backend)

        @app.server.middleware("http")
        async def check_cookie(request: Request, call_next):
            if not has_cookie(request.headers.get("cookie")):
                return PlainTextResponse("sign in first", status_code=401)
            return await call_next(request)

    client = TestClient(app)
    code, reason = await closed_code(client)
    assert code == UNAUTHORIZED and "HTTP 401" in reason
    await assert_admitted(client, headers=SIGNED_IN)


@pytest.mark.parametrize("backend", backends("quart"))
async def test_an_asgi_auth_middleware_around_a_quart_app_refuses_a_stranger(backend):
    app = make_app(backend)
    app.server.asgi_app = RequireCookieAsgi(app.server.asgi_app)
    client = TestClient(app)
    code, reason = await closed_code(client)
    assert code == UNAUTHORIZED and "HTTP 401" in reason
    await assert_admitted(client, headers=SIGNED_IN)


def require_proxy_identity(app: Dash, backend: str) -> None:
    """The proxy in front signs users in and names them in X-Forwarded-User."""
    if backend == "flask":

        @app.server.before_request
        def require_user():
            if not flask.request.headers.get("X-Forwarded-User"):
                return flask.Response("no identity from the proxy", status=403)

    elif backend == "quart":
        import quart

        @app.server.before_request
        async def require_user():
            if not quart.request.headers.get("X-Forwarded-User"):
                return quart.Response("no identity from the proxy", status=403)

    else:
        from fastapi import Request
        from fastapi.responses import PlainTextResponse

        @app.server.middleware("http")
        async def require_user(request: Request, call_next):
            if not request.headers.get("X-Forwarded-User"):
                return PlainTextResponse("no identity from the proxy", status_code=403)
            return await call_next(request)


@pytest.mark.parametrize("backend", backends("flask", "fastapi", "quart"))
async def test_a_proxy_set_identity_header_is_required_of_the_socket(backend):
    app = make_app(backend)
    require_proxy_identity(app, backend)
    client = TestClient(app)
    code, reason = await closed_code(client)
    assert code == UNAUTHORIZED and "HTTP 403" in reason
    await assert_admitted(client, headers={"X-Forwarded-User": "ada"})


# ---------------------------------------------------------------- the page's own URL


@pytest.mark.parametrize("backend", backends("flask", "quart"))
async def test_the_app_is_asked_about_the_page_the_socket_belongs_to(backend):
    """Behind a proxy that strips /app/, the server is asked about the page's own route."""
    app = make_app(backend, requests_pathname_prefix="/app/", routes_pathname_prefix="/")
    asked = []
    if backend == "flask":

        @app.server.before_request
        def private_pages_need_the_cookie():
            asked.append(flask.request.full_path)
            private = flask.request.path.startswith("/private")
            if private and not has_cookie(flask.request.headers.get("cookie")):
                return flask.Response("sign in first", status=401)

    else:
        import quart

        @app.server.before_request
        async def private_pages_need_the_cookie():
            asked.append(quart.request.full_path)
            private = quart.request.path.startswith("/private")
            if private and not has_cookie(quart.request.headers.get("cookie")):
                return quart.Response("sign in first", status=401)

    client = TestClient(app)
    code, reason = await closed_code(client, page="/app/private/report?year=2024")
    assert code == UNAUTHORIZED and "HTTP 401" in reason
    assert asked[-1] == "/private/report?year=2024"
    await assert_admitted(client, page="/app/public")
    await assert_admitted(client, page="/app/private/report", headers=SIGNED_IN)


@pytest.mark.parametrize("backend", backends("flask", "fastapi", "quart"))
async def test_a_page_outside_the_apps_prefix_is_refused(backend):
    app = make_app(backend, requests_pathname_prefix="/app/", routes_pathname_prefix="/")
    client = TestClient(app)
    code, reason = await closed_code(client, page="/elsewhere/")
    assert code == UNAUTHORIZED and "start with /app/" in reason
    code, reason = await closed_code(client, page="/app/../admin")
    assert code == UNAUTHORIZED and "not a URL a browser shows" in reason
    await assert_admitted(client, page="/app/")


@pytest.mark.parametrize("backend", backends("flask", "fastapi", "quart"))
async def test_a_public_url_that_is_not_a_page_admits_nobody(backend):
    """dash-auth and its kin serve Dash's scripts and assets to anyone; they are not pages."""
    app = make_app(backend)
    if backend == "flask":
        from dash_auth import BasicAuth

        # With public routes, dash-auth serves _dash-dependencies and the like to anyone.
        BasicAuth(app, {"ada": "lovelace"}, public_routes=["/login"])
    elif backend == "quart":
        public = lambda path: path.startswith("/_dash-")  # noqa: E731
        app.server.asgi_app = RequireCookieAsgi(app.server.asgi_app, exempt=public)
    else:
        from fastapi import Request
        from fastapi.responses import PlainTextResponse

        @app.server.middleware("http")
        async def check_cookie(request: Request, call_next):
            public = request.url.path.startswith("/_dash-")
            if not public and not has_cookie(request.headers.get("cookie")):
                return PlainTextResponse("sign in first", status_code=401)
            return await call_next(request)

    client = TestClient(app)
    code, reason = await closed_code(client, page="/_dash-dependencies")
    assert code == UNAUTHORIZED and "not a page of this app" in reason


# ---------------------------------------------------------------- calls behind WSGI middleware


async def test_a_middleware_refusing_callbacks_answers_the_call_over_the_socket():
    app = make_app()

    def not_a_callback(environ) -> bool:
        return not environ["PATH_INFO"].endswith("/_dash-update-component")

    app.server.wsgi_app = RequireCookie(app.server.wsgi_app, exempt=not_a_callback)
    async with TestClient(app).page() as page:
        result = await page.call("out.children", inputs=[1])
        assert (result.status, result.body) == (401, "sign in first")
        assert page.closed is None


@pytest.mark.parametrize("kind", ["sync", pytest.param("async", marks=needs_async_callbacks)])
async def test_proxy_fix_rewrites_reach_socket_callbacks(kind):
    from werkzeug.middleware.proxy_fix import ProxyFix

    app = make_app()
    app.server.wsgi_app = ProxyFix(app.server.wsgi_app, x_for=1, x_proto=1)
    seen = {}
    persistent_saw = asyncio.Event()

    def who(title):
        seen["call"] = (flask.request.remote_addr, flask.request.scheme, ctx.remote)
        return "ok"

    async def who_async(title):
        return who(title)

    register = app.callback(Output("out", "title"), Input("go", "title"))
    register(who_async if kind == "async" else who)

    @app.callback(persistent=True)
    async def watch():
        seen["persistent"] = (flask.request.remote_addr, flask.request.scheme)
        set_props("out", {"className": "watching"})
        persistent_saw.set()

    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    async with TestClient(app).page(headers=headers) as page:
        assert (await page.call("out.title", inputs=["t"])).outputs == {"out": {"title": "ok"}}
        await page.ready()
        await asyncio.wait_for(persistent_saw.wait(), 5)
    assert seen == {
        "call": ("203.0.113.7", "https", "203.0.113.7"),
        "persistent": ("203.0.113.7", "https"),
    }
