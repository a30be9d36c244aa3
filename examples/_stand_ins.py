"""What the spec's examples take for granted: a price source and an upstream feed.

The spec calls ``get_latest_price`` without defining it, and connects to
``wss://example.com/feed``; these stand-ins make those examples run offline.
"""

import random
import threading
from datetime import datetime

from websockets.sync.server import serve


def get_latest_price(symbol: str) -> float:
    """A made-up quote for ``symbol``."""
    return round(100 + random.random() * 50, 2)


def start_feed_server() -> str:
    """Start an upstream feed on a free local port; return its ``ws://`` URL.

    For every symbol a client sends, the feed answers with one quote line
    for that symbol. It runs in a daemon thread for the life of the process.
    """

    def answer_quotes(connection) -> None:
        for tick, symbol in enumerate(connection, start=1):
            stamp = datetime.now().strftime("%H:%M:%S")
            connection.send(f"{symbol} ${get_latest_price(symbol)} (tick {tick}, {stamp})")

    server = serve(answer_quotes, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, name="upstream-feed", daemon=True).start()
    port = server.socket.getsockname()[1]
    return f"ws://127.0.0.1:{port}/feed"
