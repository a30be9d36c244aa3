"""A Dash Pages app: two pages, a callback on each, and one persistent loop for the visit.

The loop numbers the visits it runs for, so a test can tell that navigating
between pages keeps the same loop running (Pages navigates without loading
a new document).
"""

import asyncio
import itertools

import dash
from dash import Input, Output, dcc, html
from examples._backend import BACKEND

from dash_ws import Dash, callback, ctx, set_props

visits = itertools.count(1)

app = Dash(__name__, backend=BACKEND, use_pages=True, pages_folder="", websocket_callbacks=True)


def carrier() -> str:
    return "socket" if ctx.websocket is not None else "http"


dash.register_page(
    "home",
    path="/",
    layout=html.Div(
        [
            html.H2("Home"),
            dcc.Link("Report", href="/report", id="to-report"),
            html.Button("Greet", id="greet"),
            html.Div(id="greeting"),
        ]
    ),
)
dash.register_page(
    "report",
    path="/report",
    layout=html.Div(
        [
            html.H2("Report"),
            dcc.Link("Home", href="/", id="to-home"),
            dcc.Input(id="rows", type="number", value=3),
            html.Div(id="summary"),
        ]
    ),
)

app.layout = html.Div([html.Div(id="ticks"), dash.page_container])


@callback(Output("greeting", "children"), Input("greet", "n_clicks"), prevent_initial_call=True)
def greet(n_clicks):
    return f"hello {n_clicks} over the {carrier()}"


@callback(Output("summary", "children"), Input("rows", "value"))
def summarize(rows):
    return f"{rows} rows over the {carrier()}"


@callback(persistent=True)
async def tick():
    ws = ctx.websocket
    visit = next(visits)
    ticks = 0
    while not ws.is_shutdown:
        ticks += 1
        set_props("ticks", {"children": f"visit {visit} tick {ticks}"})
        await asyncio.sleep(0.2)
