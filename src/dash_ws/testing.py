"""A test client for dash-ws apps: open a page's socket, fire callbacks, watch props arrive.

``TestClient(app).page()`` opens a socket to the real app in-process (no
server, no browser); ``connect(url)`` does the same over the network to a
running server. Both give a ``PageClient`` that speaks the browser client's
protocol, answers the server's ``get_prop`` requests from ``page.props`` (the
values the simulated page holds) and records every streamed update::

    async with TestClient(app).page() as page:
        page.props["name-input", "value"] = "Ada"
        result = await page.call("greeting-output.children", inputs=[1])
        assert result.outputs == {"greeting-output": {"children": "Hello, Ada!"}}
        assert page.updates[0].props == {"children": "Processing for Ada..."}
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from itertools import count
from typing import Any, Callable, Protocol
from urllib.parse import urlencode

from . import dash_adapter, protocol
from .app import Dash
from .parts import split_into_parts


class ConnectionRefused(Exception):
    """The server closed the socket instead of serving it."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"socket refused with {code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Update:
    """One streamed ``set_props`` as the page received it."""

    component: Any
    props: dict


@dataclass(frozen=True)
class CallResult:
    """The answer to a callback, as the renderer would receive it over HTTP."""

    status: int
    content_type: str
    body: str
    cookies: str | None = None
    """The token of the cookies the callback set, which a browser fetches over HTTP first."""

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def outputs(self) -> dict:
        """``{component: {prop: value}}`` of a 200 answer."""
        if self.status != 200:
            raise AssertionError(f"callback answered {self.status}: {self.body[:500]}")
        return self.json["response"]


@dataclass(frozen=True)
class Closed:
    code: int
    reason: str


class _Transport(Protocol):
    async def send(self, text: str) -> None: ...

    async def receive(self) -> str | Closed: ...

    async def close(self, code: int = 1001) -> None: ...


# Opens a transport to the socket.
_Connector = Callable[[], Awaitable[_Transport]]


@dataclass
class PageClient:
    """One simulated page on a dash-ws socket."""

    app: Dash | None
    transport: _Transport
    connector: _Connector
    props: dict[tuple[Any, str], Any] = field(default_factory=dict)
    updates: list[Update] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    """Topics of feeds whose messages the page missed beyond their history, as told."""
    pongs: int = 0
    closed: Closed | None = None
    session_id: str | None = None
    session_secret: str | None = None
    resumed: bool = False
    seen: int = 0
    answers_gets: bool = True
    """Answer the server's ``get_prop`` requests; False leaves them unanswered, as a stuck page."""
    gets: list[tuple[Any, str]] = field(default_factory=list)
    """Every ``get_prop`` request the page received, answered or not, as ``(component, prop)``.

    A test waits on it to know the server's question has reached the page:
    ``await page.wait_for(lambda p: p.gets)``.
    """

    def __post_init__(self) -> None:
        self._call_ids = count(1)
        self._results: dict[int, asyncio.Future] = {}
        self._unanswered: dict[int, str] = {}
        self._changed = asyncio.Condition()
        self._sending = asyncio.Lock()  # the parts of one message leave together
        self._hello_seen = False
        self._reader = asyncio.ensure_future(self._read())

    # ---------------------------------------------------------------- actions

    async def join(self, resume: bool = False) -> None:
        """Send the socket's first message: start a session, or resume this page's."""
        message: dict[str, Any] = {"type": "join"}
        if resume and self.session_id is not None:
            message.update(session=self.session_id, secret=self.session_secret, seen=self.seen)
        await self.transport.send(json.dumps(message))

    async def ready(self) -> None:
        """Say the page has rendered: the server starts persistent callbacks."""
        await self.transport.send(json.dumps({"type": "ready"}))

    async def call(
        self,
        output: str,
        inputs: list | None = None,
        state: list | None = None,
        triggered: list[str] | None = None,
        timeout: float = 10.0,
    ) -> CallResult:
        """Fire the callback registered for ``output`` with these input and state values."""
        body = self.request_body(output, inputs or [], state or [], triggered)
        return await self.call_raw(body, timeout=timeout)

    async def call_raw(
        self, body: dict, headers: dict | None = None, timeout: float = 10.0
    ) -> CallResult:
        """Send a ``_dash-update-component`` body as-is and wait for its answer."""
        result = self.send_call(body, headers)
        return await asyncio.wait_for(result, timeout)

    def send_call(self, body: dict, headers: dict | None = None) -> asyncio.Future:
        """Send a call without waiting; the future resolves to its ``CallResult``."""
        call_id = next(self._call_ids)
        answer = asyncio.get_running_loop().create_future()
        self._results[call_id] = answer
        message = json.dumps(
            {
                "type": "call",
                "id": call_id,
                "body": json.dumps(body),
                "headers": headers or {},
            }
        )
        self._unanswered[call_id] = message
        asyncio.ensure_future(self._send_in_parts(message))
        return answer

    async def _send_in_parts(self, text: str) -> None:
        """Send ``text`` as the browser client does: in ``part`` frames when it is long."""
        async with self._sending:
            for frame in split_into_parts(text):
                await self.transport.send(frame)

    async def send_text(self, text: str) -> None:
        """Send a raw frame, for testing how the server takes bad input."""
        await self.transport.send(text)

    async def wait_for(self, predicate, timeout: float = 10.0) -> None:
        """Wait until ``predicate(page)`` holds, re-checked on every message."""

        async def satisfied() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))

        await asyncio.wait_for(satisfied(), timeout)

    async def callbacks_done(self, timeout: float = 10.0) -> None:
        """Wait until the server has finished the event callbacks it runs for this page.

        Waits for the callbacks the server had started by the time of the
        call, answered or cancelled; their answers are then queued for the
        page (or dropped, for a page that has gone for good). Only for pages
        of ``TestClient``, whose server runs in this process: a test can
        tell that a callback finished while its page was away, or that a
        call sent twice did not start twice, without guessing how long it
        takes.
        """
        if not isinstance(self.transport, _InProcessTransport) or self.app is None:
            raise RuntimeError("callbacks_done needs an in-process page: TestClient(app).page()")
        session = self.app.asgi.endpoint.sessions.get(self.session_id)
        running = list(session.running_calls) if session is not None else []
        if running:
            await asyncio.wait_for(asyncio.wait(running), timeout)

    async def opened(self) -> None:
        """Wait for the server's ``hello`` on the current socket, or for it to be refused."""
        await self.wait_for(lambda page: page._hello_seen or page.closed is not None)

    async def close(self) -> None:
        """Leave the page, as closing the tab does."""
        await self.transport.close(1001)
        await asyncio.gather(self._reader, return_exceptions=True)

    async def drop(self) -> None:
        """Lose the connection without a goodbye, as a network failure does.

        For an in-process page, returns once the server has seen the drop.
        """
        await self.transport.close(1006)
        await asyncio.gather(self._reader, return_exceptions=True)
        if isinstance(self.transport, _InProcessTransport):
            await self.transport.served()

    async def synced(self, timeout: float = 10.0) -> None:
        """Wait until the server has handled every message this page sent before.

        A ``ping`` goes last and the server answers it in turn: once its
        ``pong`` is back, what came before it (``ready`` included) is done.
        """
        pongs = self.pongs
        await self.transport.send(json.dumps({"type": "ping"}))
        await self.wait_for(lambda page: page.pongs > pongs, timeout)

    async def reconnect(self) -> None:
        """Open a new socket asking to resume this page's session, as the browser client does.

        Calls still unanswered are sent again; the server runs each only once.
        """
        self._reader.cancel()  # a socket not yet seen to fail is abandoned, as browsers do
        self.closed = None
        self._hello_seen = False
        self.transport = await self.connector()
        self._reader = asyncio.ensure_future(self._read())
        await self.join(resume=True)
        await self.opened()
        if self.resumed:
            for message in list(self._unanswered.values()):
                await self._send_in_parts(message)

    # ---------------------------------------------------------------- bodies

    def request_body(
        self, output: str, inputs: list, state: list, triggered: list[str] | None
    ) -> dict:
        """The body the renderer would post for this callback and these values."""
        if self.app is None:
            raise RuntimeError("request_body needs the app; use call_raw over the network")
        spec = dash_adapter.callback_spec(self.app, output)
        dependencies = [_dependency(d, v) for d, v in zip(spec["inputs"], inputs)]
        states = [_dependency(d, v) for d, v in zip(spec["state"], state)]
        if triggered is None:
            triggered = [f"{_key(d['id'])}.{d['property']}" for d in dependencies[:1]]
        return {
            "output": output,
            "outputs": dash_adapter.split_output(output),
            "inputs": dependencies,
            "changedPropIds": triggered,
            "state": states,
        }

    # ---------------------------------------------------------------- reading

    async def _read(self) -> None:
        while True:
            frame = await self.transport.receive()
            async with self._changed:
                if isinstance(frame, Closed):
                    self.closed = frame
                    self._changed.notify_all()
                    return
                for message in json.loads(frame):
                    await self._handle(message)
                await self.transport.send(json.dumps({"type": "ack", "n": self.seen}))
                self._changed.notify_all()

    def _fail_unanswered(self, reason: str) -> None:
        for answer in self._results.values():
            if not answer.done():
                answer.set_exception(ConnectionRefused(1006, reason))
        self._results.clear()
        self._unanswered.clear()

    async def _handle(self, message: dict) -> None:
        number = message.get("n")
        if number is not None:
            if number <= self.seen:
                return  # sent again after a resume; already handled
            self.seen = number
        kind = message["type"]
        if kind == "hello":
            if self.session_id is not None and not message["resumed"]:
                self._fail_unanswered("the server no longer knew this page's session")
                self.seen = 0
            self.session_id = message["session"]
            self.session_secret = message["secret"]
            self.resumed = message["resumed"]
            self._hello_seen = True
        elif kind == "set":
            self.updates.append(Update(message["component"], message["props"]))
        elif kind == "result":
            self._unanswered.pop(message["id"], None)
            answer = self._results.pop(message["id"], None)
            if answer is not None and not answer.done():
                answer.set_result(
                    CallResult(
                        message["status"],
                        message["content_type"],
                        message["body"],
                        message.get("cookies"),
                    )
                )
        elif kind == "get":
            key = (_hashable(message["component"]), message["prop"])
            self.gets.append(key)
            if not self.answers_gets:
                return
            component_known = any(k[0] == key[0] for k in self.props)
            reply = {
                "type": "prop",
                "id": message["id"],
                "found": component_known,
                "value": _located(self.props.get(key), message.get("path", ())),
            }
            await self.transport.send(json.dumps(reply))
        elif kind == "error":
            self.errors.append(message["message"])
        elif kind == "gap":
            self.gaps.append(message["topic"])
        elif kind == "pong":
            self.pongs += 1


