"""Benchmark app for dash-ws (Flask backend): ``uvicorn app_dashws:app.asgi``."""

from dash_ws import Dash, callback, ctx, set_props

import bench_callbacks

app = Dash(__name__, websocket_callbacks=True)
app.layout = bench_callbacks.layout()
bench_callbacks.register(callback, ctx, set_props)
