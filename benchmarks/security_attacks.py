#!/usr/bin/env python3
"""Attacks on a running dash-ws server, measured: what a hostile page can do to it.

    .venv/bin/python benchmarks/security_attacks.py                    # all, about 1.5 minutes
    .venv/bin/python benchmarks/security_attacks.py --attack takeover  # one
    PYTHONPATH=/path/to/other/src .venv/bin/python benchmarks/...      # another dash-ws

Each attack gets a fresh server: one uvicorn worker on 127.0.0.1 (started by
``run.Server``, as ``run.py`` starts its servers) serving the small app
built below (Flask backend, ``dash_ws.Dash(websocket_callbacks=True)``).
Pages are ``dash_ws.testing.connect`` pages over real sockets; this file
never speaks the wire protocol itself, so the same script measures any
version of dash-ws whose test client has ``connect``, ``call_raw``,
``send_call``, ``ready`` and ``session_id``. Call bodies are built as
``PageClient.request_body`` builds them. The server inherits this process's
environment, so ``PYTHONPATH`` picks the dash-ws under test for both.

The figures, and why each matters:

1. memory: one page parks 128 calls of ~4 MiB each on a callback that
   waits. Server RSS growth is what one page can make the process hold; the
   count answered at once with an error status is how many the server
   refused instead of holding; a second page's trivial-call latency is what
   everyone else pays meanwhile.
2a. sync-hold: one page occupies all 16 sync-callback threads (a sync
   callback blocked 30 s, as ``get_prop_sync`` is when the page never
   answers). Another page's trivial sync call, and a new page opening its
   socket (the app's ``before_request`` check runs in the same pool), show
   whether one page can stall the whole server.
2b. sync-flood: 8 pages x 512 calls to a 100 ms sync callback: 410 s of
   work for 16 threads. Another page's trivial sync call shows whether the
   queue is fair or first-come-first-served.
3. takeover: a second page, with another user's cookie, names the victim's
   session id in the socket URL (how the old protocol resumes). If it
   resumes, it receives the victim's updates and the victim loses its page.
4. headers: behind an authenticating proxy that sets ``X-Forwarded-User``
   on the upgrade, a page adds ``X-Forwarded-User: admin`` to a call's
   headers. What the callback sees is who the app thinks is calling.
5. close-reason: a refused page whose reason is over the 123 bytes a close
   frame can carry (a long Origin). Whether the page gets the refusal code,
   or a broken connection it will retry forever.
6. error-leak: with debug off, a callback raises an exception holding a
   secret. Whether its text reaches the page.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode

from run import SIDES, Server, free_port, log

SECRET = "db password=hunter2 host=10.0.0.5"
PENDING_CALLS = 128
# Just under dash-ws's default 4 MiB message limit, envelope included, so that
# a server with that limit takes every call instead of refusing it as too big.
VALUE_CHARS = 4 * 1024 * 1024 - 4096
SYNC_WORKERS = 16  # dash_ws.Dash's default websocket_max_workers
HOLD_SECONDS = 30.0
FLOOD_PAGES, FLOOD_CALLS = 8, 512

SIDES["attacks"] = dict(label="dash-ws attack app", target="security_attacks:app.asgi")
SIDES["attacks-proxied"] = dict(
    label="dash-ws attack app behind a proxy", target="security_attacks:proxied_app.asgi"
)


# ----------------------------------------------------------------------- the app


def build_app(proxied: bool = False):
    """The served app. ``proxied``: every route but the index (the readiness
    probe's) requires ``X-Forwarded-User``, as behind an authenticating proxy."""
    import threading

    import flask
    from dash import Input, Output, dcc, html

    from dash_ws import Dash, set_props

    app = Dash(__name__, websocket_callbacks=True)
    buttons = ["ping-async", "ping-sync", "hold-sync", "sleep-sync", "whoami", "header", "fail"]
    app.layout = html.Div(
        [dcc.Input(id="big"), html.Div(id="hold-async"), html.Div(id="private")]
        + [html.Button(id=f"{name}-btn") for name in buttons]
        + [html.Div(id=name) for name in buttons]
    )

    @app.callback(Output("hold-async", "children"), Input("big", "value"))
    async def hold_async(value):
        await asyncio.sleep(60)
        return len(value)

    @app.callback(Output("ping-async", "children"), Input("ping-async-btn", "n_clicks"))
    async def ping_async(n_clicks):
        return n_clicks

    @app.callback(Output("ping-sync", "children"), Input("ping-sync-btn", "n_clicks"))
    def ping_sync(n_clicks):
        return n_clicks

    @app.callback(Output("hold-sync", "children"), Input("hold-sync-btn", "n_clicks"))
    def hold_sync(n_clicks):
        # Holds a pool thread as ctx.websocket.get_prop_sync(..., timeout=30) does
        # when the page never answers (the test client always answers reads).
        threading.Event().wait(HOLD_SECONDS)
        return n_clicks

    @app.callback(Output("sleep-sync", "children"), Input("sleep-sync-btn", "n_clicks"))
    def sleep_sync(n_clicks):
        time.sleep(0.1)
        return n_clicks

    @app.callback(Output("whoami", "children"), Input("whoami-btn", "n_clicks"))
    def whoami(n_clicks):
        user = flask.request.cookies.get("user")
        set_props("private", {"children": f"private data of {user}"})
        return user

    @app.callback(Output("header", "children"), Input("header-btn", "n_clicks"))
    def header(n_clicks):
        return flask.request.headers.get("X-Forwarded-User")

    @app.callback(Output("fail", "children"), Input("fail-btn", "n_clicks"))
    def fail(n_clicks):
        raise RuntimeError(SECRET)

    @app.callback(persistent=True)
    async def leaky():
        raise RuntimeError(SECRET)

    if proxied:

        @app.server.before_request
        def require_proxy_user():
            if flask.request.path != "/" and not flask.request.headers.get("X-Forwarded-User"):
                return "no X-Forwarded-User", 401
            return None

    return app


def __getattr__(name: str) -> Any:
    """``app`` and ``proxied_app``, built on first use: only the server process builds one."""
    if name in ("app", "proxied_app"):
        built = globals()[name] = build_app(proxied=name == "proxied_app")
        return built
    raise AttributeError(name)


# ----------------------------------------------------------------------- pages


def call_body(output: str, *inputs: tuple[Any, str, Any]) -> dict:
    """A ``_dash-update-component`` body, as ``PageClient.request_body`` builds it;
    ``inputs`` are ``(component_id, prop, value)``, the first one triggered."""
    from dash._utils import split_callback_id

    dependencies = [{"id": c, "property": p, "value": v} for c, p, v in inputs]
    return {
        "output": output,
        "outputs": split_callback_id(output),
        "inputs": dependencies,
        "changedPropIds": [f"{c}.{p}" for c, p, _ in inputs[:1]],
        "state": [],
    }


def click(name: str) -> dict:
    return call_body(f"{name}.children", (f"{name}-btn", "n_clicks", 1))


def connect(url: str, query: dict | None = None, **options: Any):
    from dash_ws.testing import connect as test_connect

    return test_connect(f"{url}?{urlencode(query)}" if query else url, **options)


async def latencies(
    page, body: dict, count: int, bound: float, together: bool = False
) -> list[tuple[float | None, int | None]]:
    """``(seconds, status)`` of ``count`` calls, all within ``bound`` seconds from now;
    ``(None, None)`` for one not answered in time. ``together``: sent at once."""
    deadline = time.perf_counter() + bound

    async def one() -> tuple[float | None, int | None]:
        started = time.perf_counter()
        try:
            result = await page.call_raw(body, timeout=max(0.0, deadline - started))
        except Exception:  # timed out, or the socket ended
            return None, None
        return time.perf_counter() - started, result.status

    if together:
        return list(await asyncio.gather(*(one() for _ in range(count))))
    return [await one() for _ in range(count)]


def describe_latencies(samples: list[tuple[float | None, int | None]], bound: float) -> str:
    """Median (unanswered calls count as slowest), and how many were refused or unanswered."""
    seconds = [s if s is not None else float("inf") for s, _ in samples]
    median = statistics.median_high(seconds)
    text = f"> {bound:g} s" if median == float("inf") else duration(median)
    refused = [status for _, status in samples if status not in (None, 200)]
    unanswered = sum(1 for s, _ in samples if s is None)
    notes = []
    if refused:
        notes.append(f"{len(refused)} answered {statuses(refused)}")
    if unanswered and median != float("inf"):
        notes.append(f"{unanswered} unanswered in {bound:g} s")
    return text + (f" ({'; '.join(notes)})" if notes else "") + f", median of {len(samples)}"


def duration(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.1f} s"


def statuses(codes: list[int]) -> str:
    counts: dict[int, int] = {}
    for code in codes:
        counts[code] = counts.get(code, 0) + 1
    return ", ".join(f"HTTP {code} x{n}" for code, n in sorted(counts.items()))


def refused_now(answers: list[asyncio.Future]) -> list[int]:
    """Statuses of the calls already answered with something other than 200."""
    return [
        a.result().status
        for a in answers
        if a.done() and not a.cancelled() and a.exception() is None and a.result().status != 200
    ]


def outcome(page) -> str:
    return f"socket closed {page.closed.code}" if page.closed is not None else "socket open"


# ----------------------------------------------------------------------- attacks

Figures = list[tuple[str, str]]


async def attack_memory(server: Server, url: str) -> Figures:
    """128 pending ~4 MiB calls from one page: the memory one page can pin.

    A server that keeps every received call until its callback returns holds
    all of them; one that bounds a page's pending input refuses the excess
    (413/503) at once. Growth here scales with pages, so a few pages can
    exhaust the machine. The second page's latency shows the cost to others.
    """
    async with connect(url) as attacker, connect(url) as bystander:
        ping = click("ping-async")
        await bystander.call_raw(ping, timeout=10)
        await asyncio.sleep(1.0)
        rss_before = server.rss()
        errors_before = len(attacker.errors)
        body = call_body("hold-async.children", ("big", "value", "x" * VALUE_CHARS))
        answers = [attacker.send_call(body) for _ in range(PENDING_CALLS)]
        del body
        peak, settled = await watch_rss(server, quiet=4.0, cap=45.0)
        refused = refused_now(answers)
        failed = sum(1 for a in answers if a.done() and not a.cancelled() and a.exception())
        error_messages = len(attacker.errors) - errors_before
        samples = await latencies(bystander, ping, 20, bound=15.0)
        growth = f"+{(peak - rss_before) / 1024:.0f} MB (from {rss_before / 1024:.0f} MB)"
        if not settled:
            growth += ", still growing after 45 s"
        refused_text = f"{len(refused)}/{PENDING_CALLS}"
        if refused:
            refused_text += f" ({statuses(refused)})"
        extras = [f"{error_messages} error messages"] if error_messages else []
        if failed:
            extras.append(f"{failed} calls failed: {outcome(attacker)}")
        if extras:
            refused_text += "; " + "; ".join(extras)
        return [
            (f"server RSS growth, peak ({PENDING_CALLS} pending calls of 4 MiB)", growth),
            ("calls answered at once with an error status", refused_text),
            ("trivial async call on another page meanwhile", describe_latencies(samples, 15.0)),
        ]


async def attack_memory_meanwhile(server: Server, url: str) -> Figures:
    """The same 128 calls, sent by a page in another process while this one keeps calling.

    What other pages feel while the server takes the attack in: the frames
    are received, decoded and refused on the one event loop every page
    shares. The attacker runs in a process of its own so that building its
    4 MiB messages does not slow the measuring page down.
    """
    async with connect(url) as bystander:
        ping = click("ping-async")
        await bystander.call_raw(ping, timeout=10)
        rss_before = peak = server.rss()
        attacker = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--attacker", url, stdout=asyncio.subprocess.PIPE
        )
        finished = asyncio.ensure_future(attacker.stdout.readline())
        samples: list[float] = []
        try:
            while not finished.done() and len(samples) < 5000:
                started = time.perf_counter()
                await bystander.call_raw(ping, timeout=30)
                samples.append(time.perf_counter() - started)
                peak = max(peak, server.rss())
                await asyncio.sleep(0.02)
            report = (await finished).decode().strip()
        finally:
            if attacker.returncode is None:
                attacker.kill()
            await attacker.wait()
    samples.sort()
    spread = (
        f"p50 {duration(samples[len(samples) // 2])}, "
        f"p99 {duration(samples[int(len(samples) * 0.99)])}, max {duration(samples[-1])}"
    )
    return [
        (
            f"server RSS growth, peak ({PENDING_CALLS} calls from another process)",
            f"+{(peak - rss_before) / 1024:.0f} MB; attacker: {report}",
        ),
        (
            f"trivial async call on another page, every 20 ms during the attack ({len(samples)})",
            spread,
        ),
    ]


