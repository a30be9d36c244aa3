"""A cookie a socket callback sets is in the browser, HttpOnly, for HTTP and socket calls alike."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, expect


def test_an_httponly_cookie_set_over_the_socket_reaches_the_next_requests(
    serve, page: Page, context: BrowserContext
):
    app = serve("cookie_app")
    page.goto(app.url)
    page.click("#ask-socket")
    expect(page.locator("#who-socket")).to_have_text("socket: nobody")

    page.click("#log-in")
    expect(page.locator("#logged-in")).to_have_text("logged in")
    [cookie] = [c for c in context.cookies() if c["name"] == "session"]
    assert cookie["value"] == "ada" and cookie["httpOnly"] is True
    assert "session" not in page.evaluate("document.cookie"), "script cannot read it"

    page.click("#ask-http")
    expect(page.locator("#who-http")).to_have_text("http: ada")
    page.click("#ask-socket")
    expect(page.locator("#who-socket")).to_have_text("socket: ada")
