"""An app whose callback holds every call it gets, served by ``app.run()`` with its defaults.

``python -m tests.security.apps.held_calls PORT`` serves it on 127.0.0.1.
"""

import asyncio
import sys

from dash import Input, Output, html

from dash_ws import Dash

app = Dash(__name__, websocket_callbacks=True)
app.layout = html.Div([html.Div(id="big"), html.Div(id="held"), html.Div(id="ping")])


@app.callback(Output("held", "children"), Input("big", "title"))
async def held(value):
    await asyncio.Event().wait()


@app.callback(Output("ping", "children"), Input("ping", "title"))
async def ping(value):
    return value


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]))
