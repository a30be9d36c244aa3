"""``@callback(websocket=..., persistent=...)``: which callbacks use the socket.

Event callbacks are registered with Dash as usual; their output keys are
remembered here so the page knows to send them over the socket. Persistent
callbacks have no inputs or outputs, so Dash never sees them: the server
starts them itself when a page's socket is ready.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import dash

from . import dash_adapter
from .execution import PersistentCallback
from .feeds import Feed
from .topics import check_topic

_DEPENDENCY_KEYWORDS = ("output", "inputs", "state")


@dataclass
class SocketCallbacks:
    """The socket callbacks of one scope: the process (``callback``) or one app."""

    websocket_outputs: set[str] = field(default_factory=set)
    persistent: list[PersistentCallback] = field(default_factory=list)
    feeds: list[Feed] = field(default_factory=list)

    def register(
        self,
        dash_register: Callable[..., Callable],
        callback_list: list,
        args: tuple,
        kwargs: dict,
        websocket: bool,
        persistent: bool,
    ) -> Callable[[Callable], Callable]:
        """Register through ``dash_register`` (``dash.callback`` or ``app.callback``).

        ``persistent`` on a callback with no dependencies makes it run for the
        page's life. On one with dependencies it is Dash's own flag (4.3+): an
        event callback that never shows "Updating..." while it runs.
        """
        if persistent:
            dependencies = args or [k for k in _DEPENDENCY_KEYWORDS if k in kwargs]
            if not dependencies:
                return self._register_persistent
            if not dash_adapter.HAS_QUIET_CALLBACKS:
                raise TypeError(
                    "a persistent callback takes no Input, Output or State: it starts "
                    "when the page's socket opens and streams with set_props"
                )
            kwargs = {**kwargs, "persistent": True}

        before = len(callback_list)  # Dash records some callbacks here, some on decoration
        dash_decorator = dash_adapter.register_from_caller(dash_register, *args, **kwargs)

        def decorator(function: Callable) -> Callable:
            dash_adapter.check_event_callback(function)
            registered = dash_decorator(function)
            if websocket:
                self.websocket_outputs.update(dash_adapter.outputs_added(callback_list, before))
            return registered

        return decorator

    def adopt(self, other: SocketCallbacks) -> None:
        """Take over ``other``'s callbacks, leaving it empty."""
        self.websocket_outputs |= other.websocket_outputs
        self.persistent.extend(other.persistent)
        self.feeds.extend(other.feeds)
        other.websocket_outputs.clear()
        other.persistent.clear()
        other.feeds.clear()

    def register_feed(
        self, topic: str, outputs: tuple, on_gap: Callable[[], Any] | None
    ) -> Callable[[Callable], Callable]:
        check_topic(topic)
        if not outputs or not all(isinstance(o, dash.Output) for o in outputs):
            raise TypeError("a feed names one or more dash.Output it streams to")

        def decorator(render: Callable[[Any], Any]) -> Callable[[Any], Any]:
            self.feeds.append(Feed(topic, tuple(outputs), render, on_gap))
            return render

        return decorator

    def _register_persistent(self, function: Callable[[], Any]) -> Callable[[], Any]:
        self.persistent.append(PersistentCallback(function))
        return function


process_callbacks = SocketCallbacks()
"""Callbacks registered with the module-level ``callback``, shared by every app."""


def callback(
    *args: Any, websocket: bool = False, persistent: bool = False, **kwargs: Any
) -> Callable[[Callable], Callable]:
    """``dash.callback`` with two more arguments.

    ``websocket=True`` runs the callback over the page's socket even when the
    app does not set ``websocket_callbacks=True``. ``persistent=True`` makes a
    callback with no inputs or outputs that runs for as long as the page is
    open.
    """
    return process_callbacks.register(
        dash.callback,
        dash_adapter.global_callback_list(),
        args,
        kwargs,
        websocket,
        persistent,
    )


def feed(
    topic: str, *outputs: Any, on_gap: Callable[[], Any] | None = None
) -> Callable[[Callable], Callable]:
    """Stream ``topic`` to every page's ``outputs``, rendered by the decorated function.

    The function takes one published message and returns the outputs' values
    (one value per ``Output``, ``no_update`` and ``Patch`` allowed), as a
    callback does. It runs once per message on each worker, not once per
    page, and its values are encoded once. ``on_gap``, a function of no
    arguments returning the same outputs' values, brings up to date a page
    that missed more than the topic's history holds.
    """
    return process_callbacks.register_feed(topic, outputs, on_gap)
