"""A feed app for worker processes: each message of a topic appended to ``#ticks``.

Served as ``uvicorn tests.helpers.broadcast_app:app.asgi`` by
``tests/helpers/workers.py``. Set by the environment:

- ``DASH_WS_BROKER``: the Redis every worker shares (required);
- ``DASH_WS_TEST_TOPIC``: the feed's topic (default ``ticks``);
- ``DASH_WS_TEST_HISTORY``: messages each topic keeps (default 1000).

The feed renders each message as a ``Patch`` appending it to
``ticks.children``: a patch is a change on top of the previous value, so a
slow page gets every one of them (a plain value would be replaced by a newer
one still waiting, by design), and a lost, repeated or reordered message
shows in the values a page was sent.

dash-ws's own log (pages resuming, topics losing messages, Redis going away)
is printed at INFO, for failure messages.
"""

import logging
import os
import sys

from dash import Output, Patch, html

from dash_ws import Dash

_log = logging.getLogger("dash_ws")
_log.setLevel(logging.INFO)
_handler = logging.StreamHandler(sys.stdout)
_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
_log.addHandler(_handler)
_log.propagate = False

TOPIC = os.environ.get("DASH_WS_TEST_TOPIC", "ticks")

app = Dash(
    __name__,
    websocket_broker=os.environ["DASH_WS_BROKER"],
    websocket_topic_history=int(os.environ.get("DASH_WS_TEST_HISTORY", "1000")),
)
app.layout = html.Div([html.Div(id="ticks", children=[])])


@app.feed(TOPIC, Output("ticks", "children"))
def append(message):
    appended = Patch()
    appended.append(message)
    return appended
