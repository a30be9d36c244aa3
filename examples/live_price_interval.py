# "Before" of the spec's Migrating from dcc.Interval: the same live price,
# polled over HTTP by a dcc.Interval. live_price.py is the "after".
from dash import dcc, html, Input, Output
from dash_ws import Dash, callback
from _backend import BACKEND
from _stand_ins import get_latest_price

app = Dash(backend=BACKEND)

app.layout = html.Div([
    html.H4("Live Price"),
    html.Div(id="price-display"),
    dcc.Interval(id="poll", interval=1000, n_intervals=0),
])

@callback(Output("price-display", "children"), Input("poll", "n_intervals"))
def update_price(n):
    price = get_latest_price("AAPL")
    return f"AAPL: ${price}"

if __name__ == "__main__":
    app.run(debug=True)
