"""What a page showed over time, recorded in the page itself.

Polling from the test could miss a value that was on screen for a few
milliseconds; a MutationObserver in the page sees every change, with the
time it happened.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, NamedTuple

from playwright.sync_api import Page

APP_TITLE = "Dash"
UPDATING_TITLE = "Updating..."
"""The document title of an idle Dash page, and Dash's while a callback runs."""

TITLE_RECORDER = """
(() => {
  const titles = window.__titlesSeen = [];
  const note = () => {
    const title = document.title;
    if (titles.length === 0 || titles[titles.length - 1].text !== title) {
      titles.push({text: title, at: performance.now()});
    }
  };
  new MutationObserver(note).observe(
    document, {subtree: true, childList: true, characterData: true});
  note();
})();
"""
"""Init script: ``window.__titlesSeen`` gets every document title, from the first."""

_TEXT_RECORDER = """
(selector) => {
  const element = document.querySelector(selector);
  const changes = [{text: element.textContent, at: performance.now()}];
  new MutationObserver(() => {
    const text = element.textContent;
    if (text !== changes[changes.length - 1].text) changes.push({text, at: performance.now()});
  }).observe(element, {subtree: true, childList: true, characterData: true});
  (window.__textChanges = window.__textChanges || {})[selector] = changes;
}
"""


class Shown(NamedTuple):
    """A text the page showed, and when it appeared (seconds on the page's clock)."""

    text: str
    at: float


def watch_text(page: Page, selector: str) -> None:
    """Start recording each text ``selector``'s element shows, starting with the current one."""
    page.evaluate(_TEXT_RECORDER, selector)


def texts_shown(page: Page, selector: str) -> list[Shown]:
    changes = page.evaluate("(selector) => window.__textChanges[selector]", selector)
    return [Shown(change["text"], change["at"] / 1000) for change in changes]


def wait_for_texts(page: Page, selector: str, count: int, timeout_ms: float) -> list[Shown]:
    """Wait until ``selector`` has shown ``count`` texts since ``watch_text``."""
    page.wait_for_function(
        "([selector, count]) => window.__textChanges[selector].length >= count",
        arg=[selector, count],
        timeout=timeout_ms,
    )
    return texts_shown(page, selector)


def titles_shown(page: Page) -> list[Shown]:
    titles = page.evaluate("window.__titlesSeen")
    return [Shown(title["text"], title["at"] / 1000) for title in titles]


def title_at(titles: list[Shown], moment: float) -> str:
    """The document title on screen at ``moment``."""
    return [title.text for title in titles if title.at <= moment][-1]


def choose(page: Page, dropdown_id: str, option: str) -> None:
    """Pick ``option`` in a ``dcc.Dropdown`` the way a person does: open it, click it."""
    page.click(f"#{dropdown_id}")
    dash_4_option = page.get_by_role("option", name=option, exact=True)
    dash_3_option = page.locator(".VirtualizedSelectOption", has_text=option)  # react-select
    dash_4_option.or_(dash_3_option).first.click()


def wait_until(page: Page, condition: Callable[[], Any], timeout: float, waiting_for: str) -> Any:
    """Poll a test-side ``condition`` while the page runs; its first truthy value.

    Waiting through the page (not ``time.sleep``) lets Playwright deliver
    events, such as routed socket frames, to the test meanwhile.
    """
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout}s for {waiting_for}")
        page.wait_for_timeout(50)
    return result


def record_sockets(page: Page) -> list[str]:
    """The URLs of the WebSockets the page opens from now on."""
    urls: list[str] = []
    page.on("websocket", lambda socket: urls.append(socket.url))
    return urls


def record_http_callbacks(page: Page) -> list[str]:
    """The outputs of the callbacks the page sends over HTTP from now on."""
    outputs: list[str] = []
    page.on(
        "request",
        lambda request: (
            "_dash-update-component" in request.url
            and outputs.append(json.loads(request.post_data)["output"])
        ),
    )
    return outputs
