"""Apps whose lifespan a test ends afterwards, as a stopping server does.

Ending it shuts the app's worker threads down: some frameworks keep an app
alive after its test (FastAPI caches its routes' endpoints), and with it the
threads that other tests count.
"""

from __future__ import annotations

import asyncio

from dash import html

from dash_ws import Dash

_apps: list[Dash] = []


def app_on(backend: str) -> Dash:
    """A socket app with a button ``go`` and a div ``out`` on ``backend``, ended after the test."""
    options = {} if backend == "flask" else {"backend": backend}
    app = ended_after_test(Dash(__name__, websocket_callbacks=True, **options))
    app.layout = html.Div([html.Button(id="go"), html.Div(id="out")])
    return app


def ended_after_test(app: Dash) -> Dash:
    """Have ``app``'s lifespan ended once the running test is over; returns ``app``."""
    _apps.append(app)
    return app


async def end_lifespans() -> None:
    while _apps:
        app = _apps.pop()
        lifespan: asyncio.Queue = asyncio.Queue()
        lifespan.put_nowait({"type": "lifespan.startup"})
        lifespan.put_nowait({"type": "lifespan.shutdown"})
        done = asyncio.Event()

        async def send(message, done=done):
            if message["type"] == "lifespan.shutdown.complete":
                done.set()

        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        await asyncio.wait_for(app.asgi(scope, lifespan.get, send), 5)
        assert done.is_set()
