"""Repro: pages whose connection drops keep their persistent callbacks running.

A dropped socket (no close frame: network loss, a killed browser, a proxy
restart) leaves the page's session attached to nothing for
``websocket_resume_grace`` (30 s by default), and its persistent callbacks go
on producing into the outbox. Prints the server's live sessions and CPU use
each second after N streaming pages drop at once.

    cd benchmarks
    ../.venv/bin/python -m uvicorn app_dashws:app.asgi --port 8702 --log-level warning &
    /tmp/bench-client-venv/bin/python repro_dropped_pages.py 8702 1000 <server pid>
"""

import asyncio
import json
import sys
import time
import urllib.request

import loadclient as lc


def stats(port):
    return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/_bench/stats").read())


def cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


async def main(port, count, pid):
    adapter = lc.DashWsAdapter(f"http://127.0.0.1:{port}")
    conns, _ = await lc.open_many(adapter, "127.0.0.1", port, count)
    for conn in conns:
        conn.start_reading()
        await conn.ws.send('{"type":"ready"}')
    await asyncio.sleep(3)
    print(f"{len(conns)} pages streaming; sessions: {stats(port)['watched']['PageSession']}")
    for conn in conns:  # drop: no close frame, as when the network goes away
        conn.ws.transport.abort()
    dropped = time.time()
    for _ in range(40):
        before = cpu(pid)
        await asyncio.sleep(1)
        live = stats(port)["watched"]["PageSession"]
        print(
            f"+{time.time() - dropped:4.0f} s after the drop: {live} sessions, "
            f"server CPU {100 * (cpu(pid) - before):.0f} %"
        )
        if not live:
            break


asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