async def send_pending_calls(url: str) -> None:
    """The attacker of ``attack_memory_meanwhile``: prints what it got, once answered."""
    async with connect(url) as attacker:
        body = call_body("hold-async.children", ("big", "value", "x" * VALUE_CHARS))
        answers = [attacker.send_call(body) for _ in range(PENDING_CALLS)]
        deadline = time.monotonic() + 60
        while len(refused_now(answers)) < PENDING_CALLS // 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the calls the budget admits stay pending; the rest are in
        refused = refused_now(answers)
        print(f"{len(refused)}/{PENDING_CALLS} refused at once ({statuses(refused)})", flush=True)


async def watch_rss(server: Server, quiet: float, cap: float) -> tuple[int, bool]:
    """Peak RSS (kB) until it has not grown by 1 MB for ``quiet`` s; False if ``cap`` hit."""
    started = last_growth = time.monotonic()
    peak = server.rss()
    while time.monotonic() - last_growth < quiet:
        if time.monotonic() - started > cap:
            return peak, False
        await asyncio.sleep(0.2)
        rss = server.rss()
        if rss > peak + 1024:
            last_growth = time.monotonic()
        peak = max(peak, rss)
    return peak, True


async def attack_sync_hold(server: Server, url: str) -> Figures:
    """One page holds every sync-callback thread for 30 s.

    With one shared pool, another page's sync callbacks wait for the
    attacker's to end, and so does every new page, whose handshake check runs
    in the same pool: one page stalls the whole server.
    """
    bound = HOLD_SECONDS + 5
    async with connect(url) as attacker, connect(url) as bystander:
        ping = click("ping-sync")
        await bystander.call_raw(ping, timeout=10)
        held = [attacker.send_call(click("hold-sync")) for _ in range(SYNC_WORKERS)]
        await asyncio.sleep(1.0)  # the server starts them
        refused = refused_now(held)
        samples, opening = await asyncio.gather(
            latencies(bystander, ping, 10, bound=bound, together=True), open_page(url, bound)
        )
        return [
            (
                f"trivial sync call on another page, {SYNC_WORKERS} threads held",
                describe_latencies(samples, bound),
            ),
            ("a new page opening its socket (connect to hello)", opening),
            (
                "held calls answered at once with an error status",
                f"{len(refused)}/{SYNC_WORKERS}" + (f" ({statuses(refused)})" if refused else ""),
            ),
        ]


