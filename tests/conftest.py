"""Fixtures every test folder shares."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.redis_server import RedisServer


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    """A fresh redis-server of its own for one test, killed after it."""
    server = RedisServer(tmp_path).start()
    yield server
    server.kill()


@pytest.fixture
def cache_only_redis(tmp_path) -> Iterator[RedisServer]:
    """A redis-server that keeps nothing across a restart."""
    server = RedisServer(tmp_path, persistent=False).start()
    yield server
    server.kill()
