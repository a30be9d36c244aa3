"""An HTTP request's body, read from ASGI ``receive`` up to a bound.

dash-ws's own HTTP routes (the cookie exchange, a Flask app's callbacks) read
a body whole before answering; the bound keeps a client from making the
server hold more than the route will ever use.
"""

from __future__ import annotations

from typing import Callable


async def read_body(receive: Callable, max_bytes: int) -> bytes | None:
    """The whole body; None if the client left before its end or it runs past ``max_bytes``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
