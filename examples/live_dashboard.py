# One producer feeds every viewer: a topic instead of a loop per page.
#
# One process, nothing to install (the producer runs in a thread):
#     python -m examples live_dashboard
# Two workers sharing Redis, the producer in a process of its own:
#     DASH_WS_BROKER=redis://127.0.0.1:6379/0 uvicorn examples.live_dashboard:app.asgi --workers 2
#     DASH_WS_BROKER=redis://127.0.0.1:6379/0 python -m examples live_dashboard_producer
import os
import threading
from collections import deque

from dash import Output, Patch, dcc, html
from dash_ws import ConnectionStatus, Dash
from _backend import BACKEND
from live_dashboard_producer import TOPIC, produce

# websocket_broker comes from DASH_WS_BROKER when set, else this process's memory.
app = Dash(backend=BACKEND)

# What this worker has seen of the topic: the chart a newly opened page starts
# from, and what a page that was away too long is brought back to.
recent = deque(maxlen=600)


def figure():
    return {
        "data": [{"x": [t for t, _ in recent], "y": [p for _, p in recent], "mode": "lines"}],
        "layout": {"title": {"text": "ACME"}, "xaxis": {"type": "date"}, "height": 360},
    }


def price_text():
    return f"ACME ${recent[-1][1]:.2f}" if recent else "waiting for the first tick"


def layout():
    return html.Div([
        html.H4("One feed, every viewer"),
        html.Div(price_text(), id="price"),
        dcc.Graph(id="chart", figure=figure()),
        html.Div(f"page served by worker {os.getpid()}", id="worker"),
        ConnectionStatus(id="connection"),
    ])


app.layout = layout


def reload_page():
    """For a page that missed more than the topic's history: the state as it is now."""
    return price_text(), figure()


@app.feed(TOPIC, Output("price", "children"), Output("chart", "figure"), on_gap=reload_page)
def show(tick):
    # Runs once per tick on each worker, however many pages are open.
    recent.append((tick["time"], tick["price"]))
    point = Patch()
    point["data"][0]["x"].append(tick["time"])
    point["data"][0]["y"].append(tick["price"])
    return f"ACME ${tick['price']:.2f}", point


if __name__ == "__main__":
    threading.Thread(target=produce, daemon=True).start()
    app.run()