async def open_page(url: str, bound: float) -> str:
    """How long a new page takes to get its hello, or how it failed."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(bound):
            async with connect(url, open_timeout=bound) as page:
                took = time.perf_counter() - started
                if page.closed is not None:
                    return f"refused {page.closed.code} after {duration(took)}"
                return duration(took)
    except TimeoutError:
        return f"> {bound:g} s"
    except Exception as error:
        return f"failed after {duration(time.perf_counter() - started)}: {error!r:.80}"


async def attack_sync_flood(server: Server, url: str) -> Figures:
    """8 pages queue 512 x 100 ms sync calls each (410 s of work for 16 threads).

    A first-come-first-served pool makes everyone else's sync callbacks wait
    behind the whole backlog; a fair or bounded one answers them promptly.
    """
    bound = 20.0
    async with connect(url) as bystander:
        ping = click("ping-sync")
        await bystander.call_raw(ping, timeout=10)
        async with AsyncExitStack() as stack:
            pages = [await stack.enter_async_context(connect(url)) for _ in range(FLOOD_PAGES)]
            flood = [p.send_call(click("sleep-sync")) for p in pages for _ in range(FLOOD_CALLS)]
            await asyncio.sleep(1.0)
            samples = await latencies(bystander, ping, 10, bound=bound, together=True)
            refused = refused_now(flood)
        total = FLOOD_PAGES * FLOOD_CALLS
        return [
            (
                f"trivial sync call on another page, {FLOOD_PAGES} pages x {FLOOD_CALLS} "
                "calls of 100 ms queued",
                describe_latencies(samples, bound),
            ),
            (
                "flood calls answered with an error status (by the end)",
                f"{len(refused)}/{total}" + (f" ({statuses(refused)})" if refused else ""),
            ),
        ]


async def attack_takeover(server: Server, url: str) -> Figures:
    """Another user's page resumes the victim's session by naming its id.

    The session id travels in the URL the page opens (logs, proxies,
    Referer); if it alone resumes a session, whoever has it gets the victim's
    updates, results and pending reads, and the victim's page goes dead.
    """
    async with connect(url, additional_headers={"Cookie": "user=alice"}) as victim:
        await victim.call_raw(click("whoami"), timeout=10)
        session_id = getattr(victim, "session_id", None)
        if not session_id:
            return [("attacker resumed the victim's session", "not possible: no session id")]
        attempts = []
        for seen in range(6):
            query = {"session": session_id, "seen": str(seen)}
            try:
                async with connect(
                    url, query, additional_headers={"Cookie": "user=mallory"}
                ) as thief:
                    if thief.closed is not None:
                        attempts.append(f"refused {thief.closed.code}")
                        continue
                    if not thief.resumed:
                        attempts.append("new session")
                        continue
                    updates_before = len(thief.updates)
                    answered = await answered_within(victim, click("whoami"), 5.0)
                    await asyncio.sleep(0.5)
                    stolen = [u.props for u in thief.updates[updates_before:]]
                    return [
                        ("attacker resumed the victim's session", f"yes, with seen={seen}"),
                        ("victim's call answered after the takeover", answered),
                        ("attacker received the victim's updates", f"{stolen}"[:80] or "none"),
                    ]
            except Exception as error:
                attempts.append(f"failed: {error!r:.40}")
        answered = await answered_within(victim, click("whoami"), 5.0)
        tried = ", ".join(f"{attempts.count(a)} x {a}" for a in dict.fromkeys(attempts))
        return [
            ("attacker resumed the victim's session", "not possible: resume needs a secret"),
            ("what the 6 attempts (seen=0..5) got", tried),
            ("victim's call answered after the attempts", answered),
        ]


async def answered_within(page, body: dict, bound: float) -> str:
    try:
        result = await page.call_raw(body, timeout=bound)
    except TimeoutError:
        return f"no: nothing in {bound:g} s ({outcome(page)})"
    except Exception as error:
        return f"no: {error!r:.60}"
    return f"yes, HTTP {result.status}"


async def attack_headers(server: Server, url: str) -> Figures:
    """A call's own headers against the identity an authenticating proxy set.

    The proxy vouches for the upgrade request only; a header the page puts
    on a call must not override it, or any user can call as anyone.
    """
    bare = await open_page(url, 10.0)  # sanity: the proxy check is really on
    alice = {"X-Forwarded-User": "alice"}
    async with connect(url, additional_headers=alice) as page:
        honest = await page.call_raw(click("header"), timeout=10)
        forged = await page.call_raw(
            click("header"), headers={"X-Forwarded-User": "admin"}, timeout=10
        )
    return [
        ("page without X-Forwarded-User (check that the proxy rule is on)", bare),
        ("X-Forwarded-User seen by the callback, page as alice", header_seen(honest)),
        ("... when the call adds X-Forwarded-User: admin", header_seen(forged)),
    ]


def header_seen(result) -> str:
    if result.status != 200:
        return f"HTTP {result.status}: {result.body[:60]}"
    return repr(result.json["response"]["header"]["children"])


async def attack_close_reason(server: Server, url: str) -> Figures:
    """A refusal whose reason is longer than a close frame can carry (123 bytes).

    If the server builds the reason from the page's Origin, a long one makes
    the close fail: the page sees a dropped connection (1006) instead of the
    refusal code, and a browser client would keep reconnecting.
    """
    origin = "http://" + "a" * 200
    started = time.perf_counter()
    try:
        async with asyncio.timeout(15):
            async with connect(url, origin=origin) as page:
                if page.closed is None:
                    await page.wait_for(lambda p: p.closed is not None, timeout=10)
                code = f"{page.closed.code} (reason of {len(page.closed.reason)} chars)"
    except TimeoutError:
        code = f"no close in {time.perf_counter() - started:.0f} s"
    except Exception as error:
        code = f"error: {error!r:.80}"
    return [
        ("close code the page got, Origin of 207 chars", code),
        ("server raised an exception meanwhile", last_exception(server)),
    ]


def last_exception(server: Server) -> str:
    """The last exception line of the server's log, if it logged a traceback."""
    lines = Path(server.log.name).read_text(errors="replace").splitlines()
    if not any(line.startswith("Traceback") for line in lines):
        return "no"
    raised = [line for line in lines if line and not line.startswith((" ", "Traceback"))]
    return f"yes: {raised[-1]:.80}" if raised else "yes"


