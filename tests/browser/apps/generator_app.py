"""A Dash 4.5 generator callback over the socket: each yield shows as it is made.

The generator waits for the page's go-ahead between yields, so a test can
close the page mid-stream and find, in the server's output, that the
generator was closed.
"""

import asyncio

from dash import Input, Output, dcc, html
from examples._backend import BACKEND

from dash_ws import Dash, ctx

app = Dash(__name__, backend=BACKEND, websocket_callbacks=True)
app.layout = html.Div(
    [
        html.Button("Write", id="write"),
        html.Div(id="words"),
        dcc.Input(id="pace", value="run"),
    ]
)


@app.callback(Output("words", "children"), Input("write", "n_clicks"), prevent_initial_call=True)
async def write(n_clicks):
    try:
        for count in range(1, 6):
            yield f"{count} words"
            while await ctx.websocket.get_prop("pace", "value") == "hold":
                await asyncio.sleep(0.05)
        yield "done"
    finally:
        print("generator closed", flush=True)
