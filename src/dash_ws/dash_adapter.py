"""Everything dash-ws knows about Dash's internals, with version differences in one place.

Dash offers no public API for most of what a socket needs, so this module
touches a few stable internals: the list global ``@dash.callback``
registrations wait in, the callback context ContextVar, ``g.updated_props``
(through the public ``dash.hooks.custom_data`` hook on 3.0+), and the
``_config`` the page receives. Nothing else in the package reaches past
Dash's public API.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dash
from dash import _callback, _callback_context
from dash._utils import AttributeDict

from .errors import UnsupportedDash
from .handshake import Handshake
from .session import WebSocket, current_websocket


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


DASH_VERSION = _version_tuple(dash.__version__)
MIN_DASH = (3, 0, 0)

if DASH_VERSION < MIN_DASH:
    raise UnsupportedDash(
        f"dash-ws needs dash>=3.0 (dash.hooks), but dash {dash.__version__} is installed: "
        "pip install 'dash>=3.0'"
    )

HAS_BACKENDS = DASH_VERSION >= (4, 2, 0)
"""Dash 4.2 added ``Dash(backend=...)`` with FastAPI and Quart."""

WEBSOCKET_FLAG_KEYS = ("websocket",)
"""Keys Dash 4.2+ sets on a callback spec registered with ``dash.callback(websocket=True)``."""


def global_callback_list() -> list:
    """Where ``@dash.callback`` registrations wait until an app adopts them."""
    return _callback.GLOBAL_CALLBACK_LIST


def outputs_added(callback_list: list, since: int) -> list[str]:
    """Output keys of the callbacks appended to ``callback_list`` after index ``since``."""
    return [spec["output"] for spec in callback_list[since:]]


def natively_flagged_outputs(app: dash.Dash) -> set[str]:
    """Callbacks registered with Dash 4.2+'s own ``websocket=True``."""
    return {
        spec["output"]
        for spec in list(app._callback_list) + list(global_callback_list())
        if any(spec.get(key) for key in WEBSOCKET_FLAG_KEYS)
    }


def is_async_callback(app: dash.Dash, output: str) -> bool:
    """True when the user function behind ``output`` is a coroutine function."""
    entry = app.callback_map.get(output) or _callback.GLOBAL_CALLBACK_MAP.get(output)
    if entry is None:
        return False
    function = entry["callback"]
    while True:
        if inspect.iscoroutinefunction(function):
            return True
        inner = getattr(function, "__wrapped__", None)
        if inner is None:
            return False
        function = inner


class StreamingProps(dict):
    """``g.updated_props`` that sends each ``set_props`` to the page instead of keeping it.

    Dash collects ``set_props`` here to return them with the callback's
    response; over the socket they have already arrived, so nothing is kept.
    """

    def __init__(self, websocket: WebSocket) -> None:
        super().__init__()
        self._websocket = websocket

    def __setitem__(self, component_key: str, props: dict) -> None:
        component_id = json.loads(component_key) if component_key.startswith("{") else component_key
        self._websocket.set_props(component_id, props)


def _stream_set_props(g: AttributeDict) -> None:
    """custom_data hook: inside socket work, make Dash's ``set_props`` stream."""
    websocket = current_websocket.get()
    if websocket is not None:
        g.updated_props = StreamingProps(websocket)
        g.dash_websocket = websocket  # Dash 4.2+'s dash.set_props and ctx.websocket read it
    return None


_streaming_hook_installed = False


def install_streaming_hook() -> None:
    """Register the custom_data hook once per process (hooks are process-wide)."""
    global _streaming_hook_installed
    if not _streaming_hook_installed:
        dash.hooks.custom_data("dash_ws")(_stream_set_props)
        _streaming_hook_installed = True


@contextmanager
def callback_scope(websocket: WebSocket, handshake: Handshake) -> Iterator[None]:
    """Give a persistent callback the Dash callback context an event callback has.

    It has no inputs or outputs; its cookies, headers and origin are the page's.
    """
    g = AttributeDict(
        inputs_list=[],
        states_list=[],
        outputs_list=[],
        input_values={},
        state_values={},
        triggered_inputs=[],
        args_grouping=[],
        using_args_grouping=False,
        outputs_grouping=[],
        using_outputs_grouping=False,
        cookies=handshake.cookies,
        headers=dict(handshake.page_headers()),
        path=handshake.path,
        remote=handshake.client[0] if handshake.client else None,
        origin=handshake.header("origin"),
        custom_data=AttributeDict(),
        ignore_register_page=False,
        background_callback_manager=None,
    )
    _stream_set_props(g)
    token = _callback_context.context_value.set(g)
    try:
        yield
    finally:
        _callback_context.context_value.reset(token)


def page_config(config: dict, dash_ws_config: dict) -> dict:
    """The page's ``_dash-config``: ours added, upstream's socket worker kept off."""
    config = dict(config)
    config.pop("websocket", None)
    config["dash_ws"] = dash_ws_config
    return config


def dash_keyword_arguments(backend: Any, kwargs: dict) -> dict:
    """Arguments for ``dash.Dash.__init__``; ``backend`` only where Dash has backends."""
    if HAS_BACKENDS:
        return {**kwargs, "backend": backend}
    if backend not in (None, "flask"):
        raise UnsupportedDash(
            f"backend={backend!r} needs dash>=4.2, but dash {dash.__version__} is installed; "
            "use the default Flask backend or pip install 'dash>=4.2'"
        )
    return kwargs


def backend_name(app: dash.Dash) -> str:
    """``flask``, ``fastapi`` or ``quart``."""
    if not HAS_BACKENDS:
        return "flask"
    return getattr(app.backend, "server_type", None) or type(app.server).__module__.split(".")[0]
