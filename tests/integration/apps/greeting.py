"""The spec's greeting example with a short pause, served by tests over a real socket."""

import asyncio

from dash import Input, Output, dcc, html

from dash_ws import Dash, callback, ctx, set_props

app = Dash(__name__, websocket_callbacks=True)

app.layout = html.Div(
    [
        dcc.Input(id="name-input", placeholder="Type your name..."),
        html.Button("Start Greeting", id="greet-btn"),
        html.Div(id="greeting-output"),
    ]
)


@callback(
    Output("greeting-output", "children"),
    Input("greet-btn", "n_clicks"),
    prevent_initial_call=True,
)
async def greet(n_clicks):
    ws = ctx.websocket
    name = await ws.get_prop("name-input", "value")
    set_props("greeting-output", {"children": f"Processing for {name}..."})
    await asyncio.sleep(0.1)
    return f"Hello, {name}!"