def _located(value: Any, path: list) -> Any:
    """The part of ``value`` at ``path``, as the browser client finds it; None if nothing."""
    for step in path:
        if isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value):
            value = value[step]
        elif isinstance(step, str) and isinstance(value, dict):
            value = value.get(step)
        else:
            return None
    return value


def _dependency(spec: dict, value: Any) -> dict:
    return {"id": spec["id"], "property": spec["property"], "value": value}


def _key(component_id: Any) -> str:
    if isinstance(component_id, dict):
        return json.dumps(component_id, sort_keys=True, separators=(",", ":"))
    return component_id


def _hashable(component_id: Any) -> Any:
    return _key(component_id) if isinstance(component_id, dict) else component_id


# ---------------------------------------------------------------- transports


class _InProcessTransport:
    """The app's ASGI callable driven directly through queues."""

    def __init__(self, asgi, scope: dict) -> None:
        self._to_app: asyncio.Queue = asyncio.Queue()
        self._from_app: asyncio.Queue = asyncio.Queue()
        self._to_app.put_nowait({"type": "websocket.connect"})
        self._app_task = asyncio.ensure_future(asgi(scope, self._to_app.get, self._from_app.put))
        self._app_task.add_done_callback(
            lambda _: self._from_app.put_nowait(
                {"type": "websocket.close", "code": 1006, "reason": "app ended"}
            )
        )

    async def accepted(self) -> None:
        first = await self._from_app.get()
        if first["type"] == "websocket.accept":
            return
        raise ConnectionRefused(first.get("code", 1000), first.get("reason", ""))

    async def send(self, text: str) -> None:
        await self._to_app.put({"type": "websocket.receive", "text": text})

    async def receive(self) -> str | Closed:
        event = await self._from_app.get()
        if event["type"] == "websocket.send":
            return event.get("text") or event.get("bytes", b"").decode()
        code = event.get("code", 1000)
        await self._to_app.put({"type": "websocket.disconnect", "code": code})  # as a browser does
        return Closed(code, event.get("reason", ""))

    async def close(self, code: int = 1001) -> None:
        await self._to_app.put({"type": "websocket.disconnect", "code": code})

    async def served(self) -> None:
        """Wait until the app has finished with this socket."""
        await asyncio.gather(self._app_task, return_exceptions=True)
        await asyncio.gather(self._app_task, return_exceptions=True)


