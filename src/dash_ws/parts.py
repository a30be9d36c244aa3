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

from .errors import RefusedMessage
from .protocol import Part, call_id_of_head, utf8_size

PART_CHARS = 256 * 1024
"""Characters of message text per part the clients send: at most 6 bytes each once
escaped as a JSON string, so a part frame stays under ``MAX_PART_FRAME_BYTES``."""

MAX_PART_FRAME_BYTES = 4 * 1024 * 1024
"""Largest frame a client of this version sends: the WebSocket server's frame limit."""


class PartJoiner:
    """The message a page is sending in parts on one socket."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.held_bytes = 0
        self._texts: list[str] = []
        self._refusing = False

    def add(self, part: Part, room: int) -> str | None:
        """Take ``part``; return the whole message once its last part is in.

        ``room`` is how many more bytes the process lets this page hold.
        Raises ``RefusedMessage`` when the message passes a budget; its
        remaining parts are then dropped on arrival.
        """
        if self._refusing:
            self._refusing = part.more
            return None
        size = utf8_size(part.data)
        status = 413 if self.held_bytes + size > self.max_bytes else 503 if size > room else 0
        if status:
            head = self._texts[0] if self._texts else part.data
            self.release()
            self._refusing = part.more
            raise RefusedMessage(
                _refusal_text(status, self.max_bytes), call_id_of_head(head), status
            )
        self._texts.append(part.data)
        self.held_bytes += size
        if part.more:
            return None
        whole = "".join(self._texts)
        self.release()
        return whole

    def release(self) -> None:
        """Let go of what is held: the message is whole, refused, or its socket is gone."""
        self._texts = []
        self.held_bytes = 0


def _refusal_text(status: int, max_bytes: int) -> str:
    if status == 413:
        return f"the message exceeds the limit of {max_bytes} bytes (websocket_max_message_bytes)"
    return "the server is busy with other pages' callbacks; try again"
