"""One page parking 128 calls of 4 MiB cannot take the server's memory; others go on meanwhile."""

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from dash_ws.session import SessionLimits
from dash_ws.testing import connect

from ..integration.compat import needs_async_callbacks

REPO = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
PROCESS_BUDGET = 256 * MiB  # websocket_call_bytes, the default
PAGE_BUDGET = SessionLimits().call_bytes  # websocket_page_call_bytes, the default
MARGIN = 64 * MiB
"""Beyond the budget: the app's own parse of the bodies it holds, as over HTTP, and the
frames being received and refused meanwhile."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def body(output: str, component: str, value: str) -> dict:
    return {
        "output": output,
        "outputs": {"id": output.split(".")[0], "property": "children"},
        "inputs": [{"id": component, "property": "title", "value": value}],
        "changedPropIds": [f"{component}.title"],
        "state": [],
    }


@needs_async_callbacks
async def test_128_pending_calls_of_4_mib_stay_within_the_process_budget():
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.security.apps.held_calls", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # bounded wait for the server to listen
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, "no server"
                await asyncio.sleep(0.1)
        url = f"ws://127.0.0.1:{port}/_dash-ws/socket"
        async with connect(url, max_size=None) as attacker, connect(url) as bystander:
            ping = body("ping.children", "ping", "p")
            assert (await bystander.call_raw(ping)).status == 200
            before = rss_bytes(server.pid)
            big = body("held.children", "big", "x" * (4 * MiB - 4096))
            calls = [attacker.send_call(big) for _ in range(128)]
            held = PAGE_BUDGET // len(json.dumps(big))  # the page's budget holds these
            peak = before
            answered = 0
            deadline = time.monotonic() + 900  # a loaded machine takes minutes to send 512 MiB
            while sum(call.done() for call in calls) < 128 - held:  # the budget refuses the rest
                assert time.monotonic() < deadline, "the calls past the budget were not refused"
                assert (await bystander.call_raw(ping, timeout=60)).status == 200
                answered += 1
                peak = max(peak, rss_bytes(server.pid))
            refused = [call.result().status for call in calls if call.done()]
            assert refused == [413] * (128 - held)
            assert not any(call.done() for call in calls[:held])
            peak = max(peak, rss_bytes(server.pid))
        assert answered > 0
        assert peak - before < PROCESS_BUDGET + MARGIN, f"+{(peak - before) // MiB} MiB"
    finally:
        server.kill()
        server.wait()