class _NetworkTransport:
    """A real socket to a running server, through the ``websockets`` library."""

    def __init__(self, connection) -> None:
        self._connection = connection

    async def send(self, text: str) -> None:
        import websockets

        try:
            await self._connection.send(text)
        except websockets.ConnectionClosed:
            pass  # the reader reports how the socket ended

    async def receive(self) -> str | Closed:
        import websockets

        try:
            return await self._connection.recv()
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else 1006
            reason = closed.rcvd.reason if closed.rcvd else ""
            return Closed(code, reason)

    async def close(self, code: int = 1001) -> None:
        if code == 1006:
            self._connection.transport.abort()  # no closing handshake: a lost connection
        else:
            await self._connection.close(code)


class TestClient:
    """Opens simulated pages on ``app``, in-process."""

    __test__ = False  # not a pytest test class

    def __init__(self, app: Dash, base_url: str = "http://testserver") -> None:
        self.app = app
        self.base_url = base_url

    @asynccontextmanager
    async def page(
        self,
        headers: dict[str, str] | None = None,
        origin: str | None = None,
        protocol_version: int = protocol.VERSION,
        page: str | None = None,
        join: bool = True,
    ) -> AsyncIterator[PageClient]:
        """A page of the app; ``headers`` (cookies included) as the browser would send.

        ``page`` is the page's URL path (and query) as the browser shows it;
        by default the app's root page. ``join=False`` opens the socket and
        sends nothing, for a test to choose the first message itself.
        """
        connector = self.connector(headers, origin, protocol_version, page)
        async with _opened(PageClient(self.app, await connector(), connector), join) as client:
            yield client

    def connector(
        self,
        headers: dict[str, str] | None = None,
        origin: str | None = None,
        protocol_version: int = protocol.VERSION,
        page: str | None = None,
    ) -> _Connector:
        """What opens a page's socket on this app; give it to a page of another app
        (``page.connector = ...``) and its next ``reconnect`` comes here, as a
        balancer may send it to another worker."""
        scheme, host = self.base_url.split("://", 1)
        page_headers = {"host": host, "origin": origin or self.base_url, **(headers or {})}
        page_url = page or self.app.config.requests_pathname_prefix

        async def connector() -> _Transport:
            query = urlencode({"v": protocol_version, "page": page_url})
            scope = {
                "type": "websocket",
                "asgi": {"version": "3.0"},
                "scheme": "wss" if scheme == "https" else "ws",
                "path": self.app.socket_path,
                "raw_path": self.app.socket_path.encode(),
                "query_string": query.encode(),
                "root_path": "",
                "headers": [(k.lower().encode(), v.encode()) for k, v in page_headers.items()],
                "client": ("127.0.0.1", 50000),
                "server": ("testserver", 80),
                "subprotocols": [],
                "state": {},
            }
            transport = _InProcessTransport(self.app.asgi, scope)
            await transport.accepted()
            return transport

        return connector


@asynccontextmanager
async def connect(
    url: str, app: Dash | None = None, page: str = "/", join: bool = True, **options: Any
) -> AsyncIterator[PageClient]:
    """A page on a running server at ``url`` (``ws://host:port/_dash-ws/socket``).

    ``page`` is the URL path of the page that opens the socket; ``options``
    go to ``websockets.connect`` (``additional_headers`` for cookies).
    """
    connector = network_connector(url, page, **options)
    async with _opened(PageClient(app, await connector(), connector), join) as client:
        yield client


def network_connector(url: str, page: str = "/", **options: Any) -> _Connector:
    """What opens a page's socket on the server at ``url``; give it to a page
    (``page.connector = ...``) and its next ``reconnect`` goes there, as a
    balancer may send it to another worker."""
    import websockets

    async def connector() -> _Transport:
        separator = "&" if "?" in url else "?"
        query = urlencode({"v": protocol.VERSION, "page": page})
        return _NetworkTransport(await websockets.connect(f"{url}{separator}{query}", **options))

    return connector


@asynccontextmanager
async def _opened(client: PageClient, join: bool) -> AsyncIterator[PageClient]:
    if join:
        await client.join()
        await client.opened()
    try:
        yield client
    finally:
        await client.close()
