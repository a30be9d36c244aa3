import asyncio
import numpy as np
from dash import html, dcc, Input, Output
from dash_ws import Dash, callback, ctx, set_props
from _backend import BACKEND

app = Dash(backend=BACKEND, websocket_callbacks=True)

SIZE = 30

def step(g):
    neighbors = sum(
        np.roll(np.roll(g, i, 0), j, 1)
        for i in (-1, 0, 1) for j in (-1, 0, 1) if (i, j) != (0, 0)
    )
    return (neighbors == 3) | (g & (neighbors == 2))

def make_figure(g):
    return {
        "data": [{"type": "heatmap", "z": g.astype(int).tolist(),
                   "colorscale": [[0, "#1a1a1a"], [1, "#4CAF50"]],
                   "showscale": False}],
        "layout": {"height": 400, "width": 400,
                   "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
                   "xaxis": {"visible": False, "scaleanchor": "y"},
                   "yaxis": {"visible": False, "autorange": "reversed"}},
    }

initial_grid = np.random.random((SIZE, SIZE)) < 0.3

app.layout = html.Div([
    html.Button("Start", id="start"), html.Button("Stop", id="stop"),
    html.Div(id="gen", children="Generation: 0"),
    dcc.Graph(id="board", figure=make_figure(initial_grid),
              config={"displayModeBar": False, "staticPlot": True}),
    dcc.Store(id="running", data=False),
])

@callback(Output("running", "data"),
          Input("start", "n_clicks"), Input("stop", "n_clicks"),
          prevent_initial_call=True)
def controls(start, stop):
    return ctx.triggered_id == "start"

@callback(persistent=True)
async def run_game():
    ws = ctx.websocket
    grid = np.random.random((SIZE, SIZE)) < 0.3
    generation = 0
    while not ws.is_shutdown:
        running = await ws.get_prop("running", "data")
        if running:
            grid = step(grid)
            generation += 1
            set_props("board", {"figure": make_figure(grid)})
            set_props("gen", {"children": f"Generation: {generation}"})
            await asyncio.sleep(0.1)
        else:
            await asyncio.sleep(0.2)

if __name__ == "__main__":
    app.run(debug=True)
