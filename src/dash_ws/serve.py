"""``app.run()``: uvicorn for HTTP and sockets, Dash's dev tools, restart on code change."""

from __future__ import annotations

import inspect
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from . import dash_adapter

if TYPE_CHECKING:
    from .app import Dash

logger = logging.getLogger("dash_ws")

_CHILD_FLAG = "DASH_WS_RELOADER_CHILD"


def serve(
    app: Dash, host: str | None, port: int | str | None, debug: bool | None, **options: Any
) -> None:
    """Serve ``app.asgi`` in this process, or under the reloader when debugging."""
    dev_tool_names = set(inspect.signature(app.enable_dev_tools).parameters) - {
        "debug",
        "first_run",
    }
    dev_tools = {name: options.pop(name) for name in list(options) if name in dev_tool_names}
    debug = app.enable_dev_tools(debug, **dev_tools)
    host = host or os.getenv("HOST", "127.0.0.1")
    port = int(port or os.getenv("PORT", "8050"))
    use_reloader = options.pop("use_reloader", debug and app._dev_tools.hot_reload)
    for flask_only in ("threaded", "processes", "ssl_context", "extra_files", "load_dotenv"):
        options.pop(flask_only, None)
    if dash_adapter.backend_name(app) == "flask":
        app.server.debug = bool(debug)

    if use_reloader and not os.environ.get(_CHILD_FLAG):
        _run_reloader(app, interval=app._dev_tools.hot_reload_watch_interval)
        return
    print(
        f"Dash is running on http://{host}:{port}{app.config.requests_pathname_prefix}", flush=True
    )
    uvicorn.run(
        app.asgi,
        host=host,
        port=port,
        log_level=options.pop("log_level", "info" if debug else "warning"),
        **options,
    )


def _run_reloader(app: Dash, interval: float) -> None:
    """Run the same command in a child process; restart it when a source file changes."""
    command = list(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    environment = {**os.environ, _CHILD_FLAG: "1"}
    extra_paths = list(app.config.get("extra_hot_reload_paths") or [])
    signal.signal(signal.SIGTERM, _interrupt)  # a terminated reloader takes its child along
    while True:
        snapshot = _mtimes(_watched_files(extra_paths))
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


def _watched_files(extra_paths: Iterable[str]) -> list[str]:
    files = [
        module.__file__
        for module in list(sys.modules.values())
        if getattr(module, "__file__", None) and module.__file__.endswith(".py")
    ]
    for path in extra_paths:
        files.extend(str(p) for p in Path(path).rglob("*") if p.is_file())
    return files


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
