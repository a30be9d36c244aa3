"""``app.run()``'s serving defaults: debug off unless asked, Werkzeug options, uvicorn limits."""

from __future__ import annotations

import inspect
import json
import os
import queue
import re
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest
import uvicorn
from dash import Input, Output, html

import dash_ws
from dash_ws import serve as serving
from dash_ws.parts import MAX_PART_FRAME_BYTES
from dash_ws.serve import served_in_thread
from dash_ws.testing import connect

try:
    import resource
except ImportError:  # Windows
    resource = None

APP_SOURCE = textwrap.dedent(
    """
    import json
    import os

    from dash import html

    import dash_ws

    app = dash_ws.Dash(__name__)
    app.layout = html.Div("served", id="served")


    @app.server.route("/_serving-test/pid")
    def serving_pid():
        return str(os.getpid())


    if __name__ == "__main__":
        app.run(port=int(os.environ["TEST_PORT"]), **json.loads(os.environ["TEST_RUN_KWARGS"]))
    """
)

STARTUP_SECONDS = 60  # a loaded machine may take this long to import Dash and bind


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Served:
    """A subprocess running ``app.run()`` and the lines it has printed."""

    def __init__(self, process: subprocess.Popen, port: int) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for_line(self, pattern: str, timeout: float = STARTUP_SECONDS) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.output.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r}; output:\n{''.join(self.output)}")


@contextmanager
def served(
    tmp_path: Path, env: dict[str, str] | None = None, preexec_fn=None, **run_kwargs
) -> Iterator[Served]:
    """``app.run(**run_kwargs)`` on 127.0.0.1, in its own process group, killed at the end."""
    script = tmp_path / "served_app.py"
    script.write_text(APP_SOURCE)
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if key != "DASH_DEBUG"}
    environment.update(
        TEST_PORT=str(port),
        TEST_RUN_KWARGS=json.dumps({"host": "127.0.0.1", "log_level": "info", **run_kwargs}),
        PYTHONUNBUFFERED="1",
        **(env or {}),
    )
    process = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the reloader's child goes in the same group
        preexec_fn=preexec_fn,
    )
    try:
        server = Served(process, port)
        server.wait_for_line(r"Application startup complete")
        yield server
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def dash_config(page: str) -> dict:
    raw = re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>', page, re.S)
    return json.loads(raw.group(1))


# ------------------------------------------------------------------ debug off by default


def test_run_without_debug_serves_no_dev_tools_and_starts_no_reloader(tmp_path):
    with served(tmp_path) as server:
        page = httpx.get(server.url + "/", timeout=30)
        pid = httpx.get(server.url + "/_serving-test/pid", timeout=30).text
    assert page.status_code == 200
    config = dash_config(page.text)
    assert config["ui"] is False, "dev tools UI (tracebacks in the browser) is off"
    assert "hot_reload" not in config
    assert int(pid) == server.process.pid, "the process we started serves: no reloader child"


def test_dash_debug_environment_variable_turns_debug_on(tmp_path):
    with served(tmp_path, env={"DASH_DEBUG": "true"}) as server:
        page = httpx.get(server.url + "/", timeout=30)
        pid = httpx.get(server.url + "/_serving-test/pid", timeout=30).text
    config = dash_config(page.text)
    assert config["ui"] is True and "hot_reload" in config
    assert int(pid) != server.process.pid, "a reloader child serves"


# ------------------------------------------------------------------ options and limits


@pytest.fixture
def uvicorn_run(monkeypatch):
    """Capture what app.run passes to uvicorn instead of serving."""
    calls = []
    monkeypatch.setattr(
        serving, "run_server", lambda app, **options: calls.append((app.asgi, options))
    )

    def no_reloader(*args, **kwargs):
        raise AssertionError("app.run() started the reloader without debug")

    monkeypatch.setattr(serving, "_run_reloader", no_reloader)
    monkeypatch.delenv("DASH_DEBUG", raising=False)
    return calls


@pytest.fixture
def soft_open_file_limit_restored():
    if resource is None:
        pytest.skip("no RLIMIT_NOFILE on this platform")
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield before
    resource.setrlimit(resource.RLIMIT_NOFILE, before)


def test_werkzeug_options_are_dropped_or_translated_for_uvicorn(uvicorn_run, tmp_path):
    app = dash_ws.Dash(__name__)
    app.layout = html.Div()
    with pytest.warns(UserWarning) as warned:
        app.run(
            port=8050,
            debug=False,  # the default is tested in a real process above
            threaded=True,  # what Dash's test runner passes for a Flask app
            processes=1,
            use_debugger=False,
            use_evalex=False,
            passthrough_errors=True,
            extra_files=[str(tmp_path / "watched.txt")],
            exclude_patterns=["*.tmp"],
            reloader_interval=1,
            reloader_type="stat",
            load_dotenv=False,
            request_handler=None,
            static_files=None,
            ssl_context=("cert.pem", "key.pem"),
            dev_tools_disable_version_check=True,
            hide_all_callbacks=True,
            jupyter_mode="external",
        )
    ours = [str(w.message) for w in warned if str(w.message).startswith("app.run:")]
    assert len(ours) == 1 and ours[0].startswith(
        "app.run: ignoring passthrough_errors=True, jupyter_mode='external':"
    ), "one warning names exactly the options asking for what uvicorn does not do"
    [(asgi, options)] = uvicorn_run
    assert asgi is app.asgi
    werkzeug_only = {
        "threaded",
        "processes",
        "use_debugger",
        "use_evalex",
        "passthrough_errors",
        "extra_files",
        "exclude_patterns",
        "reloader_interval",
        "reloader_type",
        "load_dotenv",
        "request_handler",
        "static_files",
        "ssl_context",
        "jupyter_mode",
        "hide_all_callbacks",
    }
    assert not werkzeug_only & set(options)
    assert options["ssl_certfile"] == "cert.pem" and options["ssl_keyfile"] == "key.pem"
    if "hide_all_callbacks" in app.config:  # a setting of Dash 3.1+
        assert app.config.hide_all_callbacks is True


