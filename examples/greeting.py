import asyncio
from dash import html, dcc, Input, Output
from dash_ws import Dash, callback, ctx, set_props
from _backend import BACKEND

app = Dash(backend=BACKEND, websocket_callbacks=True)

app.layout = html.Div([
    dcc.Input(id="name-input", placeholder="Type your name..."),
    html.Button("Start Greeting", id="greet-btn"),
    html.Div(id="greeting-output"),
])

@callback(
    Output("greeting-output", "children"),
    Input("greet-btn", "n_clicks"),
    prevent_initial_call=True,
)
async def greet(n_clicks):
    ws = ctx.websocket
    # Read the current value of the input at the moment the user clicks
    name = await ws.get_prop("name-input", "value")
    set_props("greeting-output", {"children": f"Processing for {name}..."})
    await asyncio.sleep(2)
    return f"Hello, {name}!"

if __name__ == "__main__":
    app.run(debug=True)
