# Survive the network: a counter streamed at 20 Hz, a "Reconnecting..." banner
# driven by dash_ws.ConnectionStatus, and a slow task whose answer arrives even
# if the connection drops while it runs. Stop the network for a few seconds
# (or put the server to sleep with `kill -STOP`, then `kill -CONT`): the banner
# shows the drop, and when the page is back the counter continues where it
# was, with no value lost from the log.
import asyncio
from dash import html, dcc, Input, Output, Patch
from dash_ws import Dash, callback, ctx, set_props, ConnectionStatus
from _backend import BACKEND

app = Dash(backend=BACKEND, websocket_callbacks=True)

app.layout = html.Div([
    ConnectionStatus(id="connection"),
    html.Div(id="banner"),
    html.H4("Counter"),
    html.Div(id="counter", children="0"),
    html.Div(id="received", children="0 values received"),
    dcc.Store(id="log", data=[]),
    html.Button("Run a 5 s task", id="run-task"),
    html.Div(id="task-result"),
])

# A clientside callback: while the network is down, no server callback can run.
app.clientside_callback(
    """
    function (status) {
        return {
            open: "",
            connecting: "Connecting...",
            reconnecting: "Reconnecting...",
            degraded: "Live updates unavailable; working over HTTP",
            closed: "Disconnected",
            refused: "Connection refused",
        }[status.state];
    }
    """,
    Output("banner", "children"),
    Input("connection", "data"),
)

@callback(persistent=True)
async def count():
    ws = ctx.websocket
    value = 0
    while not ws.is_shutdown:
        value += 1
        appended = Patch()
        appended.append(value)
        set_props("counter", {"children": str(value)})
        set_props("log", {"data": appended})
        await asyncio.sleep(0.05)

@callback(Output("received", "children"), Input("log", "data"))
def count_received(log):
    in_order = log == list(range(1, len(log) + 1))
    return f"{len(log)} values received{'' if in_order else ' (OUT OF ORDER)'}"

@callback(Output("task-result", "children"), Input("run-task", "n_clicks"),
          prevent_initial_call=True)
async def slow_task(n_clicks):
    for second in range(5):
        set_props("task-result", {"children": f"Working... {second + 1}/5"})
        await asyncio.sleep(1)
    return f"Task {n_clicks} done"

if __name__ == "__main__":
    app.run(debug=True)
