"""Run Plotly Dash's own integration tests against dash-ws.

Dash's browser tests (``tests/integration/...`` in a Dash checkout) exercise
callbacks, pattern-matching ids, the renderer and multi-page apps through
``dash_duo``. Running them with every app built as
``dash_ws.Dash(..., websocket_callbacks=True)`` checks that callbacks sent over
the socket answer exactly as Dash's HTTP callbacks do. Running them unchanged
("plain" mode) on the same machine gives the baseline to compare with.

Usage (with an interpreter that has the checkout's Dash release installed
from PyPI with ``dash[testing]``, dash-ws, and a chromedriver on PATH)::

    python scripts/dash_suite.py /path/to/dash [--mode plain|dash-ws]
        [--backend flask|fastapi] [--suite callbacks ...] [-- extra pytest args]

The Dash checkout supplies the tests only: its version must match the
installed ``dash`` (the checkout's ``dash/`` folder holds no built renderer,
so it must never be imported; see ``build_command``).

This file is also the pytest plugin (``-p dash_suite``) that the run loads:
it swaps ``dash.Dash`` before the test modules import it, points Selenium at
the local Chromium, gives each test's server a free port, and prints a
per-file table at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

SUITES = {
    "callbacks": "tests/integration/callbacks",
    "multi_page": "tests/integration/multi_page",
    "renderer": "tests/integration/renderer",
}
OUTCOMES = ("passed", "failed", "errors", "skipped")


# ---------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our options, and whatever follows ``--`` for pytest."""
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="a Dash source checkout")
    parser.add_argument("--mode", choices=("plain", "dash-ws"), default="dash-ws")
    parser.add_argument("--backend", choices=("flask", "fastapi"), default="flask")
    parser.add_argument(
        "--suite",
        nargs="+",
        default=["callbacks"],
        help=f"{', '.join(SUITES)}, or a path inside the checkout (default: callbacks)",
    )
    return parser.parse_args(argv), extra


def build_command(args: argparse.Namespace, extra: list[str]) -> list[str]:
    """pytest through its console script, never ``python -m pytest``.

    ``-m`` puts the working directory (the checkout) first on ``sys.path``, and
    the checkout's unbuilt ``dash/`` package would then shadow the installed
    release when pytest loads Dash's plugin.
    """
    script = Path(sys.executable).with_name("pytest")
    if not script.exists():
        sys.exit(f"no pytest beside {sys.executable}: install dash[testing] in this environment")
    paths = [SUITES.get(suite, suite) for suite in args.suite]
    # dash-ws registers a pytest plugin of its own (dash_duo stops its apps
    # gracefully); the plain baseline runs without any of dash-ws.
    plain = ["-p", "no:dash_ws"] if args.mode == "plain" else []
    return [
        str(script),
        "-p",
        "dash_suite",
        *plain,
        f"--dash-suite-mode={args.mode}",
        f"--dash-suite-backend={args.backend}",
        "--headless",
        "--nopercyfinalize",
        "--disable-warnings",
        "-rfEsxX",  # Dash's pytest.ini asks for -rsxX: name the failures and errors too
        *paths,
        *extra,
    ]


def main(argv: list[str]) -> int:
    args, extra = parse_args(argv)
    checkout = args.checkout.resolve()
    if not (checkout / "tests" / "integration").is_dir():
        sys.exit(f"{checkout} is not a Dash checkout (no tests/integration)")
    env = dict(os.environ)
    # The plugin is this file: make it importable by name in the pytest process.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path(__file__).resolve().parent), env.get("PYTHONPATH")) if p
    )
    command = build_command(args, extra)
    print("+", " ".join(command), f"(in {checkout})", flush=True)
    started = time.monotonic()
    code = subprocess.call(command, cwd=checkout, env=env)
    print(
        f"dash_suite: {args.mode} on {args.backend}, {time.monotonic() - started:.0f}s, "
        f"pytest exit code {code}"
    )
    return code


# ---------------------------------------------------------------------------
# The pytest plugin
# ---------------------------------------------------------------------------


def pytest_addoption(parser):
    group = parser.getgroup("dash_suite", "Dash's tests against dash-ws")
    group.addoption("--dash-suite-mode", choices=("plain", "dash-ws"), default="plain")
    group.addoption("--dash-suite-backend", choices=("flask", "fastapi"), default="flask")


