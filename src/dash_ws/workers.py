"""Is this process one of several workers? Then pages resume elsewhere only through Redis.

uvicorn's ``--workers`` starts each worker as a child process;
gunicorn says who it is in ``SERVER_SOFTWARE``. Without a shared broker a
page whose connection drops resumes only if it comes back to the same
worker, which takes sticky routing at the balancer; that is said once,
at start-up, in each worker.
"""

from __future__ import annotations

import logging
import multiprocessing
import os

from .brokers import Broker

logger = logging.getLogger("dash_ws")


def is_one_of_several_workers() -> bool:
    return multiprocessing.parent_process() is not None or "gunicorn" in os.environ.get(
        "SERVER_SOFTWARE", ""
    )


def warn_if_unshared(broker: Broker) -> None:
    if not broker.shares_sessions and is_one_of_several_workers():
        logger.warning(
            "dash-ws: worker %d is one of several and websocket_broker is in memory: a page "
            "whose connection drops resumes its session only if it reconnects to this same "
            "worker (sticky routing), and topics reach this worker's pages only; set "
            "websocket_broker='redis://...' (pip install 'dash-ws[redis]')",
            os.getpid(),
        )
