"""One live value at 10 Hz to every page: what ``broadcast.py`` serves, shared by all its apps.

The message is ``{"t": <publish time>, "seq": <number>, "price": <value>}``;
a page shows it as ``tick.children = [t, seq, price]``, and the load client
takes ``t`` to compute the latency (client and servers share a clock: one
machine).

Two ways to write the app:

- **topics** (dash-ws only): a producer process publishes each message once
  (``dash_ws.publish``); ``@app.feed`` renders it once per worker
  (``render``) and every page of the worker gets the encoded bytes.
- **per-page loop** (the spec's way, dash-ws and upstream Dash 4.4.1): a
  persistent callback per page, ``while not ctx.websocket.is_shutdown:
  set_props(...); await asyncio.sleep(...)``, stamping ``t`` itself when it
  sets the value. The loop keeps a 100 ms schedule (``await
  asyncio.sleep(0.1)`` alone would drift below 10 Hz by its own run time)
  and starts at a random phase, as pages that open at random moments do.
"""

from __future__ import annotations

import asyncio
import math
import random
import time

from dash import html

TOPIC = "bench-price"
PERIOD = 0.1  # 10 Hz


def layout():
    return html.Div([html.H4("price"), html.Div(id="tick")])


def price_at(now: float) -> float:
    """A value that moves: the same function for the producer and the per-page loops."""
    return round(100.0 + 5.0 * math.sin(now / 7.0) + 0.5 * math.sin(now * 3.1), 4)


def message(seq: int) -> dict:
    now = time.time()
    return {"t": now, "seq": seq, "price": price_at(now)}


def render(msg: dict) -> list:
    """A feed's function: one published message -> the value of ``tick.children``."""
    return [msg["t"], msg["seq"], msg["price"]]


def register_loop(callback, ctx, set_props) -> None:
    """The spec's way: one persistent loop per page (``callback``/``ctx``/``set_props`` of
    dash_ws or of dash)."""

    @callback(persistent=True)
    async def price_loop():
        ws = ctx.websocket
        seq = 0
        next_at = time.monotonic() + random.random() * PERIOD
        while not ws.is_shutdown:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            seq += 1
            set_props("tick", {"children": render(message(seq))})
            next_at += PERIOD
            now = time.monotonic()
            if next_at < now - PERIOD:  # fell a whole period behind: do not burst to catch up
                next_at = now
