"""A dash-ws app under a real uvicorn server, in a thread of the test process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from dash_ws import Dash
from dash_ws.serve import listening_socket


@contextmanager
def live_server(app: Dash, **options) -> Iterator[int]:
    """Serve ``app.asgi`` on 127.0.0.1 and a free port, on a socket as ``app.run()`` binds it.

    Yields the port.
    """
    limits = app.websocket_limits
    sock = listening_socket("127.0.0.1", 0, limits.send_timeout + limits.close_timeout)
    config = uvicorn.Config(app.asgi, log_level="warning", lifespan="on", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:  # bounded wait for the server to listen
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
