"""Payloads as large as HTTP carries them: an upload, a large result, a large set_props.

Every callback runs over the socket. The page shows the size of what
arrived, measured in the browser by clientside callbacks.
"""

from dash import Input, Output, clientside_callback, dcc, html
from examples._backend import BACKEND

from dash_ws import Dash, set_props

RESULT_CHARS = 12_000_000
SIDE_CHARS = 6_000_000

app = Dash(__name__, backend=BACKEND, websocket_callbacks=True)
app.layout = html.Div(
    [
        dcc.Upload(id="upload", children=html.Button("Upload")),
        html.Div(id="uploaded"),
        html.Button("Big result", id="result-btn"),
        dcc.Store(id="result"),
        html.Div(id="result-size"),
        html.Button("Big set_props", id="side-btn"),
        dcc.Store(id="side"),
        html.Div(id="side-done"),
        html.Div(id="side-size"),
    ]
)


@app.callback(
    Output("uploaded", "children"), Input("upload", "contents"), prevent_initial_call=True
)
def uploaded(contents):
    return f"received {len(contents)} characters"


@app.callback(Output("result", "data"), Input("result-btn", "n_clicks"), prevent_initial_call=True)
def big_result(n_clicks):
    return "r" * RESULT_CHARS


@app.callback(
    Output("side-done", "children"), Input("side-btn", "n_clicks"), prevent_initial_call=True
)
def big_side_update(n_clicks):
    set_props("side", {"data": "s" * SIDE_CHARS})
    return "sent"


for store in ("result", "side"):
    clientside_callback(
        "function (data) { return data ? 'arrived ' + data.length : ''; }",
        Output(f"{store}-size", "children"),
        Input(store, "data"),
    )
