# "After" of the spec's Migrating from dcc.Interval: a persistent callback
# pushes the price. live_price_interval.py is the "before".
import asyncio
from dash import html
from dash_ws import Dash, callback, ctx, set_props
from _backend import BACKEND
from _stand_ins import get_latest_price

app = Dash(backend=BACKEND, websocket_callbacks=True)

app.layout = html.Div([
    html.H4("Live Price"),
    html.Div(id="price-display"),
])

@callback(persistent=True)
async def stream_price():
    ws = ctx.websocket
    while not ws.is_shutdown:
        price = get_latest_price("AAPL")
        set_props("price-display", {"children": f"AAPL: ${price}"})
        await asyncio.sleep(1)

if __name__ == "__main__":
    app.run(debug=True)
