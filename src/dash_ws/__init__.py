"""dash-ws: WebSocket callbacks for any Dash app.

Change ``from dash import Dash, callback, ctx, set_props`` to import them from
``dash_ws``; everything else still comes from ``dash``.
"""

from .app import Dash
from .brokers import BrokerUnavailable
from .context import callback_context, ctx, set_props
from .errors import ComponentNotFound, DashWsError, ProtocolError, SocketClosed, UnsupportedDash
from .registration import callback, feed
from .session import WebSocket
from .status import ConnectionStatus
from .topics import TopicMessage, publish, publish_async

__version__ = "0.1.0"

__all__ = [
    "BrokerUnavailable",
    "ComponentNotFound",
    "ConnectionStatus",
    "Dash",
    "DashWsError",
    "ProtocolError",
    "SocketClosed",
    "TopicMessage",
    "UnsupportedDash",
    "WebSocket",
    "callback",
    "callback_context",
    "ctx",
    "feed",
    "publish",
    "publish_async",
    "set_props",
]
