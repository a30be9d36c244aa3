"""The URLs dash-ws serves and replays, built in one place from the app's two prefixes.

Dash routes requests under ``routes_pathname_prefix`` and the browser asks
for them under ``requests_pathname_prefix``; the two differ behind a proxy
that strips a path prefix. Each route therefore has a server *path* and a
browser *URL*.
"""

from __future__ import annotations

from dataclasses import dataclass

SOCKET = "_dash-ws/socket"
COOKIES = "_dash-ws/cookies"
"""Where a page takes the cookies a socket callback set, over HTTP."""
UPDATE_COMPONENT = "_dash-update-component"
"""Dash's callback route, which every socket call is replayed as."""


@dataclass(frozen=True)
class Routes:
    """The dash-ws routes of one app."""

    routes_prefix: str
    requests_prefix: str
    client_hash: str

    @property
    def socket_path(self) -> str:
        return self.routes_prefix + SOCKET

    @property
    def socket_url(self) -> str:
        return self.requests_prefix + SOCKET

    @property
    def cookies_path(self) -> str:
        return self.routes_prefix + COOKIES

    @property
    def cookies_url(self) -> str:
        return self.requests_prefix + COOKIES

    @property
    def client_path(self) -> str:
        return self.routes_prefix + self._client

    @property
    def client_url(self) -> str:
        return self.requests_prefix + self._client

    @property
    def update_path(self) -> str:
        return self.routes_prefix + UPDATE_COMPONENT

    @property
    def update_url(self) -> str:
        return self.requests_prefix + UPDATE_COMPONENT

    @property
    def _client(self) -> str:
        return f"_dash-ws/client-{self.client_hash}.js"
