"""Runnable apps, one per example of the WebSocket Callbacks spec.

Each app imports its helpers as top-level modules (``import _backend``), which
works when it runs as a script (``python examples/NAME.py`` puts this folder
on ``sys.path``). Importing it as ``examples.NAME`` (uvicorn, tests) puts this
folder on ``sys.path`` here, so both ways load the same helper modules.
"""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
