"""Everything dash-ws knows about Dash's internals, with version differences in one place.

Dash offers no public API for most of what a socket needs, so this module
touches a few stable internals: the lists callback registrations wait in,
the callback map, the callback context ContextVar, ``g.updated_props``
(through the public ``dash.hooks.custom_data`` hook on 3.0+), the dev-tools
settings, the config defaults and the ``_config`` the page receives. Beyond
this module, only ``app.py`` reaches into Dash: ``dash_ws.Dash`` overrides
two of ``dash.Dash``'s methods, ``_setup_server`` (to adopt socket
callbacks) and ``_config`` (to add the socket's settings), the seams a
subclass has.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import json
import os
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable

import dash
from dash import _callback, _callback_context
from dash._configs import get_combined_config
from dash._utils import AttributeDict, split_callback_id

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

HAS_ASYNC_CALLBACKS = DASH_VERSION >= (3, 1, 0)
"""Dash 3.1 added async callbacks; 3.0's ``dispatch`` returns the coroutine unawaited."""

HAS_CLIENTSIDE_PATCH = DASH_VERSION >= (3, 3, 0)
"""From 3.3 the renderer's ``dash_clientside.set_props`` applies ``Patch`` values
(``parsePatchProps``); older renderers replace the prop with the patch object."""

HAS_BACKENDS = DASH_VERSION >= (4, 2, 0)
"""Dash 4.2 added ``Dash(backend=...)`` with FastAPI and Quart."""

HAS_QUIET_CALLBACKS = "persistent" in inspect.signature(dash.callback).parameters
"""Dash 4.3 added ``persistent=True`` for an event callback that shows no "Updating..."."""

HAS_STREAMING_CALLBACKS = importlib.util.find_spec("dash._streaming") is not None
"""Dash 4.5 added generator callbacks, whose yields stream to the page."""

DASH_SET_PROPS_QUEUES_AT_ONCE = DASH_VERSION >= (4, 4, 0)
"""From 4.2 ``dash.set_props`` sends through ``g.dash_websocket`` when it is set. 4.2 and
4.3 do it with ``asyncio.ensure_future(ws.set_prop(...))`` on a running loop (so the
update reaches the page after the callback's answer, out of call order) or with a
new ``asyncio.run`` per call; 4.4 calls ``ws.set_prop_sync`` at once."""

WEBSOCKET_FLAG_KEYS = ("websocket",)
"""Keys Dash 4.2+ sets on a callback spec registered with ``dash.callback(websocket=True)``."""


def app_callback_list(app: dash.Dash) -> list:
    """Where ``app.callback`` records some registrations (others on decoration)."""
    return app._callback_list


def global_callback_list() -> list:
    """Where ``@dash.callback`` registrations wait until an app adopts them."""
    return _callback.GLOBAL_CALLBACK_LIST


