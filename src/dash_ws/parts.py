"""Messages a page sends in parts, joined back into one text. No I/O.

The browser client sends a message longer than ``PART_CHARS`` characters as
consecutive ``part`` frames, so that no frame it sends is larger than a few
MB whatever the upload, and every WebSocket server in front of the app
(uvicorn's 16 MiB default, a proxy's limit) passes it. Nothing else is sent
between the parts of one message.

While a message is being joined its parts are held here, and count against
the same budgets as a call in flight: past the page's message limit the
message is refused 413, past what the process may still hold it is refused
503. A refused call is answered as itself, its id read from the head of its
first part; the rest of its parts are let go as they arrive.
"""

from __future__ import annotations

import orjson

from .errors import RefusedMessage
from .protocol import Part, call_id_of_head, utf8_size

PART_CHARS = 256 * 1024
"""Characters of message text per part the clients send: at most 6 bytes each once
escaped as a JSON string, so a part frame stays under ``MAX_PART_FRAME_BYTES``."""

MAX_PART_FRAME_BYTES = 4 * 1024 * 1024
"""Largest frame a client of this version sends: the WebSocket server's frame limit."""


def split_into_parts(text: str) -> list[str]:
    """``text`` as the frames a client sends: itself, or ``part`` messages when it is long.

    The browser client (``static/dash_ws.js``) splits the same way.
    """
    if len(text) <= PART_CHARS:
        return [text]
    return [
        orjson.dumps(
            {
                "type": "part",
                "more": start + PART_CHARS < len(text),
                "data": text[start : start + PART_CHARS],
            }
        ).decode()
        for start in range(0, len(text), PART_CHARS)
    ]


class PartJoiner:
    """The message a page is sending in parts on one socket."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.held_bytes = 0
        self._texts: list[str] = []
        self._refusing = False

    def add(self, part: Part, page_room: int, process_room: int) -> str | None:
        """Take ``part``; return the whole message once its last part is in.

        ``page_room`` and ``process_room`` are how many more bytes the page's
        and the process's call budgets let this page hold. Raises
        ``RefusedMessage`` when the message passes its limit or a budget; its
        remaining parts are then dropped on arrival.
        """
        if self._refusing:
            self._refusing = part.more
            return None
        size = utf8_size(part.data)
        refusal = self._refusal(size, page_room, process_room)
        if refusal is not None:
            status, text = refusal
            head = self._texts[0] if self._texts else part.data
            self.release()
            self._refusing = part.more
            raise RefusedMessage(text, call_id_of_head(head), status)
        self._texts.append(part.data)
        self.held_bytes += size
        if part.more:
            return None
        whole = "".join(self._texts)
        self.release()
        return whole

    def _refusal(self, size: int, page_room: int, process_room: int) -> tuple[int, str] | None:
        if self.held_bytes + size > self.max_bytes:
            return 413, (
                f"the message exceeds the limit of {self.max_bytes} bytes "
                "(websocket_max_message_bytes)"
            )
        if size > page_room:
            return 413, "this page's callbacks in flight would pass websocket_page_call_bytes"
        if size > process_room:
            return 503, "the server is busy with other pages' callbacks; try again"
        return None

    def release(self) -> None:
        """Let go of what is held: the message is whole, refused, or its socket is gone."""
        self._texts = []
        self.held_bytes = 0
