"""A session belongs to whoever opened it, stays authorized, and operators can see and end it."""

import asyncio
import base64
import json

import flask
import pytest
from dash import Input, Output, html

from dash_ws import Dash, ctx, set_props
from dash_ws.testing import TestClient

from ..integration.compat import backends
from .lifespans import app_on


def basic(user: str, password: str = "password") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def make_app(**options) -> Dash:
    app = Dash(__name__, websocket_callbacks=True, **options)
    app.layout = html.Div([html.Button(id="go"), html.Div(id="out"), html.Div(id="feed")])

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def echo(n_clicks):
        return f"{n_clicks} for {flask.request.authorization.username}"

    return app


async def answers(page, value: int) -> bool:
    result = await page.call("out.children", inputs=[value])
    return result.outputs["out"]["children"].startswith(str(value))


async def test_a_session_id_from_a_log_does_not_resume_another_users_session():
    client = TestClient(make_app())
    async with (
        client.page(headers=basic("alice")) as alice,
        client.page(headers=basic("mallory")) as mallory,
    ):
        for seen in range(3):  # the attack: the id from an access log, any seen
            mallory.session_id, mallory.session_secret, mallory.seen = (
                alice.session_id,
                "guess",
                seen,
            )
            await mallory.reconnect()
            assert not mallory.resumed and mallory.session_id != alice.session_id
        assert await answers(alice, 7), "the live page lost its session"


async def test_a_guessed_secret_does_not_resume_a_session_of_the_same_identity():
    client = TestClient(make_app())  # two pages of one user: the identity alone cannot tell
    async with (
        client.page(headers=basic("alice")) as alice,
        client.page(headers=basic("alice")) as other,
    ):
        other.session_id, other.session_secret, other.seen = alice.session_id, "guess", alice.seen
        await other.reconnect()
        assert not other.resumed and other.session_id != alice.session_id
        assert await answers(alice, 2)


async def test_a_stolen_secret_does_not_resume_for_another_identity():
    client = TestClient(make_app())
    async with (
        client.page(headers=basic("alice")) as alice,
        client.page(headers=basic("mallory")) as mallory,
    ):
        mallory.session_id, mallory.session_secret = alice.session_id, alice.session_secret
        mallory.seen = alice.seen
        await mallory.reconnect()
        assert not mallory.resumed
        assert await answers(alice, 3)
        assert [s.identity for s in client.app.websocket_sessions()].count("basic:alice") == 1


async def test_the_same_page_resumes_with_its_secret_and_the_secret_changes():
    client = TestClient(make_app())
    async with client.page(headers=basic("alice")) as alice:
        first_secret = alice.session_secret
        await alice.drop()
        await alice.reconnect()
        assert alice.resumed and alice.session_secret != first_secret
        assert await answers(alice, 4)


async def test_a_wrong_resume_probe_leaves_the_live_page_alone():
    client = TestClient(make_app())
    async with client.page(headers=basic("alice")) as alice:
        async with client.page(headers=basic("alice"), join=False) as probe:
            resume = {"type": "join", "session": alice.session_id, "secret": alice.session_secret}
            await probe.send_text(json.dumps({**resume, "seen": "\u00b2"}))  # malformed
            await probe.wait_for(lambda p: p.errors)
            assert "integer 'seen'" in probe.errors[0]
            await probe.send_text(json.dumps({**resume, "seen": 10**6}))  # out of range
            await probe.opened()
            assert not probe.resumed and probe.session_id != alice.session_id
        assert await answers(alice, 5), "a failed probe detached the live page"


async def test_a_revoked_user_loses_the_socket_and_its_persistent_feed():
    revoked: set[str] = set()
    feed_stopped = asyncio.Event()
    app = make_app(websocket_reauthorize_interval=20)

    @app.server.before_request
    def refuse_revoked():
        auth = flask.request.authorization
        if auth is None or auth.username in revoked:
            return flask.Response("revoked", status=401)

    @app.callback(persistent=True)
    async def feed():
        ws = ctx.websocket
        tick = 0
        try:
            while not ws.is_shutdown:
                tick += 1
                set_props("feed", {"children": tick})
                await asyncio.sleep(0.01)
        finally:
            feed_stopped.set()

    client = TestClient(app)
    async with client.page(headers=basic("bob")) as bob, client.page(headers=basic("eve")) as eve:
        await eve.ready()
        await bob.ready()
        await eve.wait_for(lambda p: len(p.updates) >= 3)
        revoked.add("eve")
        await eve.wait_for(lambda p: p.closed is not None)
        assert eve.closed.code == 4001 and "401" in eve.closed.reason
        await asyncio.wait_for(feed_stopped.wait(), 10)
        # Bob's feed goes on after Eve's ended.
        before = len(bob.updates)
        await bob.wait_for(lambda p: len(p.updates) > before + 3)
        assert bob.closed is None


