"""dash-ws apps under Dash's own test fixtures (``dash_duo``), as Dash users test their apps.

Dash's pytest plugin drives Debian's chromium through its chromedriver; the
browser runs headless here, as ``pytest --headless`` would ask.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.option.headless = True
