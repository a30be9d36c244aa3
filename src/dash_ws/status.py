"""``ConnectionStatus``: the page's connection state, as data an ordinary callback can use."""

from __future__ import annotations

from typing import Any

from dash import dcc

STATES = ("connecting", "open", "reconnecting", "degraded", "closed", "refused")
"""What ``data["state"]`` can hold; ``data["reason"]`` says why, ``data["since"]`` when (ms)."""

status_ids: set[str] = set()
"""Ids of every ``ConnectionStatus`` made in this process; the browser client updates them."""


def ConnectionStatus(id: str = "dash-ws-status", **store_options: Any) -> dcc.Store:  # noqa: N802
    """A ``dcc.Store`` that the browser client keeps up to date with the socket's state.

    ``data`` is ``{"state": ..., "reason": ..., "since": ...}`` with ``state``
    one of ``connecting``, ``open``, ``reconnecting`` (the connection dropped
    and the page is resuming its session), ``degraded`` (the socket cannot be
    opened; callbacks use HTTP meanwhile), ``closed`` (by the server, or for
    inactivity; it reopens when a callback needs it) or ``refused`` (origin,
    authentication or version; callbacks use HTTP). Use it as the ``Input`` of
    a clientside callback to show a "Reconnecting..." banner: while the
    network is down, no server callback can run.
    """
    status_ids.add(id)
    return dcc.Store(id=id, data={"state": "connecting", "reason": "", "since": 0}, **store_options)
