"""The benchmark app as plain Dash on Flask, served the usual way (no WebSocket callbacks).

``gunicorn -k gthread --threads 16 -w 1 app_flask:server`` from its own venv
(``run.py --sides ...,flask``): the baseline for dash-ws's HTTP callbacks,
since dash-ws serves the same Flask app's ``POST /_dash-update-component``.
Same layout and callbacks as the other apps (``bench_callbacks.register``
with Dash's own ``callback``, ``ctx``, ``set_props``); only the HTTP
request/response scenario applies here.

With ``BENCH_FLASK_USE_ASYNC=0`` (side ``flasksync``) Dash runs without
``dash[async]``, as a plain ``pip install dash`` does: its view is sync, so
sync callbacks skip asgiref's event loop per request (async ones then fail).
"""

import os

import bench_callbacks
import flask
from dash import Dash, callback, ctx, set_props

app = Dash(__name__, use_async=False if os.environ.get("BENCH_FLASK_USE_ASYNC") == "0" else None)
app.layout = bench_callbacks.layout()
bench_callbacks.register(callback, ctx, set_props)
server = app.server


@server.route("/_bench/stats")
def bench_stats():
    return flask.jsonify(bench_callbacks.stats(trim=flask.request.args.get("trim") == "1"))
