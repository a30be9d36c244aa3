"""An app for several worker processes sharing page sessions through Redis.

The broker comes from ``DASH_WS_BROKER``. The persistent callback appends
1, 2, 3... to ``#sequence`` every 100 ms with streamed Patch, so a lost or
repeated update shows as a gap or a duplicate. Each time it starts, it
appends ``<pid>-<start>`` to ``#starts`` and prints it, and shows the pid of
the worker running it in ``#runner``: a restart, on any worker, shows.

dash-ws's own log (which page resumed where) is printed at INFO.
"""

import asyncio
import itertools
import logging
import os
import sys

from dash import Patch, html
from examples._backend import BACKEND

from dash_ws import Dash, callback, ctx, set_props

_log = logging.getLogger("dash_ws")
_log.setLevel(logging.INFO)
_handler = logging.StreamHandler(sys.stdout)
_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
_log.addHandler(_handler)
_log.propagate = False

starts = itertools.count(1)

app = Dash(backend=BACKEND, websocket_callbacks=True)

app.layout = html.Div(
    [
        html.Div(id="runner"),
        html.Div(id="starts", children=[]),
        html.Div(id="sequence", children=[]),
    ]
)


@callback(persistent=True)
async def count():
    start = f"{os.getpid()}-{next(starts)}"
    print(f"sequence started: {start}", flush=True)
    started = Patch()
    started.append(f"{start} ")
    set_props("starts", {"children": started})
    set_props("runner", {"children": str(os.getpid())})
    ws = ctx.websocket
    value = 0
    while not ws.is_shutdown:
        value += 1
        appended = Patch()
        appended.append(f"{value} ")
        set_props("sequence", {"children": appended})
        await asyncio.sleep(0.1)