async def attack_error_leak(server: Server, url: str) -> Figures:
    """With debug off, an exception's text must stay in the server log.

    Exception messages carry connection strings, paths, user data; a page
    should learn that something failed, not what the server was holding.
    """
    async with connect(url) as page:
        await page.ready()  # starts persistent callbacks
        try:
            await page.wait_for(lambda p: p.errors, timeout=5)
        except TimeoutError:
            pass
        leaked = [e for e in page.errors if "hunter2" in e]
        if leaked:
            persistent = f"yes: ...{leaked[0][-70:]!r}"
        else:
            persistent = f"no ({len(page.errors)} error messages: {page.errors[:1]!r:.60})"
        result = await page.call_raw(click("fail"), timeout=10)
        event = "yes" if "hunter2" in result.body else "no"
    return [
        ("persistent callback's exception text reached the page", persistent),
        (
            f"event callback's exception text in its answer (HTTP {result.status})",
            event,
        ),
    ]


@dataclass(frozen=True)
class Attack:
    label: str
    run: Callable[[Server, str], Awaitable[Figures]]
    side: str = "attacks"
    cap: float = 60.0


ATTACKS = {
    "memory": Attack("1 memory, pending calls", attack_memory, cap=90.0),
    "memory-meanwhile": Attack("1b memory, meanwhile", attack_memory_meanwhile, cap=120.0),
    "sync-hold": Attack("2a sync pool, held", attack_sync_hold),
    "sync-flood": Attack("2b sync pool, flood", attack_sync_flood),
    "takeover": Attack("3 session takeover", attack_takeover),
    "headers": Attack("4 header forgery", attack_headers, side="attacks-proxied"),
    "close-reason": Attack("5 close reason > 123 B", attack_close_reason),
    "error-leak": Attack("6 error leak, debug off", attack_error_leak),
}


