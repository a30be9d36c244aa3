import asyncio
from dash import html, dcc, Input, Output
from dash_ws import Dash, callback, set_props
from _backend import BACKEND

app = Dash(backend=BACKEND, websocket_callbacks=True)

app.layout = html.Div([
    html.Button("Start Countdown", id="start-btn"),
    html.Div(id="countdown-display", children="Ready"),
])

@callback(
    Output("countdown-display", "children"),
    Input("start-btn", "n_clicks"),
    prevent_initial_call=True,
)
async def countdown(n_clicks):
    for i in range(10, 0, -1):
        set_props("countdown-display", {"children": f"Countdown: {i}"})
        await asyncio.sleep(1)
    return "Done!"

if __name__ == "__main__":
    app.run(debug=True)
