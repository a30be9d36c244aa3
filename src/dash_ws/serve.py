"""``app.run()``: uvicorn for HTTP and sockets, Dash's dev tools, restart on code change.

Debug is off unless ``debug=True`` or ``DASH_DEBUG=true``, as with ``dash.Dash.run``.
uvicorn gets limits sized for this process (see ``server_limits``); any uvicorn
option passed to ``app.run`` wins over them. Werkzeug-only options that Dash
users and Dash's test runner pass are dropped, or translated where uvicorn has
an equivalent.
"""

from __future__ import annotations

import fnmatch
import inspect
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlparse

import uvicorn

from . import dash_adapter, protocol
from .errors import DashWsError
from .parts import MAX_PART_FRAME_BYTES

if TYPE_CHECKING:
    from .app import Dash

logger = logging.getLogger("dash_ws")

_CHILD_FLAG = "DASH_WS_RELOADER_CHILD"

# Options of Flask.run / werkzeug.run_simple that uvicorn does not take, each
# with the values that ask for nothing uvicorn does not already do. Those with
# a meaning here (extra_files, exclude_patterns, reloader_interval,
# ssl_context) are handled before the rest are dropped.
_WERKZEUG_OPTIONS: dict[str, Callable[[Any], bool]] = {
    "threaded": lambda value: True,  # uvicorn serves requests concurrently either way
    "processes": lambda value: value in (None, 1),
    "use_debugger": lambda value: not value,
    "use_evalex": lambda value: True,  # only means something with the debugger
    "passthrough_errors": lambda value: not value,
    "request_handler": lambda value: value is None,
    "static_files": lambda value: not value,
    "reloader_type": lambda value: True,  # the reloader here has one kind
    "load_dotenv": lambda value: True,  # Flask.run only; dash.Dash.run never loads .env
}
_HANDLED_HERE = frozenset({"extra_files", "exclude_patterns", "reloader_interval", "ssl_context"})
# Arguments of dash.Dash.run that only make sense for Jupyter, with their defaults.
_JUPYTER_OPTIONS = {
    "jupyter_mode": None,
    "jupyter_width": "100%",
    "jupyter_height": 650,
    "jupyter_server_url": None,
}

# uvicorn limits (seconds, bytes). A connection that never completes its
# request head is not timed out by uvicorn: a proxy in front must do that.
KEEP_ALIVE_SECONDS = 5
MAX_REQUEST_HEAD_BYTES = 16 * 1024
SERVER_WAIT_SECONDS = 30
"""How long a server in a thread may take to start, and again to stop."""


def serve(
    app: Dash,
    host: str | None,
    port: int | str | None,
    debug: bool | None,
    proxy: str | None = None,
    **options: Any,
) -> None:
    """Serve ``app.asgi`` in this process, or under the reloader when debugging."""
    if debug is None:
        debug = dash_adapter.debug_from_environment()
    dev_tool_names = set(inspect.signature(app.enable_dev_tools).parameters) - {
        "debug",
        "first_run",
    }
    dev_tools = {name: options.pop(name) for name in list(options) if name in dev_tool_names}
    debug = app.enable_dev_tools(debug, **dev_tools)
    hide_all_callbacks = options.pop("hide_all_callbacks", None)
    if hide_all_callbacks is not None and "hide_all_callbacks" in app.config:  # Dash 3.1+
        app.config.update({"hide_all_callbacks": bool(hide_all_callbacks)})
    host = host or os.getenv("HOST", "127.0.0.1")
    port = _port_number(port or os.getenv("PORT", "8050"))
    hot_reload, watch_interval = dash_adapter.hot_reload_settings(app)
    use_reloader = options.pop("use_reloader", debug and hot_reload)
    reloader_interval = options.get("reloader_interval") or watch_interval
    extra_files = list(options.get("extra_files") or ())
    exclude_patterns = list(options.get("exclude_patterns") or ())
    options.update(_ssl_options(options.get("ssl_context")))
    options = _drop_foreign_options(options)
    if dash_adapter.backend_name(app) == "flask":
        app.server.debug = bool(debug)

    if use_reloader and not os.environ.get(_CHILD_FLAG):
        extra_files += _extra_hot_reload_files(app)
        _run_reloader(extra_files, exclude_patterns, interval=reloader_interval)
        return
    scheme = (
        "https" if options.get("ssl_certfile") or options.get("ssl_context_factory") else "http"
    )
    print(
        f"Dash is running on {_display_url(scheme, host, port, proxy)}"
        f"{app.config.requests_pathname_prefix}",
        flush=True,
    )
    run_server(
        app,
        host=host,
        port=port,
        **{
            "log_level": "info" if debug else "warning",
            **server_limits(app),
            **options,
        },
    )


