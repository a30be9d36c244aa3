import asyncio
import random
from dash import html, dcc, Input, Output, Patch
from dash_ws import Dash, callback, ctx, set_props
from _backend import BACKEND

app = Dash(backend=BACKEND, websocket_callbacks=True)

app.layout = html.Div([
    dcc.Store(id="prices-store", data={}),
    dcc.Dropdown(
        id="symbol-select",
        options=["AAPL", "GOOGL", "MSFT"],
        value="AAPL",
    ),
    html.Div(id="live-price"),
    html.Div(id="status", children="Disconnected"),
    html.Button("Connect", id="connect-btn"),
])

@callback(
    Output("status", "children"),
    Input("connect-btn", "n_clicks"),
    prevent_initial_call=True,
)
async def stream_prices(n_clicks):
    ws = ctx.websocket
    if ws is None:
        return "No WebSocket"

    set_props("status", {"children": "Connected"})

    try:
        while True:
            # Simulate incoming price data
            for symbol in ["AAPL", "GOOGL", "MSFT"]:
                price = round(100 + random.random() * 50, 2)
                patched = Patch()
                patched[symbol] = price
                set_props("prices-store", {"data": patched})

            # Read which symbol the user has selected right now
            selected = await ws.get_prop("symbol-select", "value")
            if selected:
                prices = await ws.get_prop("prices-store", "data")
                if prices and selected in prices:
                    set_props("live-price", {
                        "children": f"{selected}: ${prices[selected]}"
                    })

            await asyncio.sleep(1)
    except asyncio.CancelledError:
        # Dash cancels running callbacks on disconnect. Catching the
        # exception is optional but lets you run cleanup logic.
        pass

    return "Disconnected"

if __name__ == "__main__":
    app.run(debug=True)
