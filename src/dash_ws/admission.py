"""Who may open a page's socket, whose session it is, and what its frames may claim.

A socket gets exactly the protection the app's own pages get. Before it is
accepted, its upgrade request must pass the origin rule and the app's own
HTTP protection for the page's URL (the backend replays it through the
app's whole front door); while it lives, that protection is asked again at
``reauthorize_interval``. Frames never pass through the proxies and
middleware in front of the app, so nothing in a frame may claim an identity:
a call may add only the headers the renderer itself sets, and never replace
one the upgrade request carried.

A session belongs to the identity that opened it. By default that is the
Basic-auth user, or else a digest of the page's cookies and Authorization
header; an app with its own notion of a user supplies ``identity``, called in
the same request context a persistent callback gets.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable
from urllib.parse import unquote, unquote_to_bytes

from .handshake import Handshake, without_binding

if TYPE_CHECKING:
    import dash

DEFAULT_CALL_HEADERS = frozenset({"x-csrftoken", "authorization"})
"""Headers the Dash renderer sets on its callback requests: the CSRF token and a JWT."""


@dataclass(frozen=True)
class Rejection:
    """The app's HTTP protection refused the page."""

    status: int
    reason: str


@dataclass(frozen=True)
class AdmissionPolicy:
    """The app's socket admission settings; see ``dash_ws.Dash`` for each."""

    allowed_origins: tuple[str, ...] = ()
    canonical_origin: str | None = None
    call_headers: frozenset[str] = DEFAULT_CALL_HEADERS
    identity: Callable[[], Hashable] | None = None
    reauthorize_interval: float = 60.0

    def call_headers_of(self, sent: dict[str, str]) -> dict[str, str]:
        """The headers of a call frame that may reach the app: the allow-listed ones."""
        return {name: value for name, value in sent.items() if name.lower() in self.call_headers}


def default_identity(handshake: Handshake) -> str:
    """Who opened a page, as the app's protection saw it, without asking the app.

    The Basic-auth user name when the page sent one (dash-auth and proxies
    check the password on every request); otherwise a digest of the cookies
    (dash-ws's own binding cookie aside) and the Authorization header, which
    carry every other kind of login.
    """
    user = basic_auth_user(handshake.header("authorization"))
    if user is not None:
        return f"basic:{user}"
    cookies = without_binding(handshake.header("cookie"))
    credentials = f"{cookies}\n{handshake.header('authorization') or ''}"
    return "digest:" + hashlib.sha256(credentials.encode()).hexdigest()[:32]


def basic_auth_user(authorization: str | None) -> str | None:
    """The user name of a Basic Authorization header, None for anything else."""
    if not authorization or not authorization[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, separator, _ = decoded.partition(":")
    return user if separator else None


# ---------------------------------------------------------------- the page a socket belongs to


@dataclass(frozen=True)
class PageTarget:
    """The page a socket belongs to, as the app's own server routes it.

    ``page`` is the URL the browser showed (None when the socket did not
    name one); ``raw_path`` is the server-side path, still percent-encoded.
    """

    page: str | None
    raw_path: str
    query: str

    @property
    def wsgi_path(self) -> str:
        """``PATH_INFO``: the decoded path's bytes, as latin-1 (PEP 3333)."""
        return unquote_to_bytes(self.raw_path).decode("latin-1")

    @property
    def shown(self) -> str:
        return self.page if self.page is not None else self.raw_path


def page_target(app: dash.Dash, handshake: Handshake) -> PageTarget | Rejection:
    """The page named by the socket (``handshake.page``), translated to the server's routes.

    The browser's URL starts with ``requests_pathname_prefix``; the server
    routes it under ``routes_pathname_prefix`` (they differ behind a proxy
    that strips a prefix). A socket naming no page stands for the app's root
    page. A URL outside the prefix, or one no browser would show (relative,
    with ``.`` or ``..`` segments), is refused.
    """
    requests_prefix = app.config.requests_pathname_prefix
    routes_prefix = app.config.routes_pathname_prefix
    page = handshake.page
    if page is None:
        return PageTarget(None, routes_prefix, "")
    path, _, query = page.partition("?")
    if not path.startswith(requests_prefix) or not path.startswith("/"):
        return Rejection(
            400, f"page {page!r} is not in this app: its URLs start with {requests_prefix}"
        )
    raw_path = routes_prefix + path[len(requests_prefix) :]
    segments = unquote(raw_path).replace("\\", "/").split("/")
    if any(segment in (".", "..") for segment in segments) or "#" in page:
        return Rejection(400, f"page {page!r} is not a URL a browser shows for a page")
    return PageTarget(page, raw_path, query)


def page_verdict(
    status: int, status_line: str, rendered: bool, target: PageTarget
) -> Rejection | None:
    """Admit only a 2xx answer for which Dash rendered a page.

    A 2xx without a rendered page is a URL the app serves publicly that is
    not one of its pages (an asset, ``_dash-dependencies``, a file a
    middleware serves itself): it proves nothing about the page's protection.
    """
    if not 200 <= status < 300:
        return Rejection(status, f"refused by the app (HTTP {status_line})")
    if not rendered:
        return Rejection(
            404,
            f"page {target.shown!r} is not a page of this app "
            f"(HTTP {status_line} without a Dash page)",
        )
    return None
