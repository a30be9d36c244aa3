"""Runs the browser client's JavaScript unit tests (tests/js) under Node.

They load src/dash_ws/static/dash_ws.js into a vm context with a fake clock,
fake WebSockets and a fake page, through Node's built-in test runner; no npm
package is needed, only ``node`` (18 or newer) on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JS_TESTS = ROOT / "tests" / "js"
NODE = shutil.which("node")


@pytest.mark.skipif(
    NODE is None,
    reason="node is not on PATH: the browser client's JavaScript tests (tests/js) need Node >= 18",
)
def test_the_browser_client_passes_its_javascript_tests():
    # The files, not the directory: Node 21+ takes globs where Node 20 took directories.
    files = sorted(str(path) for path in JS_TESTS.glob("*.test.js"))
    assert files, f"no *.test.js in {JS_TESTS}"
    env = {key: value for key, value in os.environ.items() if key != "DASH_WS_CLIENT"}
    result = subprocess.run(
        [NODE, "--test", *files],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        pytest.fail(
            f"node --test tests/js failed (exit {result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}",
            pytrace=False,
        )
