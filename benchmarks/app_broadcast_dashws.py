"""dash-ws app for ``broadcast.py``: ``uvicorn app_broadcast_dashws:app.asgi``.

``BENCH_BROADCAST_MODE`` picks how the one live value reaches every page:

- ``feed`` (default): ``@app.feed(TOPIC, Output("tick", "children"))``, fed
  by ``broadcast_producer.py`` through the broker named by ``DASH_WS_BROKER``
  (``redis://...``), rendered once per worker;
- ``loop``: one persistent callback per page, the spec's way
  (``bench_broadcast.register_loop``).

The broker comes from ``DASH_WS_BROKER`` in both modes, so both run the same
2 workers + Redis (session records, relay channel).
"""

import os

import bench_broadcast
import flask
from dash import Output

from dash_ws import Dash, callback, ctx, set_props

MODE = os.environ.get("BENCH_BROADCAST_MODE", "feed")
bench_broadcast.install_gc_stats()

# BENCH_REAUTHORIZE_MS (broadcast.py --reauthorize-ms) changes how often each open page is
# admitted again through the app's protection (a GET of the page through Flask); unset: the
# default (60 s).
options = {}
if os.environ.get("BENCH_REAUTHORIZE_MS"):
    options["websocket_reauthorize_interval"] = int(os.environ["BENCH_REAUTHORIZE_MS"])

app = Dash(__name__, websocket_callbacks=True, **options)
app.layout = bench_broadcast.layout()

if MODE == "feed":
    app.feed(bench_broadcast.TOPIC, Output("tick", "children"))(bench_broadcast.render)
elif MODE == "loop":
    bench_broadcast.register_loop(callback, ctx, set_props)
else:
    raise SystemExit(f"BENCH_BROADCAST_MODE must be feed or loop, not {MODE!r}")


@app.server.route("/_bench/heap")
def bench_heap():
    return flask.jsonify(bench_broadcast.heap())