async def test_operators_list_sessions_and_close_them_by_identity():
    app = make_app()

    @app.callback(persistent=True)
    async def ticker():
        ws = ctx.websocket
        while not ws.is_shutdown:
            await asyncio.sleep(0.05)

    client = TestClient(app)
    async with (
        client.page(headers=basic("alice")) as alice,
        client.page(headers=basic("bob", "secret")) as bob,
    ):
        await alice.ready()
        await bob.ready()
        await alice.wait_for(
            lambda p: all(s.persistent_callbacks for s in app.websocket_sessions())
        )
        sessions = {s.identity: s for s in app.websocket_sessions()}
        assert set(sessions) == {"basic:alice", "basic:bob"}
        assert sessions["basic:alice"].address == "127.0.0.1:50000"
        assert sessions["basic:alice"].state == "attached" and sessions["basic:alice"].age >= 0
        assert any("ticker" in name for name in sessions["basic:alice"].persistent_callbacks)

        assert app.close_websocket_sessions("basic:alice", reason="account suspended") == 1
        await alice.wait_for(lambda p: p.closed is not None)
        assert (alice.closed.code, alice.closed.reason) == (4001, "account suspended")
        await alice.close()  # waits for the server to finish with the socket
        assert [s.identity for s in app.websocket_sessions()] == ["basic:bob"]
        assert await answers(bob, 9)


async def test_an_app_supplies_its_own_identity():
    app = make_app(websocket_identity=lambda: flask.request.cookies.get("user"))
    client = TestClient(app)
    async with client.page(headers={**basic("x"), "cookie": "user=ada; csrf=1"}) as ada:
        assert [s.identity for s in app.websocket_sessions()] == ["ada"]
        await ada.drop()
        await ada.reconnect()
        assert ada.resumed


async def test_the_admin_sessions_example_closes_one_users_pages():
    from examples.admin_sessions import app

    client = TestClient(app)
    async with (
        client.page(headers=basic("admin", "secret")) as admin,
        client.page(headers=basic("bob", "secret")) as bob,
    ):
        await bob.ready()
        await bob.wait_for(lambda p: p.updates)
        table = (await admin.call("sessions.children", inputs=[1])).outputs["sessions"]
        users = [row["props"]["children"][0]["props"]["children"] for row in table["children"][1:]]
        assert sorted(users) == ["admin", "bob"]
        assert (await bob.call("closed.children", inputs=[1], state=["admin"])).outputs == {
            "closed": {"children": "only admin may close pages"}
        }
        closed = await admin.call("closed.children", inputs=[1], state=["bob"])
        assert closed.outputs == {"closed": {"children": "closed 1 page(s) of bob"}}
        await bob.wait_for(lambda p: p.closed is not None)
        assert (bob.closed.code, bob.closed.reason) == (4001, "closed by admin")


async def test_an_identity_function_that_raises_refuses_the_page(caplog):
    def broken_identity():
        raise KeyError("user")

    client = TestClient(make_app(websocket_identity=broken_identity))
    async with client.page(headers=basic("ada")) as page:
        await page.wait_for(lambda p: p.closed is not None)
    assert page.closed.code == 4001 and "whose page" in page.closed.reason
    assert "websocket_identity raised" in caplog.text


@pytest.mark.parametrize("backend", backends("flask", "fastapi", "quart"))
async def test_on_every_backend_a_session_resumes_only_for_its_opener(backend):
    app = app_on(backend)

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def echo(n_clicks):
        return n_clicks

    client = TestClient(app)
    async with (
        client.page(headers={"cookie": "session=alice"}) as alice,
        client.page(headers={"cookie": "session=mallory"}) as mallory,
    ):
        mallory.session_id, mallory.session_secret = alice.session_id, alice.session_secret
        mallory.seen = alice.seen
        await mallory.reconnect()
        assert not mallory.resumed
        assert (await alice.call("out.children", inputs=[3])).outputs == {"out": {"children": 3}}
        await alice.drop()
        await alice.reconnect()
        assert alice.resumed
