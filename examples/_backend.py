"""The server backend every example runs on, chosen with ``DASH_WS_BACKEND``.

``flask`` (the default), ``fastapi`` or ``quart``. The spec's examples say
``Dash(backend="fastapi", ...)``; ours say ``Dash(backend=BACKEND, ...)`` so
one environment variable switches all of them.
"""

import os

BACKENDS = ("flask", "fastapi", "quart")

BACKEND = os.environ.get("DASH_WS_BACKEND", "flask")
if BACKEND not in BACKENDS:
    raise SystemExit(f"DASH_WS_BACKEND={BACKEND!r}: choose one of {', '.join(BACKENDS)}")
