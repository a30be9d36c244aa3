"""The origin rule and what a handshake tells about the page."""

import pytest

from dash_ws.handshake import Handshake, origin_allowed


def handshake(**headers) -> Handshake:
    scope = {
        "type": "websocket",
        "scheme": "ws",
        "path": "/_dash-ws/socket",
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
        "client": ("10.1.2.3", 5555),
        "server": ("127.0.0.1", 8050),
    }
    return Handshake.from_scope(scope)


@pytest.mark.parametrize(
    "host, origin, allowed, expected",
    [
        ("app.example:8050", "http://app.example:8050", [], True),
        ("app.example", "http://app.example:80", [], True),
        ("app.example", "https://app.example", [], False),  # another scheme is another origin
        ("app.example:8050", "https://app.example:8050", [], False),  # even on the same port
        ("APP.example:80", "http://app.EXAMPLE/", [], True),
        ("app.example:8050", "http://evil.example:8050", [], False),
        ("app.example:8050", "http://app.example:9999", [], False),
        ("app.example:8050", "http://embed.example", ["http://embed.example/"], True),
        ("app.example:8050", "null", [], False),
        ("app.example:8050", "file://", [], False),
    ],
)
def test_origin_rule(host, origin, allowed, expected):
    assert origin_allowed(handshake(host=host, origin=origin), allowed) is expected


def test_a_canonical_origin_replaces_the_host_header():
    behind_tls_proxy = handshake(host="app.example", origin="https://app.example")
    assert origin_allowed(behind_tls_proxy, [], canonical_origin="https://app.example")
    forged_host = handshake(host="evil.example", origin="http://evil.example")
    assert not origin_allowed(forged_host, [], canonical_origin="https://app.example")


def test_no_origin_is_not_a_browser_page_and_passes():
    assert origin_allowed(handshake(host="app.example"), []) is True


def test_cookies_and_page_headers_without_upgrade_headers():
    page = handshake(
        host="a",
        cookie="session=abc; theme=dark",
        upgrade="websocket",
        sec_websocket_key="k",
        x_user="ada",
    )
    assert page.cookies == {"session": "abc", "theme": "dark"}
    names = dict(page.page_headers({"X-User": "bob", "X-CSRFToken": "t"}))
    assert names["x-user"] == "ada", "a call's header replaced one the handshake carried"
    assert names["x-csrftoken"] == "t"
    assert "upgrade" not in names and "sec-websocket-key" not in names
    assert page.client == ("10.1.2.3", 5555)
