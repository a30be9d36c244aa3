# The spec's External WebSocket Integration callback, verbatim but for the
# upstream URL: the spec's wss://example.com/feed is replaced by a small
# local feed (_stand_ins.start_feed_server). The app and its layout around
# the callback are ours; the spec shows only the callback.
import asyncio
import websockets
from dash import html, dcc, Input, Output
from dash_ws import Dash, callback, ctx, set_props
from _backend import BACKEND
from _stand_ins import start_feed_server

FEED_URL = start_feed_server()

app = Dash(backend=BACKEND, websocket_callbacks=True)

app.layout = html.Div([
    dcc.Dropdown(
        id="symbol-select",
        options=["AAPL", "GOOGL", "MSFT"],
        value="AAPL",
    ),
    html.Div(id="live-output"),
    html.Div(id="status", children="Disconnected"),
    html.Button("Connect", id="connect-btn"),
])

@callback(
    Output("status", "children"),
    Input("connect-btn", "n_clicks"),
    prevent_initial_call=True,
)
async def stream_from_service(n):
    ws = ctx.websocket
    if ws is None:
        return "WebSocket not available"

    set_props("status", {"children": "Connecting..."})

    try:
        async with websockets.connect(FEED_URL) as upstream:
            set_props("status", {"children": "Connected"})

            while True:
                symbol = await ws.get_prop("symbol-select", "value")
                await upstream.send(symbol)

                message = await upstream.recv()
                set_props("live-output", {"children": message})

                await asyncio.sleep(1)

    except asyncio.CancelledError:
        pass

    return "Disconnected"

if __name__ == "__main__":
    app.run(debug=True)
