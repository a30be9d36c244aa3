"""Benchmark app for dash-ws (Flask backend): ``uvicorn app_dashws:app.asgi``."""

import bench_callbacks
import flask

from dash_ws import Dash, callback, ctx, set_props

app = Dash(__name__, websocket_callbacks=True)
app.layout = bench_callbacks.layout()
bench_callbacks.register(callback, ctx, set_props)


@app.server.route("/_bench/stats")
def bench_stats():
    return flask.jsonify(bench_callbacks.stats(trim=flask.request.args.get("trim") == "1"))


@app.server.route("/_bench/trace/<action>")
def bench_trace(action):
    arguments = flask.request.args
    return flask.jsonify(
        bench_callbacks.trace(
            action, arguments.get("by", "lineno"), int(arguments.get("limit", "40"))
        )
    )