def _port_number(port: int | str) -> int:
    """The port as ``dash.Dash.run`` accepts it: an integer from 1 to 65535."""
    try:
        number = int(port)
    except (TypeError, ValueError):
        number = 0
    if not 1 <= number <= 65535:
        raise ValueError(f"Expecting an integer from 1 to 65535, found port={port!r}")
    return number


def _display_url(scheme: str, host: str, port: int, proxy: str | None) -> str:
    """Where the app is reached: the public half of ``proxy`` (``DASH_PROXY``), as Dash prints it.

    ``proxy`` is ``"http://0.0.0.0:8050::https://my.domain.com"``: what the
    server binds, then what the browser sees.
    """
    proxy = proxy or os.getenv("DASH_PROXY")
    if not proxy or "::" not in proxy:
        return f"{scheme}://{host}:{port}"
    public = urlparse(proxy.split("::", 1)[1])
    return f"{public.scheme}://{public.hostname}" + (f":{public.port}" if public.port else "")


def run_server(app: Dash, host: str, port: int, **options: Any) -> None:
    """Serve ``app.asgi`` with uvicorn on a socket dash-ws binds itself.

    The socket gives up on a connection whose peer has left data unread for
    longer than a page may take to read a frame (``TCP_USER_TIMEOUT``, where
    the platform has it): a page closed for being slow that never reads again
    would otherwise keep its connection for as long as it likes, since a
    WebSocket close waits for the socket to drain. Options uvicorn binds
    with itself (``uds``, ``fd``, ``workers``) take uvicorn's own path.
    """
    if {"uds", "fd", "workers"} & options.keys():
        uvicorn.run(app.asgi, host=host, port=port, **options)
        return
    limits = app.websocket_limits
    user_timeout = limits.send_timeout + limits.close_timeout
    sock = listening_socket(host, port, user_timeout, backlog=options.get("backlog", 2048))
    try:
        server = uvicorn.Server(uvicorn.Config(app.asgi, host=host, port=port, **options))
        app._uvicorn_server = server  # where Dash's test runner looks for a server to stop
        server.run(sockets=[sock])
    finally:
        sock.close()
        app.release_asgi()


@contextmanager
def served_in_thread(app: Dash, host: str = "127.0.0.1", **options: Any) -> Iterator[str]:
    """``app`` served by uvicorn in a thread of this process on a free port; yields its URL.

    The server stops as ``should_exit`` asks uvicorn to when the block ends,
    and the app can be served again. For tests and notebooks.
    """
    limits = app.websocket_limits
    sock = listening_socket(host, 0, limits.send_timeout + limits.close_timeout)
    thread = None
    try:
        server = uvicorn.Server(
            uvicorn.Config(app.asgi, **{"log_level": "warning", **server_limits(app), **options})
        )
        app._uvicorn_server = server
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="dash-ws-server", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + SERVER_WAIT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise DashWsError(f"the server for {app.config.name!r} did not start")
            time.sleep(0.02)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        if thread is not None:
            server.should_exit = True
            thread.join(timeout=SERVER_WAIT_SECONDS)
        sock.close()
        if thread is None or not thread.is_alive():
            app.release_asgi()
        else:  # its loop still runs: what it holds is let go when it ends, not here
            logger.warning("dash-ws: the server for %r did not stop", app.config.name)


def listening_socket(
    host: str, port: int, user_timeout: float, backlog: int = 2048
) -> socket.socket:
    """A TCP socket listening on ``host:port`` that drops peers unresponsive for ``user_timeout`` s.

    It listens at once, so clients that connect while the app starts wait in
    the backlog instead of being refused.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "TCP_USER_TIMEOUT"):  # Linux; accepted sockets inherit it
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(user_timeout * 1000))
    try:
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


WS_QUEUED_FRAMES = 4
"""A page's frames uvicorn holds for the app; past that it stops reading the socket."""


def server_limits(app: Dash) -> dict[str, Any]:
    """uvicorn limits for this process: concurrency under the open-file limit, sizes, timeouts.

    Raises the soft open-file limit to the hard one first, where the platform allows.
    """
    limits: dict[str, Any] = {
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "h11_max_incomplete_event_size": MAX_REQUEST_HEAD_BYTES,
        # The clients send long messages in parts, so no frame of theirs is larger than
        # this; a frame past the page's limit, yet under this, is refused by dash-ws.
        "ws_max_size": min(app.websocket_limits.inbound_frame_bytes, MAX_PART_FRAME_BYTES)
        + protocol.MESSAGE_ENVELOPE_BYTES,
        # Frames uncompressed: inflating a page's large frames costs the event loop every
        # page shares, and compressing secrets beside what a page chose leaks them by size.
        "ws_per_message_deflate": False,
        # Frames uvicorn's websockets implementation queues per socket before it stops reading.
        "ws_max_queue": WS_QUEUED_FRAMES,
    }
    open_files = raise_open_file_limit()
    if open_files is not None:
        limits["limit_concurrency"] = concurrency_for(open_files)
    return limits


