"""Any payload HTTP carries, the socket carries: uploads, results and set_props of many MB."""

from __future__ import annotations

import base64

import pytest
from playwright.sync_api import Page, expect

MB = 1_000_000
LARGE_WAIT_MS = 120_000  # tens of MB through a browser on a shared machine


def data_url_chars(size: int) -> int:
    """Characters of the ``contents`` dcc.Upload gives a callback for a file of ``size`` bytes."""
    return len("data:application/octet-stream;base64,") + len(base64.b64encode(b"\0" * size))


@pytest.mark.parametrize("backend", ["flask", "fastapi"])
@pytest.mark.parametrize("size", [8 * MB, 50 * MB])
def test_an_upload_of_many_mb_reaches_its_callback(serve, page: Page, size: int, tmp_path):
    app = serve("big_payloads")
    page.goto(app.url)
    upload = tmp_path / "big.bin"
    upload.write_bytes(b"\0" * size)
    page.locator("#upload input[type=file]").set_input_files(upload, timeout=LARGE_WAIT_MS)
    expect(page.locator("#uploaded")).to_have_text(
        f"received {data_url_chars(size)} characters", timeout=LARGE_WAIT_MS
    )
    assert "slow page" not in app.output and "no longer knew" not in app.output


@pytest.mark.parametrize("backend", ["flask", "fastapi"])
def test_a_large_result_and_a_large_set_props_arrive_whole(serve, page: Page):
    app = serve("big_payloads")
    page.goto(app.url)
    page.click("#result-btn")
    expect(page.locator("#result-size")).to_have_text("arrived 12000000", timeout=LARGE_WAIT_MS)
    page.click("#side-btn")
    expect(page.locator("#side-size")).to_have_text("arrived 6000000", timeout=LARGE_WAIT_MS)
    expect(page.locator("#side-done")).to_have_text("sent")
    assert "slow page" not in app.output
