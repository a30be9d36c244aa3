"""A dash-ws app under a real uvicorn server, in a thread of the test process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from dash_ws import Dash
from dash_ws.serve import served_in_thread


@contextmanager
def live_server(app: Dash, **options) -> Iterator[int]:
    """Serve ``app`` on 127.0.0.1 as ``app.run()`` would, on a free port; yields the port."""
    with served_in_thread(app, **options) as url:
        yield urlsplit(url).port
