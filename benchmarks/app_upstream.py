"""Benchmark app for upstream Dash's own WebSocket callbacks (FastAPI backend).

``uvicorn app_upstream:server``, run from its own virtual environment: Dash
4.4.1 (side ``upstream``) or 4.5.0rc2 (side ``upstream45``).
"""

import bench_callbacks
from dash import Dash, callback, ctx, set_props

app = Dash(__name__, backend="fastapi", websocket_callbacks=True)
app.layout = bench_callbacks.layout()
bench_callbacks.register(callback, ctx, set_props)
server = app.server


@server.get("/_bench/stats")
async def bench_stats(trim: str = ""):
    return bench_callbacks.stats(trim=trim == "1")


@server.get("/_bench/trace/{action}")
async def bench_trace(action: str):
    return bench_callbacks.trace(action)
