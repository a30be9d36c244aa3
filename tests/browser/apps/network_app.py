"""An app for cutting the network under: a 20 Hz counter, a slow task, a late get_prop."""

import asyncio
import os

from dash import Input, Output, Patch, dcc, html

from dash_ws import ConnectionStatus, Dash, callback, ctx, set_props

app = Dash(
    __name__,
    websocket_callbacks=True,
    backend=os.environ.get("DASH_WS_BACKEND", "flask"),
    websocket_resume_grace=int(os.environ.get("RESUME_GRACE_MS", "30000")),
)

app.layout = html.Div(
    [
        ConnectionStatus(id="connection"),
        html.Div(id="state"),
        html.Div(id="counter"),
        dcc.Store(id="log", data=[]),
        html.Button("Task", id="task"),
        html.Div(id="task-progress"),
        html.Div(id="task-result"),
        dcc.Input(id="name", value="before"),
        html.Button("Ask", id="ask"),
        html.Div(id="answer"),
    ]
)


# Clientside: while the network is down, no server callback can run.
app.clientside_callback(
    "function (status) { return status.state; }",
    Output("state", "children"),
    Input("connection", "data"),
)


@callback(persistent=True)
async def count():
    print("counter started", flush=True)
    ws = ctx.websocket
    value = 0
    while not ws.is_shutdown:
        value += 1
        appended = Patch()
        appended.append(value)
        set_props("counter", {"children": value})
        set_props("log", {"data": appended})
        await asyncio.sleep(0.05)


@callback(Output("task-result", "children"), Input("task", "n_clicks"), prevent_initial_call=True)
async def task(n_clicks):
    for step in range(1, 4):
        set_props("task-progress", {"children": f"step {step}"})
        await asyncio.sleep(1)
    return f"task {n_clicks} done"


@callback(Output("answer", "children"), Input("ask", "n_clicks"), prevent_initial_call=True)
async def ask(n_clicks):
    await asyncio.sleep(1)  # the network is cut by then
    return f"Hello, {await ctx.websocket.get_prop('name', 'value')}!"
