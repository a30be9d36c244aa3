"""What the browser's upgrade request told us, and the origin rule. No I/O.

The handshake carries the page's cookies and headers. Callbacks run over the
socket see them exactly as an HTTP callback would, and the app's own HTTP
protection is asked about them before the socket is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

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
        headers = tuple(
            (name.decode("latin-1").lower(), value.decode("latin-1"))
            for name, value in scope.get("headers", ())
        )
        scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "ws"), "http")
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
    def cookies(self) -> dict[str, str]:
        jar = SimpleCookie()
        jar.load(self.header("cookie") or "")
        return {name: morsel.value for name, morsel in jar.items()}

    def page_headers(self, extra: dict[str, str] | None = None) -> list[tuple[str, str]]:
        """The page's headers, upgrade headers dropped, ``extra`` replacing same names."""
        extra = {name.lower(): value for name, value in (extra or {}).items()}
        kept = [
            (name, value)
            for name, value in self.headers
            if name not in _UPGRADE_HEADERS and name not in extra
        ]
        return kept + [
            (name, value) for name, value in extra.items() if name not in _UPGRADE_HEADERS
        ]


def origin_allowed(handshake: Handshake, allowed_origins: Iterable[str]) -> bool:
    """Same-origin, or listed in ``allowed_origins``.

    A request without an Origin header does not come from a browser page (a
    browser always sends one on a WebSocket upgrade), so there is no page to
    forge it from; such clients still pass the app's authentication.
    """
    origin = handshake.header("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if origin in {entry.rstrip("/") for entry in allowed_origins}:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https"):
        return False
    return _with_default_port(parts.netloc, parts.scheme) == _with_default_port(
        handshake.host, parts.scheme
    )


def _with_default_port(netloc: str, scheme: str) -> str:
    netloc = netloc.lower()
    if netloc.rsplit("]", 1)[-1].count(":") == 0:
        netloc += ":443" if scheme == "https" else ":80"
    return netloc
