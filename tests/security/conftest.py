import pytest

from .lifespans import end_lifespans


@pytest.fixture(autouse=True)
async def end_the_apps_lifespans_after_each_test():
    yield
    await end_lifespans()