# ----------------------------------------------------------------------- running


def run_attack(name: str, args) -> list[tuple[str, str, str]]:
    """The attack on a fresh server, killed afterwards whatever happens."""
    attack = ATTACKS[name]
    log(f"{attack.label}")
    server = Server(
        attack.side,
        args.python,
        free_port(),
        args.stack,
        Path(args.logdir) / f"security-{name}.log",
        extra=() if args.deflate else ("--ws-per-message-deflate", "false"),
    )
    try:
        server.wait_ready()
        url = f"ws://127.0.0.1:{server.port}/_dash-ws/socket"

        async def bounded() -> Figures:
            async with asyncio.timeout(attack.cap):
                return await attack.run(server, url)

        figures = asyncio.run(bounded())
    except TimeoutError:
        figures = [("whole attack", f"did not finish within its {attack.cap:g} s cap")]
    except Exception as error:
        figures = [("could not run", f"{type(error).__name__}: {error}"[:120])]
    finally:
        server.stop()
    for figure, value in figures:
        log(f"  {figure}: {value}")
    return [(attack.label, figure, value) for figure, value in figures]


def table(rows: list[tuple[str, str, str]]) -> str:
    header = ("attack", "figure", "value")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(2)]
    lines = [
        f"{header[0]:<{widths[0]}}  {header[1]:<{widths[1]}}  {header[2]}",
        f"{'-' * widths[0]}  {'-' * widths[1]}  {'-' * 5}",
    ]
    lines += [f"{a:<{widths[0]}}  {f:<{widths[1]}}  {v}" for a, f, v in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attack", choices=list(ATTACKS), help="run only this one")
    parser.add_argument("--python", default=sys.executable, help="python for the server")
    parser.add_argument(
        "--stack",
        choices=("asyncio", "native"),
        default="asyncio",
        help="uvicorn stack, as run.py's --stack",
    )
    parser.add_argument("--logdir", default="/tmp", help="server logs go here")
    parser.add_argument(
        "--deflate",
        action="store_true",
        help="let pages compress their frames (uvicorn's default); app.run() turns it off",
    )
    parser.add_argument("--attacker", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attacker:
        asyncio.run(send_pending_calls(args.attacker))
        return

    import dash_ws

    started = time.time()
    rows: list[tuple[str, str, str]] = []
    for name in [args.attack] if args.attack else list(ATTACKS):
        rows += run_attack(name, args)
    print()
    print(
        f"dash-ws security attacks: dash_ws from {Path(dash_ws.__file__).parent}, "
        f"stack={args.stack}, permessage-deflate {'on' if args.deflate else 'off'}, "
        f"{time.time() - started:.0f} s"
    )
    print(table(rows))


if __name__ == "__main__":
    main()
