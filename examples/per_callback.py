import asyncio
from dash import html, dcc, Input, Output
from dash_ws import Dash, callback, set_props
from _backend import BACKEND

app = Dash(backend=BACKEND)

app.layout = html.Div([
    html.Button("Stream Updates", id="stream-btn"),
    html.Div(id="stream-output", children="Waiting..."),
    dcc.Dropdown(
        id="my-dropdown",
        options=["Option A", "Option B", "Option C"],
        value="Option A",
    ),
    html.Div(id="dropdown-output"),
])

# This callback uses WebSocket for streaming updates
@callback(
    Output("stream-output", "children"),
    Input("stream-btn", "n_clicks"),
    prevent_initial_call=True,
    websocket=True,
)
async def stream_updates(n_clicks):
    for i in range(1, 6):
        set_props("stream-output", {"children": f"Update {i} of 5..."})
        await asyncio.sleep(1)
    return "All updates complete!"

# This callback uses the standard HTTP request/response
@callback(
    Output("dropdown-output", "children"),
    Input("my-dropdown", "value"),
)
def update_dropdown(value):
    return f"Selected: {value}"

if __name__ == "__main__":
    app.run(debug=True)