def register_from_caller(register: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``register(*args, **kwargs)`` called from a frame that names the app's registering line.

    Dash names a callback with no inputs and no outputs after the first
    frame outside the ``dash`` package on the stack: the line of the app
    that registered it. Called from here that frame would be dash-ws's own
    line, the same for every such callback, and all of them would share one
    name (only the last would run). A trampoline whose code claims the app's
    file and line lets Dash find the name it would find without dash-ws.
    """
    caller = sys._getframe(1)
    while caller is not None and caller.f_code.co_filename.startswith(_FRAMEWORK_DIRS):
        caller = caller.f_back
    if caller is None:
        return register(*args, **kwargs)
    code = _call_trampoline.__code__.replace(
        co_filename=caller.f_code.co_filename, co_firstlineno=caller.f_lineno - 1
    )
    return types.FunctionType(code, {})(register, args, kwargs)


def _call_trampoline(register, args, kwargs):  # noqa: ANN001, ANN202 - its code is reused
    return register(*args, **kwargs)


_FRAMEWORK_DIRS = (
    os.path.dirname(__file__) + os.sep,
    os.path.dirname(dash.__file__) + os.sep,
)


def outputs_added(callback_list: list, since: int) -> list[str]:
    """Output keys of the callbacks appended to ``callback_list`` after index ``since``."""
    return [spec["output"] for spec in callback_list[since:]]


def natively_flagged_outputs(app: dash.Dash) -> set[str]:
    """Callbacks registered with Dash 4.2+'s own ``websocket=True``."""
    return {
        spec["output"]
        for spec in list(app_callback_list(app)) + list(global_callback_list())
        if any(spec.get(key) for key in WEBSOCKET_FLAG_KEYS)
    }


def is_async_callback(app: dash.Dash, output: str) -> bool:
    """True when Dash awaits the user function behind ``output`` (never before 3.1)."""
    entry = app.callback_map.get(output) or _callback.GLOBAL_CALLBACK_MAP.get(output)
    if entry is None or not HAS_ASYNC_CALLBACKS:
        return False
    return _is_coroutine_function(entry["callback"])


def callback_spec(app: dash.Dash, output: str) -> dict:
    """What ``app`` registered for ``output`` (inputs, state), its callbacks adopted first."""
    app._setup_server()
    return app.callback_map[output]


def split_output(output: str) -> Any:
    """The ``outputs`` of a callback request body, as the renderer writes them for ``output``."""
    return split_callback_id(output)


def check_event_callback(function: Any) -> None:
    """Refuse, at registration, an async callback that this Dash would never await."""
    if not HAS_ASYNC_CALLBACKS and _is_coroutine_function(function):
        name = getattr(function, "__qualname__", repr(function))
        raise UnsupportedDash(
            f"async callback {name} needs dash>=3.1, but dash {dash.__version__} is installed; "
            "make it a sync function or pip install 'dash>=3.1'"
        )


@functools.lru_cache(maxsize=1024)  # asked of the same callbacks for every call
def _is_coroutine_function(function: Any) -> bool:
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
        self._websocket.set_props(_component_id(component_key), props)


class DashSocket:
    """``g.dash_websocket``: the page's socket behind Dash 4.4+'s own websocket interface.

    Dash hands it pattern-matching ids stringified (``dash._utils.stringify_id``);
    the page looks components up by the id itself, so they are decoded here.
    Everything else is the page's ``WebSocket``.
    """

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket

    def __getattr__(self, name: str) -> Any:
        return getattr(self._websocket, name)

    def set_prop_sync(self, component_id: Any, prop_name: str, value: Any) -> None:
        self._websocket.set_props(_component_id(component_id), {prop_name: value})

    async def set_prop(self, component_id: Any, prop_name: str, value: Any) -> None:
        self.set_prop_sync(component_id, prop_name, value)

    async def get_prop(
        self, component_id: Any, prop_name: str, timeout: float = 30.0, *, path: Any = None
    ) -> Any:
        return await self._websocket.get_prop(
            _component_id(component_id), prop_name, timeout, path=path
        )


def _component_id(key: Any) -> Any:
    """A component id from Dash's string form: pattern-matching ids are JSON objects."""
    return json.loads(key) if isinstance(key, str) and key.startswith("{") else key


def _stream_set_props(g: AttributeDict) -> None:
    """custom_data hook: inside socket work, make Dash's ``set_props`` stream.

    ``dash.set_props`` and ``ctx.set_props`` write ``g.updated_props`` on every
    version, synchronously and in call order. Dash 4.2+'s ``dash.set_props``
    prefers ``g.dash_websocket`` (which ``dash.ctx.websocket`` also returns);
    only 4.4+ sends through it at once, so 4.2 and 4.3 are left without it.
    """
    websocket = current_websocket.get()
    if websocket is not None:
        g.updated_props = StreamingProps(websocket)
        if DASH_SET_PROPS_QUEUES_AT_ONCE:
            g.dash_websocket = DashSocket(websocket)
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

    It has no inputs or outputs; its cookies, headers, origin and path are the page's.
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
        path=handshake.page or handshake.path,
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


def debug_from_environment() -> bool:
    """What ``app.run()`` without ``debug=`` means: off, unless ``DASH_DEBUG`` says on."""
    return bool(get_combined_config("debug", None, False))


def hot_reload_settings(app: dash.Dash) -> tuple[bool, float]:
    """Whether ``enable_dev_tools`` turned hot reload on, and how often it watches (s)."""
    return bool(app._dev_tools.hot_reload), app._dev_tools.hot_reload_watch_interval


def reveals_errors(app: dash.Dash) -> bool:
    """True when the app runs with Dash's dev tools UI, which shows callback errors."""
    return bool(getattr(app, "_dev_tools", {}).get("ui"))


def page_config(config: dict, dash_ws_config: dict) -> dict:
    """The page's ``_dash-config``: ours added, upstream's socket worker kept off.

    Where the page has a socket, Dash 4.5's generator callbacks are posted by
    the page itself (``stream.enabled`` off), as the renderer does without
    shared storage, not by its SharedWorker: the post then reaches the
    socket, and each yield streams over it (``stream_over_sockets``).
    """
    config = dict(config)
    config.pop("websocket", None)
    if dash_ws_config["enabled"] and isinstance(config.get("stream"), dict):
        config["stream"] = {"enabled": False}
    config["dash_ws"] = dash_ws_config
    return config


def stream_over_sockets(app: dash.Dash) -> None:
    """Have Dash 4.5's generator callbacks stream each yield over the page's socket.

    Dash's wrapper of a generator callback returns a ``StreamedCallbackResponse``
    whose frames (each yield's outputs and ``set_props``) Dash's backends
    would write to an NDJSON response from a thread of their own. Called over
    the socket, the wrapper below drives those frames on the page's loop,
    sends each as ``set_props``, and hands Dash only the last frame to
    answer with. The page leaving cancels the call, which closes the
    generator. Over HTTP nothing changes.
    """
    if not HAS_STREAMING_CALLBACKS:
        return
    from dash._streaming import StreamedCallbackResponse

    for spec in app.callback_map.values():
        callback = spec.get("callback")
        if spec.get("stream") and not getattr(callback, "_dash_ws_streams", False):
            spec["callback"] = _streamed_over_the_socket(callback, StreamedCallbackResponse)


def _streamed_over_the_socket(dash_wrapper: Callable, marker_class: type) -> Callable:
    @functools.wraps(dash_wrapper)
    async def stream(*args: Any, **kwargs: Any) -> Any:
        marker = await dash_wrapper(*args, **kwargs)
        websocket = current_websocket.get()
        if websocket is None or not isinstance(marker, marker_class):
            return marker
        last = await _send_frames(marker.frames, websocket)
        return marker_class(_single_frame(last), is_async=True)

    stream._dash_ws_streams = True  # type: ignore[attr-defined]
    return stream


async def _send_frames(frames: Any, websocket: WebSocket) -> dict:
    """Send each frame's outputs and side updates as ``set_props``; return the final frame."""
    try:
        async for frame in frames:
            if frame.get("done"):
                return frame
            for section in ("response", "sideUpdate"):
                for component, props in (frame.get(section) or {}).items():
                    websocket.set_props(_component_id(component), props)
        return {"done": True}
    finally:
        await frames.aclose()


async def _single_frame(frame: dict) -> Any:
    yield frame


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


# Pages Dash rendered in this context, while admission watches (None when it does not).
_rendered_pages: ContextVar[list[bool] | None] = ContextVar("dash_ws_rendered_pages", default=None)
_render_hook_lock = threading.Lock()
_render_hook_installed = False


def _note_page_render(index: str) -> str:
    """``dash.hooks.index``: note that Dash rendered a page for the request being watched."""
    rendered = _rendered_pages.get()
    if rendered is not None:
        rendered.append(True)
    return index


@contextmanager
def watching_page_render() -> Iterator[list[bool]]:
    """A list that gets an item for every page Dash renders in this context, meanwhile.

    Requests replayed inside it (WSGI in this thread, or ASGI on a loop
    started here) inherit the context, so the list tells whether the app
    actually rendered the page rather than answering 2xx some other way.
    """
    global _render_hook_installed
    if not _render_hook_installed:
        with _render_hook_lock:
            if not _render_hook_installed:
                dash.hooks.index()(_note_page_render)  # hooks are process-wide
                _render_hook_installed = True
    rendered: list[bool] = []
    token = _rendered_pages.set(rendered)
    try:
        yield rendered
    finally:
        _rendered_pages.reset(token)


# ---------------------------------------------------------------- Dash's test runner


def dash_testing_installed() -> bool:
    """Whether ``dash[testing]`` is complete: Dash's pytest plugin then has its fixtures."""
    try:
        from dash.testing import plugin
    except ImportError:
        return False
    return bool(getattr(plugin, "_installed", False))


def graceful_threaded_runner() -> type:
    """Dash's ``ThreadedRunner``, stopping a dash-ws app as uvicorn's ``should_exit`` asks.

    Dash's runner stops a Flask app by killing its thread's Python code, which
    would also kill a dash-ws app's callback threads mid-work and leave their
    tracebacks in the next test's log; it stops gracefully only FastAPI apps,
    through ``app._uvicorn_server``, which ``app.run()`` sets for every backend.
    """
    from dash.testing.application_runners import ThreadedRunner

    class GracefulThreadedRunner(ThreadedRunner):
        def stop(self) -> None:
            server = getattr(self._app, "_uvicorn_server", None)
            if server is not None and self.thread.is_alive():
                server.should_exit = True
                self.thread.join(timeout=self.stop_timeout)
                if not self.thread.is_alive():
                    self._app = None
                    self.started = False
                    return
            super().stop()

    return GracefulThreadedRunner