def concurrency_for(open_files: int) -> int:
    """Connections uvicorn may hold before it answers 503: the open-file limit less headroom."""
    headroom = max(64, open_files // 8)  # log files, modules, the app's own files and sockets
    return max(open_files - headroom, open_files // 2, 1)


def raise_open_file_limit() -> int | None:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the soft limit now in force.

    ``None`` where the platform has no such limit (Windows) or it is unlimited.
    """
    try:
        import resource
    except ImportError:  # Windows
        return None
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return None
    for target in (hard, 10240):  # 10240: macOS's OPEN_MAX, where the hard limit is unlimited
        if target == resource.RLIM_INFINITY or (soft != resource.RLIM_INFINITY and soft >= target):
            continue
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError):
            continue
        logger.debug("raised the open-file limit from %s to %s", soft, target)
        soft = target
        break
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _ssl_options(ssl_context: Any) -> dict[str, Any]:
    """Werkzeug's ``ssl_context`` as uvicorn options: a (cert, key) pair, or an SSLContext."""
    if ssl_context is None:
        return {}
    if isinstance(ssl_context, (tuple, list)) and len(ssl_context) == 2:
        certfile, keyfile = ssl_context
        return {"ssl_certfile": certfile, "ssl_keyfile": keyfile}
    if isinstance(ssl_context, ssl.SSLContext) and "ssl_context_factory" in _uvicorn_options():
        return {"ssl_context_factory": lambda config, default: ssl_context}
    raise ValueError(
        f"app.run(ssl_context={ssl_context!r}) is not supported by uvicorn: pass "
        "ssl_certfile= and ssl_keyfile=, or ssl_context=(certfile, keyfile)"
    )


def _drop_foreign_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options for uvicorn; one warning names those that ask for what it cannot do."""
    kept, unhonoured = {}, []
    for name, value in options.items():
        if name in _HANDLED_HERE:
            continue
        if name in _WERKZEUG_OPTIONS:
            if not _WERKZEUG_OPTIONS[name](value):
                unhonoured.append(f"{name}={value!r}")
            continue
        if name in _JUPYTER_OPTIONS:
            if value != _JUPYTER_OPTIONS[name]:
                unhonoured.append(f"{name}={value!r}")
            continue
        kept[name] = value
    if unhonoured:
        warnings.warn(
            f"app.run: ignoring {', '.join(unhonoured)}: dash-ws serves with uvicorn, "
            "which has no such option",
            stacklevel=4,
        )
    return kept


def _uvicorn_options() -> set[str]:
    return set(inspect.signature(uvicorn.Config).parameters)


def _extra_hot_reload_files(app: Dash) -> list[str]:
    files = []
    for path in app.config.get("extra_hot_reload_paths") or ():
        if os.path.isfile(path):
            files.append(str(path))
        else:
            files.extend(str(p) for p in Path(path).rglob("*") if p.is_file())
    return files


def _run_reloader(extra_files: list[str], exclude_patterns: list[str], interval: float) -> None:
    """Run the same command in a child process; restart it when a source file changes."""
    command = list(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    environment = {**os.environ, _CHILD_FLAG: "1"}
    signal.signal(signal.SIGTERM, _interrupt)  # a terminated reloader takes its child along
    while True:
        snapshot = _mtimes(_watched_files(extra_files, exclude_patterns))
        child = subprocess.Popen(command, env=environment)
        try:
            while _mtimes(snapshot) == snapshot:  # a crashed child also waits for a fix
                time.sleep(interval)
        except KeyboardInterrupt:
            _stop(child)
            return
        print(" * dash-ws: a source file changed, restarting", flush=True)
        _stop(child)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _watched_files(extra_files: Iterable[str], exclude_patterns: Iterable[str] = ()) -> list[str]:
    files = [
        module.__file__
        for module in list(sys.modules.values())
        if getattr(module, "__file__", None) and module.__file__.endswith(".py")
    ]
    files.extend(extra_files)
    patterns = list(exclude_patterns)
    return [name for name in files if not any(fnmatch.fnmatch(name, p) for p in patterns)]


def _mtimes(files: Iterable[str]) -> dict[str, float]:
    times = {}
    for name in files:
        try:
            times[name] = os.stat(name).st_mtime
        except OSError:
            times[name] = -1.0
    return times


def _stop(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