def pytest_report_header(config):
    """Which Dash and dash-ws ran: the checkout's tests need the matching Dash release."""
    import dash

    lines = [f"dash {dash.__version__} from {Path(dash.__file__).parent}"]
    if config.getoption("dash_suite_mode") == "dash-ws":
        import dash_ws

        lines.append(f"dash-ws {dash_ws.__version__} from {Path(dash_ws.__file__).parent}")
    return lines


def pytest_configure(config):
    """Swap ``dash.Dash`` before any test module runs ``from dash import Dash``."""
    mode = config.getoption("dash_suite_mode")
    backend = config.getoption("dash_suite_backend")
    config.pluginmanager.register(FileTable(mode, backend), "dash_suite_table")
    if mode == "plain" and backend == "flask":
        return
    import dash
    import dash.dash

    base = dash.Dash
    if mode == "dash-ws":
        import dash_ws

        base = dash_ws.Dash

    class SuiteDash(base):
        """The app every test builds: dash-ws with all callbacks over the socket,
        and/or the chosen backend when the test gives no server of its own."""

        def __init__(self, *args, **kwargs):
            if mode == "dash-ws":
                kwargs["websocket_callbacks"] = True
            if backend != "flask" and kwargs.get("server", True) is True:
                kwargs.setdefault("backend", backend)
            super().__init__(*args, **kwargs)

    SuiteDash.__name__ = SuiteDash.__qualname__ = "Dash"
    dash.Dash = dash.dash.Dash = SuiteDash


def pytest_runtest_setup(item):
    """Serve each test's app on a port the OS has free, not Dash's fixed 58050, 58051, ...

    Two runs at once on one machine (two backends, two people) would otherwise
    serve their apps on the same ports, and a browser could load the other
    run's app.
    """
    from dash.testing.application_runners import BaseDashRunner

    with socket.socket() as probe:
        probe.bind(("", 0))
        BaseDashRunner._next_port = probe.getsockname()[1]


def pytest_setup_options():
    """Chrome options for ``dash_duo``: the local Chromium binary, headless, no sandbox.

    ``DASH_TEST_CHROMEPATH`` (Dash's own variable) wins over ``chromium`` on PATH.
    """
    from selenium.webdriver.chrome.options import Options

    options = Options()
    binary = os.environ.get("DASH_TEST_CHROMEPATH") or shutil.which("chromium")
    if binary:
        options.binary_location = binary
    for flag in ("--headless", "--no-sandbox", "--disable-gpu"):
        options.add_argument(flag)
    return options


class FileTable:
    """Counts each test's final outcome by file and prints the table at the end.

    A test is counted once, by its last report: a rerun (``flaky``) replaces
    the attempt before it; a failure in setup or teardown is an error, as in
    pytest's own summary; a file that fails to import is one error.
    """

    def __init__(self, mode: str, backend: str):
        self.title = f"{mode} mode on {backend}"
        self.outcomes: dict[str, str] = {}
        self.started = time.monotonic()

    def pytest_collectreport(self, report):
        if report.failed:
            self.outcomes[report.nodeid] = "errors"

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or report.outcome != "passed":
            if report.when != "call" and report.failed:
                outcome = "errors"
            elif report.skipped:
                outcome = "skipped"
            else:
                outcome = report.outcome
            # A teardown error keeps the test's failure, if it had one.
            if not (outcome == "errors" and self.outcomes.get(report.nodeid) == "failed"):
                self.outcomes[report.nodeid] = outcome
        elif report.when == "setup":
            self.outcomes.pop(report.nodeid, None)  # a rerun starts afresh

    def pytest_terminal_summary(self, terminalreporter):
        table: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
        for nodeid, outcome in self.outcomes.items():
            table[nodeid.split("::")[0]][outcome] += 1
        width = max([len(name) for name in table] + [5])
        write = terminalreporter.write_line
        terminalreporter.section(f"dash_suite: {self.title}")
        write(f"{'file':<{width}}  " + "  ".join(f"{o:>7}" for o in OUTCOMES))
        totals = dict.fromkeys(OUTCOMES, 0)
        for name in sorted(table):
            counts = table[name]
            write(f"{name:<{width}}  " + "  ".join(f"{counts[o]:>7}" for o in OUTCOMES))
            for o in OUTCOMES:
                totals[o] += counts[o]
        write(f"{'total':<{width}}  " + "  ".join(f"{totals[o]:>7}" for o in OUTCOMES))
        write(f"{time.monotonic() - self.started:.0f}s")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