def test_an_ssl_context_uvicorn_cannot_take_is_refused_not_dropped(uvicorn_run):
    app = dash_ws.Dash(__name__)
    app.layout = html.Div()
    with pytest.raises(ValueError, match="ssl_context"):
        app.run(port=8050, debug=False, ssl_context="adhoc")
    assert not uvicorn_run, "never serves plain HTTP where TLS was asked for"


def test_an_ssl_context_object_is_used_as_it_is(uvicorn_run):
    if "ssl_context_factory" not in inspect.signature(uvicorn.Config).parameters:
        pytest.skip("this uvicorn takes no ssl_context_factory")
    app = dash_ws.Dash(__name__)
    app.layout = html.Div()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    app.run(port=8050, debug=False, ssl_context=context)
    [(_, options)] = uvicorn_run
    assert "ssl_context" not in options
    assert options["ssl_context_factory"](None, None) is context


def test_run_passes_limits_sized_for_the_process(uvicorn_run, soft_open_file_limit_restored):
    _, hard = soft_open_file_limit_restored
    if hard != resource.RLIM_INFINITY and hard <= 1024:
        pytest.skip("the hard open-file limit leaves nothing to raise")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    app = dash_ws.Dash(__name__, websocket_max_message_bytes=24 * 1024 * 1024)
    app.layout = html.Div()
    app.run(port=8050, debug=False)
    [(_, options)] = uvicorn_run
    soft_now, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft_now > 1024, "the soft open-file limit is raised toward the hard one"
    assert 0 < options["limit_concurrency"] < soft_now
    # the browser client's largest frame, a part of a long message, fits; a whole 24 MiB
    # message does not need to
    assert MAX_PART_FRAME_BYTES < options["ws_max_size"] < 24 * 1024 * 1024
    assert options["timeout_keep_alive"] > 0
    assert options["h11_max_incomplete_event_size"] > 0


def test_options_passed_to_run_win_over_the_limits(uvicorn_run):
    app = dash_ws.Dash(__name__)
    app.layout = html.Div()
    app.run(port=8050, debug=False, limit_concurrency=7, ws_max_size=1234, timeout_keep_alive=1)
    [(_, options)] = uvicorn_run
    assert options["limit_concurrency"] == 7
    assert options["ws_max_size"] == 1234
    assert options["timeout_keep_alive"] == 1


# ------------------------------------------------------------------ half-sent request heads

HALF_OPEN = 1100
SERVER_SOFT_LIMIT = 1024


def test_half_sent_request_heads_do_not_lock_out_new_clients(tmp_path):
    """1,100 connections that never finish their request head, under a soft limit of 1,024 files.

    The page must still answer. Without the raised open-file limit, accept() fails
    with EMFILE and the GET waits in the backlog until the client gives up.
    """
    if resource is None:
        pytest.skip("no RLIMIT_NOFILE on this platform")
    own_limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    hard = own_limits[1]
    if hard != resource.RLIM_INFINITY and hard < 2 * HALF_OPEN + 200:
        pytest.skip(f"the hard open-file limit ({hard}) is too low for this test")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # this process opens 1,100 sockets

    def low_soft_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (SERVER_SOFT_LIMIT, hard))

    half_open: list[socket.socket] = []
    try:
        with served(tmp_path, preexec_fn=low_soft_limit, debug=False) as server:
            for _ in range(HALF_OPEN):
                connection = socket.create_connection(("127.0.0.1", server.port), timeout=30)
                half_open.append(connection)
                connection.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line
            page = httpx.get(server.url + "/", timeout=30)
            assert page.status_code == 200
    finally:
        for connection in half_open:
            connection.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, own_limits)


# ------------------------------------------------------------------ served again


def socket_app() -> dash_ws.Dash:
    app = dash_ws.Dash(__name__, websocket_callbacks=True)
    app.layout = html.Div([html.Button(id="go"), html.Div(id="out")])

    @app.callback(Output("out", "children"), Input("go", "n_clicks"))
    def carrier(n_clicks):
        return "socket" if dash_ws.ctx.websocket is not None else "http"

    return app


async def answered_over_the_socket(app: dash_ws.Dash, url: str) -> bool:
    socket_url = url.replace("http://", "ws://") + "/_dash-ws/socket"
    async with connect(socket_url, app, origin=url) as page:
        result = await page.call("out.children", inputs=[1])
    return result.status == 200 and result.outputs == {"out": {"children": "socket"}}


async def test_an_app_served_stopped_and_served_again_keeps_its_socket():
    app = socket_app()
    for _ in range(2):
        with served_in_thread(app) as url:
            assert await answered_over_the_socket(app, url)
        assert "asgi" not in app.__dict__, "the stopped server's ASGI app is let go"


async def test_a_failed_bind_leaves_the_app_ready_for_the_next_port(tmp_path):
    app = socket_app()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            app.run(port=taken.getsockname()[1], debug=False)
    with served_in_thread(app) as url:
        assert await answered_over_the_socket(app, url)
