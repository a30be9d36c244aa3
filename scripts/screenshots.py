"""Take a screenshot of every example app in its interesting state.

    python scripts/screenshots.py            # all apps
    python scripts/screenshots.py countdown  # only the named ones

Each app runs under uvicorn (Flask backend) on a free 127.0.0.1 port and is
driven in headless Debian chromium, the way a person would use it; the page is
saved to ``docs/screenshots/NAME.png`` at a 900x560 viewport. Every wait is
bounded, and every server is stopped, whatever happens.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "screenshots"
sys.path.insert(0, str(REPO / "tests" / "browser"))

from app_server import CHROMIUM, CHROMIUM_ARGS, AppServer  # noqa: E402

VIEWPORT = {"width": 900, "height": 560}
PAGE_TIMEOUT_MS = 10_000
SIZE_WARNING_BYTES = 150_000


# --- how each app is driven -------------------------------------------------


def countdown(page: Page) -> None:
    page.click("#start-btn")
    expect(page.locator("#countdown-display")).to_have_text("Countdown: 7", timeout=6000)


def greeting(page: Page) -> None:
    page.fill("#name-input", "Ada")
    page.click("#greet-btn")
    expect(page.locator("#greeting-output")).to_have_text("Hello, Ada!", timeout=6000)


def per_callback(page: Page) -> None:
    expect(page.locator("#dropdown-output")).to_have_text("Selected: Option A")
    page.click("#stream-btn")
    expect(page.locator("#stream-output")).to_have_text("Update 3 of 5...", timeout=6000)


def price_streaming(page: Page) -> None:
    page.click("#connect-btn")
    expect(page.locator("#status")).to_have_text("Connected")
    expect(page.locator("#live-price")).to_have_text(re.compile(r"^AAPL: \$\d"), timeout=5000)


def external_feed(page: Page) -> None:
    page.click("#connect-btn")
    expect(page.locator("#status")).to_have_text("Connected")
    # the third quote: the feed has been answering for a while
    expect(page.locator("#live-output")).to_have_text(re.compile(r"\(tick 3,"), timeout=6000)


def live_price(page: Page) -> None:
    expect(page.locator("#price-display")).to_have_text(re.compile(r"^AAPL: \$\d"), timeout=5000)


def game_of_life(page: Page) -> None:
    page.click("#start")
    page.wait_for_function(
        """() => {
            const found = /Generation: (\\d+)/.exec(
                document.querySelector('#gen')?.textContent ?? '');
            return found && Number(found[1]) >= 15;
        }""",
        timeout=8000,
    )
    page.click("#stop")  # a still board, not one caught mid-redraw
    page.wait_for_timeout(300)


def ag_grid(page: Page) -> None:
    expect(page.locator('#grid .ag-cell[col-id="price"]')).to_have_count(5)
    page.click("#start")
    page.wait_for_timeout(2000)


def connection_status(page: Page) -> None:
    page.wait_for_function(
        "() => Number(document.querySelector('#counter')?.textContent) > 40",
        timeout=8000,
    )
    page.click("#run-task")
    expect(page.locator("#task-result")).to_have_text("Working... 2/5", timeout=4000)


APPS: dict[str, Callable[[Page], None]] = {
    "countdown": countdown,
    "greeting": greeting,
    "per_callback": per_callback,
    "price_streaming": price_streaming,
    "external_feed": external_feed,
    "live_price_interval": live_price,
    "live_price": live_price,
    "game_of_life": game_of_life,
    "ag_grid": ag_grid,
    "connection_status": connection_status,
}


# --- main ----------------------------------------------------------------------


def shoot(browser, name: str, drive: Callable[[Page], None]) -> Path:
    server = AppServer(f"examples.{name}", "flask")
    context = None
    try:
        server.wait_until_answering()
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.goto(server.url, wait_until="load")
        page.wait_for_selector("#react-entry-point > *")
        drive(page)
        path = OUT / f"{name}.png"
        page.screenshot(path=str(path), full_page=False)
        if errors:
            print(f"  {name}: the page reported errors: {errors}", file=sys.stderr)
        return path
    except Exception:
        print(f"--- {name} printed:\n{server.output}", file=sys.stderr)
        raise
    finally:
        if context is not None:
            context.close()
        server.stop()


def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in APPS]
    if unknown:
        print(
            f"unknown app(s): {', '.join(unknown)}; choose from {', '.join(APPS)}", file=sys.stderr
        )
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    failed = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name in names or list(APPS):
                try:
                    path = shoot(browser, name, APPS[name])
                except Exception as error:  # keep going; report at the end
                    failed.append(name)
                    print(f"FAILED {name}: {error}", file=sys.stderr)
                    continue
                size = path.stat().st_size
                warning = "  (over 150 KB)" if size > SIZE_WARNING_BYTES else ""
                print(f"{path.relative_to(REPO)}  {size // 1024} KB{warning}")
        finally:
            browser.close()
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
