"""What the browser's upgrade request told us, and the origin rule. No I/O.

The handshake carries the page's cookies and headers. Callbacks run over the
socket see them exactly as an HTTP callback would, and the app's own HTTP
protection is asked about them before the socket is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlsplit

# Headers that describe the upgrade itself, not the page; never replayed.
_UPGRADE_HEADERS = frozenset(
    {
        "connection",
        "upgrade",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "content-length",
        "transfer-encoding",
    }
)

# Headers whose values most pages share; only these are decoded to shared strings,
# so no page's secrets (cookies, tokens) are kept past its life.
_SHARED_VALUES = frozenset(
    {
        "host",
        "origin",
        "user-agent",
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "pragma",
        "connection",
        "upgrade",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-fetch-dest",
        "sec-fetch-mode",
        "sec-fetch-site",
        "sec-ch-ua",
        "sec-ch-ua-mobile",
        "sec-ch-ua-platform",
        "x-forwarded-proto",
        "x-forwarded-host",
    }
)


@lru_cache(maxsize=1024)
def _header_name(raw: bytes) -> str:
    return raw.decode("latin-1").lower()


@lru_cache(maxsize=1024)
def _shared_value(raw: bytes) -> str:
    """A header value as one string for every page that sent it (host, user agent,
    origin...): each open page keeps its headers, and most are the same for all."""
    return raw.decode("latin-1")


def _header(raw_name: bytes, raw_value: bytes) -> tuple[str, str]:
    name = _header_name(raw_name)
    if name in _SHARED_VALUES:
        return name, _shared_value(raw_value)
    return name, raw_value.decode("latin-1")


BINDING_COOKIE = "dash_ws_binding"
"""The HttpOnly cookie that ties a cookie exchange to the browser that holds the page."""


def binding_of(cookie_header: str | None) -> str | None:
    """The binding cookie's value in a ``Cookie`` header, if it has one."""
    for pair in (cookie_header or "").split(";"):
        name, _, value = pair.strip().partition("=")
        if name == BINDING_COOKIE and value:
            return value
    return None


def without_binding(cookie_header: str | None) -> str:
    """A ``Cookie`` header without the binding cookie: the page's own cookies."""
    pairs = (pair.strip() for pair in (cookie_header or "").split(";"))
    return "; ".join(pair for pair in pairs if pair and not pair.startswith(BINDING_COOKIE + "="))


@dataclass(frozen=True)
class Handshake:
    """The upgrade request of one page, from its ASGI scope."""

    headers: tuple[tuple[str, str], ...]
    scheme: str
    server: tuple[str, int | None] | None
    client: tuple[str, int] | None
    root_path: str
    path: str
    query_string: str

    @classmethod
    def from_scope(cls, scope: dict) -> Handshake:
        headers = tuple(_header(name, value) for name, value in scope.get("headers", ()))
        scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
        server = scope.get("server")
        client = scope.get("client")
        return cls(
            headers=headers,
            scheme=scheme,
            server=tuple(server) if server else None,
            client=tuple(client) if client else None,
            root_path=scope.get("root_path", ""),
            path=scope.get("path", "/"),
            query_string=scope.get("query_string", b"").decode("latin-1"),
        )

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def host(self) -> str:
        """The Host the page was served from."""
        host = self.header("host")
        if host:
            return host
        if self.server:
            name, port = self.server
            return f"{name}:{port}" if port else name
        return "localhost"

    @property
    def page(self) -> str | None:
        """The URL (path and query) of the page that opened the socket, as the browser shows it.

        The browser client names it in the socket's ``page`` query parameter;
        admission asks the app whether it would serve that page.
        """
        for name, value in parse_qsl(self.query_string):
            if name == "page":
                return value
        return None

    @property
    def cookies(self) -> dict[str, str]:
        jar = SimpleCookie()
        jar.load(self.header("cookie") or "")
        return {name: morsel.value for name, morsel in jar.items()}

    def with_cookies(self, cookie_header: str | None) -> Handshake:
        """The same page, its ``Cookie`` header now ``cookie_header`` (none when None)."""
        kept = tuple((name, value) for name, value in self.headers if name != "cookie")
        added = (("cookie", cookie_header),) if cookie_header else ()
        return replace(self, headers=kept + added)

    def page_headers(self, extra: dict[str, str] | None = None) -> list[tuple[str, str]]:
        """The page's headers, upgrade headers dropped, plus those of ``extra`` it lacks.

        ``extra`` (a call's own headers) never replaces a header the upgrade
        request carried: that request came through the proxies and middleware
        in front of the app, the frame that holds ``extra`` did not.
        """
        kept = [(name, value) for name, value in self.headers if name not in _UPGRADE_HEADERS]
        carried = {name for name, _ in kept}
        added = [
            (name.lower(), value)
            for name, value in (extra or {}).items()
            if name.lower() not in carried and name.lower() not in _UPGRADE_HEADERS
        ]
        return kept + added


def origin_allowed(
    handshake: Handshake, allowed_origins: Iterable[str], canonical_origin: str | None = None
) -> bool:
    """Same origin (scheme, host and port), or listed in ``allowed_origins``.

    The page's own origin is ``canonical_origin`` when the app sets one;
    otherwise the scheme and Host header of the upgrade request, which a
    proxy in front must pass on (or rewrite through ``--proxy-headers``).
    A request without an Origin header does not come from a browser page (a
    browser always sends one on a WebSocket upgrade), so there is no page to
    forge it from; such clients still pass the app's authentication.
    """
    origin = handshake.header("origin")
    if origin is None:
        return True
    origin = _normalized(origin)
    if origin is None:
        return False
    if origin in {_normalized(entry) for entry in allowed_origins}:
        return True
    if canonical_origin is not None:
        return origin == _normalized(canonical_origin)
    return origin == _normalized(f"{handshake.scheme}://{handshake.host}")


def _normalized(origin: str) -> str | None:
    """``scheme://host:port``, lower case, default port spelled out; None unless http(s)."""
    try:
        parts = urlsplit(origin.strip().rstrip("/"))
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    port = port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}:{port}"
