"""A test app whose callbacks print when the work they do for a page ends.

The persistent loop numbers the pages it runs for and shows the number, so
a test can tell tabs apart and find, in the server's output, that closing a
tab ended that tab's loop and no other. The button starts an event callback
that only a disconnect stops.
"""

import asyncio
import itertools

from dash import Input, Output, html
from examples._backend import BACKEND

from dash_ws import Dash, callback, ctx, set_props

page_numbers = itertools.count(1)

app = Dash(backend=BACKEND)

app.layout = html.Div(
    [
        html.Div(id="ticks"),
        html.Button("Start task", id="task-btn"),
        html.Div(id="task-status", children="Idle"),
    ]
)


@callback(persistent=True)
async def tick():
    ws = ctx.websocket
    page = next(page_numbers)
    print(f"page {page}: loop started", flush=True)
    ticks = 0
    while not ws.is_shutdown:
        ticks += 1
        set_props("ticks", {"children": f"page {page} tick {ticks}"})
        await asyncio.sleep(0.2)
    print(f"page {page}: loop ended", flush=True)


@callback(
    Output("task-status", "children"),
    Input("task-btn", "n_clicks"),
    prevent_initial_call=True,
    websocket=True,
)
async def long_task(n_clicks):
    set_props("task-status", {"children": "Working..."})
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        print("long task: cancelled", flush=True)
        raise
    return "Done"
