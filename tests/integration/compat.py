"""Markers for tests of features that do not exist in every supported Dash."""

import importlib.util

import pytest

from dash_ws import dash_adapter

needs_async_callbacks = pytest.mark.skipif(
    not dash_adapter.HAS_ASYNC_CALLBACKS, reason="Dash added async callbacks in 3.1"
)
needs_clientside_patch = pytest.mark.skipif(
    not dash_adapter.HAS_CLIENTSIDE_PATCH, reason="Dash's renderer applies streamed Patch from 3.3"
)
needs_backends = pytest.mark.skipif(
    not dash_adapter.HAS_BACKENDS, reason="Dash added the FastAPI and Quart backends in 4.2"
)


def backends(*names: str) -> list:
    """``parametrize`` values for these backends; FastAPI and Quart only where they can run."""
    return [pytest.param(name, marks=_backend_marks(name)) for name in names]


def _backend_marks(name: str) -> tuple:
    if name == "flask":
        return ()
    missing = importlib.util.find_spec(name) is None
    return (
        needs_backends,
        pytest.mark.skipif(missing, reason=f"{name} is not installed: pip install -e '.[{name}]'"),
    )


needs_streaming_callbacks = pytest.mark.skipif(
    not dash_adapter.HAS_STREAMING_CALLBACKS, reason="Dash added generator callbacks in 4.5"
)
needs_shared_storage = pytest.mark.skipif(
    importlib.util.find_spec("dash._shared_storage") is None,
    reason="Dash added shared storage in 4.5",
)
