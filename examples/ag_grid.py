import asyncio
import random
from dash import dcc, html, Input, Output
from dash_ws import Dash, callback, ctx, set_props
from _backend import BACKEND
import dash_ag_grid as dag

app = Dash(backend=BACKEND, websocket_callbacks=True)

columns = [
    {"field": "symbol", "headerName": "Symbol", "flex": 1},
    {"field": "price", "headerName": "Price", "flex": 1,
     "valueFormatter": {"function": "d3.format('$.2f')(params.value)"}},
    {"field": "change", "headerName": "Change %", "flex": 1,
     "valueFormatter": {"function": "d3.format('+.2f')(params.value) + '%'"},
     "cellStyle": {"function":
         "params.value >= 0 ? {'color': '#4CAF50'} : {'color': '#f44336'}"}},
]

SYMBOLS = ["AAPL", "GOOGL", "MSFT", "AMZN", "TSLA"]
initial_prices = {s: round(random.uniform(100, 500), 2) for s in SYMBOLS}
initial_rows = [
    {"symbol": s, "price": initial_prices[s], "change": 0.0}
    for s in SYMBOLS
]

app.layout = html.Div([
    html.Button("Start Streaming", id="start"),
    dcc.Store(id="streaming", data=False),
    dag.AgGrid(id="grid", columnDefs=columns, rowData=initial_rows,
               style={"height": "250px"},
               dashGridOptions={"animateRows": True}),
])

@callback(Output("streaming", "data"), Input("start", "n_clicks"),
          prevent_initial_call=True)
def toggle(n):
    return n % 2 == 1

@callback(persistent=True)
async def stream_prices():
    ws = ctx.websocket
    prices = {row["symbol"]: row["price"] for row in initial_rows}
    while not ws.is_shutdown:
        streaming = await ws.get_prop("streaming", "data")
        if streaming:
            rows = []
            for sym in SYMBOLS:
                change = round(random.gauss(0, 1.5), 2)
                prices[sym] = round(prices[sym] * (1 + change / 100), 2)
                rows.append({
                    "symbol": sym,
                    "price": prices[sym],
                    "change": change,
                })
            set_props("grid", {"rowData": rows})
            await asyncio.sleep(0.5)
        else:
            await asyncio.sleep(0.2)

if __name__ == "__main__":
    app.run(debug=True)
