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
from typing import Callable

from .handshake import Handshake

DEFAULT_CALL_HEADERS = frozenset({"x-csrftoken", "authorization"})
"""Headers the Dash renderer sets on its callback requests: the CSRF token and a JWT."""


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
    and the Authorization header, which carry every other kind of login.
    """
    user = basic_auth_user(handshake.header("authorization"))
    if user is not None:
        return f"basic:{user}"
    credentials = f"{handshake.header('cookie') or ''}\n{handshake.header('authorization') or ''}"
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
