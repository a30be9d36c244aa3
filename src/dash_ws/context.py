"""``ctx`` and ``set_props``: Dash's own, plus the page socket a callback runs for.

``session.current_websocket`` holds the ``WebSocket`` of the page whose
callback is running. The callback runner sets it before user code runs and it
is copied into worker threads with the rest of the context, so
``ctx.websocket`` and streaming ``set_props`` work the same in async and sync
callbacks.
"""

from __future__ import annotations

from typing import Any

import dash

from .protocol import ComponentId
from .session import WebSocket, current_websocket


class CallbackContext:
    """``dash.ctx`` with one more attribute, ``websocket``."""

    @property
    def websocket(self) -> WebSocket | None:
        """The page's socket while running over it, otherwise None."""
        return current_websocket.get()

    def __getattr__(self, name: str) -> Any:
        return getattr(dash.callback_context, name)

    def __dir__(self) -> list[str]:
        return sorted(set(dir(dash.callback_context)) | {"websocket"})


ctx = CallbackContext()
callback_context = ctx


def set_props(component_id: ComponentId, props: dict[str, Any]) -> None:
    """Update a component's props.

    Inside a callback running over the socket the update is sent to the page
    at once, in call order; elsewhere this is ``dash.set_props``.
    """
    websocket = current_websocket.get()
    if websocket is None:
        dash.set_props(component_id, props)
    else:
        websocket.set_props(component_id, props)
