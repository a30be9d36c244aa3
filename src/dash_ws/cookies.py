"""Cookies a socket callback sets, delivered over HTTP, the only way a browser takes them.

A WebSocket frame cannot carry ``Set-Cookie``, and script cannot set an
HttpOnly cookie. When a callback run over the socket answers with
``Set-Cookie`` headers (``dash.callback_context.response.set_cookie``,
``flask.after_this_request``, an ``after_request`` hook), its page session
holds them under a one-time token, named in the call's ``result``. Before the
page takes the result, its client POSTs the token to ``_dash-ws/cookies``
twice:

1. ``apply``: the answer carries the held ``Set-Cookie`` headers, and the
   browser stores them as it would from the callback's HTTP response.
2. ``sync``: the request carries the browser's cookies as they now are; the
   session's calls, its re-authorization and its identity use them from then
   on, as the page's next HTTP request would.

A token is good for one exchange, for ``HOLD_SECONDS``, from a page of an
origin the socket would admit, and only with the browser's binding cookie:
an HttpOnly cookie the socket's upgrade answer sets when the browser has
none. Script in the page can read the token but not that cookie, so it
cannot replay the exchange from elsewhere to read an HttpOnly cookie the
callback set.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Hashable
from typing import TYPE_CHECKING, Callable

import orjson

from .admission import AdmissionPolicy
from .handshake import BINDING_COOKIE, Handshake, binding_of, origin_allowed, without_binding
from .request_body import read_body

if TYPE_CHECKING:
    from .session import PageSession

logger = logging.getLogger("dash_ws")

HOLD_SECONDS = 60.0
"""How long a session holds cookies its page has not come for."""

_MAX_REQUEST_BYTES = 4096
"""The exchange's request is a token and a step; anything longer is not one."""


def new_binding(path: str, secure: bool) -> tuple[str, bytes]:
    """A fresh binding value, and the ``Set-Cookie`` header that gives it to the browser."""
    value = secrets.token_urlsafe(24)
    header = f"{BINDING_COOKIE}={value}; Path={path}; HttpOnly; SameSite=Strict"
    return value, (header + "; Secure" if secure else header).encode("latin-1")


class CookieJar:
    """The ``Set-Cookie`` headers one session holds for its page, by token."""

    def __init__(self, session_id: str, after: Callable[[float, Callable[[], None]], None]) -> None:
        self._session_id = session_id
        self._after = after
        self._held: dict[str, tuple[str, ...]] = {}

    def hold(self, set_cookies: tuple[str, ...]) -> str:
        """Keep ``set_cookies`` for the page; returns the token it fetches them with."""
        key = secrets.token_urlsafe(18)
        self._held[key] = set_cookies
        self._after(HOLD_SECONDS, lambda: self._held.pop(key, None))
        return f"{self._session_id}.{key}"

    def apply(self, key: str) -> tuple[str, ...] | None:
        """The cookies held under ``key``, handed out once; None if there are none."""
        cookies = self._held.get(key)
        if cookies:
            self._held[key] = ()
        return cookies or None

    def sync(self, key: str) -> bool:
        """Let go of ``key`` once its cookies were applied; False if they were not."""
        if self._held.get(key) != ():
            return False
        del self._held[key]
        return True


class CookieExchange:
    """ASGI handler for ``<prefix>_dash-ws/cookies``.

    ``sessions`` are the endpoint's, by id; ``identify`` tells who a page
    with these headers is, as when it opened its socket.
    """

    def __init__(
        self,
        sessions: dict[str, PageSession],
        policy: AdmissionPolicy,
        identify: Callable[[Handshake], Awaitable[Hashable]],
    ) -> None:
        self._sessions = sessions
        self._policy = policy
        self._identify = identify
        self.elsewhere: Elsewhere | None = None
        """Asks the worker holding a session this process does not have (``relay.py``)."""

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        request = Handshake.from_scope(scope)
        if scope["method"] != "POST":
            await _answer(send, 405)
            return
        if request.header("origin") is None or not origin_allowed(
            request, self._policy.allowed_origins, self._policy.canonical_origin
        ):
            await _answer(send, 403)
            return
        asked = _checked(await _read_request(receive))
        cookie_header = request.header("cookie") or ""
        if asked is not None and asked[0] not in self._sessions and self.elsewhere is not None:
            status, cookies = await self.elsewhere(asked, cookie_header)
        else:
            status, cookies = await self.exchange(asked, cookie_header)
        headers = [(b"set-cookie", value.encode("latin-1")) for value in cookies]
        await _answer(send, status, headers)

    async def exchange(
        self, asked: tuple[str, str, str] | None, cookie_header: str
    ) -> tuple[int, tuple[str, ...]]:
        """Answer ``(session id, key, step)`` from a browser sending ``cookie_header``: the
        status and the ``Set-Cookie`` values to send, for a session of this process."""
        session = self._sessions.get(asked[0]) if asked is not None else None
        binding = binding_of(cookie_header) or ""
        if session is None or not session.is_live:
            return 404, ()
        if not hmac.compare_digest(binding, session.binding):
            return 404, ()
        _, key, step = asked
        if step == "apply":
            cookies = session.cookie_jar.apply(key)
            return (204, cookies) if cookies else (404, ())
        if not session.cookie_jar.sync(key):
            return 404, ()
        synced = session.handshake.with_cookies(without_binding(cookie_header))
        try:
            identity = await self._identify(synced)
        except Exception:  # the page keeps the cookies and identity it was opened with
            logger.exception("dash-ws: websocket_identity raised")
        else:
            session.handshake, session.identity = synced, identity
        return 204, ()


Elsewhere = Callable[[tuple[str, str, str], str], Awaitable[tuple[int, tuple[str, ...]]]]


def _checked(asked: dict | None) -> tuple[str, str, str] | None:
    """``(session id, key, step)`` from a request's JSON, or None when it names none."""
    if asked is None or asked.get("step") not in ("apply", "sync"):
        return None
    token = asked.get("token")
    if not isinstance(token, str):
        return None
    session_id, _, key = token.partition(".")
    return session_id, key, asked["step"]


async def _read_request(receive: Callable) -> dict | None:
    """The request's JSON object; None when it is too long, not JSON or not an object."""
    body = await read_body(receive, _MAX_REQUEST_BYTES)
    if body is None:
        return None
    try:
        asked = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return asked if isinstance(asked, dict) else None


async def _answer(send: Callable, status: int, headers: list | None = None) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"cache-control", b"no-store"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": b""})
