"""Upstream Dash 4.4.1 app for ``broadcast.py`` (FastAPI backend, its own WebSocket callbacks).

``uvicorn app_broadcast_upstream:server``, run from the upstream venv. One
persistent callback per page, the spec's way (``bench_broadcast.register_loop``):
upstream has no topics.
"""

import bench_broadcast
from dash import Dash, callback, ctx, set_props

bench_broadcast.install_gc_stats()
app = Dash(__name__, backend="fastapi", websocket_callbacks=True)
app.layout = bench_broadcast.layout()
bench_broadcast.register_loop(callback, ctx, set_props)
server = app.server


@server.get("/_bench/heap")
async def bench_heap():
    return bench_broadcast.heap()
