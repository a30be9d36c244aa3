"""Benchmark app for dash-ws on Dash's FastAPI backend: ``uvicorn app_dashws_fastapi:app.asgi``.

The same app as ``app_upstream.py`` with dash-ws's imports: its socket
callbacks go through the app's own FastAPI route, as its HTTP callbacks do.
"""

import bench_callbacks

from dash_ws import Dash, callback, ctx, set_props

app = Dash(__name__, backend="fastapi", websocket_callbacks=True)
app.layout = bench_callbacks.layout()
bench_callbacks.register(callback, ctx, set_props)


@app.server.get("/_bench/stats")
async def bench_stats(trim: str = ""):
    return bench_callbacks.stats(trim=trim == "1")
